use proptest::prelude::*;

use super::{first_special, in_words, push_string};

fn written(text: &str) -> String {
    let mut out = Vec::new();
    push_string(&mut out, text);
    String::from_utf8(out).expect("a JSON string is UTF-8")
}

#[test]
fn every_ascii_byte_is_written_as_serde_json_writes_it() {
    for byte in 0..0x80u8 {
        let text = char::from(byte).to_string();
        let expected = serde_json::to_string(&text).expect("serialises");
        assert_eq!(written(&text), expected, "byte {byte:#04x}");
        // The same byte in each of the eight places of a word, and in the tail after it.
        for at in 0..11 {
            let text = format!(
                "{}{}{}",
                "x".repeat(at),
                char::from(byte),
                "y".repeat(11 - at)
            );
            let expected = serde_json::to_string(&text).expect("serialises");
            assert_eq!(written(&text), expected, "byte {byte:#04x} at {at}");
        }
    }
}

proptest! {
    #[test]
    fn the_first_quote_backslash_or_control_character_is_found(
        text in prop::collection::vec(prop::sample::select(b"a \"\\\x01\x1f\x20\x7f\x80\xa2\xdc\xff".as_slice()), 0..40),
        plain in 0usize..40,
    ) {
        // A plain run first, so that the byte found falls in any place of a word or a vector.
        let text = [vec![b'a'; plain], text].concat();
        let expected = text.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        prop_assert_eq!(first_special(&text), expected);
        // The guest's search, natively.
        prop_assert_eq!(in_words(&text), expected);
    }

    #[test]
    fn any_string_is_written_as_serde_json_writes_it(
        text in prop_oneof![any::<String>(), "[a\"\\\\\u{0}\u{8}\u{c}\n\r\t\u{1f}\u{7f}é🙂 ]{0,40}"],
    ) {
        prop_assert_eq!(written(&text), serde_json::to_string(&text).expect("serialises"));
    }
}

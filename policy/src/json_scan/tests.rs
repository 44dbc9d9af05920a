//! `value_within`: where it gives up, and what it calls plain. (`value`, the same code with no
//! limit, is held to serde_json by the host's review tests, `host/src/admission/scan/tests.rs`.)

use super::{Scanner, Within};

fn within(text: &str, limit: usize) -> (Option<Within>, usize) {
    let mut scanner = Scanner::new(text, 127);
    let within = scanner.value_within(0, limit);
    (within, scanner.at())
}

#[test]
fn a_value_is_given_up_when_a_value_inside_it_starts_past_the_limit() {
    let text = r#"{"a":[1,"b"],"c":{}}"#;
    let plain = Some(Within::Ended { plain: true });
    assert_eq!(within(text, usize::MAX), (plain, text.len()));
    // The last value inside starts at 17 (`{}`); the limit may be anywhere after it.
    assert_eq!(within(text, 17), (plain, text.len()));
    assert_eq!(within(text, 16).0, Some(Within::Beyond));
    assert_eq!(within(text, 5).0, Some(Within::Beyond));
    assert_eq!(within(text, 0).0, Some(Within::Beyond));
    // A scalar starts at the limit: it is not past it.
    assert_eq!(within("123", 0), (plain, 3));
    // Not JSON is `None`, as for `value`.
    assert_eq!(within(r#"{"a":}"#, usize::MAX).0, None);
}

#[test]
fn escapes_exponents_and_long_numbers_are_not_plain() {
    for text in [
        r#"["\n"]"#,
        r#"{"\u0061":1}"#,
        "[1e5]",
        "[2E-3]",
        "[12345678901234567890123]",
    ] {
        assert_eq!(
            within(text, usize::MAX).0,
            Some(Within::Ended { plain: false }),
            "{text}"
        );
    }
    for text in [
        r#"[true,false,null,-1.5,"é/"]"#,
        "12345678901234567890",
        r#"{"ab":{"c":[]}}"#,
    ] {
        assert_eq!(
            within(text, usize::MAX).0,
            Some(Within::Ended { plain: true }),
            "{text}"
        );
    }
}

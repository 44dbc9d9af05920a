use proptest::prelude::*;
use serde_json::{Value, json};

use super::super::members::{MAX_DEPTH, Opened, read_by_serde};

/// The scan's answer as `members::opening` gives it, for comparing with serde_json's.
fn scanned<'a>(text: &'a str, open: &str) -> Option<Opened<'a>> {
    super::opening(text, open).map(|(members, opened)| Ok((members, opened.map(Ok))))
}

/// The scan and serde_json agree on `text`: where the scan reads it, serde_json reads the same
/// members; where serde_json reads an object (and `open` as an object or not at all), so does
/// the scan. Returns whether the scan read it.
fn agrees(text: &str, open: &str) -> Result<bool, TestCaseError> {
    let serde = read_by_serde(text, open).ok();
    let fast_shape = matches!(&serde, Some(Ok((_, None | Some(Ok(_))))));
    match scanned(text, open) {
        Some(scan) => {
            let serde = serde.ok_or_else(|| {
                TestCaseError::fail(format!("scanned what serde_json refuses: {text:?}"))
            })?;
            prop_assert_eq!(scan, serde, "{:?}", text);
            Ok(true)
        }
        None => {
            prop_assert!(
                !fast_shape,
                "serde_json read what the scan refused: {:?}",
                text
            );
            Ok(false)
        }
    }
}

fn check(text: &str, open: &str) -> bool {
    agrees(text, open).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_fixture_is_scanned_as_serde_json_reads_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The repository's captures (the real API server's among them), and other projects' beside
    // it when they are there.
    let shared = root.join("../shared/fixtures/admission");
    let mut dirs = vec![root.join("fixtures/admission")];
    dirs.extend(shared.is_dir().then_some(shared));
    let mut scanned = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixtures directory reads") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).expect("fixture reads");
                assert!(check(&text, "request"), "{} not scanned", path.display());
                scanned += 1;
            }
        }
    }
    assert!(scanned >= 21, "only {scanned} fixtures found");
}

#[test]
fn what_serde_json_refuses_the_scan_refuses() {
    let refused = [
        r#"{"a":"\u12"}"#,
        r#"{"a":"\u12g4"}"#,
        r#"{"a":"\x"}"#,
        "{\"a\":\"tab\there\"}",
        r#"{"a":01}"#,
        r#"{"a":-}"#,
        r#"{"a":1.}"#,
        r#"{"a":1e}"#,
        r#"{"a":1e+}"#,
        r#"{"a":.5}"#,
        r#"{"a":+1}"#,
        r#"{"a":[1,]}"#,
        r#"{"a":{"b":1,}}"#,
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{"a":tru}"#,
        r#"{"a":nul}"#,
        r#"{"a":truex}"#,
        r#"{"a":[1 2]}"#,
        r#"{"a":{1:2}}"#,
        r#"{"a":[}"#,
        r#"{"a":{]}"#,
        r#"{"a":"open}"#,
        r#"{"a":1} x"#,
        r#"{"a":1}}"#,
        r#"{a:1}"#,
        "",
        "{",
    ];
    for text in refused {
        assert!(
            serde_json::from_str::<Value>(text).is_err(),
            "{text:?} is JSON"
        );
        assert!(!check(text, "request"), "{text:?} scanned");
    }
}

#[test]
fn what_serde_json_reads_the_scan_reads() {
    let read = [
        r#"{}"#,
        " \t\r\n{ } \n",
        r#"{"a":[],"b":{},"c":[[]],"d":[{}]}"#,
        r#"{"a":0,"b":-0,"c":-12.5e+3,"d":1E-2,"e":7e400,"f":0.0}"#,
        r#"{"a":true,"b":false,"c":null}"#,
        r#"{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00","b":"é 🙂"}"#,
        r#"{"k\u0065y":1,"\"":2}"#,
        r#"{ "a" : [ 1 , { "b" : "c" } ] , "request" : { "uid" : "u" } }"#,
        r#"{"request":{"uid":"u"},"request":{"uid":"v","object":{"x":[1]}}}"#,
        r#"{"request":{}}"#,
    ];
    for text in read {
        assert!(check(text, "request"), "{text:?} not scanned");
        assert!(check(text, ""), "{text:?} not scanned without opening");
    }
}

#[test]
fn shapes_the_scan_does_not_read_go_to_serde_json() {
    // JSON, but not an object, or `request` not an object: serde_json names what it is.
    for text in [
        "[]",
        "null",
        "7",
        r#""s""#,
        r#"{"request":null}"#,
        r#"{"request":[1]}"#,
    ] {
        assert!(!check(text, "request"), "{text:?} scanned");
    }
}

#[test]
fn nesting_is_counted_from_the_document_down() {
    let nested = |depth: usize| {
        format!(
            r#"{{"request":{{"object":{{"x":"[[[{{","y":{}{}}}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    assert!(check(&nested(MAX_DEPTH - 3), "request"));
    assert!(!check(&nested(MAX_DEPTH - 2), "request"));
    // Without opening, the request is one more level of a member's value.
    assert!(check(&nested(MAX_DEPTH - 3), ""));
    assert!(!check(&nested(MAX_DEPTH - 2), ""));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        // Quotes, backslashes, control characters and non-ASCII, escaped on the way out.
        "[a\"\\\\\u{1}\t/é🙂 ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[ab\"\\\\\n]{0,3}", inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn review(object: Value, pretty: bool) -> String {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u", "operation": "CREATE", "object": object, "oldObject": null},
    });
    if pretty {
        serde_json::to_string_pretty(&review).expect("serialises")
    } else {
        review.to_string()
    }
}

/// Characters whose insertion or loss matters to a JSON reader.
const DAMAGE: &[char] = &[
    '{', '}', '[', ']', '"', '\\', ':', ',', ' ', '\n', '0', '1', '-', '+', '.', 'e', 'u', 't',
    'n', '\u{1}', 'é',
];

proptest! {
    #[test]
    fn any_review_is_scanned_as_serde_json_reads_it(object in json_value(), pretty: bool) {
        let text = review(object, pretty);
        prop_assert!(agrees(&text, "request")?, "not scanned: {:?}", text);
        prop_assert!(agrees(&text, "")?, "not scanned without opening: {:?}", text);
    }

    #[test]
    fn a_damaged_review_is_refused_or_read_as_serde_json_reads_it(
        object in json_value(),
        pretty: bool,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(DAMAGE)), 1..3),
    ) {
        let mut chars: Vec<char> = review(object, pretty).chars().collect();
        for (at, how, with) in edits {
            let at = at.index(chars.len());
            match how {
                0 => { chars.remove(at); }
                1 => chars.insert(at, with),
                _ => chars[at] = with,
            }
        }
        let text: String = chars.into_iter().collect();
        agrees(&text, "request")?;
        agrees(&text, "")?;
    }
}

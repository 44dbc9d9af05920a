//! The answer's scan held to serde_json's read of the same text.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// The verdict as plain values: the object parsed whichever way it was read, or `sent` patched.
fn plain(verdict: &Verdict<'_>, sent: &str) -> Value {
    let object = verdict.mutated_object.as_ref().map(|object| match object {
        Mutated::Text { answered, .. } => answered.to_value(),
        Mutated::Value(value) => value.clone(),
        Mutated::Patch(ops) => {
            let mut object: Value = serde_json::from_str(sent).expect("the sent object parses");
            json_patch::patch(&mut object, ops).expect("the patch applies to what was sent");
            object
        }
    });
    json!([
        verdict.accepted,
        verdict.message,
        verdict.code,
        object,
        verdict.audit_annotations,
        verdict.warnings
    ])
}

/// serde_json's reading of `text`, or its error.
fn by_serde(text: &str) -> Result<Value, String> {
    serde_json::from_str::<ValidationResponse>(text)
        .map(|response| {
            json!([
                response.accepted,
                response.message,
                response.code,
                response.mutated_object,
                response.audit_annotations,
                response.warnings
            ])
        })
        .map_err(|error| error.to_string())
}

/// An object sent with the request, some of whose text the answers repeat.
const SENT: &str = r#"{"a":[1,"b"],"c":{"d":null}}"#;

fn read_text(text: &str) -> Result<Value, String> {
    read(text.as_bytes(), Some(SENT))
        .map(|verdict| plain(&verdict, SENT))
        .map_err(|error| match error {
            EvaluationError::InvalidResponse(error) => error.to_string(),
            other => panic!("not an invalid response: {other:?}"),
        })
}

#[test]
fn an_answer_that_is_not_utf8_or_not_a_verdict_is_an_invalid_response() {
    let answers: [&[u8]; 3] = [
        b"{\"accepted\": true, \"message\": \"\xff\"}",
        b"{\"accepted\": tru",
        b"[]",
    ];
    for answer in answers {
        let error = read(answer, None).expect_err("refused");
        assert!(
            matches!(error, EvaluationError::InvalidResponse(_)),
            "{error:?}"
        );
        assert_eq!(error.kind(), "invalid_response");
    }
    let verdict = read(br#"{"accepted": false, "message": "no"}"#, None).expect("a verdict");
    assert_eq!(verdict.message.as_deref(), Some("no"));
}

#[test]
fn the_bundled_policys_answer_is_walked_beside_the_object_it_was_sent() {
    let text = r#"{"accepted":true,"message":null,"code":null,"mutated_object":{"a":[1,"b"]},"audit_annotations":null,"warnings":["w"]}"#;
    let verdict = scan(text, Some(SENT)).expect("scanned");
    assert!(matches!(verdict.mutated_object, Some(Mutated::Patch(_))));
    assert_eq!(Ok(plain(&verdict, SENT)), by_serde(text));
    // A key given twice where the two differ is left to the tapes, read the same.
    let twice = r#"{"a":[1,"b"],"a":[2]}"#;
    let text = r#"{"accepted":true,"mutated_object":{"a":[1,"c"],"a":[2]}}"#;
    let verdict = scan(text, Some(twice)).expect("scanned");
    assert!(matches!(
        verdict.mutated_object,
        Some(Mutated::Text { sent: Some(_), .. })
    ));
    assert_eq!(Ok(plain(&verdict, twice)), by_serde(text));
    let unchanged = r#"{"accepted":true,"mutated_object":null}"#;
    assert!(
        scan(unchanged, Some(SENT))
            .expect("scanned")
            .mutated_object
            .is_none()
    );
}

#[test]
fn answers_the_scan_leaves_to_serde_json_give_its_verdict_or_its_error() {
    let texts = [
        // Fields twice: serde refuses them, and so the scan must not take the last.
        r#"{"accepted": true, "accepted": false}"#,
        r#"{"accepted": true, "mutated_object": null, "mutated_object": {}}"#,
        // Missing, mistyped, out of range.
        r#"{"message": "m"}"#,
        r#"{"accepted": 1}"#,
        r#"{"accepted": true, "code": 70000}"#,
        r#"{"accepted": true, "mutated_object": nul}"#,
        // A struct read from an array, which serde's derive takes.
        r#"[true, "m", 400]"#,
        // What a Value refuses in the object: a lone surrogate, a number out of range.
        r#"{"accepted": true, "mutated_object": {"a": "\ud800"}}"#,
        r#"{"accepted": true, "mutated_object": {"\udc00": 1}}"#,
        r#"{"accepted": true, "mutated_object": [1e400]}"#,
        // And what it takes that the scan checks: an exponent, an escaped field name.
        r#"{"accepted": true, "mutated_object": [1e30, "\u0041\n"]}"#,
        r#"{"\u0061ccepted": true, "extra": {"x": [null]}, "warnings": []}"#,
        " {\"accepted\" : false , \"audit_annotations\" : {\"k\": \"v\"} } ",
        r#"{"accepted": true} x"#,
    ];
    for text in texts {
        assert_eq!(read_text(text), by_serde(text), "{text}");
    }
}

#[test]
fn nesting_past_serde_jsons_limit_is_refused_as_serde_json_refuses_it() {
    for depth in [125, 126, 127, 128] {
        let object = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let text = format!(r#"{{"accepted": true, "mutated_object": {object}}}"#);
        assert_eq!(read_text(&text).is_ok(), by_serde(&text).is_ok(), "{depth}");
        // Sent the same object, whose parts the read copies instead of reading them.
        let beside = read(text.as_bytes(), Some(&object)).map(|verdict| plain(&verdict, &object));
        assert_eq!(beside.is_ok(), by_serde(&text).is_ok(), "{depth} beside");
    }
}

fn small_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(".{0,3}", inner, 0..3)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_answer_reads_as_serde_json_reads_it(
        fields in prop::collection::vec(
            (prop::sample::select(&["accepted", "message", "code", "mutated_object",
                "audit_annotations", "warnings", "other"][..]), small_value()),
            0..7,
        ),
        pretty in any::<bool>(),
    ) {
        let mut text = String::from("{");
        for (index, (name, value)) in fields.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            let value = if pretty {
                serde_json::to_string_pretty(value).expect("writes")
            } else {
                value.to_string()
            };
            text.push_str(&format!("{}: {value}", Value::from(*name)));
        }
        text.push('}');
        prop_assert_eq!(read_text(&text), by_serde(&text));
    }
}

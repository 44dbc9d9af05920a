use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Tape, diff};

/// The patch json_patch (and so policy-evaluator) makes of the same two documents.
pub(super) fn reference(left: &str, right: &str) -> Vec<json_patch::PatchOperation> {
    let left: Value = serde_json::from_str(left).expect("left parses");
    let right: Value = serde_json::from_str(right).expect("right parses");
    json_patch::diff(&left, &right).0
}

/// Our patch, `right` read as the server reads it: beside `left`, its unchanged parts copied.
pub(super) fn ours(left: &str, right: &str) -> Vec<json_patch::PatchOperation> {
    let left = Tape::read(left).expect("the tape reads left");
    let right = Tape::read_nested(right, 0, Some(&left)).expect("the tape reads right");
    diff(&left, &right)
}

#[test]
fn every_kind_of_difference_is_the_patch_json_patch_makes() {
    let cases = [
        (json!({"a": 1}), json!({"a": 1})),
        (json!({"b": 1, "a": 2}), json!({"a": 3, "c": [1, 2]})),
        (json!([1, 2, 3, 4]), json!([1])),
        (json!([1]), json!([1, {"x": null}, "y"])),
        (
            json!({"a": {"b": [1, {"c": "d"}]}}),
            json!({"a": {"b": [1, {"c": "e", "f": true}]}}),
        ),
        (json!({"a": 1}), json!([1])),
        (json!({"n": 1}), json!({"n": 1.0})),
        (json!({"n": -1}), json!({"n": -1})),
        (json!({"a/b~c": 1}), json!({"a/b~c": 2})),
        (json!(null), json!({"a": 1})),
    ];
    for (left, right) in cases {
        let (left, right) = (left.to_string(), right.to_string());
        assert_eq!(
            ours(&left, &right),
            reference(&left, &right),
            "{left} -> {right}"
        );
    }
}

#[test]
fn escapes_unsorted_keys_and_duplicates_read_as_serde_json_reads_them() {
    // The API server writes keys in struct order and escapes <, > and & as \u003c and so on.
    let left = r#"{"z": "a\u003cb", "a": {"y": 1, "x": 2}, "d": 1, "d": 2}"#;
    let right = r#"{"a": {"x": 2, "y": 1}, "d": 2, "z": "a<b"}"#;
    assert_eq!(ours(left, right), vec![]);
    assert_eq!(ours(left, right), reference(left, right));
    let tape = Tape::read(left).expect("the tape reads it");
    assert_eq!(
        tape.to_value(),
        serde_json::from_str::<Value>(left).expect("parses")
    );
}

#[test]
fn a_fixture_rewritten_as_the_policy_does_gives_the_same_patch() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/admission");
    let review: Value = serde_json::from_slice(
        &std::fs::read(format!("{dir}/pod-initcontainers-digests.json")).expect("fixture"),
    )
    .expect("fixture parses");
    let left = review["request"]["object"].clone();
    let mut right = left.clone();
    for list in ["initContainers", "containers"] {
        for container in right["spec"][list].as_array_mut().expect("containers") {
            let image = container["image"].as_str().expect("image").to_owned();
            container["image"] = Value::String(format!("m.example.com/{image}"));
        }
    }
    right["metadata"]["annotations"] = json!({"pullthrough.dev/originals": "{}"});
    let (left, right) = (left.to_string(), right.to_string());
    let patch = ours(&left, &right);
    assert!(patch.len() >= 3, "{patch:?}");
    assert_eq!(patch, reference(&left, &right));
}

/// The bench's three reviews, whose objects the policy rewrites as the API server sends them.
pub(super) const BENCH_FIXTURES: [&str; 3] = [
    "pod-initcontainers-digests.json",
    "deployment.json",
    "cronjob.json",
];

/// One of `fixtures/admission/`'s reviews, as bytes.
pub(super) fn bench_fixture(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/admission");
    std::fs::read(format!("{dir}/{name}")).expect("fixture")
}

#[test]
fn the_api_servers_own_text_with_strings_spliced_in_gives_the_same_patch() {
    // The bundled policy answers with the object's text as sent, its images changed in place.
    for fixture in BENCH_FIXTURES {
        let review = String::from_utf8(bench_fixture(fixture)).expect("UTF-8");
        let object: Value =
            serde_json::from_str::<Value>(&review).expect("parses")["request"]["object"].clone();
        for left in [
            object.to_string(),
            serde_json::to_string_pretty(&object).expect("writes"),
        ] {
            let right = left.replace(r#""image":"#, r#""image":"m.example.com/x","was":"#);
            let right = right.replace(r#""image": "#, r#""image": "m.example.com/x", "was": "#);
            assert_ne!(left, right, "{fixture}");
            let patch = ours(&left, &right);
            assert!(!patch.is_empty(), "{fixture}");
            assert_eq!(patch, reference(&left, &right), "{fixture}");
        }
    }
}

#[test]
fn the_tape_refuses_only_what_a_value_refuses() {
    let refused = [
        r#"{"a": "\ud800"}"#,
        r#"{"\udc00x": 1}"#,
        "[1e400]",
        &format!("[{}]", "9".repeat(400)),
        &format!("{}{}", "[".repeat(128), "]".repeat(128)),
        "[1,]",
        r#"{"a" 1}"#,
        "[1] [2]",
    ];
    for text in refused {
        assert!(Tape::read(text).is_none(), "{text}");
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
    }
    let read = [
        r#"{"a": "\ud83d\ude00 \u003c", "\u0062": [1e30, -0.5E-3, 12345678901234567890123]}"#,
        &format!("{}{}", "[".repeat(127), "]".repeat(127)),
        " \n{ } ",
    ];
    for text in read {
        let tape = Tape::read(text).expect(text);
        assert_eq!(
            tape.to_value(),
            serde_json::from_str::<Value>(text).expect("parses"),
            "{text}"
        );
    }
}

/// Small JSON values whose objects share keys, so that pairs of them differ in every way a patch
/// can express: members added, removed and changed, arrays grown and shrunk, types swapped.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        "[a-c/~]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            // `/` and `~` in keys: the pointers must escape them (`~1`, `~0`).
            prop::collection::btree_map("[a-d/~]", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_two_documents_give_the_patch_json_patch_makes(left in json_value(), right in json_value()) {
        let (left, right) = (left.to_string(), right.to_string());
        prop_assert_eq!(ours(&left, &right), reference(&left, &right));
    }

    #[test]
    fn a_document_against_a_changed_copy_gives_the_patch_json_patch_makes(
        left in json_value(),
        change in json_value(),
        key in "[a-d/~]",
        pretty in any::<bool>(),
    ) {
        let mut right = left.clone();
        match &mut right {
            Value::Object(map) => { map.insert(key, change); }
            Value::Array(items) => items.push(change),
            other => *other = change,
        }
        // The same text where nothing changed, or each side written its own way.
        let right = if pretty {
            serde_json::to_string_pretty(&right).expect("writes")
        } else {
            right.to_string()
        };
        let left = left.to_string();
        prop_assert_eq!(ours(&left, &right), reference(&left, &right));
    }
}

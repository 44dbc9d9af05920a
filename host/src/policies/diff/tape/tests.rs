//! A tape read beside a twin is the tape read alone: copying is only a shortcut.

use proptest::prelude::*;
use serde_json::Value;

use super::Tape;

/// Values with repeated parts (keys, strings, numbers that are prefixes of one another), so that
/// a twin's text matches at some places and not at others.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(&[0i64, 1, 12, -1, 120][..]).prop_map(Value::from),
        prop::sample::select(&[0.5f64, 1.0, 1.25][..]).prop_map(Value::from),
        "[ab\"]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-c]", inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// `value` written compact or pretty.
fn written(value: &Value, how: u8) -> String {
    match how {
        0 => value.to_string(),
        _ => serde_json::to_string_pretty(value).expect("writes"),
    }
}

fn assert_same(text: &str, twin: &str) {
    let twin = Tape::read(twin).expect("the tape reads the twin");
    let alone = Tape::read(text).expect("the tape reads it");
    assert_eq!(
        Tape::read_nested(text, 0, Some(&twin)),
        Some(alone),
        "{text}"
    );
}

#[test]
fn a_number_that_goes_on_past_its_twins_is_read() {
    assert_same("[12]", "[1]");
    assert_same("[1.5,1]", "[1,1]");
    assert_same(r#"{"a":1e5}"#, r#"{"a":1}"#);
    assert_same(
        r#"{"a":{"b":[1,2]},"c":"d"}"#,
        r#"{"c":"d","a":{"b":[1,2]}}"#,
    );
    assert_same(r#"{"x":1,"a":{"b":[1,2]}}"#, r#"{"a":{"b":[1,2]}}"#);
    assert_same(r#"[{"a":"\u0041"},true]"#, r#"[{"a":"\u0041"},true]"#);
    assert!(Tape::read_nested("[1] x", 0, Tape::read("[1]").as_ref()).is_none());
    assert!(Tape::read_nested("[true", 0, Tape::read("[true]").as_ref()).is_none());
}

proptest! {
    #[test]
    fn a_tape_read_beside_any_twin_is_the_tape_read_alone(
        left in json_value(),
        change in json_value(),
        key in "[a-c]",
        how in 0u8..2,
    ) {
        let mut right = left.clone();
        match &mut right {
            Value::Object(map) => { map.insert(key, change); }
            Value::Array(items) => items.insert(items.len() / 2, change),
            other => *other = change,
        }
        let (left, right) = (left.to_string(), written(&right, how));
        assert_same(&right, &left);
        assert_same(&left, &right);
    }
}

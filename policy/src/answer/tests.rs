use std::collections::HashMap;
use std::path::Path;

use kubewarden_policy_sdk::response::ValidationResponse;
use proptest::prelude::*;
use serde_json::Value;

use super::to_json;

fn same_as_serde(response: &ValidationResponse) -> Result<(), TestCaseError> {
    let ours = String::from_utf8(to_json(response).expect("writes")).expect("UTF-8");
    let serde = serde_json::to_string(response).expect("serialises");
    prop_assert_eq!(ours, serde);
    Ok(())
}

fn accepting(mutated_object: Option<Value>, warnings: Option<Vec<String>>) -> ValidationResponse {
    ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object,
        audit_annotations: None,
        warnings,
    }
}

/// Every `.json` file under `dir`, however deep.
pub(crate) fn json_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a fixtures directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            json_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
}

#[test]
fn every_fixture_object_is_answered_as_serde_json_writes_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/admission");
    let mut files = Vec::new();
    json_files(&root, &mut files);
    let mut objects = 0;
    for file in &files {
        let review: Value =
            serde_json::from_slice(&std::fs::read(file).expect("readable")).expect("JSON");
        for member in ["object", "oldObject"] {
            let object = &review["request"][member];
            if object.is_object() {
                objects += 1;
                let warnings = Some(vec![format!("{}: \"{member}\"\t", file.display())]);
                same_as_serde(&accepting(Some(object.clone()), warnings))
                    .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
            }
        }
    }
    assert!(
        objects >= 20,
        "only {objects} objects under {}",
        root.display()
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a\"\\\\\u{0}\u{8}\n\t\u{1f}\u{7f}é🙂 ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[ab\"\\\\\n\u{1}é]{0,4}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_response_is_written_as_serde_json_writes_it(
        accepted: bool,
        message in proptest::option::of(any::<String>()),
        code in proptest::option::of(any::<u16>()),
        mutated_object in proptest::option::of(json_value()),
        annotation in proptest::option::of(("[a-z\"]{0,4}", any::<String>())),
        warnings in proptest::option::of(prop::collection::vec(any::<String>(), 0..4)),
    ) {
        same_as_serde(&ValidationResponse {
            accepted,
            message,
            code,
            mutated_object,
            audit_annotations: annotation.map(|(key, value)| HashMap::from([(key, value)])),
            warnings,
        })?;
    }
}

//! The guest's `validate`, which keeps the object as text and splices its edits in, held to the
//! tree walk (`Rewriter::mutate`) on generated requests: the same mutated object, read back as a
//! tree, and the same warnings. Pull secrets are added to the generated settings and pod specs
//! here, in every shape `add_pull_secrets` handles.

#[allow(
    dead_code,
    reason = "shared with properties.rs, which reads the fields this test does not"
)]
#[path = "properties/objects.rs"]
mod objects;
#[allow(
    dead_code,
    reason = "shared with properties.rs, which reads the fields this test does not"
)]
#[path = "properties/references.rs"]
mod references;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Value, json};

/// 512 cases unless `PROPTEST_CASES` asks for another number.
fn config() -> Config {
    let mut config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 512;
    }
    config
}

/// What a pod spec may already hold in `imagePullSecrets`, `None` for nothing.
fn listed_secrets() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!([]))),
        1 => Just(Some(json!([{"name": "mirror-pull"}]))),
        1 => Just(Some(json!([{"name": "other"}, {"name": "more"}]))),
        1 => Just(Some(json!("not a list"))),
    ]
}

/// The payload as the host or policy-server sends it, compact or pretty-printed.
fn payload(settings: &pullthrough_policy::Settings, request: &Value, pretty: bool) -> String {
    let payload = json!({"settings": settings, "request": request});
    if pretty {
        serde_json::to_string_pretty(&payload).expect("encodes")
    } else {
        serde_json::to_string(&payload).expect("encodes")
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_guest_answers_as_the_tree_walk_does(
        settings in objects::settings(),
        secrets in vec(proptest::sample::select(&["mirror-pull", "other"][..]), 0..=2),
        listed in listed_secrets(),
        request in objects::request(),
        pretty: bool,
    ) {
        let mut settings = settings;
        settings.image_pull_secrets = secrets.into_iter().map(str::to_owned).collect();
        settings.image_pull_secrets.dedup();
        let mut request = request;
        if let (Some(listed), Some(Value::Object(spec))) =
            (listed, request.json["object"].pointer_mut(request.spec_pointer))
        {
            spec.insert("imagePullSecrets".to_owned(), listed);
        }
        let rewriter = settings.compile().expect("generated settings are valid");
        let expected = rewriter.mutate(&request.json);
        let text = payload(&settings, &request.json, pretty);
        let answer = pullthrough_policy::validate(text.as_bytes()).expect("validate answers");
        let read: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
        prop_assert_eq!(&read["mutated_object"], expected.mutated_object.as_ref().unwrap_or(&Value::Null));
        let warnings = (!expected.warnings.is_empty()).then_some(&expected.warnings);
        prop_assert_eq!(&read["warnings"], &json!(warnings));
        // The object came back as the text it went in: a pretty one keeps its line breaks, which
        // a tree written back would not.
        if pretty && expected.mutated_object.is_some() {
            prop_assert!(answer.contains(&b'\n'), "the object was not spliced: {}", String::from_utf8_lossy(&answer));
        }
    }
}

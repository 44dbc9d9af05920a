//! The guest's object kept as text, held to the tree walk: every fixture, and the shapes that
//! generated requests never have (duplicate members, payloads that only the tree reader takes or
//! refuses).

use std::path::Path;

use serde_json::{Value, json};

use super::{respond, respond_with_tree};
use crate::object_text::payload;

/// The answer (or error) of each path, the answer read back as a tree.
fn answers(text: &str) -> (Result<Value, String>, Result<Value, String>) {
    let read = |answer: Result<Vec<u8>, super::GuestError>| {
        answer
            .map(|bytes| serde_json::from_slice(&bytes).expect("the answer is JSON"))
            .map_err(|error| error.to_string())
    };
    (
        read(respond(text.as_bytes())),
        read(respond_with_tree(text)),
    )
}

#[test]
fn every_fixture_is_answered_as_the_tree_walk_answers_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/admission");
    let mut files = Vec::new();
    crate::answer::tests::json_files(&root, &mut files);
    let settings = [
        json!({"mirror": "m.example.com"}),
        json!({"mirror": "m.example.com/cache", "layout": "prefixed", "registries": ["*"],
               "imagePullSecrets": ["mirror-pull"], "allowSharedNamespace": true}),
    ];
    let mut mutated = 0;
    for file in &files {
        let review: Value =
            serde_json::from_slice(&std::fs::read(file).expect("readable")).expect("JSON");
        // Some captures are of the HTTP request around a review, not a review.
        if !review["request"].is_object() {
            continue;
        }
        for settings in &settings {
            let sent = json!({"settings": settings, "request": review["request"]});
            for text in [sent.to_string(), format!("{sent:#}")] {
                assert!(
                    payload(&text).is_some(),
                    "{}: not read as text",
                    file.display()
                );
                let (spliced, tree) = answers(&text);
                assert_eq!(spliced, tree, "{}", file.display());
                mutated += usize::from(spliced.is_ok_and(|a| !a["mutated_object"].is_null()));
            }
        }
    }
    assert!(
        mutated >= 40,
        "only {mutated} fixture answers had a mutated object"
    );
}

fn request(object: &str) -> String {
    format!(
        r#"{{"settings": {{"mirror": "m.example.com", "imagePullSecrets": ["pull"]}},
            "request": {{"kind": {{"kind": "Pod"}}, "operation": "CREATE", "object": {object}}}}}"#
    )
}

#[test]
fn of_duplicate_members_the_last_counts() {
    for object in [
        // The annotation goes into the last `metadata`, which has no `annotations`.
        r#"{"metadata": {"annotations": {"a": "b"}}, "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}"#,
        r#"{"metadata": {"annotations": {"pullthrough.dev/original-images": "{\"x\":\"y\"}",
            "pullthrough.dev/original-images": "not JSON"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}"#,
        r#"{"spec": {"containers": [{"name": "c", "image": "quay.io/q/x", "image": "nginx"}]}}"#,
        r#"{"spec": {"containers": [{"name": "c", "image": "nginx"}],
            "containers": [{"name": "d", "image": "busybox"}, {"name": "e", "image": "redis"}]}}"#,
        r#"{"spec": {"containers": [{"name": "c", "image": "nginx"}],
            "imagePullSecrets": [{"name": "a"}], "imagePullSecrets": null}}"#,
        r#"{"spec": {"containers": [{"name": "c", "image": "nginx"}]}, "spec": {"containers": []}}"#,
        // Whitespace wherever JSON allows it, and an empty `metadata` and list.
        "{ \"metadata\" : { } ,\n\t\"spec\" : { \"imagePullSecrets\" : [ ] ,\r\n \"containers\" : [ { \"name\" : \"c\" , \"image\" : \"nginx\" } ] } }",
        r#"{"metadata": "not an object", "spec": {"containers": [{"name": "c", "image": "nginx"}],
            "imagePullSecrets": {"name": "not a list"}}}"#,
        r#"{"metadata": {"annotations": null}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}"#,
    ] {
        let text = request(object);
        assert!(payload(&text).is_some(), "not read as text: {object}");
        let (spliced, tree) = answers(&text);
        assert_eq!(spliced, tree, "{object}");
    }
}

#[test]
fn what_the_text_read_does_not_take_the_tree_reader_answers() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    for text in [
        r#"{"request": {"operation": "CREATE"}, "request": {"operation": "CREATE"}}"#.to_owned(),
        r#"{"request": {"object": {}, "object": {}}}"#.to_owned(),
        r#"{"settings": null, "request": {}}"#.to_owned(),
        r#"{"settings": {"mirror": "m.example.com"}, "request": null}"#.to_owned(),
        r#"{"settings": {"mirror": "m.example.com"}}"#.to_owned(),
        r#"{"settings": {"mirror": "m.example.com"}, "request": {"kind": 7}}"#.to_owned(),
        r#"{"settings": {"mirror": "m.example.com"}, "request": {}} x"#.to_owned(),
        r#"["settings"]"#.to_owned(),
        request(&format!(r#"{{"spec": {deep}}}"#)),
    ] {
        assert!(payload(&text).is_none(), "read as text: {text}");
        let (spliced, tree) = answers(&text);
        assert_eq!(spliced, tree, "{text}");
    }
}

#[test]
fn nesting_near_the_limit_is_answered_as_the_tree_reader_answers_it() {
    let mut read_as_text = 0;
    for depth in 118..=132 {
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let text = request(&format!(
            r#"{{"spec": {{"containers": [{{"name": "c", "image": "nginx"}}]}}, "deep": {deep}}}"#
        ));
        read_as_text += usize::from(payload(&text).is_some());
        let (spliced, tree) = answers(&text);
        assert_eq!(spliced, tree, "nested {depth} deep");
    }
    assert!(read_as_text > 0, "no depth was read as text");
}

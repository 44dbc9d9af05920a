//! The originals annotation: created where metadata lacks it, replaced when hand-edited, and
//! left out (with a warning) when the API server would refuse the object with it.

use serde_json::{Value, json};

use super::tests::{request, run};
use super::{MAX_ANNOTATIONS_BYTES, MAX_WARNINGS, ORIGINAL_IMAGES_ANNOTATION};

#[test]
fn missing_metadata_and_annotations_are_created() {
    for (name, metadata) in [
        ("absent", None),
        ("null", Some(Value::Null)),
        ("annotations null", Some(json!({"annotations": null}))),
    ] {
        let mut object = json!({"kind": "Pod", "spec": {"containers": [{"image": "nginx"}]}});
        if let Some(metadata) = metadata {
            object["metadata"] = metadata;
        }
        let mutated = run(&request("Pod", "CREATE", object))
            .mutated_object
            .expect("rewritten");
        assert_eq!(
            mutated["metadata"]["annotations"],
            json!({"pullthrough.dev/original-images": "{\"containers[0]\":\"nginx\"}"}),
            "{name}"
        );
    }
}

#[test]
fn a_hand_edited_originals_annotation_is_replaced() {
    let object = json!({"kind": "Pod", "metadata": {"annotations": {"pullthrough.dev/original-images": "see wiki"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let mutated = run(&request("Pod", "CREATE", object))
        .mutated_object
        .expect("rewritten");
    assert_eq!(
        mutated["metadata"]["annotations"]["pullthrough.dev/original-images"],
        json!("{\"c\":\"nginx\"}")
    );
}

/// A Deployment whose other annotations take `used` bytes (keys and values, as the API server
/// counts them), with one image to rewrite.
fn annotated_deployment(used: usize) -> Value {
    let key = "example.com/notes";
    json!({"kind": "Deployment", "metadata": {"name": "d", "annotations": {key: "x".repeat(used - key.len())}},
           "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}})
}

#[test]
fn the_originals_annotation_is_left_out_when_the_api_server_would_refuse_it() {
    // `pullthrough.dev/original-images` (31 bytes) and `{"app":"nginx:1.27"}` (20 bytes).
    let added = ORIGINAL_IMAGES_ANNOTATION.len() + r#"{"app":"nginx:1.27"}"#.len();
    let fits = run(&request(
        "Deployment",
        "CREATE",
        annotated_deployment(MAX_ANNOTATIONS_BYTES - added),
    ));
    let object = fits.mutated_object.expect("rewritten");
    assert_eq!(
        object["metadata"]["annotations"][ORIGINAL_IMAGES_ANNOTATION],
        json!(r#"{"app":"nginx:1.27"}"#)
    );
    assert_eq!(fits.warnings, Vec::<String>::new());

    let over = annotated_deployment(MAX_ANNOTATIONS_BYTES - added + 1);
    let outcome = run(&request("Deployment", "CREATE", over.clone()));
    let mut want = over;
    want["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("m.example.com/library/nginx:1.27");
    assert_eq!(outcome.mutated_object, Some(want));
    assert_eq!(outcome.images_rewritten, 1);
    assert_eq!(
        outcome.warnings,
        [
            "pullthrough: annotation pullthrough.dev/original-images left out: the object's annotations would pass the API server's 262144-byte limit"
        ]
    );
}

#[test]
fn the_annotation_warning_leaves_room_in_the_warning_limit() {
    let mut containers: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("bad{i}"), "image": "Nginx"}))
        .collect();
    containers.push(json!({"name": "app", "image": "nginx"}));
    let mut object = annotated_deployment(MAX_ANNOTATIONS_BYTES);
    object["spec"]["template"]["spec"]["containers"] = json!(containers);
    let outcome = run(&request("Deployment", "CREATE", object));
    assert_eq!(outcome.images_rewritten, 1);
    assert_eq!(outcome.warnings.len(), MAX_WARNINGS);
    assert!(
        outcome.warnings[0]
            .starts_with("pullthrough: annotation pullthrough.dev/original-images left out"),
        "{:?}",
        outcome.warnings
    );
    assert_eq!(
        outcome.warnings[3],
        "pullthrough: 4 more images left unchanged (not valid references)"
    );
}

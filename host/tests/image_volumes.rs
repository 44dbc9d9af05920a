//! Image volumes as kube-apiserver v1.37.2 sent them (`fixtures/admission/kube-apiserver-v1.37.2/`,
//! captured by `e2e-cluster/70-capture.bats`) through `serve`'s router and the embedded
//! `policy.wasm`: the exact patch (`policy/tests/expected/`), the other volumes untouched, and
//! both references counted as rewritten. `run` on the same captures is in `run_cli.rs`.

mod common;

use axum::http::StatusCode;
use base64::Engine as _;
use pullthrough::policies::{PolicyRegistry, PolicySource};
use pullthrough::server::{AppState, FailureMode, router};
use serde_json::{Value, json};

/// (capture, expected patch, pointer of the pod spec).
const CASES: [(&str, &str, &str); 2] = [
    (
        "kube-apiserver-v1.37.2/pod-image-volume-create.json",
        "pod-image-volume-create.flat.json",
        "/spec",
    ),
    (
        "kube-apiserver-v1.37.2/deployment-image-volume-create.json",
        "deployment-image-volume-create.flat.json",
        "/spec/template/spec",
    ),
];

fn expected(name: &str) -> Value {
    let path = common::repo_root().join("policy/tests/expected").join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("expected patch")).expect("JSON")
}

#[tokio::test]
async fn serve_rewrites_the_captured_image_volumes_and_no_other_volume() {
    let settings = json!({"mirror": "registry-mirror.example.com"});
    let registry = PolicyRegistry::load(common::runtime(), PolicySource::Embedded { settings })
        .await
        .expect("the embedded policy loads");
    let state = AppState::new(registry, FailureMode::Closed);
    let metrics = state.metrics.clone();
    let app = router(state);
    for (capture, wanted, spec) in CASES {
        let review = common::fixture(capture);
        let body = serde_json::to_vec(&review).expect("JSON");
        let (status, answer) = common::call(&app, "POST", "/mutate", body).await;
        assert_eq!(status, StatusCode::OK, "{capture}");
        let answer: Value = serde_json::from_slice(&answer).expect("a review");
        let response = &answer["response"];
        assert_eq!(response["uid"], review["request"]["uid"], "{capture}");
        assert_eq!(response["allowed"], json!(true), "{capture}");
        let ops: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(response["patch"].as_str().expect("a patch"))
                .expect("base64"),
        )
        .expect("a JSON patch");
        assert_eq!(ops, expected(wanted), "{capture}");
        // Applied, the patch changes the image volumes' references and nothing else of the volumes.
        let mut object = review["request"]["object"].clone();
        let patch: json_patch::Patch = serde_json::from_value(ops).expect("a patch");
        json_patch::patch(&mut object, &patch).expect("applies");
        let before = review["request"]["object"]
            .pointer(&format!("{spec}/volumes"))
            .and_then(Value::as_array)
            .expect("volumes");
        let after = object
            .pointer(&format!("{spec}/volumes"))
            .and_then(Value::as_array)
            .expect("volumes");
        assert_eq!(before.len(), after.len(), "{capture}");
        // The captures' image volumes off the mirror all name busybox:1.36 (e2e-cluster/objects/
        // image-volumes.yaml); the one on the mirror and every other volume stay as sent.
        for (old, new) in before.iter().zip(after) {
            let mut want = old.clone();
            if old.pointer("/image/reference") == Some(&json!("busybox:1.36")) {
                want["image"]["reference"] =
                    json!("registry-mirror.example.com/library/busybox:1.36");
            }
            assert_eq!(new, &want, "{capture}");
        }
        assert!(
            before.iter().any(|v| v.get("image").is_none()),
            "{capture}: other volumes too"
        );
    }
    let text = metrics.encode().expect("metrics");
    assert!(
        text.lines()
            .any(|l| l == "pullthrough_images_rewritten_total{policy=\"pullthrough\"} 4"),
        "{text}"
    );
}

//! The real `policy.wasm` (the module embedded in the binary) through the engine on every
//! AdmissionReview fixture, with the exact patches the policy crate's tests expect
//! (`policy/tests/expected/`).

mod common;

use base64::Engine as _;
use pullthrough::admission::{AdmissionResponse, AdmissionReview, PatchType};
use pullthrough::policies::{EMBEDDED_POLICY_WASM, PolicyRegistry, PolicySource};
use serde_json::{Value, json};

const MIRROR: &str = "registry-mirror.example.com";

fn settings(name: &str) -> Value {
    match name {
        "flat" => json!({"mirror": MIRROR}),
        "k8s-rule" => json!({
            "mirror": MIRROR,
            "rules": [{"registry": "registry.k8s.io", "target": "registry-mirror.example.com/k8s"}]
        }),
        "prefixed-all" => json!({
            "mirror": MIRROR,
            "registries": ["*"],
            "layout": "prefixed",
            "rules": [{"registry": "k8s.gcr.io", "target": "registry-mirror.example.com/k8s-gcr"}],
            "exclude": ["us-central1-docker.pkg.dev/**"]
        }),
        other => panic!("no settings {other}"),
    }
}

/// (fixture, settings, expected patch in `policy/tests/expected/`, `None` for no mutation).
const CASES: &[(&str, &str, Option<&str>)] = &[
    (
        "pod-initcontainers-digests.json",
        "flat",
        Some("pod-initcontainers-digests.flat.json"),
    ),
    (
        "pod-initcontainers-digests.json",
        "prefixed-all",
        Some("pod-initcontainers-digests.prefixed-all.json"),
    ),
    (
        "pod-ephemeralcontainer-digest.json",
        "flat",
        Some("pod-ephemeralcontainer-digest.flat.json"),
    ),
    (
        "pod-ephemeralcontainers-subresource.json",
        "flat",
        Some("pod-ephemeralcontainers-subresource.flat.json"),
    ),
    ("deployment.json", "flat", Some("deployment.flat.json")),
    ("daemonset.json", "flat", Some("daemonset.flat.json")),
    ("statefulset.json", "flat", None),
    (
        "statefulset.json",
        "k8s-rule",
        Some("statefulset.k8s-rule.json"),
    ),
    ("replicaset-update-tag-digest.json", "flat", None),
    (
        "replicaset-update-new-image.json",
        "flat",
        Some("replicaset-update-new-image.flat.json"),
    ),
    (
        "replicationcontroller.json",
        "flat",
        Some("replicationcontroller.flat.json"),
    ),
    ("job.json", "flat", Some("job.flat.json")),
    ("cronjob.json", "flat", Some("cronjob.flat.json")),
];

/// Fixture bytes from `fixtures/admission/` or, for kinds only the policy crate has, from
/// `policy/tests/fixtures/`.
fn fixture_bytes(name: &str) -> Vec<u8> {
    let root = common::repo_root();
    let shared = root.join("fixtures/admission").join(name);
    let path = if shared.exists() {
        shared
    } else {
        root.join("policy/tests/fixtures").join(name)
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expected_patch(name: &str) -> Value {
    let path = common::repo_root().join("policy/tests/expected").join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).expect("expected patch is JSON")
}

/// One registry per settings variant, each serving the embedded module.
async fn registries() -> Vec<(&'static str, PolicyRegistry, tempfile::TempDir)> {
    let mut out = Vec::new();
    for name in ["flat", "k8s-rule", "prefixed-all"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = if name == "flat" {
            PolicyRegistry::load(
                common::runtime(),
                PolicySource::Embedded {
                    settings: settings(name),
                },
            )
            .await
        } else {
            std::fs::write(dir.path().join("policy.wasm"), EMBEDDED_POLICY_WASM).expect("write");
            let yaml = format!(
                "pullthrough:\n  module: policy.wasm\n  allowedToMutate: true\n  settings: {}\n",
                settings(name)
            );
            std::fs::write(dir.path().join("policies.yml"), yaml).expect("write");
            PolicyRegistry::load(
                common::runtime(),
                PolicySource::File(dir.path().join("policies.yml")),
            )
            .await
        }
        .expect("policy.wasm loads");
        out.push((name, registry, dir));
    }
    out
}

#[tokio::test]
async fn every_fixture_gets_its_exact_patch() {
    let registries = registries().await;
    for &(fixture, settings_name, expected) in CASES {
        let (_, registry, _) = registries
            .iter()
            .find(|(name, _, _)| *name == settings_name)
            .expect("registry for the settings");
        assert_eq!(registry.default_policy(), "pullthrough");
        let review = AdmissionReview::from_slice(&fixture_bytes(fixture)).expect("valid review");
        let uid = review.request.uid().to_owned();
        let evaluation = registry
            .evaluate(registry.default_policy(), review.request)
            .await
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let response = evaluation.response;
        let case = format!("{fixture} [{settings_name}]");
        match expected {
            None => {
                assert_eq!(response, AdmissionResponse::allow(uid), "{case}");
                assert_eq!(evaluation.images_rewritten, 0, "{case}");
            }
            Some(expected) => {
                let want = expected_patch(expected);
                assert_eq!(response.uid, uid, "{case}");
                assert!(response.allowed, "{case}");
                assert_eq!(response.patch_type, Some(PatchType::JsonPatch), "{case}");
                assert_eq!(
                    (&response.status, &response.warnings),
                    (&None, &None),
                    "{case}"
                );
                let patch = base64::engine::general_purpose::STANDARD
                    .decode(response.patch.as_deref().expect("patch"))
                    .expect("base64");
                let got: Value = serde_json::from_slice(&patch).expect("JSON patch");
                assert_eq!(got, want, "{case}");
                let image_replacements = want
                    .as_array()
                    .expect("patch is a list")
                    .iter()
                    .filter(|op| {
                        op["op"] == "replace"
                            && op["path"].as_str().is_some_and(|p| p.ends_with("/image"))
                    })
                    .count();
                assert!(image_replacements > 0, "{case}");
                assert_eq!(evaluation.images_rewritten, image_replacements, "{case}");
            }
        }
    }
}

#[tokio::test]
async fn every_shared_fixture_is_covered() {
    for name in common::fixture_names() {
        assert!(
            CASES.iter().any(|(fixture, _, _)| *fixture == name),
            "fixtures/admission/{name} has no case"
        );
    }
}

#[tokio::test]
async fn settings_without_a_mirror_are_refused_at_load() {
    let error = PolicyRegistry::load(
        common::runtime(),
        PolicySource::Embedded {
            settings: json!({}),
        },
    )
    .await
    .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "policy pullthrough: settings are invalid: settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com"
    );
}

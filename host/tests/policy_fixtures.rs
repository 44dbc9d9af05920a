//! The real `policy.wasm` (the module embedded in the binary) through the engine on every
//! AdmissionReview fixture: the exact patch for each kind and settings variant
//! (`policy/tests/expected/`), idempotence, Kubewarden's null stripping, warnings and DELETE.

#[path = "policy_fixtures/cases.rs"]
mod cases;
mod common;

use base64::Engine as _;
use pullthrough::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, PatchType};
use pullthrough::policies::{EMBEDDED_POLICY_WASM, Evaluation, PolicyRegistry, PolicySource};
use serde_json::{Value, json};

use cases::{CASES, settings};

/// Fixture bytes from `fixtures/admission/` or, for the edited ones, from
/// `fixtures/admission/derived/`.
fn fixture_bytes(name: &str) -> Vec<u8> {
    let root = common::repo_root();
    let shared = root.join("fixtures/admission").join(name);
    let path = if shared.exists() {
        shared
    } else {
        root.join("fixtures/admission/derived").join(name)
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture AdmissionReview as JSON.
fn review(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).expect("fixture is JSON")
}

fn expected_patch(name: &str) -> Value {
    let path = common::repo_root().join("policy/tests/expected").join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).expect("expected patch is JSON")
}

fn registry<'a>(
    registries: &'a [(&'static str, PolicyRegistry, tempfile::TempDir)],
    settings_name: &str,
) -> &'a PolicyRegistry {
    registries
        .iter()
        .find(|(name, _, _)| *name == settings_name)
        .map(|(_, registry, _)| registry)
        .expect("registry for the settings")
}

/// Evaluates a bare `request` object against the registry's default policy.
async fn evaluate(registry: &PolicyRegistry, request: Value) -> Evaluation {
    let request = AdmissionRequest::from_value(request).expect("valid request");
    registry
        .evaluate(&registry.default_policy(), request)
        .await
        .expect("policy evaluates")
}

/// The JSON patch of a response, decoded from base64.
fn decoded_patch(response: &AdmissionResponse) -> Option<Value> {
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response.patch.as_deref()?)
        .expect("base64");
    Some(serde_json::from_slice(&patch).expect("JSON patch"))
}

/// One registry per settings variant, each serving the embedded module.
async fn registries() -> Vec<(&'static str, PolicyRegistry, tempfile::TempDir)> {
    common::policy::assert_policy_wasm_is_current();
    let mut out = Vec::new();
    for name in [
        "flat",
        "prefixed",
        "k8s-rule",
        "prefixed-all",
        "pull-secret",
    ] {
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
        let registry = registry(&registries, settings_name);
        assert_eq!(registry.default_policy(), "pullthrough");
        let review = AdmissionReview::from_slice(&fixture_bytes(fixture)).expect("valid review");
        let uid = review.request.uid().to_owned();
        let evaluation = registry
            .evaluate(&registry.default_policy(), review.request)
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
                assert_eq!(decoded_patch(&response), Some(want.clone()), "{case}");
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

/// Kubewarden's evaluator drops every `null` member of the request, inside the object too; our
/// host keeps them in `object`/`oldObject`, and a plain waPC host keeps them all. The answer must
/// not depend on which one ran the policy.
#[tokio::test]
async fn kubewarden_null_stripping_changes_nothing() {
    let registries = registries().await;
    let module = common::policy::embedded_module();
    // `validate` straight through waPC, request as given: the patch against its own object and
    // the warnings.
    let guest = |settings: &Value, request: &Value| {
        let payload = json!({"settings": settings, "request": request});
        let answer = module
            .call("validate", serde_json::to_vec(&payload).expect("encodable"))
            .expect("validate succeeds");
        let answer: Value = serde_json::from_slice(&answer).expect("validate answers JSON");
        assert_eq!(answer["accepted"], json!(true), "{answer}");
        let patch = match &answer["mutated_object"] {
            Value::Null => None,
            mutated => Some(json_patch::diff(&request["object"], mutated)),
        };
        (patch, answer["warnings"].clone())
    };
    let mut stripped_any = false;
    for &(fixture, settings_name, _) in CASES {
        let case = format!("{fixture} [{settings_name}]");
        let request = review(fixture)["request"].clone();
        let stripped = strip_nulls(&request);
        stripped_any |= stripped != request;
        let registry = registry(&registries, settings_name);
        assert_eq!(
            evaluate(registry, stripped.clone()).await,
            evaluate(registry, request.clone()).await,
            "{case}"
        );
        let settings = settings(settings_name);
        assert_eq!(
            guest(&settings, &stripped),
            guest(&settings, &request),
            "{case}"
        );
    }
    assert!(stripped_any, "no fixture has a null to strip");
}

#[tokio::test]
async fn applying_the_policy_to_its_own_output_yields_no_patch() {
    let registries = registries().await;
    for &(fixture, settings_name, expected) in CASES {
        if expected.is_none() {
            continue;
        }
        let case = format!("{fixture} [{settings_name}]");
        let registry = registry(&registries, settings_name);
        let request = review(fixture)["request"].clone();
        let uid = request["uid"].as_str().expect("uid").to_owned();
        let first = evaluate(registry, request.clone()).await;
        let patch: json_patch::Patch =
            serde_json::from_value(decoded_patch(&first.response).expect("a patch"))
                .expect("a JSON patch");
        let mut mutated = request["object"].clone();
        json_patch::patch(&mut mutated, &patch).expect("the patch applies to its object");
        let unchanged = Evaluation {
            response: AdmissionResponse::allow(uid),
            images_rewritten: 0,
        };
        // Once as the same operation on the mutated object...
        let mut again = request.clone();
        again["object"] = mutated.clone();
        assert_eq!(evaluate(registry, again).await, unchanged, "{case} again");
        // ...and once as a later UPDATE of it.
        if request["subResource"].is_null() {
            let mut update = request;
            update["operation"] = json!("UPDATE");
            update["object"] = mutated.clone();
            update["oldObject"] = mutated;
            assert_eq!(evaluate(registry, update).await, unchanged, "{case} update");
        }
    }
}

#[tokio::test]
async fn invalid_images_are_kept_with_a_warning_naming_the_container() {
    let registries = registries().await;
    let mut request = common::fixture("deployment.json")["request"].clone();
    request["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("nginx/Nginx:1");
    let uid = request["uid"].as_str().expect("uid").to_owned();
    assert_eq!(
        evaluate(registry(&registries, "flat"), request).await,
        Evaluation {
            response: AdmissionResponse::allow(uid).with_warning(
                "pullthrough: container \"nginx\" left unchanged: not a valid image reference: invalid reference format: repository name (nginx/Nginx) must be lowercase; image \"nginx/Nginx:1\""
            ),
            images_rewritten: 0,
        }
    );
}

#[tokio::test]
async fn delete_requests_are_accepted_unchanged() {
    let registries = registries().await;
    let mut request = common::fixture("replicaset-update-tag-digest.json")["request"].clone();
    request["operation"] = json!("DELETE");
    request["oldObject"] = request["object"].clone();
    request["object"] = Value::Null;
    let uid = request["uid"].as_str().expect("uid").to_owned();
    assert_eq!(
        evaluate(registry(&registries, "flat"), request).await,
        Evaluation {
            response: AdmissionResponse::allow(uid),
            images_rewritten: 0,
        }
    );
}

/// What Kubewarden's evaluator does to a request before the guest sees it.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// `kubectl debug` as kube-apiserver v1.37.2 sent it, with pull secrets configured: the pod
/// exists and cannot be given them, so the debug image stays where it can be pulled from.
#[tokio::test]
async fn an_existing_pod_without_the_pull_secrets_keeps_its_images() {
    let registries = registries().await;
    let registry = registry(&registries, "pull-secret");
    let capture = common::fixture("kube-apiserver-v1.37.2/pod-ephemeralcontainers-update.json");
    let request = capture["request"].clone();
    let uid = request["uid"].as_str().expect("uid").to_owned();
    assert_eq!(
        evaluate(registry, request.clone()).await,
        Evaluation {
            response: AdmissionResponse::allow(uid).with_warning(
                "pullthrough: container \"debugger\" left unchanged: the pod lacks imagePullSecrets mirror-pull, team-pull for the mirror, and a pod's imagePullSecrets cannot change after it is created; image \"busybox:1.36\""
            ),
            images_rewritten: 0,
        }
    );
    // Once the pod names them (it was created through the policy), the debug image is rewritten.
    let mut with_secrets = request;
    for side in ["object", "oldObject"] {
        with_secrets[side]["spec"]["imagePullSecrets"] =
            json!([{"name": "team-pull"}, {"name": "mirror-pull"}]);
    }
    let evaluation = evaluate(registry, with_secrets).await;
    assert_eq!(evaluation.images_rewritten, 1);
    assert_eq!(
        decoded_patch(&evaluation.response),
        Some(json!([{
            "op": "replace",
            "path": "/spec/ephemeralContainers/0/image",
            "value": "registry-mirror.example.com/library/busybox:1.36"
        }]))
    );
}

//! policy.wasm on real AdmissionReviews of every kind it rewrites, through a waPC host, with
//! the exact JSON patch the host derives (`json_patch::diff(request.object, mutated_object)`).

mod common;

use serde_json::{Value, json};

use common::{POLICY, expected_patch, fixture, patch, strip_nulls};

fn settings(name: &str) -> Value {
    match name {
        "flat" => json!({"mirror": "registry-mirror.example.com"}),
        "k8s-rule" => json!({
            "mirror": "registry-mirror.example.com",
            "rules": [{"registry": "registry.k8s.io", "target": "registry-mirror.example.com/k8s"}]
        }),
        "prefixed-all" => json!({
            "mirror": "registry-mirror.example.com",
            "registries": ["*"],
            "layout": "prefixed",
            "rules": [{"registry": "k8s.gcr.io", "target": "registry-mirror.example.com/k8s-gcr"}],
            "exclude": ["us-central1-docker.pkg.dev/**"]
        }),
        other => panic!("no settings {other}"),
    }
}

/// (fixture, settings, expected patch file or `None` for "no mutation").
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

/// Runs `validate` and returns the patch (or `None`) and the warnings.
fn evaluate(settings: &Value, request: &Value) -> (Option<Value>, Value) {
    let response = POLICY.validate(settings, request);
    assert_eq!(response["accepted"], json!(true), "{response}");
    let patch = match &response["mutated_object"] {
        Value::Null => None,
        mutated => Some(patch(&request["object"], mutated)),
    };
    (patch, response["warnings"].clone())
}

#[test]
fn every_fixture_gets_its_exact_patch() {
    let mut failures = Vec::new();
    for &(name, settings_name, expected) in CASES {
        let request = &fixture(name)["request"];
        let (got, warnings) = evaluate(&settings(settings_name), request);
        let want = expected.map(expected_patch);
        if got != want {
            failures.push(format!(
                "{name} [{settings_name}]: got {}",
                serde_json::to_string_pretty(&got).unwrap_or_default()
            ));
        }
        assert_eq!(warnings, Value::Null, "{name} [{settings_name}]");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kubewarden_null_stripping_changes_nothing() {
    for &(name, settings_name, _) in CASES {
        let request = &fixture(name)["request"];
        let stripped = strip_nulls(request);
        let settings = settings(settings_name);
        assert_eq!(
            evaluate(&settings, &stripped),
            evaluate(&settings, request),
            "{name} [{settings_name}]"
        );
    }
}

#[test]
fn applying_the_policy_to_its_own_output_yields_no_patch() {
    for &(name, settings_name, expected) in CASES {
        if expected.is_none() {
            continue;
        }
        let settings = settings(settings_name);
        let request = fixture(name)["request"].clone();
        let response = POLICY.validate(&settings, &request);
        let mutated = response["mutated_object"].clone();
        assert!(mutated.is_object(), "{name}: mutated");
        // Once as the same operation on the mutated object...
        let mut again = request.clone();
        again["object"] = mutated.clone();
        assert_eq!(
            evaluate(&settings, &again),
            (None, Value::Null),
            "{name} [{settings_name}] again"
        );
        // ...and once as a later UPDATE of it.
        if request["subResource"].is_null() {
            let mut update = request;
            update["operation"] = json!("UPDATE");
            update["object"] = mutated.clone();
            update["oldObject"] = mutated;
            assert_eq!(
                evaluate(&settings, &update),
                (None, Value::Null),
                "{name} [{settings_name}] update"
            );
        }
    }
}

#[test]
fn invalid_images_are_kept_with_a_warning_naming_the_container() {
    let mut request = fixture("deployment.json")["request"].clone();
    request["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("ghcr.io/nginx/Nginx:1");
    let (patch, warnings) = evaluate(&settings("flat"), &request);
    assert_eq!(patch, None);
    assert_eq!(
        warnings,
        json!([
            "pullthrough: image \"ghcr.io/nginx/Nginx:1\" of container \"nginx\" left unchanged: not a valid image reference: invalid reference format: repository name (nginx/Nginx) must be lowercase"
        ])
    );
}

#[test]
fn delete_requests_are_accepted_unchanged() {
    let mut request = fixture("replicaset-update-tag-digest.json")["request"].clone();
    request["operation"] = json!("DELETE");
    request["oldObject"] = request["object"].clone();
    request["object"] = Value::Null;
    assert_eq!(evaluate(&settings("flat"), &request), (None, Value::Null));
}

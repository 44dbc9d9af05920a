//! Pull secrets: the mirror's `imagePullSecrets` added to every rewritten pod spec, and
//! `keepImagesWithPullSecrets` leaving private pod specs alone.

use serde_json::{Value, json};

use super::Outcome;
use super::tests::{request, run, run_with, with_pull_secrets};
use crate::settings::Settings;

#[test]
fn keep_images_with_pull_secrets_leaves_such_pod_specs_alone() {
    let keeping = Settings {
        mirror: "m.example.com".into(),
        keep_images_with_pull_secrets: true,
        ..Settings::default()
    }
    .compile()
    .expect("valid settings");
    let pod = |secrets: Value| {
        request(
            "Pod",
            "CREATE",
            json!({"kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"imagePullSecrets": secrets, "containers": [{"name": "c", "image": "example/private:1"}]}}),
        )
    };
    let kept = keeping.mutate(&pod(json!([{"name": "ghcr-credentials"}])));
    assert_eq!(kept.mutated_object, None);
    assert_eq!(
        kept.warnings,
        [
            "pullthrough: images left unchanged: the pod spec lists imagePullSecrets (keepImagesWithPullSecrets)"
        ]
    );
    // No secrets (or an empty list): rewritten as usual.
    assert_eq!(keeping.mutate(&pod(json!([]))).images_rewritten, 1);
    // A template's secrets count for the workload.
    let deployment = request(
        "Deployment",
        "CREATE",
        json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {
            "imagePullSecrets": [{"name": "ghcr-credentials"}],
            "containers": [{"name": "c", "image": "example/private:1"}]}}}}),
    );
    assert_eq!(keeping.mutate(&deployment).mutated_object, None);
    // Off by default.
    assert_eq!(
        run(&pod(json!([{"name": "ghcr-credentials"}]))).images_rewritten,
        1
    );
}

/// The UPDATE a later webhook's reinvocation brings: `deployment` with an envoy sidecar added.
fn sidecar_added(deployment: Value) -> Value {
    let mut with_sidecar = deployment.clone();
    with_sidecar["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("a list")
        .push(json!({"name": "sidecar", "image": "envoyproxy/envoy:v1"}));
    let mut update = request("Deployment", "UPDATE", with_sidecar);
    update["oldObject"] = deployment;
    update
}

#[test]
fn keep_images_with_pull_secrets_does_not_count_the_mirrors_own_secrets() {
    let rewriter = Settings {
        mirror: "m.example.com".into(),
        keep_images_with_pull_secrets: true,
        image_pull_secrets: vec!["mirror-creds".into()],
        ..Settings::default()
    }
    .compile()
    .expect("valid settings");
    let object = json!({"kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}});
    let first = run_with(&rewriter, &request("Deployment", "CREATE", object))
        .mutated_object
        .expect("rewritten");
    // Reinvoked after another webhook added a sidecar: the template now lists only the mirror's
    // secret, so the sidecar is rewritten too, with no "left unchanged" warning.
    let update = sidecar_added(first);
    let again = run_with(&rewriter, &update);
    assert_eq!(again.warnings, Vec::<String>::new());
    assert_eq!(
        again.mutated_object.expect("the sidecar is rewritten")["spec"]["template"]["spec"]["containers"]
            [1]["image"],
        json!("m.example.com/envoyproxy/envoy:v1")
    );
    // A secret of the pod's own still keeps its images.
    let private = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "imagePullSecrets": [{"name": "mirror-creds"}, {"name": "ghcr-credentials"}],
        "containers": [{"name": "c", "image": "example/private:1"}]}});
    let kept = run_with(&rewriter, &request("Pod", "CREATE", private));
    assert_eq!(kept.mutated_object, None);
    assert_eq!(kept.warnings.len(), 1);
}

#[test]
fn pull_secrets_are_added_to_every_rewritten_pod_spec() {
    let rewriter = with_pull_secrets(&["mirror-creds", "backup-creds"]);
    let template = |pull_secrets: Value| {
        let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
        if !pull_secrets.is_null() {
            spec["imagePullSecrets"] = pull_secrets;
        }
        json!({"metadata": {"labels": {"app": "a"}}, "spec": spec})
    };
    let kinds = [
        ("Pod", "/spec"),
        ("Deployment", "/spec/template/spec"),
        ("StatefulSet", "/spec/template/spec"),
        ("DaemonSet", "/spec/template/spec"),
        ("ReplicaSet", "/spec/template/spec"),
        ("ReplicationController", "/spec/template/spec"),
        ("Job", "/spec/template/spec"),
        ("CronJob", "/spec/jobTemplate/spec/template/spec"),
    ];
    // (case, imagePullSecrets before, after)
    let lists = [
        (
            "absent",
            Value::Null,
            json!([{"name": "mirror-creds"}, {"name": "backup-creds"}]),
        ),
        (
            "one already named",
            json!([{"name": "backup-creds"}, {"name": "own"}]),
            json!([{"name": "backup-creds"}, {"name": "own"}, {"name": "mirror-creds"}]),
        ),
        (
            "not a list",
            json!("mirror-creds"),
            json!([{"name": "mirror-creds"}, {"name": "backup-creds"}]),
        ),
    ];
    for (kind, spec_path) in kinds {
        for (case, before, after) in &lists {
            let template = template(before.clone());
            let object = match kind {
                "Pod" => {
                    json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": template["spec"]})
                }
                "CronJob" => {
                    json!({"kind": kind, "spec": {"jobTemplate": {"spec": {"template": template}}}})
                }
                _ => json!({"kind": kind, "spec": {"template": template}}),
            };
            let mutated = run_with(&rewriter, &request(kind, "CREATE", object))
                .mutated_object
                .unwrap_or_else(|| panic!("{kind} [{case}] was not rewritten"));
            assert_eq!(
                mutated.pointer(&format!("{spec_path}/imagePullSecrets")),
                Some(after),
                "{kind} [{case}]"
            );
            assert_eq!(
                mutated.pointer(&format!("{spec_path}/containers/0/image")),
                Some(&json!("m.example.com/library/nginx")),
                "{kind} [{case}]"
            );
        }
    }
}

#[test]
fn pull_secrets_are_not_added_when_nothing_is_rewritten() {
    let rewriter = with_pull_secrets(&["mirror-creds"]);
    let cases = [
        ("on the mirror already", "m.example.com/library/nginx:1"),
        ("registry not selected", "registry.k8s.io/pause:3.9"),
        ("not a valid reference", "Nginx"),
    ];
    for (case, image) in cases {
        let object =
            json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": image}]}});
        let outcome = run_with(&rewriter, &request("Pod", "CREATE", object));
        assert_eq!(outcome.mutated_object, None, "{case}");
        assert_eq!(outcome.images_rewritten, 0, "{case}");
    }
}

#[test]
fn pull_secrets_are_idempotent_across_admissions() {
    let rewriter = with_pull_secrets(&["mirror-creds"]);
    let object = json!({"kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}});
    let first = run_with(&rewriter, &request("Deployment", "CREATE", object))
        .mutated_object
        .expect("rewritten");
    assert_eq!(
        run_with(&rewriter, &request("Deployment", "CREATE", first.clone())).mutated_object,
        None
    );
    // A later webhook adds a sidecar; on reinvocation it is rewritten and the secret stays single.
    let update = sidecar_added(first);
    let again = run_with(&rewriter, &update)
        .mutated_object
        .expect("the sidecar is rewritten");
    assert_eq!(
        again["spec"]["template"]["spec"]["imagePullSecrets"],
        json!([{"name": "mirror-creds"}])
    );
    assert_eq!(
        again["spec"]["template"]["spec"]["containers"][1]["image"],
        json!("m.example.com/envoyproxy/envoy:v1")
    );
}

#[test]
fn an_existing_pod_without_the_pull_secrets_keeps_its_images() {
    let rewriter = with_pull_secrets(&["mirror-creds", "other"]);
    let old = json!({"kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"imagePullSecrets": [{"name": "other"}], "containers": [{"name": "app", "image": "nginx:1"}]}});
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    let mut update = request("Pod", "UPDATE", new.clone());
    update["oldObject"] = old.clone();
    assert_eq!(
        run_with(&rewriter, &update),
        Outcome {
            mutated_object: None,
            warnings: vec![
                "pullthrough: container \"app\" left unchanged: the pod lacks imagePullSecrets mirror-creds for the mirror, and a pod's imagePullSecrets cannot change after it is created; image \"nginx:2\"".to_owned()
            ],
            images_rewritten: 0,
        }
    );
    // `kubectl debug` on the same pod: the same answer for the new ephemeral container.
    let mut debugged = old.clone();
    debugged["spec"]["ephemeralContainers"] = json!([{"name": "dbg", "image": "busybox:1"}]);
    let mut subresource = request("Pod", "UPDATE", debugged);
    subresource["subResource"] = json!("ephemeralcontainers");
    subresource["oldObject"] = old;
    let outcome = run_with(&rewriter, &subresource);
    assert_eq!(outcome.mutated_object, None);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    // A pod that has them (it was created through the policy) is rewritten as usual.
    let has = json!({"kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"imagePullSecrets": [{"name": "mirror-creds"}, {"name": "other"}],
                              "containers": [{"name": "app", "image": "m.example.com/library/nginx:1"}]}});
    let mut new = has.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    let mut update = request("Pod", "UPDATE", new);
    update["oldObject"] = has;
    let mutated = run_with(&rewriter, &update)
        .mutated_object
        .expect("rewritten");
    assert_eq!(
        mutated["spec"]["containers"][0]["image"],
        json!("m.example.com/library/nginx:2")
    );
    assert_eq!(
        mutated["spec"]["imagePullSecrets"],
        json!([{"name": "mirror-creds"}, {"name": "other"}])
    );
}

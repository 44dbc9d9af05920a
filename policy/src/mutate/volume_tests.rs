//! Image volumes (`spec.volumes[].image.reference`, GA in Kubernetes 1.36): the kubelet pulls
//! them like container images, so they are rewritten wherever containers are, with the same
//! settings and opt-outs; every other volume is left alone.

use serde_json::{Value, json};

use super::tests::{originals, request, run, run_with, with_pull_secrets};

fn volumes() -> Value {
    json!([
        {"name": "config", "configMap": {"name": "app-config"}},
        {"name": "models", "image": {"reference": "ghcr.io/org/models:v3", "pullPolicy": "IfNotPresent"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "cached", "image": {"reference": "m.example.com/org/tools:1"}},
        {"name": "placeholder", "image": {"reference": ""}},
        {"name": "no-reference", "image": {"pullPolicy": "Always"}}
    ])
}

fn pod_spec() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx:1.27"}], "volumes": volumes()})
}

#[test]
fn a_pod_s_image_volume_is_rewritten_and_no_other_volume_is_touched() {
    let object = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec()});
    let outcome = run(&request("Pod", "CREATE", object.clone()));
    let mut want = object;
    want["spec"]["containers"][0]["image"] = json!("m.example.com/library/nginx:1.27");
    want["spec"]["volumes"][1]["image"]["reference"] = json!("m.example.com/org/models:v3");
    want["metadata"]["annotations"] = json!({"pullthrough.dev/original-images": originals(json!({
        "app": "nginx:1.27", "volume:models": "ghcr.io/org/models:v3"
    }))});
    assert_eq!(outcome.mutated_object, Some(want));
    assert_eq!(outcome.images_rewritten, 2);
    assert_eq!(outcome.warnings, Vec::<String>::new());
}

#[test]
fn every_template_kind_has_its_image_volumes_rewritten() {
    let template = json!({"spec": pod_spec()});
    let cases = [
        (
            "Deployment",
            json!({"template": template}),
            "/spec/template/spec",
        ),
        (
            "StatefulSet",
            json!({"template": template}),
            "/spec/template/spec",
        ),
        (
            "DaemonSet",
            json!({"template": template}),
            "/spec/template/spec",
        ),
        (
            "ReplicaSet",
            json!({"template": template}),
            "/spec/template/spec",
        ),
        (
            "ReplicationController",
            json!({"template": template}),
            "/spec/template/spec",
        ),
        ("Job", json!({"template": template}), "/spec/template/spec"),
        (
            "CronJob",
            json!({"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}),
            "/spec/jobTemplate/spec/template/spec",
        ),
    ];
    for (kind, spec, pod_spec) in cases {
        let object = json!({"kind": kind, "metadata": {"name": "w"}, "spec": spec});
        let mutated = run(&request(kind, "CREATE", object.clone()))
            .mutated_object
            .unwrap_or_else(|| panic!("{kind} was not rewritten"));
        let volumes = |o: &Value| o.pointer(&format!("{pod_spec}/volumes")).cloned();
        let mut want = volumes(&object).expect("volumes");
        want[1]["image"]["reference"] = json!("m.example.com/org/models:v3");
        assert_eq!(volumes(&mutated), Some(want), "{kind}");
    }
}

#[test]
fn an_opted_out_pod_keeps_its_image_volumes() {
    let object = json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"pullthrough.dev/rewrite": "false"}},
                        "spec": pod_spec()});
    assert_eq!(run(&request("Pod", "CREATE", object)).mutated_object, None);
}

#[test]
fn an_update_rewrites_a_volume_only_when_its_reference_changed() {
    let old = json!({"kind": "Deployment", "metadata": {"name": "d"},
                     "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "m.example.com/library/nginx:1.27"}],
                              "volumes": [{"name": "models", "image": {"reference": "registry.k8s.io/models:v2"}}]}}}});
    let mut same = old.clone();
    same["spec"]["replicas"] = json!(3);
    let mut update = request("Deployment", "UPDATE", same);
    update["oldObject"] = old.clone();
    assert_eq!(run(&update).mutated_object, None);

    let mut changed = old.clone();
    changed["spec"]["template"]["spec"]["volumes"][0]["image"]["reference"] =
        json!("ghcr.io/org/models:v4");
    let mut update = request("Deployment", "UPDATE", changed);
    update["oldObject"] = old;
    let mutated = run(&update)
        .mutated_object
        .expect("the new reference is rewritten");
    assert_eq!(
        mutated.pointer("/spec/template/spec/volumes/0/image/reference"),
        Some(&json!("m.example.com/org/models:v4"))
    );
}

#[test]
fn the_ephemeral_containers_subresource_leaves_volumes_alone() {
    let mut object = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec()});
    object["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox:1.36"}]);
    let mut update = request("Pod", "UPDATE", object.clone());
    update["subResource"] = json!("ephemeralcontainers");
    update["oldObject"] = object;
    assert_eq!(run(&update).mutated_object, None);
}

#[test]
fn a_volume_that_cannot_be_rewritten_is_named_in_the_warning() {
    let object = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "app", "image": "m.example.com/library/nginx:1.27"}],
        "volumes": [{"name": "models", "image": {"reference": "ghcr.io/Org/models"}}]}});
    let outcome = run(&request("Pod", "CREATE", object));
    assert_eq!(outcome.mutated_object, None);
    assert_eq!(
        outcome.warnings,
        [
            "pullthrough: volume \"models\" left unchanged: not a valid image reference: invalid reference format: repository name (Org/models) must be lowercase; image \"ghcr.io/Org/models\""
        ]
    );
}

#[test]
fn a_rewritten_volume_alone_brings_the_pull_secrets() {
    let rewriter = with_pull_secrets(&["mirror-creds"]);
    let object = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "app", "image": "m.example.com/library/nginx:1.27"}],
        "volumes": [{"name": "models", "image": {"reference": "org/models:v1"}}]}});
    let mutated = run_with(&rewriter, &request("Pod", "CREATE", object))
        .mutated_object
        .expect("rewritten");
    assert_eq!(
        mutated["spec"]["imagePullSecrets"],
        json!([{"name": "mirror-creds"}])
    );
    assert_eq!(
        mutated["spec"]["volumes"][0]["image"]["reference"],
        json!("m.example.com/org/models:v1")
    );
}

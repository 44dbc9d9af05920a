//! Rewrite rules over whole admission requests, on small hand-written objects. The real
//! AdmissionReview fixtures run through policy.wasm in the host's engine in
//! `host/tests/policy_fixtures.rs`.

use serde_json::{Value, json};

use super::*;
use crate::settings::Settings;

const D: &str = "sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713";

/// The walk's tests rewrite docker.io and ghcr.io flat (accepted by name) so one pod shows
/// images from several registries rewritten and left alone.
fn rewriter() -> Rewriter {
    Settings {
        mirror: "m.example.com".into(),
        registries: Some(vec!["docker.io".into(), "ghcr.io".into()]),
        exclude: vec!["docker.io/library/busybox".into()],
        allow_shared_namespace: true,
        ..Settings::default()
    }
    .compile()
    .expect("valid settings")
}

pub(super) fn request(kind: &str, operation: &str, object: Value) -> Value {
    json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": kind}, "operation": operation, "object": object})
}

/// Runs both entry points and checks they agree.
pub(super) fn run(request: &Value) -> Outcome {
    let borrowed = rewriter().mutate(request);
    let owned = rewriter().mutate_request(
        &mut serde_json::from_value(request.clone()).expect("an admission request"),
    );
    assert_eq!(borrowed, owned, "mutate and mutate_request disagree");
    borrowed
}

pub(super) fn originals(map: Value) -> String {
    map.to_string()
}

fn pod_spec() -> Value {
    json!({
        "initContainers": [{"name": "init", "image": "busybox:1.36"}, {"name": "setup", "image": "alpine"}],
        "containers": [
            {"name": "app", "image": format!("ghcr.io/org/app:1.2@{D}"), "resources": null},
            {"name": "bad", "image": "Nginx"},
            {"name": "k8s", "image": "registry.k8s.io/pause:3.9"},
            {"name": "cached", "image": "m.example.com/library/redis:7"},
            {"name": "unset", "image": ""},
            {"name": "null", "image": null}
        ],
        "ephemeralContainers": [{"name": "debug", "image": "nicolaka/netshoot"}]
    })
}

#[test]
fn pod_create_rewrites_every_list_and_records_the_originals() {
    let object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"a": "b"}}, "spec": pod_spec()});
    let outcome = run(&request("Pod", "CREATE", object.clone()));
    let mut want = object;
    want["spec"]["initContainers"][1]["image"] = json!("m.example.com/library/alpine");
    want["spec"]["containers"][0]["image"] = json!(format!("m.example.com/org/app:1.2@{D}"));
    want["spec"]["ephemeralContainers"][0]["image"] = json!("m.example.com/nicolaka/netshoot");
    want["metadata"]["annotations"]["pullthrough.dev/original-images"] = json!(originals(json!({
        "app": format!("ghcr.io/org/app:1.2@{D}"), "debug": "nicolaka/netshoot", "setup": "alpine"
    })));
    assert_eq!(outcome.mutated_object, Some(want));
    assert_eq!(outcome.images_rewritten, 3);
    assert_eq!(
        outcome.warnings,
        [
            "pullthrough: container \"bad\" left unchanged: not a valid image reference: invalid reference format: repository name (library/Nginx) must be lowercase; image \"Nginx\""
        ]
    );
}

#[test]
fn every_workload_kind_has_its_template_rewritten() {
    let template = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let cases = [
        ("Deployment", json!({"template": template})),
        ("ReplicaSet", json!({"template": template})),
        ("StatefulSet", json!({"template": template})),
        ("DaemonSet", json!({"template": template})),
        ("Job", json!({"template": template})),
        ("ReplicationController", json!({"template": template})),
        (
            "CronJob",
            json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}),
        ),
    ];
    for (kind, spec) in cases {
        let object = json!({"kind": kind, "metadata": {"name": "w"}, "spec": spec});
        let outcome = run(&request(kind, "CREATE", object));
        let mutated = outcome
            .mutated_object
            .unwrap_or_else(|| panic!("{kind} was not rewritten"));
        let pod_spec = if kind == "CronJob" {
            "/spec/jobTemplate/spec/template/spec"
        } else {
            "/spec/template/spec"
        };
        assert_eq!(
            mutated.pointer(&format!("{pod_spec}/containers/0/image")),
            Some(&json!("m.example.com/library/nginx")),
            "{kind}"
        );
        assert_eq!(
            mutated.pointer("/metadata/annotations/pullthrough.dev~1original-images"),
            Some(&json!("{\"c\":\"nginx\"}")),
            "{kind}"
        );
    }
}

#[test]
fn requests_that_are_never_rewritten() {
    let pod = |metadata: Value| json!({"kind": "Pod", "metadata": metadata, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let deployment = |template_metadata: Value| {
        json!({"kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"template": {"metadata": template_metadata, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    };
    let cronjob = |job_metadata: Value| {
        json!({"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"metadata": job_metadata,
               "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}}})
    };
    let cases = [
        ("delete", request("Pod", "DELETE", pod(json!({})))),
        ("connect", request("Pod", "CONNECT", pod(json!({})))),
        (
            "opt-out label",
            request(
                "Pod",
                "CREATE",
                pod(json!({"labels": {"pullthrough.dev/rewrite": "false"}})),
            ),
        ),
        (
            "opt-out annotation",
            request(
                "Pod",
                "CREATE",
                pod(json!({"annotations": {"pullthrough.dev/rewrite": "false"}})),
            ),
        ),
        (
            "opt-out on the pod template",
            request(
                "Deployment",
                "CREATE",
                deployment(json!({"labels": {"pullthrough.dev/rewrite": "false"}})),
            ),
        ),
        (
            "opt-out on the job template",
            request(
                "CronJob",
                "CREATE",
                cronjob(json!({"annotations": {"pullthrough.dev/rewrite": "false"}})),
            ),
        ),
        (
            "static mirror pod",
            request(
                "Pod",
                "CREATE",
                pod(json!({"annotations": {"kubernetes.io/config.mirror": "abc"}})),
            ),
        ),
        ("status subresource", {
            let mut r = request("Pod", "UPDATE", pod(json!({})));
            r["subResource"] = json!("status");
            r
        }),
        ("ephemeralcontainers of something else", {
            let mut r = request("Deployment", "UPDATE", deployment(json!({})));
            r["subResource"] = json!("ephemeralcontainers");
            r
        }),
        (
            "not a pod kind",
            request(
                "Service",
                "CREATE",
                json!({"kind": "Service", "spec": {"containers": [{"image": "nginx"}]}}),
            ),
        ),
        (
            "no object",
            json!({"kind": {"kind": "Pod"}, "operation": "CREATE"}),
        ),
        ("object is null", request("Pod", "CREATE", Value::Null)),
        (
            "spec is null",
            request(
                "Pod",
                "CREATE",
                json!({"kind": "Pod", "metadata": null, "spec": null}),
            ),
        ),
        (
            "lists are null",
            request(
                "Pod",
                "CREATE",
                json!({"kind": "Pod", "spec": {"containers": null, "initContainers": null}}),
            ),
        ),
        (
            "containers not objects",
            request(
                "Pod",
                "CREATE",
                json!({"kind": "Pod", "spec": {"containers": [null, 3, "nginx"]}}),
            ),
        ),
        (
            "image not a string",
            request(
                "Pod",
                "CREATE",
                json!({"kind": "Pod", "spec": {"containers": [{"image": 7}]}}),
            ),
        ),
        (
            "excluded image",
            request(
                "Pod",
                "CREATE",
                json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
            ),
        ),
    ];
    for (name, request) in cases {
        assert_eq!(run(&request), Outcome::default(), "{name}");
    }
}

#[test]
fn opt_out_needs_the_value_false() {
    let object = json!({"kind": "Pod", "metadata": {"labels": {"pullthrough.dev/rewrite": "true"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    assert_eq!(run(&request("Pod", "CREATE", object)).images_rewritten, 1);
}

#[test]
fn update_rewrites_only_what_the_update_changed() {
    let old = json!({"kind": "Pod", "metadata": {"name": "p", "annotations": {"pullthrough.dev/original-images": "{\"a\":\"nginx:1\"}"}},
                     "spec": {"containers": [{"name": "a", "image": "m.example.com/library/nginx:1"}, {"name": "b", "image": "redis:7"}]}});
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    let mut r = request("Pod", "UPDATE", new.clone());
    r["oldObject"] = old;
    let outcome = run(&r);
    let mut want = new;
    want["spec"]["containers"][0]["image"] = json!("m.example.com/library/nginx:2");
    want["metadata"]["annotations"]["pullthrough.dev/original-images"] =
        json!("{\"a\":\"nginx:2\"}");
    // `redis:7` predates the policy and this update left it alone: so do we.
    assert_eq!(
        outcome,
        Outcome {
            mutated_object: Some(want),
            warnings: vec![],
            images_rewritten: 1
        }
    );
}

#[test]
fn ephemeral_containers_subresource_adds_only_the_new_container() {
    let old = json!({"kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "app", "image": "nginx"}], "ephemeralContainers": [{"name": "dbg1", "image": "busybox:1"}]}});
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"]
        .as_array_mut()
        .expect("a list")
        .push(json!({"name": "dbg2", "image": "nicolaka/netshoot"}));
    let mut r = request("Pod", "UPDATE", new.clone());
    r["subResource"] = json!("ephemeralcontainers");
    r["oldObject"] = old;
    let mut want = new;
    want["spec"]["ephemeralContainers"][1]["image"] = json!("m.example.com/nicolaka/netshoot");
    // No annotation: the API server takes only the ephemeral containers from this object.
    assert_eq!(
        run(&r),
        Outcome {
            mutated_object: Some(want),
            warnings: vec![],
            images_rewritten: 1
        }
    );
}

#[test]
fn kind_falls_back_to_the_object() {
    let r = json!({"operation": "CREATE", "object": {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "nginx"}]}}});
    assert_eq!(run(&r).images_rewritten, 1);
}

#[test]
fn mutating_the_output_again_changes_nothing() {
    let object = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec()});
    let first = run(&request("Pod", "CREATE", object))
        .mutated_object
        .expect("rewritten");
    let again = run(&request("Pod", "CREATE", first.clone()));
    assert_eq!(again.mutated_object, None);
    assert_eq!(again.images_rewritten, 0);
    let mut update = request("Pod", "UPDATE", first.clone());
    update["oldObject"] = first;
    assert_eq!(run(&update).mutated_object, None);
}

#[test]
fn warnings_stay_short_and_few_for_the_api_server() {
    // Ten containers whose images cannot be rewritten, one with a very long name: the API server
    // truncates warnings past 256 characters and drops them past 4096 in all.
    let mut containers: Vec<Value> = (0..9)
        .map(|i| json!({"name": format!("bad{i}"), "image": "Nginx"}))
        .collect();
    containers.insert(
        0,
        json!({"name": "long", "image": format!("Nginx{}", "x".repeat(300))}),
    );
    let object =
        json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    let outcome = run(&request("Pod", "CREATE", object));
    assert_eq!(outcome.warnings.len(), MAX_WARNINGS);
    for warning in &outcome.warnings {
        assert!(warning.chars().count() <= MAX_WARNING_CHARS, "{warning}");
    }
    // The container and the reason first; the image shortened in its middle.
    assert!(
        outcome.warnings[0].ends_with("xxx\""),
        "{}",
        outcome.warnings[0]
    );
    assert!(outcome.warnings[0].starts_with(
        "pullthrough: container \"long\" left unchanged: not a valid image reference: "
    ));
    assert_eq!(
        outcome.warnings[1],
        "pullthrough: container \"bad0\" left unchanged: not a valid image reference: invalid reference format: repository name (library/Nginx) must be lowercase; image \"Nginx\""
    );
    assert_eq!(
        outcome.warnings[3],
        "pullthrough: 7 more images left unchanged (not valid references)"
    );
}

pub(super) fn with_pull_secrets(secrets: &[&str]) -> Rewriter {
    Settings {
        mirror: "m.example.com".into(),
        image_pull_secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        ..Settings::default()
    }
    .compile()
    .expect("valid settings")
}

/// Both entry points with the given rewriter, checked to agree.
pub(super) fn run_with(rewriter: &Rewriter, request: &Value) -> Outcome {
    let borrowed = rewriter.mutate(request);
    let owned = rewriter.mutate_request(
        &mut serde_json::from_value(request.clone()).expect("an admission request"),
    );
    assert_eq!(borrowed, owned, "mutate and mutate_request disagree");
    borrowed
}

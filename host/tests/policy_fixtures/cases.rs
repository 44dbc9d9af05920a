//! The settings variants and the table of fixtures, each with the settings it runs under and
//! the patch it must get.

use serde_json::{Value, json};

pub const MIRROR: &str = "registry-mirror.example.com";

pub fn settings(name: &str) -> Value {
    match name {
        "flat" => json!({"mirror": MIRROR}),
        "prefixed" => json!({"mirror": MIRROR, "layout": "prefixed"}),
        // `k8s` cannot be a registry, so the rule's target stays apart from the layout's.
        "k8s-rule" => json!({
            "mirror": MIRROR,
            "layout": "prefixed",
            "rules": [{"registry": "registry.k8s.io", "target": "registry-mirror.example.com/k8s"}]
        }),
        "prefixed-all" => json!({
            "mirror": MIRROR,
            "registries": ["*"],
            "layout": "prefixed",
            "rules": [{"registry": "k8s.gcr.io", "target": "registry-mirror.example.com/k8s-gcr"}],
            "exclude": ["us-central1-docker.pkg.dev/**"]
        }),
        "pull-secret" => {
            json!({"mirror": MIRROR, "imagePullSecrets": ["mirror-pull", "team-pull"]})
        }
        other => panic!("no settings {other}"),
    }
}

/// (fixture, settings, expected patch in `policy/tests/expected/`, `None` for no mutation).
pub const CASES: &[(&str, &str, Option<&str>)] = &[
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
    // ghcr.io is not Docker Hub: the default flat namespace is Docker Hub's alone.
    ("deployment.json", "flat", None),
    (
        "deployment.json",
        "prefixed",
        Some("deployment.prefixed.json"),
    ),
    ("daemonset.json", "flat", None),
    (
        "daemonset.json",
        "prefixed",
        Some("daemonset.prefixed.json"),
    ),
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
    // imagePullSecrets: added beside the rewrite, nothing when nothing is rewritten.
    ("deployment.json", "pull-secret", None),
    (
        "cronjob.json",
        "pull-secret",
        Some("cronjob.pull-secret.json"),
    ),
    (
        "pod-initcontainers-digests.json",
        "pull-secret",
        Some("pod-initcontainers-digests.pull-secret.json"),
    ),
    ("statefulset.json", "pull-secret", None),
    ("replicaset-update-tag-digest.json", "pull-secret", None),
];

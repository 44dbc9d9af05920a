//! The install manifests: `deploy/` matches `pullthrough manifests`, the Deployment is locked
//! down, RBAC names only our own objects, and the zot configurations fit both layouts.

use pullthrough::commands::manifests::{DEFAULT_IMAGE, ManifestsArgs, render};
use serde_json::{Value, json};

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
}

fn defaults() -> ManifestsArgs {
    ManifestsArgs {
        namespace: "pullthrough".to_owned(),
        image: DEFAULT_IMAGE.to_owned(),
        mirror: "registry-mirror.example.com".to_owned(),
        replicas: 2,
    }
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .skip(1)
        .map(|doc| serde_yaml_ng::from_str::<Value>(doc).expect("document parses"))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn deploy_base_is_the_generated_install() {
    assert_eq!(
        repo_file("deploy/kustomize/base/install.yaml"),
        render(&defaults()).expect("render"),
        "deploy/kustomize/base/install.yaml is stale: regenerate it with \
         `pullthrough manifests --mirror registry-mirror.example.com`"
    );
}

#[test]
fn install_has_every_object_once_in_apply_order() {
    let docs = documents(&render(&defaults()).expect("render"));
    let kinds: Vec<_> = docs
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service"
        ]
    );
}

#[test]
fn deployment_runs_non_root_read_only_with_probes() {
    let docs = documents(&render(&defaults()).expect("render"));
    let deployment = find(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["serviceAccountName"], "pullthrough");
    let container = &pod["containers"][0];
    assert_eq!(
        container["args"],
        json!([
            "serve",
            "--register",
            "--mirror",
            "registry-mirror.example.com"
        ])
    );
    assert_eq!(
        container["securityContext"],
        json!({
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true
        })
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(
            container[probe]["httpGet"],
            json!({"path": path, "port": "https", "scheme": "HTTPS"})
        );
    }
    let service = find(&docs, "Service");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}])
    );
}

#[test]
fn rbac_names_only_its_own_webhook_and_secret() {
    let docs = documents(&render(&defaults()).expect("render"));
    assert_eq!(
        find(&docs, "ClusterRole")["rules"],
        json!([{
            "apiGroups": ["admissionregistration.k8s.io"],
            "resourceNames": ["pullthrough"],
            "resources": ["mutatingwebhookconfigurations"],
            "verbs": ["get", "create", "patch"]
        }])
    );
    let role = find(&docs, "Role");
    assert_eq!(role["metadata"]["namespace"], "pullthrough");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resourceNames": ["pullthrough-tls"], "resources": ["secrets"], "verbs": ["get", "update"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}
        ])
    );
}

#[test]
fn namespace_option_moves_every_namespaced_object() {
    let args = ManifestsArgs {
        namespace: "infra".to_owned(),
        ..defaults()
    };
    let docs = documents(&render(&args).expect("render"));
    assert_eq!(find(&docs, "Namespace")["metadata"]["name"], "infra");
    for kind in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
    ] {
        assert_eq!(
            find(&docs, kind)["metadata"]["namespace"],
            "infra",
            "{kind}"
        );
    }
    assert_eq!(
        find(&docs, "ClusterRoleBinding")["subjects"][0]["namespace"],
        "infra"
    );
}

#[test]
fn zot_configs_keep_digests_and_docker_manifests_in_both_layouts() {
    for (file, prefixed) in [
        ("deploy/zot/config-flat.json", false),
        ("deploy/zot/config-prefixed.json", true),
    ] {
        let config: Value = serde_json::from_str(&repo_file(file)).expect("zot config is JSON");
        assert_eq!(config["http"]["compat"], json!(["docker2s2"]), "{file}");
        let registries = config["extensions"]["sync"]["registries"]
            .as_array()
            .expect("registries");
        let upstreams: Vec<_> = registries
            .iter()
            .map(|r| r["urls"][0].as_str().expect("url"))
            .collect();
        assert_eq!(
            upstreams,
            [
                "https://registry-1.docker.io",
                "https://ghcr.io",
                "https://quay.io",
                "https://gcr.io"
            ]
        );
        for (registry, name) in registries
            .iter()
            .zip(["docker.io", "ghcr.io", "quay.io", "gcr.io"])
        {
            assert_eq!(registry["onDemand"], true, "{file}");
            assert_eq!(registry["preserveDigest"], true, "{file}");
            let expected = if prefixed {
                json!([{"prefix": "**", "destination": format!("/{name}")}])
            } else {
                json!([{"prefix": "**"}])
            };
            assert_eq!(registry["content"], expected, "{file}");
        }
    }
}

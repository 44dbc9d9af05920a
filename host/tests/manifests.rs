//! The install manifests: `deploy/` matches `pullthrough manifests`, the Deployment is locked
//! down, highly available and sized for its guests, serve's settings reach it, RBAC names only
//! our own objects, and the NetworkPolicy admits only what each port needs. The zot
//! configurations shipped beside them are checked in `zot_configs.rs`.

use pullthrough::commands::manifests::{ManifestsArgs, render};
use serde_json::{Value, json};

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
}

/// `pullthrough manifests ARGS`, parsed by the real command line.
fn parse(args: &[&str]) -> ManifestsArgs {
    <Cli as clap::Parser>::try_parse_from(std::iter::once("manifests").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .manifests
}

fn defaults() -> ManifestsArgs {
    parse(&["--mirror", "registry-mirror.example.com"])
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
            "Service",
            "PodDisruptionBudget",
            "NetworkPolicy"
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
            "registry-mirror.example.com",
            "--failure-policy",
            "ignore",
            "--max-concurrency",
            "2",
            "--policy-memory-mib",
            "128",
            "--metrics-addr",
            "0.0.0.0:9090",
            "--shutdown-grace-seconds",
            "10"
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
        json!([
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"},
            {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": "metrics"}
        ])
    );
    assert_eq!(
        container["ports"],
        json!([
            {"containerPort": 8443, "name": "https", "protocol": "TCP"},
            {"containerPort": 9090, "name": "metrics", "protocol": "TCP"}
        ])
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
            {"apiGroups": [""], "resourceNames": ["pullthrough-tls"], "resources": ["secrets"],
             "verbs": ["get", "create", "patch", "update"]}
        ])
    );
}

#[test]
fn serve_settings_pass_through_to_the_container() {
    let docs = documents(
        &render(&parse(&[
            "--mirror",
            "mirror.internal:5000/cache",
            "--failure-policy",
            "fail",
            "--exclude-namespaces",
            "zot,cilium",
            "--mirror-pull-secret",
            "mirror-creds",
            "--mirror-pull-secret",
            "more-creds",
        ]))
        .expect("render"),
    );
    let args = &find(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(
        args,
        &json!([
            "serve",
            "--register",
            "--mirror",
            "mirror.internal:5000/cache",
            "--failure-policy",
            "fail",
            "--max-concurrency",
            "2",
            "--policy-memory-mib",
            "128",
            "--metrics-addr",
            "0.0.0.0:9090",
            "--shutdown-grace-seconds",
            "10",
            "--exclude-namespaces",
            "zot,cilium",
            "--mirror-pull-secret",
            "mirror-creds",
            "--mirror-pull-secret",
            "more-creds"
        ])
    );
    // An empty list is passed on as such: serve then excludes only its own and kube-system.
    let docs = documents(
        &render(&parse(&[
            "--mirror",
            "m.example.com",
            "--exclude-namespaces",
            "",
        ]))
        .expect("render"),
    );
    let args = &find(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(args[14], "--exclude-namespaces");
    assert_eq!(args[15], "");
}

#[test]
fn the_memory_limit_is_the_base_plus_every_guest_slot_at_its_cap() {
    for (flags, slots, limit) in [
        (vec![], "2", "320Mi"),
        (vec!["--guest-slots", "4"], "4", "576Mi"),
        (
            vec!["--guest-slots", "3", "--policy-memory-mib", "64"],
            "3",
            "256Mi",
        ),
    ] {
        let mut args = vec!["--mirror", "m.example.com"];
        args.extend(&flags);
        let docs = documents(&render(&parse(&args)).expect("render"));
        let container = &find(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["args"][7], slots, "{flags:?}");
        assert_eq!(
            container["resources"],
            json!({"limits": {"memory": limit}, "requests": {"cpu": "100m", "memory": "64Mi"}}),
            "{flags:?}"
        );
    }
    let error = <Cli as clap::Parser>::try_parse_from([
        "manifests",
        "--mirror",
        "m.example.com",
        "--guest-slots",
        "0",
    ])
    .err()
    .expect("0 slots refused");
    assert!(error.to_string().contains("--guest-slots"), "{error}");
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    manifests: ManifestsArgs,
}

#[test]
fn replicas_survive_drains_and_spread_over_nodes_at_system_priority() {
    let docs = documents(&render(&defaults()).expect("render"));
    assert_eq!(
        find(&docs, "PodDisruptionBudget")["spec"],
        json!({
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "pullthrough"}},
            "unhealthyPodEvictionPolicy": "AlwaysAllow"
        })
    );
    let deployment = find(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(
        pod["topologySpreadConstraints"],
        json!([{
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "pullthrough"}},
            "matchLabelKeys": ["pod-template-hash"],
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway"
        }])
    );
    // 10 s of grace + 25 s of drain + 5 s of margin.
    assert_eq!(pod["terminationGracePeriodSeconds"], 40);
    let docs = documents(
        &render(&parse(&[
            "--mirror",
            "m.example.com",
            "--priority-class-name",
            "",
            "--shutdown-grace-seconds",
            "20",
            "--replicas",
            "3",
        ]))
        .expect("render"),
    );
    let deployment = find(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod.get("priorityClassName"), None);
    assert_eq!(pod["terminationGracePeriodSeconds"], 50);
    assert_eq!(pod["containers"][0]["args"][13], "20");
}

#[test]
fn the_network_policy_opens_admission_to_all_and_metrics_to_monitoring() {
    let docs = documents(&render(&defaults()).expect("render"));
    let policy = find(&docs, "NetworkPolicy");
    assert_eq!(policy["metadata"]["namespace"], "pullthrough");
    assert_eq!(
        policy["spec"],
        json!({
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "pullthrough"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"ports": [{"port": 8443, "protocol": "TCP"}]},
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                 "ports": [{"port": 9090, "protocol": "TCP"}]}
            ]
        })
    );
    let docs = documents(
        &render(&parse(&[
            "--mirror",
            "m.example.com",
            "--metrics-namespace-selector",
            "team=observability,tier=infra",
        ]))
        .expect("render"),
    );
    assert_eq!(
        find(&docs, "NetworkPolicy")["spec"]["ingress"][1]["from"],
        json!([{"namespaceSelector": {"matchLabels": {"team": "observability", "tier": "infra"}}}])
    );
    let error = <Cli as clap::Parser>::try_parse_from([
        "manifests",
        "--mirror",
        "m.example.com",
        "--metrics-namespace-selector",
        "monitoring",
    ])
    .err()
    .expect("a label without = is refused");
    assert!(
        error.to_string().contains(
            "expected KEY=VALUE such as kubernetes.io/metadata.name=monitoring, got \"monitoring\""
        ),
        "{error}"
    );
}

#[test]
fn namespace_option_moves_every_namespaced_object() {
    let docs = documents(
        &render(&parse(&[
            "--mirror",
            "m.example.com",
            "--namespace",
            "infra",
        ]))
        .expect("render"),
    );
    assert_eq!(find(&docs, "Namespace")["metadata"]["name"], "infra");
    for kind in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
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

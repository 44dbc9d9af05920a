//! The install's workload: the Deployment running `serve --register`, its Service, and the
//! PodDisruptionBudget that keeps one replica answering through node drains.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    CONTAINER_PORT, Install, METRICS_PORT, POLICIES_CONFIG_MAP, POLICIES_DIR, POLICIES_FILE_NAME,
    Policy, labels, meta, strings,
};
use crate::k8s::NAME;

/// The longest `serve` spends finishing in-flight reviews after its grace period
/// (`--shutdown-timeout-seconds`, 25).
pub(super) const DRAIN_SECONDS: i64 = 25;
/// Time left between the end of the drain and SIGKILL, so a drain that takes its whole bound
/// still exits on its own.
pub(super) const KILL_MARGIN_SECONDS: i64 = 5;

/// `serve` with the install's settings; `--mirror` stays the fourth argument, where the kustomize
/// base's comment says to patch it (or `--policies`, the file in the ConfigMap's volume).
fn serve_args(install: &Install) -> Vec<String> {
    let (flag, value) = match &install.policy {
        Policy::Mirror(mirror) => ("--mirror", mirror.clone()),
        Policy::File(_) => ("--policies", policies_path()),
    };
    let mut args: Vec<String> = [
        "serve",
        "--register",
        flag,
        value.as_str(),
        "--failure-policy",
        if install.failure_policy == crate::k8s::FailurePolicy::Fail {
            "fail"
        } else {
            "ignore"
        },
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend([
        "--max-concurrency".to_owned(),
        install.guest_slots.to_string(),
        "--policy-memory-mib".to_owned(),
        install.policy_memory_mib.to_string(),
        "--metrics-addr".to_owned(),
        format!("0.0.0.0:{METRICS_PORT}"),
        "--shutdown-grace-seconds".to_owned(),
        install.shutdown_grace_seconds.to_string(),
    ]);
    if let Some(excluded) = &install.exclude_namespaces {
        args.extend(["--exclude-namespaces".to_owned(), excluded.join(",")]);
    }
    for secret in &install.mirror_pull_secrets {
        args.extend(["--mirror-pull-secret".to_owned(), secret.clone()]);
    }
    args
}

fn policies_path() -> String {
    format!("{POLICIES_DIR}/{POLICIES_FILE_NAME}")
}

/// The policies ConfigMap's volume, when the install serves a policies file. Mounted whole (no
/// subPath): the kubelet updates such a volume in place when the ConfigMap changes.
fn policies_volume(install: &Install) -> Option<(Volume, VolumeMount)> {
    matches!(install.policy, Policy::File(_)).then(|| {
        (
            Volume {
                name: "policies".to_owned(),
                config_map: Some(ConfigMapVolumeSource {
                    name: POLICIES_CONFIG_MAP.to_owned(),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            VolumeMount {
                name: "policies".to_owned(),
                mount_path: POLICIES_DIR.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        )
    })
}

fn probe(path: &str, period: i32) -> Option<Probe> {
    Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("https".to_owned()),
            scheme: Some("HTTPS".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    })
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

fn resources(install: &Install) -> ResourceRequirements {
    let mib = |n: u64| Quantity(format!("{n}Mi"));
    ResourceRequirements {
        // The request is what serve holds with idle guests, so the scheduler packs replicas by
        // their steady use; the limit leaves room for every slot's guest at its cap.
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("100m".to_owned())),
            ("memory".to_owned(), mib(u64::from(super::BASE_MEMORY_MIB))),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            mib(install.memory_limit_mib()),
        )])),
        ..ResourceRequirements::default()
    }
}

fn container(install: &Install) -> Container {
    Container {
        name: NAME.to_owned(),
        image: Some(install.image.clone()),
        args: Some(serve_args(install)),
        env: Some(vec![EnvVar {
            name: "PULLTHROUGH_NAMESPACE".to_owned(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.namespace".to_owned(),
                    api_version: None,
                }),
                ..EnvVarSource::default()
            }),
            value: None,
        }]),
        ports: Some(vec![
            port("https", CONTAINER_PORT),
            port("metrics", METRICS_PORT),
        ]),
        liveness_probe: probe("/healthz", 10),
        readiness_probe: probe("/readyz", 5),
        resources: Some(resources(install)),
        volume_mounts: policies_volume(install).map(|(_, mount)| vec![mount]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: strings(&["ALL"]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

fn selector() -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels()),
        match_expressions: None,
    }
}

pub(super) fn deployment(install: &Install) -> Deployment {
    let pod = PodSpec {
        service_account_name: Some(NAME.to_owned()),
        priority_class_name: Some(install.priority_class_name.clone())
            .filter(|name| !name.is_empty()),
        // serve's grace period + its 25 s drain bound + a 5 s margin: on SIGTERM /readyz fails at
        // once while reviews are still answered until endpoints drop the pod, then in-flight
        // reviews finish, all before the kubelet's SIGKILL.
        termination_grace_period_seconds: Some(install.termination_grace_period_seconds()),
        // One replica per node where the nodes allow it, so a node loss leaves the others;
        // pod-template-hash spreads a rollout's new pods too, not only the old ReplicaSet's.
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(selector()),
            match_label_keys: strings(&["pod-template-hash"]),
            ..TopologySpreadConstraint::default()
        }]),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(install)],
        volumes: policies_volume(install).map(|(volume, _)| vec![volume]),
        ..PodSpec::default()
    };
    Deployment {
        metadata: meta(NAME, Some(&install.namespace)),
        spec: DeploymentSpec {
            replicas: Some(install.replicas),
            selector: selector(),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    // The convention Prometheus' kubernetes-pods scrape job reads; a Prometheus
                    // Operator PodMonitor or ServiceMonitor selects the `metrics` port instead.
                    annotations: Some(BTreeMap::from([
                        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
                        ("prometheus.io/port".to_owned(), METRICS_PORT.to_string()),
                        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
                    ])),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

fn service_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

/// The API server calls port 443; `metrics` is there for a ServiceMonitor to select by name.
pub(super) fn service(ns: &str) -> Service {
    Service {
        metadata: meta(NAME, Some(ns)),
        spec: Some(ServiceSpec {
            selector: Some(labels()),
            ports: Some(vec![
                service_port("https", crate::k8s::SERVICE_PORT),
                service_port("metrics", METRICS_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// At most one replica evicted at a time, so a drain never takes the webhook away whole. A
/// replica that is not ready serves nothing, so it may always be evicted
/// (`unhealthyPodEvictionPolicy: AlwaysAllow`): a crash-looping pod must not block a drain.
pub(super) fn disruption_budget(ns: &str) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(NAME, Some(ns)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector()),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_owned()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

//! The install `pullthrough manifests` prints, as YAML: Namespace, ServiceAccount,
//! least-privilege RBAC (`install/rbac.rs`), the Deployment with its Service and
//! PodDisruptionBudget (`install/workload.rs`) and the NetworkPolicy (`install/network.rs`).
//! `deploy/kustomize/base/install.yaml` is this output with the defaults, and the Helm chart in
//! `deploy/helm/pullthrough` renders the same objects (tests keep all three equal).

mod network;
mod rbac;
mod workload;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{FailurePolicy, NAME};

/// The image `scripts/image` builds: the repository named once, in the chart's
/// `image-repository` (which its values default to), tagged with the crate's version.
pub static DEFAULT_IMAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}:{}",
        include_str!("../../../deploy/helm/pullthrough/image-repository").trim(),
        env!("CARGO_PKG_VERSION")
    )
});
/// The ConfigMap holding a policies file (`manifests --policies`), and where the pods mount it:
/// the kubelet updates the volume when the ConfigMap changes, and `serve` hot-swaps.
pub const POLICIES_CONFIG_MAP: &str = "pullthrough-policies";
pub const POLICIES_DIR: &str = "/etc/pullthrough";
pub const POLICIES_FILE_NAME: &str = "policies.yml";
/// The bundled policy inside the image, for a policies file's `module`.
pub const IMAGE_POLICY_MODULE: &str = "/usr/share/pullthrough/policy.wasm";
/// The port the container serves admission on; the Service exposes it as [`super::SERVICE_PORT`].
pub const CONTAINER_PORT: i32 = crate::server::LISTEN_PORT as i32;
/// The port `serve --metrics-addr` serves `/metrics` on (plain HTTP, nothing else).
pub const METRICS_PORT: i32 = 9090;
/// The priority class the webhook's pods run at unless told otherwise: evicted last, scheduled
/// first, like the other components every pod's admission depends on.
pub const DEFAULT_PRIORITY_CLASS: &str = "system-cluster-critical";
/// Where Prometheus usually runs (kube-prometheus and most kube-prometheus-stack installs).
pub const DEFAULT_METRICS_NAMESPACE: &str = "monitoring";
/// Guest calls one replica runs at once (`serve --max-concurrency`).
pub const DEFAULT_GUEST_SLOTS: u32 = 2;
/// Linear-memory cap of one guest (`serve --policy-memory-mib`).
pub const DEFAULT_POLICY_MEMORY_MIB: u32 = 128;
/// Seconds `serve` keeps answering after SIGTERM with `/readyz` failing (`--shutdown-grace-seconds`).
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u32 = 10;
/// What `serve` itself needs besides its guests, in MiB: see [`Install::memory_limit_mib`].
pub const BASE_MEMORY_MIB: u32 = 64;

/// Why the manifests could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not serialise the manifests as YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
}

/// What the install is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// Namespace to install into (created by the output).
    pub namespace: String,
    /// Container image of pullthrough.
    pub image: String,
    /// What the webhook serves.
    pub policy: Policy,
    /// Number of webhook replicas.
    pub replicas: i32,
    /// What the API server does when the webhook fails (`serve --failure-policy`).
    pub failure_policy: FailurePolicy,
    /// Namespaces never rewritten (`serve --exclude-namespaces`); `None` keeps serve's default list.
    pub exclude_namespaces: Option<Vec<String>>,
    /// Pull secrets the mirror needs, passed as `serve --mirror-pull-secret NAME` each.
    pub mirror_pull_secrets: Vec<String>,
    /// Guest calls at once (`serve --max-concurrency`); sizes the memory limit.
    pub guest_slots: u32,
    /// Memory cap of one guest in MiB (`serve --policy-memory-mib`); sizes the memory limit.
    pub policy_memory_mib: u32,
    /// Priority class of the pods; empty for none.
    pub priority_class_name: String,
    /// Labels a namespace must carry for its pods to reach the metrics port.
    pub metrics_namespace_labels: BTreeMap<String, String>,
    /// Seconds of answering after SIGTERM while the endpoint is withdrawn.
    pub shutdown_grace_seconds: u32,
}

/// What the webhook's pods serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// The embedded policy with this mirror (`serve --mirror`).
    Mirror(String),
    /// A policies file's text: shipped in the ConfigMap [`POLICIES_CONFIG_MAP`], read by
    /// `serve --policies` from its volume.
    File(String),
}

impl Install {
    /// The container's memory limit: `BASE_MEMORY_MIB + guest_slots × policy_memory_mib`.
    ///
    /// A guest may grow its linear memory to `policy_memory_mib` and `guest_slots` guests run
    /// at once, so that product is what the guests can hold. The base is `serve` itself with the
    /// bundled policy: 37.5 MiB resident idle, at most 42.7 MiB through a minute of load at 32
    /// connections over both slots (`bench/serve-memory`, BENCHMARKS.md), plus half again for
    /// the connections and allocator slack a busier cluster brings.
    pub fn memory_limit_mib(&self) -> u64 {
        u64::from(BASE_MEMORY_MIB) + u64::from(self.guest_slots) * u64::from(self.policy_memory_mib)
    }

    /// Seconds the kubelet waits between SIGTERM and SIGKILL: the grace period in which `serve`
    /// keeps answering while endpoints drop the pod, then up to `DRAIN_SECONDS` finishing the
    /// reviews in flight, then a margin so the drain is never cut short.
    pub fn termination_grace_period_seconds(&self) -> i64 {
        i64::from(self.shutdown_grace_seconds)
            + workload::DRAIN_SECONDS
            + workload::KILL_MARGIN_SECONDS
    }
}

/// The install as a multi-document YAML string.
pub fn render(install: &Install) -> Result<String, Error> {
    let ns = install.namespace.as_str();
    let mut docs = vec![
        serde_yaml_ng::to_string(&namespace(ns))?,
        serde_yaml_ng::to_string(&service_account(ns))?,
        serde_yaml_ng::to_string(&rbac::cluster_role())?,
        serde_yaml_ng::to_string(&rbac::cluster_role_binding(ns))?,
        serde_yaml_ng::to_string(&rbac::role(ns))?,
        serde_yaml_ng::to_string(&rbac::role_binding(ns))?,
    ];
    if let Policy::File(text) = &install.policy {
        docs.push(serde_yaml_ng::to_string(&policies_config_map(ns, text))?);
    }
    docs.extend([
        serde_yaml_ng::to_string(&workload::deployment(install))?,
        serde_yaml_ng::to_string(&workload::service(ns))?,
        serde_yaml_ng::to_string(&workload::disruption_budget(ns))?,
        serde_yaml_ng::to_string(&network::network_policy(install))?,
    ]);
    Ok(format!(
        "# pullthrough install, generated by `pullthrough manifests`\n---\n{}",
        docs.join("---\n")
    ))
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_owned(), NAME.to_owned())])
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| (*s).to_owned()).collect())
}

fn namespace(ns: &str) -> Namespace {
    Namespace {
        metadata: meta(ns, None),
        ..Namespace::default()
    }
}

fn policies_config_map(ns: &str, text: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(POLICIES_CONFIG_MAP, Some(ns)),
        data: Some(BTreeMap::from([(
            POLICIES_FILE_NAME.to_owned(),
            text.to_owned(),
        )])),
        ..ConfigMap::default()
    }
}

fn service_account(ns: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(NAME, Some(ns)),
        ..ServiceAccount::default()
    }
}

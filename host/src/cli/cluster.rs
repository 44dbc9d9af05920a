//! Flags that say where the webhook lives in the cluster, how it is registered, and how long
//! its generated serving certificate lasts; shared by `cert`, `register` and `serve`.

use clap::ValueEnum;
use clap::builder::PossibleValue;

use super::values;
use crate::certificates;
use crate::k8s::{self, FailurePolicy, NamespaceScope, Registration};

/// `--cert-validity-days`, shared by `cert` and `serve`; each adds what only it means
/// (`cert` its wording and the `--validity-days` alias, `serve` the conflict with `--tls-cert`).
#[derive(Debug, Clone, clap::Args)]
pub struct CertValidityArgs {
    /// Validity of a generated serving certificate, in days (renewed at two thirds).
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = certificates::DEFAULT_SERVING_VALIDITY_DAYS,
        value_parser = values::days,
        env = "PULLTHROUGH_CERT_VALIDITY_DAYS"
    )]
    pub cert_validity_days: u64,
}

impl CertValidityArgs {
    /// The validity as a duration.
    pub fn validity(&self) -> std::time::Duration {
        certificates::days(self.cert_validity_days)
    }
}

/// The Service the API server calls.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Name of the webhook's Service.
    #[arg(
        long = "service",
        value_name = "NAME",
        default_value = k8s::NAME,
        value_parser = values::dns_label,
        env = "PULLTHROUGH_SERVICE"
    )]
    pub service: String,
    /// Namespace pullthrough runs in (its Service, Secret and excluded namespace).
    #[arg(long, value_name = "NAMESPACE", default_value = k8s::NAME, value_parser = values::dns_label, env = "PULLTHROUGH_NAMESPACE")]
    pub namespace: String,
}

/// Names the serving certificate carries besides the Service's; shared by `cert` and `serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SanArgs {
    /// Extra DNS name or IP address for the serving certificate (repeatable, or
    /// comma-separated).
    #[arg(
        long = "extra-san",
        value_name = "NAME",
        value_parser = values::san,
        env = "PULLTHROUGH_EXTRA_SAN",
        value_delimiter = ','
    )]
    pub extra_sans: Vec<String>,
}

impl SanArgs {
    /// Every name the serving certificate must carry: the four in-cluster forms of `service`,
    /// then the extras.
    pub fn names(&self, service: &ServiceArgs) -> Vec<String> {
        let mut names = certificates::service_dns_names(&service.service, &service.namespace);
        for extra in &self.extra_sans {
            if !names.contains(extra) {
                names.push(extra.clone());
            }
        }
        names
    }
}

/// The name of the webhook configuration; shared by `register`, `unregister` and `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookNameArgs {
    /// Name of the MutatingWebhookConfiguration.
    #[arg(
        long,
        value_name = "NAME",
        default_value = k8s::NAME,
        env = "PULLTHROUGH_WEBHOOK_CONFIG"
    )]
    pub webhook_config: String,
}

/// How the webhook is registered; shared by `register` and `serve --register`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    #[command(flatten)]
    pub name: WebhookNameArgs,
    /// Service port the API server calls.
    #[arg(long, value_name = "PORT", default_value_t = k8s::SERVICE_PORT, value_parser = clap::value_parser!(i32).range(1..=65535), env = "PULLTHROUGH_SERVICE_PORT")]
    pub service_port: i32,
    /// Path the API server posts reviews to.
    #[arg(long, value_name = "PATH", default_value = crate::server::MUTATE_PATH, env = "PULLTHROUGH_WEBHOOK_PATH")]
    pub webhook_path: String,
    /// What the API server does when the webhook is unreachable or fails.
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = FailurePolicy::Ignore, env = "PULLTHROUGH_FAILURE_POLICY")]
    pub failure_policy: FailurePolicy,
    /// Seconds the API server waits for an answer (1 to 30).
    #[arg(long, value_name = "SECONDS", default_value_t = k8s::DEFAULT_TIMEOUT_SECONDS, value_parser = clap::value_parser!(i32).range(1..=30), env = "PULLTHROUGH_TIMEOUT_SECONDS")]
    pub timeout_seconds: i32,
    /// Only these namespaces (comma-separated); default all. Our own namespace and kube-system
    /// are always excluded.
    #[arg(
        long = "only-namespaces",
        value_name = "NAMESPACE",
        value_delimiter = ',',
        value_parser = values::dns_label,
        env = "PULLTHROUGH_ONLY_NAMESPACES"
    )]
    pub only_namespaces: Vec<String>,
    /// Namespaces never rewritten (comma-separated), replacing the default list of
    /// infrastructure namespaces that must start before the mirror can (docs/operations.md). Our
    /// own namespace and kube-system are always excluded; `--exclude-namespaces ''` excludes
    /// only those.
    #[arg(
        long = "exclude-namespaces",
        value_name = "NAMESPACE",
        value_delimiter = ',',
        default_value = DEFAULT_EXCLUDED,
        env = "PULLTHROUGH_EXCLUDE_NAMESPACES"
    )]
    pub exclude_namespaces: Vec<String>,
    /// Image prefixes the policy leaves alone (comma-separated, e.g. `mirror.example.com/`):
    /// objects whose every image starts with one are never sent to the webhook. `serve` adds
    /// the embedded policy's mirror and rule targets itself.
    #[arg(
        long = "skip-image-prefixes",
        value_name = "PREFIX",
        value_delimiter = ',',
        env = "PULLTHROUGH_SKIP_IMAGE_PREFIXES"
    )]
    pub skip_image_prefixes: Vec<String>,
}

/// [`k8s::DEFAULT_EXCLUDED_NAMESPACES`] as one flag value.
const DEFAULT_EXCLUDED: &str = "kube-system,kube-public,kube-node-lease,calico-system,\
calico-apiserver,tigera-operator,cilium,kube-flannel,longhorn-system,rook-ceph,openebs,\
ingress-nginx,cert-manager,zot,registry";

impl WebhookArgs {
    /// The registration these flags and the Service describe.
    pub fn registration(&self, service: &ServiceArgs) -> Registration {
        Registration {
            name: self.name.webhook_config.clone(),
            service: service.service.clone(),
            namespace: service.namespace.clone(),
            port: self.service_port,
            path: self.webhook_path.clone(),
            failure_policy: self.failure_policy,
            timeout_seconds: self.timeout_seconds,
            scope: if self.only_namespaces.is_empty() {
                NamespaceScope::All
            } else {
                NamespaceScope::Only(self.only_namespaces.clone())
            },
            excluded_namespaces: self
                .exclude_namespaces
                .iter()
                .filter(|ns| !ns.is_empty())
                .cloned()
                .collect(),
            skip_image_prefixes: self
                .skip_image_prefixes
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect(),
            ..Registration::default()
        }
    }
}

// The library's enum, given its flag values here so clap stays in the command layer.
impl ValueEnum for FailurePolicy {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Ignore, Self::Fail]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Self::Ignore => PossibleValue::new("ignore")
                .help("Admit the object unchanged: a broken mirror never stops a deployment"),
            Self::Fail => PossibleValue::new("fail").help("Refuse the object"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_default_is_the_documented_list() {
        assert_eq!(
            DEFAULT_EXCLUDED.split(',').collect::<Vec<_>>(),
            k8s::DEFAULT_EXCLUDED_NAMESPACES
        );
    }
}

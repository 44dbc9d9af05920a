//! kube and k8s-openapi: everything pullthrough says to the Kubernetes API server — the
//! MutatingWebhookConfiguration it registers and the Secret its replicas share the certificate in
//! — and the objects of its install. No other module names a kube or k8s-openapi type.

pub mod admission_policy;
pub mod install;
mod scan;
mod secret;
mod webhook;

pub use scan::{ListError, SCAN_FIELD_MANAGER};
pub use secret::{SharedMaterial, secret_for};
pub use webhook::{
    DEFAULT_EXCLUDED_NAMESPACES, FailurePolicy, NamespaceScope, Registration, SHARED_NAMESPACES,
    VERSION_ANNOTATION, match_conditions, webhook_configuration,
};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use crate::certificates::Material;

pub use crate::NAME;

/// The Secret replicas share the generated certificate through.
pub const SECRET_NAME: &str = "pullthrough-tls";

/// The one field manager pullthrough applies with, so its fields never fight another owner's.
pub const FIELD_MANAGER: &str = NAME;

/// The Service port the API server calls.
pub const SERVICE_PORT: i32 = 443;

/// Seconds the API server waits for the webhook's answer: the 2 s policy deadline plus room to
/// answer. The server reads the API server's `?timeout=` and always answers before it, so this
/// bounds only a webhook that cannot answer at all (a hung process, a dropped connection).
pub const DEFAULT_TIMEOUT_SECONDS: i32 = 3;

/// Why a call to the API server failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no Kubernetes cluster configuration found (no kubeconfig, not running in a pod)")]
    NoCluster(#[source] Box<kube::config::InferConfigError>),
    #[error("could not build a Kubernetes client from the cluster configuration")]
    Client(#[source] Box<kube::Error>),
    #[error(
        "MutatingWebhookConfiguration {name:?} was changed by another field manager and pullthrough \
         leaves that change alone: {message}; to hand the fields back, delete them from that \
         manager or re-register with `pullthrough register --force-conflicts`"
    )]
    Conflict { name: String, message: String },
    #[error("could not apply MutatingWebhookConfiguration {name:?}")]
    Apply {
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("could not delete MutatingWebhookConfiguration {name:?}")]
    Delete {
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("could not {verb} Secret {namespace}/{name}")]
    Secret {
        verb: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("Secret {name} does not hold ca.crt, ca.key, tls.crt and tls.key as PEM")]
    IncompleteSecret { name: String },
    #[error("could not generate certificate material for the Secret")]
    Certs(#[from] crate::certificates::Error),
    #[error("could not serialise the configuration as YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A client for the cluster we run in or the current kubeconfig context, or
/// [`Error::NoCluster`] when there is neither.
pub async fn client() -> Result<Client> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| Error::NoCluster(Box::new(e)))?;
    Client::try_from(config).map_err(|e| Error::Client(Box::new(e)))
}

/// What registering the webhook configuration by server-side apply ([`apply`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Written: the configuration is as this pullthrough builds it.
    Written,
    /// A newer pullthrough wrote the configuration (a rolling update in progress): left alone.
    LeftToNewer { version: String },
}

// The one wording of the outcome, for `serve`'s log, the renewal loop's and `register`'s output.
impl std::fmt::Display for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Written => f.write_str("registered the MutatingWebhookConfiguration"),
            Self::LeftToNewer { version } => write!(
                f,
                "a newer pullthrough wrote the MutatingWebhookConfiguration; leaving it as it is \
                 (pullthrough {version})"
            ),
        }
    }
}

/// Whether conflicts with another field manager are overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conflicts {
    /// Report them ([`Error::Conflict`]); what another manager set stays.
    #[default]
    Report,
    /// Take the fields back (`register --force-conflicts`).
    Force,
}

/// Creates or updates the webhook configuration by server-side apply as [`FIELD_MANAGER`]: the
/// fields pullthrough sets are its own, and a field an operator changed with another manager
/// (an emergency `kubectl patch`) is reported as a conflict, not reverted. A configuration
/// written by a newer pullthrough is left alone, so two versions in a rolling update do not
/// take turns rewriting it.
pub async fn apply(
    client: &Client,
    config: &MutatingWebhookConfiguration,
    conflicts: Conflicts,
) -> Result<Registered> {
    let name = config.metadata.name.clone().unwrap_or_default();
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let failed = |source: kube::Error| Error::Apply {
        name: name.clone(),
        source: Box::new(source),
    };
    let existing = api.get_opt(&name).await.map_err(failed)?;
    let written_by = existing
        .as_ref()
        .and_then(|c| c.metadata.annotations.as_ref())
        .and_then(|a| a.get(VERSION_ANNOTATION));
    if let Some(version) = written_by
        && is_newer(version, env!("CARGO_PKG_VERSION"))
    {
        return Ok(Registered::LeftToNewer {
            version: version.clone(),
        });
    }
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if conflicts == Conflicts::Force {
        params = params.force();
    }
    match api.patch(&name, &params, &Patch::Apply(config)).await {
        Ok(_) => Ok(Registered::Written),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::Conflict {
            name: name.clone(),
            message: status.message.clone(),
        }),
        Err(source) => Err(failed(source)),
    }
}

/// True when version `a` is newer than `b` (`major.minor.patch`, numeric; a pre-release or a
/// part that is not a number compares as 0, so an unreadable version never wins).
fn is_newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a) > parts(b)
}

/// The webhook configuration for `registration` with `ca_pem` as its bundle, as YAML: what
/// `register --dry-run` and `serve` without a cluster print.
pub fn webhook_yaml(registration: &Registration, ca_pem: &[u8]) -> Result<String> {
    Ok(serde_yaml_ng::to_string(&webhook_configuration(
        registration,
        ca_pem,
    ))?)
}

/// The cluster pullthrough talks to. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Cluster {
    /// The cluster we run in or the current kubeconfig context; see [`client`].
    pub async fn connect() -> Result<Self> {
        Ok(Self {
            client: client().await?,
        })
    }

    /// Applies the webhook configuration for `registration` with `ca_pem` as its bundle.
    pub async fn register(
        &self,
        registration: &Registration,
        ca_pem: &[u8],
        conflicts: Conflicts,
    ) -> Result<Registered> {
        apply(
            &self.client,
            &webhook_configuration(registration, ca_pem),
            conflicts,
        )
        .await
    }

    /// Deletes the webhook configuration `name`; `Ok(false)` when it was not there.
    pub async fn unregister(&self, name: &str) -> Result<bool> {
        unregister(&self.client, name).await
    }

    /// The certificate material every replica serves; see [`SharedMaterial::ensure`].
    pub async fn shared_material(&self, shared: &SharedMaterial) -> Result<Material> {
        shared.ensure(&self.client).await
    }
}

/// Deletes the webhook configuration. `Ok(false)` when it was not there.
pub async fn unregister(client: &Client, name: &str) -> Result<bool> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(false),
        Err(source) => Err(Error::Delete {
            name: name.to_owned(),
            source: Box::new(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_EXCLUDED_NAMESPACES, Registration, is_newer};

    #[test]
    fn versions_compare_numerically() {
        assert!(is_newer("0.10.0", "0.9.3"));
        assert!(is_newer("1.0.0", "0.99.99"));
        assert!(!is_newer("0.9.3", "0.9.3"));
        assert!(!is_newer("0.9.2", "0.9.3"));
        assert!(!is_newer("garbage", "0.1.0"));
        assert!(!is_newer("0.9.3-rc.1", "0.9.3"));
    }

    #[test]
    fn a_shared_namespace_of_our_own_is_warned_about_unless_excluded_anyway() {
        let warning = |namespace: &str, excluded: &[&str]| {
            Registration {
                namespace: namespace.to_owned(),
                excluded_namespaces: excluded.iter().map(|ns| (*ns).to_owned()).collect(),
                ..Registration::default()
            }
            .shared_namespace_warning()
        };
        assert_eq!(
            warning("default", DEFAULT_EXCLUDED_NAMESPACES).as_deref(),
            Some(
                "pods in namespace default are never rewritten: it is pullthrough's own \
                 (--namespace default), which the webhook always excludes; run pullthrough in a \
                 namespace of its own, e.g. --namespace pullthrough"
            )
        );
        assert!(warning("kube-public", &[]).is_some());
        assert_eq!(warning("pullthrough", DEFAULT_EXCLUDED_NAMESPACES), None);
        assert_eq!(warning("kube-public", DEFAULT_EXCLUDED_NAMESPACES), None);
        assert_eq!(warning("kube-system", &[]), None);
        assert_eq!(warning("default", &["default"]), None);
    }
}

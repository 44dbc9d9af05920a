//! kube and k8s-openapi: everything pullthrough says to the Kubernetes API server — the
//! MutatingWebhookConfiguration it registers and the Secret its replicas share the certificate in
//! — and the objects of its install. No other module names a kube or k8s-openapi type.

pub mod install;
mod scan;
mod secret;
mod webhook;

pub use scan::{ListError, SCAN_FIELD_MANAGER};
pub use secret::{SharedMaterial, secret_for};
pub use webhook::{FailurePolicy, NamespaceScope, Registration, webhook_configuration};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use crate::certificates::Material;

/// Names shared by the Namespace, Service, ServiceAccount, Secret labels, webhook configuration
/// and RBAC objects.
pub const NAME: &str = "pullthrough";

/// The Secret replicas share the generated certificate through.
pub const SECRET_NAME: &str = "pullthrough-tls";

/// The one field manager pullthrough applies with, so its fields never fight another owner's.
pub const FIELD_MANAGER: &str = NAME;

/// The Service port the API server calls.
pub const SERVICE_PORT: i32 = 443;

/// Seconds the API server waits for the webhook's answer.
pub const DEFAULT_TIMEOUT_SECONDS: i32 = 10;

/// Why a call to the API server failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no Kubernetes cluster configuration found (no kubeconfig, not running in a pod)")]
    NoCluster(#[source] Box<kube::config::InferConfigError>),
    #[error("could not build a Kubernetes client from the cluster configuration")]
    Client(#[source] Box<kube::Error>),
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

/// Creates or updates the webhook configuration by server-side apply, owning every field it sets.
pub async fn apply(
    client: &Client,
    config: &MutatingWebhookConfiguration,
) -> Result<MutatingWebhookConfiguration> {
    let name = config.metadata.name.clone().unwrap_or_default();
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    // force: a field another manager took (an operator's kubectl edit) comes back to us; the
    // webhook's CA bundle and exclusions must be ours or the cluster can lock itself out.
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(config))
        .await
        .map_err(|source| Error::Apply {
            name,
            source: Box::new(source),
        })
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
    pub async fn register(&self, registration: &Registration, ca_pem: &[u8]) -> Result<()> {
        apply(&self.client, &webhook_configuration(registration, ca_pem)).await?;
        Ok(())
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

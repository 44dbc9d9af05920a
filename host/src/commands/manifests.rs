//! `pullthrough manifests`: prints a complete install (Namespace, ServiceAccount, RBAC,
//! Deployment, Service) as YAML.

pub use crate::k8s::install::DEFAULT_IMAGE;
use crate::k8s::install::{self, Error, Install};

/// Flags of `pullthrough manifests`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestsArgs {
    /// Namespace to install into (created by the output).
    #[arg(long, default_value = crate::k8s::NAME, env = "PULLTHROUGH_NAMESPACE")]
    pub namespace: String,
    /// Container image of pullthrough.
    #[arg(long, default_value = DEFAULT_IMAGE, env = "PULLTHROUGH_IMAGE")]
    pub image: String,
    /// Registry host (and optional path prefix) of the pull-through cache images are rewritten to.
    #[arg(long, env = "PULLTHROUGH_MIRROR")]
    pub mirror: String,
    /// Number of webhook replicas; they share one generated CA through a Secret.
    #[arg(long, default_value_t = 2, env = "PULLTHROUGH_REPLICAS")]
    pub replicas: i32,
}

impl ManifestsArgs {
    /// The install these flags describe.
    pub fn install(&self) -> Install {
        Install {
            namespace: self.namespace.clone(),
            image: self.image.clone(),
            mirror: self.mirror.clone(),
            replicas: self.replicas,
        }
    }
}

/// The install as a multi-document YAML string.
pub fn render(args: &ManifestsArgs) -> Result<String, Error> {
    install::render(&args.install())
}

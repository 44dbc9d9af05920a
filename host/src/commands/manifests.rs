//! `pullthrough manifests`: prints a complete install (Namespace, ServiceAccount, RBAC,
//! Deployment, Service) as YAML.

pub use crate::k8s::install::{CONTAINER_PORT, DEFAULT_IMAGE, Error, NAME, SECRET_NAME, render};

/// Flags of `pullthrough manifests`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestsArgs {
    /// Namespace to install into (created by the output).
    #[arg(long, default_value = "pullthrough", env = "PULLTHROUGH_NAMESPACE")]
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

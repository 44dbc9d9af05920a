//! `pullthrough register` and `pullthrough unregister`: the webhook configuration, applied to
//! (or deleted from) the current cluster, or printed with `--dry-run`.

use std::path::PathBuf;

use crate::certificates;
use crate::cli::{ServiceArgs, WebhookArgs, WebhookNameArgs, values};
use crate::k8s::{self, Cluster};

/// Flags of `pullthrough register`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub webhook: WebhookArgs,
    /// PEM file of the CA that signed the serving certificate (e.g. ca.crt from `pullthrough cert`).
    #[arg(long, value_name = "FILE", env = "PULLTHROUGH_CA_FILE")]
    pub ca_file: PathBuf,
    /// Print the configuration as YAML instead of applying it.
    #[arg(long, value_parser = values::boolish(), env = "PULLTHROUGH_DRY_RUN")]
    pub dry_run: bool,
    /// Take back fields another field manager changed (an operator's emergency edit); without
    /// it such a conflict is reported and nothing is changed.
    #[arg(long, value_parser = crate::cli::values::boolish(), env = "PULLTHROUGH_FORCE_CONFLICTS")]
    pub force_conflicts: bool,
}

/// Flags of `pullthrough unregister`.
#[derive(Debug, Clone, clap::Args)]
pub struct UnregisterArgs {
    /// The MutatingWebhookConfiguration to delete.
    #[command(flatten)]
    pub name: WebhookNameArgs,
}

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read the CA file {path}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NotPem { path: PathBuf },
    #[error("--ca-file {path} cannot be the webhook's caBundle")]
    NotCa {
        path: PathBuf,
        #[source]
        source: certificates::Error,
    },
    #[error(transparent)]
    K8s(#[from] k8s::Error),
}

/// Applies (or prints) the configuration. Returns what was printed or a one-line summary.
pub async fn register(args: &RegisterArgs) -> Result<String, Error> {
    let ca = std::fs::read(&args.ca_file).map_err(|source| Error::CaFile {
        path: args.ca_file.clone(),
        source,
    })?;
    if !ca.starts_with(b"-----BEGIN CERTIFICATE-----") {
        return Err(Error::NotPem {
            path: args.ca_file.clone(),
        });
    }
    // The API server trusts only the bundle: a serving certificate there (not its CA) fails
    // every call once the certificate is renewed, or at once when it is not self-signed.
    certificates::check_ca_bundle(&String::from_utf8_lossy(&ca)).map_err(|source| {
        Error::NotCa {
            path: args.ca_file.clone(),
            source,
        }
    })?;
    let registration = args.webhook.registration(&args.service);
    if let Some(warning) = registration.shared_namespace_warning() {
        tracing::warn!("{warning}");
    }
    if args.dry_run {
        return Ok(k8s::webhook_yaml(&registration, &ca)?);
    }
    let conflicts = if args.force_conflicts {
        k8s::Conflicts::Force
    } else {
        k8s::Conflicts::Report
    };
    let registered = Cluster::connect()
        .await?
        .register(&registration, &ca, conflicts)
        .await?;
    Ok(format!("{registered}: {}", registration.name))
}

pub async fn unregister(args: &UnregisterArgs) -> Result<String, Error> {
    let name = &args.name.webhook_config;
    Ok(if Cluster::connect().await?.unregister(name).await? {
        format!("deleted MutatingWebhookConfiguration {name}")
    } else {
        format!("MutatingWebhookConfiguration {name} was not registered")
    })
}

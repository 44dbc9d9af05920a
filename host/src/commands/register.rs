//! `pullthrough register` and `pullthrough unregister`: the webhook configuration, applied to
//! (or deleted from) the current cluster, or printed with `--dry-run`.

use std::path::PathBuf;

use crate::cli::{ServiceArgs, WebhookArgs};
use crate::k8s;

/// Flags of `pullthrough register`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub webhook: WebhookArgs,
    /// PEM file of the CA that signed the serving certificate (e.g. ca.crt from `pullthrough cert`).
    #[arg(long, env = "PULLTHROUGH_CA_FILE")]
    pub ca_file: PathBuf,
    /// Print the configuration as YAML instead of applying it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags of `pullthrough unregister`.
#[derive(Debug, Clone, clap::Args)]
pub struct UnregisterArgs {
    /// Name of the MutatingWebhookConfiguration to delete.
    #[arg(
        long,
        default_value = "pullthrough",
        env = "PULLTHROUGH_WEBHOOK_CONFIG"
    )]
    pub webhook_config: String,
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
    #[error(transparent)]
    K8s(#[from] k8s::Error),
    #[error("could not serialise the configuration as YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
}

/// The configuration as YAML, as `--dry-run` and `serve` without a cluster print it.
pub fn to_yaml(
    config: &k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
) -> Result<String, Error> {
    Ok(serde_yaml_ng::to_string(config)?)
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
    let config = k8s::webhook_configuration(&args.webhook.registration(&args.service), &ca);
    if args.dry_run {
        return to_yaml(&config);
    }
    let client = k8s::client().await?;
    k8s::apply(&client, &config).await?;
    Ok(format!(
        "applied MutatingWebhookConfiguration {}",
        args.webhook.webhook_config
    ))
}

pub async fn unregister(args: &UnregisterArgs) -> Result<String, Error> {
    let client = k8s::client().await?;
    Ok(if k8s::unregister(&client, &args.webhook_config).await? {
        format!(
            "deleted MutatingWebhookConfiguration {}",
            args.webhook_config
        )
    } else {
        format!(
            "MutatingWebhookConfiguration {} was not registered",
            args.webhook_config
        )
    })
}

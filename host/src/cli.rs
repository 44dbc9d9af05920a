//! Command-line interface: the `Cli`, its `Command` enum, and the flag groups several commands
//! share (logging here, the cluster and policy groups in `cli/`). Each command's own flags live in
//! its file under `commands/`.

mod cluster;
mod fetch;
mod policy;
mod settings;
pub mod values;

pub use cluster::{SanArgs, ServiceArgs, WebhookArgs, WebhookNameArgs};
pub use fetch::FetchArgs;
pub use policy::{ArgsError, PolicyArgs, PullSecretArgs, embedded_settings};
pub use settings::{SettingsArgsError, read_settings};

use clap::builder::PossibleValue;
use clap::{Parser, Subcommand, ValueEnum};

use crate::telemetry::LogFormat;

/// Makes a Kubernetes cluster pull its images through a pull-through cache, by rewriting image
/// references at admission time with a Kubewarden waPC policy run in-process.
#[derive(Debug, Parser)]
#[command(name = "pullthrough", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate one AdmissionReview against a policy module offline and print the response
    /// (the same output shape as `kwctl run`).
    Run(crate::commands::run::RunArgs),
    /// Serve the admission webhook over HTTPS (generates its certificate unless given one).
    Serve(Box<crate::commands::serve::ServeArgs>),
    /// Generate a CA and a serving certificate for the webhook Service.
    Cert(crate::commands::cert::CertArgs),
    /// Create or update the MutatingWebhookConfiguration in the current cluster.
    Register(crate::commands::register::RegisterArgs),
    /// Delete the MutatingWebhookConfiguration from the current cluster.
    Unregister(crate::commands::register::UnregisterArgs),
    /// Print a complete install (Namespace, ServiceAccount, RBAC, with --policies a ConfigMap,
    /// Deployment, Service, PodDisruptionBudget, NetworkPolicy) as YAML.
    Manifests(crate::commands::manifests::ManifestsArgs),
    /// Find the workloads whose images do not go through the mirror (admitted while the
    /// webhook was down), with the policy the webhook runs; `--apply` patches them.
    Scan(Box<crate::commands::scan::ScanArgs>),
}

/// Logging flags shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, global = true, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text, env = "PULLTHROUGH_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax, e.g. `info` or `debug,pullthrough=trace`
    /// [default: info; warn for scan, whose report is its output].
    #[arg(long, global = true, value_name = "FILTER", env = "PULLTHROUGH_LOG")]
    pub log: Option<String>,
}

impl LogArgs {
    /// The filter `command` logs with: `--log` if given, else `info`, or `warn` for `scan`
    /// (a one-shot command whose start-up lines would only bury its report).
    pub fn filter(&self, command: &Command) -> &str {
        match (&self.log, command) {
            (Some(filter), _) => filter,
            (None, Command::Scan(_)) => "warn",
            (None, _) => "info",
        }
    }
}

// The library's enum, given its flag values here so clap stays in the command layer.
impl ValueEnum for LogFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Text, Self::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Self::Text => PossibleValue::new("text").help("Human-readable lines"),
            Self::Json => {
                PossibleValue::new("json").help("One JSON object per line, for log collectors")
            }
        })
    }
}

#[cfg(test)]
mod tests;

//! The flag groups several commands share (logging here, the cluster, policy, fetch and settings
//! groups in `cli/`) and the value parsers they all use. The `Cli` that composes the commands is
//! in `commands.rs`; each command's own flags live in its file under `commands/`.

mod cluster;
mod fetch;
mod policy;
mod settings;
pub mod values;

pub use cluster::{CertValidityArgs, SanArgs, ServiceArgs, WebhookArgs, WebhookNameArgs};
pub use fetch::FetchArgs;
pub use policy::{ArgsError, PolicyArgs, PullSecretArgs, embedded_settings};
pub use settings::{SettingsArgsError, read_settings};

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::telemetry::LogFormat;

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

//! The named-policy registry the admission server evaluates requests against: the policies file
//! (or the embedded mirror policy), hot swap of modules and of the file, and SIGHUP reloads.
//!
//! Each policy's active version is an `Arc<LoadedPolicy>` in a table that is replaced whole on
//! every reload: an evaluation clones the `Arc` and finishes on the version it started with, and
//! a new version only becomes visible once it compiled and validated its settings off the request
//! path.

mod change;
mod config;
mod diff;
mod error;
mod fetch;
mod protocol;
mod registry;
mod reload;
mod verdict;

use std::path::PathBuf;
use std::time::SystemTime;

use serde_json::Value;

use crate::admission::AdmissionResponse;

pub use config::ConfigError;
pub(crate) use config::{mirrors_of, parse as parse_file};
pub use error::{EvaluationError, PolicyError};
pub use fetch::{FetchConfig, FetchError, default_store_dir};
pub(crate) use fetch::{Fetcher, Remote};
pub(crate) use protocol::LoadedPolicy;
pub use registry::PolicyRegistry;
pub use reload::Reloader;

/// The `policy.wasm` built from `policy/`, embedded at build time (see `host/build.rs`).
pub static EMBEDDED_POLICY_WASM: &[u8] = include_bytes!(env!("PULLTHROUGH_EMBEDDED_POLICY_WASM"));

/// The name the embedded policy is served under when no policies file is given.
pub const EMBEDDED_POLICY_NAME: &str = "pullthrough";

/// Where the policies come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySource {
    /// The embedded `policy.wasm` as policy `pullthrough`, with these settings (for example
    /// `{"mirror": "registry-mirror.example.com"}`), allowed to mutate.
    Embedded {
        /// Settings passed to `validate_settings` and to every `validate`.
        settings: Value,
    },
    /// A policies file (see [`config`]); its first entry is the default policy.
    File(PathBuf),
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// What to send back to the API server.
    pub response: AdmissionResponse,
    /// How many patch operations replace a container `image` (0 when there is no patch).
    pub images_rewritten: usize,
}

impl Evaluation {
    fn unchanged(response: AdmissionResponse) -> Self {
        Self {
            response,
            images_rewritten: 0,
        }
    }
}

/// The active version of one policy and its reload history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatus {
    /// Policy name.
    pub name: String,
    /// Module file, `None` for the embedded module and a fetched one.
    pub module_path: Option<PathBuf>,
    /// Hex sha256 of the active module, `None` if no version loaded.
    pub module_sha256: Option<String>,
    /// When the active version was loaded.
    pub loaded_at: Option<SystemTime>,
    /// Versions swapped in after the first load.
    pub reloads_ok: u64,
    /// Versions rejected (compile or settings failure); the previous version kept serving.
    pub reloads_rejected: u64,
    /// The last rejection's reason.
    pub last_error: Option<String>,
}

/// What one reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Policies whose new version was swapped in (or that appeared).
    pub swapped: Vec<String>,
    /// Policies whose new version was rejected, with the reason; their old version keeps serving.
    pub rejected: Vec<(String, String)>,
    /// Set when the policies file itself could not be read or parsed; nothing changed.
    pub config_error: Option<String>,
    /// What changed in each swapped policy, as its log line says (`settings (mirror)`, `module`,
    /// `first version`, …), in the order the file lists them.
    pub changes: Vec<(String, String)>,
    /// The default policy (`POST /mutate`) before and after, when the file's first entry changed.
    pub default_changed: Option<(String, String)>,
}

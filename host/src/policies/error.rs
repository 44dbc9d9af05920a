//! The registry's error types: per-request evaluation failures and load failures.

use std::path::PathBuf;

use crate::wasm::{CallError, HitDeadline, LoadError};

use super::config::ConfigError;

/// Why a request could not be evaluated. Each variant concerns that request only; the server
/// turns it into a fail-open or fail-closed answer.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// No policy of that name is configured.
    #[error("no policy named {0:?}")]
    UnknownPolicy(String),
    /// The policy is configured but no version of it loaded successfully yet.
    #[error("policy {0:?} is not loaded")]
    NotLoaded(String),
    /// The guest call failed: deadline, memory cap, trap, guest error, or a host-side failure.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The guest's answer is not a Kubewarden ValidationResponse.
    #[error("policy answered something that is not a ValidationResponse")]
    InvalidResponse(#[source] serde_json::Error),
    /// The request's object could not be read again for the patch (it was read once already,
    /// within the depth limit, so this is a bug).
    #[error("the request's object could not be read to compute the patch")]
    UnreadableObject(#[source] serde_json::Error),
}

impl EvaluationError {
    /// Every label [`EvaluationError::kind`] gives a counted failure (an unknown policy is a 404,
    /// not an evaluation).
    pub const KINDS: &'static [&'static str] = &[
        "not_loaded",
        "timeout",
        "memory_limit",
        "trap",
        "guest_error",
        "internal",
        "invalid_response",
    ];

    /// A low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownPolicy(_) => "unknown_policy",
            Self::NotLoaded(_) => "not_loaded",
            Self::Call(error) => error.kind(),
            Self::InvalidResponse(_) => "invalid_response",
            Self::UnreadableObject(_) => "internal",
        }
    }
}

impl HitDeadline for EvaluationError {
    fn hit_deadline(&self) -> bool {
        matches!(self, Self::Call(error) if error.hit_deadline())
    }
}

/// Why a policy (or the policies file) could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policies file cannot be read.
    #[error("cannot read policies file {path}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policies file is not valid.
    #[error("policies file {path}")]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        #[source]
        source: ConfigError,
    },
    /// A module file cannot be read.
    #[error("policy {policy:?}: cannot read module {path}")]
    ReadModule {
        /// The policy.
        policy: String,
        /// The module file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A remote module could not be fetched.
    #[error("policy {policy:?}: cannot fetch module {module}")]
    Fetch {
        /// The policy.
        policy: String,
        /// The module as the policies file names it.
        module: String,
        /// Why.
        #[source]
        source: super::FetchError,
    },
    /// The sources or Docker config file of module fetches is unusable.
    #[error(transparent)]
    FetchSettings(super::FetchError),
    /// The module does not compile or is not a waPC module.
    #[error("policy {policy:?} does not load")]
    Load {
        /// The policy.
        policy: String,
        /// Why.
        #[source]
        source: LoadError,
    },
    /// A load-time guest call failed.
    #[error("policy {policy:?}: `{operation}` failed")]
    Call {
        /// The policy.
        policy: String,
        /// `protocol_version` or `validate_settings`.
        operation: &'static str,
        /// Why.
        #[source]
        source: CallError,
    },
    /// `protocol_version` did not answer `"v1"`.
    #[error("policy {policy:?}: unsupported protocol version {answer:?}, expected \"v1\"")]
    Protocol {
        /// The policy.
        policy: String,
        /// What the guest answered.
        answer: String,
    },
    /// A load-time answer could not be parsed.
    #[error("policy {policy:?}: `{operation}` answered invalid JSON")]
    BadAnswer {
        /// The policy.
        policy: String,
        /// The operation.
        operation: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// `validate_settings` refused the settings.
    #[error("policy {policy:?} refused its settings: {message}")]
    InvalidSettings {
        /// The policy.
        policy: String,
        /// The guest's message.
        message: String,
    },
    /// The mirror check cannot start (bad CA file, no trust anchors).
    #[error("policy {policy}: mirror check")]
    MirrorCheck {
        /// The policy.
        policy: String,
        /// Why.
        #[source]
        source: crate::mirror_check::Error,
    },
    /// A mirror check of several URLs for settings that do not list as many mirrors.
    #[error(
        "policy {policy}: the mirror check has {urls} URLs but settings.mirrors lists {mirrors} \
         mirrors: give one URL per mirror, in the same order"
    )]
    MirrorCount {
        /// The policy.
        policy: String,
        /// URLs checked.
        urls: usize,
        /// Mirrors in the settings.
        mirrors: usize,
    },
    /// The file watcher or the SIGHUP handler could not be set up.
    #[error("cannot watch for policy changes")]
    Watch(#[source] std::io::Error),
}

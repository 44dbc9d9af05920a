//! `pullthrough run`: offline evaluation of one request against any waPC policy module, printing
//! the AdmissionResponse in the shape `kwctl run` prints.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::admission::{AdmissionError, AdmissionRequest, AdmissionResponse};
use crate::cli::{SettingsArgsError, values};
use crate::policies::{EvaluationError, LoadedPolicy, PolicyError};
use crate::wasm::{LoadError, Runtime, RuntimeConfig};

/// Flags of `pullthrough run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// AdmissionReview or bare AdmissionRequest JSON file; `-` reads standard input.
    #[arg(
        long,
        short = 'r',
        value_name = "FILE",
        env = "PULLTHROUGH_REQUEST_PATH"
    )]
    pub request_path: PathBuf,
    /// Policy settings as inline JSON, e.g. `{"mirror": "registry-mirror.example.com"}`.
    #[arg(
        long,
        value_name = "JSON",
        env = "PULLTHROUGH_SETTINGS_JSON",
        conflicts_with = "settings_path"
    )]
    pub settings_json: Option<String>,
    /// Policy settings file, YAML or JSON.
    #[arg(long, value_name = "FILE", env = "PULLTHROUGH_SETTINGS_PATH")]
    pub settings_path: Option<PathBuf>,
    /// Wall-clock budget of the evaluation, in milliseconds.
    #[arg(
        long,
        alias = "timeout-ms",
        value_name = "MS",
        default_value_t = 2000,
        value_parser = values::positive,
        env = "PULLTHROUGH_POLICY_TIMEOUT_MS"
    )]
    pub policy_timeout_ms: u64,
    /// Cache compiled modules here (keyed by module sha256 and wasmtime build), so later runs skip
    /// compilation. Only pullthrough may write there: cached machine code is run as is.
    #[arg(long, value_name = "DIR", env = "PULLTHROUGH_MODULE_CACHE_DIR")]
    pub module_cache_dir: Option<PathBuf>,
    /// The policy module: a path, optionally prefixed with `file://`.
    #[arg(value_name = "MODULE")]
    pub module: String,
}

/// Why `pullthrough run` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request file (or stdin) cannot be read.
    #[error("cannot read request {path}")]
    ReadRequest {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The request is not JSON.
    #[error("request {path} is not JSON")]
    ParseRequest {
        /// The path given.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is not an AdmissionReview or AdmissionRequest.
    #[error("request {path} is not an AdmissionReview or AdmissionRequest")]
    NotARequest {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: AdmissionError,
    },
    /// `--settings-json` or `--settings-path` gives no settings mapping.
    #[error(transparent)]
    Settings(#[from] SettingsArgsError),
    /// The module file cannot be read.
    #[error("cannot read module {path}")]
    ReadModule {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The engine could not start.
    #[error(transparent)]
    Engine(LoadError),
    /// The module is not a valid waPC policy, or refused the settings.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The evaluation failed.
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
}

/// Evaluates the request and returns the response `kwctl run` would print.
pub fn run(args: &RunArgs) -> Result<AdmissionResponse, RunError> {
    let request = read_request(&args.request_path)?;
    // No settings flag: an empty mapping, on which the policy says what is missing.
    let settings =
        crate::cli::read_settings(args.settings_json.as_deref(), args.settings_path.as_deref())?
            .unwrap_or_else(|| Value::Object(Default::default()));
    let module_path = Path::new(args.module.strip_prefix("file://").unwrap_or(&args.module));
    let bytes = std::fs::read(module_path).map_err(|source| RunError::ReadModule {
        path: module_path.to_owned(),
        source,
    })?;
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrency: 1,
        timeout: std::time::Duration::from_millis(args.policy_timeout_ms),
        // One instance: on-demand allocation starts faster than reserving a pool.
        pooling: false,
        cache_dir: args.module_cache_dir.clone(),
        ..RuntimeConfig::default()
    })
    .map_err(RunError::Engine)?;
    let name = module_path.file_stem().map_or_else(
        || "policy".to_owned(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    // `kwctl run` lets the policy mutate and prints the patch.
    let policy = LoadedPolicy::load(
        &runtime,
        &name,
        &bytes,
        settings,
        true,
        runtime.default_limits(),
    )?;
    Ok(policy.validate(&request)?.response)
}

fn read_request(path: &Path) -> Result<AdmissionRequest, RunError> {
    let read_error = |source| RunError::ReadRequest {
        path: path.to_owned(),
        source,
    };
    let text = if path == Path::new("-") {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .map_err(read_error)?;
        text
    } else {
        std::fs::read(path).map_err(read_error)?
    };
    let value: Value = serde_json::from_slice(&text).map_err(|source| RunError::ParseRequest {
        path: path.to_owned(),
        source,
    })?;
    AdmissionRequest::from_review_or_request(value).map_err(|source| RunError::NotARequest {
        path: path.to_owned(),
        source,
    })
}

//! `pullthrough run`: offline evaluation of one request against any waPC policy module, printing
//! the AdmissionResponse in the shape `kwctl run` prints.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::admission::{AdmissionError, AdmissionRequest, AdmissionResponse};
use crate::cli::values;
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
    /// The settings file cannot be read.
    #[error("cannot read settings {path}")]
    ReadSettings {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `--settings-json` is not JSON.
    #[error("--settings-json is not JSON")]
    SettingsJson(#[source] serde_json::Error),
    /// The settings file is not JSON or YAML.
    #[error("settings {path} are not valid JSON or YAML")]
    ParseSettings {
        /// The path given.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// The settings are JSON or YAML, but not a mapping.
    #[error(
        "{origin} must be a mapping such as {{\"mirror\": \"registry-mirror.example.com\"}}, got {got}"
    )]
    SettingsNotAMapping {
        /// `--settings-json` or the file.
        origin: String,
        /// What it is instead.
        got: &'static str,
    },
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
    let settings = read_settings(args)?;
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

fn read_settings(args: &RunArgs) -> Result<Value, RunError> {
    let (settings, origin) = match (&args.settings_json, &args.settings_path) {
        (Some(json), _) => (
            serde_json::from_str(json).map_err(RunError::SettingsJson)?,
            "--settings-json".to_owned(),
        ),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| RunError::ReadSettings {
                path: path.clone(),
                source,
            })?;
            // YAML is a superset of JSON: one parser takes both.
            let settings =
                serde_yaml_ng::from_str(&text).map_err(|source| RunError::ParseSettings {
                    path: path.clone(),
                    source,
                })?;
            (settings, format!("settings {}", path.display()))
        }
        (None, None) => return Ok(Value::Object(Default::default())),
    };
    let got = match settings {
        Value::Null => return Ok(Value::Object(Default::default())),
        Value::Object(_) => return Ok(settings),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
    };
    Err(RunError::SettingsNotAMapping { origin, got })
}

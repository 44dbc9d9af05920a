//! `pullthrough run`: offline evaluation of one request against any waPC policy module, printing
//! the AdmissionResponse in the shape `kwctl run` prints.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::admission::{AdmissionError, AdmissionRequest, AdmissionResponse};
use crate::cli::{FetchArgs, SettingsArgsError, values};
use crate::policies::{EvaluationError, FetchError, Fetcher, LoadedPolicy, PolicyError, Remote};
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
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// The policy module: a path (optionally prefixed with `file://`),
    /// `registry://HOST/REPOSITORY:TAG`, `registry://…@sha256:…` or `https://…`.
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
    /// MODULE is neither a path nor a module this build fetches.
    #[error("MODULE {0}")]
    Module(String),
    /// The remote module could not be fetched.
    #[error("cannot fetch module {module}")]
    Fetch {
        /// MODULE as given.
        module: String,
        /// Why.
        #[source]
        source: FetchError,
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
    let (name, bytes) = read_module(args)?;
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrency: 1,
        timeout: std::time::Duration::from_millis(args.policy_timeout_ms),
        // One instance: on-demand allocation starts faster than reserving a pool.
        pooling: false,
        cache_dir: args.module_cache_dir.clone(),
        ..RuntimeConfig::default()
    })
    .map_err(RunError::Engine)?;
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

/// The policy's name (the module's file name without extension) and the module's bytes, read
/// or fetched.
fn read_module(args: &RunArgs) -> Result<(String, Vec<u8>), RunError> {
    let remote = Remote::parse(&args.module).map_err(RunError::Module)?;
    let Some(remote) = remote else {
        let path = Path::new(args.module.strip_prefix("file://").unwrap_or(&args.module));
        let bytes = std::fs::read(path).map_err(|source| RunError::ReadModule {
            path: path.to_owned(),
            source,
        })?;
        return Ok((name_of(path.to_str().unwrap_or_default()), bytes));
    };
    let fetch_error = |source| RunError::Fetch {
        module: args.module.clone(),
        source,
    };
    crate::tls::install_default_provider();
    let fetcher = Fetcher::new(args.fetch.config()).map_err(fetch_error)?;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| fetch_error(FetchError::Runtime(source)))?;
    let fetched = tokio
        .block_on(fetcher.fetch(&remote))
        .map_err(fetch_error)?;
    // `registry://host/org/policy:v1` is `policy`, as `org/policy.wasm` would be.
    let path = args
        .module
        .split(['@', '?', '#'])
        .next()
        .unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    Ok((
        name_of(last.split(':').next().unwrap_or_default()),
        fetched.bytes,
    ))
}

/// A file name without its directory and extension, or `policy`.
fn name_of(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .filter(|stem| !stem.is_empty())
        .unwrap_or_else(|| "policy".to_owned())
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

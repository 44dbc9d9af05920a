//! `pullthrough scan`: evaluates the workloads of the cluster (or of manifests) with the policy
//! the webhook runs, prints what would change, and with `--apply` patches what owns each pod
//! template.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::cli::{ArgsError, PolicyArgs};
use crate::k8s::{self, Cluster, ListError};
use crate::policies::{PolicyError, PolicyRegistry};
use crate::scan::input::{self, InputError};
use crate::scan::output;
use crate::scan::{Action, Kind, NamespaceFilter, PatchChoice, PatchOutcome, Plan, Workers};
use crate::wasm::{LoadError, Runtime};

/// The exit status of `--exit-code` when something would change (1 is an error, 2 a usage
/// error).
pub const CHANGES_EXIT_STATUS: u8 = 3;

/// Flags of `pullthrough scan`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// Scan manifests instead of the cluster: JSON or YAML files (several documents, and lists
    /// such as `kubectl get -A -o json` prints), directories of them, or `-` for standard input.
    /// Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "PATH",
        env = "PULLTHROUGH_FILENAME"
    )]
    pub files: Vec<PathBuf>,
    /// Registry host (and optional path prefix) of the pull-through cache: evaluates with the
    /// embedded policy and `{"mirror": MIRROR}`, as `serve --mirror` does.
    #[arg(long, env = "PULLTHROUGH_MIRROR", required_unless_present_any = ["policies", "settings_json"])]
    pub mirror: Option<String>,
    /// Full settings of the embedded policy as JSON (instead of --mirror).
    #[arg(long, value_name = "JSON", env = "PULLTHROUGH_SETTINGS_JSON", conflicts_with_all = ["mirror", "policies"])]
    pub settings_json: Option<String>,
    #[command(flatten)]
    pub pull_secrets: crate::cli::PullSecretArgs,
    /// With --policies: the policy to evaluate. Default: the first entry, the one the webhook's
    /// `/mutate` serves.
    #[arg(
        long,
        value_name = "NAME",
        requires = "policies",
        env = "PULLTHROUGH_POLICY_NAME"
    )]
    pub policy_name: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format.
    #[arg(short = 'o', long, value_name = "FORMAT", value_enum, default_value_t = Output::Table, env = "PULLTHROUGH_OUTPUT")]
    pub output: Output,
    /// Exit with status 3 when something would change (with --apply: when something was not
    /// patched), e.g. to fail a check of a GitOps repository.
    #[arg(long, value_parser = crate::cli::values::boolish(), env = "PULLTHROUGH_EXIT_CODE")]
    pub exit_code: bool,
    /// Patch what owns each pod template (Deployments, StatefulSets, DaemonSets, CronJobs,
    /// ReplicationControllers, ReplicaSets without an owner). Each JSON patch first tests the
    /// values it read, so an object changed since the scan is left alone. Cluster only.
    #[arg(long, value_parser = crate::cli::values::boolish(), env = "PULLTHROUGH_APPLY")]
    pub apply: bool,
    /// Also patch bare Pods (each changed container restarts with its new image).
    #[arg(long, value_parser = crate::cli::values::boolish(), env = "PULLTHROUGH_PATCH_PODS")]
    pub patch_pods: bool,
    /// Also patch bare Jobs (the API server refuses a changed template of most Jobs).
    #[arg(long, value_parser = crate::cli::values::boolish(), env = "PULLTHROUGH_PATCH_JOBS")]
    pub patch_jobs: bool,
    /// At most this many patches per second with --apply.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10.0,
        env = "PULLTHROUGH_PATCHES_PER_SECOND"
    )]
    pub patches_per_second: f64,
    /// Only these namespaces (comma-separated); default all. As for the webhook, kube-system
    /// and --namespace are never scanned.
    #[arg(
        long = "only-namespaces",
        value_name = "NAMESPACE",
        value_delimiter = ',',
        env = "PULLTHROUGH_ONLY_NAMESPACES"
    )]
    pub only_namespaces: Vec<String>,
    /// The namespace pullthrough runs in, left out as the webhook leaves it out.
    #[arg(long, default_value = k8s::NAME, env = "PULLTHROUGH_NAMESPACE")]
    pub namespace: String,
}

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A table of the images that would change, and a summary.
    Table,
    /// Everything as one JSON document, with the patch each object gets.
    Json,
}

/// Why a scan could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Args(#[from] ArgsError),
    #[error("--patches-per-second must be a positive number, got {0}")]
    Rate(f64),
    #[error("--apply patches the cluster: it cannot be used with -f (files are only read)")]
    ApplyToFiles,
    #[error("--settings-json is not JSON")]
    Settings(#[source] serde_json::Error),
    #[error("could not start the async runtime")]
    AsyncRuntime(#[source] std::io::Error),
    #[error(transparent)]
    Engine(LoadError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("--policy-name {name:?} is not in the policies file, which has: {known}")]
    UnknownPolicy { name: String, known: String },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Cluster(#[from] k8s::Error),
    #[error(transparent)]
    List(#[from] ListError),
    #[error("could not write the report")]
    Write(#[source] std::io::Error),
    #[error("the policy could not evaluate {0} objects (listed above)")]
    EvaluationFailed(usize),
    #[error("{failed} of {total} patches were not applied (listed above); scan again to retry")]
    PatchesFailed { failed: usize, total: usize },
}

/// Runs the scan, prints the report on standard output (warnings and progress on standard
/// error) and returns the exit status: 0, or [`CHANGES_EXIT_STATUS`] with `--exit-code`.
pub fn run(args: &ScanArgs) -> Result<u8, ScanError> {
    if args.apply && !args.files.is_empty() {
        return Err(ScanError::ApplyToFiles);
    }
    if !(args.patches_per_second.is_finite() && args.patches_per_second > 0.0) {
        return Err(ScanError::Rate(args.patches_per_second));
    }
    let settings = crate::cli::embedded_settings(
        args.settings_json.as_deref(),
        args.mirror.as_deref(),
        &args.pull_secrets.mirror_pull_secrets,
    )
    .map_err(ScanError::Settings)?;
    let runtime_config = args.policy.runtime_config()?;
    let threads = runtime_config.max_concurrency;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ScanError::AsyncRuntime)?;
    crate::tls::install_default_provider();
    let wasm = Runtime::new(runtime_config).map_err(ScanError::Engine)?;
    let registry = tokio.block_on(PolicyRegistry::load_checked(
        wasm,
        args.policy.source(settings),
        None,
        args.policy.fetch.config(),
    ))?;
    let policy = match &args.policy_name {
        None => registry.default_policy(),
        Some(name) if registry.policy_names().contains(name) => name.clone(),
        Some(name) => {
            return Err(ScanError::UnknownPolicy {
                name: name.clone(),
                known: registry.policy_names().join(", "),
            });
        }
    };
    let filter = NamespaceFilter {
        excluded: crate::server::never_rewritten(&args.namespace),
        only: args.only_namespaces.clone(),
    };
    let progress = Progress::new();
    let workers = Workers {
        threads,
        progress: &|n| progress.show(&format!("evaluated {n} objects")),
    };
    let (scan, cluster) = if args.files.is_empty() {
        let cluster = tokio.block_on(Cluster::connect())?;
        let only: Vec<String> = filter
            .only
            .iter()
            .filter(|n| filter.admits(n))
            .cloned()
            .collect();
        if !filter.only.is_empty() && only.is_empty() {
            return Err(ScanError::Args(ArgsError::Invalid(
                "--only-namespaces names only excluded namespaces (kube-system, --namespace)",
            )));
        }
        let scan = crate::scan::scan(&registry, &policy, &filter, workers, |sink| {
            tokio.block_on(async {
                for kind in Kind::ALL {
                    cluster.list_raw(kind, &only, sink).await?;
                }
                Ok::<_, ListError>(())
            })
        })?;
        (scan, Some(cluster))
    } else {
        let scan = crate::scan::scan(&registry, &policy, &filter, workers, |sink| {
            input::read_paths(&args.files, sink)
        })?;
        (scan, None)
    };
    progress.clear();
    let mut plan = Plan::new(
        scan,
        PatchChoice {
            pods: args.patch_pods,
            jobs: args.patch_jobs,
        },
    );
    if let (true, Some(cluster)) = (args.apply, &cluster) {
        tokio.block_on(apply(
            cluster,
            &mut plan,
            args.patches_per_second,
            &progress,
        ));
        progress.clear();
    }
    let report = match args.output {
        Output::Table => output::table(&plan),
        Output::Json => output::json(&plan),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(ScanError::Write)?;
    if args.output == Output::Table {
        for note in &plan.warnings {
            eprintln!(
                "warning: {}: {}",
                output::describe(&note.object),
                note.message
            );
        }
        for note in &plan.failed {
            eprintln!(
                "error: {}: {}",
                output::describe(&note.object),
                note.message
            );
        }
    }
    if !plan.failed.is_empty() {
        return Err(ScanError::EvaluationFailed(plan.failed.len()));
    }
    let attempted: Vec<&PatchOutcome> = plan
        .findings
        .iter()
        .filter_map(|f| f.applied.as_ref())
        .collect();
    let failed = attempted
        .iter()
        .filter(|a| !matches!(a, PatchOutcome::Patched))
        .count();
    if failed > 0 {
        return Err(ScanError::PatchesFailed {
            failed,
            total: attempted.len(),
        });
    }
    let left = plan
        .findings
        .iter()
        .filter(|f| f.applied != Some(PatchOutcome::Patched))
        .count();
    Ok(if args.exit_code && left > 0 {
        CHANGES_EXIT_STATUS
    } else {
        0
    })
}

/// Sends the patch of every finding `--apply` patches, at most `per_second` a second.
async fn apply(cluster: &Cluster, plan: &mut Plan, per_second: f64, progress: &Progress) {
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let to_patch = plan
        .findings
        .iter()
        .filter(|f| f.action == Action::Patch)
        .count();
    let findings = plan
        .findings
        .iter_mut()
        .filter(|f| f.action == Action::Patch);
    for (done, finding) in findings.enumerate() {
        pace.tick().await;
        let applied = cluster.json_patch(&finding.object, &finding.patch).await;
        tracing::debug!(object = %output::describe(&finding.object), ?applied, "patch sent");
        finding.applied = Some(applied);
        progress.show(&format!("patched {} of {to_patch}", done + 1));
    }
}

/// One line on standard error, rewritten in place at most ten times a second, and only when
/// standard error is a terminal: a log or a pipe gets nothing.
struct Progress {
    enabled: bool,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }

    fn show(&self, line: &str) {
        if !self.enabled {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < Duration::from_millis(100)) {
            return;
        }
        *last = Some(Instant::now());
        eprint!("\r\x1b[Kscan: {line}");
    }

    fn clear(&self) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if self.enabled && last.take().is_some() {
            eprint!("\r\x1b[K");
        }
    }
}

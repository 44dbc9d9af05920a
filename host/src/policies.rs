//! The named-policy registry the admission server evaluates requests against: the policies file
//! (or the embedded mirror policy), hot swap of modules and of the file, and SIGHUP reloads.
//!
//! Each policy's active version is an `Arc<LoadedPolicy>` in a table that is replaced whole on
//! every reload: an evaluation clones the `Arc` and finishes on the version it started with, and
//! a new version only becomes visible once it compiled and validated its settings off the request
//! path.

mod config;
mod error;
mod protocol;
mod reload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::admission::{AdmissionRequest, AdmissionResponse};
use crate::wasm::{CallError, CallGate, CallLimits, Runtime};

pub use error::{EvaluationError, PolicyError};
pub(crate) use protocol::LoadedPolicy;
pub use reload::{ReloadReport, Reloader};

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
    /// Module file, `None` for the embedded module.
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

/// The named policies of this process. Cheap to clone.
#[derive(Clone)]
pub struct PolicyRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PolicyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyRegistry")
            .field("default_policy", &self.inner.default_policy)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

struct Inner {
    runtime: Runtime,
    source: PolicySource,
    default_policy: String,
    table: RwLock<Arc<Table>>,
    // Serialises reloads; evaluations never take it.
    reloading: tokio::sync::Mutex<()>,
    history: Mutex<BTreeMap<String, History>>,
}

/// Name → active version (`None` while a configured policy has never loaded).
type Table = BTreeMap<String, Slot>;

#[derive(Debug, Clone)]
struct Slot {
    module_path: Option<PathBuf>,
    active: Option<Arc<LoadedPolicy>>,
    // The policy's share of the guest slots; kept across versions of the policy.
    gate: Arc<CallGate>,
}

#[derive(Debug, Default, Clone)]
struct History {
    ok: u64,
    rejected: u64,
    last_error: Option<String>,
}

impl PolicyRegistry {
    /// Loads every policy. Fails if any policy fails to load: a process must not start serving
    /// with a policy missing.
    pub async fn load(runtime: Runtime, source: PolicySource) -> Result<Self, PolicyError> {
        // Module paths and the watcher need an absolute path: the working directory may change.
        let source = match source {
            PolicySource::File(path) => PolicySource::File(
                std::path::absolute(&path)
                    .map_err(|source| PolicyError::ReadConfig { path, source })?,
            ),
            embedded => embedded,
        };
        let (default_policy, table) = match &source {
            PolicySource::Embedded { settings } => {
                let limits = runtime.default_limits();
                let settings = settings.clone();
                let loaded = {
                    let runtime = runtime.clone();
                    run_load(&runtime.clone(), EMBEDDED_POLICY_NAME, move || {
                        LoadedPolicy::load(
                            &runtime,
                            EMBEDDED_POLICY_NAME,
                            EMBEDDED_POLICY_WASM,
                            settings,
                            true,
                            limits,
                        )
                    })
                    .await?
                };
                let slot = Slot {
                    module_path: None,
                    active: Some(Arc::new(loaded)),
                    gate: Arc::new(runtime.gate(1)),
                };
                (
                    EMBEDDED_POLICY_NAME.to_owned(),
                    Table::from([(EMBEDDED_POLICY_NAME.to_owned(), slot)]),
                )
            }
            PolicySource::File(path) => {
                let specs = config::read(path)?;
                let default = specs[0].name.clone();
                let policies = specs.len();
                let mut table = Table::new();
                for spec in specs {
                    let loaded = reload::load_spec(&runtime, &spec).await?;
                    table.insert(
                        spec.name.clone(),
                        Slot {
                            module_path: Some(spec.module.clone()),
                            active: Some(Arc::new(loaded)),
                            gate: Arc::new(runtime.gate(policies)),
                        },
                    );
                }
                (default, table)
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                runtime,
                source,
                default_policy,
                table: RwLock::new(Arc::new(table)),
                reloading: tokio::sync::Mutex::new(()),
                history: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The policy `POST /mutate` evaluates: `pullthrough`, or the first entry of the policies file.
    pub fn default_policy(&self) -> &str {
        &self.inner.default_policy
    }

    /// The names of the configured policies.
    pub fn policy_names(&self) -> Vec<String> {
        self.table().keys().cloned().collect()
    }

    /// Evaluates `request` against `policy` on the bounded blocking pool; never blocks the async
    /// runtime.
    pub async fn evaluate(
        &self,
        policy: &str,
        request: AdmissionRequest,
    ) -> Result<Evaluation, EvaluationError> {
        let (loaded, gate) = self.active(policy)?;
        let result = self
            .inner
            .runtime
            .run_gated(&gate, move || loaded.validate(&request))
            .await?;
        if matches!(result, Err(EvaluationError::Call(CallError::Timeout(_)))) {
            gate.note_timeout();
        }
        result
    }

    /// Evaluates on the calling thread (for `pullthrough run`, benchmarks and tests); it runs guest
    /// code, so never call it from an async task.
    pub fn evaluate_blocking(
        &self,
        policy: &str,
        request: &AdmissionRequest,
    ) -> Result<Evaluation, EvaluationError> {
        self.active(policy)?.0.validate(request)
    }

    /// True when every configured policy has a loaded version.
    pub fn is_ready(&self) -> bool {
        self.table().values().all(|slot| slot.active.is_some())
    }

    /// The active version of each policy and its reload counts.
    pub fn statuses(&self) -> Vec<PolicyStatus> {
        let table = self.table();
        let history = self
            .inner
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        table
            .iter()
            .map(|(name, slot)| {
                let record = history.get(name).cloned().unwrap_or_default();
                PolicyStatus {
                    name: name.clone(),
                    module_path: slot.module_path.clone(),
                    module_sha256: slot.active.as_ref().map(|p| p.sha256.clone()),
                    loaded_at: slot.active.as_ref().map(|p| p.loaded_at),
                    reloads_ok: record.ok,
                    reloads_rejected: record.rejected,
                    last_error: record.last_error,
                }
            })
            .collect()
    }

    /// The wasm runtime the policies run on.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    fn table(&self) -> Arc<Table> {
        Arc::clone(
            &self
                .inner
                .table
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The active version of `policy` and its gate.
    fn active(&self, policy: &str) -> Result<(Arc<LoadedPolicy>, Arc<CallGate>), EvaluationError> {
        let table = self.table();
        let slot = table
            .get(policy)
            .ok_or_else(|| EvaluationError::UnknownPolicy(policy.to_owned()))?;
        let active = slot
            .active
            .clone()
            .ok_or_else(|| EvaluationError::NotLoaded(policy.to_owned()))?;
        Ok((active, Arc::clone(&slot.gate)))
    }
}

/// Runs a load on the blocking pool, mapping a failed task into a load error.
async fn run_load<F>(runtime: &Runtime, policy: &str, work: F) -> Result<LoadedPolicy, PolicyError>
where
    F: FnOnce() -> Result<LoadedPolicy, PolicyError> + Send + 'static,
{
    runtime
        .run_blocking(work)
        .await
        .map_err(|source| PolicyError::Call {
            policy: policy.to_owned(),
            operation: "load",
            source,
        })?
}

/// Limits for a policy: the runtime's, with the policy's own deadline if it has one.
fn limits_for(runtime: &Runtime, timeout: Option<Duration>) -> CallLimits {
    let defaults = runtime.default_limits();
    CallLimits {
        timeout: timeout.unwrap_or(defaults.timeout),
        ..defaults
    }
}

//! [`PolicyRegistry`]: loading the policies, evaluating a request against one, and the statuses
//! the server publishes. Hot swap is in `swap.rs`, the one load path of every policy in
//! `load.rs`.

mod load;
mod swap;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::reload::Reloader;
use super::{
    Evaluation, EvaluationError, FetchConfig, Fetcher, LoadedPolicy, PolicyError, PolicySource,
    PolicyStatus,
};
use crate::admission::{AdmissionRequest, AdmissionResponse};
use crate::mirror_check::{MirrorCheck, MirrorHealth, MirrorStatus};
use crate::wasm::{CallGate, Runtime};
use load::{first_name, load_spec, read_module, specs, start_check};

/// The named policies of this process. Cheap to clone.
#[derive(Clone)]
pub struct PolicyRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PolicyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyRegistry")
            .field("default_policy", &self.table().default_policy)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

struct Inner {
    runtime: Runtime,
    source: PolicySource,
    /// The mirror check of the embedded policy (the file's entries carry their own).
    embedded_check: Option<MirrorCheck>,
    /// Fetches the `registry://` and `https://` modules, at load and on every reload.
    fetcher: Fetcher,
    table: RwLock<Arc<Table>>,
    // Serialises reloads; evaluations never take it.
    reloading: tokio::sync::Mutex<()>,
    history: Mutex<BTreeMap<String, History>>,
}

/// What one version of the policies file serves, swapped whole so that `POST /mutate` and the
/// named routes always agree on one file.
#[derive(Debug, Default)]
struct Table {
    /// The policy `POST /mutate` evaluates: the file's first entry.
    default_policy: String,
    /// Name → active version (`None` while a configured policy has never loaded).
    slots: BTreeMap<String, Slot>,
}

#[derive(Debug, Clone)]
struct Slot {
    module_path: Option<PathBuf>,
    active: Option<Arc<LoadedPolicy>>,
    // The policy's share of the guest slots; kept across versions of the policy.
    gate: Arc<CallGate>,
    // The running check of the policy's mirror; kept across versions while its spec is the same.
    mirror: Option<Arc<MirrorHealth>>,
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
        Self::load_checked(runtime, source, None, FetchConfig::default()).await
    }

    /// [`Self::load`], fetching remote modules as `fetch` says, and starts the mirror checks:
    /// `embedded_check` for the embedded policy, each entry's `mirrorCheck` for a policies file.
    /// While a policy's mirror is down its requests are admitted unchanged. Must be called
    /// inside a Tokio runtime.
    pub async fn load_checked(
        runtime: Runtime,
        source: PolicySource,
        embedded_check: Option<MirrorCheck>,
        fetch: FetchConfig,
    ) -> Result<Self, PolicyError> {
        let fetcher = Fetcher::new(fetch).map_err(PolicyError::FetchSettings)?;
        // Module paths and the watcher need an absolute path: the working directory may change.
        let source = match source {
            PolicySource::File(path) => PolicySource::File(
                std::path::absolute(&path)
                    .map_err(|source| PolicyError::ReadConfig { path, source })?,
            ),
            embedded => embedded,
        };
        let specs = specs(&source, embedded_check.as_ref())?;
        let policies = specs.len();
        let mut table = Table {
            default_policy: first_name(&specs),
            slots: BTreeMap::new(),
        };
        for spec in specs {
            let loaded = load_spec(&runtime, &spec, read_module(&fetcher, &spec).await?).await?;
            let mirror = start_check(&spec, None)?;
            let module = spec.module.to_string();
            let mirrors = super::config::mirrors_of(&spec.settings).join(" ");
            tracing::info!(
                policy = %spec.name,
                %module,
                sha256 = %loaded.sha256,
                mirror = mirrors,
                allowed_to_mutate = spec.allowed_to_mutate,
                "policy loaded"
            );
            table.slots.insert(
                spec.name.clone(),
                Slot {
                    module_path: spec.module.path().map(ToOwned::to_owned),
                    active: Some(Arc::new(loaded)),
                    gate: Arc::new(runtime.gate(policies)),
                    mirror,
                },
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                runtime,
                source,
                embedded_check,
                fetcher,
                table: RwLock::new(Arc::new(table)),
                reloading: tokio::sync::Mutex::new(()),
                history: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The policy `POST /mutate` evaluates now: `pullthrough`, or the first entry of the
    /// policies file as last loaded (a reload that renames, removes or reorders it moves
    /// `/mutate` with it, as a restart would).
    pub fn default_policy(&self) -> String {
        self.table().default_policy.clone()
    }

    /// The names of the configured policies.
    pub fn policy_names(&self) -> Vec<String> {
        self.table().slots.keys().cloned().collect()
    }

    /// Whether `policy` is configured (loaded or not).
    pub fn has_policy(&self, policy: &str) -> bool {
        self.table().slots.contains_key(policy)
    }

    /// Evaluates `request` against `policy` within the policy's share of the guest slots; never
    /// blocks the async runtime for longer than one evaluation.
    pub async fn evaluate(
        &self,
        policy: &str,
        request: AdmissionRequest,
    ) -> Result<Evaluation, EvaluationError> {
        self.evaluate_by(policy, request, None).await
    }

    /// [`Self::evaluate`] that gives up at `deadline`: waiting for a guest slot stops there
    /// ([`crate::wasm::CallError::NoSlot`]), and the guest is interrupted there
    /// ([`crate::wasm::CallError::Timeout`]) when that comes before its own timeout.
    pub async fn evaluate_by(
        &self,
        policy: &str,
        request: AdmissionRequest,
        deadline: Option<std::time::Instant>,
    ) -> Result<Evaluation, EvaluationError> {
        let active = self.active(&self.table(), policy);
        self.run(active, request, deadline).await
    }

    /// [`Self::evaluate_by`] against the default policy, resolved on the same version of the
    /// table the evaluation runs on; returns the policy's name with the result.
    pub async fn evaluate_default_by(
        &self,
        request: AdmissionRequest,
        deadline: Option<std::time::Instant>,
    ) -> (String, Result<Evaluation, EvaluationError>) {
        let table = self.table();
        let active = self.active(&table, &table.default_policy);
        let policy = table.default_policy.clone();
        drop(table);
        (policy, self.run(active, request, deadline).await)
    }

    async fn run(
        &self,
        active: Result<Active, EvaluationError>,
        request: AdmissionRequest,
        deadline: Option<std::time::Instant>,
    ) -> Result<Evaluation, EvaluationError> {
        let (loaded, gate, choice) = match active? {
            Active::Evaluate(loaded, gate, choice) => (loaded, gate, choice),
            // The mirror is down: the images stay where they can be pulled from.
            Active::MirrorDown(warning) => {
                return Ok(Evaluation::unchanged(
                    AdmissionResponse::allow(request.uid().to_owned()).with_warning(warning),
                ));
            }
        };
        self.inner
            .runtime
            .run_gated_by(&gate, deadline, move || {
                loaded.validate_by(&request, deadline, choice)
            })
            .await?
    }

    /// Evaluates on the calling thread (for `pullthrough run`, benchmarks and tests); it runs guest
    /// code, so never call it from an async task.
    pub fn evaluate_blocking(
        &self,
        policy: &str,
        request: &AdmissionRequest,
    ) -> Result<Evaluation, EvaluationError> {
        self.loaded(policy)?.validate(request)
    }

    /// True when every configured policy has a loaded version (the default one included, so
    /// `POST /mutate` can answer).
    pub fn is_ready(&self) -> bool {
        let table = self.table();
        table.slots.contains_key(&table.default_policy)
            && table.slots.values().all(|slot| slot.active.is_some())
    }

    /// The active version of each policy and its reload counts.
    pub fn statuses(&self) -> Vec<PolicyStatus> {
        let table = self.table();
        let history = self
            .inner
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table
            .slots
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

    /// The state of every running mirror check.
    pub fn mirror_statuses(&self) -> Vec<MirrorStatus> {
        self.table()
            .slots
            .values()
            .filter_map(|slot| slot.mirror.as_ref().map(|mirror| mirror.status()))
            .collect()
    }

    /// Starts hot swap: a file watcher on the policies file and its modules (file source only),
    /// a SIGHUP handler, and with `every` a reload at that interval (which fetches each remote
    /// module's tag again). Must be called inside a Tokio runtime; stops when the returned
    /// [`Reloader`] is dropped.
    pub fn spawn_reloader(&self, every: Option<Duration>) -> Result<Reloader, PolicyError> {
        Reloader::spawn(self, true, true, every)
    }

    /// [`Self::spawn_reloader`] with each trigger chosen: file changes, SIGHUP, no interval.
    pub fn spawn_reloader_on(
        &self,
        watch_files: bool,
        sighup: bool,
    ) -> Result<Reloader, PolicyError> {
        Reloader::spawn(self, watch_files, sighup, None)
    }

    /// The policies file, when the policies come from one.
    pub(super) fn policies_file(&self) -> Option<&std::path::Path> {
        match &self.inner.source {
            PolicySource::File(path) => Some(path),
            PolicySource::Embedded { .. } => None,
        }
    }

    /// The files a change to which should trigger a reload: the policies file and every module.
    pub(super) fn watched_files(&self) -> HashSet<PathBuf> {
        let mut files: HashSet<PathBuf> = self
            .table()
            .slots
            .values()
            .filter_map(|slot| slot.module_path.clone())
            .collect();
        files.extend(self.policies_file().map(ToOwned::to_owned));
        files
    }

    fn table(&self) -> Arc<Table> {
        Arc::clone(
            &self
                .inner
                .table
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// What a request to `policy` gets in `table`: its active version, gate and the mirror its
    /// check chose, or, while no mirror of it answers, the warning to admit it unchanged with.
    fn active(&self, table: &Table, policy: &str) -> Result<Active, EvaluationError> {
        let slot = table
            .slots
            .get(policy)
            .ok_or_else(|| EvaluationError::UnknownPolicy(policy.to_owned()))?;
        let choice = match &slot.mirror {
            Some(mirror) => match mirror.choice() {
                Some(choice) => choice,
                None => return Ok(Active::MirrorDown(mirror.warning().to_owned())),
            },
            None => 0,
        };
        let active = slot
            .active
            .clone()
            .ok_or_else(|| EvaluationError::NotLoaded(policy.to_owned()))?;
        Ok(Active::Evaluate(active, Arc::clone(&slot.gate), choice))
    }

    /// The active version of `policy`, whatever its mirror's state.
    fn loaded(&self, policy: &str) -> Result<Arc<LoadedPolicy>, EvaluationError> {
        self.table()
            .slots
            .get(policy)
            .ok_or_else(|| EvaluationError::UnknownPolicy(policy.to_owned()))?
            .active
            .clone()
            .ok_or_else(|| EvaluationError::NotLoaded(policy.to_owned()))
    }
}

/// See [`PolicyRegistry::active`].
enum Active {
    Evaluate(Arc<LoadedPolicy>, Arc<CallGate>, usize),
    MirrorDown(String),
}

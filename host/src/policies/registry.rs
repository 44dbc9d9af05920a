//! [`PolicyRegistry`]: loading the policies, evaluating a request against one, hot swap (one
//! reload re-reads the file and every module and replaces the table in one step), and the
//! statuses the server publishes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::config::{self, PolicySpec};
use super::reload::Reloader;
use super::{
    EMBEDDED_POLICY_NAME, EMBEDDED_POLICY_WASM, Evaluation, EvaluationError, LoadedPolicy,
    PolicyError, PolicySource, PolicyStatus, ReloadReport,
};
use crate::admission::{AdmissionRequest, AdmissionResponse};
use crate::mirror_check::{MirrorCheck, MirrorHealth, MirrorStatus};
use crate::wasm::{CallGate, CallLimits, Runtime};

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
    /// The mirror check of the embedded policy (the file's entries carry their own).
    embedded_check: Option<MirrorCheck>,
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
        Self::load_checked(runtime, source, None).await
    }

    /// [`Self::load`], and starts the mirror checks: `embedded_check` for the embedded policy,
    /// each entry's `mirrorCheck` for a policies file. While a policy's mirror is down its
    /// requests are admitted unchanged. Must be called inside a Tokio runtime.
    pub async fn load_checked(
        runtime: Runtime,
        source: PolicySource,
        embedded_check: Option<MirrorCheck>,
    ) -> Result<Self, PolicyError> {
        // Module paths and the watcher need an absolute path: the working directory may change.
        let source = match source {
            PolicySource::File(path) => PolicySource::File(
                std::path::absolute(&path)
                    .map_err(|source| PolicyError::ReadConfig { path, source })?,
            ),
            embedded => embedded,
        };
        let specs = specs(&source, embedded_check.as_ref())?;
        // `specs` refuses an empty list, so there is a first entry.
        let default_policy = specs
            .first()
            .map_or_else(String::new, |spec| spec.name.clone());
        let policies = specs.len();
        let mut table = Table::new();
        for spec in specs {
            let loaded = load_spec(&runtime, &spec, read_module(&spec).await?).await?;
            let mirror = start_check(&spec, None)?;
            let module = spec
                .module
                .as_ref()
                .map_or_else(|| "embedded".to_owned(), |path| path.display().to_string());
            let mirror_host = spec.settings.get("mirror").and_then(|m| m.as_str());
            tracing::info!(
                policy = %spec.name,
                %module,
                sha256 = %loaded.sha256,
                mirror = mirror_host.unwrap_or_default(),
                allowed_to_mutate = spec.allowed_to_mutate,
                "policy loaded"
            );
            table.insert(
                spec.name.clone(),
                Slot {
                    module_path: spec.module.clone(),
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
        let (loaded, gate) = match self.active(policy)? {
            Active::Evaluate(loaded, gate) => (loaded, gate),
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
                loaded.validate_by(&request, deadline)
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
            .unwrap_or_else(PoisonError::into_inner);
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

    /// The state of every running mirror check.
    pub fn mirror_statuses(&self) -> Vec<MirrorStatus> {
        self.table()
            .values()
            .filter_map(|slot| slot.mirror.as_ref().map(|mirror| mirror.status()))
            .collect()
    }

    /// Re-reads the policies file and every module; swaps in what changed and validated, keeps
    /// the old version of what did not. Reloads are serialised; evaluations are never blocked.
    pub async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let mut report = ReloadReport::default();
        if !matches!(self.inner.source, PolicySource::File(_)) {
            // The embedded module cannot change while the process runs.
            return report;
        }
        let specs = match specs(&self.inner.source, self.inner.embedded_check.as_ref()) {
            Ok(specs) => specs,
            Err(error) => {
                tracing::warn!(error = %crate::report::one_line(&error), "policies file rejected; keeping the current policies");
                report.config_error = Some(crate::report::one_line(&error));
                return report;
            }
        };
        let old = self.table();
        let mut table = Table::new();
        let policies = specs.len();
        let share = self.inner.runtime.share(policies);
        for spec in specs {
            let old_slot = old.get(&spec.name);
            let previous = old_slot.and_then(|slot| slot.active.clone());
            // A policy keeps its gate (and what it remembers) unless its share changed.
            let gate = match old_slot {
                Some(slot) if slot.gate.cap() == share => Arc::clone(&slot.gate),
                _ => Arc::new(self.inner.runtime.gate(policies)),
            };
            let old_mirror = old_slot.and_then(|slot| slot.mirror.as_ref());
            let mirror = match start_check(&spec, old_mirror) {
                Ok(mirror) => mirror,
                Err(error) => {
                    let reason = crate::report::one_line(&error);
                    tracing::warn!(policy = %spec.name, error = %reason, "new mirror check rejected; the previous one keeps running");
                    self.record(&spec.name, Some(reason.clone()));
                    report.rejected.push((spec.name.clone(), reason));
                    old_mirror.cloned()
                }
            };
            let active = match self.reload_one(&spec, previous.as_ref()).await {
                Ok(None) => previous,
                Ok(Some(loaded)) => {
                    tracing::info!(policy = %spec.name, sha256 = %loaded.sha256, "policy version swapped in");
                    self.record(&spec.name, None);
                    report.swapped.push(spec.name.clone());
                    Some(Arc::new(loaded))
                }
                Err(error) => {
                    let reason = crate::report::one_line(&error);
                    tracing::warn!(policy = %spec.name, error = %reason, "new policy version rejected; the previous one keeps serving");
                    self.record(&spec.name, Some(reason.clone()));
                    report.rejected.push((spec.name.clone(), reason));
                    previous
                }
            };
            let slot = Slot {
                module_path: spec.module.clone(),
                active,
                gate,
                mirror,
            };
            table.insert(spec.name, slot);
        }
        *self
            .inner
            .table
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
        report
    }

    /// Starts hot swap: a file watcher on the policies file and its modules (file source only)
    /// and a SIGHUP handler. Must be called inside a Tokio runtime; stops when the returned
    /// [`Reloader`] is dropped.
    pub fn spawn_reloader(&self) -> Result<Reloader, PolicyError> {
        self.spawn_reloader_on(true, true)
    }

    /// [`Self::spawn_reloader`] with each trigger chosen: file changes, SIGHUP.
    pub fn spawn_reloader_on(
        &self,
        watch_files: bool,
        sighup: bool,
    ) -> Result<Reloader, PolicyError> {
        Reloader::spawn(self, watch_files, sighup)
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
            .values()
            .filter_map(|slot| slot.module_path.clone())
            .collect();
        files.extend(self.policies_file().map(ToOwned::to_owned));
        files
    }

    /// `Ok(None)` when the active version already matches the spec and the module bytes.
    async fn reload_one(
        &self,
        spec: &PolicySpec,
        previous: Option<&Arc<LoadedPolicy>>,
    ) -> Result<Option<LoadedPolicy>, PolicyError> {
        let runtime = &self.inner.runtime;
        // Read once: the same bytes decide whether anything changed and are what gets loaded.
        let bytes = read_module(spec).await?;
        if let Some(active) = previous
            && active.sha256 == crate::wasm::sha256_hex(&bytes)
            && active.settings == spec.settings
            && active.allowed_to_mutate == spec.allowed_to_mutate
            && active.limits() == limits_for(runtime, spec.timeout)
        {
            return Ok(None);
        }
        load_spec(runtime, spec, bytes).await.map(Some)
    }

    fn record(&self, policy: &str, rejection: Option<String>) {
        let mut history = self
            .inner
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry: &mut History = history.entry(policy.to_owned()).or_default();
        match rejection {
            None => entry.ok += 1,
            Some(reason) => {
                entry.rejected += 1;
                entry.last_error = Some(reason);
            }
        }
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

    /// What a request to `policy` gets: its active version and gate, or, while its mirror is
    /// down, the warning to admit it unchanged with.
    fn active(&self, policy: &str) -> Result<Active, EvaluationError> {
        let table = self.table();
        let slot = table
            .get(policy)
            .ok_or_else(|| EvaluationError::UnknownPolicy(policy.to_owned()))?;
        if let Some(mirror) = &slot.mirror
            && !mirror.is_up()
        {
            return Ok(Active::MirrorDown(mirror.warning().to_owned()));
        }
        let active = slot
            .active
            .clone()
            .ok_or_else(|| EvaluationError::NotLoaded(policy.to_owned()))?;
        Ok(Active::Evaluate(active, Arc::clone(&slot.gate)))
    }

    /// The active version of `policy`, whatever its mirror's state.
    fn loaded(&self, policy: &str) -> Result<Arc<LoadedPolicy>, EvaluationError> {
        self.table()
            .get(policy)
            .ok_or_else(|| EvaluationError::UnknownPolicy(policy.to_owned()))?
            .active
            .clone()
            .ok_or_else(|| EvaluationError::NotLoaded(policy.to_owned()))
    }
}

/// See [`PolicyRegistry::active`].
enum Active {
    Evaluate(Arc<LoadedPolicy>, Arc<CallGate>),
    MirrorDown(String),
}

/// The running check a spec asks for: the old one if it checks the same thing (it keeps its
/// state), a new one otherwise, none if the spec has no check.
fn start_check(
    spec: &PolicySpec,
    old: Option<&Arc<MirrorHealth>>,
) -> Result<Option<Arc<MirrorHealth>>, PolicyError> {
    let Some(check) = &spec.mirror_check else {
        return Ok(None);
    };
    if let Some(old) = old
        && old.check() == check
    {
        return Ok(Some(Arc::clone(old)));
    }
    MirrorHealth::start(&spec.name, check.clone())
        .map(|health| Some(Arc::new(health)))
        .map_err(|source| PolicyError::MirrorCheck {
            policy: spec.name.clone(),
            source,
        })
}

/// The policies a source names: the embedded module as `pullthrough`, allowed to mutate, or the
/// entries of the policies file.
fn specs(
    source: &PolicySource,
    embedded_check: Option<&MirrorCheck>,
) -> Result<Vec<PolicySpec>, PolicyError> {
    match source {
        PolicySource::Embedded { settings } => Ok(vec![PolicySpec {
            name: EMBEDDED_POLICY_NAME.to_owned(),
            module: None,
            settings: settings.clone(),
            allowed_to_mutate: true,
            allowed_to_mutate_given: true,
            timeout: None,
            mirror_check: embedded_check.cloned(),
        }]),
        PolicySource::File(path) => {
            let specs = config::read(path)?;
            for warning in specs.iter().filter_map(PolicySpec::warning) {
                tracing::warn!(file = %path.display(), "{warning}");
            }
            Ok(specs)
        }
    }
}

/// The module bytes a spec names: the embedded module, or the file.
async fn read_module(spec: &PolicySpec) -> Result<Cow<'static, [u8]>, PolicyError> {
    let Some(path) = &spec.module else {
        return Ok(Cow::Borrowed(EMBEDDED_POLICY_WASM));
    };
    tokio::fs::read(path)
        .await
        .map(Cow::Owned)
        .map_err(|source| PolicyError::ReadModule {
            policy: spec.name.clone(),
            path: path.clone(),
            source,
        })
}

/// Loads module bytes per their spec on the blocking pool: the one load path of every policy.
async fn load_spec(
    runtime: &Runtime,
    spec: &PolicySpec,
    bytes: Cow<'static, [u8]>,
) -> Result<LoadedPolicy, PolicyError> {
    let limits = limits_for(runtime, spec.timeout);
    let spec = spec.clone();
    let worker = runtime.clone();
    let policy = spec.name.clone();
    runtime
        .run_blocking(move || {
            LoadedPolicy::load(
                &worker,
                &spec.name,
                &bytes,
                spec.settings,
                spec.allowed_to_mutate,
                limits,
            )
        })
        .await
        .map_err(|source| PolicyError::Call {
            policy,
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

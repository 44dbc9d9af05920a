//! Hot swap: reload the policies file and changed modules, off the request path, when a watched
//! file changes (in-place write, atomic rename, new file) or on SIGHUP.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::config::{self, PolicySpec};
use super::{History, LoadedPolicy, PolicyError, PolicyRegistry, PolicySource, Slot, Table};

/// Changes closer together than this are handled by one reload (an editor's save, or a copy in
/// several writes, fires several events).
const SETTLE: Duration = Duration::from_millis(50);

/// What one reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Policies whose new version was swapped in (or that appeared).
    pub swapped: Vec<String>,
    /// Policies whose new version was rejected, with the reason; their old version keeps serving.
    pub rejected: Vec<(String, String)>,
    /// Set when the policies file itself could not be read or parsed; nothing changed.
    pub config_error: Option<String>,
}

/// Reads a module and loads it per its spec, on the blocking pool.
pub(super) async fn load_spec(
    runtime: &crate::wasm::Runtime,
    spec: &PolicySpec,
) -> Result<LoadedPolicy, PolicyError> {
    let bytes = read_module(spec).await?;
    load_bytes(runtime, spec, bytes).await
}

/// Reads the module file a spec names.
async fn read_module(spec: &PolicySpec) -> Result<Vec<u8>, PolicyError> {
    tokio::fs::read(&spec.module)
        .await
        .map_err(|source| PolicyError::ReadModule {
            policy: spec.name.clone(),
            path: spec.module.clone(),
            source,
        })
}

/// Loads already-read module bytes per their spec, on the blocking pool.
async fn load_bytes(
    runtime: &crate::wasm::Runtime,
    spec: &PolicySpec,
    bytes: Vec<u8>,
) -> Result<LoadedPolicy, PolicyError> {
    let limits = super::limits_for(runtime, spec.timeout);
    let name = spec.name.clone();
    let spec = spec.clone();
    let worker = runtime.clone();
    super::run_load(runtime, &name, move || {
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
}

impl PolicyRegistry {
    /// Re-reads the policies file and every module; swaps in what changed and validated, keeps
    /// the old version of what did not. Reloads are serialised; evaluations are never blocked.
    pub async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let mut report = ReloadReport::default();
        let PolicySource::File(path) = &self.inner.source else {
            // The embedded module cannot change while the process runs.
            return report;
        };
        let specs = match config::read(path) {
            Ok(specs) => specs,
            Err(error) => {
                tracing::warn!(%error, "policies file rejected; keeping the current policies");
                report.config_error = Some(error.to_string());
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
            let active = match self.reload_one(&spec, previous.as_ref()).await {
                Ok(None) => previous,
                Ok(Some(loaded)) => {
                    tracing::info!(policy = %spec.name, sha256 = %loaded.sha256, "policy version swapped in");
                    self.record(&spec.name, None);
                    report.swapped.push(spec.name.clone());
                    Some(Arc::new(loaded))
                }
                Err(error) => {
                    let reason = error_chain(&error);
                    tracing::warn!(policy = %spec.name, error = %reason, "new policy version rejected; the previous one keeps serving");
                    self.record(&spec.name, Some(reason.clone()));
                    report.rejected.push((spec.name.clone(), reason));
                    previous
                }
            };
            let slot = Slot {
                module_path: Some(spec.module.clone()),
                active,
                gate,
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
            && active.limits() == super::limits_for(runtime, spec.timeout)
        {
            return Ok(None);
        }
        load_bytes(runtime, spec, bytes).await.map(Some)
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
        let (changed, mut changes) = mpsc::unbounded_channel::<()>();
        let watcher = match &self.inner.source {
            PolicySource::File(path) if watch_files => {
                Some(Arc::new(FileWatcher::new(self, path, changed.clone())?))
            }
            _ => None,
        };
        let mut tasks = Vec::new();
        if sighup {
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(PolicyError::Watch)?;
            let on_signal = changed.clone();
            tasks.push(tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading policies");
                    if on_signal.send(()).is_err() {
                        break;
                    }
                }
            }));
        }
        // The watcher and the signal task hold their own senders.
        drop(changed);
        let registry = self.clone();
        let tracker = watcher.clone();
        tasks.push(tokio::spawn(async move {
            while changes.recv().await.is_some() {
                tokio::time::sleep(SETTLE).await;
                while changes.try_recv().is_ok() {}
                let report = registry.reload().await;
                tracing::debug!(?report, "policies reloaded");
                if let Some(tracker) = &tracker {
                    tracker.track(registry.watched_files());
                }
            }
        }));
        Ok(Reloader {
            _watcher: watcher,
            tasks,
        })
    }

    fn watched_files(&self) -> HashSet<PathBuf> {
        let mut files: HashSet<PathBuf> = self
            .table()
            .values()
            .filter_map(|slot| slot.module_path.clone())
            .collect();
        if let PolicySource::File(path) = &self.inner.source {
            files.insert(path.clone());
        }
        files
    }
}

/// Keeps hot swap running; dropping it stops the watcher and the SIGHUP handler.
#[derive(Debug)]
pub struct Reloader {
    _watcher: Option<Arc<FileWatcher>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Reloader {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Watches the directories holding the policies file and the modules: an atomic rename replaces
/// the file's inode, so watching the file itself would miss it.
struct FileWatcher {
    watcher: Mutex<notify::RecommendedWatcher>,
    directories: Mutex<HashSet<PathBuf>>,
    interesting: Arc<Mutex<HashSet<PathBuf>>>,
}

impl std::fmt::Debug for FileWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatcher").finish_non_exhaustive()
    }
}

impl FileWatcher {
    fn new(
        registry: &PolicyRegistry,
        config: &Path,
        changed: mpsc::UnboundedSender<()>,
    ) -> Result<Self, PolicyError> {
        let interesting = Arc::new(Mutex::new(registry.watched_files()));
        let filter = Arc::clone(&interesting);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if event.kind.is_access() {
                    return;
                }
                let files = filter.lock().unwrap_or_else(PoisonError::into_inner);
                if event.paths.iter().any(|path| files.contains(path)) {
                    let _ = changed.send(());
                }
            })
            .map_err(|error| PolicyError::Watch(std::io::Error::other(error)))?;
        let mut directories: HashSet<PathBuf> = HashSet::new();
        directories.insert(parent(config));
        for file in registry.watched_files() {
            directories.insert(parent(&file));
        }
        for directory in &directories {
            watcher
                .watch(directory, RecursiveMode::NonRecursive)
                .map_err(|error| PolicyError::Watch(std::io::Error::other(error)))?;
        }
        Ok(Self {
            watcher: Mutex::new(watcher),
            directories: Mutex::new(directories),
            interesting,
        })
    }

    /// After a reload: follow the files the policies now name, watching any new directory.
    fn track(&self, files: HashSet<PathBuf>) {
        let mut directories = self
            .directories
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut watcher = self.watcher.lock().unwrap_or_else(PoisonError::into_inner);
        for directory in files.iter().map(|file| parent(file)) {
            if directories.contains(&directory) {
                continue;
            }
            match watcher.watch(&directory, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    directories.insert(directory);
                }
                // Retried after the next reload (SIGHUP, or a change to the policies file).
                Err(error) => {
                    tracing::warn!(%error, directory = %directory.display(), "cannot watch a policy module directory")
                }
            }
        }
        *self
            .interesting
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = files;
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `error: cause: cause` in one line, for logs and statuses.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

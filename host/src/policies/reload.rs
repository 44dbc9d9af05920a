//! The hot swap triggers: a file watcher on the policies file and its modules (in-place write,
//! atomic rename, new file, and the kubelet's ConfigMap and Secret volume update), SIGHUP, and
//! an interval (for remote modules, whose tags move without any local event), each asking the
//! registry for a [`PolicyRegistry::reload`].
//!
//! A ConfigMap or Secret volume holds each key as a symlink `name -> ..data/name`; `..data` is
//! itself a symlink to a timestamped directory. The kubelet updates the volume by writing a new
//! timestamped directory and renaming a new `..data` over the old one: no event names the file,
//! so the symlinks a watched file resolves through are watched as well.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::{PolicyError, PolicyRegistry};

/// Changes closer together than this are handled by one reload (an editor's save, or a copy in
/// several writes, fires several events).
const SETTLE: Duration = Duration::from_millis(50);

/// Keeps hot swap running; dropping it stops the watcher and the SIGHUP handler.
#[derive(Debug)]
pub struct Reloader {
    _watcher: Option<Arc<FileWatcher>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Reloader {
    /// Starts the triggers chosen: file changes (file source only), SIGHUP, an interval.
    pub(super) fn spawn(
        registry: &PolicyRegistry,
        watch_files: bool,
        sighup: bool,
        every: Option<Duration>,
    ) -> Result<Self, PolicyError> {
        let (changed, mut changes) = mpsc::unbounded_channel::<()>();
        let watcher = match registry.policies_file() {
            Some(path) if watch_files => {
                Some(Arc::new(FileWatcher::new(registry, path, changed.clone())?))
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
        if let Some(every) = every {
            let on_tick = changed.clone();
            tasks.push(tokio::spawn(async move {
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                // A reload that took longer than the interval is not followed by a burst.
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if on_tick.send(()).is_err() {
                        break;
                    }
                }
            }));
        }
        // The watcher and the signal and interval tasks hold their own senders.
        drop(changed);
        let registry = registry.clone();
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
        Ok(Self {
            _watcher: watcher,
            tasks,
        })
    }
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
        let interesting = Arc::new(Mutex::new(with_links(registry.watched_files())));
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
            .unwrap_or_else(PoisonError::into_inner) = with_links(files);
    }
}

/// `files` and every symlink each resolves through below its own directory (`dir/..data` for
/// `dir/policies.yml -> ..data/policies.yml`): renaming one of those replaces the file's content
/// without an event naming the file.
fn with_links(files: HashSet<PathBuf>) -> HashSet<PathBuf> {
    let mut all = files.clone();
    for file in &files {
        let Ok(target) = std::fs::read_link(file) else {
            continue;
        };
        let directory = parent(file);
        let mut at = directory.clone();
        for component in target.components() {
            at.push(component);
            if at.parent() == Some(directory.as_path())
                && at
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink())
            {
                all.insert(at.clone());
            }
        }
    }
    all
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

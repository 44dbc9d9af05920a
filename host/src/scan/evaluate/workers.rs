//! The reader on the calling thread and the worker threads that evaluate what it hands over,
//! sharing the one loaded policy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};

use serde_json::Value;

use super::records::str_at;
use super::{NamespaceFilter, Scan, Scanned, evaluate};
use crate::policies::PolicyRegistry;
use crate::scan::Kind;

/// How the evaluation runs.
#[derive(Clone, Copy)]
pub struct Workers<'a> {
    /// Threads evaluating at once (at most the runtime's `max_concurrency`).
    pub threads: usize,
    /// Called on the reading thread now and then with how many objects were evaluated so far.
    pub progress: &'a (dyn Fn(usize) + Sync),
}

impl std::fmt::Debug for Workers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Evaluates every object `read` hands over against `policy`. `read` runs on this thread; the
/// evaluations on `workers.threads` others. Blocking: never call it from an async task.
pub fn scan<E>(
    registry: &PolicyRegistry,
    policy: &str,
    filter: &NamespaceFilter,
    workers: Workers<'_>,
    read: impl FnOnce(&mut dyn FnMut(Value)) -> Result<(), E>,
) -> Result<Scan, E> {
    let threads = workers.threads.max(1);
    let (to_workers, inbox) = mpsc::sync_channel::<(Kind, Value)>(threads * 16);
    let inbox = Mutex::new(inbox);
    let (to_collector, results) = mpsc::channel::<Scanned>();
    let evaluated = AtomicUsize::new(0);
    let mut tally = Scan::default();
    let read_result = std::thread::scope(|scope| {
        for _ in 0..threads {
            let to_collector = to_collector.clone();
            let (inbox, evaluated) = (&inbox, &evaluated);
            scope.spawn(move || {
                loop {
                    // The lock is held only to take the next object, not while evaluating it.
                    let next = inbox.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((kind, object)) = next else { break };
                    let scanned = evaluate(registry, policy, kind, object);
                    evaluated.fetch_add(1, Ordering::Relaxed);
                    if to_collector.send(scanned).is_err() {
                        break;
                    }
                }
            });
        }
        drop(to_collector);
        let mut sent = 0usize;
        let result = read(&mut |object: Value| {
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .and_then(Kind::parse);
            let Some(kind) = kind else {
                tally.other_kinds += 1;
                return;
            };
            if !filter.admits(str_at(&object, "/metadata/namespace")) {
                tally.excluded += 1;
                return;
            }
            *tally.by_kind.entry(kind).or_default() += 1;
            // The workers outlive this closure, so the receiver is there.
            let _ = to_workers.send((kind, object));
            sent += 1;
            if sent.is_multiple_of(256) {
                (workers.progress)(evaluated.load(Ordering::Relaxed));
            }
        });
        drop(to_workers);
        result
    });
    read_result?;
    let mut objects: Vec<Scanned> = results.into_iter().collect();
    (workers.progress)(objects.len());
    objects.sort_by(|a, b| a.object.cmp(&b.object));
    tally.objects = objects;
    Ok(tally)
}

//! Lines a runtime worker of `serve` logs, held in a buffer of the worker's own until it runs out
//! of work, so that under load one `write` carries the lines of several admissions.
//!
//! Every admission logs one line from the worker that answered it, and a `write` per line was a
//! twentieth of the server's CPU under load (BENCHMARKS.md, "The log line, held by its worker").
//! The runtime calls [`worker_idle`] each time a worker is about to wait for work: the worker
//! writes what it holds then, itself, so no other thread is woken for it. A line is held:
//!
//! - until its worker next goes idle, which at low load is right after the answer is sent;
//! - or until the worker holds [`WORKER_MAX`] bytes, which it then writes without waiting;
//! - or until another thread logs, or `main` flushes: a line from any thread other than a worker
//!   first writes every worker's held lines, so `stopped accepting` and the shutdown's lines come
//!   after the admissions logged before them.
//!
//! Two workers' lines can reach the log out of order with each other, by at most the time one
//! of them stayed busy; each line carries its own timestamp. Threads that are not the runtime's
//! workers (the main thread, the blocking pool, the log writer) never hold a line.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::batched::lock;

/// Bytes a busy worker gathers before it writes them anyway: about fifty admission lines.
pub(super) const WORKER_MAX: usize = 16 << 10;

/// Where held lines go, once written: the log as it is without holding (stderr, or the batching
/// writer thread of [`super::batched`]).
pub(super) type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

static WORKERS: OnceLock<Workers> = OnceLock::new();

thread_local! {
    /// This thread's held lines, once it has gone idle as a runtime worker.
    static MINE: RefCell<Option<Arc<Held>>> = const { RefCell::new(None) };
}

type Held = Mutex<Vec<u8>>;

struct Workers {
    sink: Sink,
    /// Every worker's buffer, for the threads that must write them before their own line.
    all: Mutex<Vec<Arc<Held>>>,
}

/// Makes the runtime's workers hold their lines from their first [`worker_idle`] on, writing
/// them to `sink`. Later calls change nothing.
pub(super) fn start(sink: Sink) {
    let _ = WORKERS.set(Workers::new(sink));
}

/// For the runtime's `on_thread_park`: the calling thread is a worker about to wait for work.
/// Writes what it holds, and from now on holds the lines it logs.
pub fn worker_idle() {
    if let Some(workers) = WORKERS.get() {
        workers.idle();
    }
}

/// For the runtime's `on_thread_stop`: writes what the thread holds and stops holding for it.
pub fn worker_stops() {
    if let Some(workers) = WORKERS.get() {
        workers.stops();
    }
}

/// Holds `line` if the calling thread is a worker; writes it past [`WORKER_MAX`]. Returns whether
/// the line was taken; a line not taken is the caller's to write, after [`write_all_held`].
pub(super) fn hold(line: &[u8]) -> bool {
    WORKERS.get().is_some_and(|workers| workers.hold(line))
}

/// Writes every worker's held lines, each worker's in the order it logged them.
pub(super) fn write_all_held() {
    if let Some(workers) = WORKERS.get() {
        workers.write_all_held();
    }
}

/// For a panic hook: writes to `output` the held lines of every worker whose buffer is free,
/// trying each lock and waiting for none.
pub(super) fn write_all_held_if_free(output: &mut dyn std::io::Write) {
    let Some(all) = WORKERS
        .get()
        .and_then(|workers| workers.all.try_lock().ok())
    else {
        return;
    };
    for held in all.iter() {
        if let Ok(mut held) = held.try_lock()
            && !held.is_empty()
        {
            let _ = output.write_all(&held);
            held.clear();
        }
    }
}

impl Workers {
    fn new(sink: Sink) -> Self {
        Self {
            sink,
            all: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) {
        let _ = MINE.try_with(|mine| {
            let Ok(mut mine) = mine.try_borrow_mut() else {
                return;
            };
            let held = mine.get_or_insert_with(|| {
                let held = Arc::new(Mutex::new(Vec::with_capacity(WORKER_MAX)));
                lock(&self.all).push(Arc::clone(&held));
                held
            });
            drain(&self.sink, &mut lock(held));
        });
    }

    fn stops(&self) {
        let _ = MINE.try_with(|mine| {
            let Some(held) = mine.try_borrow_mut().ok().and_then(|mut mine| mine.take()) else {
                return;
            };
            drain(&self.sink, &mut lock(&held));
            lock(&self.all).retain(|other| !Arc::ptr_eq(other, &held));
        });
    }

    fn hold(&self, line: &[u8]) -> bool {
        MINE.try_with(|mine| {
            let Ok(mine) = mine.try_borrow() else {
                return false;
            };
            let Some(held) = mine.as_ref() else {
                return false;
            };
            let mut held = lock(held);
            held.extend_from_slice(line);
            if held.len() >= WORKER_MAX {
                drain(&self.sink, &mut held);
            }
            true
        })
        .unwrap_or(false)
    }

    fn write_all_held(&self) {
        for held in lock(&self.all).iter() {
            drain(&self.sink, &mut lock(held));
        }
    }
}

/// Writes `held` while its lock is kept, so that a thread that writes every worker's lines
/// before its own cannot pass lines another thread has taken but not yet written.
fn drain(sink: &Sink, held: &mut MutexGuard<'_, Vec<u8>>) {
    if !held.is_empty() {
        sink(held);
        held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Workers` whose sink the test reads back.
    fn workers() -> (Arc<Workers>, Arc<Mutex<Vec<u8>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&written);
        let workers = Workers::new(Box::new(move |bytes| {
            lock(&sink).extend_from_slice(bytes);
        }));
        (Arc::new(workers), written)
    }

    fn text(written: &Mutex<Vec<u8>>) -> String {
        String::from_utf8(lock(written).clone()).expect("utf-8")
    }

    /// Runs `body` on a thread of its own: what a thread holds is thread-local, and the test
    /// harness may run every test on one thread.
    fn on_thread(body: impl FnOnce() + Send + 'static) {
        std::thread::spawn(body).join().expect("no panic");
    }

    #[test]
    fn a_worker_holds_its_lines_from_its_first_idle_until_the_next() {
        let (workers, written) = workers();
        let seen = Arc::clone(&written);
        let each = Arc::clone(&workers);
        on_thread(move || {
            assert!(
                !each.hold(b"before\n"),
                "not yet a worker: the caller writes"
            );
            each.idle();
            assert!(each.hold(b"one\n"));
            assert!(each.hold(b"two\n"));
            assert_eq!(text(&seen), "", "held until the worker is idle");
            each.idle();
            assert_eq!(text(&seen), "one\ntwo\n");
        });
        assert_eq!(lock(&workers.all).len(), 1);
        assert_eq!(text(&written), "one\ntwo\n");
    }

    #[test]
    fn a_busy_worker_writes_once_it_holds_the_cap() {
        let (workers, written) = workers();
        let seen = Arc::clone(&written);
        on_thread(move || {
            workers.idle();
            let line = [b'x'; 100];
            let mut lines = 0;
            while text(&seen).is_empty() {
                assert!(workers.hold(&line));
                lines += 1;
                assert!(
                    lines * line.len() < WORKER_MAX + line.len(),
                    "never written"
                );
            }
            assert_eq!(lines, WORKER_MAX.div_ceil(line.len()));
            assert_eq!(lock(&seen).len(), lines * line.len());
        });
    }

    #[test]
    fn another_threads_line_comes_after_every_workers_held_lines() {
        let (workers, written) = workers();
        let (held, go_on) = (std::sync::Barrier::new(3), std::sync::Barrier::new(3));
        let barriers = Arc::new((held, go_on));
        let threads: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let (workers, barriers) = (Arc::clone(&workers), Arc::clone(&barriers));
                std::thread::spawn(move || {
                    workers.idle();
                    assert!(workers.hold(format!("{name}1\n").as_bytes()));
                    assert!(workers.hold(format!("{name}2\n").as_bytes()));
                    barriers.0.wait();
                    barriers.1.wait();
                    workers.stops();
                    assert!(
                        !workers.hold(b"after stop\n"),
                        "a stopped worker holds nothing"
                    );
                })
            })
            .collect();
        barriers.0.wait();
        // What a thread that is not a worker does before its own line.
        workers.write_all_held();
        lock(&written).extend_from_slice(b"main\n");
        barriers.1.wait();
        for thread in threads {
            thread.join().expect("no panic");
        }
        let text = text(&written);
        assert!(text.ends_with("main\n"), "{text}");
        for name in ["a", "b"] {
            let (first, second) = (format!("{name}1\n"), format!("{name}2\n"));
            let at = text.find(&first).expect("first line written");
            assert_eq!(
                &text[at + first.len()..at + first.len() + second.len()],
                second
            );
        }
        assert!(
            lock(&workers.all).is_empty(),
            "stopped workers are forgotten"
        );
    }
}

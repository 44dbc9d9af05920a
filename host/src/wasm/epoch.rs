//! The epoch: the ticker thread that advances the engine's epoch, the tick that is the
//! granularity of every guest deadline, and what a call does once it has run for a tick.

use std::sync::Weak;
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// How often the ticker thread advances the engine's epoch: the granularity of deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Called from inside a guest call that has run for a tick: makes sure the rest of the process
/// does not wait for it.
///
/// A guest call runs on the async worker that received its request (the cheapest way, and
/// nearly every call ends well within a tick). Held by a long call, that worker cannot run two
/// things the rest of the process may be waiting for. The task it woke last sits in its LIFO
/// slot, which no other worker may steal. And when it was the worker that polled the I/O driver
/// last, the other workers may all be asleep without it, so no socket is read: a second
/// connection of the API server's is not even accepted until the call ends (BENCHMARKS.md).
/// Spawning two no-op tasks fixes both: the second displaces the first (and the first whatever
/// was in the slot) to the worker's run queue, and a task pushed there wakes an idle worker,
/// which steals it and then drives the I/O. On the blocking pool, or outside a runtime, there
/// is nothing to hand off and this costs two idle tasks at most.
pub(crate) fn hand_off_worker() {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn(async {}));
        drop(runtime.spawn(async {}));
    }
}

pub(crate) fn spawn_ticker(engine: Engine, alive: Weak<()>) {
    let spawned = std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            // The epoch counts ticks of the clock, not wake-ups of this thread: on a busy machine
            // a 10 ms sleep can take 15, and a guest's deadline (counted in ticks) then came
            // half as late again. Measured on the real API server under load: a 1.4 s deadline
            // fired after 2.06 s, past the API server's 2 s, and failurePolicy Fail refused the Pod.
            let started = Instant::now();
            let mut ticked = 0;
            while alive.strong_count() > 0 {
                std::thread::sleep(EPOCH_TICK);
                let due = ticks_since(started.elapsed());
                while ticked < due {
                    engine.increment_epoch();
                    ticked += 1;
                }
            }
        });
    if let Err(error) = spawned {
        // Without a ticker deadlines never fire; guests still run, so carry on but say so.
        tracing::error!(%error, "cannot start the wasm epoch ticker thread; policy deadlines are off");
    }
}

/// Ticks to wait before looking at the clock again, for a call whose budget `ends`: none once
/// it has, else enough to reach it (a tick that comes early is checked again).
pub(crate) fn ticks_left(ends: Instant, now: Instant) -> u64 {
    let left = ends.saturating_duration_since(now);
    u64::try_from(left.as_nanos().div_ceil(EPOCH_TICK.as_nanos())).unwrap_or(u64::MAX)
}

/// Whole epoch ticks in `elapsed`.
fn ticks_since(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos() / EPOCH_TICK.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_catches_up_with_the_clock() {
        assert_eq!(ticks_since(Duration::ZERO), 0);
        assert_eq!(ticks_since(EPOCH_TICK - Duration::from_nanos(1)), 0);
        // A sleep of one tick that took one and a half still counts one; two and a half, two.
        assert_eq!(ticks_since(EPOCH_TICK * 3 / 2), 1);
        assert_eq!(ticks_since(EPOCH_TICK * 5 / 2), 2);
        assert_eq!(ticks_since(Duration::from_secs(2)), 200);
    }

    #[test]
    fn a_call_is_interrupted_only_once_its_budget_has_passed_by_the_clock() {
        let now = Instant::now();
        assert_eq!(ticks_left(now, now), 0);
        assert_eq!(ticks_left(now, now + Duration::from_millis(1)), 0);
        // 0.2 ms short of the end (the ticker caught up early): wait one more tick.
        assert_eq!(ticks_left(now + Duration::from_micros(200), now), 1);
        assert_eq!(ticks_left(now + EPOCH_TICK, now), 1);
        assert_eq!(ticks_left(now + EPOCH_TICK * 5 / 2, now), 3);
        assert_eq!(ticks_left(now + Duration::from_secs(1), now), 100);
    }
}

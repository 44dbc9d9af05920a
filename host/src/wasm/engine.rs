//! The process-wide [`Runtime`]: one wasmtime `Engine`, one `Linker` with every host import, one
//! epoch ticker thread, and the scheduling of guest calls: a bounded number at once, a share of
//! them per policy ([`CallGate`]), and where they run (on the async worker that received the
//! request, or on the blocking pool).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig,
};

use super::epoch::spawn_ticker;
use super::host_state::HostState;
use super::module::WapcModule;
use super::{CallError, CallLimits, LoadError, RuntimeConfig, TaskError, cache, wapc};

/// The one wasm runtime of the process. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    permits: Arc<Semaphore>,
    // Calls that may run directly on an async worker; fewer than the workers, so one worker is
    // always free to read sockets and finish handshakes.
    inline: Semaphore,
    config: RuntimeConfig,
    // The ticker thread holds a `Weak` to this and stops once the runtime and every module it
    // loaded (each holds a clone) are dropped: a call still running then keeps its deadline.
    ticking: Arc<()>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, LoadError> {
        let max_concurrency = config.max_concurrency.max(1);
        let inline_calls = config.inline_calls.min(max_concurrency);
        let mut wasm_config = Config::new();
        wasm_config
            .epoch_interruption(true)
            .memory_init_cow(true)
            // One thread compiles: on this project's 2-core measurements Cranelift's parallel
            // workers raised the start-up peak RSS by 4 MiB for 0.1 s less start-up (BENCHMARKS.md).
            .parallel_compilation(false);
        if config.pooling {
            let slots = u32::try_from(pool_slots(max_concurrency)).unwrap_or(u32::MAX);
            let mut pool = PoolingAllocationConfig::default();
            pool.total_core_instances(slots)
                .total_memories(slots)
                .total_tables(slots)
                .max_memory_size(config.memory_limit)
                // Rust and TinyGo guests keep more function references than the default allows.
                .table_elements(100_000)
                // Reused slots keep their first pages mapped instead of faulting them in again.
                .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
                .table_keep_resident(1 << 16)
                // Reset only the slot's present, written pages (Linux >= 6.7; `Auto` falls back to
                // a full memset elsewhere). Without it, every reuse memsets the whole kept region
                // and madvises the rest: TLB-shootdown IPIs to every core in this multi-threaded
                // process. Measured under wrk at 32 connections: 252 -> 163 us of server CPU per request
                // (BENCHMARKS.md); keeping memory resident only pays off with this scan.
                .pagemap_scan(Enabled::Auto);
            wasm_config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm_config).map_err(LoadError::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut HostState| &mut state.wasi)
            .map_err(LoadError::Link)?;
        wapc::add_to_linker(&mut linker).map_err(LoadError::Link)?;

        let ticking = Arc::new(());
        spawn_ticker(engine.clone(), Arc::downgrade(&ticking));
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                permits: Arc::new(Semaphore::new(max_concurrency)),
                inline: Semaphore::new(inline_calls),
                config: RuntimeConfig {
                    max_concurrency,
                    inline_calls,
                    ..config
                },
                ticking,
            }),
        })
    }

    /// The engine every module of this runtime is compiled for.
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The default per-call limits.
    pub fn default_limits(&self) -> CallLimits {
        CallLimits {
            timeout: self.inner.config.timeout,
            memory_limit: self.inner.config.memory_limit,
        }
    }

    /// Compiles (or loads from the cache), links and pre-instantiates a module; `policy` names it
    /// in guest logs. CPU-heavy: call it from a blocking thread.
    pub fn load(
        &self,
        policy: &str,
        bytes: &[u8],
        limits: CallLimits,
    ) -> Result<WapcModule, LoadError> {
        let limits = CallLimits {
            memory_limit: limits.memory_limit.min(self.inner.config.memory_limit),
            ..limits
        };
        let module = cache::compile(&self.inner.engine, bytes, &self.inner.config)?;
        WapcModule::new(
            &self.inner.linker,
            module,
            limits,
            policy,
            Arc::clone(&self.inner.ticking),
        )
    }

    /// How many guest slots one policy may hold: with several policies all but one, so a policy
    /// whose calls all run into their deadline still leaves a slot to the others; a single
    /// policy may use them all.
    pub fn share(&self, policies: usize) -> usize {
        let slots = self.inner.config.max_concurrency;
        if policies > 1 {
            slots.saturating_sub(1).max(1)
        } else {
            slots
        }
    }

    /// A gate for one policy among `policies`, holding its [`Runtime::share`] of the slots.
    pub fn gate(&self, policies: usize) -> CallGate {
        let cap = self.share(policies);
        CallGate {
            permits: Arc::new(Semaphore::new(cap)),
            cap,
            last_timeout_ms: AtomicU64::new(NEVER),
        }
    }

    /// Runs guest code once a slot is free, in `gate`'s share: directly on this async worker
    /// when an inline slot is free (no thread hand-off: the cheapest way on a busy server), else
    /// on the blocking pool. A call whose error says it ran into its deadline is remembered by
    /// the gate: that policy's calls then always go to the blocking pool for a while, so it
    /// cannot hold an async worker for a whole deadline again.
    pub async fn run_gated<T, E, F>(
        &self,
        gate: &CallGate,
        work: F,
    ) -> Result<Result<T, E>, CallError>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: HitDeadline + Send + 'static,
    {
        self.run_gated_by(gate, None, work).await
    }

    /// [`Runtime::run_gated`], waiting for a slot no later than `deadline`: past it the call
    /// fails with [`CallError::NoSlot`] and never runs, so an overloaded server still answers
    /// in time. `work` itself should stop at the same deadline (see [`WapcModule::call_by`]).
    pub async fn run_gated_by<T, E, F>(
        &self,
        gate: &CallGate,
        deadline: Option<Instant>,
        work: F,
    ) -> Result<Result<T, E>, CallError>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: HitDeadline + Send + 'static,
    {
        let waiting = Instant::now();
        let permits = async {
            let share = acquire(&gate.permits).await?;
            let slot = acquire(&self.inner.permits).await?;
            Ok::<_, CallError>((share, slot))
        };
        let (share, slot) = match deadline {
            None => permits.await?,
            Some(deadline) => tokio::time::timeout_at(deadline.into(), permits)
                .await
                .map_err(|_| CallError::NoSlot(waiting.elapsed()))??,
        };
        // The admission's span (if traces are on) records how long the guest ran.
        let span = tracing::Span::current();
        let work = move || crate::telemetry::time_guest(&span, work);
        let result = if !gate.timed_out_lately()
            && let Ok(_inline) = self.inner.inline.try_acquire()
        {
            // A panic fails this call alone, as it would on the blocking pool (a JoinError there).
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .map_err(|_| CallError::Task(TaskError::Panicked))?
        } else {
            on_blocking_pool(work, (slot, share)).await?
        };
        if result.as_ref().is_err_and(HitDeadline::hit_deadline) {
            gate.note_timeout();
        }
        Ok(result)
    }

    /// Runs `work` on the blocking pool once one of the `max_concurrency` slots is free, so guest
    /// code never runs on (nor starves) the async workers. For loads; requests go through
    /// [`Runtime::run_gated`].
    pub async fn run_blocking<R, F>(&self, work: F) -> Result<R, CallError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let slot = acquire(&self.inner.permits).await?;
        on_blocking_pool(work, slot).await
    }
}

async fn acquire(permits: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, CallError> {
    Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(|closed| CallError::Task(closed.into()))
}

/// Runs `work` on Tokio's blocking pool, releasing `permits` only once it is done (not when the
/// awaiting request goes away).
async fn on_blocking_pool<R, F, P>(work: F, permits: P) -> Result<R, CallError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
    P: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permits);
        result
    })
    .await
    .map_err(|join| CallError::Task(join.into()))
}

/// How long after a deadline a policy's calls stay off the async workers.
const TIMEOUT_MEMORY: Duration = Duration::from_secs(60);
const NEVER: u64 = u64::MAX;

/// Guest memory reset in place between calls rather than handed back to the kernel, up to this
/// much: more than a call of the bundled policy dirties (about 36 KB on the bench fixtures). The
/// reset's scan finds every present page of the slot, not only this call's (a page counts as
/// written unless userfaultfd write-protects it), and a page it resets stays present: a slot
/// keeps paying for the most any call ever touched in it, up to this bound. With 4 MiB, eight
/// 1.5 MB reviews left every later admission 21 to 31 % slower (eight runs), with 1 MiB 23 %,
/// with 256 KiB 0 to 27 %, 9 % in the median run (eight runs; BENCHMARKS.md). Past the bound a
/// call's pages are `madvise`d away: a TLB shootdown on every core, paid by calls that dirty more
/// than this.
const KEEP_RESIDENT_BYTES: usize = 256 << 10;

/// One policy's share of the guest slots, and whether it ran into its deadline lately. Kept by
/// policy name across versions.
#[derive(Debug)]
pub struct CallGate {
    permits: Arc<Semaphore>,
    cap: usize,
    // Milliseconds since `process_start()`, or NEVER.
    last_timeout_ms: AtomicU64,
}

impl CallGate {
    /// How many of this policy's calls may run at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Records that a call ran into its deadline.
    fn note_timeout(&self) {
        self.last_timeout_ms
            .store(millis_since_start(), Ordering::Relaxed);
    }

    fn timed_out_lately(&self) -> bool {
        match self.last_timeout_ms.load(Ordering::Relaxed) {
            NEVER => false,
            at => millis_since_start().saturating_sub(at) < TIMEOUT_MEMORY.as_millis() as u64,
        }
    }
}

/// An error that can say whether its call ran into the deadline, so [`Runtime::run_gated`]
/// can keep that policy off the async workers.
pub trait HitDeadline {
    /// True when the call was interrupted at its deadline.
    fn hit_deadline(&self) -> bool;
}

impl HitDeadline for CallError {
    fn hit_deadline(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
}

fn millis_since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(NEVER - 1)
}

/// Slots in the instance pool: every concurrent call, plus loads (validation runs guest code too)
/// and the synchronous callers that bypass the semaphore (`pullthrough run`, tests).
fn pool_slots(max_concurrency: usize) -> usize {
    max_concurrency * 2 + 8
}

#[cfg(test)]
mod tests;

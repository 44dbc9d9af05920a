//! The process-wide [`Runtime`]: one wasmtime `Engine`, one `Linker` with every host import, one
//! epoch ticker thread, and the bounded blocking pool guest calls run on.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig,
};

use super::module::{HostState, WapcModule};
use super::{CallError, CallLimits, LoadError, RuntimeConfig, cache, wapc};

/// How often the ticker thread advances the engine's epoch: the granularity of deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The one wasm runtime of the process. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    permits: Arc<Semaphore>,
    config: RuntimeConfig,
    // The ticker thread holds a `Weak` to this and stops once the runtime is dropped.
    _alive: Arc<()>,
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
        let mut wasm_config = Config::new();
        wasm_config
            .epoch_interruption(true)
            .memory_init_cow(true)
            .parallel_compilation(true);
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
                .linear_memory_keep_resident(1 << 20)
                .table_keep_resident(1 << 16)
                // Reset only the pages the guest dirtied (Linux >= 6.7; `Auto` falls back to a
                // full memset elsewhere). Without it, every reuse memsets the whole kept region
                // and madvises the rest: TLB-shootdown IPIs to every core in this multi-threaded
                // process. Measured under wrk at 32 connections: 252 -> 163 us of server CPU per request
                // (BENCHMARKS.md); keeping 1 MiB resident only pays off with this scan.
                .pagemap_scan(Enabled::Auto);
            wasm_config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm_config).map_err(LoadError::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut HostState| &mut state.wasi)
            .map_err(LoadError::Link)?;
        wapc::add_to_linker(&mut linker).map_err(LoadError::Link)?;

        let alive = Arc::new(());
        spawn_ticker(engine.clone(), Arc::downgrade(&alive));
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                permits: Arc::new(Semaphore::new(max_concurrency)),
                config: RuntimeConfig {
                    max_concurrency,
                    ..config
                },
                _alive: alive,
            }),
        })
    }

    /// The settings this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
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
        let module = cache::compile(
            &self.inner.engine,
            bytes,
            self.inner.config.cache_dir.as_deref(),
        )?;
        WapcModule::new(&self.inner.linker, module, limits, policy)
    }

    /// Runs `work` on the blocking pool once one of the `max_concurrency` slots is free, so guest
    /// code never runs on (nor starves) the async workers.
    pub async fn run_blocking<R, F>(&self, work: F) -> Result<R, CallError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|closed| CallError::Task(closed.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|join| CallError::Task(join.to_string()))
    }
}

/// Slots in the instance pool: every concurrent call, plus loads (validation runs guest code too)
/// and the synchronous callers that bypass the semaphore (`pullthrough run`, tests).
fn pool_slots(max_concurrency: usize) -> usize {
    max_concurrency * 2 + 8
}

fn spawn_ticker(engine: Engine, alive: Weak<()>) {
    let spawned = std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while alive.strong_count() > 0 {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(error) = spawned {
        // Without a ticker deadlines never fire; guests still run, so carry on but say so.
        tracing::error!(%error, "cannot start the wasm epoch ticker thread; policy deadlines are off");
    }
}

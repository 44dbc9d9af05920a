//! wasmtime: the one engine of the process, waPC host imports, WASI preview 1, limits, and one
//! guest call in a fresh store.
//!
//! Everything that names a wasmtime type lives under this module, so a wasmtime upgrade touches
//! only here. The shareable "pre" type is [`WapcModule`] (compiled module + `InstancePre`); the
//! per-call live type is the `Store` created inside [`WapcModule::call`] and dropped at its end.

mod cache;
mod compile_child;
mod engine;
mod epoch;
mod guest_log;
mod host_calls;
mod host_state;
mod limits;
mod module;
mod wapc;

use std::path::PathBuf;
use std::time::Duration;

pub(crate) use cache::sha256_hex;
pub use compile_child::{
    ChildSideError as CompileModuleError, SUBCOMMAND as COMPILE_MODULE_SUBCOMMAND,
    run_child as run_compile_module,
};
pub use engine::{CallGate, HitDeadline, Runtime};
pub use module::WapcModule;

/// Engine-wide settings, fixed for the life of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// At most this many guest calls run at once; further callers wait for a slot.
    pub max_concurrency: usize,
    /// Of those, at most this many run directly on the async worker that received the request
    /// (no hand-off to another thread); the rest run on the blocking pool. Keep it below the
    /// number of async workers so one is always free for sockets and handshakes.
    pub inline_calls: usize,
    /// Default wall-clock budget of one evaluation (a policy may set its own).
    pub timeout: Duration,
    /// Default cap on one guest's linear memory, in bytes (a policy may set a lower one).
    pub memory_limit: usize,
    /// Use wasmtime's pooling instance allocator (pre-reserved slots, copy-on-write memory
    /// images): instantiation is several times cheaper than with on-demand mmap.
    pub pooling: bool,
    /// Where compiled modules are cached, keyed by module sha256 and wasmtime version; `None`
    /// compiles every module at every start.
    pub cache_dir: Option<PathBuf>,
    /// Compile in a child process of this binary (`serve`: the compiler's memory leaves with
    /// it); otherwise, and whenever the child fails, in this one.
    pub compile_in_child: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            inline_calls: std::thread::available_parallelism().map_or(1, |n| n.get() - 1),
            timeout: Duration::from_secs(2),
            memory_limit: 128 * 1024 * 1024,
            pooling: true,
            cache_dir: None,
            compile_in_child: false,
        }
    }
}

/// Per-call limits; each policy carries its own copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock budget of one evaluation (instantiation, start functions and the call).
    pub timeout: Duration,
    /// Cap on the guest's linear memory, in bytes.
    pub memory_limit: usize,
}

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The engine could not be configured.
    #[error("cannot configure the wasm engine")]
    Engine(#[source] wasmtime::Error),
    /// The bytes are not WebAssembly at all (a text file, a `.wat`, an OCI tarball).
    #[error("the file is not a WebAssembly module: it does not start with \"\\0asm\"")]
    NotWasm,
    /// The bytes are not a valid WebAssembly module.
    #[error("module does not compile")]
    Compile(#[source] wasmtime::Error),
    /// An import the host does not provide, or a missing export the waPC protocol needs.
    #[error("module is not a waPC policy: {0}")]
    NotWapc(String),
    /// Imports could not be resolved.
    #[error("cannot link the module")]
    Link(#[source] wasmtime::Error),
}

/// Why one guest call failed. Each variant concerns that call only.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest ran past its deadline and was interrupted.
    #[error("policy ran longer than its {0:?} deadline")]
    Timeout(Duration),
    /// Every guest slot stayed busy until the request's deadline; the call never ran.
    #[error("no guest slot became free within {0:?}, before the request's deadline")]
    NoSlot(Duration),
    /// The guest tried to grow its memory past the cap, then failed.
    #[error("policy exceeded its memory limit of {limit} bytes")]
    MemoryLimit {
        /// The cap that was hit.
        limit: usize,
        /// The trap that followed.
        #[source]
        source: wasmtime::Error,
    },
    /// The guest trapped (unreachable, out-of-bounds access, abort, ...).
    #[error("policy trapped")]
    Trap(#[source] wasmtime::Error),
    /// The guest answered the waPC call with an error.
    #[error("policy returned an error: {0}")]
    Guest(String),
    /// No free instance slot; should not happen since calls are bounded by the semaphore.
    #[error("cannot instantiate the policy")]
    Instantiate(#[source] wasmtime::Error),
    /// The task running the call panicked or was cancelled.
    #[error("policy call task failed")]
    Task(#[source] TaskError),
}

/// Why the task running a guest call did not return its result.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The call panicked on the async worker that ran it.
    #[error("the call panicked")]
    Panicked,
    /// The blocking-pool task panicked or was cancelled.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
    /// The slots were closed (the runtime is shutting down).
    #[error(transparent)]
    Closed(#[from] tokio::sync::AcquireError),
}

impl CallError {
    /// A low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::NoSlot(_) => "no_slot",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::Trap(_) => "trap",
            Self::Guest(_) => "guest_error",
            Self::Instantiate(_) | Self::Task(_) => "internal",
        }
    }
}

//! [`WapcModule`]: a compiled, linked, pre-instantiated waPC guest, and one call into it in a
//! fresh `Store`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{
    Extern, ExternType, InstancePre, Linker, Module, ModuleExport, Store, Trap, UpdateDeadline,
    ValType,
};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use super::epoch::ticks_left;
use super::guest_log::GuestOutput;
use super::host_state::{CallTimer, HostState, Invocation};
use super::limits::Limiter;
use super::{CallError, CallLimits, LoadError};

/// Exports run once after instantiation, in this order, when the module has them: the WASI
/// reactor constructor, the WASI command entry point (TinyGo registers its handlers from `main`),
/// and the waPC registration hook.
const START_FUNCTIONS: [&str; 3] = ["_initialize", "_start", "wapc_init"];

/// A compiled waPC module, ready to be instantiated once per call. Cheap to clone.
#[derive(Clone)]
pub struct WapcModule {
    pre: InstancePre<HostState>,
    // The exports every call uses, found once here: a lookup by name hashes the name, and a call
    // made several (its start functions, `__guest_call`, and `memory` in each host call).
    start_functions: Arc<[ModuleExport]>,
    guest_call: ModuleExport,
    memory: ModuleExport,
    limits: CallLimits,
    policy: Arc<str>,
    // Keeps the epoch ticker running while this module can be called (see `engine.rs`).
    _ticking: Arc<()>,
}

impl std::fmt::Debug for WapcModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WapcModule")
            .field("policy", &self.policy)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl WapcModule {
    pub(crate) fn new(
        linker: &Linker<HostState>,
        module: Module,
        limits: CallLimits,
        policy: &str,
        ticking: Arc<()>,
    ) -> Result<Self, LoadError> {
        let guest_call = check_export(&module, "__guest_call", |ty| match ty {
            ExternType::Func(func) => {
                func.params()
                    .map(|p| p.matches(&ValType::I32))
                    .eq([true, true])
                    && func.results().map(|r| r.matches(&ValType::I32)).eq([true])
            }
            _ => false,
        })?;
        let memory = check_export(&module, "memory", |ty| matches!(ty, ExternType::Memory(_)))?;
        let start_functions: Vec<ModuleExport> = START_FUNCTIONS
            .into_iter()
            .filter(|name| {
                matches!(module.get_export(name), Some(ExternType::Func(func))
                    if func.params().len() == 0 && func.results().len() == 0)
            })
            .filter_map(|name| module.get_export_index(name))
            .collect();
        let pre = linker.instantiate_pre(&module).map_err(LoadError::Link)?;
        Ok(Self {
            pre,
            start_functions: start_functions.into(),
            guest_call,
            memory,
            limits,
            policy: policy.into(),
            _ticking: ticking,
        })
    }

    /// The limits every call of this module runs under.
    pub fn limits(&self) -> CallLimits {
        self.limits
    }

    /// The names the module exports, in module order (`__guest_call`, `wapc_init`, ...).
    pub fn export_names(&self) -> impl Iterator<Item = &str> {
        self.pre.module().exports().map(|export| export.name())
    }

    /// Instantiates the module in a fresh store, runs its start functions, then calls the waPC
    /// operation `operation` with `payload`; returns the guest's response bytes. Blocks: call it
    /// from a blocking thread (see [`super::Runtime::run_blocking`]).
    pub fn call(&self, operation: &str, payload: Vec<u8>) -> Result<Vec<u8>, CallError> {
        self.call_by(operation, payload, None)
    }

    /// [`WapcModule::call`], interrupted at `deadline` when that comes before the module's own
    /// timeout (the API server's deadline for the request, less the time to answer).
    pub fn call_by(
        &self,
        operation: &str,
        payload: Vec<u8>,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, CallError> {
        let now = Instant::now();
        let budget = deadline.map_or(self.limits.timeout, |deadline| {
            deadline
                .saturating_duration_since(now)
                .min(self.limits.timeout)
        });
        if budget.is_zero() {
            return Err(CallError::Timeout(budget));
        }
        let engine = self.pre.module().engine();
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::stdout(Arc::clone(&self.policy)))
            .stderr(GuestOutput::stderr(Arc::clone(&self.policy)))
            .build_p1();
        let mut store = Store::new(
            engine,
            HostState {
                wasi,
                limiter: Limiter::new(self.limits.memory_limit),
                wapc: Invocation::new(operation, payload),
                policy: Arc::clone(&self.policy),
                timer: CallTimer::new(now + budget),
                memory: self.memory,
            },
        );
        store.limiter(|state| &mut state.limiter);
        // One budget for the whole evaluation, start functions included. The first tick comes
        // at any moment within EPOCH_TICK: a call still running then is a long one, and hands
        // the worker's other tasks, and the I/O driver, to another worker (see
        // `hand_off_worker`). Calls shorter than a tick, nearly all of them, never get there.
        // Every tick after that is checked against the clock, so the ticker catching up after
        // a late wake-up cannot end a call before its budget. The callback captures nothing
        // (its state is in the store), so setting it allocates nothing on this per-request path.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            let timer = &mut store.data_mut().timer;
            if !timer.handed_off {
                timer.handed_off = true;
                super::epoch::hand_off_worker();
            }
            Ok(match ticks_left(timer.ends, Instant::now()) {
                0 => UpdateDeadline::Interrupt,
                ticks => UpdateDeadline::Continue(ticks),
            })
        });

        let instance = match self.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(error) if error.is::<Trap>() => return Err(self.classify(&store, error, budget)),
            Err(error) => return Err(CallError::Instantiate(error)),
        };
        for export in self.start_functions.iter() {
            let start = func(&instance, &mut store, export)?
                .typed::<(), ()>(&store)
                .map_err(CallError::Instantiate)?;
            if let Err(error) = start.call(&mut store, ()) {
                // A WASI command's `_start` ends with `proc_exit(0)`: that is a normal return.
                if !matches!(error.downcast_ref::<I32Exit>(), Some(I32Exit(0))) {
                    return Err(self.classify(&store, error, budget));
                }
            }
        }
        let guest_call = func(&instance, &mut store, &self.guest_call)?
            .typed::<(i32, i32), i32>(&store)
            .map_err(CallError::Instantiate)?;
        let (operation_len, payload_len) = store.data().wapc.lengths();
        let answer = guest_call
            .call(&mut store, (operation_len, payload_len))
            .map_err(|error| self.classify(&store, error, budget))?;
        store.data_mut().wapc.take_result(answer == 1)
    }

    fn classify(
        &self,
        store: &Store<HostState>,
        error: wasmtime::Error,
        budget: Duration,
    ) -> CallError {
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            CallError::Timeout(budget)
        } else if store.data().limiter.memory_refused {
            CallError::MemoryLimit {
                limit: self.limits.memory_limit,
                source: error,
            }
        } else {
            CallError::Trap(error)
        }
    }
}

/// The function `export` of `instance`, whose module [`WapcModule::new`] checked it is one.
fn func(
    instance: &wasmtime::Instance,
    store: &mut Store<HostState>,
    export: &ModuleExport,
) -> Result<wasmtime::Func, CallError> {
    match instance.get_module_export(store, export) {
        Some(Extern::Func(func)) => Ok(func),
        _ => Err(CallError::Instantiate(wasmtime::Error::msg(
            "an export checked at load is not a function",
        ))),
    }
}

/// The export `name` of `module`, if it is there with the type `expected` accepts.
fn check_export(
    module: &Module,
    name: &str,
    expected: impl FnOnce(&ExternType) -> bool,
) -> Result<ModuleExport, LoadError> {
    match (module.get_export(name), module.get_export_index(name)) {
        (Some(ty), Some(export)) if expected(&ty) => Ok(export),
        (Some(_), Some(_)) => Err(LoadError::NotWapc(format!(
            "export `{name}` has the wrong type"
        ))),
        _ => Err(LoadError::NotWapc(format!("it does not export `{name}`"))),
    }
}

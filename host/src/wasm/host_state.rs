//! [`HostState`]: what one `Store` owns, read by the waPC imports and the call in flight.

use std::sync::Arc;

use wasmtime_wasi::p1::WasiP1Ctx;

use super::limits::Limiter;
use super::wapc::Invocation;

/// What one store owns: WASI, the limiter and the waPC call in flight.
pub(crate) struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: Limiter,
    pub(crate) wapc: Invocation,
    pub(crate) policy: Arc<str>,
    /// Ticks of the call's budget left after the first: taken at the first tick (see
    /// `WapcModule::call_by`), so the second deadline interrupts the call.
    pub(crate) after_first_tick: Option<u64>,
}

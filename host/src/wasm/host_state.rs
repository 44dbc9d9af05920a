//! [`HostState`]: what one `Store` owns, and in it the waPC call in flight ([`Invocation`]) that
//! the waPC imports read and write.

use std::sync::Arc;
use std::time::Instant;

use wasmtime_wasi::p1::WasiP1Ctx;

use super::CallError;
use super::limits::Limiter;

/// What one store owns: WASI, the limiter and the waPC call in flight.
pub(crate) struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: Limiter,
    pub(crate) wapc: Invocation,
    pub(crate) policy: Arc<str>,
    /// When the call's budget ends, read at each epoch tick (see `WapcModule::call_by`).
    pub(crate) timer: CallTimer,
    /// The module's `memory` export, which every waPC host call reads or writes (found at load).
    pub(crate) memory: wasmtime::ModuleExport,
}

/// The clock side of a call's deadline.
pub(crate) struct CallTimer {
    pub(crate) ends: Instant,
    /// Whether the call has run past its first tick and handed off its worker.
    pub(crate) handed_off: bool,
}

impl CallTimer {
    pub(crate) fn new(ends: Instant) -> Self {
        Self {
            ends,
            handed_off: false,
        }
    }
}

/// The waPC call in flight in one store.
#[derive(Debug, Default)]
pub(crate) struct Invocation {
    pub(super) operation: String,
    pub(super) payload: Vec<u8>,
    pub(super) guest_response: Option<Vec<u8>>,
    pub(super) guest_error: Option<String>,
    pub(super) host_response: Option<Vec<u8>>,
    pub(super) host_error: Option<String>,
}

impl Invocation {
    pub(crate) fn new(operation: &str, payload: Vec<u8>) -> Self {
        Self {
            operation: operation.to_owned(),
            payload,
            ..Self::default()
        }
    }

    /// `__guest_call`'s arguments. Lengths past `i32::MAX` cannot be addressed by a wasm32 guest
    /// anyway; they saturate and the guest's copy fails with a trap.
    pub(crate) fn lengths(&self) -> (i32, i32) {
        let len = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        (len(self.operation.len()), len(self.payload.len()))
    }

    /// Turns what the guest reported into the call's result.
    pub(crate) fn take_result(&mut self, succeeded: bool) -> Result<Vec<u8>, CallError> {
        if succeeded {
            Ok(self.guest_response.take().unwrap_or_default())
        } else {
            Err(CallError::Guest(self.guest_error.take().unwrap_or_else(
                || {
                    format!(
                        "guest failed operation `{}` without an error message",
                        self.operation
                    )
                },
            )))
        }
    }
}

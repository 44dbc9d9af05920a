//! The host side of waPC: the nine `wapc` imports, which read and write the call in flight
//! (`host_state.rs`).
//!
//! A call goes: host stores (operation, payload) and calls `__guest_call(op_len, msg_len)`; the
//! guest pulls both with `__guest_request`, may call back with `__host_call` (answers fetched with
//! `__host_response[_len]` / `__host_error[_len]`), and ends with `__guest_response` or
//! `__guest_error`; `__guest_call` returns 1 on success, 0 on failure.

use wasmtime::{Caller, Extern, Linker, Memory};

use super::host_calls;
use super::host_state::{HostState, Invocation};

const MODULE: &str = "wapc";

/// Guest error text beyond this is cut; the message only goes to logs and status messages.
const MAX_ERROR_LEN: usize = 64 * 1024;

/// Registers the nine `wapc` imports.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "__guest_request", guest_request)?;
    linker.func_wrap(MODULE, "__guest_response", guest_response)?;
    linker.func_wrap(MODULE, "__guest_error", guest_error)?;
    linker.func_wrap(MODULE, "__host_call", host_call)?;
    linker.func_wrap(MODULE, "__host_response", host_response)?;
    linker.func_wrap(MODULE, "__host_response_len", host_response_len)?;
    linker.func_wrap(MODULE, "__host_error", host_error)?;
    linker.func_wrap(MODULE, "__host_error_len", host_error_len)?;
    linker.func_wrap(MODULE, "__console_log", console_log)?;
    Ok(())
}

/// `__guest_request(op_ptr, ptr)`: copies the operation name and the payload into the guest.
fn guest_request(mut caller: Caller<'_, HostState>, op_ptr: i32, ptr: i32) -> wasmtime::Result<()> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    write(data, op_ptr, state.wapc.operation.as_bytes())?;
    write(data, ptr, &state.wapc.payload)
}

/// `__guest_response(ptr, len)`: the guest's answer.
fn guest_response(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let bytes = read(&mut caller, ptr, len)?;
    caller.data_mut().wapc.guest_response = Some(bytes);
    Ok(())
}

/// `__guest_error(ptr, len)`: the guest's error message.
fn guest_error(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let bytes = read(&mut caller, ptr, len)?;
    caller.data_mut().wapc.guest_error = Some(lossy_truncated(&bytes));
    Ok(())
}

/// `__host_call(binding, namespace, operation, payload)`: a host capability; 1 when it
/// answered, 0 when it failed (the guest then reads `__host_error`).
#[expect(
    clippy::too_many_arguments,
    reason = "the waPC ABI passes four (pointer, length) pairs"
)]
fn host_call(
    mut caller: Caller<'_, HostState>,
    binding_ptr: i32,
    binding_len: i32,
    namespace_ptr: i32,
    namespace_len: i32,
    operation_ptr: i32,
    operation_len: i32,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    let binding = lossy_truncated(&read(&mut caller, binding_ptr, binding_len)?);
    let namespace = lossy_truncated(&read(&mut caller, namespace_ptr, namespace_len)?);
    let operation = lossy_truncated(&read(&mut caller, operation_ptr, operation_len)?);
    let payload = read(&mut caller, ptr, len)?;
    let policy = caller.data().policy.clone();
    let answer = host_calls::dispatch(&policy, &binding, &namespace, &operation, &payload);
    let state = &mut caller.data_mut().wapc;
    state.host_response = None;
    state.host_error = None;
    Ok(match answer {
        Ok(response) => {
            state.host_response = Some(response);
            1
        }
        Err(error) => {
            state.host_error = Some(error);
            0
        }
    })
}

/// `__host_response(ptr)`: copies the last host call's answer into the guest.
fn host_response(caller: Caller<'_, HostState>, ptr: i32) -> wasmtime::Result<()> {
    copy_out(caller, ptr, |call| call.host_response.as_deref())
}

/// `__host_response_len()`.
fn host_response_len(caller: Caller<'_, HostState>) -> i32 {
    saturate(
        caller
            .data()
            .wapc
            .host_response
            .as_ref()
            .map_or(0, Vec::len),
    )
}

/// `__host_error(ptr)`: copies the last host call's error into the guest.
fn host_error(caller: Caller<'_, HostState>, ptr: i32) -> wasmtime::Result<()> {
    copy_out(caller, ptr, |call| {
        call.host_error.as_deref().map(str::as_bytes)
    })
}

/// `__host_error_len()`.
fn host_error_len(caller: Caller<'_, HostState>) -> i32 {
    saturate(
        caller
            .data()
            .wapc
            .host_error
            .as_ref()
            .map_or(0, String::len),
    )
}

/// Copies what `pick` chooses from the call in flight into guest memory at `ptr`; nothing when
/// there is nothing to copy.
fn copy_out(
    mut caller: Caller<'_, HostState>,
    ptr: i32,
    pick: impl FnOnce(&Invocation) -> Option<&[u8]>,
) -> wasmtime::Result<()> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    match pick(&state.wapc) {
        Some(bytes) => write(data, ptr, bytes),
        None => Ok(()),
    }
}

/// `__console_log(ptr, len)`: a line for the log.
fn console_log(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let text = lossy_truncated(&read(&mut caller, ptr, len)?);
    tracing::info!(policy = %caller.data().policy, message = %text, "policy console log");
    Ok(())
}

fn memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<Memory> {
    let export = caller.data().memory;
    match caller.get_module_export(&export) {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(wasmtime::Error::msg(
            "waPC guest does not export its memory",
        )),
    }
}

fn range(ptr: i32, len: usize, memory_len: usize) -> wasmtime::Result<std::ops::Range<usize>> {
    // Pointers are unsigned 32-bit offsets that wasm passes as i32.
    let start = ptr as u32 as usize;
    start
        .checked_add(len)
        .filter(|end| *end <= memory_len)
        .map(|end| start..end)
        .ok_or_else(|| wasmtime::Error::msg("waPC guest passed a buffer outside its memory"))
}

fn write(data: &mut [u8], ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let range = range(ptr, bytes.len(), data.len())?;
    data[range].copy_from_slice(bytes);
    Ok(())
}

fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    let data = memory.data(&caller);
    let range = range(ptr, len as u32 as usize, data.len())?;
    Ok(data[range].to_vec())
}

fn saturate(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

fn lossy_truncated(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_ERROR_LEN)];
    String::from_utf8_lossy(bytes).into_owned()
}

//! A small waPC host on wasmtime for driving `policy.wasm` as Kubewarden's policy-server does:
//! instantiate, `wapc_init`, then `__guest_call` with the operation name and payload.
//!
//! Stop-gap until the host crate's runtime can be reused (see the host issue); it implements
//! only what a Kubewarden guest needs: the guest-call half of waPC and WASI preview 1 for the
//! Rust standard library. Host calls answer with an error.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde_json::Value;
use wasmtime::{Caller, Engine, Extern, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

/// The repository root, where `scripts/build-policy` leaves `policy.wasm`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `policy.wasm`, compiled once per test binary.
pub static POLICY: LazyLock<Guest> = LazyLock::new(|| {
    let path = repo_root().join("policy.wasm");
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-policy (or `just policy`) before these tests",
        path.display()
    );
    if let Some(newer) = newer_source(&path) {
        panic!(
            "{} is older than {}: run scripts/build-policy (or `just policy`) so these tests see the current code",
            path.display(),
            newer.display()
        );
    }
    Guest::load(&path)
});

/// A guest source file changed after `wasm` was built, if any.
fn newer_source(wasm: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(wasm).and_then(|m| m.modified()).ok()?;
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > built)
            {
                return Some(path);
            }
        }
    }
    None
}

pub struct Guest {
    engine: Engine,
    module: Module,
    linker: Linker<State>,
}

struct State {
    wasi: WasiP1Ctx,
    operation: Vec<u8>,
    payload: Vec<u8>,
    response: Option<Vec<u8>>,
    error: Option<Vec<u8>>,
    host_error: Vec<u8>,
}

impl Guest {
    fn load(path: &Path) -> Self {
        let engine = Engine::default();
        let module = Module::from_file(&engine, path).expect("policy.wasm compiles");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi)
            .expect("WASI links");
        add_wapc(&mut linker);
        Self {
            engine,
            module,
            linker,
        }
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    /// One waPC call on a fresh instance: `Ok(response)` or `Err(guest error text)`.
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let state = State {
            wasi: WasiCtxBuilder::new().inherit_stderr().build_p1(),
            operation: operation.as_bytes().to_vec(),
            payload: payload.to_vec(),
            response: None,
            error: None,
            host_error: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let instance = self
            .linker
            .instantiate(&mut store, &self.module)
            .expect("policy.wasm instantiates");
        // A wasip1 reactor initialises its runtime in `_initialize`; waPC then needs `wapc_init`.
        for init in ["_initialize", "_start", "wapc_init"] {
            if let Ok(f) = instance.get_typed_func::<(), ()>(&mut store, init) {
                f.call(&mut store, ())
                    .unwrap_or_else(|e| panic!("{init} traps: {e:?}"));
            }
        }
        let guest_call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .expect("policy.wasm exports __guest_call");
        let len = |n: usize| i32::try_from(n).expect("payload fits in wasm32");
        let ok = guest_call
            .call(&mut store, (len(operation.len()), len(payload.len())))
            .expect("__guest_call does not trap");
        let state = store.into_data();
        if ok == 1 {
            Ok(state.response.expect("a successful call sets a response"))
        } else {
            Err(String::from_utf8_lossy(&state.error.unwrap_or_default()).into_owned())
        }
    }

    /// Calls `validate` and decodes the JSON response.
    pub fn validate(&self, settings: &Value, request: &Value) -> Value {
        let payload = serde_json::json!({"settings": settings, "request": request});
        let response = self
            .call(
                "validate",
                &serde_json::to_vec(&payload).expect("encodable"),
            )
            .unwrap_or_else(|e| panic!("validate failed: {e}"));
        serde_json::from_slice(&response).expect("validate answers JSON")
    }
}

fn memory(caller: &mut Caller<'_, State>) -> wasmtime::Memory {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => memory,
        _ => panic!("policy.wasm exports its memory"),
    }
}

fn read(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> Vec<u8> {
    let memory = memory(caller);
    let start = usize::try_from(ptr).expect("pointer");
    let end = start + usize::try_from(len).expect("length");
    memory.data(&caller)[start..end].to_vec()
}

fn write(caller: &mut Caller<'_, State>, ptr: i32, bytes: &[u8]) {
    let memory = memory(caller);
    memory
        .write(caller, usize::try_from(ptr).expect("pointer"), bytes)
        .expect("guest buffer in bounds");
}

/// The `wapc` host module, per the waPC protocol (wapc.io, wapc-guest's `protocol.rs`).
fn add_wapc(linker: &mut Linker<State>) {
    linker
        .func_wrap(
            "wapc",
            "__guest_request",
            |mut caller: Caller<'_, State>, op_ptr: i32, ptr: i32| {
                let operation = caller.data().operation.clone();
                let payload = caller.data().payload.clone();
                write(&mut caller, op_ptr, &operation);
                write(&mut caller, ptr, &payload);
            },
        )
        .and_then(|l| {
            l.func_wrap(
                "wapc",
                "__guest_response",
                |mut caller: Caller<'_, State>, ptr: i32, len: i32| {
                    let bytes = read(&mut caller, ptr, len);
                    caller.data_mut().response = Some(bytes);
                },
            )
        })
        .and_then(|l| {
            l.func_wrap(
                "wapc",
                "__guest_error",
                |mut caller: Caller<'_, State>, ptr: i32, len: i32| {
                    let bytes = read(&mut caller, ptr, len);
                    caller.data_mut().error = Some(bytes);
                },
            )
        })
        .and_then(|l| {
            #[allow(clippy::too_many_arguments, reason = "the waPC import's signature")]
            l.func_wrap(
                "wapc",
                "__host_call",
                |mut caller: Caller<'_, State>,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i32| {
                    caller.data_mut().host_error =
                        b"the test harness answers no host calls".to_vec();
                    0i32
                },
            )
        })
        .and_then(|l| l.func_wrap("wapc", "__host_response", |_: Caller<'_, State>, _: i32| {}))
        .and_then(|l| l.func_wrap("wapc", "__host_response_len", |_: Caller<'_, State>| 0i32))
        .and_then(|l| {
            l.func_wrap("wapc", "__host_error_len", |caller: Caller<'_, State>| {
                i32::try_from(caller.data().host_error.len()).expect("short")
            })
        })
        .and_then(|l| {
            l.func_wrap(
                "wapc",
                "__host_error",
                |mut caller: Caller<'_, State>, ptr: i32| {
                    let bytes = caller.data().host_error.clone();
                    write(&mut caller, ptr, &bytes);
                },
            )
        })
        .and_then(|l| {
            l.func_wrap(
                "wapc",
                "__console_log",
                |mut caller: Caller<'_, State>, ptr: i32, len: i32| {
                    let bytes = read(&mut caller, ptr, len);
                    eprintln!("guest: {}", String::from_utf8_lossy(&bytes));
                },
            )
        })
        .expect("waPC imports link");
}

/// An AdmissionReview fixture from `fixtures/admission/` or `policy/tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let shared = repo_root().join("fixtures/admission").join(name);
    let path = if shared.exists() {
        shared
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An expected patch from `policy/tests/expected/`.
pub fn expected_patch(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The JSON patch from `object` to `mutated`, as the host (and policy-server) derive it.
pub fn patch(object: &Value, mutated: &Value) -> Value {
    serde_json::to_value(json_patch::diff(object, mutated)).expect("a patch serialises")
}

/// Kubewarden's evaluator drops `null` members before the guest sees the request.
pub fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

//! The exports a guest runs before its waPC call: `_initialize` (a WASI reactor), `_start` (a
//! WASI command, as TinyGo builds them, which registers its handlers in `main` and then calls
//! `proc_exit(0)`) and `wapc_init`, each once per call, in that order; any other exit fails the
//! call. The module finds them once at load, by index, and every call runs them in a fresh
//! instance.

mod common;

use pullthrough::wasm::CallError;

/// Each start function checks that the ones before it ran and counts itself in `$order`;
/// `__guest_call` answers `"ok"` only after all three. `_start` exits with `EXIT_CODE`.
const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\"ok\"")
  (global $order (mut i32) (i32.const 0))
  (func $step (param $expected i32)
    (if (i32.ne (global.get $order) (local.get $expected)) (then unreachable))
    (global.set $order (i32.add (local.get $expected) (i32.const 1))))
  (func (export "_initialize") (call $step (i32.const 0)))
  (func (export "_start") (call $step (i32.const 1)) (call $proc_exit (i32.const EXIT_CODE)))
  (func (export "wapc_init") (call $step (i32.const 2)))
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $step (i32.const 3))
    (call $guest_response (i32.const 0) (i32.const 4))
    (i32.const 1))
)
"#;

fn load(exit_code: u32) -> pullthrough::wasm::WapcModule {
    let runtime = common::runtime();
    let wat = GUEST.replace("EXIT_CODE", &exit_code.to_string());
    runtime
        .load(
            "start-functions",
            &wat::parse_str(&wat).expect("valid wat"),
            runtime.default_limits(),
        )
        .expect("loads")
}

#[test]
fn start_functions_run_in_order_in_every_call_and_exit_zero_is_a_return() {
    let module = load(0);
    // Twice: the second call's instance is fresh, so it runs them all again from the start.
    for _ in 0..2 {
        let answer = module
            .call("validate", b"{}".to_vec())
            .expect("call succeeds");
        assert_eq!(answer, br#""ok""#);
    }
}

#[test]
fn a_start_function_that_exits_non_zero_fails_the_call() {
    let module = load(3);
    match module.call("validate", b"{}".to_vec()) {
        Err(CallError::Trap(error)) => {
            let text = format!("{error:?}");
            assert!(text.contains("Exited with i32 exit status 3"), "{text}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

//! What a guest sees of WASI preview 1: no environment, no arguments, no preopened directories;
//! and what it writes to stdout/stderr lands in our logs, not on the process's stdout.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Captures formatted log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `validate` writes "hello from the guest\n" to fd 1 and "oops\n" to fd 2, then answers
/// `{"accepted":<env+args+preopen ok>}`: true only if the environment and arguments are empty and
/// fd 3 (the first preopen slot) is not a directory.
const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello from the guest\n")
  (data (i32.const 32) "oops\n")
  (data (i32.const 64) "{\"accepted\":true}")
  (data (i32.const 96) "{\"accepted\":false}")
  (data (i32.const 128) "\"v1\"")
  (data (i32.const 160) "{\"valid\":true}")
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (local $sandboxed i32)
    (call $guest_request (i32.const 1024) (i32.const 2048))
    ;; protocol_version (16 bytes) and validate_settings (17 bytes) are told apart by length.
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $guest_response (i32.const 128) (i32.const 4)) (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then (call $guest_response (i32.const 160) (i32.const 14)) (return (i32.const 1))))
    ;; iovec at 512: stdout text
    (i32.store (i32.const 512) (i32.const 0))
    (i32.store (i32.const 516) (i32.const 21))
    (drop (call $fd_write (i32.const 1) (i32.const 512) (i32.const 1) (i32.const 600)))
    (i32.store (i32.const 512) (i32.const 32))
    (i32.store (i32.const 516) (i32.const 5))
    (drop (call $fd_write (i32.const 2) (i32.const 512) (i32.const 1) (i32.const 600)))
    (drop (call $environ_sizes_get (i32.const 700) (i32.const 704)))
    (drop (call $args_sizes_get (i32.const 708) (i32.const 712)))
    (local.set $sandboxed
      (i32.and
        (i32.and (i32.eqz (i32.load (i32.const 700))) (i32.eqz (i32.load (i32.const 708))))
        ;; errno 8 = EBADF: nothing is preopened at fd 3.
        (i32.eq (call $fd_prestat_get (i32.const 3) (i32.const 716)) (i32.const 8))))
    (if (local.get $sandboxed)
      (then (call $guest_response (i32.const 64) (i32.const 17)))
      (else (call $guest_response (i32.const 96) (i32.const 18))))
    (i32.const 1))
)
"#;

#[test]
fn guest_sees_no_environment_and_its_output_goes_to_the_logs() {
    let runtime = common::runtime();
    let module = runtime
        .load(
            "sandboxed",
            &wat::parse_str(GUEST).expect("valid wat"),
            runtime.default_limits(),
        )
        .expect("loads");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let answer =
        tracing::subscriber::with_default(subscriber, || module.call("validate", b"{}".to_vec()))
            .expect("call succeeds");
    assert_eq!(answer, br#"{"accepted":true}"#);
    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("UTF-8");
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(
        lines,
        [
            // The span is wasmtime-wasi's, around each WASI call.
            " INFO fd_write{fd=Fd(1) ciovs=*guest 0x200/1}: pullthrough::wasm::guest_log: hello from the guest policy=sandboxed stream=\"stdout\"",
            " INFO fd_write{fd=Fd(2) ciovs=*guest 0x200/1}: pullthrough::wasm::guest_log: oops policy=sandboxed stream=\"stderr\"",
        ]
    );
}

//! waPC guests written in WebAssembly text, independent of the Rust SDK: a tiny but complete
//! implementation of the guest side of the protocol, with the `validate` body swapped per test.

/// `{"accepted":true}`.
pub const ACCEPT: &str = r#"(call $respond_text (i32.const 256) (i32.const 17))"#;

/// Spins forever.
pub const LOOP: &str = "(loop $forever (br $forever))";

/// Grows memory 1 MiB at a time until refused, then aborts like an allocator would.
pub const MEMORY_BOMB: &str =
    "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable";

/// Traps at once.
pub const TRAP: &str = "unreachable";

/// Answers `validate` with a guest error.
pub const GUEST_ERROR: &str =
    "(call $guest_error (i32.const 224) (i32.const 24)) (return (i32.const 0))";

/// Logs through `kubewarden/tracing/log`, then calls a capability the host does not serve and
/// denies the request with the host's error text as the message.
pub const HOST_CALLS: &str = r#"
    (drop (call $host_call (i32.const 320) (i32.const 10) (i32.const 336) (i32.const 7)
                           (i32.const 344) (i32.const 3) (i32.const 352) (i32.const 38)))
    (if (call $host_call (i32.const 320) (i32.const 10) (i32.const 400) (i32.const 3)
                         (i32.const 408) (i32.const 9) (i32.const 0) (i32.const 0))
      (then unreachable))
    (call $host_error (i32.const 2048))
    (i32.store16 (i32.add (i32.const 2048) (call $host_error_len)) (i32.const 0x7d22))
    (call $guest_response (i32.const 2019)
      (i32.add (call $host_error_len) (i32.const 31)))
"#;

/// Answers with a fixed mutated Pod whose only container image is `mirror.example.com/nginx`.
pub const MUTATE: &str = r#"(call $respond_text (i32.const 512) (i32.const 121))"#;

/// `validate_settings` accepting anything.
pub const SETTINGS_VALID: &str = r#"(call $respond_text (i32.const 128) (i32.const 14))"#;

/// `validate_settings` refusing with a message.
pub const SETTINGS_INVALID: &str = r#"(call $respond_text (i32.const 160) (i32.const 46))"#;

/// A guest whose `validate` answers `{"accepted":false,"message":"version <version>"}`, so each
/// answer names the module version that produced it.
pub fn versioned(version: u32) -> Vec<u8> {
    let text = format!(r#"{{"accepted":false,"message":"version {version}"}}"#);
    let body = format!(
        "(call $respond_text (i32.const 768) (i32.const {}))",
        text.len()
    );
    build(&body, SETTINGS_VALID, &[(768, &text)])
}

/// Like [`versioned`], after spinning through `iterations` loop turns first.
pub fn slow_versioned(version: u32, iterations: u32) -> Vec<u8> {
    let text = format!(r#"{{"accepted":false,"message":"version {version}"}}"#);
    let body = format!(
        "(local.set $op_len (i32.const {iterations}))
         (loop $spin (local.set $op_len (i32.sub (local.get $op_len) (i32.const 1)))
                     (br_if $spin (i32.ne (local.get $op_len) (i32.const 0))))
         (call $respond_text (i32.const 768) (i32.const {}))",
        text.len()
    );
    build(&body, SETTINGS_VALID, &[(768, &text)])
}

/// A waPC guest with the given `validate` and `validate_settings` bodies.
pub fn guest(validate: &str, validate_settings: &str) -> Vec<u8> {
    build(validate, validate_settings, &[])
}

fn build(validate: &str, validate_settings: &str, extra_data: &[(u32, &str)]) -> Vec<u8> {
    let extra: String = extra_data
        .iter()
        .map(|(offset, text)| format!("(data (i32.const {offset}) \"{}\")\n", escape(text)))
        .collect();
    let text = TEMPLATE
        .replace("{VALIDATE}", validate)
        .replace("{VALIDATE_SETTINGS}", validate_settings)
        .replace("{EXTRA_DATA}", &extra);
    wat::parse_str(&text).expect("test guest is valid WAT")
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

const TEMPLATE: &str = r#"
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 4)

  (data (i32.const 0) "protocol_version")
  (data (i32.const 32) "validate_settings")
  (data (i32.const 64) "validate")
  (data (i32.const 96) "\"v1\"")
  (data (i32.const 128) "{\"valid\":true}")
  (data (i32.const 160) "{\"valid\":false,\"message\":\"mirror is required\"}")
  (data (i32.const 224) "validate failed on input")
  (data (i32.const 256) "{\"accepted\":true}")
  (data (i32.const 288) "unknown operation")
  (data (i32.const 320) "kubewarden")
  (data (i32.const 336) "tracing")
  (data (i32.const 344) "log")
  (data (i32.const 352) "{\"level\":\"info\",\"message\":\"wat guest\"}")
  (data (i32.const 400) "oci")
  (data (i32.const 408) "v1/verify")
  (data (i32.const 2019) "{\"accepted\":false,\"message\":\"")
  (data (i32.const 512) "{\"accepted\":true,\"mutated_object\":{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"mirror.example.com/nginx\"}]}}}")
  {EXTRA_DATA}

  ;; Set by wapc_init: answering before it ran would be a host bug.
  (global $initialised (mut i32) (i32.const 0))
  (func (export "wapc_init") (global.set $initialised (i32.const 1)))

  (func $respond_text (param $ptr i32) (param $len i32)
    (call $guest_response (local.get $ptr) (local.get $len)))

  ;; Is the operation (copied at 1024, $op_len bytes) equal to the $len bytes at $name?
  (func $is_op (param $op_len i32) (param $name i32) (param $len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $op_len) (local.get $len)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (i32.const 1024) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $name) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (if (i32.eqz (global.get $initialised)) (then unreachable))
    (call $guest_request (i32.const 1024) (i32.const 16384))
    (if (call $is_op (local.get $op_len) (i32.const 0) (i32.const 16))
      (then (call $respond_text (i32.const 96) (i32.const 4)) (return (i32.const 1))))
    (if (call $is_op (local.get $op_len) (i32.const 32) (i32.const 17))
      (then {VALIDATE_SETTINGS} (return (i32.const 1))))
    (if (call $is_op (local.get $op_len) (i32.const 64) (i32.const 8))
      (then {VALIDATE} (return (i32.const 1))))
    (call $guest_error (i32.const 288) (i32.const 17))
    (i32.const 0))
)
"#;

//! `pullthrough compile-module`, the child `serve` compiles modules in, run as `serve` runs it:
//! a module's artifact on stdout, and a module that does not compile told apart by its exit
//! status, with nothing printed (the server compiles it again to say why).

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn compile_module(wasm: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pullthrough"))
        .args([
            "compile-module",
            "--max-concurrency",
            "2",
            "--policy-memory-mib",
            "16",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pullthrough runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(wasm)
        .expect("module written");
    child.wait_with_output().expect("exits")
}

#[test]
fn a_module_comes_back_compiled() {
    let wasm = wat::parse_str(r#"(module (func (export "answer") (result i32) i32.const 42))"#)
        .expect("valid wat");
    let output = compile_module(&wasm);
    assert!(output.status.success(), "{output:?}");
    // wasmtime's artifacts are ELF files.
    assert!(output.stdout.starts_with(b"\x7fELF"), "{output:?}");
}

#[test]
fn a_module_that_does_not_compile_exits_3_and_prints_nothing() {
    let output = compile_module(b"\0asm\x01\0\0\0\x7f");
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "{output:?}"
    );
}

//! Embeds the repository's `policy.wasm` (built by `scripts/build-policy`) into the binary.
//! `PULLTHROUGH_POLICY_WASM` points at another file.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=PULLTHROUGH_POLICY_WASM");
    let path = match std::env::var_os("PULLTHROUGH_POLICY_WASM") {
        Some(path) => PathBuf::from(path),
        None => {
            let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .unwrap_or_default();
            manifest_dir.join("..").join("policy.wasm")
        }
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let Ok(path) = path.canonicalize() else {
        // A build script reports failure by exiting non-zero after printing its reason.
        eprintln!(
            "error: policy.wasm not found at {}: build it with `scripts/build-policy` (or `just policy`)",
            path.display()
        );
        std::process::exit(1);
    };
    println!(
        "cargo::rustc-env=PULLTHROUGH_EMBEDDED_POLICY_WASM={}",
        path.display()
    );
}

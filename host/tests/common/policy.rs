//! The repository's `policy.wasm` as the host embeds it: a guard against testing a stale build,
//! and the module itself for the raw waPC calls the registry only makes at load time.

use std::path::{Path, PathBuf};

use pullthrough::policies::{EMBEDDED_POLICY_NAME, EMBEDDED_POLICY_WASM};
use pullthrough::wasm::WapcModule;

/// Panics when the embedded `policy.wasm` is older than a source file of the guest crate.
/// `host/build.rs` embeds whatever file is there and cannot build the guest itself (another
/// target), so without this the policy tests would pass or fail on yesterday's code.
pub fn assert_policy_wasm_is_current() {
    let wasm = Path::new(env!("PULLTHROUGH_EMBEDDED_POLICY_WASM"));
    let built = std::fs::metadata(wasm)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    if let Some(newer) = newer_file(&super::repo_root().join("policy/src"), built) {
        panic!(
            "{} is older than {}: run scripts/build-policy (or `just policy`) so these tests see the current code",
            wasm.display(),
            newer.display()
        );
    }
}

/// A file under `dir` modified after `time`, if any.
fn newer_file(dir: &Path, time: std::time::SystemTime) -> Option<PathBuf> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > time)
            {
                return Some(path);
            }
        }
    }
    None
}

/// The embedded `policy.wasm`, compiled and linked by the shared test runtime. Blocking.
pub fn embedded_module() -> WapcModule {
    assert_policy_wasm_is_current();
    let runtime = super::runtime();
    runtime
        .load(
            EMBEDDED_POLICY_NAME,
            EMBEDDED_POLICY_WASM,
            runtime.default_limits(),
        )
        .expect("policy.wasm loads")
}

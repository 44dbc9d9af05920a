//! The inputs of the reference tables, kept in `fixtures/references/` for what cannot read Rust
//! tests: the cluster suite puts every one through the API server with the generated admission
//! policy (`e2e-cluster/75-admission-policy.bats`), and the host's CEL grammar tests classify
//! them. A table test compares its inputs with its file, so the two cannot drift apart;
//! `PULLTHROUGH_WRITE_LISTS=1 cargo test -p pullthrough-policy` rewrites the files.
//! (Also compiled into `tests/fuzz_regressions.rs` through `#[path]`.)

use std::path::PathBuf;

use serde_json::Value;

/// Checks `fixtures/references/NAME` holds `listed` (as JSON), or writes it there when
/// `PULLTHROUGH_WRITE_LISTS` is set.
pub fn check(name: &str, listed: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/references")
        .join(name);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(listed).expect("a JSON value serialises")
    );
    if std::env::var_os("PULLTHROUGH_WRITE_LISTS").is_some() {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{} does not list this table's inputs; rewrite it with \
         `PULLTHROUGH_WRITE_LISTS=1 cargo test -p pullthrough-policy`",
        path.display()
    );
}

/// The distinct strings of `inputs`, in the order they first appear.
pub fn distinct<'a>(inputs: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for input in inputs {
        if !seen.contains(&input) {
            seen.push(input);
        }
    }
    seen
}

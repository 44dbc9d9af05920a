//! Helpers shared by the engine's integration tests.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

pub mod guests;
pub mod policy;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use pullthrough::admission::AdmissionRequest;
use pullthrough::policies::{PolicyRegistry, PolicySource};
use pullthrough::wasm::{Runtime, RuntimeConfig};
use serde_json::{Value, json};

/// Memory cap of the shared test runtime: small, so the memory bomb hits it fast.
pub const TEST_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// One runtime per test binary, as in production one per process.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    Runtime::new(RuntimeConfig {
        max_concurrency: 4,
        // One call inline, the rest on the blocking pool: tests exercise both.
        inline_calls: 1,
        timeout: Duration::from_secs(2),
        memory_limit: TEST_MEMORY_LIMIT,
        pooling: true,
        // Shared by every test binary: debug-built Cranelift takes seconds per policy.wasm.
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache")),
        // The test binary is not pullthrough: it has no compile-module subcommand.
        compile_in_child: false,
    })
    .expect("test runtime starts")
});

pub fn runtime() -> Runtime {
    RUNTIME.clone()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Reads `fixtures/admission/<name>`.
pub fn fixture(name: &str) -> Value {
    let path = repo_root().join("fixtures/admission").join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).expect("fixture is JSON")
}

/// Every AdmissionReview fixture file name, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("fixtures/admission"))
        .expect("fixtures directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".json").then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// A CREATE request for a one-container Pod running `image`.
pub fn pod_request(uid: &str, image: &str) -> AdmissionRequest {
    AdmissionRequest::from_value(json!({
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "subResource": null,
        "object": {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": image}]}}
    }))
    .expect("valid request")
}

/// Writes `bytes` to `path` atomically (temp file + rename), the way deployment tools replace
/// files.
pub fn replace_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename into place");
}

/// Polls `condition` every 20 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// Sends one request through `app` without a socket: the status and the body.
pub async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> (axum::http::StatusCode, Vec<u8>) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, bytes)
}

/// Writes each `(name, module, extra yaml)` into `dir` and a policies file naming them.
pub fn policies_file(dir: &Path, policies: &[(&str, Vec<u8>, &str)]) -> PathBuf {
    let mut yaml = String::new();
    for (name, module, extra) in policies {
        std::fs::write(dir.join(format!("{name}.wasm")), module).expect("write module");
        yaml.push_str(&format!("{name}:\n  module: {name}.wasm\n{extra}"));
    }
    let path = dir.join("policies.yml");
    std::fs::write(&path, yaml).expect("write policies file");
    path
}

pub async fn load_on(
    runtime: Runtime,
    policies: &[(&str, Vec<u8>, &str)],
) -> (tempfile::TempDir, PolicyRegistry) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = policies_file(dir.path(), policies);
    let registry = PolicyRegistry::load(runtime, PolicySource::File(path))
        .await
        .expect("policies load");
    (dir, registry)
}

/// [`load_on`] the shared test runtime.
pub async fn load(policies: &[(&str, Vec<u8>, &str)]) -> (tempfile::TempDir, PolicyRegistry) {
    load_on(runtime(), policies).await
}

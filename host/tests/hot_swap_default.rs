//! `POST /mutate` after a policies-file swap serves what the new file's first entry says, as a
//! restart would: renamed, removed or reordered first entries, a first entry that cannot load
//! (readiness fails), and the log lines a swap leaves.

mod common;

use std::path::Path;

use axum::http::StatusCode;
use common::guests;
use pullthrough::policies::{PolicyRegistry, PolicySource};
use pullthrough::server::{AppState, FailureMode, metrics_router, router};
use serde_json::{Value, json};

/// Writes `versioned(N).wasm` for each version and the policies file `entries` (name, version).
fn write_file(dir: &Path, entries: &[(&str, u32)]) {
    let mut yaml = String::new();
    for (name, version) in entries {
        let module = format!("v{version}.wasm");
        std::fs::write(dir.join(&module), guests::versioned(*version)).expect("write module");
        yaml.push_str(&format!("{name}:\n  module: {module}\n"));
    }
    std::fs::write(dir.join("policies.yml"), yaml).expect("write policies file");
}

async fn load(dir: &Path) -> PolicyRegistry {
    PolicyRegistry::load(
        common::runtime(),
        PolicySource::File(dir.join("policies.yml")),
    )
    .await
    .expect("policies load")
}

async fn send(app: &axum::Router, method: &str, uri: &str) -> (StatusCode, String) {
    let mut review = common::fixture("deployment.json");
    review["request"]["uid"] = json!("swap");
    let body = serde_json::to_vec(&review).expect("JSON");
    let (status, body) = common::call(app, method, uri, body).await;
    (status, String::from_utf8(body).expect("UTF-8"))
}

/// What `POST /mutate` answers: the status, and the versioned guest's message or the server's.
async fn mutate(app: &axum::Router) -> (StatusCode, String) {
    let (status, body) = send(app, "POST", "/mutate").await;
    let message = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|review| {
            let response = &review["response"];
            response["status"]["message"]
                .as_str()
                .or_else(|| response["warnings"][0].as_str())
                .map(str::to_owned)
        })
        .unwrap_or(body);
    (status, message)
}

async fn readyz(app: &axum::Router) -> (StatusCode, String) {
    send(app, "GET", "/readyz").await
}

async fn metric_lines(state: &AppState, policy: &str) -> Vec<String> {
    let (_, text) = send(&metrics_router(state.clone()), "GET", "/metrics").await;
    text.lines()
        .filter(|line| {
            line.starts_with("pullthrough_admission_requests_total{")
                && line.contains(&format!("policy=\"{policy}\""))
                && !line.ends_with(" 0")
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn mutate_follows_the_first_entry_through_rename_reorder_and_removal() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_file(dir.path(), &[("first", 1), ("second", 2)]);
    let registry = load(dir.path()).await;
    let state = AppState::new(registry.clone(), FailureMode::Open);
    let app = router(state.clone());
    assert_eq!(mutate(&app).await, (StatusCode::OK, "version 1".to_owned()));

    // Renamed: served under its new name, not a 404 for the old one.
    write_file(dir.path(), &[("renamed", 3), ("second", 2)]);
    let report = registry.reload().await;
    assert_eq!(
        report.default_changed,
        Some(("first".to_owned(), "renamed".to_owned()))
    );
    assert_eq!(mutate(&app).await, (StatusCode::OK, "version 3".to_owned()));
    assert_eq!(readyz(&app).await, (StatusCode::OK, "ready\n".to_owned()));
    assert_eq!(
        metric_lines(&state, "renamed").await,
        ["pullthrough_admission_requests_total{policy=\"renamed\",outcome=\"denied\"} 1"]
    );
    assert!(metric_lines(&state, "unknown").await.is_empty());

    // Reordered: the new first entry, as a restart would serve.
    write_file(dir.path(), &[("second", 2), ("renamed", 3)]);
    let report = registry.reload().await;
    assert_eq!(
        report.default_changed,
        Some(("renamed".to_owned(), "second".to_owned()))
    );
    assert_eq!(mutate(&app).await, (StatusCode::OK, "version 2".to_owned()));

    // Removed: the one left is the first entry.
    write_file(dir.path(), &[("renamed", 3)]);
    registry.reload().await;
    assert_eq!(mutate(&app).await, (StatusCode::OK, "version 3".to_owned()));
    // The named route follows the file too.
    assert_eq!(
        send(&app, "POST", "/validate/second").await,
        (
            StatusCode::NOT_FOUND,
            "no policy named \"second\"\n".to_owned()
        )
    );
}

#[tokio::test]
async fn a_first_entry_that_cannot_load_fails_readiness() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_file(dir.path(), &[("first", 1)]);
    let registry = load(dir.path()).await;
    let app = router(AppState::new(registry.clone(), FailureMode::Open));

    // A new first entry whose module is not there (yet): /mutate cannot evaluate it, and
    // readiness says so instead of "ready".
    std::fs::write(
        dir.path().join("policies.yml"),
        "later:\n  module: later.wasm\nfirst:\n  module: v1.wasm\n",
    )
    .expect("rewrite");
    let report = registry.reload().await;
    assert_eq!(
        report.default_changed,
        Some(("first".to_owned(), "later".to_owned()))
    );
    assert_eq!(
        readyz(&app).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "policies not loaded\n".to_owned()
        )
    );
    assert_eq!(
        mutate(&app).await,
        (
            StatusCode::OK,
            "pullthrough: policy \"later\" failed (not_loaded); admitted unchanged".to_owned()
        )
    );

    // Once its module appears, it serves and the replica is ready again.
    std::fs::write(dir.path().join("later.wasm"), guests::versioned(7)).expect("write");
    registry.reload().await;
    assert_eq!(readyz(&app).await, (StatusCode::OK, "ready\n".to_owned()));
    assert_eq!(mutate(&app).await, (StatusCode::OK, "version 7".to_owned()));
}

#[tokio::test]
async fn a_swap_says_what_it_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_file(dir.path(), &[("first", 1)]);
    let registry = load(dir.path()).await;

    // The same module with other settings: the sha256 stays, the report says what moved (the
    // log line says the same; e2e-tests/logs.bats reads it).
    std::fs::write(
        dir.path().join("policies.yml"),
        "first:\n  module: v1.wasm\n  settings:\n    mirror: a.example.com\n",
    )
    .expect("rewrite");
    let report = registry.reload().await;
    assert_eq!(report.swapped, ["first".to_owned()]);
    assert_eq!(
        report.changes,
        [("first".to_owned(), "settings (mirror)".to_owned())]
    );
    assert_eq!(report.default_changed, None);

    write_file(dir.path(), &[("second", 2), ("first", 1)]);
    let report = registry.reload().await;
    assert_eq!(
        report.changes,
        [
            ("second".to_owned(), "first version".to_owned()),
            // Its settings are gone again.
            ("first".to_owned(), "settings (mirror)".to_owned()),
        ]
    );
    assert_eq!(
        report.default_changed,
        Some(("first".to_owned(), "second".to_owned()))
    );
}

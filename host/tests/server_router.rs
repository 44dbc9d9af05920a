//! The axum router driven without a socket: verdicts, fail-open and fail-closed answers to
//! broken policies, health, readiness and metrics. The e2e suite covers the same over TLS.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::guests;
use http_body_util::BodyExt;
use pullthrough::policies::{PolicyRegistry, PolicySource};
use pullthrough::server::{AppState, FailureMode, metrics_router, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A registry with three policies from hand-written guests: `accept` (the default), `trap` and
/// `loop` (runs past a 200 ms deadline).
async fn registry(dir: &std::path::Path) -> PolicyRegistry {
    for (name, body) in [
        ("accept", guests::ACCEPT),
        ("trap", guests::TRAP),
        ("loop", guests::LOOP),
    ] {
        std::fs::write(
            dir.join(format!("{name}.wasm")),
            guests::guest(body, guests::SETTINGS_VALID),
        )
        .expect("write guest");
    }
    let config = dir.join("policies.yml");
    std::fs::write(
        &config,
        "accept:\n  module: accept.wasm\ntrap:\n  module: trap.wasm\nloop:\n  module: loop.wasm\n  timeoutEvalSeconds: 1\n",
    )
    .expect("write policies");
    PolicyRegistry::load(common::runtime(), PolicySource::File(config))
        .await
        .expect("policies load")
}

fn review(uid: &str) -> Vec<u8> {
    let mut review = common::fixture("deployment.json");
    review["request"]["uid"] = json!(uid);
    serde_json::to_vec(&review).expect("json")
}

fn json_body(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON body")
}

#[tokio::test]
async fn a_verdict_echoes_the_uid_in_a_v1_review() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(AppState::new(registry(dir.path()).await, FailureMode::Open));
    let (status, body) = common::call(&app, "POST", "/mutate", review("uid-accept")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_body(&body),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "response": {"uid": "uid-accept", "allowed": true}})
    );
}

#[tokio::test]
async fn a_failing_policy_is_admitted_with_a_warning_when_fail_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(AppState::new(registry(dir.path()).await, FailureMode::Open));
    for (policy, kind) in [("trap", "trap"), ("loop", "timeout")] {
        let (status, body) =
            common::call(&app, "POST", &format!("/validate/{policy}"), review("u1")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            json_body(&body)["response"],
            json!({"uid": "u1", "allowed": true, "warnings": [
                format!("pullthrough: policy \"{policy}\" failed ({kind}); admitted unchanged")
            ]}),
            "{policy}"
        );
    }
    // The same engine keeps answering afterwards.
    let (status, _) = common::call(&app, "POST", "/validate/accept", review("u2")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_failing_policy_is_denied_with_the_reason_when_fail_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = AppState::new(registry(dir.path()).await, FailureMode::Closed);
    let metrics = state.metrics.clone();
    let app = router(state);
    let (status, body) = common::call(&app, "POST", "/validate/trap", review("u3")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_body(&body)["response"],
        json!({"uid": "u3", "allowed": false,
               "status": {"code": 500, "message": "pullthrough: policy \"trap\" failed (trap)"}})
    );
    let text = metrics.encode().expect("metrics");
    for line in [
        "pullthrough_admission_requests_total{policy=\"trap\",outcome=\"error_denied\"} 1",
        "pullthrough_evaluation_errors_total{policy=\"trap\",kind=\"trap\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn broken_requests_get_exact_statuses_and_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(AppState::new(registry(dir.path()).await, FailureMode::Open));
    let cases: [(&str, Vec<u8>, StatusCode, &str); 6] = [
        (
            "/mutate",
            b"not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "request body is not valid JSON: expected ident at line 1 column 2\n",
        ),
        (
            "/mutate",
            br#"{"apiVersion":"v1","kind":"AdmissionReview"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got \"v1\" and \"AdmissionReview\"\n",
        ),
        (
            "/mutate",
            vec![b' '; pullthrough::server::MAX_BODY_BYTES + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body exceeds the 7340032 byte (7 MiB) limit\n",
        ),
        (
            "/validate/nope",
            review("u4"),
            StatusCode::NOT_FOUND,
            "no policy named \"nope\"\n",
        ),
        // The policy is looked up before the body is read: 404 whatever the body's size.
        (
            "/validate/nope",
            vec![b' '; pullthrough::server::MAX_BODY_BYTES + 1],
            StatusCode::NOT_FOUND,
            "no policy named \"nope\"\n",
        ),
        // Not the API server (it sends whole seconds, at least 1s): a 400, not a policy timeout.
        (
            "/mutate?timeout=1ms",
            review("u4"),
            StatusCode::BAD_REQUEST,
            "query parameter timeout=1ms leaves no time to answer: 100.25ms of it is kept for the API server's own connection (the API server sends its timeoutSeconds, at least 1s)\n",
        ),
    ];
    for (uri, body, expected_status, expected_text) in cases {
        let (status, body) = common::call(&app, "POST", uri, body).await;
        assert_eq!(status, expected_status, "{uri}");
        assert_eq!(String::from_utf8_lossy(&body), expected_text, "{uri}");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = AppState::new(registry(dir.path()).await, FailureMode::Open);
    let app = router(state.clone());
    let metrics = metrics_router(state.clone());
    let (status, body) = common::call(&app, "GET", "/healthz", Vec::new()).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok\n"[..]));
    let (status, body) = common::call(&app, "GET", "/readyz", Vec::new()).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ready\n"[..]));
    common::call(&app, "POST", "/mutate", review("u5")).await;
    // Metrics are on their own port only, so a NetworkPolicy can keep them from every pod.
    let (status, _) = common::call(&app, "GET", "/metrics", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = common::call(&metrics, "GET", "/metrics", Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).expect("utf-8");
    assert!(
        text.lines().any(|l| l
            == "pullthrough_admission_requests_total{policy=\"accept\",outcome=\"allowed\"} 1"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
}

#[tokio::test]
async fn after_sigterm_readiness_fails_while_reviews_are_still_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = AppState::new(registry(dir.path()).await, FailureMode::Open);
    let app = router(state.clone());
    state
        .shutting_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, body) = common::call(&app, "GET", "/readyz", Vec::new()).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::SERVICE_UNAVAILABLE, &b"shutting down\n"[..])
    );
    let (status, body) = common::call(&app, "POST", "/mutate", review("u6")).await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(answer["response"]["allowed"], json!(true));
}

#[tokio::test]
async fn a_body_past_the_budget_is_told_to_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = AppState::new(registry(dir.path()).await, FailureMode::Open);
    // Smaller than the body: it can never fit, so the answer comes without waiting.
    state.body_budget = std::sync::Arc::new(pullthrough::server::BodyBudget::new(1024));
    let metrics = state.metrics.clone();
    let app = router(state);
    let request = Request::builder()
        .method("POST")
        .uri("/mutate")
        .body(Body::from(vec![b' '; 4096]))
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        "the server holds as many request bodies as its 1024 byte budget allows; retry shortly\n"
    );
    let text = metrics.encode().expect("metrics");
    assert!(
        text.lines().any(|l| l
            == "pullthrough_admission_requests_total{policy=\"accept\",outcome=\"invalid\"} 1"),
        "{text}"
    );
    // Counted, but no latency: its body never arrived.
    assert!(
        text.lines()
            .any(|l| l == "pullthrough_admission_duration_seconds_count{policy=\"accept\"} 0"),
        "{text}"
    );
}

/// A review of a Pod in `namespace`.
fn pod_review(uid: &str, namespace: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": {"kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                       "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .expect("json")
}

#[tokio::test]
async fn kube_system_and_its_own_namespace_are_never_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("mutate.wasm"),
        guests::guest(guests::MUTATE, guests::SETTINGS_VALID),
    )
    .expect("write guest");
    std::fs::write(
        dir.path().join("policies.yml"),
        "mutate:\n  module: mutate.wasm\n  allowedToMutate: true\n",
    )
    .expect("write policies");
    let registry = PolicyRegistry::load(
        common::runtime(),
        PolicySource::File(dir.path().join("policies.yml")),
    )
    .await
    .expect("policies load");
    let mut state = AppState::new(registry, FailureMode::Open);
    state.protected_namespaces =
        std::sync::Arc::from(["kube-system".to_owned(), "webhooks".to_owned()]);
    let app = router(state);
    for namespace in ["kube-system", "webhooks"] {
        for uri in ["/mutate", "/validate/mutate"] {
            let (status, body) = common::call(&app, "POST", uri, pod_review("u8", namespace)).await;
            assert_eq!(status, StatusCode::OK, "{namespace} {uri}");
            assert_eq!(
                json_body(&body)["response"],
                json!({"uid": "u8", "allowed": true, "warnings": [
                    format!("pullthrough: namespace {namespace} is never rewritten; images left unchanged")
                ]}),
                "{namespace} {uri}"
            );
        }
    }
    // Anywhere else the same review is patched.
    let (_, body) = common::call(&app, "POST", "/mutate", pod_review("u9", "default")).await;
    assert_eq!(
        json_body(&body)["response"]["patchType"],
        json!("JSONPatch")
    );
}

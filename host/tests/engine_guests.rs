//! The engine runs waPC guests that were not built with the Rust SDK (hand-written WebAssembly
//! text), and a guest that loops, exhausts memory, traps or errors fails only its own request.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::guests;
use pullthrough::admission::{AdmissionResponse, PatchType};
use pullthrough::policies::{EvaluationError, PolicyError, PolicyRegistry, PolicySource};
use pullthrough::wasm::{CallError, Runtime, RuntimeConfig};
use serde_json::json;

fn accept() -> Vec<u8> {
    guests::guest(guests::ACCEPT, guests::SETTINGS_VALID)
}

#[tokio::test]
async fn hand_written_guest_is_answered_and_its_host_calls_served() {
    let (_dir, registry) = common::load(&[
        ("accept", accept(), ""),
        (
            "calls",
            guests::guest(guests::HOST_CALLS, guests::SETTINGS_VALID),
            "",
        ),
    ])
    .await;
    assert_eq!(registry.default_policy(), "accept");
    assert!(registry.is_ready());

    let evaluation = registry
        .evaluate("accept", common::pod_request("u-1", "nginx"))
        .await
        .expect("evaluates");
    assert_eq!(evaluation.response, AdmissionResponse::allow("u-1"));
    assert_eq!(evaluation.images_rewritten, 0);

    // The guest logged through kubewarden/tracing/log (answered), then asked for an OCI
    // capability and relayed the host's error text as its denial message.
    let evaluation = registry
        .evaluate("calls", common::pod_request("u-2", "nginx"))
        .await
        .expect("evaluates");
    assert_eq!(
        evaluation.response,
        AdmissionResponse::reject(
            "u-2",
            "host capability kubewarden/oci/v1/verify is not available in pullthrough"
        )
    );
}

#[tokio::test]
async fn mutated_object_becomes_an_exact_patch_only_where_mutation_is_allowed() {
    let mutate = guests::guest(guests::MUTATE, guests::SETTINGS_VALID);
    let (_dir, registry) = common::load(&[
        ("mutating", mutate.clone(), "  allowedToMutate: true\n"),
        ("audit", mutate, ""),
    ])
    .await;

    let evaluation = registry
        .evaluate("mutating", common::pod_request("u-3", "nginx"))
        .await
        .expect("evaluates");
    let response = evaluation.response;
    assert!(response.allowed);
    assert_eq!(response.patch_type, Some(PatchType::JsonPatch));
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response.patch.expect("patch"))
        .expect("base64");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&patch).expect("JSON"),
        json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "mirror.example.com/nginx"}])
    );
    assert_eq!(evaluation.images_rewritten, 1);

    let evaluation = registry
        .evaluate("audit", common::pod_request("u-4", "nginx"))
        .await
        .expect("evaluates");
    assert_eq!(
        evaluation.response,
        AdmissionResponse::reject(
            "u-4",
            "Request rejected by policy audit. The policy attempted to mutate the request, but it is currently configured to not allow mutations."
        )
    );
}

#[tokio::test]
async fn faults_fail_one_request_and_the_engine_carries_on() {
    let (_dir, registry) = common::load(&[
        ("accept", accept(), ""),
        (
            "loop",
            guests::guest(guests::LOOP, guests::SETTINGS_VALID),
            "  timeoutEvalSeconds: 1\n",
        ),
        (
            "bomb",
            guests::guest(guests::MEMORY_BOMB, guests::SETTINGS_VALID),
            "",
        ),
        (
            "trap",
            guests::guest(guests::TRAP, guests::SETTINGS_VALID),
            "",
        ),
        (
            "error",
            guests::guest(guests::GUEST_ERROR, guests::SETTINGS_VALID),
            "",
        ),
    ])
    .await;

    let started = Instant::now();
    let error = registry
        .evaluate("loop", common::pod_request("l", "x"))
        .await
        .expect_err("times out");
    let elapsed = started.elapsed();
    assert!(
        matches!(error, EvaluationError::Call(CallError::Timeout(d)) if d == Duration::from_secs(1)),
        "{error:?}"
    );
    assert_eq!(error.kind(), "timeout");
    assert_eq!(error.to_string(), "policy ran longer than its 1s deadline");
    // The epoch fires within one 10 ms tick of the deadline; the slack is for a loaded 2-core CI
    // machine running other tests (without interruption the guest would spin forever).
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(2500),
        "interrupted after {elapsed:?}"
    );
    assert_accepts(&registry).await;

    let error = registry
        .evaluate("bomb", common::pod_request("b", "x"))
        .await
        .expect_err("hits the memory cap");
    assert_eq!(error.kind(), "memory_limit");
    assert_eq!(
        error.to_string(),
        format!(
            "policy exceeded its memory limit of {} bytes",
            common::TEST_MEMORY_LIMIT
        )
    );
    assert_accepts(&registry).await;

    let error = registry
        .evaluate("trap", common::pod_request("t", "x"))
        .await
        .expect_err("traps");
    assert_eq!(error.kind(), "trap");
    let EvaluationError::Call(CallError::Trap(trap)) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        trap.downcast_ref::<wasmtime::Trap>(),
        Some(&wasmtime::Trap::UnreachableCodeReached)
    );
    assert_accepts(&registry).await;

    let error = registry
        .evaluate("error", common::pod_request("e", "x"))
        .await
        .expect_err("guest error");
    assert_eq!(error.kind(), "guest_error");
    assert_eq!(
        error.to_string(),
        "policy returned an error: validate failed on input"
    );
    assert_accepts(&registry).await;

    let error = registry
        .evaluate("missing", common::pod_request("m", "x"))
        .await
        .expect_err("unknown");
    assert_eq!(error.kind(), "unknown_policy");
    assert_eq!(error.to_string(), "no policy named \"missing\"");
}

/// `count` evaluations of `policy` running concurrently, for requests `{prefix}-0`, `{prefix}-1`, ...
fn spawn_evaluations(
    registry: &PolicyRegistry,
    policy: &'static str,
    prefix: &'static str,
    count: usize,
) -> Vec<tokio::task::JoinHandle<Result<pullthrough::policies::Evaluation, EvaluationError>>> {
    (0..count)
        .map(|i| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .evaluate(
                        policy,
                        common::pod_request(&format!("{prefix}-{i}"), "nginx"),
                    )
                    .await
            })
        })
        .collect()
}

async fn assert_accepts(registry: &PolicyRegistry) {
    let evaluation = registry
        .evaluate("accept", common::pod_request("ok", "nginx"))
        .await
        .expect("the engine still evaluates");
    assert_eq!(evaluation.response, AdmissionResponse::allow("ok"));
}

#[tokio::test]
async fn many_concurrent_evaluations_all_succeed_through_the_bounded_pool() {
    let (_dir, registry) = common::load(&[("accept", accept(), "")]).await;
    let tasks = spawn_evaluations(&registry, "accept", "c", 64);
    for (i, task) in tasks.into_iter().enumerate() {
        let evaluation = task.await.expect("task").expect("evaluates");
        assert_eq!(
            evaluation.response,
            AdmissionResponse::allow(format!("c-{i}"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_hangs_cannot_take_every_guest_slot_from_the_others() {
    // A runtime of its own: the shared one's slots are taken by other tests' guests.
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrency: 2,
        inline_calls: 1,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let (_dir, registry) = common::load_on(
        runtime,
        &[
            ("accept", accept(), ""),
            (
                "loop",
                guests::guest(guests::LOOP, guests::SETTINGS_VALID),
                "  timeoutEvalSeconds: 1\n",
            ),
        ],
    )
    .await;
    // More hanging calls than there are guest slots: without a per-policy share they would hold
    // both for a whole deadline, and `accept` would wait for the first to time out.
    let hanging = spawn_evaluations(&registry, "loop", "l", 8);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_accepts(&registry).await;
    assert!(
        hanging.iter().all(|task| !task.is_finished()),
        "`accept` was answered only after a hanging call ended"
    );
    for task in hanging {
        let error = task.await.expect("task").expect_err("times out");
        assert_eq!(error.kind(), "timeout");
    }
    // Once it has hung, the policy runs on the blocking pool, and still fails alone.
    let error = registry
        .evaluate("loop", common::pod_request("again", "x"))
        .await
        .expect_err("times out");
    assert_eq!(error.kind(), "timeout");
    assert_accepts(&registry).await;
}

#[tokio::test]
async fn modules_that_cannot_serve_are_refused_at_load_with_the_reason() {
    // (policy, module, message, the message of its source)
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        (
            "settings",
            guests::guest(guests::ACCEPT, guests::SETTINGS_INVALID),
            "policy \"settings\" refused its settings: mirror is required",
            None,
        ),
        (
            "empty",
            wat::parse_str("(module)").expect("wat"),
            "policy \"empty\" does not load",
            Some("module is not a waPC policy: it does not export `__guest_call`"),
        ),
        (
            "garbage",
            b"not wasm at all".to_vec(),
            "policy \"garbage\" does not load",
            // Not the parser's two magic numbers as multi-line hex arrays.
            Some("the file is not a WebAssembly module: it does not start with \"\\0asm\""),
        ),
        (
            "broken",
            b"\0asm\x01\0\0\0 garbage".to_vec(),
            "policy \"broken\" does not load",
            Some("module does not compile"),
        ),
        (
            "imports",
            wat::parse_str(
                r#"(module (import "env" "mystery" (func)) (memory (export "memory") 1)
                   (func (export "__guest_call") (param i32 i32) (result i32) i32.const 1))"#,
            )
            .expect("wat"),
            "policy \"imports\" does not load",
            Some("cannot link the module"),
        ),
    ];
    for (name, module, expected, cause) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = common::policies_file(dir.path(), &[(name, module, "")]);
        let error = PolicyRegistry::load(common::runtime(), PolicySource::File(path))
            .await
            .expect_err("refused");
        assert_eq!(error.to_string(), expected, "{name}");
        assert_eq!(
            std::error::Error::source(&error)
                .map(ToString::to_string)
                .as_deref(),
            cause,
            "{name}"
        );
        if name == "settings" {
            assert!(matches!(error, PolicyError::InvalidSettings { .. }));
        }
    }
}

#[tokio::test]
async fn a_missing_policies_file_is_a_clear_error() {
    let error = PolicyRegistry::load(
        common::runtime(),
        PolicySource::File("/nonexistent/policies.yml".into()),
    )
    .await
    .expect_err("missing");
    assert_eq!(
        error.to_string(),
        "cannot read policies file /nonexistent/policies.yml"
    );
}

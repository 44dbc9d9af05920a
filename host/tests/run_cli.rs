//! `pullthrough run` on the fixtures: its output has the shape `kwctl run` prints (policy-
//! evaluator's AdmissionResponse: `uid`, `allowed`, then `patchType`, `patch`, `status`,
//! `auditAnnotations`, `warnings` when present, on one line) and the policy's exact patch.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

/// Every key `kwctl run` may print, in its order.
const KWCTL_KEYS: [&str; 7] = [
    "uid",
    "allowed",
    "patchType",
    "patch",
    "status",
    "auditAnnotations",
    "warnings",
];

fn policy_wasm(dir: &Path) -> PathBuf {
    let path = dir.join("policy.wasm");
    std::fs::write(&path, pullthrough::policies::EMBEDDED_POLICY_WASM).expect("write module");
    path
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pullthrough"))
        .arg("run")
        .args(args)
        .env("PULLTHROUGH_MODULE_CACHE_DIR", cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pullthrough");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("pullthrough exits")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).expect("UTF-8");
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    // The keys come in kwctl's order.
    let value: Value = serde_json::from_str(&text).expect("JSON");
    let keys: Vec<&str> = KWCTL_KEYS
        .iter()
        .copied()
        .filter(|key| text.contains(&format!("\"{key}\":")))
        .collect();
    let mut positions: Vec<(usize, &str)> = keys
        .iter()
        .map(|key| {
            (
                text.find(&format!("\"{key}\":")).unwrap_or(usize::MAX),
                *key,
            )
        })
        .collect();
    positions.sort();
    assert_eq!(
        positions.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
        keys,
        "{text}"
    );
    value
}

/// `run` of `module` on `request` with the flat layout's settings: its response.
fn run_flat(module: &Path, request: &Path) -> Value {
    let output = run(
        &[
            "--settings-json",
            r#"{"mirror":"registry-mirror.example.com"}"#,
            "--request-path",
            request.to_str().expect("UTF-8 path"),
            module.to_str().expect("UTF-8 path"),
        ],
        None,
    );
    stdout_json(&output)
}

/// (fixture, expected patch in policy/tests/expected, or None).
const CASES: &[(&str, Option<&str>)] = &[
    (
        "pod-initcontainers-digests.json",
        Some("pod-initcontainers-digests.flat.json"),
    ),
    (
        "pod-ephemeralcontainer-digest.json",
        Some("pod-ephemeralcontainer-digest.flat.json"),
    ),
    // ghcr.io is left alone by the default flat layout (Docker Hub's namespace).
    ("deployment.json", None),
    ("statefulset.json", None),
    ("replicaset-update-tag-digest.json", None),
    ("cronjob.json", Some("cronjob.flat.json")),
];

#[test]
fn fixtures_print_the_kwctl_shape_with_the_exact_patch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = policy_wasm(dir.path());
    for name in common::fixture_names() {
        let (_, expected) = CASES
            .iter()
            .find(|(fixture, _)| *fixture == name)
            .unwrap_or_else(|| panic!("no case for {name}"));
        let request = common::repo_root().join("fixtures/admission").join(&name);
        let response = run_flat(&module, &request);
        let fixture = common::fixture(&name);
        let object = response.as_object().expect("an object");
        assert_eq!(object["uid"], fixture["request"]["uid"], "{name}");
        assert_eq!(object["allowed"], json!(true), "{name}");
        assert!(!object.contains_key("status"), "{name}");
        assert!(!object.contains_key("warnings"), "{name}");
        assert!(!object.contains_key("auditAnnotations"), "{name}");
        match expected {
            None => assert_eq!(object.len(), 2, "{name}: {response}"),
            Some(expected) => {
                assert_eq!(object["patchType"], json!("JSONPatch"), "{name}");
                let patch = base64::engine::general_purpose::STANDARD
                    .decode(object["patch"].as_str().expect("patch string"))
                    .expect("base64");
                let path = common::repo_root()
                    .join("policy/tests/expected")
                    .join(expected);
                let want: Value =
                    serde_json::from_slice(&std::fs::read(path).expect("expected")).expect("JSON");
                assert_eq!(
                    serde_json::from_slice::<Value>(&patch).expect("JSON patch"),
                    want,
                    "{name}"
                );
                assert_eq!(object.len(), 4, "{name}: {response}");
            }
        }
    }
}

#[test]
fn a_bare_request_on_stdin_and_yaml_settings_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = policy_wasm(dir.path());
    let settings = dir.path().join("settings.yml");
    std::fs::write(
        &settings,
        "mirror: registry-mirror.example.com\nlayout: prefixed\n",
    )
    .expect("write");
    let request = common::fixture("deployment.json")["request"].to_string();
    let output = run(
        &[
            "--settings-path",
            settings.to_str().expect("UTF-8"),
            "--request-path",
            "-",
            &format!("file://{}", module.display()),
        ],
        Some(request.as_bytes()),
    );
    let response = stdout_json(&output);
    assert_eq!(
        response["uid"],
        common::fixture("deployment.json")["request"]["uid"]
    );
    assert_eq!(response["patchType"], json!("JSONPatch"));
}

#[test]
fn a_shared_namespace_is_refused_unless_allowed_and_then_logged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = policy_wasm(dir.path());
    let module = module.to_str().expect("UTF-8");
    let request = common::repo_root().join("fixtures/admission/deployment.json");
    let request = request.to_str().expect("UTF-8");
    let shared = r#"{"mirror":"registry-mirror.example.com","registries":["docker.io","ghcr.io"]}"#;
    let refused = run(&["--settings-json", shared, "-r", request, module], None);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(refused.stderr)
            .expect("UTF-8")
            .lines()
            .next(),
        Some(
            "Error: policy \"policy\" refused its settings: settings.registries with layout flat rewrites docker.io and ghcr.io into the one mirror namespace \"registry-mirror.example.com/\": whoever owns a repository path on one registry could then supply the image of the same path on the other; use layout: prefixed, give each registry a rule with a target of its own, or set allowSharedNamespace: true to accept that"
        )
    );
    let allowed = r#"{"mirror":"registry-mirror.example.com","registries":["docker.io","ghcr.io"],"allowSharedNamespace":true}"#;
    let output = run(&["--settings-json", allowed, "-r", request, module], None);
    assert_eq!(stdout_json(&output)["patchType"], json!("JSONPatch"));
    let stderr = String::from_utf8(output.stderr).expect("UTF-8");
    let warning = stderr
        .lines()
        .find(|line| line.contains("the policy accepted its settings with a warning"))
        .unwrap_or_else(|| panic!("no warning logged: {stderr}"));
    assert!(warning.contains(" WARN "), "{warning}");
    assert!(
        warning.contains("settings.registries with layout flat rewrites docker.io and ghcr.io into the one mirror namespace"),
        "{warning}"
    );
}

#[test]
fn a_denial_prints_status_like_kwctl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = dir.path().join("deny.wasm");
    std::fs::write(&module, common::guests::versioned(4)).expect("write");
    let request = common::repo_root().join("fixtures/admission/deployment.json");
    let output = run(
        &[
            "-r",
            request.to_str().expect("UTF-8"),
            module.to_str().expect("UTF-8"),
        ],
        None,
    );
    assert_eq!(
        String::from_utf8(output.stdout).expect("UTF-8"),
        format!(
            "{{\"uid\":{},\"allowed\":false,\"status\":{{\"message\":\"version 4\"}}}}\n",
            common::fixture("deployment.json")["request"]["uid"]
        )
    );
}

#[test]
fn failures_exit_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = policy_wasm(dir.path());
    let module = module.to_str().expect("UTF-8");
    let not_wapc = dir.path().join("empty.wasm");
    std::fs::write(&not_wapc, wat::parse_str("(module)").expect("wat")).expect("write");
    let not_json = dir.path().join("request.txt");
    std::fs::write(&not_json, "hello").expect("write");
    let request = common::repo_root().join("fixtures/admission/deployment.json");
    let request = request.to_str().expect("UTF-8");
    let mirror = r#"{"mirror":"registry-mirror.example.com"}"#;
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--settings-json", mirror, "-r", "/nonexistent/request.json", module],
            "Error: cannot read request /nonexistent/request.json".to_owned(),
        ),
        (
            vec!["--settings-json", mirror, "-r", not_json.to_str().expect("UTF-8"), module],
            format!("Error: request {} is not JSON", not_json.display()),
        ),
        (
            vec!["-r", request, module],
            "Error: policy \"policy\" refused its settings: settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com".to_owned(),
        ),
        (
            vec!["--settings-json", "[1]", "-r", request, module],
            r#"Error: --settings-json must be a mapping such as {"mirror": "registry-mirror.example.com"}, got a list"#.to_owned(),
        ),
        (
            // Not JSON at all: said so, not "must be a mapping" (a YAML reading of `abc`).
            vec!["--settings-json", "abc", "-r", request, module],
            "Error: --settings-json is not JSON".to_owned(),
        ),
        (
            vec!["--settings-json", r#""m.example.com""#, "-r", request, module],
            r#"Error: --settings-json must be a mapping such as {"mirror": "registry-mirror.example.com"}, got a string"#.to_owned(),
        ),
        (
            vec!["-r", request, not_wapc.to_str().expect("UTF-8")],
            // The cause is not repeated in the message: it follows under "Caused by:".
            "Error: policy \"empty\" does not load".to_owned(),
        ),
        (
            vec!["-r", request, "/nonexistent/policy.wasm"],
            "Error: cannot read module /nonexistent/policy.wasm".to_owned(),
        ),
    ];
    for (args, expected) in cases {
        let output = run(&args, None);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).expect("UTF-8");
        assert_eq!(
            stderr.lines().next(),
            Some(expected.as_str()),
            "{args:?}: {stderr}"
        );
    }
    let output = run(&["--settings-json", "abc", "-r", request, module], None);
    assert_eq!(
        String::from_utf8(output.stderr).expect("UTF-8"),
        "Error: --settings-json is not JSON\n\nCaused by:\n    expected value at line 1 column 1\n"
    );
    let output = run(&["-r", request, not_wapc.to_str().expect("UTF-8")], None);
    assert_eq!(
        String::from_utf8(output.stderr).expect("UTF-8"),
        "Error: policy \"empty\" does not load\n\nCaused by:\n    module is not a waPC policy: it does not export `__guest_call`\n"
    );
}

/// Image volumes as kube-apiserver v1.37.2 sent them: `run` prints the same patch `serve` answers
/// with (`image_volumes.rs`).
#[test]
fn the_captured_image_volumes_are_rewritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = policy_wasm(dir.path());
    for (capture, expected) in [
        (
            "pod-image-volume-create.json",
            "pod-image-volume-create.flat.json",
        ),
        (
            "deployment-image-volume-create.json",
            "deployment-image-volume-create.flat.json",
        ),
    ] {
        let request = common::repo_root()
            .join("fixtures/admission/kube-apiserver-v1.37.2")
            .join(capture);
        let response = run_flat(&module, &request);
        let patch = base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().expect("a patch"))
            .expect("base64");
        let want: Value = serde_json::from_slice(
            &std::fs::read(
                common::repo_root()
                    .join("policy/tests/expected")
                    .join(expected),
            )
            .expect("expected"),
        )
        .expect("JSON");
        assert_eq!(
            serde_json::from_slice::<Value>(&patch).expect("JSON patch"),
            want,
            "{capture}"
        );
    }
}

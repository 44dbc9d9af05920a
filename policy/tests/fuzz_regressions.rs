//! Inputs the fuzz targets (`fuzz/`, `scripts/fuzz`) found or were seeded with, run on stable
//! through the very checks the targets make (`fuzz/checks.rs`). A crash a fuzzer finds is
//! minimised (`cargo +nightly fuzz tmin`) and added here as a named case before it is fixed.

#[path = "../../fuzz/checks.rs"]
mod checks;
#[path = "../src/listed.rs"]
mod listed;

use std::path::{Path, PathBuf};

use pullthrough_policy::Settings;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of one seed directory, sorted by name.
fn seeds(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo().join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        // Files only: `fixtures/admission/derived/` sits beside the captures.
        .filter(|path| path.is_file() && path.extension().is_none_or(|ext| ext == "json"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

/// Reference inputs and the normal form they must print as (`None`: rejected).
const REFERENCES: &[(&str, &str, Option<&str>)] = &[
    ("empty", "", None),
    ("bare registry", "docker.io/", None),
    (
        "a port-like tag on a familiar name",
        "localhost:5000",
        Some("docker.io/library/localhost:5000"),
    ),
    (
        "legacy hub name",
        "index.docker.io/nginx",
        Some("docker.io/library/nginx"),
    ),
    (
        "a first component that is no domain",
        "foo_bar.com/x",
        Some("foo_bar.com/x"),
    ),
    ("uppercase registry", "Foo/bar", Some("Foo/bar")),
    ("IPv6 without port", "[::1]/a", Some("[::1]/a")),
    ("IPv6 alone", "[::1]:5000", None),
    (
        "digest without name",
        "@sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713",
        None,
    ),
    ("multi-byte text", "ngïnx", None),
    ("replacement character", "\u{fffd}", None),
];

#[test]
fn reference_cases_keep_their_normal_form() {
    for &(name, input, want) in REFERENCES {
        assert_eq!(
            checks::reference(input.as_bytes()).as_deref(),
            want,
            "{name}: {input:?}"
        );
    }
    assert_eq!(checks::reference(&[0xff, b'a']), None, "invalid UTF-8");
}

#[test]
fn reference_seeds_round_trip() {
    for (path, bytes) in seeds("fuzz/seeds/reference") {
        assert!(
            checks::reference(&bytes).is_some(),
            "{path} is a valid reference"
        );
    }
}

#[test]
fn settings_seeds_and_cases_compile_or_fail_consistently() {
    for (path, bytes) in seeds("fuzz/seeds/settings") {
        assert!(
            checks::settings(&bytes).is_some(),
            "{path} are valid settings"
        );
    }
    let rejected: &[(&str, &[u8])] = &[
        ("empty", b""),
        ("not an object", b"[]"),
        (
            "unknown field",
            br#"{"mirror":"m.example.com","mirrorz":[]}"#,
        ),
        (
            "mirror and mirrors",
            br#"{"mirror":"m.example.com","mirrors":["n.example.com"]}"#,
        ),
        (
            "wildcard with others",
            br#"{"mirror":"m.example.com","registries":["*","ghcr.io"]}"#,
        ),
        (
            "bad glob",
            br#"{"mirror":"m.example.com","exclude":["[a"]}"#,
        ),
        ("scheme", br#"{"mirror":"https://m.example.com"}"#),
        ("nul byte", b"{\"mirror\":\"m.example.com\0\"}"),
    ];
    for (name, bytes) in rejected {
        assert!(checks::settings(bytes).is_none(), "{name}");
    }
}

#[test]
fn admission_fixtures_patch_only_images_and_are_idempotent() {
    let rewriters = checks::rewriters();
    let mut rewritten = 0;
    for (path, bytes) in seeds("fixtures/admission") {
        let review: Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        for rewriter in &rewriters {
            rewritten += checks::admission(rewriter, &review["request"]);
        }
    }
    // The fixtures hold images of every selected kind: most of them must really be rewritten.
    assert!(
        rewritten >= 20,
        "only {rewritten} images rewritten across the fixtures"
    );
}

#[test]
fn admission_odd_requests() {
    let rewriter = &checks::rewriters()[0];
    let cases = [
        ("null", Value::Null, 0),
        ("array", json!([1, 2]), 0),
        (
            "object is a string",
            json!({"kind": {"kind": "Pod"}, "object": "x"}),
            0,
        ),
        (
            "kind not a string",
            json!({"kind": {"kind": 5}, "operation": "CREATE", "object": {"kind": "Pod", "spec": {"containers": [{"image": "nginx"}]}}}),
            1,
        ),
        (
            "metadata a number",
            json!({"operation": "CREATE", "object": {"kind": "Pod", "metadata": 3, "spec": {"containers": [{"image": "nginx"}]}}}),
            1,
        ),
        (
            "annotations a list",
            json!({"operation": "CREATE", "object": {"kind": "Pod", "metadata": {"annotations": []}, "spec": {"containers": [{"image": "nginx"}]}}}),
            1,
        ),
        (
            "duplicate names",
            json!({"operation": "CREATE", "object": {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "a", "image": "redis"}]}}}),
            2,
        ),
    ];
    for (name, request, want) in cases {
        assert_eq!(checks::admission(rewriter, &request), want, "{name}");
    }
}

/// Found by the property tests: `index.docker.io` passes validation as the mirror (or a rule
/// target), but references spell that host `docker.io`, so every rewrite to it fails its own
/// parse-back check and each selected image only gets a warning ("its rewrite
/// \"index.docker.io/library/nginx\" would not be a valid reference: invalid reference format").
/// Validation should say so, naming the field.
#[test]
fn legacy_hub_name_as_mirror_is_rejected() {
    for settings in [
        br#"{"mirror":"index.docker.io"}"#.as_slice(),
        br#"{"mirror":"m.example.com","rules":[{"registry":"ghcr.io","target":"index.docker.io/x"}]}"#,
    ] {
        let settings = Settings::from_json(settings).expect("well-formed settings");
        let error = settings.compile().expect_err("a mirror every rewrite fails on");
        let message = error.to_string();
        let named = ["settings.mirror ", "settings.rules[0].target "];
        assert!(named.iter().any(|field| message.starts_with(field)), "{message}");
    }
}

#[test]
fn reference_inputs_are_listed_for_the_cluster_suite() {
    let seeds = seeds("fuzz/seeds/reference");
    let seeds = seeds
        .iter()
        .filter_map(|(_, bytes)| std::str::from_utf8(bytes).ok());
    let images = listed::distinct(REFERENCES.iter().map(|&(_, input, _)| input).chain(seeds));
    listed::check("fuzz-regressions.json", &json!({ "images": images }));
}

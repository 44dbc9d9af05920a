//! The policies file's parsing and validation, case by case.

use super::*;
use crate::mirror_check;
use serde_json::json;

#[test]
fn parses_entries_in_file_order() {
    let text = "
zeta:
  module: file:///abs/zeta.wasm
  allowedToMutate: true
  timeoutEvalSeconds: 3
  settings:
    mirror: m.example.com
alpha:
  module: rel/alpha.wasm
remote:
  module: registry://localhost:5000/policies/p:v1
";
    let specs = parse(text, Path::new("/etc/pt")).expect("valid file");
    assert_eq!(
        specs,
        vec![
            PolicySpec {
                name: "zeta".into(),
                module: Module::File(PathBuf::from("/abs/zeta.wasm")),
                settings: json!({"mirror": "m.example.com"}),
                allowed_to_mutate: true,
                allowed_to_mutate_given: true,
                timeout: Some(Duration::from_secs(3)),
                mirror_check: None,
            },
            PolicySpec {
                name: "alpha".into(),
                module: Module::File(PathBuf::from("/etc/pt/rel/alpha.wasm")),
                settings: json!({}),
                allowed_to_mutate: false,
                allowed_to_mutate_given: false,
                timeout: None,
                mirror_check: None,
            },
            PolicySpec {
                name: "remote".into(),
                module: Module::Remote(Remote::Registry("localhost:5000/policies/p:v1".into())),
                settings: json!({}),
                allowed_to_mutate: false,
                allowed_to_mutate_given: false,
                timeout: None,
                mirror_check: None,
            },
        ]
    );
}

#[test]
fn rejects_bad_entries_naming_the_field() {
    let cases = [
        ("empty", "{}", "the file names no policy"),
        (
            "remote module without a host",
            "p:\n  module: registry://x/y:v1\n",
            "p.module must start with a registry host (a name with a dot or a port, or localhost), e.g. registry://ghcr.io/org/policy:v1 or registry://ghcr.io/org/policy@sha256:…, got \"registry://x/y:v1\"",
        ),
        (
            "another scheme",
            "p:\n  module: s3://bucket/p.wasm\n",
            "p.module must be a file path, file://, registry://, https:// or http://, got \"s3://bucket/p.wasm\"",
        ),
        (
            "empty module",
            "p:\n  module: ''\n",
            "p.module must be a file path, got \"\"",
        ),
        (
            "settings list",
            "p:\n  module: a.wasm\n  settings: [1]\n",
            "p.settings must be a mapping",
        ),
        (
            "zero timeout",
            "p:\n  module: a.wasm\n  timeoutEvalSeconds: 0\n",
            "p.timeoutEvalSeconds must be at least 1",
        ),
        (
            "check without a url",
            "p:\n  module: a.wasm\n  mirrorCheck: {intervalSeconds: 5}\n",
            "p.mirrorCheck.url is required: the mirror's registry, e.g. https://registry-mirror.example.com (or urls, one per mirror of settings.mirrors)",
        ),
        (
            "check url without scheme",
            "p:\n  module: a.wasm\n  mirrorCheck: {url: m.example.com}\n",
            "p.mirrorCheck.url must be http:// or https:// followed by the registry's host[:port] and nothing else, e.g. https://registry-mirror.example.com, got \"m.example.com\"",
        ),
        (
            "check every 0 s",
            "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', intervalSeconds: 0}\n",
            "p.mirrorCheck.intervalSeconds must be at least 1",
        ),
        (
            "check down after 0",
            "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', failureThreshold: 0}\n",
            "p.mirrorCheck.failureThreshold must be at least 1",
        ),
        (
            "check with an empty CA",
            "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', caFile: ''}\n",
            "p.mirrorCheck.caFile must be a file path, got \"\"",
        ),
        (
            "check with an unknown field",
            "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', timeout: 3}\n",
            "p.mirrorCheck: unknown field `timeout`, expected one of `url`, `urls`, `intervalSeconds`, `failureThreshold`, `caFile` at line 3 column 47",
        ),
        (
            "bad name",
            "'a b':\n  module: a.wasm\n",
            "policy name \"a b\" must be non-empty and use only letters, digits, '-', '_' and '.'",
        ),
    ];
    for (case, text, expected) in cases {
        assert_eq!(
            parse(text, Path::new("/")).map_err(|error| error.to_string()),
            Err(expected.to_owned()),
            "{case}"
        );
    }
}

#[test]
fn an_entry_without_allowed_to_mutate_is_warned_about() {
    let specs = parse(
        "quiet:\n  module: a.wasm\n  allowedToMutate: false\nsilent:\n  module: b.wasm\n",
        Path::new("/"),
    )
    .expect("valid file");
    assert_eq!(specs[0].warning(), None);
    assert_eq!(
        specs[1].warning().as_deref(),
        Some(
            "policy \"silent\" does not set allowedToMutate, so it may not mutate: a patch it \
                 returns denies the request (as in Kubewarden's policy-server), and under \
                 failurePolicy Ignore that denial is the first sign; add `allowedToMutate: true` \
                 to silent's entry if it rewrites objects, or `allowedToMutate: false` if it only \
                 validates"
        )
    );
}

#[test]
fn a_mirror_check_takes_defaults_and_a_relative_ca_file() {
    let text = "
full:
  module: a.wasm
  mirrorCheck:
    url: http://10.0.0.5:5000
    intervalSeconds: 2
    failureThreshold: 5
    caFile: certs/ca.crt
short:
  module: a.wasm
  mirrorCheck: {url: 'https://m.example.com/'}
";
    let specs = parse(text, Path::new("/etc/pt")).expect("valid file");
    assert_eq!(
        specs[0].mirror_check,
        Some(
            MirrorCheck::new(
                "http://10.0.0.5:5000",
                Duration::from_secs(2),
                5,
                Some(PathBuf::from("/etc/pt/certs/ca.crt"))
            )
            .expect("valid")
        )
    );
    let short = specs[1].mirror_check.as_ref().expect("a check");
    assert_eq!(
        (
            short.url(),
            short.interval(),
            short.failure_threshold(),
            short.ca_file()
        ),
        (
            "https://m.example.com",
            mirror_check::DEFAULT_INTERVAL,
            mirror_check::DEFAULT_FAILURE_THRESHOLD,
            None
        )
    );
}

#[test]
fn rejects_unknown_fields() {
    let error = parse("p:\n  module: a.wasm\n  mutating: true\n", Path::new("/"))
        .expect_err("unknown field")
        .to_string();
    assert!(
        error.starts_with("p: unknown field `mutating`, expected one of"),
        "{error}"
    );
}

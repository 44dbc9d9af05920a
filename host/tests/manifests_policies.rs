//! `pullthrough manifests --policies FILE`: the file goes into the ConfigMap
//! pullthrough-policies, mounted whole at /etc/pullthrough (so the kubelet updates it in place)
//! and served with `serve --policies`; a file the pods could not load is refused before anything
//! is printed.

use pullthrough::commands::manifests::{ManifestsArgs, render};
use serde_json::{Value, json};

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    manifests: ManifestsArgs,
}

fn parse(args: &[&str]) -> Result<ManifestsArgs, clap::Error> {
    <Cli as clap::Parser>::try_parse_from(std::iter::once("manifests").chain(args.iter().copied()))
        .map(|cli| cli.manifests)
}

fn policies_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), text).expect("write");
    file
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .skip(1)
        .map(|doc| serde_yaml_ng::from_str::<Value>(doc).expect("document parses"))
        .collect()
}

const POLICIES: &str = "\
pullthrough:
  module: /usr/share/pullthrough/policy.wasm
  allowedToMutate: true
  settings:
    mirror: m.example.com
";

#[test]
fn a_policies_file_is_a_config_map_mounted_whole_and_served() {
    let file = policies_file(POLICIES);
    let path = file.path().to_str().expect("utf-8 path");
    let docs = documents(&render(&parse(&["--policies", path]).expect("parses")).expect("render"));
    // The ConfigMap comes before the Deployment that mounts it; the rest is as without it.
    let kinds: Vec<_> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds[5..9],
        ["RoleBinding", "ConfigMap", "Deployment", "Service"]
    );
    assert_eq!(kinds.len(), 11);
    let config_map = &docs[6];
    assert_eq!(config_map["metadata"]["name"], "pullthrough-policies");
    assert_eq!(config_map["data"], json!({"policies.yml": POLICIES}));
    let pod = &docs[7]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["args"].as_array().expect("args")[..4],
        [
            "serve",
            "--register",
            "--policies",
            "/etc/pullthrough/policies.yml"
        ]
    );
    // No subPath: the kubelet only updates a ConfigMap volume mounted whole.
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "policies", "mountPath": "/etc/pullthrough", "readOnly": true}])
    );
    assert_eq!(
        pod["volumes"],
        json!([{"name": "policies", "configMap": {"name": "pullthrough-policies"}}])
    );
}

#[test]
fn a_file_the_pods_could_not_load_is_refused_naming_what_to_fix() {
    let cases = [
        (
            "pullthrough:\n  module: /usr/share/pullthrough/policy.wasm\n  settings:\n    mirror: \"http://m\"\n",
            "policy \"pullthrough\" (/usr/share/pullthrough/policy.wasm) would refuse its settings: \
             settings.mirror must be host[:port] optionally followed by a path, got \"http://m\": \
             leave out the scheme",
        ),
        (
            "pullthrough:\n  modul: x.wasm\n",
            "would not load: pullthrough: unknown field `modul`, expected one of `module`",
        ),
    ];
    for (text, expected) in cases {
        let file = policies_file(text);
        let path = file.path().to_str().expect("utf-8 path");
        let error = render(&parse(&["--policies", path]).expect("parses")).expect_err("refused");
        let message = format!(
            "{error}: {}",
            std::error::Error::source(&error)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        assert!(message.contains(expected), "{message}");
    }
    // Either --mirror or --policies, not both and not neither.
    assert!(parse(&["--mirror", "m.example.com", "--policies", "p.yml"]).is_err());
    assert!(parse(&[]).is_err());
    // The mirror's pull secrets belong in the file's settings.
    assert!(parse(&["--policies", "p.yml", "--mirror-pull-secret", "creds"]).is_err());
}

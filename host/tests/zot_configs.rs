//! The zot configurations in `deploy/zot/` fit the policy's two layouts: digests kept, Docker
//! manifests served, and one upstream per namespace.

mod common;

use serde_json::{Value, json};

fn read(path: &str) -> String {
    let full = common::repo_root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

#[test]
fn zot_configs_keep_digests_and_docker_manifests_in_both_layouts() {
    // The flat layout's one namespace is Docker Hub's alone (the policy's default registries
    // for it): a second upstream there could answer for Docker Hub's paths, or Docker Hub for
    // its. The prefixed layout gives each upstream a directory of its own.
    for (file, names) in [
        ("deploy/zot/config-flat.json", &["docker.io"][..]),
        (
            "deploy/zot/config-prefixed.json",
            &["docker.io", "ghcr.io", "quay.io", "gcr.io"][..],
        ),
    ] {
        let prefixed = names.len() > 1;
        let config: Value = serde_json::from_str(&read(file)).expect("zot config is JSON");
        assert_eq!(config["http"]["compat"], json!(["docker2s2"]), "{file}");
        let registries = config["extensions"]["sync"]["registries"]
            .as_array()
            .expect("registries");
        let upstreams: Vec<_> = registries
            .iter()
            .map(|r| r["urls"][0].as_str().expect("url"))
            .collect();
        let expected: Vec<String> = names
            .iter()
            .map(|name| match *name {
                "docker.io" => "https://registry-1.docker.io".to_owned(),
                other => format!("https://{other}"),
            })
            .collect();
        assert_eq!(upstreams, expected, "{file}");
        for (registry, name) in registries.iter().zip(names) {
            assert_eq!(registry["onDemand"], true, "{file}");
            assert_eq!(registry["preserveDigest"], true, "{file}");
            let expected = if prefixed {
                json!([{"prefix": "**", "destination": format!("/{name}")}])
            } else {
                json!([{"prefix": "**"}])
            };
            assert_eq!(registry["content"], expected, "{file}");
        }
    }
}

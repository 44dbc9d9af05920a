//! The Kubewarden packaging files and the deployment docs stay in step with the crate.

use std::collections::BTreeSet;
use std::path::Path;

use pullthrough_policy::{OPT_OUT_KEY, ORIGINAL_IMAGES_ANNOTATION, Settings};
use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_yaml::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every (group, resource) a rule list admits, with its operations.
fn admitted(rules: &Value) -> BTreeSet<(String, String, String)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules are a list") {
        assert_eq!(strings(&rule["apiVersions"]), ["v1"], "{rule}");
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for operation in strings(&rule["operations"]) {
                    out.insert((group.clone(), resource.clone(), operation));
                }
            }
        }
    }
    out
}

/// The resources the policy rewrites, on CREATE and UPDATE.
fn expected_rules() -> BTreeSet<(String, String, String)> {
    let resources = [
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "replicationcontrollers"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    ];
    resources
        .iter()
        .flat_map(|(g, r)| {
            ["CREATE", "UPDATE"].map(|op| ((*g).to_owned(), (*r).to_owned(), op.to_owned()))
        })
        .collect()
}

#[test]
fn metadata_matches_the_crate() {
    let metadata = yaml("metadata.yml");
    assert_eq!(
        metadata["annotations"]["io.kubewarden.policy.version"],
        Value::from(VERSION)
    );
    assert_eq!(metadata["mutating"], Value::Bool(true));
    assert_eq!(metadata["executionMode"], Value::from("kubewarden-wapc"));
    assert_eq!(admitted(&metadata["rules"]), expected_rules());
    let usage = metadata["annotations"]["io.kubewarden.policy.usage"]
        .as_str()
        .expect("usage text");
    assert!(
        usage.contains(OPT_OUT_KEY) && usage.contains(ORIGINAL_IMAGES_ANNOTATION),
        "{usage}"
    );
}

#[test]
fn artifacthub_package_matches_the_crate() {
    let package = yaml("artifacthub-pkg.yml");
    assert_eq!(package["version"], Value::from(VERSION));
    let image = package["containersImages"][0]["image"]
        .as_str()
        .expect("an image");
    assert!(image.ends_with(&format!(":v{VERSION}")), "{image}");
    let links: Vec<&str> = package["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l["url"].as_str())
        .collect();
    assert!(
        links
            .iter()
            .any(|url| url.ends_with(&format!("/v{VERSION}/policy.wasm"))),
        "{links:?}"
    );
    assert_eq!(
        package["annotations"]["kubewarden/mutation"],
        Value::from("true")
    );
    let rules: Value = serde_yaml::from_str(
        package["annotations"]["kubewarden/rules"]
            .as_str()
            .expect("rules text"),
    )
    .expect("rules are YAML");
    assert_eq!(admitted(&rules), expected_rules());
}

/// The fenced blocks of one language in a Markdown file.
fn blocks<'a>(markdown: &'a str, language: &str) -> Vec<&'a str> {
    let fence = format!("```{language}\n");
    markdown
        .split(fence.as_str())
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect()
}

#[test]
fn the_kubewarden_docs_examples_are_valid() {
    let doc = read("docs/kubewarden.md");
    assert!(doc.contains(OPT_OUT_KEY) && doc.contains(ORIGINAL_IMAGES_ANNOTATION));
    let policies: Vec<Value> = blocks(&doc, "yaml")
        .into_iter()
        .map(|block| serde_yaml::from_str(block).expect("YAML example"))
        .filter(|v: &Value| v["kind"] == "ClusterAdmissionPolicy")
        .collect();
    assert_eq!(policies.len(), 2, "a flat and a prefixed example");
    let mut layouts = BTreeSet::new();
    for policy in &policies {
        assert_eq!(admitted(&policy["spec"]["rules"]), expected_rules());
        assert_eq!(policy["spec"]["mutating"], Value::Bool(true));
        let settings: Settings =
            serde_json::from_value(policy["spec"]["settings"].clone()).expect("settings shape");
        settings.validate().expect("the example settings are valid");
        layouts.insert(format!("{:?}", settings.layout));
    }
    assert_eq!(
        layouts,
        BTreeSet::from(["Flat".to_owned(), "Prefixed".to_owned()])
    );
    let caches = read("docs/caches.md");
    let zot: Vec<Value> = blocks(&caches, "json")
        .into_iter()
        .map(|b| serde_json::from_str(b).expect("JSON example"))
        .collect();
    assert_eq!(zot.len(), 2, "a zot configuration for each layout");
    for config in &zot {
        assert_eq!(config["http"]["compat"], serde_json::json!(["docker2s2"]));
        let registries = config["extensions"]["sync"]["registries"]
            .as_array()
            .expect("sync registries");
        assert!(
            registries
                .iter()
                .all(|r| r["preserveDigest"] == true && r["onDemand"] == true),
            "{config}"
        );
    }
}

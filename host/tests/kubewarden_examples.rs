//! The ClusterAdmissionPolicy examples of docs/kubewarden.md give Kubewarden what `serve`
//! registers: the same infrastructure exclusions, the opt-out objectSelector and the same
//! matchConditions (whose CEL the real API server runs in e2e-cluster/25-calls.bats), so a
//! Kubewarden user is spared the same calls.

use pullthrough::k8s;
use serde_json::{Value, json};

fn examples() -> Vec<Value> {
    let path = format!("{}/../docs/kubewarden.md", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc.split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .map(|block| serde_yaml_ng::from_str::<Value>(block).expect("YAML example parses"))
        .filter(|v| v["kind"] == "ClusterAdmissionPolicy")
        .collect()
}

/// The image prefixes `serve` derives from the same settings: the mirror's and each rule
/// target's host.
fn prefixes(settings: &Value) -> Vec<String> {
    let mut hosts: Vec<String> = std::iter::once(&settings["mirror"])
        .chain(
            settings["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| &r["target"]),
        )
        .filter_map(Value::as_str)
        .map(|t| format!("{}/", t.split('/').next().unwrap_or_default()))
        .collect();
    hosts.dedup();
    hosts
}

#[test]
fn the_examples_skip_what_serve_skips() {
    let policies = examples();
    assert_eq!(policies.len(), 2);
    for policy in &policies {
        let spec = &policy["spec"];
        assert_eq!(
            spec["namespaceSelector"]["matchExpressions"][0]["values"],
            json!(k8s::DEFAULT_EXCLUDED_NAMESPACES),
            "{}",
            policy["metadata"]["name"]
        );
        assert_eq!(
            spec["objectSelector"],
            json!({"matchExpressions": [{"key": "pullthrough.dev/rewrite", "operator": "NotIn", "values": ["false"]}]})
        );
        assert_eq!(
            spec["matchConditions"],
            serde_json::to_value(k8s::match_conditions(&prefixes(&spec["settings"])))
                .expect("json")
        );
    }
}

//! The generated policy: what it is made of for each kind of setting. The CEL itself is run by
//! the real API server in `e2e-cluster/75-admission-policy.bats`; these check what the
//! generator decides before any CEL runs.

use super::*;

fn settings(json: &str) -> Settings {
    Settings::from_json(json.as_bytes()).expect("settings parse")
}

fn options() -> Options {
    Options {
        failure_policy: FailurePolicy::Ignore,
        excluded_namespaces: vec!["zot".to_owned(), "kube-system".to_owned()],
    }
}

fn variable<'a>(program: &'a Program, name: &str) -> &'a str {
    &program
        .variables
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no variable {name}"))
        .expression
}

#[test]
fn settings_sharing_a_namespace_are_refused_as_the_policy_refuses_them() {
    let shared = settings(r#"{"mirror": "m.example.com", "registries": ["docker.io", "ghcr.io"]}"#);
    let error = render(&shared, &options()).expect_err("refused");
    let Error::Settings(ref source) = error else {
        panic!("not the settings' error: {error:?}");
    };
    assert_eq!(
        error.to_string(),
        shared
            .compile()
            .expect_err("the policy refuses them")
            .to_string()
    );
    assert!(
        matches!(source, SettingsError::SharedNamespace(_)),
        "{source:?}"
    );
}

#[test]
fn settings_allowed_to_share_a_namespace_carry_the_policys_warning() {
    let shared = settings(
        r#"{"mirror": "m.example.com", "registries": ["*"], "allowSharedNamespace": true}"#,
    );
    render(&shared, &options()).expect("generated");
    let warning = shared.warning().expect("the policy warns at load");
    let mut expected: Vec<&str> = NOTES.to_vec();
    expected.push(&warning);
    assert_eq!(notes(&shared), expected);
    let plain = settings(r#"{"mirror": "m.example.com"}"#);
    assert_eq!(notes(&plain), NOTES);
}

#[test]
fn the_registries_follow_the_layouts_defaults() {
    let flat = program(&settings(r#"{"mirror": "m.example.com"}"#)).expect("generated");
    assert!(
        variable(&flat, "targets").contains("!(r.domain.lowerAscii() in ['docker.io'])"),
        "{}",
        variable(&flat, "targets")
    );
    let prefixed = program(&settings(
        r#"{"mirror": "m.example.com", "layout": "prefixed"}"#,
    ))
    .expect("generated");
    assert!(
        variable(&prefixed, "targets")
            .contains("!(r.domain.lowerAscii() in ['docker.io', 'ghcr.io', 'quay.io', 'gcr.io'])"),
        "{}",
        variable(&prefixed, "targets")
    );
}

#[test]
fn kube_system_is_left_out_by_the_selector_and_by_a_condition() {
    let yaml = render(&settings(r#"{"mirror": "m.example.com"}"#), &options()).expect("rendered");
    let policy: serde_json::Value =
        serde_yaml_ng::from_str(yaml.split("\n---\n").nth(1).expect("the policy document"))
            .expect("YAML");
    let selector = &policy["spec"]["matchConstraints"]["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(
        selector["values"],
        serde_json::json!(["kube-system", "zot"]),
        "kube-system first and once"
    );
    let conditions = &policy["spec"]["matchConditions"];
    assert_eq!(conditions[0]["name"], "not-in-kube-system");
    assert!(
        conditions[0]["expression"]
            .as_str()
            .expect("an expression")
            .ends_with("request.namespace != 'kube-system'")
    );
}

#[test]
fn the_originals_annotation_keeps_to_the_api_servers_limit() {
    let program = program(&settings(r#"{"mirror": "m.example.com"}"#)).expect("generated");
    assert!(variable(&program, "originalsFit").ends_with("<= 262144"));
    assert!(program.mutation.contains("|| !variables.originalsFit ? []"));
}

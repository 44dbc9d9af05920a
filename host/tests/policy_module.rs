//! The real `policy.wasm` as a waPC module in the host's engine: its exports, and the calls
//! other than `validate` (which `policy_fixtures.rs` covers).

mod common;

use pullthrough::policies::{PolicyRegistry, PolicySource};
use pullthrough::wasm::CallError;
use serde_json::{Value, json};

#[test]
fn exports_the_wapc_entry_points() {
    let module = common::policy::embedded_module();
    let exports: Vec<&str> = module.export_names().collect();
    for name in ["__guest_call", "wapc_init", "memory"] {
        assert!(
            exports.contains(&name),
            "policy.wasm exports {exports:?}, not {name}"
        );
    }
}

#[test]
fn protocol_version_is_v1() {
    let response = common::policy::embedded_module()
        .call("protocol_version", Vec::new())
        .expect("protocol_version succeeds");
    assert_eq!(
        serde_json::from_slice::<Value>(&response).expect("JSON"),
        json!("v1")
    );
}

/// The guest's own answer to `validate_settings`, and what the registry makes of it at load.
#[tokio::test]
async fn validate_settings_names_the_bad_field() {
    const MIRROR_REQUIRED: &str = "settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com";
    const SCHEME_IN_TARGET: &str = "settings.rules[0].target must be host[:port] optionally followed by a path, got \"https://cache\": leave out the scheme";
    const DUPLICATE_SECRET: &str =
        "settings.imagePullSecrets[1]: secret \"mirror-pull\" is already listed";
    let cases: [(Value, Option<&str>); 5] = [
        (json!({"mirror": "registry-mirror.example.com"}), None),
        (
            json!({"mirror": "registry-mirror.example.com", "imagePullSecrets": ["mirror-pull"]}),
            None,
        ),
        (
            json!({"mirror": "registry-mirror.example.com", "imagePullSecrets": ["mirror-pull", "mirror-pull"]}),
            Some(DUPLICATE_SECRET),
        ),
        (json!({}), Some(MIRROR_REQUIRED)),
        (
            json!({"mirror": "registry-mirror.example.com", "rules": [{"registry": "ghcr.io", "target": "https://cache"}]}),
            Some(SCHEME_IN_TARGET),
        ),
    ];
    let module = common::policy::embedded_module();
    for (settings, refusal) in cases {
        let answer = module
            .call(
                "validate_settings",
                serde_json::to_vec(&settings).expect("encodable"),
            )
            .expect("validate_settings succeeds");
        assert_eq!(
            serde_json::from_slice::<Value>(&answer).expect("JSON"),
            json!({"valid": refusal.is_none(), "message": refusal}),
            "{settings}"
        );
        let loaded = PolicyRegistry::load(common::runtime(), PolicySource::Embedded { settings })
            .await
            .map(|registry| registry.policy_names())
            .map_err(|error| error.to_string());
        let want = match refusal {
            None => Ok(vec!["pullthrough".to_owned()]),
            Some(message) => Err(format!(
                "policy \"pullthrough\" refused its settings: {message}"
            )),
        };
        assert_eq!(loaded, want);
    }
}

#[test]
fn unknown_operations_and_bad_payloads_are_guest_errors() {
    let module = common::policy::embedded_module();
    let guest_error =
        |operation: &str, payload: &[u8]| match module.call(operation, payload.to_vec()) {
            Err(CallError::Guest(message)) => message,
            other => panic!("{operation}: expected a guest error, got {other:?}"),
        };
    assert_eq!(
        guest_error("mutate", b"{}"),
        "No handler registered for function mutate"
    );
    assert_eq!(
        guest_error(
            "validate",
            b"{\"settings\": {\"mirror\": \"m.example.com\"}}"
        ),
        "validate payload is not {\"settings\", \"request\"} JSON: missing field `request` at line 1 column 41"
    );
}

//! policy.wasm as a waPC module: its exports and the calls that are not `validate`.

mod common;

use serde_json::{Value, json};

use common::POLICY;

#[test]
fn exports_the_wapc_entry_points() {
    let exports: Vec<&str> = POLICY.module().exports().map(|e| e.name()).collect();
    for name in ["__guest_call", "wapc_init", "memory"] {
        assert!(
            exports.contains(&name),
            "policy.wasm exports {exports:?}, not {name}"
        );
    }
}

#[test]
fn protocol_version_is_v1() {
    let response = POLICY
        .call("protocol_version", b"")
        .expect("protocol_version succeeds");
    assert_eq!(
        serde_json::from_slice::<Value>(&response).expect("JSON"),
        json!("v1")
    );
}

#[test]
fn validate_settings_names_the_bad_field() {
    let call = |settings: Value| -> Value {
        let response = POLICY
            .call(
                "validate_settings",
                &serde_json::to_vec(&settings).expect("encodable"),
            )
            .expect("validate_settings succeeds");
        serde_json::from_slice(&response).expect("JSON")
    };
    assert_eq!(
        call(json!({"mirror": "registry-mirror.example.com"})),
        json!({"valid": true, "message": null})
    );
    assert_eq!(
        call(json!({})),
        json!({"valid": false, "message": "settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com"})
    );
    assert_eq!(
        call(
            json!({"mirror": "registry-mirror.example.com", "rules": [{"registry": "ghcr.io", "target": "https://cache"}]})
        ),
        json!({"valid": false, "message": "settings.rules[0].target must be host[:port] optionally followed by a path, got \"https://cache\": leave out the scheme"})
    );
}

#[test]
fn unknown_operations_and_bad_payloads_are_guest_errors() {
    assert_eq!(
        POLICY.call("mutate", b"{}"),
        Err("No handler registered for function mutate".to_owned())
    );
    assert_eq!(
        POLICY.call("validate", b"{\"settings\": {\"mirror\": \"m.example.com\"}}"),
        Err("validate payload is not {\"settings\", \"request\"} JSON: missing field `request` at line 1 column 41".to_owned())
    );
}

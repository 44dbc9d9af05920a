//! The waPC payloads, called natively as the waPC registry would.

use serde_json::{Value, json};

use super::*;

fn call(f: fn(&[u8]) -> wapc_guest::CallResult, payload: &Value) -> Value {
    let bytes = serde_json::to_vec(payload).expect("encodable");
    let response = f(&bytes).expect("the call succeeds");
    serde_json::from_slice(&response).expect("the response is JSON")
}

fn pod(image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "app", "image": image}]}})
}

#[test]
fn validate_returns_the_mutated_object() {
    let payload = json!({
        "settings": {"mirror": "m.example.com"},
        "request": {"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "object": pod("nginx")},
    });
    let mut expected = pod("m.example.com/library/nginx");
    expected["metadata"]["annotations"] =
        json!({"pullthrough.dev/original-images": "{\"app\":\"nginx\"}"});
    assert_eq!(
        call(validate, &payload),
        json!({"accepted": true, "message": null, "code": null, "mutated_object": expected,
               "audit_annotations": null, "warnings": null})
    );
}

#[test]
fn validate_accepts_unchanged_with_warnings() {
    let payload = json!({
        "settings": {"mirror": "m.example.com"},
        "request": {"kind": {"kind": "Pod"}, "operation": "CREATE", "object": pod("Nginx")},
    });
    assert_eq!(
        call(validate, &payload),
        json!({"accepted": true, "message": null, "code": null, "mutated_object": null, "audit_annotations": null,
               "warnings": ["pullthrough: container \"app\" left unchanged: not a valid image reference: invalid reference format: repository name (library/Nginx) must be lowercase; image \"Nginx\""]})
    );
}

#[test]
fn validate_fails_on_bad_settings_or_payload() {
    let bad_settings = json!({"settings": {"mirror": ""}, "request": {"object": pod("nginx")}});
    let error = validate(&serde_json::to_vec(&bad_settings).expect("encodable"))
        .expect_err("settings are invalid");
    assert_eq!(
        error.to_string(),
        "settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com"
    );
    let error = validate(b"42").expect_err("not a payload");
    assert_eq!(
        error.to_string(),
        "validate payload is not {\"settings\", \"request\"} JSON: invalid type: integer `42`, expected struct ValidationPayload at line 1 column 2"
    );
    let error = validate(b"{\"settings\": {}, \"request\": \"\xff\"}").expect_err("not UTF-8");
    assert_eq!(
        error.to_string(),
        "validate payload is not UTF-8: invalid utf-8 sequence of 1 bytes from index 29"
    );
}

#[test]
fn validate_settings_answers_valid_or_names_the_field() {
    assert_eq!(
        call(validate_settings, &json!({"mirror": "m.example.com"})),
        json!({"valid": true, "message": null})
    );
    assert_eq!(
        call(
            validate_settings,
            &json!({"mirror": "m.example.com", "layout": "deep"})
        ),
        json!({"valid": false, "message": "settings.layout: unknown variant `deep`, expected `flat` or `prefixed` at line 1 column 16"})
    );
    assert_eq!(
        call(
            validate_settings,
            &json!({"mirror": "m.example.com", "registries": ["quay"]})
        ),
        json!({"valid": false, "message": "settings.registries[0] must be a registry host[:port] such as ghcr.io, got \"quay\": a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace"})
    );
}

#[test]
fn validate_settings_refuses_a_shared_namespace_unless_allowed_and_then_warns() {
    let shared = json!({"mirror": "m.example.com", "registries": ["*"]});
    assert_eq!(
        call(validate_settings, &shared),
        json!({"valid": false, "message": "settings.registries [\"*\"] with layout flat rewrites every registry into the one mirror namespace \"m.example.com/\": whoever owns a repository path on one registry could then supply the image of the same path on the other; use layout: prefixed, give each registry a rule with a target of its own, or set allowSharedNamespace: true to accept that"})
    );
    let mut allowed = shared;
    allowed["allowSharedNamespace"] = json!(true);
    assert_eq!(
        call(validate_settings, &allowed),
        json!({"valid": true, "message": "settings.registries [\"*\"] with layout flat rewrites every registry into the one mirror namespace \"m.example.com/\": allowSharedNamespace accepts that whoever owns a repository path on one registry can supply the image of the same path on the other"})
    );
}

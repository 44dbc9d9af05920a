//! Unit tests of the AdmissionReview wire types.

use serde_json::{Value, json};

use super::*;

#[test]
fn response_serialises_as_kubernetes_expects() {
    let response = AdmissionResponse {
        uid: "u-1".into(),
        allowed: true,
        patch_type: Some(PatchType::JsonPatch),
        patch: Some("W10=".into()),
        status: Some(ResponseStatus {
            code: Some(200),
            message: Some("ok".into()),
        }),
        warnings: Some(vec!["w".into()]),
        audit_annotations: Some(BTreeMap::from([("k".into(), "v".into())])),
    };
    assert_eq!(
        serde_json::to_value(response.into_review()).expect("serialises"),
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {
                "uid": "u-1",
                "allowed": true,
                "patchType": "JSONPatch",
                "patch": "W10=",
                "status": {"code": 200, "message": "ok"},
                "warnings": ["w"],
                "auditAnnotations": {"k": "v"}
            }
        })
    );
}

#[test]
fn absent_fields_are_omitted() {
    let cases = [
        (
            AdmissionResponse::allow("a"),
            json!({"uid": "a", "allowed": true}),
        ),
        (
            AdmissionResponse::deny("b", 403, "no"),
            json!({"uid": "b", "allowed": false, "status": {"code": 403, "message": "no"}}),
        ),
        (
            AdmissionResponse::reject("c", "no"),
            json!({"uid": "c", "allowed": false, "status": {"message": "no"}}),
        ),
        (
            AdmissionResponse::allow("d").with_warning("fail-open"),
            json!({"uid": "d", "allowed": true, "warnings": ["fail-open"]}),
        ),
    ];
    for (response, expected) in cases {
        assert_eq!(
            serde_json::to_value(&response).expect("serialises"),
            expected
        );
    }
}

#[test]
fn review_keeps_the_raw_request() {
    let body = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "x", "object": {"unknownField": [1, null]}, "dryRun": null}
    });
    let review = AdmissionReview::from_slice(body.to_string().as_bytes()).expect("valid review");
    assert_eq!(review.request.uid(), "x");
    assert_eq!(
        review.request.object(),
        Some(json!({"unknownField": [1, null]}))
    );
    // Byte for byte, spaces and escapes included: the patch is a diff against exactly this.
    let sent = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":
        {"uid":"y","object": {"b" : "\u003c", "a":[ 1.0e3 ]}}}"#;
    let review = AdmissionReview::from_slice(sent).expect("valid review");
    assert_eq!(
        review.request.object_json(),
        Some(r#"{"b" : "\u003c", "a":[ 1.0e3 ]}"#)
    );
}

#[test]
fn nulls_are_stripped_outside_the_objects() {
    let request = AdmissionRequest::from_value(json!({
        "uid": "u", "subResource": null, "dryRun": false,
        "userInfo": {"username": "a", "groups": null},
        "object": {"spec": {"nodeName": null}}, "oldObject": null,
        "options": {"object": {"a": null, "b": [null]}}
    }))
    .expect("valid");
    let guest: Value = serde_json::from_str(request.json()).expect("JSON");
    assert_eq!(
        guest,
        json!({
            "uid": "u", "dryRun": false, "userInfo": {"username": "a"},
            "object": {"spec": {"nodeName": null}},
            "options": {"object": {"b": [null]}}
        })
    );
}

#[test]
fn the_logged_fields_are_read_from_the_request() {
    let request = AdmissionRequest::from_value(json!({
        "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "namespace": "ns", "name": "", "operation": "CREATE",
        "object": {"metadata": {"generateName": "web-"}},
    }))
    .expect("valid");
    let read = [
        request.uid(),
        request.kind(),
        request.namespace(),
        request.name(),
        request.operation(),
    ];
    assert_eq!(read, ["u", "Pod", "ns", "web-", "CREATE"]);
    // The last of duplicate keys counts, and a member of the wrong type reads as empty.
    let request = AdmissionRequest::from_json(r#"{"uid":"a","uid":"b","namespace":7,"name":"n"}"#)
        .expect("valid");
    assert_eq!(
        [request.uid(), request.namespace(), request.name()],
        ["b", "", "n"]
    );
    assert_eq!(request.json(), r#"{"uid":"b","namespace":7,"name":"n"}"#);
}

#[test]
fn nesting_deeper_than_serde_json_parses_is_refused_before_any_tree_is_built() {
    let deep = |depth: usize| {
        let review = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","object":{{"x":"[\"]{{","y":{}{}}}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        AdmissionReview::from_slice(review.as_bytes())
    };
    // Three levels of review, request and object, plus the arrays: 127 in all is the limit.
    assert!(deep(members::MAX_DEPTH - 3).is_ok());
    let error = deep(members::MAX_DEPTH - 2).expect_err("too deep");
    assert_eq!(
        crate::report::one_line(&error),
        "request body is not valid JSON: arrays and objects nested deeper than 127 levels"
    );
}

#[test]
fn broken_reviews_are_refused_with_a_reason() {
    let cases: [(&[u8], &str); 7] = [
        (b"{", "request body is not valid JSON: EOF while parsing an object at line 1 column 1"),
        (
            b"{\"request\":{\"uid\":\"\xff\"}}",
            "request body is not valid JSON: invalid unicode code point at line 1 column 20",
        ),
        (b"{} x", "request body is not valid JSON: trailing characters at line 1 column 4"),
        (b"[]", "expected a JSON object, got an array"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"a"}}"#,
            "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got \"admission.k8s.io/v1beta1\" and \"AdmissionReview\"",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            "AdmissionReview has no request object",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}"#,
            "AdmissionReview request.uid must be a non-empty string",
        ),
    ];
    for (body, expected) in cases {
        let error = AdmissionReview::from_slice(body).expect_err("invalid");
        // The whole chain: the JSON error is the source of its message.
        assert_eq!(crate::report::one_line(&error), expected);
    }
}

#[test]
fn run_accepts_a_review_or_a_bare_request() {
    let bare = json!({"uid": "r", "object": {}});
    let review = json!({"kind": "AdmissionReview", "request": bare.clone()});
    for value in [bare, review] {
        let request = AdmissionRequest::from_review_or_request(value).expect("accepted");
        assert_eq!(request.uid(), "r");
    }
    let error = AdmissionRequest::from_review_or_request(json!("x")).expect_err("refused");
    assert_eq!(error.to_string(), "expected a JSON object, got a string");
}

#[test]
fn delete_has_no_object() {
    let request =
        AdmissionRequest::from_value(json!({"uid": "d", "object": null, "oldObject": {}}))
            .expect("valid");
    assert_eq!(request.object(), None);
}

//! Unit tests of the Kubewarden protocol: the verdict turned into a response and a patch.

use serde_json::json;

use super::*;

fn request(object: Value) -> AdmissionRequest {
    AdmissionRequest::from_value(json!({"uid": "u", "operation": "CREATE", "object": object}))
        .expect("valid request")
}

/// A verdict borrows from the guest's answer: the answer's text lives as long as the test.
fn verdict(value: Value) -> ValidationResponse<'static> {
    let answer: &'static str = Box::leak(value.to_string().into_boxed_str());
    serde_json::from_str(answer).expect("valid verdict")
}

fn pod(image: &str) -> Value {
    json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": image}], "nodeName": null}})
}

fn decoded_patch(evaluation: &Evaluation) -> Value {
    let patch = evaluation.response.patch.as_ref().expect("has a patch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("JSON patch")
}

#[test]
fn mutation_becomes_a_base64_json_patch() {
    let evaluation = to_evaluation(
        "p",
        true,
        &request(pod("nginx")),
        verdict(json!({"accepted": true, "mutated_object": pod("m.example.com/library/nginx")})),
    )
    .expect("evaluates");
    assert_eq!(
        decoded_patch(&evaluation),
        json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "m.example.com/library/nginx"}])
    );
    assert_eq!(evaluation.response.patch_type, Some(PatchType::JsonPatch));
    assert!(evaluation.response.allowed);
    assert_eq!(evaluation.response.status, None);
    assert_eq!(evaluation.images_rewritten, 1);
}

#[test]
fn identical_mutated_object_means_no_patch() {
    let evaluation = to_evaluation(
        "p",
        true,
        &request(pod("nginx")),
        verdict(json!({"accepted": true, "mutated_object": pod("nginx")})),
    )
    .expect("evaluates");
    assert_eq!(evaluation.response, AdmissionResponse::allow("u"));
    assert_eq!(evaluation.images_rewritten, 0);
}

#[test]
fn verdict_fields_are_carried_over() {
    let evaluation = to_evaluation(
        "p",
        false,
        &request(pod("nginx")),
        verdict(json!({
            "accepted": false, "message": "no", "code": 418,
            "warnings": ["w"], "audit_annotations": {"a": "b"}, "future_field": 1
        })),
    )
    .expect("evaluates");
    assert_eq!(
        serde_json::to_value(&evaluation.response).expect("serialises"),
        json!({"uid": "u", "allowed": false, "status": {"code": 418, "message": "no"},
               "warnings": ["w"], "auditAnnotations": {"a": "b"}})
    );
}

#[test]
fn mutation_by_a_policy_not_allowed_to_mutate_is_rejected() {
    let evaluation = to_evaluation(
        "audit",
        false,
        &request(pod("nginx")),
        verdict(json!({"accepted": true, "mutated_object": pod("other")})),
    )
    .expect("evaluates");
    assert_eq!(
        evaluation.response,
        AdmissionResponse::reject(
            "u",
            "Request rejected by policy audit. The policy attempted to mutate the request, but it is currently configured to not allow mutations."
        )
    );
}

#[test]
fn mutation_of_a_delete_is_rejected() {
    let delete =
        AdmissionRequest::from_value(json!({"uid": "u", "object": null, "oldObject": pod("x")}))
            .expect("valid");
    let evaluation = to_evaluation(
        "p",
        true,
        &delete,
        verdict(json!({"accepted": true, "mutated_object": pod("y")})),
    )
    .expect("evaluates");
    assert_eq!(
        evaluation.response,
        AdmissionResponse::reject(
            "u",
            "policy p tried to mutate a request without an object (a DELETE); this is not allowed"
        )
    );
}

#[test]
fn an_answer_that_is_not_utf8_or_not_a_verdict_is_an_invalid_response() {
    let answers: [&[u8]; 3] = [
        b"{\"accepted\": true, \"message\": \"\xff\"}",
        b"{\"accepted\": tru",
        b"[]",
    ];
    for answer in answers {
        let error = read_verdict(answer).expect_err("refused");
        assert!(
            matches!(error, EvaluationError::InvalidResponse(_)),
            "{error:?}"
        );
        assert_eq!(error.kind(), "invalid_response");
    }
    let verdict = read_verdict(br#"{"accepted": false, "message": "no"}"#).expect("a verdict");
    assert_eq!(verdict.message.as_deref(), Some("no"));
}

#[test]
fn only_image_replacements_are_counted() {
    let patch = json!([
        {"op": "replace", "path": "/spec/containers/0/image", "value": "a"},
        {"op": "replace", "path": "/spec/initContainers/1/image", "value": "b"},
        {"op": "add", "path": "/metadata/labels/image", "value": "c"},
        {"op": "replace", "path": "/metadata/annotations/imagex", "value": "d"},
        {"op": "replace", "path": "/spec/volumes/3/image/reference", "value": "e"},
        {"op": "replace", "path": "/spec/volumes/4/image/pullPolicy", "value": "f"}
    ]);
    let patch: Vec<json_patch::PatchOperation> = serde_json::from_value(patch).expect("a patch");
    assert_eq!(count_image_replacements(&patch), 3);
}

//! Unit tests of the Kubewarden protocol: the verdict turned into a response and a patch.

use serde_json::json;

use super::*;

fn request(object: Value) -> AdmissionRequest {
    AdmissionRequest::from_value(json!({"uid": "u", "operation": "CREATE", "object": object}))
        .expect("valid request")
}

/// `request` evaluated to the guest's `answer`, read as the server reads it: beside the object
/// the guest was sent.
fn evaluate(
    policy: &str,
    allowed_to_mutate: bool,
    request: &AdmissionRequest,
    answer: Value,
) -> Evaluation {
    let answer = answer.to_string();
    let verdict = verdict::read(answer.as_bytes(), request.object_json()).expect("valid verdict");
    to_evaluation(policy, allowed_to_mutate, request, verdict).expect("evaluates")
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
    let evaluation = evaluate(
        "p",
        true,
        &request(pod("nginx")),
        json!({"accepted": true, "mutated_object": pod("m.example.com/library/nginx")}),
    );
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
    let evaluation = evaluate(
        "p",
        true,
        &request(pod("nginx")),
        json!({"accepted": true, "mutated_object": pod("nginx")}),
    );
    assert_eq!(evaluation.response, AdmissionResponse::allow("u"));
    assert_eq!(evaluation.images_rewritten, 0);
}

#[test]
fn verdict_fields_are_carried_over() {
    let evaluation = evaluate(
        "p",
        false,
        &request(pod("nginx")),
        json!({
            "accepted": false, "message": "no", "code": 418,
            "warnings": ["w"], "audit_annotations": {"a": "b"}, "future_field": 1
        }),
    );
    assert_eq!(
        serde_json::to_value(&evaluation.response).expect("serialises"),
        json!({"uid": "u", "allowed": false, "status": {"code": 418, "message": "no"},
               "warnings": ["w"], "auditAnnotations": {"a": "b"}})
    );
}

#[test]
fn mutation_by_a_policy_not_allowed_to_mutate_is_rejected() {
    let evaluation = evaluate(
        "audit",
        false,
        &request(pod("nginx")),
        json!({"accepted": true, "mutated_object": pod("other")}),
    );
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
    let evaluation = evaluate(
        "p",
        true,
        &delete,
        json!({"accepted": true, "mutated_object": pod("y")}),
    );
    assert_eq!(
        evaluation.response,
        AdmissionResponse::reject(
            "u",
            "policy p tried to mutate a request without an object (a DELETE); this is not allowed"
        )
    );
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

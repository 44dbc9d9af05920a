//! The fields of an admission request the walk reads: deserialised ([`AdmissionRequest`]) or
//! borrowed from JSON ([`View`]).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The fields of an `admission.k8s.io/v1` `AdmissionRequest` the rewrite reads; the others
/// are skipped without being built. Absent and `null` fields read as empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: GroupVersionKind,
    #[serde(default, deserialize_with = "nullable")]
    pub operation: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sub_resource: String,
    #[serde(default)]
    pub object: Value,
    /// When deserialised, only the members on the way to each container's name and image:
    /// that is all the rewrite reads, and building the rest would double the decoding cost.
    #[serde(default, deserialize_with = "crate::skeleton::deserialize")]
    pub old_object: Value,
}

/// `AdmissionRequest.kind`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
}

fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

impl<'a> View<'a> {
    /// The fields of an `AdmissionRequest` given as JSON.
    pub(super) fn of_json(request: &'a Value) -> Self {
        let str_at = |pointer: &str| {
            request
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        View {
            kind: str_at("/kind/kind"),
            operation: str_at("/operation"),
            sub_resource: str_at("/subResource"),
            object: request.get("object").unwrap_or(&Value::Null),
            old_object: request.get("oldObject").unwrap_or(&Value::Null),
        }
    }

    /// The fields of a deserialised request.
    pub(super) fn of_request(request: &'a AdmissionRequest) -> Self {
        View {
            kind: &request.kind.kind,
            operation: &request.operation,
            sub_resource: &request.sub_resource,
            object: &request.object,
            old_object: &request.old_object,
        }
    }
}

pub(super) struct View<'a> {
    pub(super) kind: &'a str,
    pub(super) operation: &'a str,
    pub(super) sub_resource: &'a str,
    pub(super) object: &'a Value,
    pub(super) old_object: &'a Value,
}

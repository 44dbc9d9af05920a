//! admission.k8s.io/v1 `AdmissionReview`, `AdmissionRequest` and `AdmissionResponse`, the
//! request kept as the raw JSON text it came in.
//!
//! The request is never round-tripped through typed Kubernetes structs: a typed round-trip drops
//! fields it does not know, and the JSONPatch we answer with must be computed against exactly the
//! object the API server sent.

mod image_path;
pub(crate) mod members;
mod request;
mod scan;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use image_path::ImagePath;
pub use request::AdmissionRequest;

/// The only AdmissionReview version this webhook speaks.
pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

/// Why a body is not an AdmissionReview (or an AdmissionRequest) we can evaluate.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The body is not JSON.
    #[error("request body is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// The JSON is not an object.
    #[error("expected a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// The review has the wrong `apiVersion` or `kind`.
    #[error(
        "expected apiVersion {ADMISSION_API_VERSION} and kind AdmissionReview, got {api_version:?} and {kind:?}"
    )]
    WrongType {
        /// The `apiVersion` that was sent.
        api_version: String,
        /// The `kind` that was sent.
        kind: String,
    },
    /// The review carries no `request` object.
    #[error("AdmissionReview has no request object")]
    MissingRequest,
    /// The request has no string `uid`.
    #[error("AdmissionReview request.uid must be a non-empty string")]
    MissingUid,
}

/// An incoming `admission.k8s.io/v1` AdmissionReview.
#[derive(Debug, Clone)]
pub struct AdmissionReview {
    /// The request the API server asks us to admit.
    pub request: AdmissionRequest,
}

impl AdmissionReview {
    /// Reads an HTTP body that must be an `admission.k8s.io/v1` AdmissionReview: in one pass,
    /// with the request's members read as they are (see `AdmissionRequest`).
    pub fn from_slice(body: &[u8]) -> Result<Self, AdmissionError> {
        let text = std::str::from_utf8(body).map_err(|_| {
            // serde_json's own message says where: parsing the bytes fails where this did.
            let error = serde_json::from_slice::<serde_json::Value>(body).err();
            AdmissionError::Json(
                error.unwrap_or_else(|| serde::de::Error::custom("the request body is not UTF-8")),
            )
        })?;
        let (members, request) = members::opening(text, "request")
            .map_err(AdmissionError::Json)?
            .map_err(AdmissionError::NotAnObject)?;
        // The last of duplicate keys counts, as in a parsed object.
        let string = |name: &str| {
            members
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, raw)| members::string_or_empty(raw))
                .unwrap_or_default()
        };
        let (api_version, kind) = (string("apiVersion"), string("kind"));
        if api_version != ADMISSION_API_VERSION || kind != "AdmissionReview" {
            return Err(AdmissionError::WrongType { api_version, kind });
        }
        let Some(Ok(request)) = request else {
            return Err(AdmissionError::MissingRequest);
        };
        Ok(Self {
            request: AdmissionRequest::from_members(&request, text.len())?,
        })
    }
}

/// The `patchType` of a response; JSONPatch is the only one admission.k8s.io/v1 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatchType {
    /// RFC 6902 JSON Patch.
    #[serde(rename = "JSONPatch")]
    JsonPatch,
}

/// `response.status`: the subset of `metav1.Status` an admission webhook sets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseStatus {
    /// HTTP-like status code the API server reports to the client when the request is denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Human-readable reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An outgoing `admission.k8s.io/v1` AdmissionResponse, serialised exactly as Kubernetes (and
/// `kwctl run`) expect: absent fields are omitted, `patch` is base64 of the JSONPatch text, and
/// the fields come in policy-evaluator's order so `pullthrough run` prints what `kwctl run` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdmissionResponse {
    /// Copied from the request.
    pub uid: String,
    /// The verdict.
    pub allowed: bool,
    /// Set exactly when `patch` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<PatchType>,
    /// Base64 (standard alphabet, padded) of the JSONPatch document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Why, when the policy said so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// Added to the audit event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings shown to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

impl AdmissionResponse {
    /// Admits the request unchanged.
    pub fn allow(uid: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            allowed: true,
            patch_type: None,
            patch: None,
            status: None,
            warnings: None,
            audit_annotations: None,
        }
    }

    /// Denies the request with a status code and a message for the client.
    pub fn deny(uid: impl Into<String>, code: u16, message: impl Into<String>) -> Self {
        Self {
            allowed: false,
            status: Some(ResponseStatus {
                code: Some(code),
                message: Some(message.into()),
            }),
            ..Self::allow(uid)
        }
    }

    /// Denies the request with a message and no status code (the API server then reports 403).
    pub fn reject(uid: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            allowed: false,
            status: Some(ResponseStatus {
                code: None,
                message: Some(message.into()),
            }),
            ..Self::allow(uid)
        }
    }

    /// Adds a warning (used for fail-open answers).
    #[must_use]
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings
            .get_or_insert_with(Vec::new)
            .push(warning.into());
        self
    }

    /// Wraps the response in the AdmissionReview envelope the API server reads.
    pub fn into_review(self) -> AdmissionReviewResponse {
        AdmissionReviewResponse {
            api_version: ADMISSION_API_VERSION,
            kind: "AdmissionReview",
            response: self,
        }
    }
}

/// The body answered to the API server: `{"apiVersion", "kind", "response"}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewResponse {
    /// Always `admission.k8s.io/v1`.
    pub api_version: &'static str,
    /// Always `AdmissionReview`.
    pub kind: &'static str,
    /// The answer.
    pub response: AdmissionResponse,
}

#[cfg(test)]
mod tests;

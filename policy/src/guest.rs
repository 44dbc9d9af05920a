//! Kubewarden's waPC calls: `validate` and `validate_settings` payloads in, responses out.
//!
//! Only decoding and encoding lives here; the decisions are in [`crate::mutate`] and
//! [`crate::settings`]. The functions are plain `fn(&[u8]) -> CallResult`, so native tests call
//! them exactly as the waPC registry in `lib.rs` does.

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde::Deserialize;

use crate::mutate::AdmissionRequest;
use crate::settings::{Settings, SettingsError};

/// A payload the policy cannot act on. The evaluator reports it; the request is not judged.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// `validate` was not handed `{"settings": …, "request": …}`.
    #[error("validate payload is not {{\"settings\", \"request\"}} JSON: {0}")]
    Payload(#[source] serde_json::Error),
    /// `validate` was handed bytes that are not UTF-8, so not JSON.
    #[error("validate payload is not UTF-8: {0}")]
    Utf8(#[source] std::str::Utf8Error),
    /// The settings were never validated, or were changed since.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A response could not be encoded (never expected: the types are plain).
    #[error("cannot encode the response: {0}")]
    Encode(#[source] serde_json::Error),
}

/// What Kubewarden hands `validate`: the policy's settings and the `AdmissionRequest`.
#[derive(Deserialize)]
struct ValidationPayload {
    #[serde(default)]
    settings: Settings,
    request: AdmissionRequest,
}

/// waPC `validate`: accepts every request, with the images rewritten when any changed.
pub fn validate(payload: &[u8]) -> wapc_guest::CallResult {
    Ok(respond(payload)?)
}

fn respond(payload: &[u8]) -> Result<Vec<u8>, GuestError> {
    // One UTF-8 check of the whole payload: `from_slice` checks each string on its own, which
    // costs more in wasm.
    let text = std::str::from_utf8(payload).map_err(GuestError::Utf8)?;
    // The object kept as text. A payload this read does not take is read as a tree below, which
    // gives the error or the answer.
    if let Some(read) = crate::object_text::payload(text) {
        let rewriter = read.settings.compile()?;
        if let Some(outcome) = rewriter.mutate_text(&read) {
            let response = ValidationResponse {
                accepted: true,
                message: None,
                code: None,
                mutated_object: None,
                audit_annotations: None,
                warnings: (!outcome.warnings.is_empty()).then_some(outcome.warnings),
            };
            let object = outcome.mutated_object;
            let answer = crate::answer::to_json_with_text(&response, object.as_deref());
            crate::discard((read, rewriter, response, object));
            return answer.map_err(GuestError::Encode);
        }
    }
    respond_with_tree(text)
}

/// [`respond`] with the object built as a tree and written back.
fn respond_with_tree(text: &str) -> Result<Vec<u8>, GuestError> {
    let mut payload: ValidationPayload = serde_json::from_str(text).map_err(GuestError::Payload)?;
    let rewriter = payload.settings.compile()?;
    let outcome = rewriter.mutate_request(&mut payload.request);
    let response = ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object: outcome.mutated_object,
        audit_annotations: None,
        warnings: (!outcome.warnings.is_empty()).then_some(outcome.warnings),
    };
    let answer = crate::answer::to_json(&response).map_err(GuestError::Encode);
    // The request, its object and the answer's tree go with the instance.
    crate::discard((payload, rewriter, response));
    answer
}

/// waPC `validate_settings`: a bad setting is an answer (`valid: false` naming the field), not
/// a failed call, so Kubewarden shows the message when the policy is created. Valid settings
/// that deserve a warning (`allowSharedNamespace`) carry it as the message of `valid: true`,
/// which the `pullthrough` host logs at load.
pub fn validate_settings(payload: &[u8]) -> wapc_guest::CallResult {
    let result = Settings::from_json(payload)
        .and_then(|settings| settings.validate().map(|()| settings.warning()));
    let response = match result {
        Ok(warning) => SettingsValidationResponse {
            valid: true,
            message: warning,
        },
        Err(error) => SettingsValidationResponse {
            valid: false,
            message: Some(error.to_string()),
        },
    };
    Ok(serde_json::to_vec(&response).map_err(GuestError::Encode)?)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod text_tests;

//! The Kubewarden policy protocol over waPC, as policy-evaluator speaks it: `protocol_version`
//! and `validate_settings` at load, `validate` per request, and the guest's ValidationResponse
//! turned into an AdmissionResponse with a JSONPatch.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use json_patch::PatchOperation;
use serde::Deserialize;
use serde_json::Value;

use super::diff;
use super::verdict::{self, Mutated, Verdict};
use crate::admission::{AdmissionRequest, AdmissionResponse, ImagePath, PatchType, ResponseStatus};
use crate::wasm::{CallError, CallLimits, Runtime, WapcModule};

use super::{Evaluation, EvaluationError, PolicyError};

/// What a guest's `validate_settings` answers.
#[derive(Debug, Deserialize)]
struct SettingsValidationResponse {
    valid: bool,
    #[serde(default)]
    message: Option<String>,
}

/// One loaded, validated version of a policy.
#[derive(Debug)]
pub(crate) struct LoadedPolicy {
    pub(crate) name: String,
    pub(crate) sha256: String,
    pub(crate) loaded_at: SystemTime,
    pub(crate) allowed_to_mutate: bool,
    pub(crate) settings: Value,
    // The settings as JSON text, spliced into every `validate` payload without re-serialising.
    settings_json: Arc<str>,
    // With several mirrors checked: the settings for each choice of mirror, `mirrors` with the
    // chosen one first (the bundled policy rewrites to the first). Empty otherwise.
    by_choice: Vec<Arc<str>>,
    module: WapcModule,
}

impl LoadedPolicy {
    /// Compiles `bytes`, checks the protocol version and validates `settings`. Blocking.
    pub(crate) fn load(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        settings: Value,
        allowed_to_mutate: bool,
        limits: CallLimits,
    ) -> Result<Self, PolicyError> {
        let module = runtime
            .load(name, bytes, limits)
            .map_err(|source| PolicyError::Load {
                policy: name.to_owned(),
                source,
            })?;
        let call_error = |source: CallError, operation: &'static str| PolicyError::Call {
            policy: name.to_owned(),
            operation,
            source,
        };
        let version = module
            .call("protocol_version", Vec::new())
            .map_err(|source| call_error(source, "protocol_version"))?;
        match serde_json::from_slice::<String>(&version) {
            Ok(version) if version == "v1" => {}
            _ => {
                return Err(PolicyError::Protocol {
                    policy: name.to_owned(),
                    answer: String::from_utf8_lossy(&version).into_owned(),
                });
            }
        }
        let settings_json: Arc<str> = settings.to_string().into();
        // Valid with a message: settings the policy accepts but warns about (the bundled
        // policy's allowSharedNamespace). Kubewarden's policy-server ignores it; we say it.
        if let Some(warning) = validate_settings(&module, name, &settings_json)? {
            tracing::warn!(policy = name, %warning, "the policy accepted its settings with a warning");
        }
        Ok(Self {
            name: name.to_owned(),
            sha256: crate::wasm::sha256_hex(bytes),
            loaded_at: SystemTime::now(),
            allowed_to_mutate,
            settings,
            settings_json,
            by_choice: Vec::new(),
            module,
        })
    }

    /// Prepares one version of the settings per mirror a check of `mirrors` URLs can choose:
    /// `settings.mirrors` with the chosen mirror first and the others after it in their order,
    /// each validated by the guest. Blocking. One mirror needs nothing.
    pub(crate) fn with_mirror_choices(mut self, mirrors: usize) -> Result<Self, PolicyError> {
        if mirrors <= 1 {
            return Ok(self);
        }
        let listed = self
            .settings
            .get("mirrors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if listed.len() != mirrors {
            return Err(PolicyError::MirrorCount {
                policy: self.name.clone(),
                urls: mirrors,
                mirrors: listed.len(),
            });
        }
        let mut by_choice = Vec::with_capacity(mirrors);
        for first in 0..mirrors {
            let mut order = vec![listed[first].clone()];
            order.extend(
                (0..mirrors)
                    .filter(|i| *i != first)
                    .map(|i| listed[i].clone()),
            );
            let mut settings = self.settings.clone();
            settings["mirrors"] = Value::Array(order);
            let json: Arc<str> = settings.to_string().into();
            validate_settings(&self.module, &self.name, &json)?;
            by_choice.push(json);
        }
        self.by_choice = by_choice;
        Ok(self)
    }

    /// The mirrors its settings have a version for (see [`Self::with_mirror_choices`]).
    pub(crate) fn mirror_choices(&self) -> usize {
        self.by_choice.len().max(1)
    }

    /// The limits every evaluation of this version runs under.
    pub(crate) fn limits(&self) -> CallLimits {
        self.module.limits()
    }

    /// Evaluates one request. Blocking: runs guest code.
    pub(crate) fn validate(
        &self,
        request: &AdmissionRequest,
    ) -> Result<Evaluation, EvaluationError> {
        self.validate_by(request, None, 0)
    }

    /// [`Self::validate`], interrupted at `deadline` if that comes first, with the settings of
    /// the mirror `choice` (see [`Self::with_mirror_choices`]; the settings as written when
    /// there is no such choice).
    pub(crate) fn validate_by(
        &self,
        request: &AdmissionRequest,
        deadline: Option<std::time::Instant>,
        choice: usize,
    ) -> Result<Evaluation, EvaluationError> {
        let settings = self.by_choice.get(choice).unwrap_or(&self.settings_json);
        let payload = payload(request, settings);
        let answer = self.module.call_by("validate", payload, deadline)?;
        let verdict = verdict::read(&answer, request.object_json())?;
        to_evaluation(&self.name, self.allowed_to_mutate, request, verdict)
    }
}

/// `{"request": <request without nulls>, "settings": <settings>}`.
fn payload(request: &AdmissionRequest, settings_json: &str) -> Vec<u8> {
    let request = request.json();
    let mut payload = Vec::with_capacity(32 + request.len() + settings_json.len());
    payload.extend_from_slice(br#"{"request":"#);
    payload.extend_from_slice(request.as_bytes());
    payload.extend_from_slice(br#","settings":"#);
    payload.extend_from_slice(settings_json.as_bytes());
    payload.push(b'}');
    payload
}

/// The guest's `validate_settings` on `settings_json`: its warning when valid with a message,
/// an error naming the policy when refused.
fn validate_settings(
    module: &WapcModule,
    name: &str,
    settings_json: &str,
) -> Result<Option<String>, PolicyError> {
    let answer = module
        .call("validate_settings", settings_json.as_bytes().to_vec())
        .map_err(|source| PolicyError::Call {
            policy: name.to_owned(),
            operation: "validate_settings",
            source,
        })?;
    let verdict: SettingsValidationResponse =
        serde_json::from_slice(&answer).map_err(|source| PolicyError::BadAnswer {
            policy: name.to_owned(),
            operation: "validate_settings",
            source,
        })?;
    if !verdict.valid {
        return Err(PolicyError::InvalidSettings {
            policy: name.to_owned(),
            message: verdict
                .message
                .unwrap_or_else(|| "no reason given".to_owned()),
        });
    }
    Ok(verdict.message.filter(|m| !m.is_empty()))
}

/// The patch from the object sent, parsed, to `mutated`: json_patch's, as policy-evaluator makes it.
fn diff_values(object: &str, mutated: &Value) -> Result<Vec<PatchOperation>, EvaluationError> {
    let object: Value = serde_json::from_str(object).map_err(EvaluationError::UnreadableObject)?;
    Ok(json_patch::diff(&object, mutated).0)
}

/// Turns the guest's verdict into the AdmissionResponse policy-evaluator would build.
fn to_evaluation(
    policy: &str,
    allowed_to_mutate: bool,
    request: &AdmissionRequest,
    mut verdict: Verdict<'_>,
) -> Result<Evaluation, EvaluationError> {
    let uid = request.uid().to_owned();
    let mut patch_ops = Vec::new();
    if let Some(mutated) = verdict.mutated_object.take() {
        let Some(object) = request.object_json() else {
            return Ok(Evaluation::unchanged(AdmissionResponse::reject(
                uid,
                format!(
                    "policy {} tried to mutate a request without an object (a DELETE); this is not allowed",
                    policy
                ),
            )));
        };
        patch_ops = match mutated {
            Mutated::Patch(ops) => ops,
            Mutated::Text {
                sent: Some(sent),
                answered,
            } => diff::diff(&sent, &answered),
            // Either text the tape does not read: both as Values, as policy-evaluator diffs them.
            Mutated::Text {
                sent: None,
                answered,
            } => diff_values(object, &answered.to_value())?,
            Mutated::Value(value) => diff_values(object, &value)?,
        };
    }
    if !patch_ops.is_empty() && !allowed_to_mutate {
        return Ok(Evaluation::unchanged(AdmissionResponse::reject(
            uid,
            format!(
                "Request rejected by policy {}. The policy attempted to mutate the request, but it is currently configured to not allow mutations.",
                policy
            ),
        )));
    }
    let images_rewritten = count_image_replacements(&patch_ops);
    let patch = if patch_ops.is_empty() {
        None
    } else {
        let text = serde_json::to_vec(&json_patch::Patch(patch_ops))
            .map_err(EvaluationError::InvalidResponse)?;
        Some(base64::engine::general_purpose::STANDARD.encode(text))
    };
    let status = (verdict.message.is_some() || verdict.code.is_some()).then_some(ResponseStatus {
        code: verdict.code,
        message: verdict.message,
    });
    Ok(Evaluation {
        response: AdmissionResponse {
            uid,
            allowed: verdict.accepted,
            patch_type: patch.as_ref().map(|_| PatchType::JsonPatch),
            patch,
            status,
            warnings: verdict.warnings,
            audit_annotations: verdict.audit_annotations,
        },
        images_rewritten,
    })
}

/// Patch operations that replace a container's `image`.
fn count_image_replacements(patch: &[PatchOperation]) -> usize {
    patch
        .iter()
        .filter(|op| {
            matches!(op, PatchOperation::Replace(replace)
                if ImagePath::parse(replace.path.as_str()).is_some())
        })
        .count()
}

#[cfg(test)]
mod tests;

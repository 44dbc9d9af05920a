//! Each object evaluated by the webhook's own policy, as if it were being created now: an
//! AdmissionRequest built around it, the policy's JSON patch read back as image changes, and
//! the patch `--apply` would send, guarded by `test` operations.
//!
//! Objects stream in from a reader (files or API pages) on the calling thread and are evaluated
//! by a few worker threads sharing the one loaded policy; only a small record per object is
//! kept, never the object itself.
//!
//! - `records`: what is kept of each object, and of the whole scan.
//! - `workers`: the reader and the evaluating threads ([`scan`]).
//! - here: one object's evaluation ([`evaluate`]), as the API server would ask for it.
//! - `guarded`: the image changes and the guarded patch, read from the policy's patch.

mod guarded;
mod records;
mod workers;

use base64::Engine as _;
use serde_json::{Value, json};

use super::Kind;
use crate::admission::{AdmissionError, AdmissionRequest};
use crate::policies::PolicyRegistry;
pub(crate) use guarded::changes;
pub use records::{ImageChange, NamespaceFilter, ObjectRef, Owner, Scan, Scanned, Verdict};
use records::{controller_of, name_of, str_at};
pub use workers::{Workers, scan};

/// Who the scan says it is, in the requests it builds.
const SCAN_USER: &str = "pullthrough-scan";

/// Evaluates one object as a CREATE of it. Blocking.
pub fn evaluate(registry: &PolicyRegistry, policy: &str, kind: Kind, object: Value) -> Scanned {
    let identity = ObjectRef {
        namespace: str_at(&object, "/metadata/namespace").to_owned(),
        kind,
        name: name_of(&object),
        uid: Some(str_at(&object, "/metadata/uid"))
            .filter(|uid| !uid.is_empty())
            .map(str::to_owned),
    };
    let owner = controller_of(&object);
    let mut warnings = Vec::new();
    let request = request_for(kind, &identity, object);
    let evaluation = request
        .as_ref()
        .map_err(|error| crate::report::one_line(error))
        .and_then(|request| {
            registry
                .evaluate_blocking(policy, request)
                .map_err(|error| crate::report::one_line(&error))
        });
    let verdict = match evaluation {
        Err(reason) => Verdict::Failed(reason),
        Ok(evaluation) => {
            let response = evaluation.response;
            warnings.extend(response.warnings.unwrap_or_default());
            if !response.allowed {
                let message = response
                    .status
                    .and_then(|s| s.message)
                    .unwrap_or_else(|| "no reason given".to_owned());
                warnings.push(format!("the policy would deny it: {message}"));
            }
            match response.patch.as_deref().map(decode_patch) {
                None => Verdict::Unchanged,
                Some(Err(reason)) => Verdict::Failed(reason),
                Some(Ok(ops)) => {
                    let object = request
                        .as_ref()
                        .ok()
                        .and_then(AdmissionRequest::object)
                        .unwrap_or(Value::Null);
                    changes(&object, ops)
                }
            }
        }
    };
    Scanned {
        object: identity,
        owner,
        verdict,
        warnings,
    }
}

/// The AdmissionRequest the API server would send for creating `object`. Dry run, so a policy
/// with side effects knows nothing will be stored.
fn request_for(
    kind: Kind,
    identity: &ObjectRef,
    object: Value,
) -> Result<AdmissionRequest, AdmissionError> {
    let gvk = json!({"group": kind.group(), "version": kind.version(), "kind": kind.as_str()});
    let gvr = json!({"group": kind.group(), "version": kind.version(), "resource": kind.plural()});
    let mut request = json!({
        "uid": format!("pullthrough-scan-{}-{}-{}", identity.namespace, kind.plural(), identity.name),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": identity.name,
        "operation": "CREATE",
        "userInfo": {"username": SCAN_USER},
        "dryRun": true,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        "object": object,
    });
    if !identity.namespace.is_empty() {
        request["namespace"] = Value::String(identity.namespace.clone());
    }
    AdmissionRequest::from_value(request)
}

fn decode_patch(base64: &str) -> Result<Vec<Value>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| format!("the policy's patch is not base64: {e}"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("the policy's patch is not a JSON patch: {e}"))
}

#[cfg(test)]
mod tests;

//! Kubewarden host capabilities a guest reaches through waPC `__host_call`.
//!
//! Only logging is served (`kubewarden`/`tracing`/`log`, what the SDK's log drain sends). Every
//! other capability (OCI, Kubernetes, sigstore, DNS, crypto) needs network or cluster access this
//! offline engine does not give policies: the guest gets an error it can report, never a trap.

use serde_json::Value;

/// Answers one host call: `Ok(response)` or `Err(message)` for the guest.
pub(crate) fn dispatch(
    policy: &str,
    binding: &str,
    namespace: &str,
    operation: &str,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    match (binding, namespace, operation) {
        ("kubewarden", "tracing", "log") => {
            log_event(policy, payload);
            Ok(Vec::new())
        }
        _ => Err(format!(
            "host capability {binding}/{namespace}/{operation} is not available in pullthrough"
        )),
    }
}

/// The SDK sends `{"level", "message", "file", "line", "column", ...fields}` as JSON.
fn log_event(policy: &str, payload: &[u8]) {
    let event: Value = match serde_json::from_slice(payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(policy, %error, "policy sent a log event that is not JSON");
            return;
        }
    };
    let message = event.get("message").and_then(Value::as_str).unwrap_or("");
    let fields = match &event {
        Value::Object(map) => {
            let extra: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "level" | "message" | "column"))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            Value::Object(extra)
        }
        _ => Value::Null,
    };
    match event.get("level").and_then(Value::as_str).unwrap_or("info") {
        "trace" => tracing::trace!(policy, %fields, "{message}"),
        "debug" => tracing::debug!(policy, %fields, "{message}"),
        "warning" | "warn" => tracing::warn!(policy, %fields, "{message}"),
        "error" => tracing::error!(policy, %fields, "{message}"),
        _ => tracing::info!(policy, %fields, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_answered_with_an_empty_response() {
        let payload = br#"{"level":"info","message":"hello","line":3}"#;
        assert_eq!(
            dispatch("p", "kubewarden", "tracing", "log", payload),
            Ok(Vec::new())
        );
    }

    #[test]
    fn unknown_capabilities_are_errors_for_the_guest() {
        let cases = [
            ("kubewarden", "oci", "v1/manifest_digest"),
            ("kubewarden", "kubernetes", "list_resources_by_namespace"),
            ("other", "tracing", "log"),
        ];
        for (binding, namespace, operation) in cases {
            assert_eq!(
                dispatch("p", binding, namespace, operation, b"{}"),
                Err(format!(
                    "host capability {binding}/{namespace}/{operation} is not available in pullthrough"
                )),
            );
        }
    }
}

//! What a reload changed in one policy, for its log line: a version that differs only in its
//! settings has the same module sha256, so the sha256 alone says nothing happened.

use std::fmt;

use serde_json::Value;

use super::LoadedPolicy;

/// The differences between two versions of one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// `None` when there was no previous version (a new policy, or one that never loaded).
    parts: Option<Vec<String>>,
    settings_digests: (Option<String>, String),
}

impl Change {
    /// What differs from `previous` to `next`.
    pub(crate) fn between(previous: Option<&LoadedPolicy>, next: &LoadedPolicy) -> Self {
        let parts = previous.map(|previous| {
            let mut parts = Vec::new();
            if previous.sha256 != next.sha256 {
                parts.push("module".to_owned());
            }
            if previous.settings != next.settings {
                parts.push(format!(
                    "settings ({})",
                    changed_keys(&previous.settings, &next.settings).join(", ")
                ));
            }
            if previous.allowed_to_mutate != next.allowed_to_mutate {
                parts.push(format!("allowedToMutate {}", next.allowed_to_mutate));
            }
            let (before, after) = (previous.limits().timeout, next.limits().timeout);
            if before != after {
                parts.push(format!("timeout {before:?} → {after:?}"));
            }
            parts
        });
        Self {
            parts,
            settings_digests: (
                previous.map(|p| settings_digest(&p.settings)),
                settings_digest(&next.settings),
            ),
        }
    }

    /// `old → new` short digests of the settings, or the new one alone.
    pub(crate) fn settings_digests(&self) -> String {
        match &self.settings_digests {
            (Some(old), new) if old != new => format!("{old} → {new}"),
            (_, new) => new.clone(),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.parts {
            None => f.write_str("first version"),
            // The loader only swaps in a version that differs; say so rather than nothing.
            Some(parts) if parts.is_empty() => f.write_str("nothing"),
            Some(parts) => f.write_str(&parts.join("; ")),
        }
    }
}

/// The top-level settings whose values differ (added, removed or changed), sorted; the whole
/// document when either side is not a mapping.
fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return vec!["the whole document".to_owned()];
    };
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The first 12 hex digits of the sha256 of the settings' JSON text (keys in order).
fn settings_digest(settings: &Value) -> String {
    let mut digest = crate::wasm::sha256_hex(settings.to_string().as_bytes());
    digest.truncate(12);
    digest
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changed_keys_name_what_was_added_removed_or_changed() {
        assert_eq!(
            changed_keys(
                &json!({"mirror": "a.example.com", "layout": "flat", "exclude": []}),
                &json!({"mirror": "a.example.com", "layout": "prefixed", "registries": ["*"]}),
            ),
            ["exclude", "layout", "registries"]
        );
        assert_eq!(
            changed_keys(&json!({"a": 1}), &json!([1])),
            ["the whole document"]
        );
        assert!(changed_keys(&json!({"a": 1}), &json!({"a": 1})).is_empty());
    }

    #[test]
    fn the_settings_digest_is_short_and_follows_the_settings() {
        let one = settings_digest(&json!({"mirror": "a.example.com"}));
        assert_eq!(one.len(), 12);
        assert!(one.chars().all(|c| c.is_ascii_hexdigit()), "{one}");
        assert_eq!(one, settings_digest(&json!({"mirror": "a.example.com"})));
        assert_ne!(one, settings_digest(&json!({"mirror": "b.example.com"})));
    }
}

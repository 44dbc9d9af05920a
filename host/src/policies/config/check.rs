//! `mirrorCheck` of a policies file entry: one URL per mirror the entry's settings name, checked
//! in the background by `serve`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid};
use crate::mirror_check::{self, MirrorCheck};

/// `mirrorCheck` as written: what `serve` checks in the background for this policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawMirrorCheck {
    #[serde(default)]
    url: Option<String>,
    /// One per mirror of `settings.mirrors`, in the same order.
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    interval_seconds: Option<u64>,
    #[serde(default)]
    failure_threshold: Option<u32>,
    #[serde(default)]
    ca_file: Option<String>,
}

/// The mirrors a policy's settings name in priority order: `mirrors`, else `mirror` alone.
pub(crate) fn mirrors_of(settings: &serde_json::Value) -> Vec<&str> {
    match settings
        .get("mirrors")
        .and_then(serde_json::Value::as_array)
    {
        Some(mirrors) if !mirrors.is_empty() => mirrors
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect(),
        _ => settings
            .get("mirror")
            .and_then(serde_json::Value::as_str)
            .into_iter()
            .collect(),
    }
}

/// The check of entry `name`, whose settings name `mirrors` mirrors; paths relative to `base`.
pub(super) fn validate_check(
    name: &str,
    raw: RawMirrorCheck,
    base: &Path,
    mirrors: usize,
) -> Result<MirrorCheck, ConfigError> {
    let interval = match raw.interval_seconds {
        Some(0) => {
            return Err(invalid(format!(
                "{name}.mirrorCheck.intervalSeconds must be at least 1"
            )));
        }
        Some(seconds) => Duration::from_secs(seconds),
        None => mirror_check::DEFAULT_INTERVAL,
    };
    let threshold = match raw.failure_threshold {
        Some(0) => {
            return Err(invalid(format!(
                "{name}.mirrorCheck.failureThreshold must be at least 1"
            )));
        }
        Some(threshold) => threshold,
        None => mirror_check::DEFAULT_FAILURE_THRESHOLD,
    };
    let ca_file = match raw.ca_file.as_deref() {
        Some("") => {
            return Err(invalid(format!(
                "{name}.mirrorCheck.caFile must be a file path, got \"\""
            )));
        }
        Some(path) => Some(base.join(path)),
        None => None,
    };
    let (field, urls) = match (raw.url, raw.urls) {
        (Some(url), None) => ("url", vec![url]),
        (None, Some(urls)) if !urls.is_empty() => ("urls", urls),
        (None, Some(_)) => {
            return Err(invalid(format!(
                "{name}.mirrorCheck.urls must list one URL per mirror of settings.mirrors, got []"
            )));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(format!(
                "{name}.mirrorCheck: give url (one mirror) or urls (one per mirror), not both"
            )));
        }
        (None, None) => {
            return Err(invalid(format!(
                "{name}.mirrorCheck.url is required: the mirror's registry, e.g. \
                 https://registry-mirror.example.com (or urls, one per mirror of settings.mirrors)"
            )));
        }
    };
    if mirrors > 1 && urls.len() != mirrors {
        return Err(invalid(format!(
            "{name}.mirrorCheck.{field} has {} URL(s) for the {mirrors} mirrors of \
             settings.mirrors: give urls, one per mirror in the same order",
            urls.len()
        )));
    }
    MirrorCheck::for_mirrors(&urls, interval, threshold, ca_file)
        .map_err(|error| invalid(format!("{name}.mirrorCheck.{field} {error}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(yaml: &str, settings: serde_json::Value) -> Result<MirrorCheck, String> {
        let raw: RawMirrorCheck = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        validate_check("p", raw, Path::new("/etc/pt"), mirrors_of(&settings).len())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_url_per_mirror_in_the_settings_order() {
        let settings = json!({"mirrors": ["a.example.com", "b.example.com/cache"]});
        let both = check(
            "{urls: ['https://a.example.com', 'http://b.example.com:5000/']}",
            settings.clone(),
        )
        .expect("valid");
        assert_eq!(
            both.urls(),
            ["https://a.example.com", "http://b.example.com:5000"]
        );
        let cases = [
            (
                "{url: 'https://a.example.com'}",
                "p.mirrorCheck.url has 1 URL(s) for the 2 mirrors of settings.mirrors: give urls, one per mirror in the same order",
            ),
            (
                "{urls: ['https://a.example.com']}",
                "p.mirrorCheck.urls has 1 URL(s) for the 2 mirrors of settings.mirrors: give urls, one per mirror in the same order",
            ),
            (
                "{urls: []}",
                "p.mirrorCheck.urls must list one URL per mirror of settings.mirrors, got []",
            ),
            (
                "{url: 'https://a.example.com', urls: ['https://a.example.com', 'https://b.example.com']}",
                "p.mirrorCheck: give url (one mirror) or urls (one per mirror), not both",
            ),
            (
                "{urls: ['https://a.example.com', 'b.example.com']}",
                "p.mirrorCheck.urls must be http:// or https:// followed by the registry's host[:port] and nothing else, e.g. https://registry-mirror.example.com, got \"b.example.com\"",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(
                check(yaml, settings.clone()),
                Err(want.to_owned()),
                "{yaml}"
            );
        }
    }

    #[test]
    fn the_mirrors_of_settings() {
        assert_eq!(
            mirrors_of(&json!({"mirror": "m.example.com"})),
            ["m.example.com"]
        );
        assert_eq!(
            mirrors_of(&json!({"mirrors": ["a.example.com", "b.example.com"]})),
            ["a.example.com", "b.example.com"]
        );
        assert!(mirrors_of(&json!({})).is_empty());
    }
}

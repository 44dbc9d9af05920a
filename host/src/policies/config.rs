//! The policies file: YAML shaped like Kubewarden policy-server's `policies.yml`, a map from policy
//! name to its module, settings and whether it may mutate.
//!
//! ```yaml
//! pullthrough:
//!   module: policy.wasm            # a path, relative to this file; `file://` is accepted
//!   allowedToMutate: true
//!   timeoutEvalSeconds: 2          # optional, defaults to the runtime's deadline
//!   settings:
//!     mirror: registry-mirror.example.com
//!   mirrorCheck:                   # optional: admit unchanged while the mirror is down
//!     url: https://registry-mirror.example.com   # or urls: [...], one per settings.mirrors
//!     intervalSeconds: 10          # optional
//!     failureThreshold: 3          # optional
//!     caFile: mirror-ca.crt        # optional, relative to this file
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use super::PolicyError;
#[cfg(test)]
use crate::mirror_check;
use crate::mirror_check::MirrorCheck;

mod check;
pub(crate) use check::mirrors_of;
use check::{RawMirrorCheck, validate_check};

/// Why a policies file is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not YAML of the policies file's shape.
    #[error(transparent)]
    Yaml(#[from] serde_yaml_ng::Error),
    /// An entry is not valid; the message names the field.
    #[error("{0}")]
    Invalid(String),
}

/// One policy entry as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    module: String,
    #[serde(default)]
    settings: Option<serde_json::Value>,
    #[serde(default)]
    allowed_to_mutate: Option<bool>,
    #[serde(default)]
    timeout_eval_seconds: Option<u64>,
    #[serde(default)]
    mirror_check: Option<RawMirrorCheck>,
}

/// One validated policy entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PolicySpec {
    pub(crate) name: String,
    /// The module file; `None` for the embedded module.
    pub(crate) module: Option<PathBuf>,
    pub(crate) settings: serde_json::Value,
    pub(crate) allowed_to_mutate: bool,
    /// Whether the file says `allowedToMutate` at all (an absent key means `false`).
    pub(crate) allowed_to_mutate_given: bool,
    pub(crate) timeout: Option<Duration>,
    /// The mirror `serve` checks; while it is down the policy's requests are admitted unchanged.
    pub(crate) mirror_check: Option<MirrorCheck>,
}

impl PolicySpec {
    /// What an operator should hear about the entry even though it is valid.
    pub(crate) fn warning(&self) -> Option<String> {
        (!self.allowed_to_mutate_given).then(|| {
            format!(
                "policy {:?} does not set allowedToMutate, so it may not mutate: a patch it \
                 returns denies the request (as in Kubewarden's policy-server), and under \
                 failurePolicy Ignore that denial is the first sign; add `allowedToMutate: true` \
                 to {0}'s entry if it rewrites objects, or `allowedToMutate: false` if it only \
                 validates",
                self.name
            )
        })
    }
}

/// Reads and validates a policies file. Entries keep the file's order: the first is the default.
pub(crate) fn read(path: &Path) -> Result<Vec<PolicySpec>, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::ReadConfig {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(|source| {
        PolicyError::InvalidConfig {
            path: path.to_owned(),
            source,
        }
    })
}

/// Parses the file's text; module paths are resolved against `base`.
pub(crate) fn parse(text: &str, base: &Path) -> Result<Vec<PolicySpec>, ConfigError> {
    let raw: IndexMap<String, RawPolicy> = serde_yaml_ng::from_str(text)?;
    if raw.is_empty() {
        return Err(invalid("the file names no policy".to_owned()));
    }
    raw.into_iter()
        .map(|(name, policy)| validate(name, policy, base))
        .collect()
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

fn validate(name: String, raw: RawPolicy, base: &Path) -> Result<PolicySpec, ConfigError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(format!(
            "policy name {name:?} must be non-empty and use only letters, digits, '-', '_' and '.'"
        )));
    }
    let module = raw.module.strip_prefix("file://").unwrap_or(&raw.module);
    if module.is_empty() {
        return Err(invalid(format!(
            "{name}.module must be a file path, got \"\""
        )));
    }
    if module.contains("://") {
        return Err(invalid(format!(
            "{name}.module must be a local file path (registry:// and https:// are not fetched), got {:?}",
            raw.module
        )));
    }
    let settings = match raw.settings {
        None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        Some(settings @ serde_json::Value::Object(_)) => settings,
        Some(_) => return Err(invalid(format!("{name}.settings must be a mapping"))),
    };
    let timeout = match raw.timeout_eval_seconds {
        Some(0) => {
            return Err(invalid(format!(
                "{name}.timeoutEvalSeconds must be at least 1"
            )));
        }
        other => other.map(Duration::from_secs),
    };
    let mirror_check = raw
        .mirror_check
        .map(|check| validate_check(&name, check, base, mirrors_of(&settings).len()))
        .transpose()?;
    Ok(PolicySpec {
        module: Some(base.join(module)),
        name,
        settings,
        allowed_to_mutate: raw.allowed_to_mutate.unwrap_or(false),
        allowed_to_mutate_given: raw.allowed_to_mutate.is_some(),
        timeout,
        mirror_check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_entries_in_file_order() {
        let text = "
zeta:
  module: file:///abs/zeta.wasm
  allowedToMutate: true
  timeoutEvalSeconds: 3
  settings:
    mirror: m.example.com
alpha:
  module: rel/alpha.wasm
";
        let specs = parse(text, Path::new("/etc/pt")).expect("valid file");
        assert_eq!(
            specs,
            vec![
                PolicySpec {
                    name: "zeta".into(),
                    module: Some(PathBuf::from("/abs/zeta.wasm")),
                    settings: json!({"mirror": "m.example.com"}),
                    allowed_to_mutate: true,
                    allowed_to_mutate_given: true,
                    timeout: Some(Duration::from_secs(3)),
                    mirror_check: None,
                },
                PolicySpec {
                    name: "alpha".into(),
                    module: Some(PathBuf::from("/etc/pt/rel/alpha.wasm")),
                    settings: json!({}),
                    allowed_to_mutate: false,
                    allowed_to_mutate_given: false,
                    timeout: None,
                    mirror_check: None,
                },
            ]
        );
    }

    #[test]
    fn rejects_bad_entries_naming_the_field() {
        let cases = [
            ("empty", "{}", "the file names no policy"),
            (
                "remote module",
                "p:\n  module: registry://ghcr.io/x/y:v1\n",
                "p.module must be a local file path (registry:// and https:// are not fetched), got \"registry://ghcr.io/x/y:v1\"",
            ),
            (
                "empty module",
                "p:\n  module: ''\n",
                "p.module must be a file path, got \"\"",
            ),
            (
                "settings list",
                "p:\n  module: a.wasm\n  settings: [1]\n",
                "p.settings must be a mapping",
            ),
            (
                "zero timeout",
                "p:\n  module: a.wasm\n  timeoutEvalSeconds: 0\n",
                "p.timeoutEvalSeconds must be at least 1",
            ),
            (
                "check without a url",
                "p:\n  module: a.wasm\n  mirrorCheck: {intervalSeconds: 5}\n",
                "p.mirrorCheck.url is required: the mirror's registry, e.g. https://registry-mirror.example.com (or urls, one per mirror of settings.mirrors)",
            ),
            (
                "check url without scheme",
                "p:\n  module: a.wasm\n  mirrorCheck: {url: m.example.com}\n",
                "p.mirrorCheck.url must be http:// or https:// followed by the registry's host[:port] and nothing else, e.g. https://registry-mirror.example.com, got \"m.example.com\"",
            ),
            (
                "check every 0 s",
                "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', intervalSeconds: 0}\n",
                "p.mirrorCheck.intervalSeconds must be at least 1",
            ),
            (
                "check down after 0",
                "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', failureThreshold: 0}\n",
                "p.mirrorCheck.failureThreshold must be at least 1",
            ),
            (
                "check with an empty CA",
                "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', caFile: ''}\n",
                "p.mirrorCheck.caFile must be a file path, got \"\"",
            ),
            (
                "check with an unknown field",
                "p:\n  module: a.wasm\n  mirrorCheck: {url: 'https://m.example.com', timeout: 3}\n",
                "p.mirrorCheck: unknown field `timeout`, expected one of `url`, `urls`, `intervalSeconds`, `failureThreshold`, `caFile` at line 3 column 47",
            ),
            (
                "bad name",
                "'a b':\n  module: a.wasm\n",
                "policy name \"a b\" must be non-empty and use only letters, digits, '-', '_' and '.'",
            ),
        ];
        for (case, text, expected) in cases {
            assert_eq!(
                parse(text, Path::new("/")).map_err(|error| error.to_string()),
                Err(expected.to_owned()),
                "{case}"
            );
        }
    }

    #[test]
    fn an_entry_without_allowed_to_mutate_is_warned_about() {
        let specs = parse(
            "quiet:\n  module: a.wasm\n  allowedToMutate: false\nsilent:\n  module: b.wasm\n",
            Path::new("/"),
        )
        .expect("valid file");
        assert_eq!(specs[0].warning(), None);
        assert_eq!(
            specs[1].warning().as_deref(),
            Some(
                "policy \"silent\" does not set allowedToMutate, so it may not mutate: a patch it \
                 returns denies the request (as in Kubewarden's policy-server), and under \
                 failurePolicy Ignore that denial is the first sign; add `allowedToMutate: true` \
                 to silent's entry if it rewrites objects, or `allowedToMutate: false` if it only \
                 validates"
            )
        );
    }

    #[test]
    fn a_mirror_check_takes_defaults_and_a_relative_ca_file() {
        let text = "
full:
  module: a.wasm
  mirrorCheck:
    url: http://10.0.0.5:5000
    intervalSeconds: 2
    failureThreshold: 5
    caFile: certs/ca.crt
short:
  module: a.wasm
  mirrorCheck: {url: 'https://m.example.com/'}
";
        let specs = parse(text, Path::new("/etc/pt")).expect("valid file");
        assert_eq!(
            specs[0].mirror_check,
            Some(
                MirrorCheck::new(
                    "http://10.0.0.5:5000",
                    Duration::from_secs(2),
                    5,
                    Some(PathBuf::from("/etc/pt/certs/ca.crt"))
                )
                .expect("valid")
            )
        );
        let short = specs[1].mirror_check.as_ref().expect("a check");
        assert_eq!(
            (
                short.url(),
                short.interval(),
                short.failure_threshold(),
                short.ca_file()
            ),
            (
                "https://m.example.com",
                mirror_check::DEFAULT_INTERVAL,
                mirror_check::DEFAULT_FAILURE_THRESHOLD,
                None
            )
        );
    }

    #[test]
    fn rejects_unknown_fields() {
        let error = parse("p:\n  module: a.wasm\n  mutating: true\n", Path::new("/"))
            .expect_err("unknown field")
            .to_string();
        assert!(
            error.starts_with("p: unknown field `mutating`, expected one of"),
            "{error}"
        );
    }
}

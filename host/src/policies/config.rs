//! The policies file: YAML shaped like Kubewarden policy-server's `policies.yml`, a map from policy
//! name to its module, settings and whether it may mutate.
//!
//! ```yaml
//! pullthrough:
//!   module: policy.wasm            # a path, relative to this file; `file://` is accepted, and
//!                                  # registry://host/repo:tag, registry://host/repo@sha256:…,
//!                                  # https://… (see `fetch`)
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
use super::fetch::Remote;
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

/// Where a policy's module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Module {
    /// The `policy.wasm` built into this binary.
    Embedded,
    /// A file, its path resolved against the policies file's directory.
    File(PathBuf),
    /// A registry artifact or a URL, fetched.
    Remote(Remote),
}

impl Module {
    /// The file, for a module read from one.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Embedded | Self::Remote(_) => None,
        }
    }
}

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str("embedded"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Remote(remote) => write!(f, "{remote}"),
        }
    }
}

/// One validated policy entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PolicySpec {
    pub(crate) name: String,
    pub(crate) module: Module,
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
    let module = match Remote::parse(&raw.module) {
        Ok(Some(remote)) => Module::Remote(remote),
        Ok(None) => {
            let path = raw.module.strip_prefix("file://").unwrap_or(&raw.module);
            if path.is_empty() {
                return Err(invalid(format!(
                    "{name}.module must be a file path, got \"\""
                )));
            }
            Module::File(base.join(path))
        }
        Err(problem) => return Err(invalid(format!("{name}.module {problem}"))),
    };
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
        module,
        name,
        settings,
        allowed_to_mutate: raw.allowed_to_mutate.unwrap_or(false),
        allowed_to_mutate_given: raw.allowed_to_mutate.is_some(),
        timeout,
        mirror_check,
    })
}

#[cfg(test)]
mod tests;

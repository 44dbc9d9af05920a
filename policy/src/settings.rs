//! The policy settings as users write them, and their validation.
//!
//! [`Settings`] is the serde shape (camelCase, unknown fields rejected); [`Settings::compile`]
//! checks every field and produces the [`Rewriter`] that does the work, so a setting that is
//! wrong is reported once, by name, when the policy is loaded.

use serde::{Deserialize, Serialize};

use crate::reference::{is_domain_and_port, is_path_component};
use crate::rewrite::{Registries, Rewriter, Rule as CompiledRule, Target};

mod namespaces;
pub use namespaces::SharedNamespace;

/// The registries rewritten when `registries` is not given with the `flat` layout: only Docker
/// Hub, since a flat mirror namespace can hold one registry's repositories and no other's.
pub const DEFAULT_FLAT_REGISTRIES: [&str; 1] = ["docker.io"];

/// The registries rewritten when `registries` is not given with the `prefixed` layout, where
/// each has a path of its own: the upstreams of the zot sync configuration users start from.
pub const DEFAULT_PREFIXED_REGISTRIES: [&str; 4] = ["docker.io", "ghcr.io", "quay.io", "gcr.io"];

/// Policy settings (`spec.settings` of a Kubewarden policy, or the host's policies file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// The pull-through cache: `host[:port]` optionally followed by a path prefix. One mirror;
    /// for several, `mirrors`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mirror: String,
    /// Pull-through caches in priority order, each written as `mirror` is (instead of `mirror`).
    /// Images are rewritten to the first; an image on another is moved to the first, as it
    /// serves the same paths. `pullthrough serve` checks each and passes the first that answers
    /// as the first (see the host's mirror check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
    /// Source registries to rewrite; `["*"]` means every registry but the mirror. Absent:
    /// [`DEFAULT_FLAT_REGISTRIES`] or [`DEFAULT_PREFIXED_REGISTRIES`], by `layout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registries: Option<Vec<String>>,
    /// Where a selected image goes below the mirror.
    #[serde(default)]
    pub layout: Layout,
    /// Per-registry targets, checked before `registries` and `layout`.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Glob patterns over the normalised reference (`docker.io/library/nginx:1.27`) or its
    /// name (`docker.io/library/nginx`) that are never rewritten.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Leave a pod spec (or template) alone when it lists `imagePullSecrets`: its private images
    /// keep coming from the source registry with the pod's own credentials, instead of from a
    /// mirror that pulls them with its own (and serves them to any pod).
    #[serde(default)]
    pub keep_images_with_pull_secrets: bool,
    /// Secrets (in the object's own namespace) added to `imagePullSecrets` of every pod spec
    /// whose images were rewritten, so the nodes can authenticate to the mirror.
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
    /// Accept settings that serve two source registries from one mirror namespace (the `flat`
    /// layout with several registries or `*`, or a rule target inside another's namespace):
    /// whoever owns a path on one registry can then supply the image of the same path on the
    /// other. Loaded with a warning.
    #[serde(default)]
    pub allow_shared_namespace: bool,
}

/// How a rewritten image's path is formed below the mirror.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Layout {
    /// `mirror/<repository path>`: what zot's plain on-demand sync serves; one source registry
    /// only, unless `allowSharedNamespace`.
    #[default]
    Flat,
    /// `mirror/<source registry>/<repository path>`: keeps `ghcr.io/foo/bar` and
    /// `docker.io/foo/bar` apart; matches zot `content[].destination`.
    Prefixed,
}

/// An explicit target for one source registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// The source registry host[:port], compared case-insensitively.
    pub registry: String,
    /// `host[:port]` optionally followed by a path; the repository path is appended.
    pub target: String,
}

/// A setting that cannot work, named by its path in the settings document.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The settings document is not valid JSON of the right shape; `at` is the path of the
    /// value that is wrong (`.rules[0]`), empty for the document itself.
    #[error("settings{at}: {source}")]
    Deserialize {
        at: String,
        #[source]
        source: serde_json::Error,
    },
    /// No mirror was given.
    #[error(
        "settings.mirror is required: the pull-through cache as host[:port][/path], \
         e.g. registry-mirror.example.com"
    )]
    MirrorMissing,
    /// Both `mirror` and `mirrors`: which comes first would be a guess.
    #[error(
        "settings.mirror and settings.mirrors are both given: list every mirror in \
         settings.mirrors, in priority order, and leave out settings.mirror"
    )]
    MirrorAndMirrors,
    /// The same mirror host twice in `mirrors`.
    #[error("settings.{field}: mirror host {host:?} is already listed")]
    DuplicateMirror { field: String, host: String },
    /// A mirror or rule target that is not `host[:port][/path]`.
    #[error(
        "settings.{field} must be host[:port] optionally followed by a path, got {value:?}: {reason}"
    )]
    InvalidTarget {
        field: String,
        value: String,
        reason: &'static str,
    },
    /// A source registry that no image reference could ever name.
    #[error(
        "settings.{field} must be a registry host[:port] such as ghcr.io, got {value:?}: {reason}"
    )]
    InvalidRegistry {
        field: String,
        value: String,
        reason: &'static str,
    },
    /// `*` given together with other registries.
    #[error("settings.registries: \"*\" (every registry) must be the only entry")]
    WildcardNotAlone,
    /// Two rules for the same registry.
    #[error("settings.{field}: registry {registry:?} already has a rule")]
    DuplicateRule { field: String, registry: String },
    /// An exclude pattern that is not a glob.
    #[error("settings.{field} is not a valid glob pattern, got {value:?}: {source}")]
    InvalidExclude {
        field: String,
        value: String,
        #[source]
        source: glob::PatternError,
    },
    /// A pull secret name the API server would refuse.
    #[error(
        "settings.{field} must be a Secret name (lowercase letters, digits, '-' and '.', \
         starting and ending with a letter or digit, at most 253 characters), got {value:?}"
    )]
    InvalidPullSecret { field: String, value: String },
    /// The same pull secret twice.
    #[error("settings.{field}: secret {value:?} is already listed")]
    DuplicatePullSecret { field: String, value: String },
    /// Two source registries would share one mirror namespace, and `allowSharedNamespace` is
    /// not set.
    #[error(
        "{0}: whoever owns a repository path on one registry could then supply the image of \
         the same path on the other; use layout: prefixed, give each registry a rule with a \
         target of its own, or set allowSharedNamespace: true to accept that"
    )]
    SharedNamespace(SharedNamespace),
}

impl Settings {
    /// Reads settings from JSON, as `validate_settings` and each `validate` call receive them.
    pub fn from_json(json: &[u8]) -> Result<Self, SettingsError> {
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let settings = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            SettingsError::Deserialize {
                // The root prints as ".".
                at: if path == "." {
                    String::new()
                } else {
                    format!(".{path}")
                },
                source: error.into_inner(),
            }
        })?;
        deserializer
            .end()
            .map_err(|source| SettingsError::Deserialize {
                at: String::new(),
                source,
            })?;
        Ok(settings)
    }

    /// Checks every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.compile().map(drop)
    }

    /// What to warn about when these settings load: two source registries sharing one mirror
    /// namespace, accepted by `allowSharedNamespace`. `None` for settings that do not validate.
    pub fn warning(&self) -> Option<String> {
        if !self.allow_shared_namespace {
            return None;
        }
        let mirrors = self.compile_mirrors().ok()?;
        let (registries, rules) = self.compile_sources().ok()?;
        let shared = mirrors
            .iter()
            .find_map(|mirror| namespaces::shared(self.layout, mirror, &registries, &rules))?;
        Some(format!(
            "{shared}: allowSharedNamespace accepts that whoever owns a repository path on one \
             registry can supply the image of the same path on the other"
        ))
    }

    /// The registries `registries` selects, its default when absent.
    pub fn registries(&self) -> Vec<String> {
        match &self.registries {
            Some(registries) => registries.clone(),
            None => {
                let defaults: &[&str] = match self.layout {
                    Layout::Flat => &DEFAULT_FLAT_REGISTRIES,
                    Layout::Prefixed => &DEFAULT_PREFIXED_REGISTRIES,
                };
                defaults.iter().map(|r| (*r).to_owned()).collect()
            }
        }
    }

    /// The mirrors in priority order: `mirrors`, or `mirror` alone; each checked, no host twice.
    pub(crate) fn compile_mirrors(&self) -> Result<Vec<Target>, SettingsError> {
        let listed: Vec<(String, &str)> = match (self.mirror.is_empty(), self.mirrors.is_empty()) {
            (false, false) => return Err(SettingsError::MirrorAndMirrors),
            (true, true) => return Err(SettingsError::MirrorMissing),
            (false, true) => vec![("mirror".to_owned(), self.mirror.as_str())],
            (true, false) => self
                .mirrors
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("mirrors[{i}]"), m.as_str()))
                .collect(),
        };
        let mut mirrors: Vec<Target> = Vec::with_capacity(listed.len());
        for (field, value) in listed {
            let target = parse_target(&field, value)?;
            if mirrors
                .iter()
                .any(|m| m.host().eq_ignore_ascii_case(target.host()))
            {
                return Err(SettingsError::DuplicateMirror {
                    field,
                    host: target.host().to_owned(),
                });
            }
            mirrors.push(target);
        }
        Ok(mirrors)
    }

    /// The registries and rules, each host checked and lowercased.
    fn compile_sources(&self) -> Result<(Registries, Vec<CompiledRule>), SettingsError> {
        let selected = self.registries();
        let registries = if selected.iter().any(|r| r == "*") {
            if selected.len() != 1 {
                return Err(SettingsError::WildcardNotAlone);
            }
            Registries::All
        } else {
            let hosts = selected
                .iter()
                .enumerate()
                .map(|(i, r)| parse_registry(&format!("registries[{i}]"), r))
                .collect::<Result<_, _>>()?;
            Registries::List(hosts)
        };
        let mut rules: Vec<CompiledRule> = Vec::with_capacity(self.rules.len());
        for (i, rule) in self.rules.iter().enumerate() {
            let registry = parse_registry(&format!("rules[{i}].registry"), &rule.registry)?;
            if rules.iter().any(|r| r.registry == registry) {
                return Err(SettingsError::DuplicateRule {
                    field: format!("rules[{i}].registry"),
                    registry: rule.registry.clone(),
                });
            }
            let target = parse_target(&format!("rules[{i}].target"), &rule.target)?;
            rules.push(CompiledRule { registry, target });
        }
        Ok((registries, rules))
    }

    /// Validates the settings and prepares them for rewriting.
    pub fn compile(&self) -> Result<Rewriter, SettingsError> {
        let mirrors = self.compile_mirrors()?;
        let (registries, rules) = self.compile_sources()?;
        let exclude = self
            .exclude
            .iter()
            .enumerate()
            .map(|(i, pattern)| {
                glob::Pattern::new(pattern).map_err(|source| SettingsError::InvalidExclude {
                    field: format!("exclude[{i}]"),
                    value: pattern.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        for (i, name) in self.image_pull_secrets.iter().enumerate() {
            let field = format!("imagePullSecrets[{i}]");
            if !is_secret_name(name) {
                return Err(SettingsError::InvalidPullSecret {
                    field,
                    value: name.clone(),
                });
            }
            if self.image_pull_secrets[..i].contains(name) {
                return Err(SettingsError::DuplicatePullSecret {
                    field,
                    value: name.clone(),
                });
            }
        }
        // Last: a field that is wrong in itself is the first thing to fix.
        if !self.allow_shared_namespace
            && let Some(shared) = mirrors
                .iter()
                .find_map(|mirror| namespaces::shared(self.layout, mirror, &registries, &rules))
        {
            return Err(SettingsError::SharedNamespace(shared));
        }
        Ok(Rewriter::new(
            mirrors,
            registries,
            self.layout,
            rules,
            exclude,
            self.image_pull_secrets.clone(),
        )
        .keeping_images_with_pull_secrets(self.keep_images_with_pull_secrets))
    }
}

impl kubewarden_policy_sdk::settings::Validatable for Settings {
    fn validate(&self) -> Result<(), String> {
        Settings::validate(self).map_err(|e| e.to_string())
    }
}

/// Why a host cannot be a registry: the reference grammar decides what the runtime will read
/// as a registry, so a setting outside it could never match or would be misread.
fn host_problem(host: &str) -> Option<&'static str> {
    if host.contains("://") {
        Some("leave out the scheme")
    } else if !is_domain_and_port(host) {
        Some("not a host name, IPv4 or [IPv6] address with an optional :port")
    } else if !(host == "localhost" || host.contains(['.', ':'])) {
        Some(
            "a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace",
        )
    } else {
        None
    }
}

/// A source registry: compared case-insensitively, and Docker Hub has two spellings.
fn parse_registry(field: &str, value: &str) -> Result<String, SettingsError> {
    if let Some(reason) = host_problem(value) {
        return Err(SettingsError::InvalidRegistry {
            field: field.to_owned(),
            value: value.to_owned(),
            reason,
        });
    }
    let host = value.to_ascii_lowercase();
    Ok(if host == "index.docker.io" {
        "docker.io".to_owned()
    } else {
        host
    })
}

/// A Secret's name is a DNS-1123 subdomain: what the API server accepts in `metadata.name`.
fn is_secret_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 253
        && bytes.first().is_some_and(alphanumeric)
        && bytes.last().is_some_and(alphanumeric)
        && bytes
            .iter()
            .all(|b| alphanumeric(b) || *b == b'-' || *b == b'.')
        // Each dot-separated label must itself start and end with a letter or digit.
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
}

/// `host[:port][/path]` for the mirror or a rule's target.
fn parse_target(field: &str, value: &str) -> Result<Target, SettingsError> {
    let invalid = |reason| SettingsError::InvalidTarget {
        field: field.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let (host, prefix) = match value.split_once('/') {
        Some((host, prefix)) => (host, prefix),
        None => (value, ""),
    };
    let problem = if value.contains("://") {
        Some("leave out the scheme")
    } else if host.eq_ignore_ascii_case("index.docker.io") {
        // References spell this host docker.io, so no rewrite onto it could parse back.
        Some("index.docker.io is Docker Hub's legacy name, not a pull-through cache")
    } else {
        host_problem(host)
    };
    if let Some(reason) = problem {
        return Err(invalid(reason));
    }
    if value.contains('/') && !prefix.split('/').all(is_path_component) {
        return Err(invalid(
            "each path component must be lowercase letters and digits separated by '.', '_', '__' or '-'",
        ));
    }
    Ok(Target::new(host, prefix))
}

#[cfg(test)]
mod mirrors_tests;
#[cfg(test)]
mod tests;

//! The policy settings as users write them, and their validation.
//!
//! [`Settings`] is the serde shape (camelCase, unknown fields rejected); [`Settings::compile`]
//! checks every field and produces the [`Rewriter`] that does the work, so a setting that is
//! wrong is reported once, by name, when the policy is loaded.

use serde::{Deserialize, Serialize};

use crate::rewrite::{CompiledRule, Layout, Registries, Rewriter, Target};

mod error;
mod fields;
mod namespaces;

pub use error::SettingsError;
use fields::{is_secret_name, parse_registry, parse_target};
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
    pub rules: Vec<RuleSetting>,
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

/// An explicit target for one source registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSetting {
    /// The source registry host[:port], compared case-insensitively.
    pub registry: String,
    /// `host[:port]` optionally followed by a path; the repository path is appended.
    pub target: String,
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
        self.selected().into_iter().map(str::to_owned).collect()
    }

    /// [`Settings::registries`], borrowed.
    fn selected(&self) -> Vec<&str> {
        match &self.registries {
            Some(registries) => registries.iter().map(String::as_str).collect(),
            None => match self.layout {
                Layout::Flat => DEFAULT_FLAT_REGISTRIES.to_vec(),
                Layout::Prefixed => DEFAULT_PREFIXED_REGISTRIES.to_vec(),
            },
        }
    }

    /// The mirrors in priority order: `mirrors`, or `mirror` alone; each checked, no host twice.
    pub(crate) fn compile_mirrors(&self) -> Result<Vec<Target>, SettingsError> {
        // The field is named only in an error: this runs on every evaluation.
        let listed: Vec<(Option<usize>, &str)> =
            match (self.mirror.is_empty(), self.mirrors.is_empty()) {
                (false, false) => return Err(SettingsError::MirrorAndMirrors),
                (true, true) => return Err(SettingsError::MirrorMissing),
                (false, true) => vec![(None, self.mirror.as_str())],
                (true, false) => self
                    .mirrors
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (Some(i), m.as_str()))
                    .collect(),
            };
        let field = |index: Option<usize>| {
            index.map_or_else(|| "mirror".to_owned(), |i| format!("mirrors[{i}]"))
        };
        let mut mirrors: Vec<Target> = Vec::with_capacity(listed.len());
        for (index, value) in listed {
            let target = parse_target(|| field(index), value)?;
            if mirrors
                .iter()
                .any(|m| m.host().eq_ignore_ascii_case(target.host()))
            {
                return Err(SettingsError::DuplicateMirror {
                    field: field(index),
                    host: target.host().to_owned(),
                });
            }
            mirrors.push(target);
        }
        Ok(mirrors)
    }

    /// The registries and rules, each host checked and lowercased.
    fn compile_sources(&self) -> Result<(Registries, Vec<CompiledRule>), SettingsError> {
        let selected = self.selected();
        let registries = if selected.contains(&"*") {
            if selected.len() != 1 {
                return Err(SettingsError::WildcardNotAlone);
            }
            Registries::All
        } else {
            let hosts = selected
                .iter()
                .enumerate()
                .map(|(i, r)| parse_registry(|| format!("registries[{i}]"), r))
                .collect::<Result<_, _>>()?;
            Registries::List(hosts)
        };
        let mut rules: Vec<CompiledRule> = Vec::with_capacity(self.rules.len());
        for (i, rule) in self.rules.iter().enumerate() {
            let registry = parse_registry(|| format!("rules[{i}].registry"), &rule.registry)?;
            if rules.iter().any(|r| r.registry == registry) {
                return Err(SettingsError::DuplicateRule {
                    field: format!("rules[{i}].registry"),
                    registry: rule.registry.clone(),
                });
            }
            let target = parse_target(|| format!("rules[{i}].target"), &rule.target)?;
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

#[cfg(test)]
mod mirrors_tests;
#[cfg(test)]
mod tests;

//! [`SettingsError`]: a setting that cannot work, named by its path in the settings document.

use super::SharedNamespace;

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

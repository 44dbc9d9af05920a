//! A read-only view of validated settings, for code that must rewrite exactly as [`Rewriter`]
//! does without calling it: the host's `manifests --admission-policy` writes the same decisions
//! as CEL for the API server to run.

use super::Layout;
use super::{Registries, Rewriter, Target};

/// What a [`Rewriter`] was compiled from, normalised as it compares: registries and rule
/// registries lowercase with Docker Hub spelled `docker.io`, targets split into host and prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description<'a> {
    /// Where selected images go: the first mirror.
    pub mirror: TargetView<'a>,
    /// The mirrors after the first, in priority order, that the host's mirror check may choose.
    pub other_mirrors: Vec<TargetView<'a>>,
    /// The selected source registries; `None` for every registry (`["*"]`).
    pub registries: Option<&'a [String]>,
    /// How a selected image's path is formed below the mirror.
    pub layout: Layout,
    /// Per-registry targets, in the order they are checked (registries are unique).
    pub rules: Vec<RuleView<'a>>,
    /// Glob patterns (as written) over the normalised reference or its name.
    pub exclude: Vec<&'a str>,
    /// Secrets added to `imagePullSecrets` of a pod spec whose images were rewritten.
    pub pull_secrets: &'a [String],
    /// A pod spec that names other pull secrets is left alone.
    pub keep_images_with_pull_secrets: bool,
}

/// A mirror or rule target: `host[:port]` and a path prefix (empty for none), as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetView<'a> {
    pub host: &'a str,
    pub prefix: &'a str,
}

/// One rule: images of `registry` go to `target`, below it by their path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleView<'a> {
    pub registry: &'a str,
    pub target: TargetView<'a>,
}

impl<'a> From<&'a Target> for TargetView<'a> {
    fn from(target: &'a Target) -> Self {
        Self {
            host: &target.host,
            prefix: &target.prefix,
        }
    }
}

impl Rewriter {
    /// The settings this rewriter decides by.
    pub fn describe(&self) -> Description<'_> {
        Description {
            mirror: TargetView::from(self.first_mirror()),
            other_mirrors: self.mirrors[1..].iter().map(TargetView::from).collect(),
            registries: match &self.registries {
                Registries::All => None,
                Registries::List(hosts) => Some(hosts),
            },
            layout: self.layout,
            rules: self
                .rules
                .iter()
                .map(|rule| RuleView {
                    registry: &rule.registry,
                    target: TargetView::from(&rule.target),
                })
                .collect(),
            exclude: self.exclude.iter().map(glob::Pattern::as_str).collect(),
            pull_secrets: &self.pull_secrets,
            keep_images_with_pull_secrets: self.keep_with_pull_secrets,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Layout, Settings};

    #[test]
    fn describes_the_settings_as_they_compare() {
        let settings = Settings::from_json(
            br#"{"mirror": "Mirror.local:5000/cache/v2", "registries": ["Quay.IO", "index.docker.io"],
                 "layout": "prefixed", "rules": [{"registry": "Registry.K8s.IO", "target": "k.example.com"}],
                 "exclude": ["docker.io/library/busybox*"], "imagePullSecrets": ["creds"],
                 "keepImagesWithPullSecrets": true}"#,
        )
        .expect("settings parse");
        let rewriter = settings.compile().expect("settings are valid");
        let description = rewriter.describe();
        assert_eq!(description.mirror.host, "Mirror.local:5000");
        assert_eq!(description.mirror.prefix, "cache/v2");
        assert!(description.other_mirrors.is_empty());
        assert_eq!(
            description.registries,
            Some(&["quay.io".to_owned(), "docker.io".to_owned()][..])
        );
        assert_eq!(description.layout, Layout::Prefixed);
        assert_eq!(description.rules.len(), 1);
        assert_eq!(description.rules[0].registry, "registry.k8s.io");
        assert_eq!(description.rules[0].target.host, "k.example.com");
        assert_eq!(description.rules[0].target.prefix, "");
        assert_eq!(description.exclude, ["docker.io/library/busybox*"]);
        assert_eq!(description.pull_secrets, ["creds"]);
        assert!(description.keep_images_with_pull_secrets);
    }

    #[test]
    fn every_registry_is_none() {
        let settings = Settings {
            mirror: "m.example.com".to_owned(),
            registries: Some(vec!["*".to_owned()]),
            layout: Layout::Prefixed,
            ..Settings::default()
        };
        let rewriter = settings.compile().expect("settings are valid");
        assert_eq!(rewriter.describe().registries, None);
    }

    #[test]
    fn names_the_mirrors_after_the_first() {
        let settings = Settings::from_json(br#"{"mirrors": ["a.example.com/c", "b.example.com"]}"#)
            .expect("settings parse");
        let rewriter = settings.compile().expect("settings are valid");
        let description = rewriter.describe();
        assert_eq!(description.mirror.host, "a.example.com");
        assert_eq!(description.mirror.prefix, "c");
        assert_eq!(description.other_mirrors.len(), 1);
        assert_eq!(description.other_mirrors[0].host, "b.example.com");
    }
}

//! One image reference in, its rewrite (or the reason it stays) out.

use serde::{Deserialize, Serialize};

use crate::reference::{NAME_TOTAL_LENGTH_MAX, ParseError, Reference, parse_reference};

mod describe;
pub use describe::{Description, RuleView, TargetView};

/// Validated settings, ready to rewrite references. Built by [`crate::Settings::compile`].
#[derive(Debug, Clone)]
pub struct Rewriter {
    /// In priority order, never empty: rewrites go to the first.
    mirrors: Vec<Target>,
    registries: Registries,
    layout: Layout,
    rules: Vec<CompiledRule>,
    exclude: Vec<glob::Pattern>,
    keep_with_pull_secrets: bool,
    pull_secrets: Vec<String>,
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

/// `host[:port]` plus an optional path prefix.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    host: String,
    prefix: String,
}

impl Target {
    pub(crate) fn new(host: &str, prefix: &str) -> Self {
        Self {
            host: host.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The path below the host, without slashes at either end; empty for none.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Registries {
    /// Every registry but the mirror and the rule targets.
    All,
    /// Lowercase hosts, Docker Hub as `docker.io`.
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    /// Lowercase host, Docker Hub as `docker.io`.
    pub(crate) registry: String,
    pub(crate) target: Target,
}

/// What [`Rewriter::rewrite`] decided for a valid reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// The reference to use instead.
    Rewritten(String),
    /// Leave the image as it is.
    Unchanged(Unchanged),
}

/// Why a valid reference is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// Already on the mirror or a rule's target: rewriting again would not be idempotent.
    OnCache,
    /// Its registry is neither in `registries` nor in `rules`.
    RegistryNotSelected,
    /// It matches an `exclude` pattern.
    Excluded,
}

/// An image that cannot be rewritten; the admission request still succeeds, with a warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The image is not a reference the container runtime would accept either.
    #[error("not a valid image reference: {0}")]
    Parse(#[from] ParseError),
    /// The rewrite would not parse back, e.g. too long, or a `host:port` as a path component.
    #[error("its rewrite {rewritten:?} would not be a valid reference: {source}{hint}")]
    Invalid {
        rewritten: String,
        #[source]
        source: ParseError,
        /// Set when a rule could express what the layout cannot.
        hint: String,
    },
}

impl RewriteError {
    /// Why, without the rewrite itself: a warning quotes the image, and the rewrite is that image
    /// below the mirror, as long again.
    pub fn reason(&self) -> String {
        match self {
            RewriteError::Parse(_) => self.to_string(),
            RewriteError::Invalid { source, hint, .. } => {
                format!("its rewrite would not be a valid reference: {source}{hint}")
            }
        }
    }
}

impl Rewriter {
    pub(crate) fn new(
        mirrors: Vec<Target>,
        registries: Registries,
        layout: Layout,
        rules: Vec<CompiledRule>,
        exclude: Vec<glob::Pattern>,
        pull_secrets: Vec<String>,
    ) -> Self {
        Self {
            mirrors,
            registries,
            layout,
            rules,
            exclude,
            pull_secrets,
            keep_with_pull_secrets: false,
        }
    }

    /// The secrets every pod spec with a rewritten image must name in `imagePullSecrets`.
    pub(crate) fn pull_secrets(&self) -> &[String] {
        &self.pull_secrets
    }

    /// With `keep`, a pod spec that lists `imagePullSecrets` is left unchanged.
    pub(crate) fn keeping_images_with_pull_secrets(mut self, keep: bool) -> Self {
        self.keep_with_pull_secrets = keep;
        self
    }

    pub(crate) fn keeps_images_with_pull_secrets(&self) -> bool {
        self.keep_with_pull_secrets
    }

    /// Decides what becomes of one `image` value.
    pub fn rewrite(&self, image: &str) -> Result<Rewrite, RewriteError> {
        let reference = parse_reference(image)?;
        let domain = reference.domain();
        if let Some(moved) = self.to_first_mirror(&reference) {
            return moved;
        }
        if self.is_cache_host(domain) {
            return Ok(Rewrite::Unchanged(Unchanged::OnCache));
        }
        let (target, registry_dir) = match self
            .rules
            .iter()
            .find(|r| same_registry(&r.registry, domain))
        {
            Some(rule) => (&rule.target, false),
            None if self.selects(domain) => (self.first_mirror(), self.layout == Layout::Prefixed),
            None => return Ok(Rewrite::Unchanged(Unchanged::RegistryNotSelected)),
        };
        if self.is_excluded(&reference) {
            return Ok(Rewrite::Unchanged(Unchanged::Excluded));
        }
        let mut rewritten =
            String::with_capacity(image.len() + target.host.len() + target.prefix.len() + 32);
        rewritten.push_str(&target.host);
        for part in [
            target.prefix.as_str(),
            if registry_dir { domain } else { "" },
        ] {
            if !part.is_empty() {
                rewritten.push('/');
                rewritten.push_str(part);
            }
        }
        if registry_dir {
            // Path components are lowercase; registry hosts compare case-insensitively.
            let start = rewritten.len() - domain.len();
            rewritten[start..].make_ascii_lowercase();
        }
        rewritten.push('/');
        rewritten.push_str(reference.path());
        reference.write_suffix(&mut rewritten);
        self.check(rewritten, &target.host, registry_dir.then_some(domain))
    }

    /// The rewrite must parse back to the same registry, or the runtime would pull from
    /// somewhere else (or not at all).
    fn check(
        &self,
        rewritten: String,
        host: &str,
        domain_in_path: Option<&str>,
    ) -> Result<Rewrite, RewriteError> {
        let hint = |source: ParseError, rewritten: String| RewriteError::Invalid {
            hint: match domain_in_path {
                Some(domain) if domain.contains([':', '[']) => format!(
                    " (the prefixed layout cannot hold a port or IPv6 address; add a rule for registry {domain:?})"
                ),
                _ => String::new(),
            },
            rewritten,
            source,
        };
        match parse_reference(&rewritten) {
            // containerd 1.7's fork of the parser still limits the whole name, domain included.
            Ok(parsed)
                if parsed.domain().len() + 1 + parsed.path().len() > NAME_TOTAL_LENGTH_MAX =>
            {
                return Err(RewriteError::Invalid {
                    rewritten,
                    source: ParseError::NameTooLong,
                    hint: " (counting the registry, as containerd 1.7 does)".to_owned(),
                });
            }
            Ok(parsed) if parsed.domain() == host => {}
            Ok(_) => return Err(hint(ParseError::InvalidFormat, rewritten)),
            Err(source) => return Err(hint(source, rewritten)),
        }
        Ok(Rewrite::Rewritten(rewritten))
    }

    fn first_mirror(&self) -> &Target {
        // `Settings::compile` refuses settings without a mirror.
        &self.mirrors[0]
    }

    /// An image on another mirror than the first, below its prefix, moved to the first: every
    /// mirror serves the same paths, and the first is the one to pull from now.
    fn to_first_mirror(&self, reference: &Reference<'_>) -> Option<Result<Rewrite, RewriteError>> {
        let domain = reference.domain();
        let (first, others) = self.mirrors.split_first()?;
        let on = others
            .iter()
            .find(|m| domain.eq_ignore_ascii_case(&m.host))?;
        let below = if on.prefix.is_empty() {
            reference.path()
        } else {
            reference
                .path()
                .strip_prefix(on.prefix.as_str())?
                .strip_prefix('/')?
        };
        let mut moved = first.host.clone();
        for part in [first.prefix.as_str(), below] {
            if !part.is_empty() {
                moved.push('/');
                moved.push_str(part);
            }
        }
        reference.write_suffix(&mut moved);
        Some(self.check(moved, &first.host, None))
    }

    fn is_cache_host(&self, domain: &str) -> bool {
        self.mirrors
            .iter()
            .any(|m| domain.eq_ignore_ascii_case(&m.host))
            || self
                .rules
                .iter()
                .any(|r| domain.eq_ignore_ascii_case(&r.target.host))
    }

    fn selects(&self, domain: &str) -> bool {
        match &self.registries {
            // A name whose first component failed the domain grammar has no registry.
            Registries::All => !domain.is_empty(),
            Registries::List(hosts) => hosts.iter().any(|h| same_registry(h, domain)),
        }
    }

    /// Go's `reference.Match`: the pattern against the whole reference, then against its name.
    fn is_excluded(&self, reference: &Reference<'_>) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        let domain = reference.domain().to_ascii_lowercase();
        let name = format!("{domain}/{}", reference.path());
        let mut full = name.clone();
        reference.write_suffix(&mut full);
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.exclude
            .iter()
            .any(|p| p.matches_with(&full, options) || p.matches_with(&name, options))
    }
}

/// `registry` is already lowercase; `docker.io` is how the parser spells Docker Hub.
fn same_registry(registry: &str, domain: &str) -> bool {
    registry.eq_ignore_ascii_case(domain)
}

#[cfg(test)]
pub(crate) mod tests;

//! Which source registries would share a mirror namespace: the check behind
//! `allowSharedNamespace`.
//!
//! A namespace is a host and a path a rewrite writes below. Two source registries share one when
//! some repository path of the first lands where the same or another path of the second does:
//! the flat layout with several registries (or `*`), or one target inside another's namespace.
//! The mirror cannot tell whose image it was asked for, and zot syncs the path from the first
//! upstream that has it, so whoever owns the path on that upstream supplies the image.

use std::borrow::Cow;
use std::fmt;

use crate::rewrite::{CompiledRule, Layout, Registries, Target};

/// Source registries that would share one mirror namespace, and where the settings say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedNamespace {
    description: String,
}

impl fmt::Display for SharedNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// One namespace the settings write into: `host/path…/`, where a path component of `None`
/// stands for any registry name (the prefixed layout with `*`). It borrows from the settings:
/// the check runs on every evaluation, and its words are needed only when it fails.
struct Namespace<'a> {
    host: String,
    path: Vec<Option<&'a str>>,
    /// The source registries written there, as the message names them.
    sources: &'a str,
    /// The setting that puts them there.
    origin: Cow<'static, str>,
}

impl<'a> Namespace<'a> {
    fn below(target: &'a Target, extra: Option<Option<&'a str>>) -> (String, Vec<Option<&'a str>>) {
        let mut path: Vec<Option<&str>> = target
            .prefix()
            .split('/')
            .filter(|part| !part.is_empty())
            .map(Some)
            .collect();
        path.extend(extra);
        (target.host().to_ascii_lowercase(), path)
    }

    /// `host/a/b/` down to `depth` components, `<registry>` for one that is any registry.
    fn display_path(&self, depth: usize) -> String {
        let mut text = self.host.clone();
        for part in self.path.iter().take(depth) {
            text.push('/');
            text.push_str(part.unwrap_or("<registry>"));
        }
        text.push('/');
        text
    }
}

/// The first pair of source registries the settings would put into one namespace, if any.
pub(crate) fn shared(
    layout: Layout,
    mirror: &Target,
    registries: &Registries,
    rules: &[CompiledRule],
) -> Option<SharedNamespace> {
    let is_cache = |host: &str| {
        host.eq_ignore_ascii_case(mirror.host())
            || rules
                .iter()
                .any(|r| host.eq_ignore_ascii_case(r.target.host()))
    };
    let mut namespaces = Vec::new();
    match registries {
        Registries::All => {
            let origin = "settings.registries [\"*\"]";
            if layout == Layout::Flat {
                return Some(SharedNamespace {
                    description: format!(
                        "{origin} with layout flat rewrites every registry into the one mirror \
                         namespace \"{}\"",
                        root(mirror)
                    ),
                });
            }
            namespaces.push(namespace(
                mirror,
                Some(None),
                "every registry",
                origin.into(),
            ));
        }
        Registries::List(hosts) => {
            let mut flat: Vec<&str> = Vec::new();
            for host in hosts {
                let ruled = rules.iter().any(|r| r.registry == *host);
                if ruled || is_cache(host) || flat.contains(&host.as_str()) {
                    continue;
                }
                flat.push(host);
            }
            match layout {
                Layout::Flat if flat.len() > 1 => {
                    return Some(SharedNamespace {
                        description: format!(
                            "settings.registries with layout flat rewrites {} into the one mirror \
                             namespace \"{}\"",
                            listed(&flat),
                            root(mirror)
                        ),
                    });
                }
                Layout::Flat => namespaces.extend(flat.first().map(|host| {
                    namespace(
                        mirror,
                        None,
                        host,
                        "settings.mirror with layout flat".into(),
                    )
                })),
                Layout::Prefixed => namespaces.extend(flat.iter().map(|host| {
                    namespace(
                        mirror,
                        Some(Some(host)),
                        host,
                        "settings.mirror with layout prefixed".into(),
                    )
                })),
            }
        }
    }
    for (i, rule) in rules.iter().enumerate() {
        namespaces.push(namespace(
            &rule.target,
            None,
            &rule.registry,
            format!("settings.rules[{i}].target").into(),
        ));
    }
    for (i, first) in namespaces.iter().enumerate() {
        for second in &namespaces[i + 1..] {
            if let Some(depth) = overlap(first, second) {
                let deeper = if first.path.len() >= second.path.len() {
                    first
                } else {
                    second
                };
                return Some(SharedNamespace {
                    description: format!(
                        "{} ({}) and {} ({}) share the mirror namespace \"{}\"",
                        first.sources,
                        first.origin,
                        second.sources,
                        second.origin,
                        deeper.display_path(depth)
                    ),
                });
            }
        }
    }
    None
}

fn namespace<'a>(
    target: &'a Target,
    extra: Option<Option<&'a str>>,
    sources: &'a str,
    origin: Cow<'static, str>,
) -> Namespace<'a> {
    let (host, path) = Namespace::below(target, extra);
    Namespace {
        host,
        path,
        sources,
        origin,
    }
}

/// `host/prefix/`: the namespace a target writes below.
fn root(target: &Target) -> String {
    namespace(target, None, "", "".into()).display_path(usize::MAX)
}

/// `a`, `a and b`, `a, b and c`.
fn listed(hosts: &[&str]) -> String {
    match hosts.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The depth of the shared namespace when one of the two lies inside the other (or they are the
/// same): on the same host, one path is the other's start. Any registry matches a component
/// only if that component could be a registry in the prefixed layout (it has a dot, or is
/// `localhost`).
fn overlap(first: &Namespace, second: &Namespace) -> Option<usize> {
    if first.host != second.host {
        return None;
    }
    for (a, b) in first.path.iter().zip(&second.path) {
        let same = match (a, b) {
            (Some(a), Some(b)) => a == b,
            (None, Some(part)) | (Some(part), None) => could_be_registry(part),
            (None, None) => true,
        };
        if !same {
            return None;
        }
    }
    Some(first.path.len().max(second.path.len()))
}

fn could_be_registry(component: &str) -> bool {
    component.contains('.') || component == "localhost"
}

#[cfg(test)]
mod tests;

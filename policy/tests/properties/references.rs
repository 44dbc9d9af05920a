//! Image references generated from the grammar of Go's `distribution/reference` (`regexp.go`),
//! each with the parts `ParseNormalizedNamed` must find in it, and broken ones with the exact
//! error they must get.

use proptest::collection::vec;
use proptest::prelude::*;
use pullthrough_policy::ParseError;

/// A reference as written, and what parsing it must give.
#[derive(Debug, Clone)]
pub struct Generated {
    pub image: String,
    /// Normalised: `docker.io` for Docker Hub in any spelling, otherwise as written.
    pub domain: String,
    /// Normalised: `library/` added to a one-component Docker Hub name.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// Registries the policy settings name, so that many generated images are selected.
pub const KNOWN_HOSTS: [&str; 13] = [
    "docker.io",
    "index.docker.io",
    "ghcr.io",
    "quay.io",
    "gcr.io",
    "registry.k8s.io",
    "localhost",
    "localhost:5000",
    "[fd00::1]:5000",
    "[::1]",
    "10.0.0.1:5000",
    "m.example.com",
    "Mirror.Example.com:8443",
];

/// `pathComponent := [a-z0-9]+ (separator [a-z0-9]+)*`, `separator := [._] | __ | [-]+`.
pub fn path_component() -> BoxedStrategy<String> {
    "[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}".boxed()
}

/// `domainAndPort`: a name with a dot, a name with a port, `localhost`, IPv4 and IPv6
/// literals, in mixed case: every form the first component is read as a registry.
pub fn host() -> BoxedStrategy<String> {
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,4}[a-zA-Z0-9])?";
    let regex = |r: String| proptest::string::string_regex(&r).expect("a valid regex");
    prop_oneof![
        3 => proptest::sample::select(&KNOWN_HOSTS[..]).prop_map(str::to_owned),
        2 => regex(format!("{label}(\\.{label}){{1,3}}(:[0-9]{{1,5}})?")),
        1 => regex(format!("{label}:[0-9]{{1,5}}")),
        1 => "\\[[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){1,7}\\](:[0-9]{1,5})?",
        1 => "localhost(:[0-9]{1,5})?",
    ]
    .boxed()
}

/// `tag := [\w][\w.-]{0,127}`.
pub fn tag() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,12}",
        1 => "[a-zA-Z0-9_][a-zA-Z0-9_.-]{127}",
    ]
    .boxed()
}

/// A digest of an algorithm containerd registers, at its exact length.
pub fn digest() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "sha256:[0-9a-f]{64}",
        1 => "sha384:[0-9a-f]{96}",
        2 => "sha512:[0-9a-f]{128}",
    ]
    .boxed()
}

/// A valid reference: optional registry, 1–4 path components, optional tag and digest.
pub fn valid() -> BoxedStrategy<Generated> {
    (
        proptest::option::weighted(0.7, host()),
        vec(path_component(), 1..=4),
        proptest::option::of(tag()),
        proptest::option::weighted(0.4, digest()),
    )
        .prop_map(|(host, mut path, tag, digest)| {
            if host.is_none() {
                // Without a registry the first component would otherwise be read as one.
                path[0] = path[0].replace('.', "-");
                if path[0] == "localhost" {
                    path[0] = "local-host".to_owned();
                }
            }
            let path = path.join("/");
            let mut image = host.as_ref().map_or_else(String::new, |h| format!("{h}/"));
            image.push_str(&path);
            let hub = matches!(
                host.as_deref(),
                None | Some("docker.io" | "index.docker.io")
            );
            if let Some(tag) = &tag {
                image.push(':');
                image.push_str(tag);
            }
            if let Some(digest) = &digest {
                image.push('@');
                image.push_str(digest);
            }
            Generated {
                image,
                domain: if hub {
                    "docker.io".to_owned()
                } else {
                    host.unwrap_or_default()
                },
                path: if hub && !path.contains('/') {
                    format!("library/{path}")
                } else {
                    path
                },
                tag,
                digest,
            }
        })
        .boxed()
}

/// A reference broken in one way, and the error Go gives for it.
pub fn invalid() -> BoxedStrategy<(String, ParseError)> {
    let hex64 = "[0-9a-f]{64}";
    prop_oneof![
        // An uppercase letter in the repository path.
        (valid(), any::<proptest::sample::Index>()).prop_filter_map(
            "no letter to uppercase",
            |(g, i)| {
                let remainder_start = g.image.len() - remainder_len(&g);
                // An uppercase first component of a familiar name would make it a registry.
                let first_is_host =
                    remainder_start == 0 && g.path.contains('/') && !g.path.starts_with("library/");
                let letters: Vec<usize> = g.image[remainder_start..]
                    .char_indices()
                    .take_while(|&(_, c)| c != ':' && c != '@')
                    .skip_while(|&(_, c)| first_is_host && c != '/')
                    .filter(|(_, c)| c.is_ascii_lowercase())
                    .map(|(at, _)| remainder_start + at)
                    .collect();
                let at = *letters.get(i.index(letters.len().max(1)))?;
                let mut image = g.image.clone();
                image[at..=at].make_ascii_uppercase();
                let remainder = &image[remainder_start..];
                let remote = remainder.split_once(':').map_or(remainder, |(r, _)| r);
                let library = g.path.starts_with("library/") && !remainder.contains('/');
                let remote = format!("{}{remote}", if library { "library/" } else { "" });
                Some((image, ParseError::RemoteNameUppercase(remote)))
            }
        ),
        // A sha256 digest of the wrong length (still 32+ hex digits, so it is a digest).
        (valid(), 32usize..=130)
            .prop_filter("right length", |(_, n)| *n != 64)
            .prop_map(|(g, n)| {
                (
                    format!("{}@sha256:{}", name_of(&g), "a".repeat(n)),
                    ParseError::DigestInvalidLength,
                )
            }),
        // Uppercase hex: the pattern allows it, go-digest does not.
        (valid(), "[0-9a-f]{63}").prop_map(|(g, hex)| {
            (
                format!("{}@sha256:{hex}F", name_of(&g)),
                ParseError::DigestInvalidFormat,
            )
        }),
        // A well-formed algorithm nobody registered.
        (valid(), "[a-z][a-z0-9]{0,5}", "[0-9a-f]{32,70}")
            .prop_filter("registered algorithm", |(_, a, _)| ![
                "sha256", "sha384", "sha512"
            ]
            .contains(&a.as_str()))
            .prop_map(|(g, algorithm, hex)| {
                (
                    format!("{}@{algorithm}:{hex}", name_of(&g)),
                    ParseError::DigestUnsupported,
                )
            }),
        // A tag of 129 characters or more.
        (valid(), "[a-z0-9]{129,140}")
            .prop_map(|(g, tag)| (format!("{}:{tag}", name_of(&g)), ParseError::InvalidFormat)),
        // A name of 256 characters or more.
        (host(), vec("[a-z0-9]{60}", 5..=6)).prop_map(|(h, path)| {
            (format!("{}/{}", h, path.join("/")), ParseError::NameTooLong)
        }),
        // A bare image ID.
        hex64.prop_map(|id| (id.clone(), ParseError::HexIdentifier(id))),
    ]
    .boxed()
}

/// The bytes after the registry (or all of them, for a familiar name).
fn remainder_len(g: &Generated) -> usize {
    match g.image.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            rest.len()
        }
        _ => g.image.len(),
    }
}

/// The reference without its tag and digest.
fn name_of(g: &Generated) -> String {
    let end = g.image.find('@').unwrap_or(g.image.len());
    let name = &g.image[..end];
    match &g.tag {
        Some(tag) => name[..name.len() - tag.len() - 1].to_owned(),
        None => name.to_owned(),
    }
}

//! Image references, parsed exactly as Go's `github.com/distribution/reference` does.
//!
//! Docker, containerd and the kubelet all read an `image` with that package's
//! `ParseNormalizedNamed`; a rewrite that disagreed with it would send a pull somewhere the
//! runtime never would. This is a hand-written matcher for the package's grammar (`regexp.go`)
//! rather than a regex engine: it is smaller in the guest, allocates nothing for an already
//! fully qualified reference, and each rule below names the Go production it implements.
//!
//! Length limit: since v0.6.0 (commit aaca75e, "Exclude domain from name length check") the
//! package limits the repository path to 255 characters and no longer counts the domain; that
//! is what we follow. Older copies still count the whole name: containerd 1.7 parses with its
//! own fork of the package (`reference/docker`), so the rewrite's output is held to the whole-
//! name limit as well (see `Rewriter::check`), and a rewrite that only containerd 1.7 would
//! refuse is never written.

use std::borrow::Cow;
use std::fmt;

use digest::{is_digest_pattern, validate_digest};

mod digest;

/// Longest repository path a reference may have (Go: `RepositoryNameTotalLengthMax`); before
/// distribution/reference v0.6.0, and in containerd 1.7, the limit of the whole name.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const LOCALHOST: &str = "localhost";

/// Why a string is not an image reference. The texts are Go's error strings, so a warning
/// reads the same as the error `kubectl` users know from the kubelet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Go: `ErrNameEmpty`.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// Go: `ErrReferenceInvalidFormat`.
    #[error("invalid reference format")]
    InvalidFormat,
    /// Go: `ErrNameContainsUppercase`.
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// Go: `ErrNameTooLong`.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// Go: the lowercase check in `ParseNormalizedNamed`.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RemoteNameUppercase(String),
    /// Go: the identifier check in `ParseNormalizedNamed`.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// go-digest: `ErrDigestInvalidFormat`.
    #[error("invalid checksum digest format")]
    DigestInvalidFormat,
    /// go-digest: `ErrDigestInvalidLength`.
    #[error("invalid checksum digest length")]
    DigestInvalidLength,
    /// go-digest: `ErrDigestUnsupported`.
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
}

/// A normalised, named reference: `domain/path[:tag][@digest]`.
///
/// It borrows from the parsed string; only a one-component Docker Hub name (`nginx`) needs an
/// owned path (`library/nginx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    domain: &'a str,
    path: Cow<'a, str>,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> Reference<'a> {
    /// The registry host and optional port, as written (`docker.io` when none was given).
    /// Empty only for the rare name whose first component Go treats as a domain while
    /// splitting but that fails the domain grammar (`foo_bar.com/x`).
    pub fn domain(&self) -> &'a str {
        self.domain
    }

    /// The repository path below the registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, exactly as written; never invented.
    pub fn tag(&self) -> Option<&'a str> {
        self.tag
    }

    /// The digest (`sha256:…`), exactly as written.
    pub fn digest(&self) -> Option<&'a str> {
        self.digest
    }

    /// `[:tag][@digest]`, the part a rewrite carries over unchanged.
    pub fn write_suffix(&self, out: &mut String) {
        if let Some(tag) = self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = self.digest {
            out.push('@');
            out.push_str(digest);
        }
    }
}

impl fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Parses an image reference the way Go's `reference.ParseNormalizedNamed` does: a familiar
/// name (`nginx`, `org/app:1`) gains `docker.io` and, for a single component, `library/`.
pub fn parse_reference(s: &str) -> Result<Reference<'_>, ParseError> {
    if is_identifier(s) {
        return Err(ParseError::HexIdentifier(s.to_owned()));
    }
    // splitDockerDomain: the first component is a domain only if it looks like one; Docker
    // Hub's two spellings both become `docker.io`.
    let (hub, remainder) = match s.split_once('/') {
        None => (true, s),
        Some((first, rest)) => match first {
            LOCALHOST => (false, rest),
            DEFAULT_DOMAIN | LEGACY_DEFAULT_DOMAIN => (true, rest),
            _ if first.contains(['.', ':']) || has_uppercase(first) => (false, rest),
            _ => (true, s),
        },
    };
    // Familiar Docker Hub names of one component live under `library/`.
    let library = hub && !remainder.contains('/');
    let remote = remainder
        .split_once(':')
        .map_or(remainder, |(remote, _)| remote);
    if has_uppercase(remote) {
        let prefix = if library { OFFICIAL_REPO_PREFIX } else { "" };
        return Err(ParseError::RemoteNameUppercase(format!("{prefix}{remote}")));
    }
    if hub {
        // Go parses "docker.io/" + ["library/"] + remainder; that domain is known valid.
        parse_docker_hub(remainder, library)
    } else {
        // `domain/remainder` is `s` itself: parse it as Go's `Parse` would.
        parse(s)
    }
}

fn has_uppercase(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_uppercase())
}

/// Go's `reference.Parse` for a string that already carries its domain.
fn parse(s: &str) -> Result<Reference<'_>, ParseError> {
    if s.is_empty() {
        return Err(ParseError::NameEmpty);
    }
    let Some((parts, domain, path)) = match_reference(s)
        .and_then(|parts| match_name(parts.name).map(|(domain, path)| (parts, domain, path)))
    else {
        return Err(uppercase_or_invalid(s, false));
    };
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ParseError::NameTooLong);
    }
    if let Some(digest) = parts.digest {
        validate_digest(digest)?;
    }
    Ok(Reference {
        domain,
        path: Cow::Borrowed(path),
        tag: parts.tag,
        digest: parts.digest,
    })
}

/// Go's `reference.Parse("docker.io/" + ["library/"] + remainder)`, without building that string.
fn parse_docker_hub(remainder: &str, library: bool) -> Result<Reference<'_>, ParseError> {
    let Some(parts) = match_docker_hub(remainder) else {
        return Err(uppercase_or_invalid(remainder, true));
    };
    let prefix = if library { OFFICIAL_REPO_PREFIX } else { "" };
    if prefix.len() + parts.name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ParseError::NameTooLong);
    }
    if let Some(digest) = parts.digest {
        validate_digest(digest)?;
    }
    let path = if library {
        Cow::Owned(format!("{OFFICIAL_REPO_PREFIX}{}", parts.name))
    } else {
        Cow::Borrowed(parts.name)
    };
    Ok(Reference {
        domain: DEFAULT_DOMAIN,
        path,
        tag: parts.tag,
        digest: parts.digest,
    })
}

/// After `docker.io/` the name is a remote name: the domain group is already taken.
fn match_docker_hub(remainder: &str) -> Option<Parts<'_>> {
    match_reference(remainder).filter(|parts| is_remote_name(parts.name))
}

/// Go's `Parse` reports uppercase only when the lowercased input would have matched. Only
/// reached on the error path, so the allocation is harmless.
fn uppercase_or_invalid(s: &str, hub: bool) -> ParseError {
    if has_uppercase(s) {
        let lower = s.to_ascii_lowercase();
        let matches = if hub {
            match_docker_hub(&lower).is_some()
        } else {
            match_reference(&lower).is_some_and(|parts| match_name(parts.name).is_some())
        };
        if matches {
            return ParseError::NameContainsUppercase;
        }
    }
    ParseError::InvalidFormat
}

/// The three capture groups of Go's `ReferenceRegexp`, before the name is checked.
struct Parts<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Splits `name[:tag][@digest]` and checks the tag and digest grammar. Neither a name nor a
/// tag may contain `@`, and a tag contains neither `:` nor `/`, so the split is unambiguous:
/// the tag follows the last `:` when that comes after the last `/` (a port is always
/// followed by `/`).
fn match_reference(s: &str) -> Option<Parts<'_>> {
    let (left, digest) = match s.split_once('@') {
        Some((left, digest)) => (left, Some(digest)),
        None => (s, None),
    };
    if let Some(digest) = digest
        && !is_digest_pattern(digest)
    {
        return None;
    }
    let (name, tag) = match left.rfind(':') {
        Some(colon) if left.rfind('/').is_none_or(|slash| slash < colon) => {
            (&left[..colon], Some(&left[colon + 1..]))
        }
        _ => (left, None),
    };
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        return None;
    }
    Some(Parts { name, tag, digest })
}

/// Go's `anchoredNameRegexp`: `^(?:(domainAndPort)/)?(remoteName)$`, preferring a domain.
fn match_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/')
        && is_domain_and_port(first)
        && is_remote_name(rest)
    {
        return Some((first, rest));
    }
    is_remote_name(name).then_some(("", name))
}

/// `remoteName := pathComponent ('/' pathComponent)*`. Split by byte: a `char` pattern's search
/// costs more than these short names (the guest's own profile).
fn is_remote_name(s: &str) -> bool {
    s.as_bytes()
        .split(|&b| b == b'/')
        .all(is_path_component_bytes)
}

/// `pathComponent := [a-z0-9]+ (separator [a-z0-9]+)*`, `separator := [._] | __ | [-]+`.
pub(crate) fn is_path_component(s: &str) -> bool {
    is_path_component_bytes(s.as_bytes())
}

fn is_path_component_bytes(bytes: &[u8]) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().copied().is_some_and(alnum) || !bytes.last().copied().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &bytes[start..i];
        let valid =
            matches!(separator, b"." | b"_" | b"__") || separator.iter().all(|&b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

/// `domainAndPort := host (':' [0-9]+)?`, `host := domainName | '[' [a-fA-F0-9:]+ ']'`. By byte,
/// in one pass: every reference with a registry and every host in the settings comes here.
pub(crate) fn is_domain_and_port(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (host_ok, port) = if let [b'[', bracketed @ ..] = bytes {
        let Some(close) = bracketed.iter().position(|&b| b == b']') else {
            return false;
        };
        let inner = &bracketed[..close];
        (
            !inner.is_empty() && inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':'),
            &bracketed[close + 1..],
        )
    } else {
        let colon = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
        (is_domain_name(&bytes[..colon]), &bytes[colon..])
    };
    host_ok
        && match port {
            [] => true,
            [b':', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

/// `domainName := component ('.' component)*`, each component alphanumeric at both ends with
/// hyphens allowed inside: a `.` may not follow a `.` or a `-` (or open the name), a `-` may
/// not follow a `.`, and the name may not end in either.
fn is_domain_name(bytes: &[u8]) -> bool {
    let mut previous = b'.';
    for &b in bytes {
        let fits = match b {
            b'.' => previous != b'.' && previous != b'-',
            b'-' => previous != b'.',
            _ => b.is_ascii_alphanumeric(),
        };
        if !fits {
            return false;
        }
        previous = b;
    }
    previous != b'.' && previous != b'-'
}

/// `tag := [\w][\w.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = s.as_bytes();
    (1..=128).contains(&bytes.len())
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `identifier := [a-f0-9]{64}`: a bare image ID, which Go refuses as a name.
fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod domain_tests;
#[cfg(test)]
pub(crate) mod tests;

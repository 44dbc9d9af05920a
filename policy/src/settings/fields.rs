//! One field at a time: registry hosts, mirror and rule targets, Secret names, each checked
//! against what the runtime and the API server will accept.

use super::SettingsError;
use crate::reference::{is_domain_and_port, is_path_component};
use crate::rewrite::Target;

/// Why a host cannot be a registry: the reference grammar decides what the runtime will read
/// as a registry, so a setting outside it could never match or would be misread.
pub(super) fn host_problem(host: &str) -> Option<&'static str> {
    if has_scheme(host) {
        Some("leave out the scheme")
    } else if !is_domain_and_port(host) {
        Some("not a host name, IPv4 or [IPv6] address with an optional :port")
    } else if !(host == "localhost" || host.bytes().any(|b| b == b'.' || b == b':')) {
        Some(
            "a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace",
        )
    } else {
        None
    }
}

/// `scheme://` written where only a host belongs.
fn has_scheme(value: &str) -> bool {
    let bytes = value.as_bytes();
    (0..bytes.len()).any(|i| bytes[i] == b':' && bytes[i + 1..].starts_with(b"//"))
}

/// A source registry: compared case-insensitively, and Docker Hub has two spellings. `field`
/// names the setting, and is called only for an error: these run on every evaluation.
pub(super) fn parse_registry(
    field: impl FnOnce() -> String,
    value: &str,
) -> Result<String, SettingsError> {
    if let Some(reason) = host_problem(value) {
        return Err(SettingsError::InvalidRegistry {
            field: field(),
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
pub(super) fn is_secret_name(name: &str) -> bool {
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

/// `host[:port][/path]` for the mirror or a rule's target; `field` as for [`parse_registry`].
pub(super) fn parse_target(
    field: impl FnOnce() -> String,
    value: &str,
) -> Result<Target, SettingsError> {
    let invalid = |reason| SettingsError::InvalidTarget {
        field: field(),
        value: value.to_owned(),
        reason,
    };
    let (host, prefix) = match value.split_once('/') {
        Some((host, prefix)) => (host, prefix),
        None => (value, ""),
    };
    let problem = if has_scheme(value) {
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

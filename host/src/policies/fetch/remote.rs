//! What a remote `module` names, checked when the policies file is read: an OCI reference
//! after `registry://` (a tag, a digest, or both), or an `https://` URL (`http://` is refused
//! at fetch time unless the sources file lists the host as insecure).

use std::fmt;

/// A module that is fetched rather than read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Remote {
    /// `registry://REFERENCE`: the reference, without the scheme.
    Registry(String),
    /// An `https://` or `http://` URL, whole.
    Url(Url),
}

/// An `http(s)://` URL with its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) text: String,
    pub(crate) https: bool,
    /// `host[:port]` as written: what the sources file's keys name.
    pub(crate) authority: String,
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(reference) => write!(f, "registry://{reference}"),
            Self::Url(url) => f.write_str(&url.text),
        }
    }
}

impl Remote {
    /// `Ok(None)` for anything without a scheme or with `file://`: a local path.
    pub(crate) fn parse(module: &str) -> Result<Option<Self>, String> {
        if let Some(reference) = module.strip_prefix("registry://") {
            return parse_reference(reference).map(|()| Some(Self::Registry(reference.to_owned())));
        }
        if module.starts_with("https://") || module.starts_with("http://") {
            return parse_url(module).map(|url| Some(Self::Url(url)));
        }
        if module.starts_with("file://") || !module.contains("://") {
            return Ok(None);
        }
        Err(format!(
            "must be a file path, file://, registry://, https:// or http://, got {module:?}"
        ))
    }
}

/// A reference the OCI client takes: `host[:port]/path[:tag][@sha256:HEX]`. A host is required:
/// a bare `name:tag` would silently mean Docker Hub.
fn parse_reference(reference: &str) -> Result<(), String> {
    let example = "e.g. registry://ghcr.io/org/policy:v1 or registry://ghcr.io/org/policy@sha256:…";
    let Some((host, _)) = reference.split_once('/') else {
        return Err(format!(
            "must name a registry host and a repository, {example}, got \"registry://{reference}\""
        ));
    };
    if !(host.contains('.') || host.contains(':') || host == "localhost") {
        return Err(format!(
            "must start with a registry host (a name with a dot or a port, or localhost), \
             {example}, got \"registry://{reference}\""
        ));
    }
    let parsed: oci_client::Reference = reference.parse().map_err(|error| {
        format!("is not a valid OCI reference ({error}), {example}, got \"registry://{reference}\"")
    })?;
    if let Some(digest) = parsed.digest()
        && !super::store::is_sha256(digest)
    {
        return Err(format!(
            "must pin a sha256 digest (sha256: and 64 lowercase hex digits), got \"registry://{reference}\""
        ));
    }
    Ok(())
}

fn parse_url(text: &str) -> Result<Url, String> {
    let invalid = || format!("must be a URL such as https://example.com/policy.wasm, got {text:?}");
    let uri: http::Uri = text.parse().map_err(|_| invalid())?;
    let authority = uri.authority().ok_or_else(invalid)?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(invalid());
    }
    Ok(Url {
        https: uri.scheme_str() == Some("https"),
        authority: authority.as_str().to_owned(),
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case's name, the module, and what it parses to.
    type Case<'a> = (&'a str, &'a str, Result<Option<Remote>, String>);

    #[test]
    fn remote_modules_are_recognised_and_checked() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = format!("registry://ghcr.io/org/policy@{digest}");
        let both = format!("registry://localhost:5000/p:v1@{digest}");
        let url = |text: &str, https, authority: &str| {
            Ok(Some(Remote::Url(Url {
                text: text.to_owned(),
                https,
                authority: authority.to_owned(),
            })))
        };
        let cases: Vec<Case<'_>> = vec![
            ("a path", "policy.wasm", Ok(None)),
            ("file://", "file:///p.wasm", Ok(None)),
            (
                "a tag",
                "registry://ghcr.io/org/policy:v1",
                Ok(Some(Remote::Registry("ghcr.io/org/policy:v1".into()))),
            ),
            (
                "a digest",
                &pinned,
                Ok(Some(Remote::Registry(pinned["registry://".len()..].into()))),
            ),
            (
                "a tag and a digest",
                &both,
                Ok(Some(Remote::Registry(both["registry://".len()..].into()))),
            ),
            (
                "https",
                "https://example.com:8443/p.wasm",
                url("https://example.com:8443/p.wasm", true, "example.com:8443"),
            ),
            (
                "http",
                "http://10.0.0.1/p.wasm",
                url("http://10.0.0.1/p.wasm", false, "10.0.0.1"),
            ),
            (
                "no host",
                "registry://policy:v1",
                Err("must name a registry host and a repository, e.g. registry://ghcr.io/org/policy:v1 or registry://ghcr.io/org/policy@sha256:…, got \"registry://policy:v1\"".into()),
            ),
            (
                "a repository, not a host",
                "registry://org/policy:v1",
                Err("must start with a registry host (a name with a dot or a port, or localhost), e.g. registry://ghcr.io/org/policy:v1 or registry://ghcr.io/org/policy@sha256:…, got \"registry://org/policy:v1\"".into()),
            ),
            (
                "a short digest",
                "registry://ghcr.io/org/policy@sha256:abc",
                Err("is not a valid OCI reference (invalid reference format), e.g. registry://ghcr.io/org/policy:v1 or registry://ghcr.io/org/policy@sha256:…, got \"registry://ghcr.io/org/policy@sha256:abc\"".into()),
            ),
            (
                "credentials in a URL",
                "https://user:pw@example.com/p.wasm",
                Err("must be a URL such as https://example.com/policy.wasm, got \"https://user:pw@example.com/p.wasm\"".into()),
            ),
            (
                "another scheme",
                "oci://ghcr.io/org/policy:v1",
                Err("must be a file path, file://, registry://, https:// or http://, got \"oci://ghcr.io/org/policy:v1\"".into()),
            ),
        ];
        for (name, module, expected) in cases {
            assert_eq!(Remote::parse(module), expected, "{name}");
        }
    }

    #[test]
    fn a_remote_module_prints_as_written() {
        for module in [
            "registry://ghcr.io/org/policy:v1",
            "https://example.com/p.wasm",
        ] {
            let remote = Remote::parse(module).expect("valid").expect("remote");
            assert_eq!(remote.to_string(), module);
        }
    }
}

//! The image reference grammar of `pullthrough_policy::parse_reference` (Go's
//! distribution/reference) as RE2 patterns, for CEL's `matches` and `find`.
//!
//! The policy parses by hand; CEL has no parser, so a reference is classified with anchored
//! patterns instead. Each pattern here is a production of the policy's `reference.rs`, and the
//! tests below run the same steps the CEL takes (with the `regex` crate, whose syntax for these
//! patterns is RE2's) over every reference the policy's tables list, against the policy itself.
//! `\w` is spelled out: it is ASCII in RE2 but Unicode in the `regex` crate.

/// `pathComponent := [a-z0-9]+ (separator [a-z0-9]+)*`, `separator := [._] | __ | [-]+`.
const PATH_COMPONENT: &str = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";

/// A domain name component: alphanumeric at both ends, hyphens inside.
const DOMAIN_COMPONENT: &str = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";

/// `tag := [\w][\w.-]{0,127}`.
const TAG: &str = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";

/// A digest go-digest validates with sha256, sha384 and sha512 registered (as containerd does):
/// the reference grammar's `digestPat` and the algorithm's exact encoded length, lowercase hex.
const DIGEST: &str = "(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})";

/// A bare image ID, which Go refuses as a name.
pub(super) const IDENTIFIER: &str = "^[a-f0-9]{64}$";

/// `[:tag][@digest]` as written, found at the end of an image: the digest follows the first `@`
/// and the tag the last `:` before it that no `/` follows (a port is always followed by `/`).
pub(super) const SUFFIX: &str = "(?s)(?::[^:/@]*)?(?:@.*)?$";

/// The first component names a registry: it is `localhost` or holds `.`, `:` or an uppercase
/// letter (Go's `splitDockerDomain`). Docker Hub's own spellings are [`HUB_SPELLING`].
pub(super) const REGISTRY_FIRST: &str = "^(?:localhost|[^/]*[.:A-Z][^/]*)/";

/// Docker Hub spelled out; the name below it is read as if it were familiar.
pub(super) const HUB_SPELLING: &str = "^(?:docker\\.io|index\\.docker\\.io)/";

/// `remoteName := pathComponent ('/' pathComponent)*`.
fn remote_name() -> String {
    format!("{PATH_COMPONENT}(?:/{PATH_COMPONENT})*")
}

/// `domainAndPort := host (':' [0-9]+)?`, `host := domainName | '[' [a-fA-F0-9:]+ ']'`.
fn domain_and_port() -> String {
    format!("(?:{DOMAIN_COMPONENT}(?:\\.{DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?")
}

/// `[:tag][@digest]` as the grammar allows them.
fn tag_and_digest() -> String {
    format!("(?::{TAG})?(?:@{DIGEST})?")
}

/// A whole reference whose first component names a registry (Go's `Parse`): the domain is
/// optional, as a first component that fails the domain grammar is part of the path.
pub(super) fn registry_reference() -> String {
    format!(
        "^(?:{}/)?{}{}$",
        domain_and_port(),
        remote_name(),
        tag_and_digest()
    )
}

/// What follows Docker Hub (`docker.io/`, `index.docker.io/` or nothing): a path of path
/// components, then the tag and digest.
pub(super) fn hub_remainder() -> String {
    format!("^{}{}$", remote_name(), tag_and_digest())
}

/// The first component, followed by `/`, is a domain: the reference's registry.
pub(super) fn domain_prefix() -> String {
    format!("^{}/", domain_and_port())
}

#[cfg(test)]
pub(super) mod tests {
    //! The classification the CEL makes, step by step, natively.

    use regex::Regex;

    use super::*;

    /// Docker Hub's domain as the policy spells it.
    const HUB: &str = "docker.io";

    fn anchored(pattern: &str) -> Regex {
        Regex::new(pattern).expect("the pattern compiles")
    }

    /// The normalised `(domain, path, suffix)` the CEL computes for `image`, `None` when it
    /// finds no valid reference (the policy's parse error).
    pub(crate) fn classify(image: &str) -> Option<(String, String, String)> {
        let suffix = anchored(SUFFIX)
            .find(image)
            .map_or("", |m| m.as_str())
            .to_owned();
        let name_end = image.len() - suffix.len();
        if anchored(REGISTRY_FIRST).is_match(image) && !anchored(HUB_SPELLING).is_match(image) {
            if !anchored(&registry_reference()).is_match(image) {
                return None;
            }
            let (domain, start) = if anchored(&domain_prefix()).is_match(image) {
                let slash = image.find('/').expect("the prefix ends with '/'");
                (&image[..slash], slash + 1)
            } else {
                ("", 0)
            };
            let path = &image[start..name_end];
            (path.len() <= 255).then(|| (domain.to_owned(), path.to_owned(), suffix))
        } else {
            let remainder = if anchored(HUB_SPELLING).is_match(image) {
                &image[image.find('/').expect("the spelling ends with '/'") + 1..]
            } else {
                image
            };
            if anchored(IDENTIFIER).is_match(image)
                || !anchored(&hub_remainder()).is_match(remainder)
            {
                return None;
            }
            let library = if remainder.contains('/') {
                ""
            } else {
                "library/"
            };
            let path = format!("{library}{}", &remainder[..remainder.len() - suffix.len()]);
            (path.len() <= 255).then(|| (HUB.to_owned(), path, suffix))
        }
    }

    /// Every reference the policy's tables and fuzz regressions list, and the fixtures' images.
    pub(crate) fn listed_references() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/references");
        let mut references = Vec::new();
        for file in [
            "parse-table.json",
            "rewrite-table.json",
            "fuzz-regressions.json",
        ] {
            let text = std::fs::read_to_string(root.join(file)).expect("the list is there");
            let value: serde_json::Value = serde_json::from_str(&text).expect("the list is JSON");
            let images = value
                .get("images")
                .and_then(serde_json::Value::as_array)
                .expect("the list has images");
            references.extend(
                images
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::to_owned),
            );
        }
        assert!(
            references.len() > 250,
            "only {} references",
            references.len()
        );
        references
    }

    /// What the policy's parser makes of `image`, in the shape of [`classify`].
    fn parsed(image: &str) -> Option<(String, String, String)> {
        pullthrough_policy::parse_reference(image).ok().map(|r| {
            let mut suffix = String::new();
            r.write_suffix(&mut suffix);
            (r.domain().to_owned(), r.path().to_owned(), suffix)
        })
    }

    #[test]
    fn the_patterns_classify_every_listed_reference_as_the_policy_parses_it() {
        let mut failures = Vec::new();
        for image in listed_references() {
            let want = parsed(&image);
            let got = classify(&image);
            if got != want {
                failures.push(format!("{image:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn shapes_the_tables_leave_out_classify_alike() {
        let cases = [
            "a:b:c",
            "a:b/c@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "x@y@z",
            "/nginx",
            "nginx/",
            "docker.io",
            "docker.io/",
            "index.docker.io/library",
            "Docker.io/x",
            "localhost:5000/a@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "a.b@x/y",
            "a\n@b",
            "registry.example.com:443/team/app:1.2.3-rc.1",
            "[::1]/a:b",
            "UPPER.example.com/ok",
            "ok.example.com/NotOk",
        ];
        for image in cases {
            assert_eq!(classify(image), parsed(image), "{image:?}");
        }
    }
}

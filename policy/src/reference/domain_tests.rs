//! The one-pass domain check held to the grammar written out production by production.

use proptest::prelude::*;

use super::is_domain_and_port;

/// `domainAndPort` as `regexp.go` composes it: split at the port's colon and at each dot, each
/// part checked on its own.
fn grammar(s: &str) -> bool {
    let component = |c: &str| {
        let bytes = c.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let port = |p: &str| {
        p.is_empty()
            || p.strip_prefix(':')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    match s.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').is_some_and(|(inner, after)| {
            !inner.is_empty()
                && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
                && port(after)
        }),
        None => {
            let (host, after) = s.split_at(s.find(':').unwrap_or(s.len()));
            host.split('.').all(component) && port(after)
        }
    }
}

#[test]
fn the_cases_the_grammar_names() {
    for (host, expected) in [
        ("docker.io", true),
        ("localhost:5000", true),
        ("a-b.c--d.e", true),
        ("[::1]:5000", true),
        ("[fe80::1]", true),
        ("", false),
        (".a", false),
        ("a.", false),
        ("a..b", false),
        ("-a.b", false),
        ("a-.b", false),
        ("a.-b", false),
        ("a_b.c", false),
        ("a.b:", false),
        ("a.b:5x", false),
        ("a.b:1:2", false),
        ("[]", false),
        ("[::1", false),
        ("[g::1]", false),
        ("é.com", false),
    ] {
        assert_eq!(is_domain_and_port(host), expected, "{host:?}");
        assert_eq!(grammar(host), expected, "{host:?} (the grammar)");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn agrees_with_the_grammar(host in "[a-c0-9.:\\-_\\[\\]éA]{0,12}") {
        prop_assert_eq!(is_domain_and_port(&host), grammar(&host), "{:?}", host);
    }
}

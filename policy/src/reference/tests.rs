//! The parser against distribution/reference's own test expectations, plus our additions.
//!
//! Cases marked `go:` are copied from github.com/distribution/reference at commit
//! 4894124079e525c3c3c5c8aacaa653b5499004e9: `normalize_test.go` (TestValidateReferenceName,
//! TestValidateRemoteName, TestParseRepositoryInfo, TestParseReferenceWithTagAndDigest,
//! TestParseAnyReference, TestNormalizedSplitHostname) for `ParseNormalizedNamed`, and
//! `reference_test.go` (TestReferenceParse) for `Parse`. Where the Go test only says "valid"
//! the expected domain and path are what the Go code returns for that input.

use super::*;

const SHA256_F: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const SHA512_F: &str = "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const SHA256_REDIS: &str =
    "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
const HEX64: &str = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

#[derive(Debug)]
enum Expect {
    Ok {
        domain: &'static str,
        path: String,
        tag: Option<String>,
        digest: Option<String>,
    },
    Err(ParseError),
}

fn named(domain: &'static str, path: impl Into<String>) -> Expect {
    Expect::Ok {
        domain,
        path: path.into(),
        tag: None,
        digest: None,
    }
}

fn tagged(domain: &'static str, path: impl Into<String>, tag: impl Into<String>) -> Expect {
    Expect::Ok {
        domain,
        path: path.into(),
        tag: Some(tag.into()),
        digest: None,
    }
}

fn digested(domain: &'static str, path: impl Into<String>, digest: impl Into<String>) -> Expect {
    Expect::Ok {
        domain,
        path: path.into(),
        tag: None,
        digest: Some(digest.into()),
    }
}

fn both(
    domain: &'static str,
    path: impl Into<String>,
    tag: impl Into<String>,
    digest: impl Into<String>,
) -> Expect {
    Expect::Ok {
        domain,
        path: path.into(),
        tag: Some(tag.into()),
        digest: Some(digest.into()),
    }
}

fn err(error: ParseError) -> Expect {
    Expect::Err(error)
}

struct Case {
    name: &'static str,
    input: String,
    expect: Expect,
}

fn case(name: &'static str, input: impl Into<String>, expect: Expect) -> Case {
    Case {
        name,
        input: input.into(),
        expect,
    }
}

fn check(cases: &[Case], parser: for<'a> fn(&'a str) -> Result<Reference<'a>, ParseError>) {
    let mut failures = Vec::new();
    for case in cases {
        let got = parser(&case.input);
        let ok = match (&got, &case.expect) {
            (
                Ok(r),
                Expect::Ok {
                    domain,
                    path,
                    tag,
                    digest,
                },
            ) => {
                r.domain() == *domain
                    && r.path() == path
                    && r.tag() == tag.as_deref()
                    && r.digest() == digest.as_deref()
                    // Display must reassemble exactly what was parsed.
                    && r.to_string()
                        == expected_string(domain, path, tag.as_deref(), digest.as_deref())
            }
            (Err(e), Expect::Err(want)) => e == want,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: {:?}: got {got:?}, want {:?}",
                case.name, case.input, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn expected_string(domain: &str, path: &str, tag: Option<&str>, digest: Option<&str>) -> String {
    let mut s = if domain.is_empty() {
        path.to_owned()
    } else {
        format!("{domain}/{path}")
    };
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(digest);
    }
    s
}

#[rustfmt::skip]
fn normalized_cases() -> Vec<Case> {
    use ParseError::*;
    let hub = "docker.io";
    let long_namespace =
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_".repeat(4);
    let long_namespace = format!("{}/docker", long_namespace.trim_end_matches('_'));
    let song = "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev";
    vec![
        // go: TestValidateReferenceName, valid names.
        case("go: namespace/name", "docker/docker", named(hub, "docker/docker")),
        case("go: library/name", "library/debian", named(hub, "library/debian")),
        case("go: official name", "debian", named(hub, "library/debian")),
        case("go: docker.io namespace", "docker.io/docker/docker", named(hub, "docker/docker")),
        case("go: docker.io library", "docker.io/library/debian", named(hub, "library/debian")),
        case("go: docker.io official", "docker.io/debian", named(hub, "library/debian")),
        case("go: index.docker.io namespace", "index.docker.io/docker/docker", named(hub, "docker/docker")),
        case("go: index.docker.io library", "index.docker.io/library/debian", named(hub, "library/debian")),
        case("go: index.docker.io official", "index.docker.io/debian", named(hub, "library/debian")),
        case("go: ipv4 port namespace", "127.0.0.1:5000/docker/docker", named("127.0.0.1:5000", "docker/docker")),
        case("go: ipv4 port library", "127.0.0.1:5000/library/debian", named("127.0.0.1:5000", "library/debian")),
        case("go: ipv4 port name", "127.0.0.1:5000/debian", named("127.0.0.1:5000", "debian")),
        case("go: bare ipv4 is a hub name", "192.168.0.1", named(hub, "library/192.168.0.1")),
        case("go: bare ipv4:port is a hub tag", "192.168.0.1:80", tagged(hub, "library/192.168.0.1", "80")),
        case("go: ipv4 short port", "192.168.0.1:8/debian", named("192.168.0.1:8", "debian")),
        case("go: ipv4 long port", "192.168.0.2:25000/debian", named("192.168.0.2:25000", "debian")),
        case("go: 64 non-hex characters", song, named(hub, format!("library/{song}"))),
        case("go: ipv6 port name", "[fc00::1]:5000/docker", named("[fc00::1]:5000", "docker")),
        case("go: ipv6 port namespace", "[fc00::1]:5000/docker/docker", named("[fc00::1]:5000", "docker/docker")),
        case("go: full ipv6", "[fc00:1:2:3:4:5:6:7]:5000/library/debian", named("[fc00:1:2:3:4:5:6:7]:5000", "library/debian")),
        case("go: hex name below a host", format!("docker.io/{HEX64}"), named(hub, format!("library/{HEX64}"))),
        case("go: capitalised first component is a domain", "Docker/docker", named("Docker", "docker")),
        case("go: uppercase first component is a domain", "DOCKER/docker", named("DOCKER", "docker")),
        // go: TestValidateReferenceName, invalid names.
        case("go: url", "https://github.com/docker/docker", err(InvalidFormat)),
        case("go: uppercase repository", "docker/Docker", err(RemoteNameUppercase("docker/Docker".into()))),
        case("go: leading dash", "-docker", err(InvalidFormat)),
        case("go: leading dash namespace", "-docker/docker", err(InvalidFormat)),
        case("go: leading dash domain", "-docker.io/docker/docker", err(InvalidFormat)),
        case("go: empty components", "docker///docker", err(InvalidFormat)),
        case("go: uppercase below docker.io", "docker.io/docker/Docker", err(RemoteNameUppercase("docker/Docker".into()))),
        case("go: empty components below docker.io", "docker.io/docker///docker", err(InvalidFormat)),
        case("go: bare ipv6", "[fc00::1]", err(InvalidFormat)),
        case("go: bare ipv6 port", "[fc00::1]:5000", err(InvalidFormat)),
        case("go: ipv6 without brackets", "fc00::1:5000/debian", err(InvalidFormat)),
        case("go: ipv6 zone", "[fe80::1%eth0]:5000/debian", err(InvalidFormat)),
        case("go: ipv4-mapped ipv6", "[2001:db8:3:4::192.0.2.33]:5000/debian", err(InvalidFormat)),
        case("go: 64 hex characters", HEX64, err(HexIdentifier(HEX64.into()))),
        // go: TestValidateRemoteName.
        case("go: embedded hyphen", "docker-rules/docker", named(hub, "docker-rules/docker")),
        case("go: repeated hyphens", "docker---rules/docker", named(hub, "docker---rules/docker")),
        case("go: short namespace", "doc/docker", named(hub, "doc/docker")),
        case("go: one-character namespace", "d/docker", named(hub, "d/docker")),
        case("go: one-character name", "jess/t", named(hub, "jess/t")),
        case("go: double underscore", "dock__er/docker", named(hub, "dock__er/docker")),
        case("go: trailing dash namespace", "docker-/docker", err(InvalidFormat)),
        case("go: dashes around namespace", "-docker-/docker", err(InvalidFormat)),
        case("go: only underscores", "____/____", err(InvalidFormat)),
        case("go: leading underscores", "_docker/_docker", err(InvalidFormat)),
        case("go: double period", "dock..er/docker", err(InvalidFormat)),
        case("go: underscore period", "dock_.er/docker", err(InvalidFormat)),
        case("go: dash period", "dock-.er/docker", err(InvalidFormat)),
        case("go: no repository", "docker/", err(InvalidFormat)),
        case("go: namespace too long", long_namespace, err(NameTooLong)),
        // go: TestParseRepositoryInfo (familiar, full and ambiguous spellings).
        case("go: familiar namespace", "fooo/bar", named(hub, "fooo/bar")),
        case("go: full namespace", "docker.io/fooo/bar", named(hub, "fooo/bar")),
        case("go: legacy namespace", "index.docker.io/fooo/bar", named(hub, "fooo/bar")),
        case("go: familiar official", "ubuntu", named(hub, "library/ubuntu")),
        case("go: full official", "docker.io/library/ubuntu", named(hub, "library/ubuntu")),
        case("go: ambiguous official", "library/ubuntu", named(hub, "library/ubuntu")),
        case("go: nonlibrary", "nonlibrary/ubuntu", named(hub, "nonlibrary/ubuntu")),
        case("go: library as a name", "other/library", named(hub, "other/library")),
        case("go: ipv4 port two components", "127.0.0.1:8000/private/moonbase", named("127.0.0.1:8000", "private/moonbase")),
        case("go: ipv4 port one component", "127.0.0.1:8000/privatebase", named("127.0.0.1:8000", "privatebase")),
        case("go: domain two components", "example.com/private/moonbase", named("example.com", "private/moonbase")),
        case("go: domain one component", "example.com/privatebase", named("example.com", "privatebase")),
        case("go: domain port two components", "example.com:8000/private/moonbase", named("example.com:8000", "private/moonbase")),
        case("go: domain port one component", "example.com:8000/privatebasee", named("example.com:8000", "privatebasee")),
        case("go: familiar dotted name", "ubuntu-12.04-base", named(hub, "library/ubuntu-12.04-base")),
        case("go: full dotted name", "docker.io/library/ubuntu-12.04-base", named(hub, "library/ubuntu-12.04-base")),
        case("go: legacy dotted name", "index.docker.io/library/ubuntu-12.04-base", named(hub, "library/ubuntu-12.04-base")),
        case("go: docker.io official short", "docker.io/foo", named(hub, "library/foo")),
        case("go: nested library", "library/foo/bar", named(hub, "library/foo/bar")),
        case("go: full nested library", "docker.io/library/foo/bar", named(hub, "library/foo/bar")),
        case("go: three components", "store/foo/bar", named(hub, "store/foo/bar")),
        case("go: mixed-case domain", "Foo/bar", named("Foo", "bar")),
        // go: TestParseReferenceWithTagAndDigest.
        case("go: tag and digest both kept", "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa", both(hub, "library/busybox", "latest", "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa")),
        // go: TestParseAnyReference (the named cases).
        case("go: familiar untagged", "redis", named(hub, "library/redis")),
        case("go: familiar tagged", "redis:latest", tagged(hub, "library/redis", "latest")),
        case("go: full tagged", "docker.io/library/redis:latest", tagged(hub, "library/redis", "latest")),
        case("go: familiar digest", format!("redis@{SHA256_REDIS}"), digested(hub, "library/redis", SHA256_REDIS)),
        case("go: full digest", format!("docker.io/library/redis@{SHA256_REDIS}"), digested(hub, "library/redis", SHA256_REDIS)),
        case("go: user repository", "dmcgowan/myapp", named(hub, "dmcgowan/myapp")),
        case("go: user repository tagged", "dmcgowan/myapp:latest", tagged(hub, "dmcgowan/myapp", "latest")),
        case("go: full user repository tagged", "docker.io/mcgowan/myapp:latest", tagged(hub, "mcgowan/myapp", "latest")),
        case("go: user repository digest", format!("dmcgowan/myapp@{SHA256_REDIS}"), digested(hub, "dmcgowan/myapp", SHA256_REDIS)),
        case("go: full user repository digest", format!("docker.io/dmcgowan/myapp@{SHA256_REDIS}"), digested(hub, "dmcgowan/myapp", SHA256_REDIS)),
        case("go: 63 hex characters is a name", "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", named(hub, "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9")),
        case("go: short hex is a name", "dbcc1", named(hub, "library/dbcc1")),
        // go: TestNormalizedSplitHostname.
        case("go: split domain", "test.com/foo", named("test.com", "foo")),
        case("go: underscore is no domain", "test_com/foo", named(hub, "test_com/foo")),
        case("go: plain namespace", "docker/migrator", named(hub, "docker/migrator")),
        case("go: domain with port", "test.com:8080/foo", named("test.com:8080", "foo")),
        case("go: dashed host with port", "test-com:8080/foo", named("test-com:8080", "foo")),
        case("go: single name", "foo", named(hub, "library/foo")),
        case("go: punycode domain", "xn--n3h.com/foo", named("xn--n3h.com", "foo")),
        case("go: punycode domain port", "xn--n3h.com:18080/foo", named("xn--n3h.com:18080", "foo")),
        case("go: hub with nested library", "docker.io/library/foo/bar", named(hub, "library/foo/bar")),
        // Ours: what Kubernetes pods actually carry.
        case("localhost is a domain", "localhost/app:dev", tagged("localhost", "app", "dev")),
        case("localhost with port", "localhost:5000/team/app", named("localhost:5000", "team/app")),
        case("bare localhost is a hub name", "localhost", named(hub, "library/localhost")),
        case("localhost:port alone is a hub tag", "localhost:5000", tagged(hub, "library/localhost", "5000")),
        case("sha384 digest", format!("quay.io/org/app@sha384:{}", "a".repeat(96)), digested("quay.io", "org/app", format!("sha384:{}", "a".repeat(96)))),
        case("sha512 digest on the hub", format!("nginx@{SHA512_F}"), digested(hub, "library/nginx", SHA512_F)),
        case("tag and sha512 digest", format!("ghcr.io/o/a:v1@{SHA512_F}"), both("ghcr.io", "o/a", "v1", SHA512_F)),
        case("uppercase hex digest", format!("nginx@sha256:{}", "F".repeat(64)), err(DigestInvalidFormat)),
        case("short digest", "nginx@sha256:abc", err(InvalidFormat)),
        case("sha512 length on sha256", format!("nginx@sha256:{}", "a".repeat(128)), err(DigestInvalidLength)),
        case("unknown algorithm", format!("nginx@md5:{}", "a".repeat(32)), err(DigestUnsupported)),
        case("uppercase algorithm", format!("nginx@SHA256:{}", "a".repeat(64)), err(RemoteNameUppercase("library/nginx@SHA256".into()))),
        case("uppercase tag is kept", "nginx:Latest", tagged(hub, "library/nginx", "Latest")),
        case("uppercase domain kept as written", "GHCR.IO/org/app", named("GHCR.IO", "org/app")),
        case("uppercase repository below a domain", "ghcr.io/Org/app", err(RemoteNameUppercase("Org/app".into()))),
        case("ipv6 loopback with port", "[::1]:5000/app:1", tagged("[::1]:5000", "app", "1")),
        case("ipv6 without port", "[2001:db8::1]/app", named("[2001:db8::1]", "app")),
        case("empty", "", err(InvalidFormat)),
        case("whitespace", " nginx", err(InvalidFormat)),
        case("tag of 128 characters", format!("nginx:{}", "t".repeat(128)), tagged(hub, "library/nginx", "t".repeat(128))),
        case("tag of 129 characters", format!("nginx:{}", "t".repeat(129)), err(InvalidFormat)),
        case("tag starting with a dot", "nginx:.1", err(InvalidFormat)),
        case("two at signs", format!("nginx@{SHA256_F}@{SHA256_F}"), err(InvalidFormat)),
        // distribution/reference v0.6.0 (aaca75e) counts the path only, not the domain.
        case("path of exactly 255", format!("example.com/{}", "a".repeat(255)), named("example.com", "a".repeat(255))),
        case("path of 256", format!("example.com/{}", "a".repeat(256)), err(NameTooLong)),
        case("whole name over 255, path under", format!("example.com/{}", "a".repeat(250)), named("example.com", "a".repeat(250))),
        case("hub path of 255 once normalised", "a".repeat(247), named(hub, format!("library/{}", "a".repeat(247)))),
        case("hub path over 255 once normalised", "a".repeat(248), err(NameTooLong)),
        case("invalid domain falls back to a path", "foo_bar.com/x", named("", "foo_bar.com/x")),
    ]
}

#[rustfmt::skip]
fn parse_cases() -> Vec<Case> {
    use ParseError::*;
    vec![
        // go: TestReferenceParse, for Go's `Parse`.
        case("go: underscore name", "test_com", named("", "test_com")),
        case("go: dotted name tag", "test.com:tag", tagged("", "test.com", "tag")),
        case("go: dotted name numeric tag", "test.com:5000", tagged("", "test.com", "5000")),
        case("go: domain repo tag", "test.com/repo:tag", tagged("test.com", "repo", "tag")),
        case("go: host port repo", "test:5000/repo", named("test:5000", "repo")),
        case("go: host port repo tag", "test:5000/repo:tag", tagged("test:5000", "repo", "tag")),
        case("go: host port digest", format!("test:5000/repo@{SHA256_F}"), digested("test:5000", "repo", SHA256_F)),
        case("go: host port tag digest", format!("test:5000/repo:tag@{SHA256_F}"), both("test:5000", "repo", "tag", SHA256_F)),
        case("go: empty", "", err(NameEmpty)),
        case("go: just a tag", ":justtag", err(InvalidFormat)),
        case("go: just a digest", format!("@{SHA256_F}"), err(InvalidFormat)),
        case("go: short digest", "repo@sha256:ffffffffffffffffffffffffffffffffff", err(DigestInvalidLength)),
        case("go: unsupported digest", format!("validname@invaliddigest:{}", "f".repeat(64)), err(DigestUnsupported)),
        case("go: uppercase name", "Uppercase:tag", err(NameContainsUppercase)),
        case("go: uppercase path below port", "test:5000/Uppercase/lowercase:tag", err(NameContainsUppercase)),
        case("go: uppercase tag", "lowercase:Uppercase", tagged("", "lowercase", "Uppercase")),
        // v0.6.0 (aaca75e) counts the path only: these two replace v0.5's whole-name case.
        case("go: path too long", format!("domain/{}:tag", "a".repeat(256)), err(NameTooLong)),
        case("go: whole name over 255, path not", format!("{}a:tag-puts-this-over-max", "a/".repeat(127)), tagged("a", format!("{}a", "a/".repeat(126)), "tag-puts-this-over-max")),
        case("go: name just short enough", format!("{}a:tag-puts-this-over-max", "a/".repeat(127)), tagged("a", format!("{}a", "a/".repeat(126)), "tag-puts-this-over-max")),
        case("go: bad characters", "aa/asdf$$^/aa", err(InvalidFormat)),
        case("go: subdomain", "sub-dom1.foo.com/bar/baz/quux", named("sub-dom1.foo.com", "bar/baz/quux")),
        case("go: subdomain tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag", tagged("sub-dom1.foo.com", "bar/baz/quux", "some-long-tag")),
        case("go: dotted path and tag", "b.gcr.io/test.example.com/my-app:test.example.com", tagged("b.gcr.io", "test.example.com/my-app", "test.example.com")),
        case("go: punycode", "xn--n3h.com/myimage:xn--n3h.com", tagged("xn--n3h.com", "myimage", "xn--n3h.com")),
        case("go: punycode sha512", format!("xn--7o8h.com/myimage:xn--7o8h.com@{SHA512_F}"), both("xn--7o8h.com", "myimage", "xn--7o8h.com", SHA512_F)),
        case("go: underscore host is a name", "foo_bar.com:8080", tagged("", "foo_bar.com", "8080")),
        case("go: underscore second component", "foo/foo_bar.com:8080", tagged("foo", "foo_bar.com", "8080")),
        case("go: ipv4 name", "192.168.1.1", named("", "192.168.1.1")),
        case("go: ipv4 name tag", "192.168.1.1:tag", tagged("", "192.168.1.1", "tag")),
        case("go: ipv4 name numeric tag", "192.168.1.1:5000", tagged("", "192.168.1.1", "5000")),
        case("go: ipv4 domain", "192.168.1.1/repo", named("192.168.1.1", "repo")),
        case("go: ipv4 domain port", "192.168.1.1:5000/repo", named("192.168.1.1:5000", "repo")),
        case("go: ipv4 domain port tag", "192.168.1.1:5000/repo:5050", tagged("192.168.1.1:5000", "repo", "5050")),
        case("go: bare ipv6", "[2001:db8::1]", err(InvalidFormat)),
        case("go: bare ipv6 port", "[2001:db8::1]:5000", err(InvalidFormat)),
        case("go: bare ipv6 tag", "[2001:db8::1]:tag", err(InvalidFormat)),
        case("go: ipv6 domain", "[2001:db8::1]/repo", named("[2001:db8::1]", "repo")),
        case("go: full ipv6 tag", "[2001:db8:1:2:3:4:5:6]/repo:tag", tagged("[2001:db8:1:2:3:4:5:6]", "repo", "tag")),
        case("go: ipv6 port", "[2001:db8::1]:5000/repo", named("[2001:db8::1]:5000", "repo")),
        case("go: ipv6 port tag", "[2001:db8::1]:5000/repo:tag", tagged("[2001:db8::1]:5000", "repo", "tag")),
        case("go: ipv6 port digest", format!("[2001:db8::1]:5000/repo@{SHA256_F}"), digested("[2001:db8::1]:5000", "repo", SHA256_F)),
        case("go: ipv6 port tag digest", format!("[2001:db8::1]:5000/repo:tag@{SHA256_F}"), both("[2001:db8::1]:5000", "repo", "tag", SHA256_F)),
        case("go: ipv6 trailing ::", "[2001:db8::]:5000/repo", named("[2001:db8::]:5000", "repo")),
        case("go: ipv6 loopback", "[::1]:5000/repo", named("[::1]:5000", "repo")),
        case("go: ipv6 zone", "[fe80::1%eth0]:5000/repo", err(InvalidFormat)),
        case("go: ipv6 invalid zone", "[fe80::1%@invalidzone]:5000/repo", err(InvalidFormat)),
    ]
}

/// Every input of the tables above, for tests elsewhere that want the longest and oddest.
pub(crate) fn table_images() -> Vec<String> {
    normalized_cases()
        .into_iter()
        .chain(parse_cases())
        .map(|case| case.input)
        .collect()
}

#[test]
fn parse_normalized_named_table() {
    let cases = normalized_cases();
    assert!(
        cases.len() >= 100,
        "the table shrank to {} cases",
        cases.len()
    );
    check(&cases, parse_reference);
}

#[test]
fn parse_table() {
    check(&parse_cases(), parse);
}

#[test]
fn hub_names_borrow_unless_library_is_added() {
    let full = parse_reference("docker.io/library/nginx:1").expect("valid reference");
    assert!(matches!(full.path, Cow::Borrowed(_)));
    let familiar = parse_reference("nginx:1").expect("valid reference");
    assert!(matches!(familiar.path, Cow::Owned(_)));
}

#[test]
fn inputs_are_listed_for_the_cluster_suite() {
    let normalized = normalized_cases();
    let parse = parse_cases();
    let images = crate::listed::distinct(
        normalized
            .iter()
            .chain(&parse)
            .map(|case| case.input.as_str()),
    );
    crate::listed::check("parse-table.json", &serde_json::json!({ "images": images }));
}

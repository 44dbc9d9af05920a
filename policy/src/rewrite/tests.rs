//! The rewrite table: every layout and rule combination, over the reference shapes that matter.

use super::*;
use crate::rewrite::Layout;
use crate::settings::{RuleSetting, Settings};

const D256: &str = "sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713";
const D512: &str = "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

fn settings(mirror: &str, layout: Layout) -> Settings {
    Settings {
        mirror: mirror.to_owned(),
        layout,
        ..Settings::default()
    }
}

/// `settings` with the four registries the prefixed layout defaults to, flat, accepted by name.
fn shared(settings: Settings) -> Settings {
    Settings {
        registries: Some(vec![
            "docker.io".into(),
            "ghcr.io".into(),
            "quay.io".into(),
            "gcr.io".into(),
        ]),
        allow_shared_namespace: true,
        ..settings
    }
}

/// The configurations the table runs against.
fn config(name: &str) -> Rewriter {
    settings_of(name)
        .compile()
        .expect("table settings are valid")
}

/// The settings of each configuration, as users write them.
fn settings_of(name: &str) -> Settings {
    match name {
        "flat" => settings("m.example.com", Layout::Flat),
        "flat-ghcr" => Settings {
            registries: Some(vec!["ghcr.io".into()]),
            ..settings("m.example.com", Layout::Flat)
        },
        "flat-shared" => shared(settings("m.example.com", Layout::Flat)),
        "flat-path" => settings("mirror.local:5000/cache", Layout::Flat),
        "prefixed" => settings("m.example.com", Layout::Prefixed),
        "prefixed-path" => settings("mirror.local:5000/cache/v2", Layout::Prefixed),
        "all-shared" => Settings {
            registries: Some(vec!["*".into()]),
            allow_shared_namespace: true,
            ..settings("m.example.com", Layout::Flat)
        },
        "all-prefixed" => Settings {
            registries: Some(vec!["*".into()]),
            ..settings("m.example.com", Layout::Prefixed)
        },
        "rules" => Settings {
            rules: vec![
                RuleSetting {
                    registry: "registry.k8s.io".into(),
                    target: "m.example.com/k8s".into(),
                },
                RuleSetting {
                    registry: "localhost:5000".into(),
                    target: "other-cache.example.com".into(),
                },
                RuleSetting {
                    registry: "[fd00::1]:5000".into(),
                    target: "m.example.com/v6".into(),
                },
                RuleSetting {
                    registry: "index.docker.io".into(),
                    target: "hub-cache.example.com:8443/hub".into(),
                },
            ],
            ..settings("m.example.com", Layout::Prefixed)
        },
        "rules-only" => Settings {
            registries: Some(vec![]),
            rules: vec![RuleSetting {
                registry: "Quay.IO".into(),
                target: "q.example.com".into(),
            }],
            ..settings("m.example.com", Layout::Flat)
        },
        "exclude" => Settings {
            exclude: vec![
                "docker.io/library/busybox".into(),
                "ghcr.io/internal/**".into(),
                "docker.io/library/nginx:1.*".into(),
                "quay.io/*/keep-*".into(),
            ],
            ..shared(settings("m.example.com", Layout::Flat))
        },
        other => panic!("no configuration {other}"),
    }
}

enum Want {
    To(String),
    Same(Unchanged),
    Error(String),
}

fn error(s: &str) -> Want {
    Want::Error(s.to_owned())
}

fn to(s: impl Into<String>) -> Want {
    Want::To(s.into())
}

struct Case {
    name: &'static str,
    config: &'static str,
    image: String,
    want: Want,
}

fn case(name: &'static str, config: &'static str, image: impl Into<String>, want: Want) -> Case {
    Case {
        name,
        config,
        image: image.into(),
        want,
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Unchanged::*;
    vec![
        // The examples.
        case("official image", "flat", "nginx:latest", to("m.example.com/library/nginx:latest")),
        case("ghcr digest", "prefixed", format!("ghcr.io/org/app@{D256}"), to(format!("m.example.com/ghcr.io/org/app@{D256}"))),
        // The flat namespace holds Docker Hub alone unless told otherwise: ghcr.io/org/app must
        // not be served from where docker.io/org/app is.
        case("flat: ghcr by default left alone", "flat", format!("ghcr.io/org/app@{D256}"), Want::Same(RegistryNotSelected)),
        case("flat-ghcr: ghcr alone", "flat-ghcr", format!("ghcr.io/org/app@{D256}"), to(format!("m.example.com/org/app@{D256}"))),
        case("flat-ghcr: then docker.io is left alone", "flat-ghcr", "nginx", Want::Same(RegistryNotSelected)),
        case("already on the mirror", "flat", "m.example.com/library/nginx:1.27", Want::Same(OnCache)),
        // Flat layout.
        case("flat: no tag stays untagged", "flat", "nginx", to("m.example.com/library/nginx")),
        case("flat: user repository", "flat", "bitnami/redis:7.2", to("m.example.com/bitnami/redis:7.2")),
        case("flat: explicit docker.io", "flat", "docker.io/library/redis", to("m.example.com/library/redis")),
        case("flat: index.docker.io", "flat", "index.docker.io/library/redis:7", to("m.example.com/library/redis:7")),
        case("flat: quay by default left alone", "flat", "quay.io/prometheus/node-exporter:v1.8.0", Want::Same(RegistryNotSelected)),
        case("flat-shared: quay", "flat-shared", "quay.io/prometheus/node-exporter:v1.8.0", to("m.example.com/prometheus/node-exporter:v1.8.0")),
        case("flat-shared: gcr", "flat-shared", "gcr.io/distroless/static:nonroot", to("m.example.com/distroless/static:nonroot")),
        case("flat: tag and digest kept", "flat", format!("redis:7@{D256}"), to(format!("m.example.com/library/redis:7@{D256}"))),
        case("flat-ghcr: sha512", "flat-ghcr", format!("ghcr.io/o/a@{D512}"), to(format!("m.example.com/o/a@{D512}"))),
        case("flat-ghcr: tag+sha512", "flat-ghcr", format!("ghcr.io/o/a:v1@{D512}"), to(format!("m.example.com/o/a:v1@{D512}"))),
        case("flat-ghcr: uppercase registry host", "flat-ghcr", "GHCR.io/org/app:1", to("m.example.com/org/app:1")),
        case("flat: uppercase tag kept", "flat", "nginx:Stable", to("m.example.com/library/nginx:Stable")),
        case("flat: mirror host in another case", "flat", "M.Example.COM/library/nginx:1", Want::Same(OnCache)),
        case("flat: registry not selected", "flat", "registry.k8s.io/pause:3.9", Want::Same(RegistryNotSelected)),
        case("flat: subdomain of gcr not selected", "flat", "us.gcr.io/p/app", Want::Same(RegistryNotSelected)),
        case("flat: localhost not selected", "flat", "localhost:5000/app", Want::Same(RegistryNotSelected)),
        case("flat: ipv6 not selected", "flat", "[::1]:5000/app", Want::Same(RegistryNotSelected)),
        case("flat-ghcr: nested path", "flat-ghcr", "ghcr.io/a/b/c/d:1", to("m.example.com/a/b/c/d:1")),
        case("flat: hub image 255 long after rewrite", "flat", format!("org/{}", "a".repeat(237)), to(format!("m.example.com/org/{}", "a".repeat(237)))),
        case("flat: too long after rewrite", "flat", format!("org/{}", "a".repeat(238)), Want::Error(format!("its rewrite \"m.example.com/org/{}\" would not be a valid reference: repository name must not be more than 255 characters (counting the registry, as containerd 1.7 does)", "a".repeat(238)))),
        case("flat: uppercase repository", "flat", "Nginx", error("not a valid image reference: invalid reference format: repository name (library/Nginx) must be lowercase")),
        case("flat: empty", "flat", "", error("not a valid image reference: invalid reference format")),
        case("flat: space", "flat", "nginx latest", error("not a valid image reference: invalid reference format")),
        case("flat: short digest", "flat", "nginx@sha256:abcd", error("not a valid image reference: invalid reference format")),
        case("flat: bad digest length", "flat", format!("nginx@sha256:{}", "a".repeat(63)), error("not a valid image reference: invalid checksum digest length")),
        case("flat: hex identifier", "flat", "a".repeat(64), error("not a valid image reference: invalid repository name (aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa), cannot specify 64-byte hexadecimal strings")),
        // Flat layout under a path prefix with a port.
        case("flat-path: official", "flat-path", "nginx:1.27", to("mirror.local:5000/cache/library/nginx:1.27")),
        case("flat-path: user repository digest", "flat-path", format!("o/a@{D256}"), to(format!("mirror.local:5000/cache/o/a@{D256}"))),
        case("flat-path: already there", "flat-path", "mirror.local:5000/cache/library/nginx", Want::Same(OnCache)),
        case("flat-path: same host other path", "flat-path", "mirror.local:5000/elsewhere/app", Want::Same(OnCache)),
        case("flat-path: same host without port is another registry", "flat-path", "mirror.local/app", Want::Same(RegistryNotSelected)),
        // Prefixed layout.
        case("prefixed: official", "prefixed", "nginx", to("m.example.com/docker.io/library/nginx")),
        case("prefixed: ghcr", "prefixed", "ghcr.io/org/app:1", to("m.example.com/ghcr.io/org/app:1")),
        case("prefixed: index.docker.io is docker.io", "prefixed", "index.docker.io/org/app", to("m.example.com/docker.io/org/app")),
        case("prefixed: host lowercased", "prefixed", "Quay.IO/org/app", to("m.example.com/quay.io/org/app")),
        case("prefixed: tag+digest", "prefixed", format!("gcr.io/p/a:v2@{D256}"), to(format!("m.example.com/gcr.io/p/a:v2@{D256}"))),
        case("prefixed: on mirror", "prefixed", "m.example.com/docker.io/library/nginx", Want::Same(OnCache)),
        case("prefixed: not selected", "prefixed", "registry.k8s.io/pause", Want::Same(RegistryNotSelected)),
        case("prefixed-path: official", "prefixed-path", "nginx:1", to("mirror.local:5000/cache/v2/docker.io/library/nginx:1")),
        case("prefixed-path: ghcr digest", "prefixed-path", format!("ghcr.io/o/a@{D512}"), to(format!("mirror.local:5000/cache/v2/ghcr.io/o/a@{D512}"))),
        // Every registry.
        case("all-shared: registry.k8s.io", "all-shared", "registry.k8s.io/pause:3.9", to("m.example.com/pause:3.9")),
        case("all-shared: ecr", "all-shared", format!("123456789.dkr.ecr.ap-southeast-2.amazonaws.com/k8s.gcr.io/ingress-nginx/controller:v0.43.0@{D256}"), to(format!("m.example.com/k8s.gcr.io/ingress-nginx/controller:v0.43.0@{D256}"))),
        case("all-shared: localhost port", "all-shared", "localhost:5000/app", to("m.example.com/app")),
        case("all-shared: ipv6", "all-shared", "[2001:db8::1]:5000/team/app:1", to("m.example.com/team/app:1")),
        case("all-shared: ipv4", "all-shared", "10.0.0.1/app", to("m.example.com/app")),
        case("all-shared: mirror excluded from all", "all-shared", "m.example.com/app", Want::Same(OnCache)),
        case("all-shared: mixed-case first component is a registry", "all-shared", "Docker/docker", to("m.example.com/docker")),
        case("all-shared: invalid domain has no registry", "all-shared", "foo_bar.com/x", Want::Same(RegistryNotSelected)),
        case("all-prefixed: ipv4 is a valid path", "all-prefixed", "10.0.0.1/app", to("m.example.com/10.0.0.1/app")),
        case("all-prefixed: port cannot be a path", "all-prefixed", "localhost:5000/app:1", error("its rewrite \"m.example.com/localhost:5000/app:1\" would not be a valid reference: invalid reference format (the prefixed layout cannot hold a port or IPv6 address; add a rule for registry \"localhost:5000\")")),
        case("all-prefixed: ipv6 cannot be a path", "all-prefixed", "[::1]/app", error("its rewrite \"m.example.com/[::1]/app\" would not be a valid reference: invalid reference format (the prefixed layout cannot hold a port or IPv6 address; add a rule for registry \"[::1]\")")),
        case("all-prefixed: localhost", "all-prefixed", "localhost/app", to("m.example.com/localhost/app")),
        // Rules, checked before the layout.
        case("rules: registry.k8s.io to a path", "rules", "registry.k8s.io/pause:3.9", to("m.example.com/k8s/pause:3.9")),
        case("rules: nested path", "rules", format!("registry.k8s.io/ingress-nginx/controller@{D256}"), to(format!("m.example.com/k8s/ingress-nginx/controller@{D256}"))),
        case("rules: port registry to another cache", "rules", "localhost:5000/app:dev", to("other-cache.example.com/app:dev")),
        case("rules: ipv6 registry", "rules", "[fd00::1]:5000/team/app", to("m.example.com/v6/team/app")),
        case("rules: hub rule beats the layout", "rules", "nginx", to("hub-cache.example.com:8443/hub/library/nginx")),
        case("rules: hub rule for docker.io spelling", "rules", "docker.io/org/app:1", to("hub-cache.example.com:8443/hub/org/app:1")),
        case("rules: other registries use the layout", "rules", "ghcr.io/org/app", to("m.example.com/ghcr.io/org/app")),
        case("rules: rule target is a cache", "rules", "other-cache.example.com/app:dev", Want::Same(OnCache)),
        case("rules: second run on a rule target", "rules", "hub-cache.example.com:8443/hub/library/nginx", Want::Same(OnCache)),
        case("rules: registry case-insensitive", "rules", "Registry.K8s.IO/pause", to("m.example.com/k8s/pause")),
        case("rules: port must match", "rules", "localhost:5001/app", Want::Same(RegistryNotSelected)),
        case("rules-only: quay rule", "rules-only", "quay.io/org/app", to("q.example.com/org/app")),
        case("rules-only: nothing else", "rules-only", "nginx", Want::Same(RegistryNotSelected)),
        // Exclusions.
        case("exclude: name matches any tag", "exclude", "busybox:1.36", Want::Same(Excluded)),
        case("exclude: name matches untagged", "exclude", "busybox", Want::Same(Excluded)),
        case("exclude: name matches digest", "exclude", format!("busybox@{D256}"), Want::Same(Excluded)),
        case("exclude: double star", "exclude", "ghcr.io/internal/team/app:1", Want::Same(Excluded)),
        case("exclude: tag glob", "exclude", "nginx:1.27", Want::Same(Excluded)),
        case("exclude: tag glob misses", "exclude", "nginx:2.0", to("m.example.com/library/nginx:2.0")),
        case("exclude: single star stays in a component", "exclude", "quay.io/org/keep-me", Want::Same(Excluded)),
        case("exclude: single star does not cross /", "exclude", "quay.io/org/sub/keep-me", to("m.example.com/org/sub/keep-me")),
        case("exclude: case-insensitive host", "exclude", "GHCR.IO/internal/app", Want::Same(Excluded)),
        case("exclude: other ghcr org", "exclude", "ghcr.io/public/app", to("m.example.com/public/app")),
    ]
}

/// Every image of the table above, for tests elsewhere that want the longest and oddest.
pub(crate) fn table_images() -> Vec<String> {
    cases().into_iter().map(|case| case.image).collect()
}

#[test]
fn rewrite_table() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let got = config(case.config).rewrite(&case.image);
        let ok = match (&got, &case.want) {
            (Ok(Rewrite::Rewritten(r)), Want::To(want)) => r == want,
            (Ok(Rewrite::Unchanged(u)), Want::Same(want)) => u == want,
            (Err(e), Want::Error(want)) => e.to_string() == *want,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{} [{}] {:?}: got {got:?}",
                case.name, case.config, case.image
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

#[test]
fn rewriting_a_rewrite_changes_nothing() {
    for case in cases() {
        let rewriter = config(case.config);
        if let Ok(Rewrite::Rewritten(once)) = rewriter.rewrite(&case.image) {
            assert_eq!(
                rewriter.rewrite(&once),
                Ok(Rewrite::Unchanged(Unchanged::OnCache)),
                "{}: {once}",
                case.name
            );
        }
    }
}

#[test]
fn inputs_are_listed_for_the_cluster_suite() {
    let cases = cases();
    let configs = crate::listed::distinct(cases.iter().map(|case| case.config));
    let settings: serde_json::Map<String, serde_json::Value> = configs
        .iter()
        .map(|name| {
            let settings = serde_json::to_value(settings_of(name)).expect("settings serialise");
            ((*name).to_owned(), settings)
        })
        .collect();
    let images = crate::listed::distinct(cases.iter().map(|case| case.image.as_str()));
    crate::listed::check(
        "rewrite-table.json",
        &serde_json::json!({ "settings": settings, "images": images }),
    );
}

//! Shared mirror namespaces: refused by default with the reason, accepted by name with a warning,
//! and the defaults of both layouts never share one.

use serde_json::json;

use crate::rewrite::Rewrite;
use crate::settings::Settings;

fn settings(json: serde_json::Value) -> Settings {
    Settings::from_json(json.to_string().as_bytes()).expect("settings of the right shape")
}

fn refusal(json: serde_json::Value) -> String {
    match settings(json.clone()).validate() {
        Ok(()) => panic!("{json} should be refused"),
        Err(error) => error.to_string(),
    }
}

const FIX: &str = ": whoever owns a repository path on one registry could then supply the image of the same path on the other; use layout: prefixed, give each registry a rule with a target of its own, or set allowSharedNamespace: true to accept that";

#[test]
fn settings_that_share_a_namespace_are_refused_saying_what_to_do() {
    let cases = [
        (
            json!({"mirror": "m.example.com", "registries": ["docker.io", "ghcr.io", "quay.io"]}),
            "settings.registries with layout flat rewrites docker.io, ghcr.io and quay.io into the one mirror namespace \"m.example.com/\"",
        ),
        (
            json!({"mirror": "m.example.com/cache", "registries": ["*"]}),
            "settings.registries [\"*\"] with layout flat rewrites every registry into the one mirror namespace \"m.example.com/cache/\"",
        ),
        (
            // The flat namespace holds docker.io/k8s/… too.
            json!({"mirror": "m.example.com",
                   "rules": [{"registry": "registry.k8s.io", "target": "m.example.com/k8s"}]}),
            "docker.io (settings.mirror with layout flat) and registry.k8s.io (settings.rules[0].target) share the mirror namespace \"m.example.com/k8s/\"",
        ),
        (
            json!({"mirror": "m.example.com/hub", "registries": [],
                   "rules": [{"registry": "ghcr.io", "target": "M.example.com/shared"},
                             {"registry": "quay.io", "target": "m.example.com/shared/quay"}]}),
            "ghcr.io (settings.rules[0].target) and quay.io (settings.rules[1].target) share the mirror namespace \"m.example.com/shared/quay/\"",
        ),
        (
            // A rule onto the prefixed layout's own directory of a registry.
            json!({"mirror": "m.example.com", "layout": "prefixed",
                   "rules": [{"registry": "registry.internal:5000", "target": "m.example.com/quay.io"}]}),
            "quay.io (settings.mirror with layout prefixed) and registry.internal:5000 (settings.rules[0].target) share the mirror namespace \"m.example.com/quay.io/\"",
        ),
        (
            json!({"mirror": "m.example.com", "layout": "prefixed", "registries": ["*"],
                   "rules": [{"registry": "registry.internal:5000", "target": "m.example.com"}]}),
            "every registry (settings.registries [\"*\"]) and registry.internal:5000 (settings.rules[0].target) share the mirror namespace \"m.example.com/<registry>/\"",
        ),
    ];
    for (json, problem) in cases {
        assert_eq!(refusal(json.clone()), format!("{problem}{FIX}"), "{json}");
    }
}

#[test]
fn settings_that_keep_registries_apart_are_accepted_without_a_warning() {
    let cases = [
        json!({"mirror": "m.example.com"}),
        json!({"mirror": "m.example.com", "layout": "prefixed"}),
        json!({"mirror": "m.example.com", "layout": "prefixed", "registries": ["*"]}),
        json!({"mirror": "m.example.com", "registries": ["ghcr.io"]}),
        // Docker Hub's two spellings are one registry, and the mirror is never a source.
        json!({"mirror": "m.example.com", "registries": ["docker.io", "index.docker.io", "m.example.com"]}),
        json!({"mirror": "m.example.com", "registries": []}),
        // A registry with a rule is not in the flat namespace.
        json!({"mirror": "m.example.com", "registries": ["docker.io", "ghcr.io"],
               "rules": [{"registry": "ghcr.io", "target": "other.example.com"}]}),
        json!({"mirror": "m.example.com/hub",
               "rules": [{"registry": "ghcr.io", "target": "m.example.com/ghcr"}]}),
        // A component without a dot cannot be a registry of the prefixed layout.
        json!({"mirror": "m.example.com", "layout": "prefixed", "registries": ["*"],
               "rules": [{"registry": "registry.internal:5000", "target": "m.example.com/internal"}]}),
    ];
    for json in cases {
        let settings = settings(json.clone());
        settings
            .validate()
            .unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(settings.warning(), None, "{json}");
    }
}

#[test]
fn allow_shared_namespace_accepts_them_with_a_warning() {
    let settings = settings(
        json!({"mirror": "m.example.com", "registries": ["docker.io", "ghcr.io"],
                                   "allowSharedNamespace": true}),
    );
    settings.validate().expect("accepted by name");
    assert_eq!(
        settings.warning().as_deref(),
        Some(
            "settings.registries with layout flat rewrites docker.io and ghcr.io into the one mirror namespace \"m.example.com/\": allowSharedNamespace accepts that whoever owns a repository path on one registry can supply the image of the same path on the other"
        )
    );
    let rewriter = settings.compile().expect("compiles");
    assert_eq!(
        rewriter.rewrite("ghcr.io/org/app:1"),
        Ok(Rewrite::Rewritten("m.example.com/org/app:1".to_owned()))
    );
}

#[test]
fn with_default_settings_two_registries_never_rewrite_to_the_same_reference() {
    for json in [
        json!({"mirror": "m.example.com"}),
        json!({"mirror": "m.example.com", "layout": "prefixed"}),
    ] {
        let rewriter = settings(json.clone())
            .compile()
            .expect("defaults are valid");
        let answers: Vec<Rewrite> = ["docker.io/org/app:1", "ghcr.io/org/app:1"]
            .iter()
            .map(|image| rewriter.rewrite(image).expect("a valid reference"))
            .collect();
        assert_ne!(answers[0], answers[1], "{json}");
    }
    let flat = settings(json!({"mirror": "m.example.com"}))
        .compile()
        .expect("valid");
    assert_eq!(
        flat.rewrite("docker.io/org/app:1"),
        Ok(Rewrite::Rewritten("m.example.com/org/app:1".to_owned()))
    );
    assert_eq!(
        flat.rewrite("nginx:latest"),
        Ok(Rewrite::Rewritten(
            "m.example.com/library/nginx:latest".to_owned()
        ))
    );
    assert_eq!(
        flat.rewrite("ghcr.io/org/app:1"),
        Ok(Rewrite::Unchanged(crate::Unchanged::RegistryNotSelected))
    );
}

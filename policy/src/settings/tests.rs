//! Settings validation: every field, named in the error.

use super::*;

fn error_of(json: &str) -> String {
    match Settings::from_json(json.as_bytes()).and_then(|s| s.validate()) {
        Ok(()) => panic!("{json} should be rejected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_fill_everything_but_the_mirror() {
    let s = Settings::from_json(br#"{"mirror":"m.example.com"}"#).expect("valid settings");
    assert_eq!(
        s,
        Settings {
            mirror: "m.example.com".into(),
            mirrors: vec![],
            registries: None,
            layout: Layout::Flat,
            rules: vec![],
            exclude: vec![],
            keep_images_with_pull_secrets: false,
            image_pull_secrets: vec![],
            allow_shared_namespace: false,
        }
    );
    s.validate().expect("defaults are valid");
}

#[test]
fn absent_registries_default_by_layout() {
    let flat = Settings::from_json(br#"{"mirror":"m.example.com"}"#).expect("valid settings");
    assert_eq!(flat.registries(), ["docker.io"]);
    let prefixed = Settings::from_json(br#"{"mirror":"m.example.com","layout":"prefixed"}"#)
        .expect("valid settings");
    assert_eq!(
        prefixed.registries(),
        ["docker.io", "ghcr.io", "quay.io", "gcr.io"]
    );
    let given = Settings::from_json(br#"{"mirror":"m.example.com","registries":[]}"#)
        .expect("valid settings");
    assert!(given.registries().is_empty());
    // Absent stays absent in a round trip, so the default keeps following the layout.
    assert_eq!(
        serde_json::to_value(&flat).expect("serialisable"),
        serde_json::json!({"mirror": "m.example.com", "layout": "flat", "rules": [], "exclude": [],
            "keepImagesWithPullSecrets": false, "imagePullSecrets": [], "allowSharedNamespace": false})
    );
}

#[test]
fn full_settings_round_trip() {
    let json = r#"{"mirror":"mirror.local:5000/cache","registries":["*"],"layout":"prefixed",
        "rules":[{"registry":"registry.k8s.io","target":"m.example.com/k8s"}],"exclude":["ghcr.io/internal/**"],
        "imagePullSecrets":["mirror-creds","team.mirror-2"]}"#;
    let s = Settings::from_json(json.as_bytes()).expect("valid settings");
    assert_eq!(s.layout, Layout::Prefixed);
    assert_eq!(s.image_pull_secrets, ["mirror-creds", "team.mirror-2"]);
    s.validate().expect("valid settings");
    let again =
        Settings::from_json(&serde_json::to_vec(&s).expect("serialisable")).expect("round trip");
    assert_eq!(again, s);
}

#[test]
fn each_bad_field_is_named() {
    let cases: &[(&str, &str)] = &[
        (
            "{}",
            "settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com",
        ),
        (
            r#"{"mirror":""}"#,
            "settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com",
        ),
        (
            r#"{"mirror":"https://m.example.com"}"#,
            "settings.mirror must be host[:port] optionally followed by a path, got \"https://m.example.com\": leave out the scheme",
        ),
        (
            r#"{"mirror":"mirror"}"#,
            "settings.mirror must be host[:port] optionally followed by a path, got \"mirror\": a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace",
        ),
        (
            r#"{"mirror":"m.example.com/Cache"}"#,
            "settings.mirror must be host[:port] optionally followed by a path, got \"m.example.com/Cache\": each path component must be lowercase letters and digits separated by '.', '_', '__' or '-'",
        ),
        (
            r#"{"mirror":"m.example.com/"}"#,
            "settings.mirror must be host[:port] optionally followed by a path, got \"m.example.com/\": each path component must be lowercase letters and digits separated by '.', '_', '__' or '-'",
        ),
        (
            r#"{"mirror":"m.example.com:port"}"#,
            "settings.mirror must be host[:port] optionally followed by a path, got \"m.example.com:port\": not a host name, IPv4 or [IPv6] address with an optional :port",
        ),
        (
            r#"{"mirror":"m.example.com","registries":["ghcr.io","quay"]}"#,
            "settings.registries[1] must be a registry host[:port] such as ghcr.io, got \"quay\": a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace",
        ),
        (
            r#"{"mirror":"m.example.com","registries":["ghcr.io/org"]}"#,
            "settings.registries[0] must be a registry host[:port] such as ghcr.io, got \"ghcr.io/org\": not a host name, IPv4 or [IPv6] address with an optional :port",
        ),
        (
            r#"{"mirror":"m.example.com","registries":["*","ghcr.io"]}"#,
            "settings.registries: \"*\" (every registry) must be the only entry",
        ),
        (
            r#"{"mirror":"m.example.com","rules":[{"registry":"k8s","target":"m.example.com/k8s"}]}"#,
            "settings.rules[0].registry must be a registry host[:port] such as ghcr.io, got \"k8s\": a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace",
        ),
        (
            r#"{"mirror":"m.example.com","rules":[{"registry":"registry.k8s.io","target":"cache"}]}"#,
            "settings.rules[0].target must be host[:port] optionally followed by a path, got \"cache\": a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace",
        ),
        (
            r#"{"mirror":"m.example.com","rules":[{"registry":"a.io","target":"m.example.com/a"},{"registry":"A.IO","target":"m.example.com/b"}]}"#,
            "settings.rules[1].registry: registry \"A.IO\" already has a rule",
        ),
        (
            r#"{"mirror":"m.example.com","exclude":["ghcr.io/a**"]}"#,
            "settings.exclude[0] is not a valid glob pattern, got \"ghcr.io/a**\": Pattern syntax error near position 8: recursive wildcards must form a single path component",
        ),
        (
            r#"{"mirror":"m.example.com","imagePullSecrets":["mirror-creds","Mirror"]}"#,
            "settings.imagePullSecrets[1] must be a Secret name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got \"Mirror\"",
        ),
        (
            r#"{"mirror":"m.example.com","imagePullSecrets":[""]}"#,
            "settings.imagePullSecrets[0] must be a Secret name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got \"\"",
        ),
        (
            r#"{"mirror":"m.example.com","imagePullSecrets":["a.-b"]}"#,
            "settings.imagePullSecrets[0] must be a Secret name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got \"a.-b\"",
        ),
        (
            r#"{"mirror":"m.example.com","imagePullSecrets":["creds-"]}"#,
            "settings.imagePullSecrets[0] must be a Secret name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got \"creds-\"",
        ),
        (
            r#"{"mirror":"m.example.com","imagePullSecrets":["a","b","a"]}"#,
            "settings.imagePullSecrets[2]: secret \"a\" is already listed",
        ),
        (
            r#"{"mirror":"m.example.com","imagePullSecrets":"creds"}"#,
            "settings.imagePullSecrets: invalid type: string \"creds\", expected a sequence at line 1 column 52",
        ),
        (
            r#"{"mirror":"m.example.com","layout":"nested"}"#,
            "settings.layout: unknown variant `nested`, expected `flat` or `prefixed` at line 1 column 43",
        ),
        (
            r#"{"mirror":"m.example.com","mirrorz":[]}"#,
            "settings.mirrorz: unknown field `mirrorz`, expected one of `mirror`, `mirrors`, `registries`, `layout`, `rules`, `exclude`, `keepImagesWithPullSecrets`, `imagePullSecrets`, `allowSharedNamespace` at line 1 column 35",
        ),
        (
            r#"{"mirror":"m.example.com","rules":[{"registry":"a.io","target":"b.io","layout":"flat"}]}"#,
            "settings.rules[0].layout: unknown field `layout`, expected `registry` or `target` at line 1 column 78",
        ),
        (
            r#"{"mirror":"m.example.com","rules":[{"registry":"a.io","target":"b.io"},{"registry":"c.io"}]}"#,
            "settings.rules[1]: missing field `target` at line 1 column 90",
        ),
        (
            r#"{"mirror":"m.example.com","registries":"docker.io"}"#,
            "settings.registries: invalid type: string \"docker.io\", expected a sequence at line 1 column 50",
        ),
        (
            r#"{"mirror":"m.example.com"} trailing"#,
            "settings: trailing characters at line 1 column 28",
        ),
    ];
    for (json, want) in cases {
        assert_eq!(error_of(json), *want, "{json}");
    }
}

#[test]
fn kubewarden_validatable_reports_the_same_text() {
    use kubewarden_policy_sdk::settings::Validatable;
    let s = Settings {
        mirror: "nope".into(),
        ..Settings::default()
    };
    assert_eq!(
        Validatable::validate(&s),
        Err("settings.mirror must be host[:port] optionally followed by a path, got \"nope\": a registry host contains '.' or ':' or is localhost, otherwise it reads as a Docker Hub namespace".to_owned())
    );
}

#[test]
fn a_secret_name_of_253_characters_is_the_longest() {
    let name = |len: usize| "a".repeat(len);
    let settings = |secret: String| Settings {
        mirror: "m.example.com".into(),
        image_pull_secrets: vec![secret],
        ..Settings::default()
    };
    settings(name(253)).validate().expect("253 characters");
    assert!(settings(name(254)).validate().is_err());
}

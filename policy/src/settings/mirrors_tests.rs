//! Several mirrors in priority order: the settings, and what the rewrite does with them.

use super::*;
use crate::rewrite::{Rewrite, Unchanged};

fn compiled(json: &str) -> Rewriter {
    Settings::from_json(json.as_bytes())
        .and_then(|s| s.compile())
        .unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn error_of(json: &str) -> String {
    match Settings::from_json(json.as_bytes()).and_then(|s| s.compile()) {
        Ok(_) => panic!("{json} should be rejected"),
        Err(e) => e.to_string(),
    }
}

fn to(image: &str) -> Result<Rewrite, crate::RewriteError> {
    Ok(Rewrite::Rewritten(image.to_owned()))
}

#[test]
fn mirror_alone_is_a_list_of_one() {
    let one = compiled(r#"{"mirror":"a.example.com"}"#);
    let list = compiled(r#"{"mirrors":["a.example.com"]}"#);
    for image in ["nginx:1.27", "a.example.com/library/nginx", "Nginx"] {
        assert_eq!(one.rewrite(image), list.rewrite(image), "{image}");
    }
}

#[test]
fn images_go_to_the_first_and_move_there_from_the_others() {
    let rewriter = compiled(
        r#"{"mirrors":["a.example.com/cache","b.example.com:5000","c.example.com/x/y"],"layout":"prefixed"}"#,
    );
    let cases = [
        (
            "nginx:1.27",
            to("a.example.com/cache/docker.io/library/nginx:1.27"),
        ),
        // From another mirror: its own path kept, its prefix replaced by the first's.
        (
            "b.example.com:5000/docker.io/library/nginx:1.27",
            to("a.example.com/cache/docker.io/library/nginx:1.27"),
        ),
        (
            "c.example.com/x/y/ghcr.io/o/app@sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713",
            to(
                "a.example.com/cache/ghcr.io/o/app@sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713",
            ),
        ),
        (
            "C.Example.com/x/y/quay.io/o/a:1",
            to("a.example.com/cache/quay.io/o/a:1"),
        ),
        // On the first already, or on another but outside its prefix (not a rewrite of ours).
        (
            "a.example.com/cache/docker.io/library/nginx",
            Ok(Rewrite::Unchanged(Unchanged::OnCache)),
        ),
        (
            "c.example.com/other/app:1",
            Ok(Rewrite::Unchanged(Unchanged::OnCache)),
        ),
        (
            "c.example.com/x/yz/app:1",
            Ok(Rewrite::Unchanged(Unchanged::OnCache)),
        ),
    ];
    for (image, want) in cases {
        let got = rewriter.rewrite(image);
        assert_eq!(got, want, "{image}");
        if let Ok(Rewrite::Rewritten(moved)) = got {
            assert_eq!(
                rewriter.rewrite(&moved),
                Ok(Rewrite::Unchanged(Unchanged::OnCache)),
                "{moved}"
            );
        }
    }
}

#[test]
fn a_move_that_would_be_too_long_is_refused_like_a_rewrite() {
    let rewriter = compiled(r#"{"mirrors":["a.example.com/a/very/long/prefix","b.example.com"]}"#);
    let image = format!("b.example.com/library/{}", "n".repeat(220));
    assert!(matches!(
        rewriter.rewrite(&image),
        Err(crate::RewriteError::Invalid { .. })
    ));
}

#[test]
fn bad_mirror_lists_are_named() {
    let cases = [
        (
            r#"{"mirror":"a.example.com","mirrors":["b.example.com"]}"#,
            "settings.mirror and settings.mirrors are both given: list every mirror in settings.mirrors, in priority order, and leave out settings.mirror",
        ),
        (
            r#"{"mirrors":[]}"#,
            "settings.mirror is required: the pull-through cache as host[:port][/path], e.g. registry-mirror.example.com",
        ),
        (
            r#"{"mirrors":["a.example.com/x","A.example.com/y"]}"#,
            "settings.mirrors[1]: mirror host \"A.example.com\" is already listed",
        ),
        (
            r#"{"mirrors":["a.example.com","https://b.example.com"]}"#,
            "settings.mirrors[1] must be host[:port] optionally followed by a path, got \"https://b.example.com\": leave out the scheme",
        ),
    ];
    for (json, want) in cases {
        assert_eq!(error_of(json), want, "{json}");
    }
}

#[test]
fn mirrors_round_trip_without_an_empty_mirror() {
    let json = r#"{"mirrors":["a.example.com","b.example.com"]}"#;
    let settings = Settings::from_json(json.as_bytes()).expect("valid settings");
    let value = serde_json::to_value(&settings).expect("serialisable");
    assert_eq!(
        value["mirrors"],
        serde_json::json!(["a.example.com", "b.example.com"])
    );
    assert!(value.get("mirror").is_none(), "{value}");
}

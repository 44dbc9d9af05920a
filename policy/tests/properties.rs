//! Property tests of the policy's native API on generated references, settings and admission
//! requests of every kind it rewrites (`proptest`; `PROPTEST_CASES=N` runs more cases).
//!
//! The patch is derived the way the host and Kubewarden's policy-server derive it,
//! `json_patch::diff(request.object, mutated_object)`, and must hold exactly the changed
//! `image` fields and the originals annotation; the mutated object must be the original with
//! just those changes; mutating it again must change nothing.

#[path = "properties/model.rs"]
mod model;
#[path = "properties/objects.rs"]
mod objects;
#[path = "properties/references.rs"]
mod references;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use pullthrough_policy::{
    AdmissionRequest, ORIGINAL_IMAGES_ANNOTATION, Rewrite, RewriteError, Rewriter, Settings,
    Unchanged, parse_reference,
};
use serde_json::json;

use model::{assert_same_warning, expected, expected_patch, sorted};

/// `cases` unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> Config {
    // Failures print their minimal input; a case worth keeping goes in fuzz_regressions.rs.
    let mut config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

fn compile(settings: &Settings) -> Rewriter {
    settings
        .compile()
        .unwrap_or_else(|e| panic!("generated settings {settings:?} must be valid: {e}"))
}

/// The hosts a rewrite may point at, each with the path prefix below it.
fn cache_targets(settings: &Settings) -> Vec<(String, String)> {
    std::iter::once(settings.mirror.as_str())
        .chain(settings.rules.iter().map(|r| r.target.as_str()))
        .map(|t| {
            let (host, prefix) = t.split_once('/').unwrap_or((t, ""));
            (host.to_owned(), prefix.to_owned())
        })
        .collect()
}

/// A rewrite must parse, sit on the mirror or a rule's target below its prefix, and keep the
/// repository path, tag and digest of the original.
fn assert_points_at_cache(settings: &Settings, original: &str, rewritten: &str) {
    let before = parse_reference(original).expect("only valid references are rewritten");
    let after = parse_reference(rewritten)
        .unwrap_or_else(|e| panic!("{original:?} became {rewritten:?}, which does not parse: {e}"));
    let on_cache = cache_targets(settings).iter().any(|(host, prefix)| {
        after.domain() == host
            && (prefix.is_empty() || after.path().starts_with(&format!("{prefix}/")))
    });
    assert!(
        on_cache,
        "{original:?} became {rewritten:?}, not on the mirror of {settings:?}"
    );
    assert!(
        after.path() == before.path() || after.path().ends_with(&format!("/{}", before.path())),
        "{original:?} became {rewritten:?}: repository path {:?} lost",
        before.path()
    );
    assert_eq!(
        (after.tag(), after.digest()),
        (before.tag(), before.digest()),
        "{original:?} -> {rewritten:?}"
    );
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn generated_references_parse_to_their_parts(g in references::valid()) {
        let parsed = parse_reference(&g.image)
            .map_err(|e| TestCaseError::fail(format!("{:?}: {e}", g.image)))?;
        prop_assert_eq!(parsed.domain(), g.domain.as_str());
        prop_assert_eq!(parsed.path(), g.path.as_str());
        prop_assert_eq!(parsed.tag(), g.tag.as_deref());
        prop_assert_eq!(parsed.digest(), g.digest.as_deref());
        let normalised = parsed.to_string();
        prop_assert_eq!(parse_reference(&normalised), Ok(parsed));
    }

    #[test]
    fn broken_references_get_go_s_error((image, error) in references::invalid()) {
        prop_assert_eq!(parse_reference(&image), Err(error));
    }

    #[test]
    fn any_string_parses_or_fails_without_panicking(
        image in "\\PC{0,40}|[a-zA-Z0-9:/@._\\[\\]-]{0,60}",
    ) {
        if let Ok(parsed) = parse_reference(&image) {
            let normalised = parsed.to_string();
            prop_assert_eq!(parse_reference(&normalised), Ok(parsed));
        }
    }

    #[test]
    fn rewrites_point_at_the_cache(settings in objects::settings(), g in references::valid()) {
        let rewriter = compile(&settings);
        match rewriter.rewrite(&g.image) {
            Ok(Rewrite::Rewritten(rewritten)) => {
                assert_points_at_cache(&settings, &g.image, &rewritten);
                let again = rewriter.rewrite(&rewritten);
                prop_assert_eq!(again, Ok(Rewrite::Unchanged(Unchanged::OnCache)));
            }
            Ok(Rewrite::Unchanged(_)) => {}
            Err(RewriteError::Invalid { .. }) => {}
            Err(e @ RewriteError::Parse(_)) => prop_assert!(false, "{:?} is valid: {}", g.image, e),
        }
    }

    #[test]
    fn unless_allowed_no_two_registries_rewrite_to_one_reference(
        settings in objects::settings(), g in references::valid(),
    ) {
        let settings = Settings { allow_shared_namespace: false, ..settings };
        // Refused settings serve nothing.
        let Ok(rewriter) = settings.compile() else { return Ok(()) };
        let mut registries: Vec<String> =
            references::KNOWN_HOSTS.iter().map(|h| (*h).to_owned()).collect();
        registries.extend(settings.rules.iter().map(|r| r.registry.clone()));
        // The same path below each registry, and below each directory a target or the
        // prefixed layout writes into, so a namespace inside another is met too.
        let mut directories = vec![String::new()];
        for (_, prefix) in cache_targets(&settings) {
            directories.extend(prefix.split('/').filter(|p| !p.is_empty()).map(|p| format!("{p}/")));
        }
        directories.extend(registries.iter().map(|r| format!("{}/", r.to_ascii_lowercase())));
        let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
        for registry in &registries {
            for directory in &directories {
                let image = format!("{registry}/{directory}{}:1", g.path);
                let Ok(parsed) = parse_reference(&image) else { continue };
                let source = parsed.domain().to_ascii_lowercase();
                let Ok(Rewrite::Rewritten(to)) = rewriter.rewrite(&image) else { continue };
                if let Some((other_source, other)) = seen.get(&to) {
                    prop_assert_eq!(
                        other_source, &source,
                        "{:?} and {:?} both became {:?} under {:?}", other, image, to, settings
                    );
                }
                seen.insert(to, (source, image));
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_patch_holds_exactly_the_images_and_the_annotation(
        settings in objects::settings(),
        request in objects::request(),
    ) {
        let rewriter = compile(&settings);
        let object = &request.json["object"];
        let expected = expected(&request, &rewriter);
        let outcome = rewriter.mutate(&request.json);
        let mut owned: AdmissionRequest =
            serde_json::from_value(request.json.clone()).expect("a generated request deserialises");
        let owned = rewriter.mutate_request(&mut owned);
        prop_assert_eq!(&owned, &outcome, "mutate_request disagrees with mutate");
        prop_assert_eq!(outcome.warnings.len(), expected.warnings.len());
        for (said, meant) in outcome.warnings.iter().zip(&expected.warnings) {
            assert_same_warning(said, meant);
        }
        prop_assert_eq!(outcome.images_rewritten, expected.edits.len());
        let Some(mutated) = &outcome.mutated_object else {
            let edits = &expected.edits;
            prop_assert!(edits.is_empty(), "nothing rewritten, expected {:?}", edits);
            return Ok(());
        };
        for (_, _, from, to) in &expected.edits {
            assert_points_at_cache(&settings, from, to);
        }
        let patch = json_patch::diff(object, mutated);
        let ops = serde_json::to_value(&patch).expect("a patch serialises");
        let ops = ops.as_array().cloned().unwrap_or_default();
        prop_assert_eq!(sorted(ops), sorted(expected_patch(object, &expected)));
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch).expect("the patch applies to the request's object");
        prop_assert_eq!(&patched, mutated);
        // Same shape: the original with the new images and the annotation is the mutated object.
        let mut rebuilt = object.clone();
        for (pointer, _, _, to) in &expected.edits {
            *rebuilt.pointer_mut(pointer).expect("the image is there") = json!(to);
        }
        if expected.annotate {
            let annotation = &mutated["metadata"]["annotations"][ORIGINAL_IMAGES_ANNOTATION];
            if !rebuilt["metadata"].is_object() {
                rebuilt["metadata"] = json!({});
            }
            if !rebuilt["metadata"]["annotations"].is_object() {
                rebuilt["metadata"]["annotations"] = json!({});
            }
            rebuilt["metadata"]["annotations"][ORIGINAL_IMAGES_ANNOTATION] = annotation.clone();
        }
        prop_assert_eq!(&rebuilt, mutated);
    }

    #[test]
    fn mutating_the_result_again_changes_nothing(
        settings in objects::settings(),
        request in objects::request(),
    ) {
        let rewriter = compile(&settings);
        let first = rewriter.mutate(&request.json);
        let Some(mutated) = first.mutated_object else {
            return Ok(());
        };
        let mut again = request.json.clone();
        again["object"] = mutated.clone();
        let second = rewriter.mutate(&again);
        prop_assert_eq!(second.mutated_object, None, "second pass changed {}", mutated);
        prop_assert_eq!(second.images_rewritten, 0);
        prop_assert_eq!(second.warnings, first.warnings);
    }
}

/// The generators must exercise real rewriting, not only rejections: on a fixed seed, most
/// valid references are rewritten under settings that select every registry, and most
/// requests get a patch under the prefixed layout's default registries.
#[test]
fn generated_inputs_mostly_get_rewritten() {
    let mut runner = TestRunner::deterministic();
    let all = compile(
        &serde_json::from_value(
            json!({"mirror": "m.example.com", "registries": ["*"], "allowSharedNamespace": true}),
        )
        .expect("settings"),
    );
    let defaults = compile(
        &serde_json::from_value(json!({"mirror": "m.example.com", "layout": "prefixed"}))
            .expect("settings"),
    );
    let (mut references, mut requests) = (0, 0);
    for _ in 0..200 {
        let g = references::valid()
            .new_tree(&mut runner)
            .expect("a value")
            .current();
        references += usize::from(matches!(all.rewrite(&g.image), Ok(Rewrite::Rewritten(_))));
        let request = objects::request()
            .new_tree(&mut runner)
            .expect("a value")
            .current();
        requests += usize::from(defaults.mutate(&request.json).mutated_object.is_some());
    }
    assert!(
        references > 150,
        "only {references} of 200 references rewritten"
    );
    assert!(requests > 60, "only {requests} of 200 requests patched");
}

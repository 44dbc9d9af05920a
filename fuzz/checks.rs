//! The invariants the fuzz targets check, shared with `policy/tests/fuzz_regressions.rs` so
//! that every input a fuzzer ever found runs on stable with the other tests.
#![allow(dead_code, reason = "each fuzz target uses one of these checks")]

use pullthrough_policy::{AdmissionRequest, Rewriter, Settings, parse_reference};
use serde_json::{Value, json};

const ANNOTATIONS: &str = "/metadata/annotations";

/// `parse_reference` never panics; an accepted reference prints as a normal form that parses
/// back to the same reference and prints the same again. Returns that normal form.
pub fn reference(data: &[u8]) -> Option<String> {
    let image = std::str::from_utf8(data).ok()?;
    let reference = parse_reference(image).ok()?;
    let normalised = reference.to_string();
    let again = parse_reference(&normalised).unwrap_or_else(|e| {
        panic!("{image:?} parsed, its normal form {normalised:?} did not: {e}")
    });
    assert_eq!(again, reference, "{image:?} -> {normalised:?}");
    assert_eq!(again.to_string(), normalised, "{image:?}");
    Some(normalised)
}

/// Reading, validating and compiling settings never panic and `validate` agrees with
/// `compile`; accepted settings survive a JSON round trip. Returns the compiled rewriter.
pub fn settings(data: &[u8]) -> Option<Rewriter> {
    let settings = Settings::from_json(data).ok()?;
    let compiled = settings.compile();
    assert_eq!(
        settings.validate().is_ok(),
        compiled.is_ok(),
        "{settings:?}"
    );
    let json = serde_json::to_vec(&settings).expect("settings serialise");
    let again = Settings::from_json(&json).expect("serialised settings read back");
    assert_eq!(again, settings);
    compiled.ok()
}

/// Settings for JSON requests: both layouts, every registry, rules with ports and IPv6 targets,
/// an exclude pattern.
pub fn rewriters() -> Vec<Rewriter> {
    [
        json!({"mirror": "registry-mirror.example.com"}),
        json!({"mirror": "mirror.local:5000/cache", "registries": ["*"], "layout": "prefixed",
               "exclude": ["docker.io/library/busybox*"]}),
        json!({"mirror": "m.example.com/hub", "registries": ["docker.io"],
               "rules": [{"registry": "localhost:5000", "target": "[fd00::1]:5000/x"},
                         {"registry": "registry.k8s.io", "target": "m.example.com/k8s"}]}),
    ]
    .iter()
    .map(|s| settings(s.to_string().as_bytes()).expect("valid settings"))
    .collect()
}

/// `mutate` never panics and agrees with `mutate_request`; the patch derived as the host
/// derives it touches only image references (containers' `image`, image volumes'
/// `image.reference`) and the originals annotation (creating `metadata` or its `annotations` when
/// missing), applies to give the mutated object, and mutating that object again changes nothing.
/// Returns how many images were rewritten.
pub fn admission(rewriter: &Rewriter, request: &Value) -> usize {
    let outcome = rewriter.mutate(request);
    if let Ok(mut owned) = serde_json::from_value::<AdmissionRequest>(request.clone()) {
        assert_eq!(
            rewriter.mutate_request(&mut owned),
            outcome,
            "mutate_request disagrees"
        );
    }
    let Some(mutated) = &outcome.mutated_object else {
        assert_eq!(outcome.images_rewritten, 0);
        return 0;
    };
    let object = request.get("object").unwrap_or(&Value::Null);
    let patch = json_patch::diff(object, mutated);
    let mut images = 0;
    for op in &patch.0 {
        let path = op.path().to_string();
        // A container's `image`, or an image volume's (`…/volumes/N/image/reference`).
        let volume = path
            .strip_suffix("/image/reference")
            .and_then(|item| item.rsplit_once("/volumes/"))
            .is_some_and(|(_, index)| index.parse::<usize>().is_ok());
        if path.ends_with("/image") || volume {
            images += 1;
        } else {
            let annotation = path == "/metadata"
                || path == ANNOTATIONS
                || path.starts_with(&format!("{ANNOTATIONS}/"));
            assert!(annotation, "the patch touches {path}");
        }
    }
    assert_eq!(images, outcome.images_rewritten, "{patch:?}");
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies");
    assert_eq!(&patched, mutated);
    let mut again = request.clone();
    again["object"] = mutated.clone();
    let second = rewriter.mutate(&again);
    assert_eq!(
        second.mutated_object, None,
        "a second pass changed the object"
    );
    assert_eq!(second.warnings, outcome.warnings);
    outcome.images_rewritten
}

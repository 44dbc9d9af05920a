//! The originals annotation: what each rewritten image was, merged across admissions, and left
//! out when the API server would refuse the object with it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ORIGINAL_IMAGES_ANNOTATION;
use super::plan::Edit;

/// The API server refuses an object whose annotations, keys and values together, pass this many
/// bytes (`TotalAnnotationSizeLimitB` of apimachinery's `ValidateAnnotationsSize`).
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Merges this admission's originals into the annotation, keyed by container name (`volume:NAME` for an image volume). A value
/// that is not such a map (edited by hand) is replaced. Leaves the object as it was, and says
/// why, when the annotations would then pass [`MAX_ANNOTATIONS_BYTES`]: the API server would
/// refuse the object, which it accepts without the annotation.
pub(super) fn record_originals(object: &mut Value, edits: &[Edit]) -> Result<(), String> {
    let annotations = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let mut originals: BTreeMap<String, String> = annotations
        .and_then(|a| a.get(ORIGINAL_IMAGES_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    for edit in edits {
        originals.insert(edit.key(), edit.original.clone());
    }
    // A map of strings always serialises; the fallback only keeps this free of a panic path.
    let value = serde_json::to_string(&originals).unwrap_or_default();
    // The API server's count: the bytes of every key and every string value.
    let others: usize = annotations
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.as_str() != ORIGINAL_IMAGES_ANNOTATION)
        .map(|(key, value)| key.len() + value.as_str().map_or(0, str::len))
        .sum();
    if others + ORIGINAL_IMAGES_ANNOTATION.len() + value.len() > MAX_ANNOTATIONS_BYTES {
        return Err(format!(
            "pullthrough: annotation {ORIGINAL_IMAGES_ANNOTATION} left out: the object's \
             annotations would pass the API server's {MAX_ANNOTATIONS_BYTES}-byte limit"
        ));
    }
    let Value::Object(object) = object else {
        return Ok(());
    };
    let metadata = object.entry("metadata").or_insert(Value::Null);
    if !metadata.is_object() {
        *metadata = Value::Object(serde_json::Map::new());
    }
    let Value::Object(metadata) = metadata else {
        return Ok(());
    };
    let annotations = metadata.entry("annotations").or_insert(Value::Null);
    if !annotations.is_object() {
        *annotations = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(annotations) = annotations {
        annotations.insert(ORIGINAL_IMAGES_ANNOTATION.to_owned(), Value::String(value));
    }
    Ok(())
}

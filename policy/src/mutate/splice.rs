//! The planned edits spliced into the object's text: each changed image's string replaced, the
//! originals annotation and the pull secrets written where `record_originals` and
//! `add_pull_secrets` put them in a tree (an absent or non-object `metadata` or `annotations`, an
//! absent or non-array `imagePullSecrets`, each as they handle it). The rest of the text is the
//! API server's, byte for byte.

use std::ops::Range;

use serde_json::json;

use super::originals::record_originals;
use super::plan::{Edit, Plan};
use super::{ORIGINAL_IMAGES_ANNOTATION, Outcome};
use crate::json_text::push_string;
use crate::object_text::{ObjectText, Place, Step};

/// The outcome with the mutated object as text; `None` when an edit's place is not among the
/// kept members' places, which the skeleton it was planned from rules out.
pub(super) fn finish(plan: Plan, object: &ObjectText<'_>) -> Option<Outcome<String>> {
    if plan.edits.is_empty() {
        return Some(super::edit::unchanged(plan));
    }
    let places = &object.places;
    let text = object.text;
    let mut splices = Vec::with_capacity(plan.edits.len() + 2);
    for edit in &plan.edits {
        let at = &places.find(&image_path(edit))?.at;
        splices.push((at.clone(), quoted(&edit.rewritten)));
    }
    // The annotation's value and its size check, as for a tree, on the kept `annotations`.
    let left_out = if plan.annotate {
        // All that `record_originals` reads and writes is `metadata`.
        let mut metadata = json!({"metadata": object.skeleton.get("metadata")});
        let recorded = record_originals(&mut metadata, &plan.edits);
        let originals = metadata["metadata"]["annotations"][ORIGINAL_IMAGES_ANNOTATION].as_str();
        if let (Ok(()), Some(originals)) = (&recorded, originals) {
            splices.push(annotation(text, places, originals));
        }
        recorded.err()
    } else {
        None
    };
    if let Some((spec, secrets)) = &plan.pull_secrets {
        let spec: Vec<Step<'_>> = spec.iter().map(|key| Step::Key(key)).collect();
        let items: Vec<String> = secrets
            .iter()
            .map(|name| format!("{{\"name\":{}}}", quoted(name)))
            .collect();
        let spec = places.find(&spec)?;
        let list = spec.find(&[Step::Key("imagePullSecrets")]);
        splices.push(pull_secrets(text, spec, list, &items.join(",")));
    }
    Some(Outcome {
        mutated_object: Some(spliced(text, &places.at, splices)?),
        warnings: super::edit::warnings(plan.warnings, left_out),
        images_rewritten: plan.edits.len(),
    })
}

const ANNOTATION: [Step<'static>; 3] = [
    Step::Key("metadata"),
    Step::Key("annotations"),
    Step::Key(ORIGINAL_IMAGES_ANNOTATION),
];

/// Where an edit's image string is.
fn image_path(edit: &Edit) -> Vec<Step<'static>> {
    let mut path: Vec<Step<'static>> = edit.spec.iter().map(|key| Step::Key(key)).collect();
    path.extend([
        Step::Key(edit.site.list()),
        Step::Index(edit.index),
        Step::Key("image"),
    ]);
    if edit.site == super::sites::Site::Volumes {
        path.push(Step::Key("reference"));
    }
    path
}

/// The originals annotation set as `record_originals` sets it: the value replaced, or the member
/// added to `annotations`, or `annotations` to `metadata`, or `metadata` to the object; a
/// `metadata` or `annotations` that is not an object is replaced by one.
fn annotation(text: &str, object: &Place<'_>, originals: &str) -> (Range<usize>, String) {
    let value = quoted(originals);
    let member = format!("{}:{value}", quoted(ORIGINAL_IMAGES_ANNOTATION));
    if let Some(existing) = object.find(&ANNOTATION) {
        return (existing.at.clone(), value);
    }
    if let Some(annotations) = object.find(&ANNOTATION[..2]) {
        return into_object(text, &annotations.at, member);
    }
    if let Some(metadata) = object.find(&ANNOTATION[..1]) {
        return into_object(text, &metadata.at, format!("\"annotations\":{{{member}}}"));
    }
    let member = format!("\"metadata\":{{\"annotations\":{{{member}}}}}");
    into_object(text, &object.at, member)
}

/// `member` added first in the object whose text is at `at`, or the value there replaced by an
/// object of `member` alone when it is not an object.
fn into_object(text: &str, at: &Range<usize>, member: String) -> (Range<usize>, String) {
    let value = &text[at.clone()];
    if !value.starts_with('{') {
        return (at.clone(), format!("{{{member}}}"));
    }
    let comma = if is_empty(value) { "" } else { "," };
    (at.start + 1..at.start + 1, format!("{member}{comma}"))
}

/// `items` appended to the spec's `imagePullSecrets`, a list made when it is absent or not one.
fn pull_secrets(
    text: &str,
    spec: &Place<'_>,
    list: Option<&Place<'_>>,
    items: &str,
) -> (Range<usize>, String) {
    let Some(list) = list else {
        let member = format!("\"imagePullSecrets\":[{items}]");
        return into_object(text, &spec.at, member);
    };
    let value = &text[list.at.clone()];
    if !value.starts_with('[') {
        return (list.at.clone(), format!("[{items}]"));
    }
    let comma = if is_empty(value) { "" } else { "," };
    let end = list.at.end - 1;
    (end..end, format!("{comma}{items}"))
}

/// The object at `object` in `text`, each range replaced; the ranges may not overlap.
fn spliced(
    text: &str,
    object: &Range<usize>,
    mut splices: Vec<(Range<usize>, String)>,
) -> Option<String> {
    splices.sort_by_key(|(at, _)| at.start);
    let added: usize = splices.iter().map(|(_, with)| with.len()).sum();
    let mut out = String::with_capacity(object.len() + added);
    let mut copied = object.start;
    for (at, with) in splices {
        if at.start < copied || at.end > object.end {
            return None;
        }
        out.push_str(&text[copied..at.start]);
        out.push_str(&with);
        copied = at.end;
    }
    out.push_str(&text[copied..object.end]);
    Some(out)
}

/// Whether the object or array whose text is `container` has nothing in it.
fn is_empty(container: &str) -> bool {
    container[1..container.len() - 1].trim_ascii().is_empty()
}

fn quoted(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    push_string(&mut out, text);
    // Quoting adds only ASCII to valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

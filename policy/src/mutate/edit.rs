//! The planned edits applied: the images set, the originals recorded, the pull secrets
//! appended, and the outcome with its warnings.

use serde_json::Value;

use super::Outcome;
use super::originals::record_originals;
use super::plan::{Edit, Plan};
use super::warning::{MAX_WARNINGS, summarised};

/// Builds the outcome; `object` is asked for only when there is something to change.
pub(super) fn finish(plan: Plan, object: impl FnOnce() -> Value) -> Outcome {
    if plan.edits.is_empty() {
        return unchanged(plan);
    }
    let mut object = object();
    let left_out = if plan.annotate {
        record_originals(&mut object, &plan.edits).err()
    } else {
        None
    };
    let warnings = warnings(plan.warnings, left_out);
    let images_rewritten = plan.edits.len();
    for edit in plan.edits {
        set_image(&mut object, edit);
    }
    if let Some((spec, secrets)) = plan.pull_secrets {
        add_pull_secrets(&mut object, spec, secrets);
    }
    Outcome {
        mutated_object: Some(object),
        warnings,
        images_rewritten,
    }
}

/// The outcome of a plan without edits: its warnings alone.
pub(super) fn unchanged<O>(plan: Plan) -> Outcome<O> {
    Outcome {
        mutated_object: None,
        warnings: summarised(plan.warnings, MAX_WARNINGS),
        images_rewritten: 0,
    }
}

/// The warnings of a plan with edits: the annotation's first, if it was left out, never folded
/// into the images' count.
pub(super) fn warnings(planned: Vec<String>, left_out: Option<String>) -> Vec<String> {
    let mut warnings = Vec::with_capacity(MAX_WARNINGS);
    let room = MAX_WARNINGS - usize::from(left_out.is_some());
    warnings.extend(left_out);
    warnings.extend(summarised(planned, room));
    warnings
}

fn set_image(object: &mut Value, edit: Edit) {
    let item = edit
        .spec
        .iter()
        .try_fold(object, |v, key| v.get_mut(key))
        .and_then(|spec| spec.get_mut(edit.site.list()))
        .and_then(|list| list.get_mut(edit.index));
    // The plan was made from this very object, so the item is there.
    if let Some(item) = item {
        edit.site.set_image(item, edit.rewritten);
    }
}

/// Appends `{"name": …}` entries; a missing or `null` list becomes a list.
fn add_pull_secrets(object: &mut Value, spec: &[&str], secrets: Vec<String>) {
    let Some(Value::Object(spec)) = spec.iter().try_fold(object, |v, key| v.get_mut(key)) else {
        return;
    };
    let list = spec
        .entry("imagePullSecrets")
        .or_insert(Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(list) = list {
        list.extend(
            secrets
                .into_iter()
                .map(|name| serde_json::json!({ "name": name })),
        );
    }
}

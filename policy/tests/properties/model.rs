//! The model the property tests hold `mutate` against: what one generated request must become
//! (its rewrites, warnings and annotation), built from `Rewriter::rewrite` image by image, and
//! the exact patch that follows from it.

use std::collections::BTreeMap;

use pullthrough_policy::{MAX_WARNING_CHARS, ORIGINAL_IMAGES_ANNOTATION, Rewrite, Rewriter};
use serde_json::{Value, json};

use crate::objects::{LISTS, Marker, Request};

/// What the policy must do to one request: the rewrites (by JSON pointer) and the warnings.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    pub(crate) edits: Vec<(String, String, String, String)>,
    pub(crate) warnings: Vec<String>,
    pub(crate) annotate: bool,
}

/// The rules of issue 2 applied container by container, using `Rewriter::rewrite` for the
/// single-image decision, so that `mutate` is checked against its parts.
pub(crate) fn expected(request: &Request, rewriter: &Rewriter) -> Expected {
    let r = &request.json;
    let mut expected = Expected::default();
    let sub_resource = r.get("subResource").and_then(Value::as_str).unwrap_or("");
    let lists: &[&str] = match sub_resource {
        "" => &LISTS,
        "ephemeralcontainers" if request.kind == "Pod" => &["ephemeralContainers"],
        _ => return expected,
    };
    let operation = r["operation"].as_str().unwrap_or("");
    let opted_out = match request.marker {
        Marker::None => false,
        Marker::OptOut => true,
        Marker::MirrorPod => request.kind == "Pod",
        Marker::TemplateOptOut => request.kind != "Pod",
    };
    if operation == "DELETE" || opted_out {
        return expected;
    }
    expected.annotate = sub_resource.is_empty();
    for list in lists {
        let pointer = format!("{}/{list}", request.spec_pointer);
        let containers = r["object"].pointer(&pointer).and_then(Value::as_array);
        for (i, container) in containers.into_iter().flatten().enumerate() {
            let Some(image) = container
                .get("image")
                .and_then(Value::as_str)
                .filter(|i| !i.is_empty())
            else {
                continue;
            };
            let name = container.get("name").and_then(Value::as_str);
            let old = r
                .get("oldObject")
                .and_then(|o| o.pointer(&pointer))
                .and_then(Value::as_array);
            let unchanged = operation == "UPDATE"
                && name.is_some()
                && old
                    .into_iter()
                    .flatten()
                    .any(|c| c.get("name").and_then(Value::as_str) == name && c["image"] == image);
            if unchanged {
                continue;
            }
            let key = name.map_or_else(|| format!("{list}[{i}]"), str::to_owned);
            match rewriter.rewrite(image) {
                Ok(Rewrite::Rewritten(to)) => {
                    expected
                        .edits
                        .push((format!("{pointer}/{i}/image"), key, image.to_owned(), to))
                }
                Ok(Rewrite::Unchanged(_)) => {}
                Err(e) => expected.warnings.push(format!(
                    "pullthrough: container {key:?} left unchanged: {}; image {image:?}",
                    e.reason()
                )),
            }
        }
    }
    // At most four warnings; the fourth counts what the API server would otherwise drop.
    if expected.warnings.len() > 4 {
        let rest = expected.warnings.len() - 3;
        expected.warnings.truncate(3);
        expected.warnings.push(format!(
            "pullthrough: {rest} more images left unchanged (not valid references)"
        ));
    }
    expected
}

/// `said` is `meant`, or, when `meant` is longer than the API server keeps, `meant` shortened:
/// within the limit, the same up to the reason (the container named), the image last.
pub(crate) fn assert_same_warning(said: &str, meant: &str) {
    if meant.chars().count() <= MAX_WARNING_CHARS {
        assert_eq!(said, meant);
        return;
    }
    assert!(said.chars().count() <= MAX_WARNING_CHARS, "{said}");
    let head = |w: &str| w.find(" left unchanged: ").map(|end| w[..end].to_owned());
    let name_fits = head(meant).is_some_and(|h| h.chars().count() <= 90);
    if name_fits {
        assert_eq!(head(said), head(meant), "{said} for {meant}");
    }
    assert!(said.contains("; image \""), "{said}");
}

/// The exact patch for `expected`: one `replace` per image, and the annotation added at the
/// shallowest level that exists.
pub(crate) fn expected_patch(object: &Value, expected: &Expected) -> Vec<Value> {
    let mut ops: Vec<Value> = expected
        .edits
        .iter()
        .map(|(pointer, _, _, to)| json!({"op": "replace", "path": pointer, "value": to}))
        .collect();
    if !expected.annotate {
        return ops;
    }
    let annotations = object.pointer("/metadata/annotations");
    let mut originals: BTreeMap<String, String> = annotations
        .and_then(|a| a.get(ORIGINAL_IMAGES_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    for (_, key, from, _) in &expected.edits {
        originals.insert(key.clone(), from.clone());
    }
    let value = json!(serde_json::to_string(&originals).expect("a map of strings"));
    let escaped = ORIGINAL_IMAGES_ANNOTATION.replace('/', "~1");
    let op = |op: &str, path: &str, value: Value| json!({"op": op, "path": path, "value": value});
    ops.push(match (object.get("metadata"), annotations) {
        (None, _) => op(
            "add",
            "/metadata",
            json!({"annotations": {ORIGINAL_IMAGES_ANNOTATION: value}}),
        ),
        (Some(m), _) if !m.is_object() => op(
            "replace",
            "/metadata",
            json!({"annotations": {ORIGINAL_IMAGES_ANNOTATION: value}}),
        ),
        (Some(_), None) => op(
            "add",
            "/metadata/annotations",
            json!({ORIGINAL_IMAGES_ANNOTATION: value}),
        ),
        (Some(_), Some(a)) if !a.is_object() => op(
            "replace",
            "/metadata/annotations",
            json!({ORIGINAL_IMAGES_ANNOTATION: value}),
        ),
        (Some(_), Some(a)) => match a.get(ORIGINAL_IMAGES_ANNOTATION) {
            None => op("add", &format!("/metadata/annotations/{escaped}"), value),
            Some(old) if *old == value => return ops,
            Some(_) => op(
                "replace",
                &format!("/metadata/annotations/{escaped}"),
                value,
            ),
        },
    });
    ops
}

pub(crate) fn sorted(mut ops: Vec<Value>) -> Vec<Value> {
    ops.sort_by_key(|op| op["path"].as_str().unwrap_or_default().to_owned());
    ops
}

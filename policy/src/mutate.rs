//! The admission request walk: every container image of a pod or pod template, rewritten in
//! the raw JSON so that the patch derived from the result holds only what changed.
//!
//! The walk first reads the object and plans its edits without copying it; only a request
//! that changes something pays for a mutated object (a copy for [`Rewriter::mutate`], none
//! for [`Rewriter::mutate_request`], which owns the object it was handed). Those two methods
//! live with the rest of `impl Rewriter` in `rewrite.rs`; this module is the walk they call.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::rewrite::{Rewrite, Rewriter};

/// Label or annotation that opts an object out when set to `"false"`. On a workload it is
/// read from the object and from its pod template (and a CronJob's job template).
pub const OPT_OUT_KEY: &str = "pullthrough.dev/rewrite";

/// Annotation recording the images that were rewritten: a JSON object from container name to
/// the image as it was written, merged with what an earlier admission recorded.
pub const ORIGINAL_IMAGES_ANNOTATION: &str = "pullthrough.dev/original-images";

/// The kubelet marks the API copy of a static pod with this annotation; its spec must stay
/// what the node's manifest says.
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// At most this many warnings per admission: the API server drops warnings past 4096
/// characters in all (other webhooks' included), so the rest are summarised in the last one.
pub const MAX_WARNINGS: usize = 4;

/// Longest warning, in characters: the API server may truncate one past 256.
pub const MAX_WARNING_CHARS: usize = 200;

/// The API server refuses an object whose annotations, keys and values together, pass this many
/// bytes (`TotalAnnotationSizeLimitB` of apimachinery's `ValidateAnnotationsSize`).
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Container lists of a pod spec, in the order the kubelet starts them.
const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// What the rewrite did to one admission request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The whole object with its images rewritten, or `None` when nothing changed.
    pub mutated_object: Option<Value>,
    /// One line per image left unchanged because it could not be rewritten.
    pub warnings: Vec<String>,
    /// How many `image` fields changed.
    pub images_rewritten: usize,
}

/// The fields of an `admission.k8s.io/v1` `AdmissionRequest` the rewrite reads; the others
/// are skipped without being built. Absent and `null` fields read as empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: GroupVersionKind,
    #[serde(default, deserialize_with = "nullable")]
    pub operation: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sub_resource: String,
    #[serde(default)]
    pub object: Value,
    /// When deserialised, only the members on the way to each container's name and image:
    /// that is all the rewrite reads, and building the rest would double the decoding cost.
    #[serde(default, deserialize_with = "crate::skeleton::deserialize")]
    pub old_object: Value,
}

/// `AdmissionRequest.kind`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
}

fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

impl<'a> View<'a> {
    /// The fields of an `AdmissionRequest` given as JSON.
    pub(crate) fn of_json(request: &'a Value) -> Self {
        let str_at = |pointer: &str| {
            request
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        View {
            kind: str_at("/kind/kind"),
            operation: str_at("/operation"),
            sub_resource: str_at("/subResource"),
            object: request.get("object").unwrap_or(&Value::Null),
            old_object: request.get("oldObject").unwrap_or(&Value::Null),
        }
    }

    /// The fields of a deserialised request.
    pub(crate) fn of_request(request: &'a AdmissionRequest) -> Self {
        View {
            kind: &request.kind.kind,
            operation: &request.operation,
            sub_resource: &request.sub_resource,
            object: &request.object,
            old_object: &request.old_object,
        }
    }
}

/// Plans the image edits of one request, reading it without copying it.
pub(crate) fn plan(rewriter: &Rewriter, view: &View<'_>) -> Plan {
    let mut plan = Plan::default();
    // DELETE carries no object to change and CONNECT no pod spec.
    if matches!(view.operation, "DELETE" | "CONNECT") {
        return plan;
    }
    let kind = match view.kind {
        "" => view
            .object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or(""),
        kind => kind,
    };
    let Some(paths) = PodPaths::of(kind) else {
        return plan;
    };
    let lists: &[&'static str] = match view.sub_resource {
        "" => &CONTAINER_LISTS,
        // `kubectl debug` adds ephemeral containers through this subresource; the API
        // server takes nothing else from the object, so no annotation either.
        "ephemeralcontainers" if kind == "Pod" => &["ephemeralContainers"],
        _ => return plan,
    };
    plan.annotate = view.sub_resource.is_empty();
    let metadata = view.object.get("metadata");
    if kind == "Pod" && annotation(metadata, MIRROR_POD_ANNOTATION).is_some() {
        return plan;
    }
    let opted_out = std::iter::once(metadata)
        .chain(paths.templates.iter().map(|path| at(view.object, path)))
        .any(opts_out);
    if opted_out {
        return plan;
    }
    let Some(spec) = at(view.object, paths.spec) else {
        return plan;
    };
    // The mirror's own secrets (the imagePullSecrets setting) are not the pod's: a template
    // this policy rewrote carries them, and its pods are not private for that.
    if rewriter.keeps_images_with_pull_secrets()
        && spec
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .is_some_and(|secrets| {
                secrets.iter().any(|secret| {
                    let name = secret.get("name").and_then(Value::as_str);
                    !rewriter
                        .pull_secrets()
                        .iter()
                        .any(|mine| Some(mine.as_str()) == name)
                })
            })
    {
        plan.warnings.push(
            "pullthrough: images left unchanged: the pod spec lists imagePullSecrets \
             (keepImagesWithPullSecrets)"
                .to_owned(),
        );
        return plan;
    }
    let old_spec = match view.operation {
        "UPDATE" => at(view.old_object, paths.spec),
        _ => None,
    };
    for &list in lists {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (index, container) in containers.iter().enumerate() {
            plan_container(
                rewriter, &mut plan, &paths, list, index, container, old_spec,
            );
        }
    }
    if !plan.edits.is_empty() {
        plan_pull_secrets(rewriter, &mut plan, &paths, spec, kind, view.operation);
    }
    plan
}

/// The configured pull secrets the spec does not name yet. A pod's `imagePullSecrets` cannot
/// change once it exists, so an existing pod that lacks them keeps its images: pulling from the
/// mirror without its credentials would fail where the original image would not.
fn plan_pull_secrets(
    rewriter: &Rewriter,
    plan: &mut Plan,
    paths: &PodPaths,
    spec: &Value,
    kind: &str,
    operation: &str,
) {
    let named = spec.get("imagePullSecrets").and_then(Value::as_array);
    let missing: Vec<String> = rewriter
        .pull_secrets()
        .iter()
        .filter(|secret| {
            !named.is_some_and(|list| {
                list.iter()
                    .any(|s| s.get("name").and_then(Value::as_str) == Some(secret.as_str()))
            })
        })
        .cloned()
        .collect();
    if missing.is_empty() {
        return;
    }
    if kind == "Pod" && operation == "UPDATE" {
        let names = missing.join(", ");
        for edit in plan.edits.drain(..) {
            plan.warnings.push(format!(
                "pullthrough: image {:?} of container {:?} left unchanged: the pod lacks \
                 imagePullSecrets {names} for the mirror, and a pod's imagePullSecrets cannot \
                 change after it is created",
                edit.original, edit.name
            ));
        }
        return;
    }
    plan.pull_secrets = Some((paths.spec, missing));
}

fn plan_container(
    rewriter: &Rewriter,
    plan: &mut Plan,
    paths: &PodPaths,
    list: &'static str,
    index: usize,
    container: &Value,
    old_spec: Option<&Value>,
) {
    // An empty image is legal in a workload template: something else fills it in later.
    let Some(image) = container
        .get("image")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
    else {
        return;
    };
    let name = container.get("name").and_then(Value::as_str);
    // An update that leaves an image as it was must not change it: for a pod that would
    // restart the container, for an existing ephemeral container the API server refuses.
    if let (Some(old_spec), Some(name)) = (old_spec, name)
        && old_image(old_spec, list, name) == Some(image)
    {
        return;
    }
    let name = name.map_or_else(|| format!("{list}[{index}]"), str::to_owned);
    match rewriter.rewrite(image) {
        Ok(Rewrite::Rewritten(rewritten)) => plan.edits.push(Edit {
            spec: paths.spec,
            list,
            index,
            name,
            original: image.to_owned(),
            rewritten,
        }),
        Ok(Rewrite::Unchanged(_)) => {}
        Err(error) => plan.warnings.push(bounded(format!(
            "pullthrough: image {image:?} of container {name:?} left unchanged: {error}"
        ))),
    }
}

/// `text` cut to [`MAX_WARNING_CHARS`] characters, ending in `…` when cut.
fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_WARNING_CHARS - 1) {
        Some((end, _)) if text.chars().count() > MAX_WARNING_CHARS => {
            format!("{}…", &text[..end])
        }
        _ => text,
    }
}

/// At most `room` warnings: past that, the last one counts the rest.
fn summarised(mut warnings: Vec<String>, room: usize) -> Vec<String> {
    if warnings.len() > room {
        let rest = warnings.len() - (room - 1);
        warnings.truncate(room - 1);
        warnings.push(format!(
            "pullthrough: {rest} more images left unchanged (not valid references)"
        ));
    }
    warnings
}

/// Builds the outcome; `object` is asked for only when there is something to change.
pub(crate) fn finish(plan: Plan, object: impl FnOnce() -> Value) -> Outcome {
    if plan.edits.is_empty() {
        return Outcome {
            mutated_object: None,
            warnings: summarised(plan.warnings, MAX_WARNINGS),
            images_rewritten: 0,
        };
    }
    let mut object = object();
    let left_out = if plan.annotate {
        record_originals(&mut object, &plan.edits).err()
    } else {
        None
    };
    // The annotation's warning comes first and is never folded into the images' count.
    let mut warnings = Vec::with_capacity(MAX_WARNINGS);
    let room = MAX_WARNINGS - usize::from(left_out.is_some());
    warnings.extend(left_out);
    warnings.extend(summarised(plan.warnings, room));
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

pub(crate) struct View<'a> {
    kind: &'a str,
    operation: &'a str,
    sub_resource: &'a str,
    pub(crate) object: &'a Value,
    old_object: &'a Value,
}

#[derive(Default)]
pub(crate) struct Plan {
    edits: Vec<Edit>,
    warnings: Vec<String>,
    annotate: bool,
    /// The pod spec and the secrets to append to its `imagePullSecrets`.
    pull_secrets: Option<(&'static [&'static str], Vec<String>)>,
}

struct Edit {
    spec: &'static [&'static str],
    list: &'static str,
    index: usize,
    name: String,
    original: String,
    rewritten: String,
}

/// Where a kind keeps its pod spec, and the template metadata that may opt it out.
struct PodPaths {
    spec: &'static [&'static str],
    templates: &'static [&'static [&'static str]],
}

impl PodPaths {
    fn of(kind: &str) -> Option<Self> {
        Some(match kind {
            "Pod" => Self {
                spec: &["spec"],
                templates: &[],
            },
            "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "ReplicationController" => Self {
                spec: &["spec", "template", "spec"],
                templates: &[&["spec", "template", "metadata"]],
            },
            "CronJob" => Self {
                spec: &["spec", "jobTemplate", "spec", "template", "spec"],
                templates: &[
                    &["spec", "jobTemplate", "metadata"],
                    &["spec", "jobTemplate", "spec", "template", "metadata"],
                ],
            },
            _ => return None,
        })
    }
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn annotation<'a>(metadata: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    metadata?.get("annotations")?.get(key)
}

fn opts_out(metadata: Option<&Value>) -> bool {
    let Some(metadata) = metadata else {
        return false;
    };
    ["labels", "annotations"].iter().any(|field| {
        metadata
            .get(field)
            .and_then(|m| m.get(OPT_OUT_KEY))
            .and_then(Value::as_str)
            == Some("false")
    })
}

fn old_image<'a>(old_spec: &'a Value, list: &str, name: &str) -> Option<&'a str> {
    old_spec
        .get(list)?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))?
        .get("image")?
        .as_str()
}

fn set_image(object: &mut Value, edit: Edit) {
    let container = edit
        .spec
        .iter()
        .try_fold(object, |v, key| v.get_mut(key))
        .and_then(|spec| spec.get_mut(edit.list))
        .and_then(|list| list.get_mut(edit.index));
    // The plan was made from this very object, so the container is there.
    if let Some(Value::Object(container)) = container {
        container.insert("image".to_owned(), Value::String(edit.rewritten));
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

/// Merges this admission's originals into the annotation, keyed by container name. A value
/// that is not such a map (edited by hand) is replaced. Leaves the object as it was, and says
/// why, when the annotations would then pass [`MAX_ANNOTATIONS_BYTES`]: the API server would
/// refuse the object, which it accepts without the annotation.
fn record_originals(object: &mut Value, edits: &[Edit]) -> Result<(), String> {
    let annotations = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let mut originals: BTreeMap<String, String> = annotations
        .and_then(|a| a.get(ORIGINAL_IMAGES_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    for edit in edits {
        originals.insert(edit.name.clone(), edit.original.clone());
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

#[cfg(test)]
mod tests;

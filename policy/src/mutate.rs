//! The admission request walk: every image of a pod or pod template (each container's `image`
//! and each image volume's `image.reference`, which the kubelet pulls alike), rewritten in the
//! raw JSON so that the patch derived from the result holds only what changed.
//!
//! The walk first reads the object and plans its edits without copying it; only a request
//! that changes something pays for a mutated object (a copy for [`Rewriter::mutate`], none
//! for [`Rewriter::mutate_request`], which owns the object it was handed). Those two methods
//! live with the rest of `impl Rewriter` in `rewrite.rs`; this module is the walk they call.

mod originals;
mod sites;
mod warning;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::rewrite::{Rewrite, Rewriter};
pub use originals::MAX_ANNOTATIONS_BYTES;
use originals::record_originals;
use sites::{PodPaths, SITES, Site, old_image};
pub use warning::{MAX_WARNING_CHARS, MAX_WARNINGS};
use warning::{left_unchanged, summarised};

/// Label or annotation that opts an object out when set to `"false"`. On a workload it is
/// read from the object and from its pod template (and a CronJob's job template).
pub const OPT_OUT_KEY: &str = "pullthrough.dev/rewrite";

/// Annotation recording the images that were rewritten: a JSON object from container name (or
/// `volume:NAME` for an image volume) to the image as it was written, merged with what an
/// earlier admission recorded.
pub const ORIGINAL_IMAGES_ANNOTATION: &str = "pullthrough.dev/original-images";

/// The kubelet marks the API copy of a static pod with this annotation; its spec must stay
/// what the node's manifest says.
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

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
    let sites: &[Site] = match view.sub_resource {
        "" => &SITES,
        // `kubectl debug` adds ephemeral containers through this subresource; the API
        // server takes nothing else from the object, so no annotation either.
        "ephemeralcontainers" if kind == "Pod" => &[Site::Containers("ephemeralContainers")],
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
    for &site in sites {
        let Some(items) = spec.get(site.list()).and_then(Value::as_array) else {
            continue;
        };
        for (index, item) in items.iter().enumerate() {
            plan_item(rewriter, &mut plan, &paths, site, index, item, old_spec);
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
        let reason = format!(
            "the pod lacks imagePullSecrets {} for the mirror, and a pod's imagePullSecrets \
             cannot change after it is created",
            missing.join(", ")
        );
        for edit in plan.edits.drain(..) {
            let warning = left_unchanged(edit.site.holder(), &edit.name, &reason, &edit.original);
            plan.warnings.push(warning);
        }
        return;
    }
    plan.pull_secrets = Some((paths.spec, missing));
}

fn plan_item(
    rewriter: &Rewriter,
    plan: &mut Plan,
    paths: &PodPaths,
    site: Site,
    index: usize,
    item: &Value,
    old_spec: Option<&Value>,
) {
    // An empty image is legal in a workload template: something else fills it in later.
    let Some(image) = site.image_of(item).filter(|i| !i.is_empty()) else {
        return;
    };
    let name = item.get("name").and_then(Value::as_str);
    // An update that leaves an image as it was must not change it: for a pod that would
    // restart the container, for an existing ephemeral container or a pod's volume the API
    // server refuses it.
    if let (Some(old_spec), Some(name)) = (old_spec, name)
        && old_image(old_spec, site, name) == Some(image)
    {
        return;
    }
    let name = name.map_or_else(|| format!("{}[{index}]", site.list()), str::to_owned);
    match rewriter.rewrite(image) {
        Ok(Rewrite::Rewritten(rewritten)) => plan.edits.push(Edit {
            spec: paths.spec,
            site,
            index,
            name,
            original: image.to_owned(),
            rewritten,
        }),
        Ok(Rewrite::Unchanged(_)) => {}
        Err(error) => {
            let warning = left_unchanged(site.holder(), &name, &error.reason(), image);
            plan.warnings.push(warning);
        }
    }
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
    site: Site,
    index: usize,
    name: String,
    original: String,
    rewritten: String,
}

impl Edit {
    /// Its key in the originals annotation: the container's name, `volume:NAME` for a volume
    /// (names are DNS labels, so no container is called that).
    fn key(&self) -> String {
        match self.site {
            Site::Containers(_) => self.name.clone(),
            Site::Volumes => format!("volume:{}", self.name),
        }
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

#[cfg(test)]
mod tests;
#[cfg(test)]
mod volume_tests;

//! Planning: which images of a request change, which stay with a warning, and which pull
//! secrets the pod spec gains, read without copying the object.

use serde_json::Value;

use super::OPT_OUT_KEY;
use super::request::View;
use super::sites::{PodPaths, SITES, Site, old_image};
use super::warning::left_unchanged;
use crate::rewrite::{Rewrite, Rewriter};

/// The kubelet marks the API copy of a static pod with this annotation; its spec must stay
/// what the node's manifest says.
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Plans the image edits of one request, reading it without copying it.
pub(super) fn plan(rewriter: &Rewriter, view: &View<'_>) -> Plan {
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

#[derive(Default)]
pub(super) struct Plan {
    pub(super) edits: Vec<Edit>,
    pub(super) warnings: Vec<String>,
    pub(super) annotate: bool,
    /// The pod spec and the secrets to append to its `imagePullSecrets`.
    pub(super) pull_secrets: Option<(&'static [&'static str], Vec<String>)>,
}

pub(super) struct Edit {
    pub(super) spec: &'static [&'static str],
    pub(super) site: Site,
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) original: String,
    pub(super) rewritten: String,
}

impl Edit {
    /// Its key in the originals annotation: the container's name, `volume:NAME` for a volume
    /// (names are DNS labels, so no container is called that).
    pub(super) fn key(&self) -> String {
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

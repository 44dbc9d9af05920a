//! Where images sit: the pod spec of each kind, and the lists of a pod spec whose items hold
//! an image reference (containers' `image`, image volumes' `image.reference`).

use serde_json::Value;

use super::warning::Holder;

/// Where a pod spec holds images: its container lists, in the order the kubelet starts them,
/// and its volumes (`image` volumes, GA in Kubernetes 1.36).
pub(super) const SITES: [Site; 4] = [
    Site::Containers("initContainers"),
    Site::Containers("containers"),
    Site::Containers("ephemeralContainers"),
    Site::Volumes,
];

/// A list of a pod spec whose items may hold an image reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    /// A container list: `image` of each container.
    Containers(&'static str),
    /// `volumes`: `image.reference` of each image volume; other volumes hold none.
    Volumes,
}

impl Site {
    pub(super) fn list(self) -> &'static str {
        match self {
            Site::Containers(list) => list,
            Site::Volumes => "volumes",
        }
    }

    pub(super) fn holder(self) -> Holder {
        match self {
            Site::Containers(_) => Holder::Container,
            Site::Volumes => Holder::Volume,
        }
    }

    /// The image reference an item of this list holds, if any.
    pub(super) fn image_of(self, item: &Value) -> Option<&str> {
        let image = item.get("image")?;
        match self {
            Site::Containers(_) => image,
            Site::Volumes => image.get("reference")?,
        }
        .as_str()
    }

    /// Sets the image reference of an item planned from the same object.
    pub(super) fn set_image(self, item: &mut Value, image: String) {
        let (holder, field) = match self {
            Site::Containers(_) => (Some(item), "image"),
            Site::Volumes => (item.get_mut("image"), "reference"),
        };
        if let Some(Value::Object(holder)) = holder {
            holder.insert(field.to_owned(), Value::String(image));
        }
    }
}

/// Where a kind keeps its pod spec, and the template metadata that may opt it out.
pub(super) struct PodPaths {
    pub(super) spec: &'static [&'static str],
    pub(super) templates: &'static [&'static [&'static str]],
}

impl PodPaths {
    pub(super) fn of(kind: &str) -> Option<Self> {
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

pub(super) fn old_image<'a>(old_spec: &'a Value, site: Site, name: &str) -> Option<&'a str> {
    let item = old_spec
        .get(site.list())?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))?;
    site.image_of(item)
}

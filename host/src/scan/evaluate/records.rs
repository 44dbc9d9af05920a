//! The small records a scan keeps of each object: its identity and controller, the image
//! changes the policy asks for, and the totals; never the object itself.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::scan::Kind;

/// Which namespaces are looked at; the same rule as the webhook's namespace selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceFilter {
    /// Never scanned (pullthrough's own namespace and `kube-system`).
    pub excluded: Vec<String>,
    /// When not empty, only these.
    pub only: Vec<String>,
}

impl NamespaceFilter {
    /// Whether objects in `namespace` are scanned. An object that names no namespace (a
    /// manifest applied with `kubectl -n`) always is.
    pub fn admits(&self, namespace: &str) -> bool {
        namespace.is_empty()
            || (!self.excluded.iter().any(|n| n == namespace)
                && (self.only.is_empty() || self.only.iter().any(|n| n == namespace)))
    }
}

/// An object's identity and its controller.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// Empty when the manifest names none.
    pub namespace: String,
    pub kind: Kind,
    pub name: String,
    #[serde(skip)]
    pub uid: Option<String>,
}

/// The `ownerReferences` entry with `controller: true`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Owner {
    pub kind: String,
    pub name: String,
    #[serde(skip)]
    pub uid: Option<String>,
}

/// One image reference the policy would change: a container's `image` or an image volume's
/// `image.reference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageChange {
    /// The container's name, or `volume:NAME` for an image volume.
    pub container: String,
    /// JSON pointer of the `image` (or `image/reference`) field.
    pub path: String,
    /// The image now.
    pub from: String,
    /// The image through the mirror.
    pub to: String,
}

/// What the policy said about one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing to change: on the mirror already, opted out, or not selected.
    Unchanged,
    /// Images to change, and the guarded JSON patch that changes them.
    Changes {
        images: Vec<ImageChange>,
        patch: Value,
    },
    /// The policy could not evaluate it (trap, deadline, guest error).
    Failed(String),
}

/// The record kept of one evaluated object.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanned {
    pub object: ObjectRef,
    pub owner: Option<Owner>,
    pub verdict: Verdict,
    /// The policy's warnings (an image it could not rewrite) and a denial's message.
    pub warnings: Vec<String>,
}

/// Everything the reader produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scan {
    /// Evaluated objects, sorted by namespace, kind and name.
    pub objects: Vec<Scanned>,
    /// Evaluated objects by kind.
    pub by_kind: BTreeMap<Kind, usize>,
    /// Objects of kinds without a pod spec (Services, ConfigMaps, …).
    pub other_kinds: usize,
    /// Objects in namespaces the filter leaves out.
    pub excluded: usize,
}

pub(super) fn name_of(object: &Value) -> String {
    match str_at(object, "/metadata/name") {
        "" => match str_at(object, "/metadata/generateName") {
            "" => "(no name)".to_owned(),
            prefix => format!("{prefix}*"),
        },
        name => name.to_owned(),
    }
}

pub(super) fn controller_of(object: &Value) -> Option<Owner> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| Owner {
            kind: str_at(r, "/kind").to_owned(),
            name: str_at(r, "/name").to_owned(),
            uid: Some(str_at(r, "/uid"))
                .filter(|uid| !uid.is_empty())
                .map(str::to_owned),
        })
}

/// The string at `pointer`, empty when absent.
pub(super) fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

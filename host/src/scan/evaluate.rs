//! Each object evaluated by the webhook's own policy, as if it were being created now: an
//! AdmissionRequest built around it, the policy's JSON patch read back as image changes, and
//! the patch `--apply` would send, guarded by `test` operations.
//!
//! Objects stream in from a reader (files or API pages) on the calling thread and are evaluated
//! by a few worker threads sharing the one loaded policy; only a small record per object is
//! kept, never the object itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use super::Kind;
use crate::admission::{AdmissionError, AdmissionRequest, ImagePath};
use crate::policies::PolicyRegistry;

/// Who the scan says it is, in the requests it builds.
const SCAN_USER: &str = "pullthrough-scan";

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

/// How the evaluation runs.
#[derive(Clone, Copy)]
pub struct Workers<'a> {
    /// Threads evaluating at once (at most the runtime's `max_concurrency`).
    pub threads: usize,
    /// Called on the reading thread now and then with how many objects were evaluated so far.
    pub progress: &'a (dyn Fn(usize) + Sync),
}

impl std::fmt::Debug for Workers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Evaluates every object `read` hands over against `policy`. `read` runs on this thread; the
/// evaluations on `workers.threads` others. Blocking: never call it from an async task.
pub fn scan<E>(
    registry: &PolicyRegistry,
    policy: &str,
    filter: &NamespaceFilter,
    workers: Workers<'_>,
    read: impl FnOnce(&mut dyn FnMut(Value)) -> Result<(), E>,
) -> Result<Scan, E> {
    let threads = workers.threads.max(1);
    let (to_workers, inbox) = mpsc::sync_channel::<(Kind, Value)>(threads * 16);
    let inbox = Mutex::new(inbox);
    let (to_collector, results) = mpsc::channel::<Scanned>();
    let evaluated = AtomicUsize::new(0);
    let mut tally = Scan::default();
    let read_result = std::thread::scope(|scope| {
        for _ in 0..threads {
            let to_collector = to_collector.clone();
            let (inbox, evaluated) = (&inbox, &evaluated);
            scope.spawn(move || {
                loop {
                    // The lock is held only to take the next object, not while evaluating it.
                    let next = inbox.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((kind, object)) = next else { break };
                    let scanned = evaluate(registry, policy, kind, object);
                    evaluated.fetch_add(1, Ordering::Relaxed);
                    if to_collector.send(scanned).is_err() {
                        break;
                    }
                }
            });
        }
        drop(to_collector);
        let mut sent = 0usize;
        let result = read(&mut |object: Value| {
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .and_then(Kind::parse);
            let Some(kind) = kind else {
                tally.other_kinds += 1;
                return;
            };
            if !filter.admits(str_at(&object, "/metadata/namespace")) {
                tally.excluded += 1;
                return;
            }
            *tally.by_kind.entry(kind).or_default() += 1;
            // The workers outlive this closure, so the receiver is there.
            let _ = to_workers.send((kind, object));
            sent += 1;
            if sent.is_multiple_of(256) {
                (workers.progress)(evaluated.load(Ordering::Relaxed));
            }
        });
        drop(to_workers);
        result
    });
    read_result?;
    let mut objects: Vec<Scanned> = results.into_iter().collect();
    (workers.progress)(objects.len());
    objects.sort_by(|a, b| a.object.cmp(&b.object));
    tally.objects = objects;
    Ok(tally)
}

/// Evaluates one object as a CREATE of it. Blocking.
pub fn evaluate(registry: &PolicyRegistry, policy: &str, kind: Kind, object: Value) -> Scanned {
    let identity = ObjectRef {
        namespace: str_at(&object, "/metadata/namespace").to_owned(),
        kind,
        name: name_of(&object),
        uid: Some(str_at(&object, "/metadata/uid"))
            .filter(|uid| !uid.is_empty())
            .map(str::to_owned),
    };
    let owner = controller_of(&object);
    let mut warnings = Vec::new();
    let request = request_for(kind, &identity, object);
    let evaluation = request
        .as_ref()
        .map_err(|error| crate::report::one_line(error))
        .and_then(|request| {
            registry
                .evaluate_blocking(policy, request)
                .map_err(|error| crate::report::one_line(&error))
        });
    let verdict = match evaluation {
        Err(reason) => Verdict::Failed(reason),
        Ok(evaluation) => {
            let response = evaluation.response;
            warnings.extend(response.warnings.unwrap_or_default());
            if !response.allowed {
                let message = response
                    .status
                    .and_then(|s| s.message)
                    .unwrap_or_else(|| "no reason given".to_owned());
                warnings.push(format!("the policy would deny it: {message}"));
            }
            match response.patch.as_deref().map(decode_patch) {
                None => Verdict::Unchanged,
                Some(Err(reason)) => Verdict::Failed(reason),
                Some(Ok(ops)) => {
                    let object = request
                        .as_ref()
                        .ok()
                        .and_then(AdmissionRequest::object)
                        .unwrap_or(&Value::Null);
                    changes(object, ops)
                }
            }
        }
    };
    Scanned {
        object: identity,
        owner,
        verdict,
        warnings,
    }
}

/// The AdmissionRequest the API server would send for creating `object`. Dry run, so a policy
/// with side effects knows nothing will be stored.
fn request_for(
    kind: Kind,
    identity: &ObjectRef,
    object: Value,
) -> Result<AdmissionRequest, AdmissionError> {
    let gvk = json!({"group": kind.group(), "version": kind.version(), "kind": kind.as_str()});
    let gvr = json!({"group": kind.group(), "version": kind.version(), "resource": kind.plural()});
    let mut request = json!({
        "uid": format!("pullthrough-scan-{}-{}-{}", identity.namespace, kind.plural(), identity.name),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": identity.name,
        "operation": "CREATE",
        "userInfo": {"username": SCAN_USER},
        "dryRun": true,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        "object": object,
    });
    if !identity.namespace.is_empty() {
        request["namespace"] = Value::String(identity.namespace.clone());
    }
    AdmissionRequest::from_value(request)
}

fn decode_patch(base64: &str) -> Result<Vec<Value>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| format!("the policy's patch is not base64: {e}"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("the policy's patch is not a JSON patch: {e}"))
}

/// The image changes in the policy's patch, and the patch `--apply` sends: every path the patch
/// touches (and the name of each container whose image it replaces) first tested against the
/// value it had when scanned, so a change made since fails the patch instead of being
/// overwritten. A path that was absent is tested against `null`, which the API server's JSON
/// patch takes as "still absent".
pub(crate) fn changes(object: &Value, ops: Vec<Value>) -> Verdict {
    let mut images = Vec::new();
    let mut guards: Vec<Value> = Vec::new();
    let mut guard = |path: &str| {
        if !guards.iter().any(|g| g["path"] == path) {
            let value = object.pointer(path).cloned().unwrap_or(Value::Null);
            guards.push(json!({"op": "test", "path": path, "value": value}));
        }
    };
    for op in &ops {
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        guard(path);
        let replaced = (op.get("op").and_then(Value::as_str) == Some("replace"))
            .then(|| ImagePath::parse(path))
            .flatten();
        if let (Some(image), Some(to)) = (replaced, op.get("value").and_then(Value::as_str)) {
            let name_path = image.name_pointer();
            guard(&name_path);
            images.push(ImageChange {
                container: image.label(str_at(object, &name_path)),
                path: path.to_owned(),
                from: str_at(object, path).to_owned(),
                to: to.to_owned(),
            });
        }
    }
    if images.is_empty() {
        // A patch that touches no image (another policy's labels, say) is not this scan's business.
        return Verdict::Unchanged;
    }
    guards.extend(ops);
    Verdict::Changes {
        images,
        patch: Value::Array(guards),
    }
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn name_of(object: &Value) -> String {
    match str_at(object, "/metadata/name") {
        "" => match str_at(object, "/metadata/generateName") {
            "" => "(no name)".to_owned(),
            prefix => format!("{prefix}*"),
        },
        name => name.to_owned(),
    }
}

fn controller_of(object: &Value) -> Option<Owner> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_is_guarded_by_the_scanned_values() {
        let object = json!({
            "metadata": {"name": "web", "annotations": {"a": "b"}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.27"},
                {"name": "side", "image": "m.example/side:1"},
            ]}}}
        });
        let ops = vec![
            json!({"op": "add", "path": "/metadata/annotations/pullthrough.dev~1original-images", "value": "{\"app\":\"nginx:1.27\"}"}),
            json!({"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "m.example/library/nginx:1.27"}),
        ];
        let Verdict::Changes { images, patch } = changes(&object, ops.clone()) else {
            panic!("changes expected");
        };
        assert_eq!(
            images,
            vec![ImageChange {
                container: "app".into(),
                path: "/spec/template/spec/containers/0/image".into(),
                from: "nginx:1.27".into(),
                to: "m.example/library/nginx:1.27".into(),
            }]
        );
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/metadata/annotations/pullthrough.dev~1original-images", "value": null},
                {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"},
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
                ops[0],
                ops[1],
            ])
        );
    }

    #[test]
    fn an_image_volume_is_a_change_named_by_its_volume() {
        let object = json!({"spec": {
            "containers": [{"name": "app", "image": "m.example/app:1"}],
            "volumes": [{"name": "config", "configMap": {"name": "c"}},
                        {"name": "models", "image": {"reference": "ghcr.io/o/models:v3"}}]
        }});
        let op = json!({"op": "replace", "path": "/spec/volumes/1/image/reference", "value": "m.example/o/models:v3"});
        let Verdict::Changes { images, patch } = changes(&object, vec![op.clone()]) else {
            panic!("changes expected");
        };
        assert_eq!(
            images,
            vec![ImageChange {
                container: "volume:models".into(),
                path: "/spec/volumes/1/image/reference".into(),
                from: "ghcr.io/o/models:v3".into(),
                to: "m.example/o/models:v3".into(),
            }]
        );
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/spec/volumes/1/image/reference", "value": "ghcr.io/o/models:v3"},
                {"op": "test", "path": "/spec/volumes/1/name", "value": "models"},
                op,
            ])
        );
    }

    #[test]
    fn a_patch_without_image_changes_is_no_change() {
        let object = json!({"metadata": {}});
        let ops = vec![json!({"op": "add", "path": "/metadata/labels", "value": {"a": "b"}})];
        assert_eq!(changes(&object, ops), Verdict::Unchanged);
    }

    #[test]
    fn namespaces_are_filtered_like_the_webhook_does() {
        let filter = NamespaceFilter {
            excluded: vec!["kube-system".into(), "pullthrough".into()],
            only: vec![],
        };
        assert!(filter.admits("shop"));
        assert!(filter.admits(""));
        assert!(!filter.admits("kube-system"));
        let only = NamespaceFilter {
            only: vec!["shop".into()],
            ..filter
        };
        assert!(only.admits("shop"));
        assert!(!only.admits("blog"));
        assert!(!only.admits("pullthrough"));
    }

    #[test]
    fn names_and_controllers_are_read_from_metadata() {
        let object = json!({"metadata": {"generateName": "web-", "ownerReferences": [
            {"kind": "Node", "name": "n1", "uid": "1"},
            {"kind": "ReplicaSet", "name": "web-5d", "uid": "2", "controller": true},
        ]}});
        assert_eq!(name_of(&object), "web-*");
        assert_eq!(
            controller_of(&object),
            Some(Owner {
                kind: "ReplicaSet".into(),
                name: "web-5d".into(),
                uid: Some("2".into())
            })
        );
        assert_eq!(controller_of(&json!({"metadata": {}})), None);
    }
}

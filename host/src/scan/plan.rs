//! From evaluated objects to what an operator acts on: one finding per object that owns its
//! pod template, with the objects it controls (its ReplicaSets, Pods, Jobs) folded in, since
//! patching the owner is what fixes them; and what `--apply` does with each finding.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::Kind;
use super::evaluate::{ImageChange, ObjectRef, Owner, Scan, Scanned, Verdict};

/// Which kinds `--apply` patches beyond those that own their pod template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatchChoice {
    /// Patch bare Pods too (their containers restart with the new image).
    pub pods: bool,
    /// Patch bare Jobs too (the API server refuses a changed template unless the Job allows it).
    pub jobs: bool,
}

/// What `--apply` does with a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Action {
    /// Sent as a JSON patch.
    Patch,
    /// A bare Pod: reported only, unless `--patch-pods`.
    ReportPod,
    /// A bare Job: reported only, unless `--patch-jobs`.
    ReportJob,
    /// Controlled by an object the scan did not see (another controller's resource, or a
    /// manifest not given): that controller would undo a patch, so it is reported only.
    ReportOwned { owner: Owner },
}

/// How a patch went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result", content = "message")]
pub enum PatchOutcome {
    Patched,
    /// A `test` failed: the object changed since it was scanned and was left as it is.
    Conflict(String),
    /// The object was deleted since it was scanned.
    Gone,
    Failed(String),
}

/// An object to change, with the objects it controls.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    #[serde(flatten)]
    pub object: ObjectRef,
    #[serde(flatten)]
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub applied: Option<PatchOutcome>,
    pub images: Vec<ImageChange>,
    /// Objects it controls, directly or not, that differ too; they follow its rollout.
    pub owned: Vec<ObjectRef>,
    /// The JSON patch `--apply` sends.
    pub patch: Value,
}

/// An object that differs while the object controlling it does not: a ReplicaSet a Deployment
/// keeps as history, a Pod its rollout has not replaced yet. Its controller takes care of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Behind {
    #[serde(flatten)]
    pub object: ObjectRef,
    /// The top of its chain of controllers.
    pub controller: ObjectRef,
}

/// A message about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    #[serde(flatten)]
    pub object: ObjectRef,
    pub message: String,
}

/// The whole scan, grouped.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Objects evaluated, by kind.
    pub scanned: std::collections::BTreeMap<Kind, usize>,
    /// Objects of kinds without a pod spec.
    pub other_kinds: usize,
    /// Objects in excluded namespaces.
    pub excluded_namespaces: usize,
    pub findings: Vec<Finding>,
    pub behind: Vec<Behind>,
    pub warnings: Vec<Note>,
    /// Objects the policy could not evaluate.
    pub failed: Vec<Note>,
}

impl Plan {
    /// Groups the scan: each object that differs is shown once, at the top of its chain of
    /// controllers within the scan.
    pub fn new(scan: Scan, choice: PatchChoice) -> Self {
        let objects = scan.objects;
        let index = Index::new(&objects);
        let mut findings: Vec<Finding> = Vec::new();
        // Position in `objects` of a root → position in `findings`.
        let mut finding_of: HashMap<usize, usize> = HashMap::new();
        let mut behind = Vec::new();
        let mut warnings = Vec::new();
        let mut failed = Vec::new();
        for scanned in &objects {
            warnings.extend(scanned.warnings.iter().map(|message| Note {
                object: scanned.object.clone(),
                message: message.clone(),
            }));
            if let Verdict::Failed(message) = &scanned.verdict {
                failed.push(Note {
                    object: scanned.object.clone(),
                    message: message.clone(),
                });
            }
        }
        // Each object that differs: its root within the scan, and whether that root differs.
        let roots: Vec<Option<usize>> = (0..objects.len())
            .map(|at| match objects[at].verdict {
                Verdict::Changes { .. } => Some(index.root(&objects, at)),
                _ => None,
            })
            .collect();
        let root_refs: HashMap<usize, ObjectRef> = roots
            .iter()
            .flatten()
            .map(|&root| (root, objects[root].object.clone()))
            .collect();
        let mut owned_changes = Vec::new();
        for (at, scanned) in objects.into_iter().enumerate() {
            let Some(root) = roots[at] else { continue };
            let Verdict::Changes { images, patch } = scanned.verdict else {
                continue;
            };
            if root != at {
                owned_changes.push((scanned.object, root));
                continue;
            }
            let action = action(&scanned.object, scanned.owner, choice);
            finding_of.insert(at, findings.len());
            findings.push(Finding {
                object: scanned.object,
                action,
                applied: None,
                images,
                owned: Vec::new(),
                patch,
            });
        }
        // A second pass: a root may sort after what it controls.
        for (object, root) in owned_changes {
            match finding_of.get(&root) {
                Some(&finding) => findings[finding].owned.push(object),
                None => behind.push(Behind {
                    object,
                    controller: root_refs[&root].clone(),
                }),
            }
        }
        Self {
            scanned: scan.by_kind,
            other_kinds: scan.other_kinds,
            excluded_namespaces: scan.excluded,
            findings,
            behind,
            warnings,
            failed,
        }
    }

    /// Images to change, over all findings.
    pub fn images(&self) -> usize {
        self.findings.iter().map(|f| f.images.len()).sum()
    }

    /// Objects evaluated.
    pub fn total(&self) -> usize {
        self.scanned.values().sum()
    }
}

fn action(object: &ObjectRef, owner: Option<Owner>, choice: PatchChoice) -> Action {
    if let Some(owner) = owner {
        return Action::ReportOwned { owner };
    }
    match object.kind {
        Kind::Pod if !choice.pods => Action::ReportPod,
        Kind::Job if !choice.jobs => Action::ReportJob,
        _ => Action::Patch,
    }
}

/// Finds an object's controller among the scanned objects: by uid (objects from a cluster),
/// else by namespace, kind and name (manifests).
struct Index<'a> {
    by_uid: HashMap<&'a str, usize>,
    by_name: HashMap<(&'a str, &'a str, &'a str), usize>,
}

impl<'a> Index<'a> {
    fn new(objects: &'a [Scanned]) -> Self {
        let mut by_uid = HashMap::new();
        let mut by_name = HashMap::new();
        for (at, scanned) in objects.iter().enumerate() {
            let object = &scanned.object;
            if let Some(uid) = &object.uid {
                by_uid.insert(uid.as_str(), at);
            }
            by_name.insert(
                (
                    object.namespace.as_str(),
                    object.kind.as_str(),
                    object.name.as_str(),
                ),
                at,
            );
        }
        Self { by_uid, by_name }
    }

    fn controller(&self, objects: &[Scanned], at: usize) -> Option<usize> {
        let scanned = &objects[at];
        let owner = scanned.owner.as_ref()?;
        if let Some(uid) = &owner.uid
            && let Some(&found) = self.by_uid.get(uid.as_str())
        {
            return Some(found);
        }
        let key = (
            scanned.object.namespace.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
        );
        self.by_name.get(&key).copied()
    }

    /// The top of `at`'s chain of controllers within the scan (`at` itself when it has none).
    fn root(&self, objects: &[Scanned], at: usize) -> usize {
        let mut current = at;
        // Controllers nest at most three deep (CronJob → Job → Pod); the bound only stops a
        // cycle in hand-written manifests.
        for _ in 0..8 {
            match self.controller(objects, current) {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(kind: Kind, name: &str, uid: &str, owner: Option<(&str, &str, &str)>) -> Scanned {
        Scanned {
            object: ObjectRef {
                namespace: "shop".into(),
                kind,
                name: name.into(),
                uid: Some(uid.into()),
            },
            owner: owner.map(|(kind, name, uid)| Owner {
                kind: kind.into(),
                name: name.into(),
                uid: (!uid.is_empty()).then(|| uid.into()),
            }),
            verdict: Verdict::Unchanged,
            warnings: vec![],
        }
    }

    fn changed(mut scanned: Scanned) -> Scanned {
        scanned.verdict = Verdict::Changes {
            images: vec![ImageChange {
                container: "app".into(),
                path: "/spec/containers/0/image".into(),
                from: "nginx".into(),
                to: "m/library/nginx".into(),
            }],
            patch: json!([]),
        };
        scanned
    }

    fn scan(objects: Vec<Scanned>) -> Scan {
        let mut by_kind = std::collections::BTreeMap::new();
        for o in &objects {
            *by_kind.entry(o.object.kind).or_default() += 1;
        }
        Scan {
            objects,
            by_kind,
            other_kinds: 0,
            excluded: 0,
        }
    }

    fn refs(objects: &[ObjectRef]) -> Vec<String> {
        objects
            .iter()
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect()
    }

    #[test]
    fn owned_objects_are_reported_once_at_their_owner() {
        let plan = Plan::new(
            scan(vec![
                changed(object(Kind::Deployment, "web", "d1", None)),
                changed(object(
                    Kind::ReplicaSet,
                    "web-1",
                    "r1",
                    Some(("Deployment", "web", "d1")),
                )),
                changed(object(
                    Kind::Pod,
                    "web-1-a",
                    "p1",
                    Some(("ReplicaSet", "web-1", "r1")),
                )),
                // Found by name when the reference carries no uid (a manifest).
                changed(object(
                    Kind::Pod,
                    "web-1-b",
                    "p2",
                    Some(("ReplicaSet", "web-1", "")),
                )),
            ]),
            PatchChoice::default(),
        );
        assert_eq!(plan.findings.len(), 1);
        assert_eq!(plan.findings[0].object.name, "web");
        assert_eq!(plan.findings[0].action, Action::Patch);
        assert_eq!(
            refs(&plan.findings[0].owned),
            ["ReplicaSet/web-1", "Pod/web-1-a", "Pod/web-1-b"]
        );
        assert!(plan.behind.is_empty());
    }

    #[test]
    fn what_an_up_to_date_owner_controls_is_left_to_it() {
        let plan = Plan::new(
            scan(vec![
                object(Kind::Deployment, "web", "d1", None),
                changed(object(
                    Kind::ReplicaSet,
                    "web-old",
                    "r1",
                    Some(("Deployment", "web", "d1")),
                )),
            ]),
            PatchChoice::default(),
        );
        assert!(plan.findings.is_empty());
        assert_eq!(plan.behind.len(), 1);
        assert_eq!(plan.behind[0].object.name, "web-old");
        assert_eq!(plan.behind[0].controller.name, "web");
    }

    #[test]
    fn bare_pods_and_jobs_and_foreign_owned_objects_are_reported_only() {
        let objects = vec![
            changed(object(Kind::Pod, "debug", "p1", None)),
            changed(object(Kind::Job, "migrate", "j1", None)),
            changed(object(
                Kind::ReplicaSet,
                "canary-1",
                "r1",
                Some(("Rollout", "canary", "x1")),
            )),
            changed(object(Kind::ReplicaSet, "bare", "r2", None)),
        ];
        let plan = Plan::new(scan(objects.clone()), PatchChoice::default());
        let actions: Vec<_> = plan.findings.iter().map(|f| f.action.clone()).collect();
        assert_eq!(
            actions,
            [
                Action::ReportPod,
                Action::ReportJob,
                Action::ReportOwned {
                    owner: Owner {
                        kind: "Rollout".into(),
                        name: "canary".into(),
                        uid: Some("x1".into())
                    }
                },
                Action::Patch,
            ]
        );
        let plan = Plan::new(
            scan(objects),
            PatchChoice {
                pods: true,
                jobs: true,
            },
        );
        assert_eq!(plan.findings[0].action, Action::Patch);
        assert_eq!(plan.findings[1].action, Action::Patch);
    }
}

//! From evaluated objects to what an operator acts on: one finding per object that owns its
//! pod template, with the objects it controls (its ReplicaSets, Pods, Jobs) folded in, since
//! patching the owner is what fixes them; and what `--apply` does with each finding.

mod index;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::Kind;
use super::evaluate::{ImageChange, ObjectRef, Owner, Scan, Verdict};
use index::Index;

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

#[cfg(test)]
mod tests;

//! How a plan is shown: a table with a summary for people, or one JSON document for tools.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Kind;
use super::evaluate::ObjectRef;
use super::plan::{Action, Finding, PatchOutcome, Plan};

/// The table (one row per image to change) and the summary below it.
pub fn table(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.findings.is_empty() {
        let header =
            ["NAMESPACE", "KIND", "NAME", "CONTAINER", "IMAGE", "ACTION"].map(String::from);
        let mut rows = vec![header];
        for finding in &plan.findings {
            let action = action_text(finding);
            for image in &finding.images {
                rows.push([
                    namespace_text(&finding.object).to_owned(),
                    finding.object.kind.to_string(),
                    finding.object.name.clone(),
                    image.container.clone(),
                    format!("{} → {}", image.from, image.to),
                    action.clone(),
                ]);
            }
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell}{}  ", " ".repeat(width - cell.chars().count()));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&summary(plan));
    out
}

fn namespace_text(object: &ObjectRef) -> &str {
    if object.namespace.is_empty() {
        "-"
    } else {
        &object.namespace
    }
}

fn action_text(finding: &Finding) -> String {
    match (&finding.applied, &finding.action) {
        (Some(PatchOutcome::Patched), _) => "patched".to_owned(),
        (Some(PatchOutcome::Conflict(_)), _) => "not patched: changed since the scan".to_owned(),
        (Some(PatchOutcome::Gone), _) => "not patched: deleted since the scan".to_owned(),
        (Some(PatchOutcome::Failed(_)), _) => "not patched: refused (see below)".to_owned(),
        (None, Action::Patch) => "patch".to_owned(),
        (None, Action::ReportPod) => "report (bare Pod: --patch-pods)".to_owned(),
        (None, Action::ReportJob) => "report (bare Job: --patch-jobs)".to_owned(),
        (None, Action::ReportOwned { owner }) => {
            format!("report (controlled by {}/{})", owner.kind, owner.name)
        }
    }
}

/// The lines under the table.
pub fn summary(plan: &Plan) -> String {
    let mut out = String::new();
    let findings = &plan.findings;
    if findings.is_empty() {
        out.push_str("Nothing would change.\n");
    } else {
        let to_patch = findings
            .iter()
            .filter(|f| f.action == Action::Patch)
            .count();
        let _ = writeln!(
            out,
            "{} would change in {}: {to_patch} to patch, {} reported only.",
            count(plan.images(), "image"),
            count(findings.len(), "object"),
            findings.len() - to_patch,
        );
        let owned: Vec<&ObjectRef> = findings.iter().flat_map(|f| &f.owned).collect();
        if !owned.is_empty() {
            let _ = writeln!(
                out,
                "Objects they control that change with them: {}.",
                by_kind(owned.into_iter())
            );
        }
        let applied: Vec<&PatchOutcome> =
            findings.iter().filter_map(|f| f.applied.as_ref()).collect();
        if !applied.is_empty() {
            let patched = applied
                .iter()
                .filter(|a| matches!(a, PatchOutcome::Patched))
                .count();
            let _ = writeln!(out, "Patched {patched} of {}.", applied.len());
            for finding in findings {
                let reason = match &finding.applied {
                    Some(PatchOutcome::Conflict(message) | PatchOutcome::Failed(message)) => {
                        message
                    }
                    _ => continue,
                };
                let _ = writeln!(out, "  {}: {reason}", describe(&finding.object));
            }
        }
    }
    if !plan.behind.is_empty() {
        let _ = writeln!(
            out,
            "Left to controllers already through the mirror: {}.",
            by_kind(plan.behind.iter().map(|b| &b.object))
        );
    }
    let _ = write!(out, "Scanned {}", count(plan.total(), "object"));
    if !plan.scanned.is_empty() {
        let kinds: Vec<String> = plan
            .scanned
            .iter()
            .map(|(kind, n)| count(*n, kind.as_str()))
            .collect();
        let _ = write!(out, " ({})", kinds.join(", "));
    }
    let mut skipped = Vec::new();
    if plan.other_kinds > 0 {
        skipped.push(format!("{} of other kinds", plan.other_kinds));
    }
    if plan.excluded_namespaces > 0 {
        skipped.push(format!(
            "{} in excluded namespaces",
            plan.excluded_namespaces
        ));
    }
    if !skipped.is_empty() {
        let _ = write!(out, "; skipped {}", skipped.join(" and "));
    }
    out.push_str(".\n");
    out
}

/// `shop/Deployment/web`, or `Deployment/web` without a namespace.
pub fn describe(object: &ObjectRef) -> String {
    if object.namespace.is_empty() {
        format!("{}/{}", object.kind, object.name)
    } else {
        format!("{}/{}/{}", object.namespace, object.kind, object.name)
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn by_kind<'a>(objects: impl Iterator<Item = &'a ObjectRef>) -> String {
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    for object in objects {
        *kinds.entry(object.kind).or_default() += 1;
    }
    let parts: Vec<String> = kinds
        .iter()
        .map(|(kind, n)| count(*n, kind.as_str()))
        .collect();
    match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The plan as one JSON document.
pub fn json(plan: &Plan) -> String {
    // A plan is strings, numbers and JSON values: it always serialises.
    serde_json::to_string_pretty(plan).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scan::evaluate::{ImageChange, Owner};
    use crate::scan::plan::{Behind, Note};

    fn object(namespace: &str, kind: Kind, name: &str) -> ObjectRef {
        ObjectRef {
            namespace: namespace.into(),
            kind,
            name: name.into(),
            uid: None,
        }
    }

    fn image(container: &str, from: &str, to: &str) -> ImageChange {
        ImageChange {
            container: container.into(),
            path: "/spec/template/spec/containers/0/image".into(),
            from: from.into(),
            to: to.into(),
        }
    }

    fn plan() -> Plan {
        Plan {
            scanned: [(Kind::Deployment, 2), (Kind::ReplicaSet, 2), (Kind::Pod, 3)]
                .into_iter()
                .collect(),
            other_kinds: 1,
            excluded_namespaces: 2,
            findings: vec![
                Finding {
                    object: object("shop", Kind::Deployment, "web"),
                    action: Action::Patch,
                    applied: None,
                    images: vec![
                        image("app", "nginx:1.27", "m.example/library/nginx:1.27"),
                        image("log", "ghcr.io/x/log:2", "m.example/x/log:2"),
                    ],
                    owned: vec![
                        object("shop", Kind::ReplicaSet, "web-1"),
                        object("shop", Kind::Pod, "web-1-a"),
                    ],
                    patch: json!([{"op": "test", "path": "/a", "value": null}]),
                },
                Finding {
                    object: object("", Kind::Pod, "debug"),
                    action: Action::ReportOwned {
                        owner: Owner {
                            kind: "Rollout".into(),
                            name: "canary".into(),
                            uid: None,
                        },
                    },
                    applied: None,
                    images: vec![image("sh", "busybox", "m.example/library/busybox")],
                    owned: vec![],
                    patch: json!([]),
                },
            ],
            behind: vec![Behind {
                object: object("shop", Kind::ReplicaSet, "api-0"),
                controller: object("shop", Kind::Deployment, "api"),
            }],
            warnings: vec![Note {
                object: object("shop", Kind::Deployment, "web"),
                message: "w".into(),
            }],
            failed: vec![],
        }
    }

    #[test]
    fn the_table_has_one_row_per_image_and_a_summary() {
        assert_eq!(
            table(&plan()),
            "\
NAMESPACE  KIND        NAME   CONTAINER  IMAGE                                      ACTION
shop       Deployment  web    app        nginx:1.27 → m.example/library/nginx:1.27  patch
shop       Deployment  web    log        ghcr.io/x/log:2 → m.example/x/log:2        patch
-          Pod         debug  sh         busybox → m.example/library/busybox        report (controlled by Rollout/canary)

3 images would change in 2 objects: 1 to patch, 1 reported only.
Objects they control that change with them: 1 ReplicaSet and 1 Pod.
Left to controllers already through the mirror: 1 ReplicaSet.
Scanned 7 objects (2 Deployments, 2 ReplicaSets, 3 Pods); skipped 1 of other kinds and 2 in excluded namespaces.
"
        );
    }

    #[test]
    fn applied_results_replace_the_action_and_are_summed_up() {
        let mut plan = plan();
        plan.findings[0].applied = Some(PatchOutcome::Conflict("testing value /a failed".into()));
        plan.findings[1].applied = Some(PatchOutcome::Patched);
        plan.behind.clear();
        assert_eq!(
            table(&plan),
            "\
NAMESPACE  KIND        NAME   CONTAINER  IMAGE                                      ACTION
shop       Deployment  web    app        nginx:1.27 → m.example/library/nginx:1.27  not patched: changed since the scan
shop       Deployment  web    log        ghcr.io/x/log:2 → m.example/x/log:2        not patched: changed since the scan
-          Pod         debug  sh         busybox → m.example/library/busybox        patched

3 images would change in 2 objects: 1 to patch, 1 reported only.
Objects they control that change with them: 1 ReplicaSet and 1 Pod.
Patched 1 of 2.
  shop/Deployment/web: testing value /a failed
Scanned 7 objects (2 Deployments, 2 ReplicaSets, 3 Pods); skipped 1 of other kinds and 2 in excluded namespaces.
"
        );
    }

    #[test]
    fn an_empty_scan_says_so() {
        let plan = Plan {
            scanned: BTreeMap::new(),
            other_kinds: 0,
            excluded_namespaces: 0,
            findings: vec![],
            behind: vec![],
            warnings: vec![],
            failed: vec![],
        };
        assert_eq!(table(&plan), "Nothing would change.\nScanned 0 objects.\n");
    }

    #[test]
    fn json_names_every_field() {
        let value: serde_json::Value = serde_json::from_str(&json(&plan())).expect("JSON");
        assert_eq!(
            value["findings"][0],
            json!({
                "namespace": "shop", "kind": "Deployment", "name": "web", "action": "patch",
                "images": [
                    {"container": "app", "path": "/spec/template/spec/containers/0/image", "from": "nginx:1.27", "to": "m.example/library/nginx:1.27"},
                    {"container": "log", "path": "/spec/template/spec/containers/0/image", "from": "ghcr.io/x/log:2", "to": "m.example/x/log:2"},
                ],
                "owned": [
                    {"namespace": "shop", "kind": "ReplicaSet", "name": "web-1"},
                    {"namespace": "shop", "kind": "Pod", "name": "web-1-a"},
                ],
                "patch": [{"op": "test", "path": "/a", "value": null}],
            })
        );
        assert_eq!(value["findings"][1]["action"], json!("reportOwned"));
        assert_eq!(
            value["findings"][1]["owner"],
            json!({"kind": "Rollout", "name": "canary"})
        );
        assert_eq!(
            value["scanned"],
            json!({"Deployment": 2, "ReplicaSet": 2, "Pod": 3})
        );
        assert_eq!(value["behind"][0]["controller"]["name"], json!("api"));
        assert_eq!(
            value["warnings"][0],
            json!({"namespace": "shop", "kind": "Deployment", "name": "web", "message": "w"})
        );
    }
}

use serde_json::json;

use super::*;
use crate::scan::evaluate::Scanned;

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

//! The install's RBAC: every rule names the one object it is for.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::{meta, strings};
use crate::k8s::{NAME, SECRET_NAME};

/// Cluster-wide rights: read and server-side apply its own webhook configuration, by name. An
/// apply that creates the object is authorized as `create` as well as `patch` (the API server's
/// patch handler checks `create` with the object's name), so `create` is granted for that name
/// only: without it every replica gets 403 on a fresh cluster.
pub(super) fn cluster_role() -> ClusterRole {
    ClusterRole {
        metadata: meta(NAME, None),
        rules: Some(vec![PolicyRule {
            api_groups: strings(&["admissionregistration.k8s.io"]),
            resources: strings(&["mutatingwebhookconfigurations"]),
            resource_names: strings(&[NAME]),
            verbs: vec!["get".to_owned(), "create".to_owned(), "patch".to_owned()],
            ..PolicyRule::default()
        }]),
        ..ClusterRole::default()
    }
}

fn subject(ns: &str) -> Option<Vec<Subject>> {
    Some(vec![Subject {
        kind: "ServiceAccount".to_owned(),
        name: NAME.to_owned(),
        namespace: Some(ns.to_owned()),
        api_group: None,
    }])
}

pub(super) fn cluster_role_binding(ns: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(NAME, None),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: NAME.to_owned(),
        },
        subjects: subject(ns),
    }
}

/// Namespaced rights: its own certificate Secret, by name, and nothing else. The first replica
/// creates the Secret by server-side apply, which the API server authorizes as `patch` and as
/// `create` of that name (a POST could only be authorized as `create` of any Secret); renewal
/// replaces it with `update`.
pub(super) fn role(ns: &str) -> Role {
    Role {
        metadata: meta(NAME, Some(ns)),
        rules: Some(vec![PolicyRule {
            api_groups: strings(&[""]),
            resources: strings(&["secrets"]),
            resource_names: strings(&[SECRET_NAME]),
            verbs: vec![
                "get".to_owned(),
                "create".to_owned(),
                "patch".to_owned(),
                "update".to_owned(),
            ],
            ..PolicyRule::default()
        }]),
    }
}

pub(super) fn role_binding(ns: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(NAME, Some(ns)),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: NAME.to_owned(),
        },
        subjects: subject(ns),
    }
}

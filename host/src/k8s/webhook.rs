//! The MutatingWebhookConfiguration pullthrough registers, built from plain settings.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations,
    ServiceReference, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use super::{DEFAULT_TIMEOUT_SECONDS, NAME, SERVICE_PORT};

/// What the API server does when the webhook cannot be reached or answers with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Admit the object unchanged: a broken mirror never stops a deployment.
    Ignore,
    /// Refuse the object.
    Fail,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "Ignore",
            Self::Fail => "Fail",
        }
    }
}

/// Which namespaces the webhook sees. Our own namespace and `kube-system` are always excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceScope {
    All,
    Only(Vec<String>),
}

/// Namespaces excluded unless `--exclude-namespaces` says otherwise: what must start before the
/// mirror can serve (the control plane, the CNI, CSI drivers, ingress, cert-manager) and the
/// mirror itself. Pulling their images through the mirror would make a cold start or a node
/// loss wait on a mirror that cannot start. Our own namespace and `kube-system` are added to
/// any list.
pub const DEFAULT_EXCLUDED_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "calico-system",
    "calico-apiserver",
    "tigera-operator",
    "cilium",
    "kube-flannel",
    "longhorn-system",
    "rook-ceph",
    "openebs",
    "ingress-nginx",
    "cert-manager",
    "zot",
    "registry",
];

/// The annotation recording which pullthrough version wrote the configuration: a replica never
/// overwrites what a newer one wrote, so a rolling update does not flip it back and forth.
pub const VERSION_ANNOTATION: &str = "pullthrough.dev/version";

/// The label (or annotation) that opts an object out, as the policy reads it.
pub const OPT_OUT_LABEL: &str = "pullthrough.dev/rewrite";

/// The label every namespace carries with its own name (set by the API server since 1.21).
pub(super) const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Everything needed to build the webhook configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Name of the MutatingWebhookConfiguration object.
    pub name: String,
    /// Name of the webhook inside it (a fully qualified name, at least three labels).
    pub webhook_name: String,
    pub service: String,
    pub namespace: String,
    pub port: i32,
    pub path: String,
    pub failure_policy: FailurePolicy,
    pub timeout_seconds: i32,
    pub scope: NamespaceScope,
    /// Namespaces never sent to the webhook, besides our own and `kube-system`.
    pub excluded_namespaces: Vec<String>,
    /// Image prefixes (`mirror.example.com/`) the policy leaves alone: an object whose every
    /// image starts with one of them is not sent. Empty: every object is sent.
    pub skip_image_prefixes: Vec<String>,
}

/// Namespaces other workloads share. pullthrough's own namespace is never rewritten, so an
/// install in one of them quietly leaves those workloads alone.
pub const SHARED_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

impl Registration {
    /// What an operator should hear when pullthrough's own namespace, always excluded, is one
    /// other workloads share and no exclusion asked for: their pods are then never rewritten.
    pub fn shared_namespace_warning(&self) -> Option<String> {
        let namespace = self.namespace.as_str();
        (SHARED_NAMESPACES.contains(&namespace)
            && namespace != "kube-system"
            && !self.excluded_namespaces.iter().any(|ns| ns == namespace))
        .then(|| {
            format!(
                "pods in namespace {namespace} are never rewritten: it is pullthrough's own \
                 (--namespace {namespace}), which the webhook always excludes; run pullthrough \
                 in a namespace of its own, e.g. --namespace pullthrough"
            )
        })
    }
}

impl Default for Registration {
    fn default() -> Self {
        Self {
            name: NAME.to_owned(),
            webhook_name: "rewrite.pullthrough.dev".to_owned(),
            service: NAME.to_owned(),
            namespace: NAME.to_owned(),
            port: SERVICE_PORT,
            path: crate::server::MUTATE_PATH.to_owned(),
            failure_policy: FailurePolicy::Ignore,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            scope: NamespaceScope::All,
            excluded_namespaces: DEFAULT_EXCLUDED_NAMESPACES
                .iter()
                .map(|ns| (*ns).to_owned())
                .collect(),
            skip_image_prefixes: Vec::new(),
        }
    }
}

/// The kinds the policy rewrites, by API group: pods and their ephemeral containers, and every
/// workload that carries a pod template.
pub(super) const RULES: &[(&str, &[&str])] = &[
    (
        "",
        &["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
    ),
    (
        "apps",
        &["deployments", "replicasets", "statefulsets", "daemonsets"],
    ),
    ("batch", &["jobs", "cronjobs"]),
];

/// Builds the configuration to apply, with `ca_pem` (the PEM CA certificate) as its bundle.
pub fn webhook_configuration(
    registration: &Registration,
    ca_pem: &[u8],
) -> MutatingWebhookConfiguration {
    let rules = RULES
        .iter()
        .map(|(group, resources)| RuleWithOperations {
            api_groups: Some(vec![(*group).to_owned()]),
            api_versions: Some(vec!["v1".to_owned()]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
            scope: Some("Namespaced".to_owned()),
        })
        .collect();
    // Never intercept our own pods (a broken webhook could not restart itself) or the control
    // plane's; an explicit namespace list narrows further.
    let mut excluded = crate::server::never_rewritten(&registration.namespace);
    for ns in &registration.excluded_namespaces {
        if !excluded.contains(ns) {
            excluded.push(ns.clone());
        }
    }
    let mut expressions = vec![LabelSelectorRequirement {
        key: NAMESPACE_NAME_LABEL.to_owned(),
        operator: "NotIn".to_owned(),
        values: Some(excluded),
    }];
    if let NamespaceScope::Only(namespaces) = &registration.scope {
        expressions.push(LabelSelectorRequirement {
            key: NAMESPACE_NAME_LABEL.to_owned(),
            operator: "In".to_owned(),
            values: Some(namespaces.clone()),
        });
    }
    MutatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(registration.name.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_owned(),
                NAME.to_owned(),
            )])),
            annotations: Some(BTreeMap::from([(
                VERSION_ANNOTATION.to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![MutatingWebhook {
            name: registration.webhook_name.clone(),
            admission_review_versions: vec!["v1".to_owned()],
            client_config: WebhookClientConfig {
                ca_bundle: Some(ByteString(ca_pem.to_vec())),
                service: Some(ServiceReference {
                    name: registration.service.clone(),
                    namespace: registration.namespace.clone(),
                    path: Some(registration.path.clone()),
                    port: Some(registration.port),
                }),
                url: None,
            },
            failure_policy: Some(registration.failure_policy.as_str().to_owned()),
            match_policy: Some("Equivalent".to_owned()),
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(expressions),
                match_labels: None,
            }),
            // The policy leaves an opted-out object alone; the API server need not ask.
            object_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: OPT_OUT_LABEL.to_owned(),
                    operator: "NotIn".to_owned(),
                    values: Some(vec!["false".to_owned()]),
                }]),
                match_labels: None,
            }),
            reinvocation_policy: Some("IfNeeded".to_owned()),
            rules: Some(rules),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(registration.timeout_seconds),
            match_conditions: Some(match_conditions(&registration.skip_image_prefixes)),
        }]),
    }
}

/// Where each kind keeps its pod spec, below the object: per resource of [`RULES`]; every
/// workload but a CronJob holds a pod template.
const POD_SPEC_PATHS: [(&str, &[&str]); 3] = [
    ("pods", &["spec"]),
    (
        "cronjobs",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
    ("", &["spec", "template", "spec"]),
];

/// `expression(path)` for the pod spec path of the request's resource (`.spec.template.spec`),
/// or `absent` when the object has no pod spec there (a ReplicationController may lack its
/// template): reading a missing field is an error, and an error means the failure policy.
fn per_kind(objects: &[&str], expression: impl Fn(&str) -> String, absent: &str) -> String {
    let branch = |path: &[&str]| {
        let mut guards = Vec::new();
        for object in objects {
            for depth in 2..=path.len() {
                guards.push(format!("has({object}.{})", path[..depth].join(".")));
            }
        }
        let body = expression(&format!(".{}", path.join(".")));
        if guards.is_empty() {
            body
        } else {
            format!("({} ? {body} : {absent})", guards.join(" && "))
        }
    };
    let [(pods, pod), (cronjobs, cronjob), (_, template)] = POD_SPEC_PATHS;
    // Parenthesised: `?:` binds loosest, so `a || k ? x : y` would read as `(a || k) ? x : y`.
    format!(
        "(request.resource.resource == '{pods}' ? {} : request.resource.resource == '{cronjobs}' ? {} : {})",
        branch(pod),
        branch(cronjob),
        branch(template)
    )
}

/// The pod spec's images in start order (init, app, ephemeral containers), then its image
/// volumes' references; a container without an image reads as `''`, and so does every volume
/// that is not an image volume (its place keeps the lists comparable).
fn images_of(spec: &str) -> String {
    let list = |field: &str| {
        format!("(has({spec}.{field}) ? {spec}.{field}.map(c, has(c.image) ? c.image : '') : [])")
    };
    let volumes = format!(
        "(has({spec}.volumes) ? {spec}.volumes.map(v, \
         has(v.image) && has(v.image.reference) ? v.image.reference : '') : [])"
    );
    format!(
        "{} + {} + {} + {volumes}",
        list("initContainers"),
        list("containers"),
        list("ephemeralContainers"),
    )
}

/// True when some image of the pod spec (a container's, or an image volume's) starts with none
/// of `prefixes`.
fn some_image_off(spec: &str, prefixes: &[String]) -> String {
    let on_cache = |image: &str| {
        prefixes
            .iter()
            .map(|p| format!("{image}.startsWith({})", cel_string(p)))
            .collect::<Vec<_>>()
            .join(" || ")
    };
    let list = |field: &str| {
        format!(
            "(has({spec}.{field}) && {spec}.{field}.exists(c, !has(c.image) || !({})))",
            on_cache("c.image")
        )
    };
    format!(
        "{} || {} || {} || (has({spec}.volumes) && {spec}.volumes.exists(v, has(v.image) && \
         has(v.image.reference) && !({})))",
        list("initContainers"),
        list("containers"),
        list("ephemeralContainers"),
        on_cache("v.image.reference")
    )
}

/// A CEL string literal.
fn cel_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The conditions under which the API server calls the webhook at all (all must hold). Each
/// skips what the policy would leave unchanged anyway, so an admission that changes nothing
/// costs the API server no call. They stay simple: an expression that errors falls back to the
/// failure policy, and each runs within the API server's CEL cost budget.
pub fn match_conditions(skip_image_prefixes: &[String]) -> Vec<MatchCondition> {
    let mut conditions = vec![
        MatchCondition {
            // The kubelet's API copy of a static pod must stay what the node's manifest says.
            name: "not-a-static-pod".to_owned(),
            expression: "request.resource.resource != 'pods' || !has(object.metadata.annotations) \
                         || !('kubernetes.io/config.mirror' in object.metadata.annotations)"
                .to_owned(),
        },
        MatchCondition {
            // The policy never changes an image that an UPDATE leaves as it was (labels, scale,
            // finalizers, the controllers' own edits).
            name: "images-changed".to_owned(),
            expression: format!(
                "request.operation != 'UPDATE' || {}",
                per_kind(
                    &["object", "oldObject"],
                    |path| format!(
                        "({}) != ({})",
                        images_of(&format!("object{path}")),
                        images_of(&format!("oldObject{path}"))
                    ),
                    "true",
                )
            ),
        },
    ];
    if !skip_image_prefixes.is_empty() {
        conditions.push(MatchCondition {
            // An object already pointing at the mirror (a ReplicaSet or Pod made from a
            // rewritten template) would come back unchanged.
            name: "an-image-off-the-mirror".to_owned(),
            expression: per_kind(
                &["object"],
                |path| {
                    format!(
                        "({})",
                        some_image_off(&format!("object{path}"), skip_image_prefixes)
                    )
                },
                "false",
            ),
        });
    }
    conditions
}

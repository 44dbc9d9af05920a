//! The MutatingWebhookConfiguration pullthrough registers, built from plain settings.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    WebhookClientConfig,
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

/// The label every namespace carries with its own name (set by the API server since 1.21).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

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
        }
    }
}

/// The kinds the policy rewrites, by API group: pods and their ephemeral containers, and every
/// workload that carries a pod template.
const RULES: &[(&str, &[&str])] = &[
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
    let mut excluded = vec![registration.namespace.clone(), "kube-system".to_owned()];
    excluded.dedup();
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
            object_selector: None,
            reinvocation_policy: Some("IfNeeded".to_owned()),
            rules: Some(rules),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(registration.timeout_seconds),
            match_conditions: None,
        }]),
    }
}

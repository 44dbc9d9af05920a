//! The `MutatingAdmissionPolicy` and `MutatingAdmissionPolicyBinding` of
//! `manifests --admission-policy`, built from the CEL program and plain options. They match what
//! the webhook's registration matches: the same resources, the same opt-out label selector.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    JSONPatch, MatchCondition, MatchResources, MutatingAdmissionPolicy,
    MutatingAdmissionPolicyBinding, MutatingAdmissionPolicyBindingSpec,
    MutatingAdmissionPolicySpec, Mutation, NamedRuleWithOperations, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use super::webhook::{NAMESPACE_NAME_LABEL, OPT_OUT_LABEL, RULES};
use super::{FailurePolicy, NAME, Result, VERSION_ANNOTATION};

/// A named CEL expression: a variable or a match condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub expression: String,
}

impl Named {
    pub(crate) fn new(name: &str, expression: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            expression: expression.into(),
        }
    }
}

/// The CEL of the policy: conditions, variables in order, and the JSON patch expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub match_conditions: Vec<Named>,
    pub variables: Vec<Named>,
    pub mutation: String,
}

/// The annotation recording the settings the policy was generated from.
pub const SETTINGS_ANNOTATION: &str = "pullthrough.dev/settings";

/// What the two objects are made of.
#[derive(Debug, Clone, Copy)]
pub struct PolicyObjects<'a> {
    pub program: &'a Program,
    pub failure_policy: FailurePolicy,
    /// Namespaces the policy never sees.
    pub excluded_namespaces: &'a [String],
    /// The settings, as JSON, for the operator reading the policy.
    pub settings_json: &'a str,
}

fn meta(annotations: Option<BTreeMap<String, String>>) -> ObjectMeta {
    ObjectMeta {
        name: Some(NAME.to_owned()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_owned(),
            NAME.to_owned(),
        )])),
        annotations,
        ..ObjectMeta::default()
    }
}

fn selector(key: &str, values: Vec<String>) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.to_owned(),
            operator: "NotIn".to_owned(),
            values: Some(values),
        }]),
        match_labels: None,
    }
}

/// The policy: the webhook's resources, CREATE and UPDATE (the only operations a mutating policy
/// may have), reinvoked when a later mutation changes the object, as the webhook is.
pub fn policy(objects: &PolicyObjects<'_>) -> MutatingAdmissionPolicy {
    let resource_rules = RULES
        .iter()
        .map(|(group, resources)| NamedRuleWithOperations {
            api_groups: Some(vec![(*group).to_owned()]),
            api_versions: Some(vec!["v1".to_owned()]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
            scope: Some("Namespaced".to_owned()),
            resource_names: None,
        })
        .collect();
    let program = objects.program;
    MutatingAdmissionPolicy {
        metadata: meta(Some(BTreeMap::from([
            (
                VERSION_ANNOTATION.to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
            (
                SETTINGS_ANNOTATION.to_owned(),
                objects.settings_json.to_owned(),
            ),
        ]))),
        spec: Some(MutatingAdmissionPolicySpec {
            failure_policy: Some(objects.failure_policy.as_str().to_owned()),
            reinvocation_policy: Some("IfNeeded".to_owned()),
            match_constraints: Some(MatchResources {
                match_policy: Some("Equivalent".to_owned()),
                namespace_selector: Some(selector(
                    NAMESPACE_NAME_LABEL,
                    objects.excluded_namespaces.to_vec(),
                )),
                // The CEL reads the label too (and the templates' and annotations); the API
                // server need not evaluate it for an object that carries it.
                object_selector: Some(selector(OPT_OUT_LABEL, vec!["false".to_owned()])),
                resource_rules: Some(resource_rules),
                exclude_resource_rules: None,
            }),
            match_conditions: Some(
                program
                    .match_conditions
                    .iter()
                    .map(|c| MatchCondition {
                        name: c.name.clone(),
                        expression: c.expression.clone(),
                    })
                    .collect(),
            ),
            variables: Some(
                program
                    .variables
                    .iter()
                    .map(|v| Variable {
                        name: v.name.clone(),
                        expression: v.expression.clone(),
                    })
                    .collect(),
            ),
            mutations: Some(vec![Mutation {
                patch_type: "JSONPatch".to_owned(),
                json_patch: Some(JSONPatch {
                    expression: Some(program.mutation.clone()),
                }),
                apply_configuration: None,
            }]),
            param_kind: None,
        }),
    }
}

/// The binding that puts the policy in force for every namespace its own selector admits.
pub fn binding() -> MutatingAdmissionPolicyBinding {
    MutatingAdmissionPolicyBinding {
        metadata: meta(None),
        spec: Some(MutatingAdmissionPolicyBindingSpec {
            policy_name: Some(NAME.to_owned()),
            param_ref: None,
            match_resources: None,
        }),
    }
}

/// Both objects as two YAML documents.
pub fn render(objects: &PolicyObjects<'_>) -> Result<String> {
    Ok(format!(
        "---\n{}---\n{}",
        serde_yaml_ng::to_string(&policy(objects))?,
        serde_yaml_ng::to_string(&binding())?
    ))
}

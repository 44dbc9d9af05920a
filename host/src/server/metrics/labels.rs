//! The label values and label sets of the metrics: fixed outcome words, policy names and error
//! kinds, never images, namespaces or uids.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

/// How one admission request ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(
    non_camel_case_types,
    reason = "the variant names are the exported label values"
)]
pub enum Outcome {
    /// Admitted unchanged.
    allowed,
    /// Admitted with a patch.
    mutated,
    /// Denied by the policy.
    denied,
    /// The policy failed; admitted unchanged with a warning (fail-open).
    error_allowed,
    /// The policy failed; denied (fail-closed).
    error_denied,
    /// The request itself was broken (4xx).
    invalid,
}

/// Why no route took a request.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(
    non_camel_case_types,
    reason = "the variant names are the exported label values"
)]
pub enum Unrouted {
    /// No route has that path (404).
    not_found,
    /// The path exists, the method does not (405).
    method_not_allowed,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct UnroutedReason {
    pub(super) reason: Unrouted,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PolicyOutcome {
    pub(super) policy: String,
    pub(super) outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PolicyLabel {
    pub(super) policy: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ErrorLabels {
    pub(super) policy: String,
    pub(super) kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PolicyReload {
    pub(super) policy: String,
    pub(super) result: &'static str,
}

//! Namespaces the server never rewrites in, whatever reaches it: kube-system and pullthrough's
//! own. The registration's namespace selector already keeps their reviews away; this is the
//! second line, for a selector that was edited, removed, or never applied (a review posted by
//! hand, another webhook configuration pointing here).

use super::AppState;
use super::handlers::{Answered, Request};
use super::metrics::Outcome;

/// Namespaces pullthrough never rewrites in, whatever else is configured: its own (a broken
/// webhook could not restart itself) and the control plane's. The registration excludes them,
/// `serve` refuses a rewrite there should a review come anyway, and `scan` skips them.
pub fn never_rewritten(own_namespace: &str) -> Vec<String> {
    vec![own_namespace.to_owned(), "kube-system".to_owned()]
}

impl AppState {
    /// `answered`, without its patch when the review is for a protected namespace. A verdict
    /// (allowed or denied) and the policy's warnings stay: only the rewrite is refused.
    pub(super) fn protect(&self, policy: &str, fields: &Request, answered: Answered) -> Answered {
        let protected = self.protected_namespaces.contains(&fields.namespace);
        if !protected || answered.response.patch.is_none() {
            return answered;
        }
        tracing::warn!(
            uid = %fields.uid,
            policy,
            kind = %fields.kind,
            namespace = %fields.namespace,
            name = %fields.name,
            "rewrite refused: this namespace is never rewritten, yet its review reached the server (check the webhook's namespaceSelector)"
        );
        let mut response = answered.response;
        response.patch = None;
        response.patch_type = None;
        // First, and within the four warnings an admission carries: the policy's own are about
        // images left unchanged, which all of them now are.
        let warnings = response.warnings.get_or_insert_with(Vec::new);
        warnings.insert(
            0,
            format!(
                "pullthrough: namespace {} is never rewritten; images left unchanged",
                fields.namespace
            ),
        );
        warnings.truncate(pullthrough_policy::MAX_WARNINGS);
        Answered {
            outcome: if response.allowed {
                Outcome::allowed
            } else {
                Outcome::denied
            },
            response,
            images_rewritten: 0,
        }
    }
}

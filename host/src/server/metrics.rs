//! Prometheus metrics: requests by policy and outcome, latency, images rewritten, evaluation
//! errors, policy reloads, mirror checks and certificate expiry. Labels are policy names
//! (operator-chosen, few), fixed outcome words and error kinds — never images, namespaces or uids.

mod labels;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use labels::{ErrorLabels, PolicyLabel, PolicyOutcome, PolicyReload, UnroutedReason};
pub use labels::{Outcome, Unrouted};

/// Latency buckets from 100 µs to about 3.3 s: admission answers are sub-millisecond when
/// healthy, and the API server gives up at the webhook timeout (10 s by default).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Handles to one policy's series, resolved once so the request path does no label hashing and
/// no allocation.
#[derive(Debug, Clone)]
pub struct PolicyMetrics {
    outcomes: [Counter; 6],
    pub duration: Histogram,
    pub images_rewritten: Counter,
}

impl PolicyMetrics {
    pub fn record(&self, outcome: Outcome, seconds: f64) {
        self.count(outcome);
        self.duration.observe(seconds);
    }

    /// Counts a request whose body never arrived whole: it has no latency to observe.
    pub fn count(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].inc();
    }
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<PolicyOutcome, Counter>,
    duration: Family<PolicyLabel, Histogram, fn() -> Histogram>,
    images: Family<PolicyLabel, Counter>,
    errors: Family<ErrorLabels, Counter>,
    reloads: Family<PolicyReload, Counter>,
    unrouted: Family<UnroutedReason, Counter>,
    mirror_up: Family<PolicyLabel, Gauge>,
    mirror_choice: Family<PolicyLabel, Gauge>,
    mirror_transitions: Family<PolicyLabel, Counter>,
    cert_expiry: Gauge,
    policies: RwLock<HashMap<String, Arc<PolicyMetrics>>>,
}

const OUTCOMES: [Outcome; 6] = [
    Outcome::allowed,
    Outcome::mutated,
    Outcome::denied,
    Outcome::error_allowed,
    Outcome::error_denied,
    Outcome::invalid,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pullthrough");
        let requests = Family::<PolicyOutcome, Counter>::default();
        let duration: Family<PolicyLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let images = Family::<PolicyLabel, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let reloads = Family::<PolicyReload, Counter>::default();
        let unrouted = Family::<UnroutedReason, Counter>::default();
        let cert_expiry = Gauge::default();
        let mirror_up = Family::<PolicyLabel, Gauge>::default();
        let mirror_choice = Family::<PolicyLabel, Gauge>::default();
        let mirror_transitions = Family::<PolicyLabel, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests by policy and outcome",
            requests.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Time from request body read to response, by policy",
            duration.clone(),
        );
        registry.register(
            "images_rewritten",
            "Image references rewritten to the mirror, by policy",
            images.clone(),
        );
        registry.register(
            "evaluation_errors",
            "Policy evaluations that failed, by policy and error kind (timeout, memory, trap...)",
            errors.clone(),
        );
        registry.register(
            "policy_reloads",
            "Policy module reloads since start, by policy and result (accepted or rejected)",
            reloads.clone(),
        );
        registry.register(
            "unrouted_requests",
            "Requests no route serves, by reason (not_found, method_not_allowed)",
            unrouted.clone(),
        );
        for reason in [Unrouted::not_found, Unrouted::method_not_allowed] {
            drop(unrouted.get_or_create(&UnroutedReason { reason }));
        }
        registry.register(
            "mirror_up",
            "1 while the policy's mirror answers its check and images are rewritten to it, 0 while requests are admitted unchanged",
            mirror_up.clone(),
        );
        registry.register(
            "mirror_choice",
            "Place in the policy's priority order (0 the first) of the mirror images are rewritten to, -1 while none answers",
            mirror_choice.clone(),
        );
        registry.register(
            "mirror_transitions",
            "Times the policy's choice of mirror changed (with one mirror: it went down or came back)",
            mirror_transitions.clone(),
        );
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "Unix time at which the served certificate expires",
            cert_expiry.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            images,
            errors,
            reloads,
            unrouted,
            mirror_up,
            mirror_choice,
            mirror_transitions,
            cert_expiry,
            policies: RwLock::new(HashMap::new()),
        }
    }

    /// Creates every series of `policies` at zero, so a dashboard or an alert sees each metric
    /// from the first scrape on, before anything happened; and the one series of requests
    /// naming no policy, which can only be invalid.
    pub fn prepare(&self, policies: &[String], error_kinds: &[&'static str]) {
        for policy in policies {
            self.policy(policy);
            for kind in error_kinds {
                drop(self.errors.get_or_create(&ErrorLabels {
                    policy: policy.clone(),
                    kind,
                }));
            }
            self.set_reloads(policy, 0, 0);
        }
        drop(self.requests.get_or_create(&PolicyOutcome {
            policy: super::UNKNOWN_POLICY.to_owned(),
            outcome: Outcome::invalid,
        }));
    }

    /// Counts a request for a policy that does not exist: only `invalid` can happen to it.
    pub fn unknown_policy(&self) {
        self.requests
            .get_or_create(&PolicyOutcome {
                policy: super::UNKNOWN_POLICY.to_owned(),
                outcome: Outcome::invalid,
            })
            .inc();
    }

    /// Counts a request no route took.
    pub fn unrouted(&self, reason: Unrouted) {
        self.unrouted
            .get_or_create(&UnroutedReason { reason })
            .inc();
    }

    /// The series of `policy`, created on first use.
    pub fn policy(&self, policy: &str) -> Arc<PolicyMetrics> {
        if let Ok(map) = self.policies.read()
            && let Some(found) = map.get(policy)
        {
            return Arc::clone(found);
        }
        let label = PolicyLabel {
            policy: policy.to_owned(),
        };
        let outcomes = OUTCOMES.map(|outcome| {
            self.requests.get_or_create_owned(&PolicyOutcome {
                policy: policy.to_owned(),
                outcome,
            })
        });
        let handles = Arc::new(PolicyMetrics {
            outcomes,
            duration: self.duration.get_or_create_owned(&label),
            images_rewritten: self.images.get_or_create_owned(&label),
        });
        match self.policies.write() {
            Ok(mut map) => Arc::clone(map.entry(policy.to_owned()).or_insert(handles)),
            Err(_) => handles,
        }
    }

    /// Counts a failed evaluation; `kind` is the error's fixed label.
    pub fn evaluation_error(&self, policy: &str, kind: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels {
                policy: policy.to_owned(),
                kind,
            })
            .inc();
    }

    /// Publishes the reload counts the policy registry keeps. They only grow, so the counter
    /// moves up to them; `fetch_max` keeps two concurrent scrapes from adding a reload twice.
    pub fn set_reloads(&self, policy: &str, accepted: u64, rejected: u64) {
        for (result, count) in [("accepted", accepted), ("rejected", rejected)] {
            self.reloads
                .get_or_create(&PolicyReload {
                    policy: policy.to_owned(),
                    result,
                })
                .inner()
                .fetch_max(count, Ordering::Relaxed);
        }
    }

    /// Publishes a mirror check's state: the mirror chosen (by its place in priority order) or
    /// none; the transitions only grow, as the reloads.
    pub fn set_mirror(&self, policy: &str, choice: Option<usize>, transitions: u64) {
        let label = PolicyLabel {
            policy: policy.to_owned(),
        };
        self.mirror_up
            .get_or_create(&label)
            .set(i64::from(choice.is_some()));
        self.mirror_choice
            .get_or_create(&label)
            .set(choice.map_or(-1, |index| i64::try_from(index).unwrap_or(i64::MAX)));
        self.mirror_transitions
            .get_or_create(&label)
            .inner()
            .fetch_max(transitions, Ordering::Relaxed);
    }

    pub fn set_certificate_expiry(&self, unix_seconds: i64) {
        self.cert_expiry.set(unix_seconds);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;

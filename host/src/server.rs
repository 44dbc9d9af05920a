//! The admission HTTP server: the axum router and its handlers, metrics, and the TLS listener
//! with graceful shutdown. [`router`] needs no socket, so tests drive it directly.

mod body;
mod deadline;
mod early_answer;
mod handlers;
mod linger;
mod listener;
pub mod metrics;
mod plaintext;
mod protected;
mod unrouted;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use body::{BODY_READ_TIMEOUT, BUDGET_WAIT, BodyBudget, MAX_BODY_BYTES};
pub use handlers::FailureMode;
pub use listener::{serve, shutdown_signal};
pub use protected::never_rewritten;

use crate::policies::{EvaluationError, PolicyRegistry};
use crate::tls::CertResolver;
use metrics::{Metrics, Outcome};

/// The path the API server posts reviews to for the default policy.
pub const MUTATE_PATH: &str = "/mutate";

/// The port `serve` listens on unless told otherwise; the Service exposes it as
/// port 443 (`SERVICE_PORT` in the cluster objects).
pub const LISTEN_PORT: u16 = 8443;

/// The port `serve` answers `GET /metrics` on (plain HTTP), apart from the admission port so a
/// NetworkPolicy can open each to what needs it.
pub const METRICS_PORT: u16 = 9090;

/// The bytes of request bodies held at once unless told otherwise (`serve
/// --max-buffered-body-mib`): four of the largest reviews, twice what the install's two guest
/// slots evaluate at once. With the parsing and the guests' own copies, 16 clients posting 7 MB
/// reviews peaked at 225 to 243 MiB, inside the install's 320 MiB limit (BENCHMARKS.md,
/// "Request bodies under attack").
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 4 * MAX_BODY_BYTES;

/// Label for requests addressed to a policy that does not exist: the path is client-chosen and
/// must not become a label value.
const UNKNOWN_POLICY: &str = "unknown";

/// What every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: PolicyRegistry,
    pub metrics: Arc<Metrics>,
    pub failure_mode: FailureMode,
    /// The served certificate, for `/readyz` and the expiry metric; `None` when TLS is terminated
    /// elsewhere (tests driving the router directly).
    pub certs: Option<Arc<CertResolver>>,
    /// Set on SIGTERM: `/readyz` fails so the endpoints drop this replica, while it keeps
    /// serving the reviews still routed to it.
    pub shutting_down: Arc<AtomicBool>,
    /// The bytes of request bodies all requests may hold at once.
    pub body_budget: Arc<BodyBudget>,
    /// Namespaces never rewritten in, whatever reaches the server: `kube-system` and
    /// pullthrough's own.
    pub protected_namespaces: Arc<[String]>,
}

impl AppState {
    pub fn new(registry: PolicyRegistry, failure_mode: FailureMode) -> Self {
        let metrics = Arc::new(Metrics::new());
        metrics.prepare(&registry.policy_names(), EvaluationError::KINDS);
        Self {
            registry,
            metrics,
            failure_mode,
            certs: None,
            shutting_down: Arc::new(AtomicBool::new(false)),
            body_budget: Arc::new(BodyBudget::new(DEFAULT_BODY_BUDGET_BYTES)),
            protected_namespaces: never_rewritten(crate::NAME).into(),
        }
    }

    /// Counts and logs a request rejected before evaluation, with the reason it was given;
    /// `started` is when its body had been read, `None` when it never was (no latency then).
    fn invalid(&self, policy: &str, started: Option<Instant>, status: StatusCode, reason: &str) {
        crate::telemetry::admission_answered(
            &tracing::Span::current(),
            policy,
            &Outcome::invalid,
            0,
            true,
        );
        if self.registry.has_policy(policy) {
            let series = self.metrics.policy(policy);
            match started {
                Some(started) => series.record(Outcome::invalid, started.elapsed().as_secs_f64()),
                None => series.count(Outcome::invalid),
            }
        } else {
            self.metrics.unknown_policy();
        }
        // An unknown name is client-chosen: bounded in the log, never a label.
        let policy: String = policy.chars().take(100).collect();
        tracing::warn!(
            %policy,
            status = status.as_u16(),
            reason = reason.trim_end(),
            "admission request rejected"
        );
    }
}

/// The admission port's routes: `POST /mutate`, `POST /validate/{policy}`, `GET /healthz`,
/// `GET /readyz`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(MUTATE_PATH, post(handlers::mutate))
        .route("/validate/{policy}", post(handlers::validate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(unrouted::not_found)
        .method_not_allowed_fallback(unrouted::method_not_allowed)
        .layer(axum::middleware::from_fn(early_answer::finish_unread_body))
        .with_state(state)
}

/// The metrics port's routes: `GET /metrics`, and `GET /healthz` for a probe of that port.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when every policy is loaded, the served certificate is inside its validity window, and
/// no SIGTERM has come.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    if !state.registry.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "policies not loaded\n").into_response();
    }
    if let Some(certs) = &state.certs
        && !certs.is_valid(SystemTime::now())
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "serving certificate is not valid now\n",
        )
            .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    for status in state.registry.statuses() {
        state
            .metrics
            .set_reloads(&status.name, status.reloads_ok, status.reloads_rejected);
    }
    for mirror in state.registry.mirror_statuses() {
        state
            .metrics
            .set_mirror(&mirror.policy, mirror.choice, mirror.transitions);
    }
    if let Some(certs) = &state.certs {
        let expiry = certs
            .current()
            .info
            .not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        state.metrics.set_certificate_expiry(expiry);
    }
    match state.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "could not encode metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

//! `POST /mutate` and `POST /validate/{policy}`: read a bounded body, parse the AdmissionReview,
//! evaluate, and answer — a verdict is 200, a broken request is a 4xx with a message saying what
//! was wrong, and a policy failure is fail-open or fail-closed as the operator chose.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::{Instrument as _, Span};

use super::AppState;
use super::body::{self, BodyError};
use super::deadline::deadline;
use super::metrics::Outcome;
use crate::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use crate::policies::EvaluationError;

/// What the server does when a policy cannot give a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Admit unchanged with a warning (matches `failurePolicy: Ignore`).
    Open,
    /// Deny with the reason.
    Closed,
}

pub async fn mutate(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received = Instant::now();
    review(
        &state,
        Route::Default,
        query.as_deref(),
        received,
        &headers,
        body,
    )
    .instrument(crate::telemetry::admission_span(&headers))
    .await
}

pub async fn validate(
    State(state): State<AppState>,
    Path(policy): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received = Instant::now();
    review(
        &state,
        Route::Named(policy),
        query.as_deref(),
        received,
        &headers,
        body,
    )
    .instrument(crate::telemetry::admission_span(&headers))
    .await
}

/// Which policy a review is for.
enum Route {
    /// `POST /mutate`: the policies file's first entry at the time it is evaluated.
    Default,
    /// `POST /validate/{policy}`.
    Named(String),
}

fn plain(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// A request refused before any policy saw it: the status and the message the client gets,
/// which is also what the log line says.
struct Rejection {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = plain(self.status, self.message);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn plain_rejection(status: StatusCode, message: String) -> Rejection {
    Rejection {
        status,
        message,
        retry_after: None,
    }
}

impl From<BodyError> for Rejection {
    fn from(error: BodyError) -> Self {
        Self {
            status: error.status(),
            retry_after: error.retry_after(),
            message: format!("{}\n", crate::report::one_line(&error)),
        }
    }
}

/// The request fields every log line of a review carries.
pub(super) struct Request {
    pub(super) uid: String,
    pub(super) kind: String,
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) operation: String,
}

impl Request {
    fn of(request: &AdmissionRequest) -> Self {
        Self {
            uid: request.uid().to_owned(),
            kind: request.kind().to_owned(),
            namespace: request.namespace().to_owned(),
            name: request.name().to_owned(),
            operation: request.operation().to_owned(),
        }
    }
}

/// What a review answered, for the metrics and the log line.
pub(super) struct Answered {
    pub(super) response: AdmissionResponse,
    pub(super) outcome: Outcome,
    pub(super) images_rewritten: usize,
}

/// One review: read, parse, evaluate, answer, record.
async fn review(
    state: &AppState,
    route: Route,
    query: Option<&str>,
    received: Instant,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let label = match &route {
        // Only for a review refused before evaluation: the evaluation names its own policy.
        Route::Default => state.registry.default_policy(),
        Route::Named(name) => name.clone(),
    };
    let refuse = |rejection: Rejection, started: Option<Instant>| {
        state.invalid(&label, started, rejection.status, &rejection.message);
        rejection.into_response()
    };
    // Before the body is read: an unknown policy is 404 whatever its body.
    if let Route::Named(name) = &route
        && !state.registry.has_policy(name)
    {
        let message = format!("no policy named {name:?}\n");
        return refuse(plain_rejection(StatusCode::NOT_FOUND, message), None);
    }
    let deadline = match deadline(query, received) {
        Ok(deadline) => deadline,
        Err(error) => {
            let message = format!("{error}\n");
            return refuse(plain_rejection(StatusCode::BAD_REQUEST, message), None);
        }
    };
    let buffered = match body::read(&state.body_budget, headers, body, received.into()).await {
        Ok(buffered) => buffered,
        Err(error) => return refuse(error.into(), None),
    };
    // Latency counts from here: the upload is the client's time, not ours.
    let started = Instant::now();
    let request = match parse(&buffered.bytes) {
        Ok(request) => request,
        Err(rejection) => return refuse(rejection, Some(started)),
    };
    let fields = Request::of(&request);
    crate::telemetry::admission_request(
        &Span::current(),
        &fields.uid,
        &fields.operation,
        &fields.kind,
        &fields.namespace,
    );
    let (policy, answered) = match evaluate(state, route, deadline, &fields, request).await {
        (policy, Ok(answered)) => (policy, answered),
        (_, Err(rejection)) => return refuse(rejection, Some(started)),
    };
    let Answered {
        response,
        outcome,
        images_rewritten,
    } = state.protect(&policy, &fields, answered);
    let warnings = response.warnings.clone().unwrap_or_default();
    let body = match serde_json::to_vec(&response.into_review()) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, uid = %fields.uid, "could not serialise the AdmissionReview response");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error\n".to_owned(),
            );
        }
    };
    // The body's share of the budget goes back once the answer no longer needs the request.
    drop(buffered);
    record(state, &policy, &fields, outcome, images_rewritten, started);
    for warning in &warnings {
        tracing::warn!(uid = %fields.uid, policy, kind = %fields.kind, namespace = %fields.namespace, name = %fields.name, %warning, "admitted with a warning");
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The body as an AdmissionRequest, or the 400 that says what is wrong with it.
fn parse(bytes: &[u8]) -> Result<AdmissionRequest, Rejection> {
    AdmissionReview::from_slice(bytes)
        .map(|review| review.request)
        .map_err(|error| {
            plain_rejection(
                StatusCode::BAD_REQUEST,
                format!("{}\n", crate::report::one_line(&error)),
            )
        })
}

/// The policy's verdict, or the operator's fail-open or fail-closed answer when it gave none,
/// with the name of the policy that was asked; a policy that does not exist (any more) is a 404.
async fn evaluate(
    state: &AppState,
    route: Route,
    deadline: Option<Instant>,
    fields: &Request,
    request: AdmissionRequest,
) -> (String, Result<Answered, Rejection>) {
    let (policy, result) = match route {
        Route::Default => state.registry.evaluate_default_by(request, deadline).await,
        Route::Named(policy) => {
            let result = state.registry.evaluate_by(&policy, request, deadline).await;
            (policy, result)
        }
    };
    let answered = match result {
        Ok(evaluation) => {
            let outcome = if !evaluation.response.allowed {
                Outcome::denied
            } else if evaluation.response.patch.is_some() {
                Outcome::mutated
            } else {
                Outcome::allowed
            };
            Ok(Answered {
                response: evaluation.response,
                outcome,
                images_rewritten: evaluation.images_rewritten,
            })
        }
        Err(EvaluationError::UnknownPolicy(name)) => Err(plain_rejection(
            StatusCode::NOT_FOUND,
            format!("no policy named {name:?}\n"),
        )),
        Err(error) => Ok(failed(state, &policy, fields, &error)),
    };
    (policy, answered)
}

/// A policy that gave no verdict: logged once here in full; the API server and the user get the
/// generic reason.
fn failed(state: &AppState, policy: &str, fields: &Request, error: &EvaluationError) -> Answered {
    let error_kind = error.kind();
    state.metrics.evaluation_error(policy, error_kind);
    tracing::warn!(
        error = error as &dyn std::error::Error,
        uid = %fields.uid,
        policy,
        kind = %fields.kind,
        namespace = %fields.namespace,
        name = %fields.name,
        error_kind,
        "policy evaluation failed"
    );
    let uid = fields.uid.clone();
    let (response, outcome) = match state.failure_mode {
        FailureMode::Open => (
            AdmissionResponse::allow(uid).with_warning(format!(
                "pullthrough: policy {policy:?} failed ({error_kind}); admitted unchanged"
            )),
            Outcome::error_allowed,
        ),
        FailureMode::Closed => (
            AdmissionResponse::deny(
                uid,
                500,
                format!("pullthrough: policy {policy:?} failed ({error_kind})"),
            ),
            Outcome::error_denied,
        ),
    };
    Answered {
        response,
        outcome,
        images_rewritten: 0,
    }
}

/// The metrics and the one log line of an answered review.
fn record(
    state: &AppState,
    policy: &str,
    fields: &Request,
    outcome: Outcome,
    images_rewritten: usize,
    started: Instant,
) {
    let elapsed = started.elapsed();
    let series = state.metrics.policy(policy);
    series.record(outcome, elapsed.as_secs_f64());
    let failed = matches!(outcome, Outcome::error_allowed | Outcome::error_denied);
    crate::telemetry::admission_answered(
        &Span::current(),
        policy,
        &outcome,
        images_rewritten,
        failed,
    );
    if images_rewritten > 0 {
        series.images_rewritten.inc_by(images_rewritten as u64);
    }
    tracing::info!(
        uid = %fields.uid,
        policy,
        kind = %fields.kind,
        namespace = %fields.namespace,
        name = %fields.name,
        operation = %fields.operation,
        outcome = ?outcome,
        images_rewritten,
        duration_us = elapsed.as_micros() as u64,
        "admission"
    );
}

//! `POST /mutate` and `POST /validate/{policy}`: read a bounded body, parse the AdmissionReview,
//! evaluate, and answer — a verdict is 200, a broken request is a 4xx with a message saying what
//! was wrong, and a policy failure is fail-open or fail-closed as the operator chose.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use super::AppState;
use super::metrics::Outcome;
use crate::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use crate::policies::EvaluationError;

/// The largest review body accepted. An UPDATE review carries the object twice (`object` and
/// `oldObject`), and the API server escapes `<` as six bytes: the largest it sent in
/// e2e-cluster/47-limits.bats was 6,292,826 bytes (BENCHMARKS.md).
pub const MAX_BODY_BYTES: usize = 7 * 1024 * 1024;

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
    let deadline = deadline(query.as_deref());
    review(
        &state,
        state.registry.default_policy(),
        deadline,
        &headers,
        body,
    )
    .await
}

pub async fn validate(
    State(state): State<AppState>,
    Path(policy): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let deadline = deadline(query.as_deref());
    review(&state, &policy, deadline, &headers, body).await
}

/// When the answer must be ready: the API server appends `?timeout=` (its `timeoutSeconds`) to
/// the webhook URL and gives up after that long, counting its own dial and TLS handshake. We
/// answer a quarter of it plus 100 ms early (2.15 s of the default 3 s), so a slow policy meets
/// the failure mode chosen here rather than the API server's timeout, on a loaded node too.
fn deadline(query: Option<&str>) -> Option<Instant> {
    let timeout = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("timeout="))
        .and_then(go_duration)?;
    let margin = timeout / 4 + Duration::from_millis(100);
    Some(Instant::now() + timeout.saturating_sub(margin))
}

/// A Go `time.Duration` string as the API server writes it: `10s`, `1m0s`, `1.5s`, `500ms`.
fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "\u{b5}s" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(value * seconds).ok()?;
        rest = after;
    }
    (!text.is_empty()).then_some(total)
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
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        plain(self.status, self.message)
    }
}

fn plain_rejection(status: StatusCode, message: String) -> Rejection {
    Rejection { status, message }
}

/// Reads at most [`MAX_BODY_BYTES`]; a declared or actual larger body is 413.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Rejection> {
    let too_large = || {
        plain_rejection(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the {MAX_BODY_BYTES} byte (7 MiB) limit\n"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(plain_rejection(
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {error}\n"),
        )),
    }
}

/// The request fields every log line of a review carries.
struct Request {
    uid: String,
    kind: String,
    namespace: String,
    name: String,
    operation: String,
}

impl Request {
    fn of(request: &AdmissionRequest) -> Self {
        let fields = request.fields();
        let text =
            |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
        let metadata = fields.get("object").and_then(|o| o.get("metadata"));
        // `request.name` is empty on a CREATE with generateName: then the prefix is the name.
        let name = [
            fields.get("name"),
            metadata.and_then(|m| m.get("name")),
            metadata.and_then(|m| m.get("generateName")),
        ]
        .into_iter()
        .map(text)
        .find(|name| !name.is_empty())
        .unwrap_or_default();
        Self {
            uid: request.uid().to_owned(),
            kind: text(fields.get("kind").and_then(|k| k.get("kind"))),
            namespace: text(fields.get("namespace")),
            name,
            operation: text(fields.get("operation")),
        }
    }
}

/// What a review answered, for the metrics and the log line.
struct Answered {
    response: AdmissionResponse,
    outcome: Outcome,
    images_rewritten: usize,
}

/// One review: parse, evaluate, answer, record.
async fn review(
    state: &AppState,
    policy: &str,
    deadline: Option<Instant>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let request = match parse(headers, body).await {
        Ok(request) => request,
        Err(rejection) => {
            state.invalid(policy, started, rejection.status, &rejection.message);
            return rejection.into_response();
        }
    };
    let fields = Request::of(&request);
    let answered = match evaluate(state, policy, deadline, &fields, request).await {
        Ok(answered) => answered,
        Err(rejection) => {
            state.invalid(policy, started, rejection.status, &rejection.message);
            return rejection.into_response();
        }
    };
    let Answered {
        response,
        outcome,
        images_rewritten,
    } = answered;
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
    record(state, policy, &fields, outcome, images_rewritten, started);
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

/// The bounded body as an AdmissionRequest, or the 4xx that says what is wrong with it.
async fn parse(headers: &HeaderMap, body: Body) -> Result<AdmissionRequest, Rejection> {
    let bytes = read_body(headers, body).await?;
    AdmissionReview::from_slice(&bytes)
        .map(|review| review.request)
        .map_err(|error| {
            plain_rejection(
                StatusCode::BAD_REQUEST,
                format!("{}\n", crate::report::one_line(&error)),
            )
        })
}

/// The policy's verdict, or the operator's fail-open or fail-closed answer when it gave none;
/// a policy that does not exist is a 404.
async fn evaluate(
    state: &AppState,
    policy: &str,
    deadline: Option<Instant>,
    fields: &Request,
    request: AdmissionRequest,
) -> Result<Answered, Rejection> {
    match state.registry.evaluate_by(policy, request, deadline).await {
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
        Err(error) => Ok(failed(state, policy, fields, &error)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_as_the_api_server_writes_them() {
        let cases = [
            ("10s", Some(Duration::from_secs(10))),
            ("1m0s", Some(Duration::from_secs(60))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("500ms", Some(Duration::from_millis(500))),
            ("", None),
            ("10", None),
            ("ten", None),
            ("5d", None),
        ];
        for (text, expected) in cases {
            assert_eq!(go_duration(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_answer_is_due_before_the_api_server_gives_up() {
        let before = Instant::now();
        let due = deadline(Some("timeout=3s")).expect("a deadline");
        let left = due - before;
        // 3 s less 0.75 s + 0.1 s.
        assert!(left <= Duration::from_millis(2160), "{left:?}");
        assert!(left > Duration::from_millis(2050), "{left:?}");
        assert_eq!(deadline(Some("dryRun=true")), None);
        assert_eq!(deadline(None), None);
        assert_eq!(deadline(Some("timeout=soon")), None);
    }
}

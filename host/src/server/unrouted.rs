//! Requests no route takes: an unknown path (404) or a wrong method on a known one (405),
//! answered with what exists, counted, and logged, since a misconfigured webhook path or a
//! probe pointed at the wrong port shows up here first.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::metrics::Unrouted;

/// The fallback for paths no route serves.
pub(super) async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    answer(
        &state,
        &request,
        Unrouted::not_found,
        StatusCode::NOT_FOUND,
        "no such path: admission reviews are POSTed to /mutate or /validate/{policy}; \
         /healthz and /readyz answer GET (metrics are on --metrics-addr)",
    )
}

/// The fallback for a known path asked with the wrong method.
pub(super) async fn method_not_allowed(
    State(state): State<AppState>,
    request: Request,
) -> Response {
    let allowed = if request.uri().path() == super::MUTATE_PATH
        || request.uri().path().starts_with("/validate/")
    {
        "POST"
    } else {
        "GET"
    };
    let message = format!(
        "{} is not served here: {} answers {allowed}",
        request.method(),
        request.uri().path()
    );
    let mut response = answer(
        &state,
        &request,
        Unrouted::method_not_allowed,
        StatusCode::METHOD_NOT_ALLOWED,
        &message,
    );
    if let Ok(value) = allowed.parse() {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn answer(
    state: &AppState,
    request: &Request,
    reason: Unrouted,
    status: StatusCode,
    message: &str,
) -> Response {
    state.metrics.unrouted(reason);
    let level_info = request.method() == Method::GET || request.method() == Method::HEAD;
    // A path is client-chosen: logged, bounded, never a metric label.
    let path: String = request.uri().path().chars().take(200).collect();
    if level_info {
        tracing::info!(method = %request.method(), %path, status = status.as_u16(), "request rejected: {message}");
    } else {
        tracing::warn!(method = %request.method(), %path, status = status.as_u16(), "request rejected: {message}");
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

//! OpenTelemetry traces: one span per admission, exported over OTLP when the standard
//! `OTEL_*` variables ask for it, and nothing at all otherwise. The only module that names the
//! OpenTelemetry crates.
//!
//! The admission span is a `tracing` span of its own target, which only the OpenTelemetry layer
//! enables: with traces off no layer wants it, so creating and recording it costs one check of a
//! cached callsite interest, and the log lines never show it.

use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The target of the spans this module exports, and of nothing else.
pub(crate) const TARGET: &str = "pullthrough::traces";

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one.
const SERVICE_NAME: &str = "pullthrough";

/// Why traces cannot be set up as the environment asks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `OTEL_TRACES_EXPORTER` names an exporter this build does not have.
    #[error("OTEL_TRACES_EXPORTER must be otlp or none, got {0:?}")]
    Exporter(String),
    /// The OTLP protocol is one this build does not speak.
    #[error("{variable} must be http/protobuf (the collector's port 4318), got {value:?}")]
    Protocol {
        /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`.
        variable: &'static str,
        /// What it says.
        value: String,
    },
    /// The exporter refused the rest of its configuration (endpoint, headers, timeout...).
    #[error("cannot set up the OTLP trace exporter")]
    Build(#[source] opentelemetry_otlp::ExporterBuildError),
}

/// Whether to export traces, read from the environment (see [`Setting::from_env`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// No exporter, no spans.
    Off,
    /// OTLP over HTTP, configured by the `OTEL_EXPORTER_OTLP_*` variables.
    Otlp,
}

impl Setting {
    /// Traces are on when `OTEL_TRACES_EXPORTER` is `otlp`, or when it is unset and an OTLP
    /// endpoint is given; `none`, or `OTEL_SDK_DISABLED=true`, turns them off. Unlike the
    /// specification's default (`otlp`), nothing set means off: a webhook must not try to reach
    /// a collector nobody runs. `var` looks a variable up (the process environment in `main`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(Self::Off);
        }
        let on = match var("OTEL_TRACES_EXPORTER").map(|v| v.trim().to_ascii_lowercase()) {
            Some(exporter) if exporter == "none" => false,
            Some(exporter) if exporter == "otlp" => true,
            Some(other) if !other.is_empty() => return Err(Error::Exporter(other)),
            _ => [
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ]
            .iter()
            .any(|name| var(name).is_some_and(|v| !v.trim().is_empty())),
        };
        if !on {
            return Ok(Self::Off);
        }
        for variable in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(value) = var(variable) {
                if value.trim() != "http/protobuf" {
                    return Err(Error::Protocol { variable, value });
                }
                break;
            }
        }
        Ok(Self::Otlp)
    }
}

/// The running exporter. Dropping it exports what is still buffered, so the spans of the last
/// admissions before a shutdown reach the collector.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            eprintln!("warning: could not export the last spans: {error}");
        }
    }
}

impl Traces {
    /// Builds the OTLP exporter and its batching processor from the `OTEL_EXPORTER_OTLP_*`,
    /// `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER*`, `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
    /// variables (the OpenTelemetry SDK reads them itself).
    pub(crate) fn start() -> Result<Self, Error> {
        // The exporter's HTTP client is reqwest's, built with rustls and no provider of its own
        // (the module fetcher's build of it): it needs the process's, and this runs before
        // `serve` would install it.
        crate::tls::install_default_provider();
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()
            .map_err(Error::Build)?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build();
        Ok(Self { provider })
    }

    /// The layer that turns the admission spans into OpenTelemetry spans.
    pub(crate) fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("pullthrough"))
            // The attributes are the admission's own; the code location, target, thread and the
            // busy and idle times of a span polled across await points tell an operator nothing.
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            // A static filter (cached per callsite): only this module's target, which has spans
            // and no events.
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target(TARGET, tracing::Level::TRACE),
            )
    }
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), named `pullthrough`
/// unless those name it.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name(SERVICE_NAME).build()
    }
}

/// The span of one admission review: a child of the API server's trace when its request
/// carries a W3C `traceparent` (kube-apiserver's tracing sends one), else a trace of its own.
/// The handlers fill it in with [`admission_request`] and [`admission_answered`], which names
/// the policy: `/mutate` follows the policies file's first entry as it is when evaluated.
pub fn admission_span(headers: &http::HeaderMap) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "admission",
        otel.kind = "server",
        otel.status_code = Empty,
        pullthrough.policy = Empty,
        pullthrough.uid = Empty,
        pullthrough.operation = Empty,
        pullthrough.kind = Empty,
        k8s.namespace.name = Empty,
        pullthrough.outcome = Empty,
        pullthrough.images_rewritten = Empty,
        pullthrough.guest_us = Empty,
    );
    if !span.is_disabled() {
        let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
            .extract(&Headers(headers));
        // A parent is set before the span is first entered; it cannot fail then.
        let _ = span.set_parent(parent);
    }
    span
}

/// What the review asks, once it parsed.
pub fn admission_request(span: &Span, uid: &str, operation: &str, kind: &str, namespace: &str) {
    span.record("pullthrough.uid", uid);
    span.record("pullthrough.operation", operation);
    span.record("pullthrough.kind", kind);
    span.record("k8s.namespace.name", namespace);
}

/// Which policy answered and how; `failed` marks the span's status as an error (the policy
/// failed, or the request was broken).
pub fn admission_answered(
    span: &Span,
    policy: &str,
    outcome: &dyn std::fmt::Debug,
    images_rewritten: usize,
    failed: bool,
) {
    if span.is_disabled() {
        return;
    }
    // An unknown policy's name is the client's, from the path: bounded, as in the log.
    let policy: String = policy.chars().take(100).collect();
    span.record("pullthrough.policy", policy);
    span.record("pullthrough.outcome", tracing::field::debug(outcome));
    // Signed: OTLP integers are i64, and the OpenTelemetry layer exports a u64 as a string.
    span.record(
        "pullthrough.images_rewritten",
        i64::try_from(images_rewritten).unwrap_or(i64::MAX),
    );
    if failed {
        span.record("otel.status_code", "error");
    }
}

/// Runs `guest`, and records on `span` how long it took when the span is recorded at all.
pub(crate) fn time_guest<R>(span: &Span, guest: impl FnOnce() -> R) -> R {
    if span.is_disabled() {
        return guest();
    }
    let started = std::time::Instant::now();
    let result = guest();
    let micros = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
    span.record("pullthrough.guest_us", micros);
    result
}

/// A request's headers as the propagator reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests;

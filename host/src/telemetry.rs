//! Logging: text or JSON lines on stderr, with the noise of our dependencies filtered out and
//! control characters in field values escaped; and OpenTelemetry traces of the admissions when
//! the environment asks for them ([`traces`]).

mod batched;
mod text;
mod traces;
mod worker_lines;

use std::io::IsTerminal as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use batched::flush;
pub(crate) use traces::time_guest;
pub use traces::{
    Setting as TraceSetting, Traces, admission_answered, admission_request, admission_span,
};
pub use worker_lines::{worker_idle, worker_stops};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Targets that log at info or debug about their own internals on every connection or compile;
/// only their warnings concern an operator.
const NOISY: &[&str] = &[
    "cranelift_codegen",
    "cranelift_frontend",
    "wasmtime",
    "wasmtime_cranelift",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tower",
    "kube_client",
    "kube",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
    "reqwest",
    "oci_client",
];

/// Targets that log, as errors, failures their callers also return to us: the certificate
/// verifier of the module fetches logs `UnknownIssuer` before the connection's error carries it
/// to the one line we write. Off unless the operator names them.
const ECHOES: &[&str] = &["rustls_platform_verifier"];

/// Why telemetry cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `--log` directives do not parse.
    #[error("invalid --log filter")]
    Filter(#[source] tracing_subscriber::filter::ParseError),
    /// The `OTEL_*` variables ask for traces this build cannot send.
    #[error("invalid trace configuration")]
    Traces(#[from] traces::Error),
}

/// Builds the filter: the operator's directives, then a `warn` cap on each noisy target and
/// nothing from each echoing one, unless the operator named that target.
pub fn filter(directives: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let mut filter = EnvFilter::builder().parse(directives)?;
    for target in NOISY {
        if !directives.contains(target) {
            filter = filter.add_directive(format!("{target}=warn").parse()?);
        }
    }
    for target in ECHOES {
        if !directives.contains(target) {
            filter = filter.add_directive(format!("{target}=off").parse()?);
        }
    }
    Ok(filter)
}

/// Installs the global subscriber with `directives` (see [`filter`]). `serving` is for the
/// admission server: its lines are written in batches by a thread of their own when stderr is a
/// pipe or a socket ([`flush`] writes what is held), and it exports the traces the `OTEL_*`
/// variables configure ([`TraceSetting::from_env`]). Call once, from `main`, and keep what it
/// returns until the end: dropping it exports the last spans.
pub fn init(format: LogFormat, directives: &str, serving: bool) -> Result<Option<Traces>, Error> {
    // The admission spans are for the trace exporter alone: they never show in the log lines. A
    // directive, not a function, so the callsite's "never" is cached: with traces off creating
    // an admission span is one load of that cached interest.
    let off = format!("{}=off", traces::TARGET)
        .parse()
        .map_err(Error::Filter)?;
    let logs = filter(directives)
        .map_err(Error::Filter)?
        .add_directive(off);
    let setting = if serving {
        TraceSetting::from_env(|name| std::env::var(name).ok())?
    } else {
        TraceSetting::Off
    };
    let traces = match setting {
        TraceSetting::Off => None,
        TraceSetting::Otlp => Some(Traces::start()?),
    };
    // Colour only on a terminal: escape codes in a log file or collector break every grep.
    // One-shot commands write directly: their lines mix with progress and results on stderr.
    let output = if serving {
        batched::LogOutput::for_server()
    } else {
        batched::LogOutput::direct()
    };
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(output);
    let lines = match format {
        LogFormat::Text => lines
            .fmt_fields(text::EscapedFields)
            .with_filter(logs)
            .boxed(),
        LogFormat::Json => lines.event_format(JsonLines).with_filter(logs).boxed(),
    };
    // Ignore a second init: tests may share a process with a subscriber already set. No
    // `Option` layer when traces are off: an absent layer's interest is "always", which would
    // turn the admission span's cached "never" into a filter call per request.
    let logged = tracing_subscriber::registry().with(lines);
    let _ = match &traces {
        Some(traces) => logged.with(traces.layer()).try_init(),
        None => logged.try_init(),
    };
    Ok(traces)
}

/// One JSON object per event: `timestamp`, `level`, `target`, the message and every field at the
/// top level, numbers and booleans as such, and a list (`names = ?names`) as a JSON array rather
/// than the string tracing-subscriber's JSON format would make of it.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut object = Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        object.insert("timestamp".to_owned(), Value::String(now));
        let metadata = event.metadata();
        object.insert(
            "level".to_owned(),
            Value::String(metadata.level().to_string()),
        );
        event.record(&mut JsonFields(&mut object));
        object.insert(
            "target".to_owned(),
            Value::String(metadata.target().to_owned()),
        );
        writeln!(writer, "{}", Value::Object(object))
    }
}

/// Collects an event's fields as JSON values.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl JsonFields<'_> {
    fn insert(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, crate::report::one_line(value).into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        // The Debug text of a list of strings or numbers (`["a", "b"]`) is a JSON array.
        let value = if text.starts_with('[') {
            serde_json::from_str::<Value>(&text)
                .ok()
                .filter(Value::is_array)
                .unwrap_or(Value::String(text))
        } else {
            Value::String(text)
        };
        self.insert(field, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_targets_are_capped_unless_named() {
        let filter = filter("debug").expect("filter").to_string();
        assert!(filter.contains("hyper=warn"), "{filter}");
        assert!(filter.contains("wasmtime=warn"), "{filter}");
        assert!(filter.contains("rustls_platform_verifier=off"), "{filter}");
        let filter = filter_str("debug,hyper=trace");
        assert!(filter.contains("hyper=trace"), "{filter}");
        assert!(!filter.contains("hyper=warn"), "{filter}");
    }

    fn filter_str(directives: &str) -> String {
        filter(directives).expect("filter").to_string()
    }

    #[test]
    fn json_lines_keep_numbers_and_lists_as_json() {
        use tracing_subscriber::layer::SubscriberExt as _;

        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let names = vec!["a.example".to_owned(), "127.0.0.1".to_owned()];
            tracing::info!(names = ?names, count = 2_u64, ok = true, text = "x", "hello");
        });
        let text = lines.text();
        let mut line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        line.as_object_mut().expect("object").remove("timestamp");
        assert_eq!(
            line,
            serde_json::json!({
                "level": "INFO",
                "message": "hello",
                "names": ["a.example", "127.0.0.1"],
                "count": 2,
                "ok": true,
                "text": "x",
                "target": "pullthrough::telemetry::tests",
            })
        );
    }

    #[test]
    fn text_lines_escape_what_a_request_put_in_their_fields() {
        use tracing_subscriber::layer::SubscriberExt as _;

        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(text::EscapedFields)
                .with_ansi(false)
                .without_time()
                .with_target(false)
                .with_writer(move || writer.clone()),
        );
        let name = "web\n INFO admission uid=forged\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(uid = %"u-1", name = %name, kind = "Pod", count = 2_u64, "admission");
        });
        assert_eq!(
            lines.text(),
            " INFO admission uid=u-1 name=web\\n INFO admission uid=forged\\u{1b}[2J kind=\"Pod\" count=2\n"
        );
    }

    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("UTF-8")
        }
    }

    #[test]
    fn a_bad_directive_is_an_error() {
        assert!(filter("info,=[").is_err());
    }
}

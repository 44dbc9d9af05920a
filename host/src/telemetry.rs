//! Logging: text or JSON lines on stderr, with the noise of our dependencies filtered out and
//! control characters in field values escaped.

mod text;

use std::io::IsTerminal as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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
];

/// Builds the filter: the operator's directives, then a `warn` cap on each noisy target unless
/// the operator named that target.
pub fn filter(directives: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let mut filter = EnvFilter::builder().parse(directives)?;
    for target in NOISY {
        if !directives.contains(target) {
            filter = filter.add_directive(format!("{target}=warn").parse()?);
        }
    }
    Ok(filter)
}

/// Installs the global subscriber with `directives` (see [`filter`]). Call once, from `main`.
pub fn init(
    format: LogFormat,
    directives: &str,
) -> Result<(), tracing_subscriber::filter::ParseError> {
    let filter = filter(directives)?;
    // Colour only on a terminal: escape codes in a log file or collector break every grep.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // Ignore a second init: tests may share a process with a subscriber already set.
    let _ = match format {
        LogFormat::Text => builder.fmt_fields(text::EscapedFields).try_init(),
        LogFormat::Json => builder.event_format(JsonLines).try_init(),
    };
    Ok(())
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

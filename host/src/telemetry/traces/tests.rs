//! The `OTEL_*` settings, and an admission span as the exporter receives it.

use super::*;

fn setting(vars: &[(&str, &str)]) -> Result<Setting, String> {
    Setting::from_env(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .map_err(|error| error.to_string())
}

/// A case's name, its variables, and what they set up.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Result<Setting, String>);

#[test]
fn traces_are_off_unless_the_environment_asks() {
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    let cases: &[Case<'_>] = &[
        ("nothing set", &[], Ok(Setting::Off)),
        ("an endpoint", &[endpoint], Ok(Setting::Otlp)),
        (
            "a traces endpoint",
            &[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://c:4318/v1/traces",
            )],
            Ok(Setting::Otlp),
        ),
        (
            "an empty endpoint",
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")],
            Ok(Setting::Off),
        ),
        (
            "otlp, the endpoint left to its default",
            &[("OTEL_TRACES_EXPORTER", "otlp")],
            Ok(Setting::Otlp),
        ),
        (
            "none wins over an endpoint",
            &[("OTEL_TRACES_EXPORTER", "none"), endpoint],
            Ok(Setting::Off),
        ),
        (
            "the SDK disabled",
            &[
                ("OTEL_SDK_DISABLED", "TRUE"),
                ("OTEL_TRACES_EXPORTER", "otlp"),
            ],
            Ok(Setting::Off),
        ),
        (
            "http/protobuf said",
            &[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
            Ok(Setting::Otlp),
        ),
        (
            "the traces protocol wins over the general one",
            &[
                endpoint,
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            Ok(Setting::Otlp),
        ),
        (
            "another exporter",
            &[("OTEL_TRACES_EXPORTER", "zipkin")],
            Err("OTEL_TRACES_EXPORTER must be otlp or none, got \"zipkin\"".to_owned()),
        ),
        (
            "gRPC",
            &[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            Err(
                "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (the collector's port \
                     4318), got \"grpc\""
                    .to_owned(),
            ),
        ),
    ];
    for (name, vars, expected) in cases {
        assert_eq!(&setting(vars), expected, "{name}");
    }
}

#[test]
fn a_traceparent_makes_the_admission_a_child_of_the_callers_trace() {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let traces = Traces {
        provider: SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build(),
    };
    let subscriber = tracing_subscriber::registry().with(traces.layer());
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    tracing::subscriber::with_default(subscriber, || {
        let span = admission_span(&headers);
        admission_request(&span, "uid-1", "CREATE", "Pod", "team-a");
        let answer = time_guest(&span, || 42);
        admission_answered(&span, "mirror", &format_args!("mutated"), 2, false);
        assert_eq!(answer, 42);
        let context = span.context();
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    });
    // The simple exporter exported the span when it closed; the in-memory exporter forgets
    // what it holds on shutdown, so read it before `traces` drops.
    let spans = exporter.get_finished_spans().expect("spans");
    drop(traces);
    let [span] = spans.as_slice() else {
        panic!("one span, got {spans:?}");
    };
    assert_eq!(span.name, "admission");
    assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Server);
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    let attributes: std::collections::BTreeMap<String, String> = span
        .attributes
        .iter()
        .filter(|kv| kv.key.as_str() != "pullthrough.guest_us")
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    let expected: std::collections::BTreeMap<String, String> = [
        ("pullthrough.policy", "mirror"),
        ("pullthrough.uid", "uid-1"),
        ("pullthrough.operation", "CREATE"),
        ("pullthrough.kind", "Pod"),
        ("k8s.namespace.name", "team-a"),
        ("pullthrough.outcome", "mutated"),
        ("pullthrough.images_rewritten", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(attributes, expected);
    // Numbers go out as OTLP integers, not as the strings a u64 would become.
    let value = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(
        value("pullthrough.images_rewritten"),
        Some(opentelemetry::Value::I64(2))
    );
    assert!(
        matches!(value("pullthrough.guest_us"), Some(opentelemetry::Value::I64(us)) if us >= 0),
        "{:?}",
        span.attributes
    );
}

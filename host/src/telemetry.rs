//! Logging: text or JSON lines on stderr, with the noise of our dependencies filtered out.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

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
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    Ok(())
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
    fn a_bad_directive_is_an_error() {
        assert!(filter("info,=[").is_err());
    }
}

//! When a review's answer is due: the API server appends `?timeout=` (its `timeoutSeconds`) to
//! the webhook URL and gives up after that long, counting its own dial and TLS handshake.

use std::time::{Duration, Instant};

/// Why a `?timeout=` cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum DeadlineError {
    /// Shorter than the margin kept for the API server: nothing would be left to evaluate in.
    #[error(
        "query parameter timeout={given} leaves no time to answer: {margin:?} of it is kept for the \
         API server's own connection (the API server sends its timeoutSeconds, at least 1s)"
    )]
    TooShort { given: String, margin: Duration },
}

/// When the answer must be ready, counted from `received` (when the request's headers were
/// read). We answer a quarter of the timeout plus 100 ms early (2.15 s of the default 3 s), so a
/// slow policy meets the failure mode chosen here rather than the API server's timeout, on a
/// loaded node too. A `timeout` that is absent or not a duration sets no deadline.
pub(super) fn deadline(
    query: Option<&str>,
    received: Instant,
) -> Result<Option<Instant>, DeadlineError> {
    let Some(given) = query.and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("timeout="))
    }) else {
        return Ok(None);
    };
    let Some(timeout) = go_duration(given) else {
        return Ok(None);
    };
    let margin = timeout / 4 + Duration::from_millis(100);
    if timeout <= margin {
        return Err(DeadlineError::TooShort {
            // Client-chosen: bounded before it is echoed and logged.
            given: given.chars().take(32).collect(),
            margin,
        });
    }
    Ok(Some(received + (timeout - margin)))
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
        let received = Instant::now();
        let due = deadline(Some("timeout=3s"), received)
            .expect("a timeout to serve")
            .expect("a deadline");
        // 3 s less 0.75 s + 0.1 s.
        assert_eq!(due - received, Duration::from_millis(2150));
        let due = deadline(Some("timeout=1s"), received)
            .expect("the API server's shortest")
            .expect("a deadline");
        assert_eq!(due - received, Duration::from_millis(650));
        assert_eq!(deadline(Some("dryRun=true"), received), Ok(None));
        assert_eq!(deadline(None, received), Ok(None));
        assert_eq!(deadline(Some("timeout=soon"), received), Ok(None));
    }

    #[test]
    fn a_timeout_that_leaves_nothing_after_the_margin_is_refused() {
        let received = Instant::now();
        for given in ["1ms", "100ms", "133ms"] {
            let error =
                deadline(Some(&format!("timeout={given}")), received).expect_err("too short");
            assert!(
                error.to_string().starts_with(&format!(
                    "query parameter timeout={given} leaves no time to answer: "
                )),
                "{error}"
            );
        }
        assert_eq!(
            deadline(Some("timeout=1ms"), received)
                .expect_err("too short")
                .to_string(),
            "query parameter timeout=1ms leaves no time to answer: 100.25ms of it is kept for the API server's own connection (the API server sends its timeoutSeconds, at least 1s)"
        );
        // Just past the margin: a deadline, if a short one.
        assert!(matches!(
            deadline(Some("timeout=134ms"), received),
            Ok(Some(_))
        ));
    }
}

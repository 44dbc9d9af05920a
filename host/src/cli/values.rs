//! Flag value parsers shared by every command: a value clap accepts is one the command can use,
//! and a value it refuses gets a message saying what would work (clap prefixes the flag).

use std::net::IpAddr;

use clap::builder::BoolishValueParser;

/// Longest validity a certificate flag accepts: a hundred years keeps every date inside what
/// X.509 and the clock arithmetic can represent.
pub const MAX_DAYS: u64 = 36_500;

/// Booleans as people write them in an environment: `true`/`false`, `yes`/`no`, `on`/`off`,
/// `1`/`0` (and `y`/`n`, `t`/`f`), in any case.
pub fn boolish() -> BoolishValueParser {
    BoolishValueParser::new()
}

/// A count or duration that must be at least 1.
pub fn positive(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of at least 1".to_owned()),
    }
}

/// [`positive`] for flags whose consumer takes an `i32` (Kubernetes fields).
pub fn positive_i32(value: &str) -> Result<i32, String> {
    let n = positive(value)?;
    i32::try_from(n).map_err(|_| format!("must be at most {}", i32::MAX))
}

/// [`positive`] for flags whose consumer takes a `usize`.
pub fn positive_usize(value: &str) -> Result<usize, String> {
    let n = positive(value)?;
    usize::try_from(n).map_err(|_| format!("must be at most {}", usize::MAX))
}

/// A certificate validity in days: 1 to [`MAX_DAYS`]. A validity of 0 would write a
/// certificate that expires as it is written, and renew it every second.
pub fn days(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n @ 1..=MAX_DAYS) => Ok(n),
        _ => Err(format!(
            "must be a whole number of days from 1 to {MAX_DAYS}"
        )),
    }
}

/// A Kubernetes namespace or Service name: an RFC 1123 label (lowercase letters, digits and
/// `-`, starting and ending with a letter or digit, at most 63 characters).
pub fn dns_label(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if is_dns_label(value) {
        Ok(value.to_owned())
    } else {
        Err(
            "must be lowercase letters, digits and '-', starting and ending with a letter or \
             digit, at most 63 characters"
                .to_owned(),
        )
    }
}

/// A name a certificate can carry: a DNS name (labels as in [`dns_label`], any case, the first
/// may be `*`) or an IP address.
pub fn san(value: &str) -> Result<String, String> {
    if value.parse::<IpAddr>().is_ok() || is_dns_name(value) {
        Ok(value.to_owned())
    } else if value.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Err(
            "must be a DNS name (letters, digits, '-' and '.', optionally starting with '*.') \
             or an IP address"
                .to_owned(),
        )
    }
}

fn is_dns_label(label: &str) -> bool {
    label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
        && !label.is_empty()
}

fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|label| is_dns_label(&label.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_below_one_are_refused_with_the_rule() {
        assert_eq!(positive("5"), Ok(5));
        assert_eq!(positive("0"), Err("must be at least 1".to_owned()));
        assert_eq!(
            positive("-1"),
            Err("must be a whole number of at least 1".to_owned())
        );
        assert_eq!(
            positive_i32("3000000000"),
            Err("must be at most 2147483647".to_owned())
        );
        assert_eq!(days("365"), Ok(365));
        for bad in ["0", "36501", "x"] {
            assert_eq!(
                days(bad),
                Err("must be a whole number of days from 1 to 36500".to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_follow_rfc_1123() {
        for good in ["pullthrough", "team-a", "a1", &"a".repeat(63)] {
            assert_eq!(dns_label(good).as_deref(), Ok(good), "{good}");
        }
        assert_eq!(dns_label(""), Err("must not be empty".to_owned()));
        for bad in ["Team", "team_a", "-a", "a-", "a.b", &"a".repeat(64)] {
            assert!(dns_label(bad).is_err(), "{bad}");
        }
        for good in [
            "webhook.example.com",
            "Webhook.Example.com",
            "*.example.com",
            "localhost",
            "127.0.0.1",
            "::1",
        ] {
            assert_eq!(san(good).as_deref(), Ok(good), "{good}");
        }
        assert_eq!(
            san("bad name!"),
            Err("must be a DNS name (letters, digits, '-' and '.', optionally starting with '*.') or an IP address".to_owned())
        );
        for bad in ["", "a..b", "*", "a.*.b", "b\u{fc}cher.example"] {
            assert!(san(bad).is_err(), "{bad}");
        }
    }
}

//! The embedded policy's mirror check flags (a policies file entry has its own `mirrorCheck`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::mirror_check::{self, MirrorCheck};

/// Why the mirror check flags give no check.
#[derive(Debug, thiserror::Error)]
pub enum MirrorCheckArgsError {
    /// Several mirrors, and not one URL for each.
    #[error(
        "--mirror-check-url is given {given} time(s) for the {mirrors} mirrors of the settings: \
         give one per mirror, in the same order"
    )]
    UrlCount { given: usize, mirrors: usize },
    /// A URL given with --mirror-check-url cannot be checked.
    #[error("--mirror-check-url")]
    GivenUrl(#[source] mirror_check::Error),
    /// A URL derived from the mirrors cannot be checked.
    #[error("the mirror check URL derived from the mirrors {urls:?} (give --mirror-check-url)")]
    DerivedUrl {
        urls: Vec<String>,
        #[source]
        source: mirror_check::Error,
    },
}

/// How `serve` checks the mirror of the embedded policy.
#[derive(Debug, Clone, clap::Args)]
pub struct MirrorCheckArgs {
    /// Never check the mirror: rewrite even while it is down (the other --mirror-check flags are
    /// then ignored).
    #[arg(long, value_parser = crate::cli::values::boolish(), env = "PULLTHROUGH_NO_MIRROR_CHECK")]
    pub no_mirror_check: bool,
    /// Registry checked with `GET /v2/` (200 or 401 means up), `http(s)://host[:port]`; with
    /// several mirrors in the settings (`mirrors`), one per mirror in their order (repeatable
    /// or comma-separated). Default: https:// and the host of each mirror.
    #[arg(
        long,
        value_name = "URL",
        env = "PULLTHROUGH_MIRROR_CHECK_URL",
        value_delimiter = ',',
        conflicts_with = "policies"
    )]
    pub mirror_check_url: Vec<String>,
    /// Seconds between checks; a check with no answer within it fails.
    #[arg(long, value_name = "SECONDS", env = "PULLTHROUGH_MIRROR_CHECK_INTERVAL_SECONDS",
          default_value_t = mirror_check::DEFAULT_INTERVAL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub mirror_check_interval_seconds: u64,
    /// Failed checks in a row after which a mirror counts as down: requests go to the next
    /// mirror that answers, or are admitted unchanged (with a warning naming the mirror) until
    /// a check gets an answer again.
    #[arg(long, value_name = "N", env = "PULLTHROUGH_MIRROR_CHECK_FAILURE_THRESHOLD",
          default_value_t = mirror_check::DEFAULT_FAILURE_THRESHOLD,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub mirror_check_failure_threshold: u32,
    /// PEM CA certificate(s) the mirror's certificate is verified against (default: the
    /// system's CA certificates).
    #[arg(
        long,
        value_name = "FILE",
        env = "PULLTHROUGH_MIRROR_CHECK_CA_FILE",
        conflicts_with = "policies"
    )]
    pub mirror_check_ca_file: Option<PathBuf>,
}

impl MirrorCheckArgs {
    /// The check of the embedded policy with these `settings`; `None` when turned off, when the
    /// policies come from a file, or when the settings name no mirror (they fail validation).
    pub fn check(
        &self,
        settings: &Value,
        policies_file: bool,
    ) -> Result<Option<MirrorCheck>, MirrorCheckArgsError> {
        if self.no_mirror_check || policies_file {
            return Ok(None);
        }
        let mirrors = crate::policies::mirrors_of(settings);
        let given = !self.mirror_check_url.is_empty();
        let urls: Vec<String> = if given {
            self.mirror_check_url.clone()
        } else {
            mirrors
                .iter()
                .filter(|mirror| !mirror.is_empty())
                .map(|mirror| MirrorCheck::url_for_mirror(mirror))
                .collect()
        };
        if urls.is_empty() {
            return Ok(None);
        }
        if mirrors.len() > 1 && urls.len() != mirrors.len() {
            return Err(MirrorCheckArgsError::UrlCount {
                given: urls.len(),
                mirrors: mirrors.len(),
            });
        }
        MirrorCheck::for_mirrors(
            &urls,
            Duration::from_secs(self.mirror_check_interval_seconds),
            self.mirror_check_failure_threshold,
            self.mirror_check_ca_file.clone(),
        )
        .map(Some)
        .map_err(|source| {
            if given {
                MirrorCheckArgsError::GivenUrl(source)
            } else {
                MirrorCheckArgsError::DerivedUrl {
                    urls: urls.clone(),
                    source,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        check: MirrorCheckArgs,
        #[arg(long)]
        policies: Option<PathBuf>,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
    }

    #[test]
    fn the_mirror_setting_is_checked_by_default() {
        let cli = parse(&[]).expect("parses");
        let settings = json!({"mirror": "mirror.local:5000/cache"});
        assert_eq!(
            cli.check.check(&settings, false).expect("valid"),
            Some(
                MirrorCheck::new(
                    "https://mirror.local:5000",
                    mirror_check::DEFAULT_INTERVAL,
                    mirror_check::DEFAULT_FAILURE_THRESHOLD,
                    None
                )
                .expect("valid")
            )
        );
        assert_eq!(cli.check.check(&settings, true).expect("valid"), None);
        assert_eq!(cli.check.check(&json!({}), false).expect("valid"), None);
        let off = parse(&["--no-mirror-check"]).expect("parses");
        assert_eq!(off.check.check(&settings, false).expect("valid"), None);
    }

    #[test]
    fn several_mirrors_are_checked_each() {
        let settings = json!({"mirrors": ["a.example.com/cache", "b.example.com:5000"]});
        let derived = parse(&[]).expect("parses").check.check(&settings, false);
        assert_eq!(
            derived.expect("valid").expect("a check").urls(),
            ["https://a.example.com", "https://b.example.com:5000"]
        );
        let given = parse(&[
            "--mirror-check-url",
            "http://10.0.0.1:5000,http://10.0.0.2:5000",
        ])
        .expect("parses")
        .check
        .check(&settings, false);
        assert_eq!(
            given.expect("valid").expect("a check").urls(),
            ["http://10.0.0.1:5000", "http://10.0.0.2:5000"]
        );
        let short = parse(&["--mirror-check-url", "http://10.0.0.1:5000"])
            .expect("parses")
            .check
            .check(&settings, false)
            .expect_err("one URL for two mirrors");
        assert_eq!(
            short.to_string(),
            "--mirror-check-url is given 1 time(s) for the 2 mirrors of the settings: give one per mirror, in the same order"
        );
    }

    #[test]
    fn every_flag_is_used() {
        let cli = parse(&[
            "--mirror-check-url",
            "http://10.0.0.5:5000",
            "--mirror-check-interval-seconds",
            "2",
            "--mirror-check-failure-threshold",
            "4",
            "--mirror-check-ca-file",
            "/etc/ca.crt",
        ])
        .expect("parses");
        assert_eq!(
            cli.check
                .check(&json!({"mirror": "m.example.com"}), false)
                .expect("valid"),
            Some(
                MirrorCheck::new(
                    "http://10.0.0.5:5000",
                    Duration::from_secs(2),
                    4,
                    Some(PathBuf::from("/etc/ca.crt"))
                )
                .expect("valid")
            )
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--mirror-check-interval-seconds", "0"][..],
            &["--mirror-check-failure-threshold", "0"],
            &[
                "--policies",
                "p.yml",
                "--mirror-check-url",
                "https://m.example.com",
            ],
            &["--policies", "p.yml", "--mirror-check-ca-file", "/ca.crt"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let cli = parse(&["--mirror-check-url", "m.example.com"]).expect("parses");
        let error = cli
            .check
            .check(&json!({"mirror": "m.example.com"}), false)
            .expect_err("no scheme");
        assert_eq!(
            crate::report::one_line(&error),
            "--mirror-check-url: must be http:// or https:// followed by the registry's host[:port] and nothing else, e.g. https://registry-mirror.example.com, got \"m.example.com\""
        );
    }
}

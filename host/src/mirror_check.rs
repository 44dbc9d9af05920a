//! The mirror check: a background probe of a policy's pull-through cache (the registry API's
//! `GET /v2/`) that tells the admission path, through one atomic flag, whether rewriting to that
//! mirror is still a good idea.
//!
//! Once every image points at the mirror, a mirror that is down stops every new pod from
//! starting. After [`MirrorCheck::failure_threshold`] failed checks in a row the policy's requests
//! are admitted unchanged (pulled from their own registries, as with no webhook at all), and the
//! first check that gets an answer again turns rewriting back on. The probe never runs on the
//! admission path: a request reads one `AtomicBool`.

mod probe;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use probe::Probe;

/// How often the mirror is asked when nothing says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Failed checks in a row after which the mirror counts as down, unless told otherwise.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;

/// What to check, and how often. Built validated by [`MirrorCheck::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorCheck {
    url: String,
    interval: Duration,
    failure_threshold: u32,
    ca_file: Option<PathBuf>,
}

/// Why a mirror check cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not `http(s)://host[:port]`.
    #[error(
        "must be http:// or https:// followed by the registry's host[:port] and nothing else, \
         e.g. https://registry-mirror.example.com, got {0:?}"
    )]
    InvalidUrl(String),
    /// A zero interval would probe in a busy loop.
    #[error("the check interval must be more than zero")]
    ZeroInterval,
    /// A zero threshold would mean down before the first check.
    #[error("the failure threshold must be at least 1")]
    ZeroThreshold,
    /// The CA file cannot be read.
    #[error("cannot read the mirror's CA file {path}")]
    ReadCa {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("the mirror's CA file {path} holds no PEM certificate rustls accepts")]
    BadCa {
        /// The file.
        path: PathBuf,
    },
    /// An `https` check needs trust anchors and the system has none.
    #[error(
        "no trusted CA certificates found on this system for checking {url}: give the mirror's CA file"
    )]
    NoRoots {
        /// The mirror.
        url: String,
    },
    /// The TLS client configuration could not be built.
    #[error("cannot build the TLS configuration for checking {url}")]
    Tls {
        /// The mirror.
        url: String,
        /// Why.
        #[source]
        source: rustls::Error,
    },
}

impl MirrorCheck {
    /// A check of the registry at `url` (`http(s)://host[:port]`, optionally ending in `/`)
    /// every `interval`, down after `failure_threshold` failures in a row; `https` trusts
    /// `ca_file` if given, else the system's CA certificates.
    pub fn new(
        url: &str,
        interval: Duration,
        failure_threshold: u32,
        ca_file: Option<PathBuf>,
    ) -> Result<Self, Error> {
        probe::Target::parse(url)?;
        if interval.is_zero() {
            return Err(Error::ZeroInterval);
        }
        if failure_threshold == 0 {
            return Err(Error::ZeroThreshold);
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            interval,
            failure_threshold,
            ca_file,
        })
    }

    /// The URL a policy setting `mirror: host[:port][/path]` is checked at: `https://host[:port]`.
    pub fn url_for_mirror(mirror: &str) -> String {
        let host = mirror.split('/').next().unwrap_or(mirror);
        format!("https://{host}")
    }

    /// The registry, `http(s)://host[:port]`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Time between checks; a check that has no answer within it fails.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Failed checks in a row after which the mirror is down.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// The CA the mirror's certificate is verified against, if not the system's.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }
}

/// The running check of one policy's mirror. Dropping it stops the check.
#[derive(Debug)]
pub struct MirrorHealth {
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
}

#[derive(Debug)]
struct Shared {
    policy: String,
    check: MirrorCheck,
    up: AtomicBool,
    transitions: AtomicU64,
    warning: String,
}

/// What the metrics publish about one mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorStatus {
    /// The policy whose mirror it is.
    pub policy: String,
    /// The mirror checked.
    pub url: String,
    /// Whether the policy rewrites to it now.
    pub up: bool,
    /// Up/down changes since the check started.
    pub transitions: u64,
}

impl MirrorHealth {
    /// Starts checking at once and then every interval. Counts the mirror as up until the
    /// threshold of failures is reached. Must be called inside a Tokio runtime.
    pub fn start(policy: &str, check: MirrorCheck) -> Result<Self, Error> {
        let probe = Probe::new(&check)?;
        let shared = Arc::new(Shared {
            policy: policy.to_owned(),
            warning: format!(
                "pullthrough: mirror {} is not answering; images left unchanged",
                check.url
            ),
            check,
            up: AtomicBool::new(true),
            transitions: AtomicU64::new(0),
        });
        tracing::info!(
            policy,
            mirror = %shared.check.url,
            interval_ms = shared.check.interval.as_millis() as u64,
            failure_threshold = shared.check.failure_threshold,
            "checking the mirror"
        );
        let task = tokio::spawn(watch(Arc::clone(&shared), probe)).abort_handle();
        Ok(Self { shared, task })
    }

    /// Whether requests should be rewritten to the mirror: one relaxed load, for the request path.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// The warning a request admitted unchanged because of the mirror carries.
    pub fn warning(&self) -> &str {
        &self.shared.warning
    }

    /// What is checked.
    pub fn check(&self) -> &MirrorCheck {
        &self.shared.check
    }

    /// The state for the metrics.
    pub fn status(&self) -> MirrorStatus {
        MirrorStatus {
            policy: self.shared.policy.clone(),
            url: self.shared.check.url.clone(),
            up: self.is_up(),
            transitions: self.shared.transitions.load(Ordering::Relaxed),
        }
    }
}

impl Drop for MirrorHealth {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    /// Publishes a change of state, counted and logged once.
    fn change(&self, up: bool, failures: u32, reason: &str) {
        self.up.store(up, Ordering::Relaxed);
        self.transitions.fetch_add(1, Ordering::Relaxed);
        if up {
            tracing::info!(policy = %self.policy, mirror = %self.check.url, "mirror answers again; rewriting resumes");
        } else {
            tracing::warn!(
                policy = %self.policy,
                mirror = %self.check.url,
                failures,
                error = reason,
                "mirror is not answering; admitting this policy's requests unchanged until it does"
            );
        }
    }
}

/// Up or down from the results so far: down after `threshold` failures in a row, up again at
/// the first success.
#[derive(Debug)]
struct Tracker {
    threshold: u32,
    failures: u32,
    up: bool,
}

impl Tracker {
    fn new(threshold: u32) -> Self {
        Self {
            threshold,
            failures: 0,
            up: true,
        }
    }

    /// Records one check; the new state when it changed.
    fn record(&mut self, answered: bool) -> Option<bool> {
        self.failures = if answered {
            0
        } else {
            self.failures.saturating_add(1)
        };
        let up = answered || (self.up && self.failures < self.threshold);
        (up != self.up).then(|| {
            self.up = up;
            up
        })
    }
}

/// The check loop: one probe per tick, never two at once (a probe is bounded by the interval).
async fn watch(shared: Arc<Shared>, probe: Probe) {
    let mut ticker = tokio::time::interval(shared.check.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut tracker = Tracker::new(shared.check.failure_threshold);
    loop {
        ticker.tick().await;
        let result = probe.check(shared.check.interval).await;
        let reason = match &result {
            Ok(()) => String::new(),
            Err(error) => {
                let reason = crate::report::one_line(error);
                tracing::debug!(policy = %shared.policy, mirror = %shared.check.url, failures = tracker.failures + 1, error = %reason, "mirror check failed");
                reason
            }
        };
        if let Some(up) = tracker.record(result.is_ok()) {
            shared.change(up, tracker.failures, &reason);
        }
    }
}

#[cfg(test)]
mod tests;

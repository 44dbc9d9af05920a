//! The mirror check: a background probe of a policy's pull-through caches (the registry API's
//! `GET /v2/`) that tells the admission path, through one atomic value, which mirror to rewrite
//! to now, if any.
//!
//! Once every image points at a mirror, a mirror that is down stops every new pod from
//! starting. A policy names one mirror or several in priority order; each is checked every
//! interval, counts as down after [`MirrorCheck::failure_threshold`] failed checks in a row and
//! as up again at its first answer, and the policy rewrites to the first that is up. When none is,
//! its requests are admitted unchanged (pulled from their own registries, as with no webhook at
//! all). The probes never run on the admission path: a request reads one `AtomicUsize`.

mod choice;
mod probe;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use choice::{Change, Chooser};
use probe::Probe;

/// How often the mirror is asked when nothing says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Failed checks in a row after which the mirror counts as down, unless told otherwise.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;

/// What to check, and how often. Built validated by [`MirrorCheck::new`] (one mirror) or
/// [`MirrorCheck::for_mirrors`] (several, in priority order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorCheck {
    /// Never empty; the policy's mirrors in the same order.
    urls: Vec<String>,
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
    /// No URL at all.
    #[error("at least one mirror URL is needed")]
    NoUrl,
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
        Self::for_mirrors(&[url], interval, failure_threshold, ca_file)
    }

    /// [`Self::new`] for several registries, one per mirror of the policy in its priority order;
    /// the policy rewrites to the first that is up.
    pub fn for_mirrors<S: AsRef<str>>(
        urls: &[S],
        interval: Duration,
        failure_threshold: u32,
        ca_file: Option<PathBuf>,
    ) -> Result<Self, Error> {
        if urls.is_empty() {
            return Err(Error::NoUrl);
        }
        for url in urls {
            probe::Target::parse(url.as_ref())?;
        }
        if interval.is_zero() {
            return Err(Error::ZeroInterval);
        }
        if failure_threshold == 0 {
            return Err(Error::ZeroThreshold);
        }
        Ok(Self {
            urls: urls
                .iter()
                .map(|url| url.as_ref().trim_end_matches('/').to_owned())
                .collect(),
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

    /// The first registry, `http(s)://host[:port]`: the one rewritten to while it answers.
    pub fn url(&self) -> &str {
        &self.urls[0]
    }

    /// Every registry, in priority order.
    pub fn urls(&self) -> &[String] {
        &self.urls
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

/// [`Shared::choice`] while no mirror is up.
const NONE: usize = usize::MAX;

#[derive(Debug)]
struct Shared {
    policy: String,
    check: MirrorCheck,
    /// Index of the mirror rewritten to, [`NONE`] while none answers.
    choice: AtomicUsize,
    transitions: AtomicU64,
    warning: String,
}

/// What the metrics publish about one policy's mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorStatus {
    /// The policy whose mirrors they are.
    pub policy: String,
    /// The mirror rewritten to now, or the first when none answers.
    pub url: String,
    /// Whether the policy rewrites to a mirror now.
    pub up: bool,
    /// The chosen mirror's place in priority order (0 the first), `None` while none answers.
    pub choice: Option<usize>,
    /// Changes of choice since the check started (with one mirror: down and up again).
    pub transitions: u64,
}

impl MirrorHealth {
    /// Starts checking at once and then every interval. Counts the mirror as up until the
    /// threshold of failures is reached. Must be called inside a Tokio runtime.
    pub fn start(policy: &str, check: MirrorCheck) -> Result<Self, Error> {
        let probes = check
            .urls
            .iter()
            .map(|url| Probe::new(url, &check).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let shared = Arc::new(Shared {
            policy: policy.to_owned(),
            warning: match check.urls.as_slice() {
                [url] => {
                    format!("pullthrough: mirror {url} is not answering; images left unchanged")
                }
                urls => format!(
                    "pullthrough: none of the {} mirrors is answering; images left unchanged",
                    urls.len()
                ),
            },
            check,
            choice: AtomicUsize::new(0),
            transitions: AtomicU64::new(0),
        });
        tracing::info!(
            policy,
            mirror = %shared.check.urls.join(" "),
            interval_ms = shared.check.interval.as_millis() as u64,
            failure_threshold = shared.check.failure_threshold,
            "checking the mirror"
        );
        let task = tokio::spawn(watch(Arc::clone(&shared), probes)).abort_handle();
        Ok(Self { shared, task })
    }

    /// The mirror to rewrite to, by its place in priority order; `None` while none answers.
    /// One relaxed load, for the request path.
    pub fn choice(&self) -> Option<usize> {
        match self.shared.choice.load(Ordering::Relaxed) {
            NONE => None,
            index => Some(index),
        }
    }

    /// Whether requests should be rewritten to a mirror.
    pub fn is_up(&self) -> bool {
        self.choice().is_some()
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
        let choice = self.choice();
        MirrorStatus {
            policy: self.shared.policy.clone(),
            url: self.shared.check.urls[choice.unwrap_or(0)].clone(),
            up: choice.is_some(),
            choice,
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
    /// Publishes a change of choice, counted and logged once.
    fn change(&self, change: Change, failures: &[u32], reasons: &[String]) {
        self.choice
            .store(change.to.unwrap_or(NONE), Ordering::Relaxed);
        self.transitions.fetch_add(1, Ordering::Relaxed);
        let urls = &self.check.urls;
        let policy = &self.policy;
        match (change.from, change.to) {
            (_, None) if urls.len() == 1 => tracing::warn!(
                policy,
                mirror = %urls[0],
                failures = failures[0],
                error = %reasons[0],
                "mirror is not answering; admitting this policy's requests unchanged until it does"
            ),
            (_, None) => tracing::warn!(
                policy,
                mirrors = %urls.join(" "),
                errors = %reasons.join("; "),
                "no mirror is answering; admitting this policy's requests unchanged until one does"
            ),
            (None, Some(to)) => tracing::info!(
                policy,
                mirror = %urls[to],
                "mirror answers again; rewriting resumes"
            ),
            (Some(from), Some(to)) if to > from => tracing::warn!(
                policy,
                from = %urls[from],
                to = %urls[to],
                failures = failures[from],
                error = %reasons[from],
                "mirror is not answering; rewriting to the next mirror that does"
            ),
            (Some(from), Some(to)) => tracing::info!(
                policy,
                from = %urls[from],
                to = %urls[to],
                "a mirror earlier in the list answers again; rewriting to it"
            ),
        }
    }
}

/// The check loop: one round per tick, every mirror probed at once, never two rounds at once (a
/// probe is bounded by the interval).
async fn watch(shared: Arc<Shared>, probes: Vec<Arc<Probe>>) {
    let mut ticker = tokio::time::interval(shared.check.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut chooser = Chooser::new(probes.len(), shared.check.failure_threshold);
    let mut reasons = vec![String::new(); probes.len()];
    loop {
        ticker.tick().await;
        let mut round = tokio::task::JoinSet::new();
        for (index, probe) in probes.iter().enumerate() {
            let probe = Arc::clone(probe);
            let timeout = shared.check.interval;
            round.spawn(async move { (index, probe.check(timeout).await) });
        }
        let mut answered = vec![false; probes.len()];
        while let Some(done) = round.join_next().await {
            // A probe task only ends by returning: the set is never aborted while awaited.
            let Ok((index, result)) = done else { continue };
            answered[index] = result.is_ok();
            if let Err(error) = result {
                let reason = crate::report::one_line(&error);
                tracing::debug!(policy = %shared.policy, mirror = %shared.check.urls[index], failures = chooser.trackers[index].failures + 1, error = %reason, "mirror check failed");
                reasons[index] = reason;
            }
        }
        if let Some(change) = chooser.record(&answered) {
            let failures: Vec<u32> = chooser.trackers.iter().map(|t| t.failures).collect();
            shared.change(change, &failures, &reasons);
        }
    }
}

#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod running_tests;
#[cfg(test)]
mod tests;

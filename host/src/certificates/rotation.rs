//! The serving certificate of `serve`: brought along as files (watched), generated and shared
//! through a Secret (in a cluster), or generated in memory (no cluster). One loop keeps either
//! fresh: changed files are swapped in, generated material is renewed before it expires, and a
//! new CA is re-registered.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use super::{DEFAULT_CA_VALIDITY, Material, Renewal};
use crate::k8s::{self, Cluster, Registration, SharedMaterial};
use crate::tls::{CertFiles, CertResolver, Served};

/// How long the API server is given to see a caBundle that holds a new CA before this replica
/// serves a certificate issued by it. Its informer on webhook configurations delivers the change
/// well within a second; the rest is margin.
const BUNDLE_PROPAGATION: Duration = Duration::from_secs(5);

/// Where the serving certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// PEM files brought along (cert-manager, an operator), polled for changes.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
        /// The CA that signed it, for the webhook's caBundle; without it the printed
        /// configuration shows the chain's last certificate.
        ca_file: Option<PathBuf>,
        /// How often the files are compared with what is served.
        reload_interval: Duration,
    },
    /// Generated here, and shared through a Secret when there is a cluster.
    Generated {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        secret: String,
        /// Names the serving certificate carries.
        names: Vec<String>,
        /// Validity of the serving certificate.
        validity: Duration,
        /// Where to write the CA certificate (PEM), for clients such as `curl --cacert`.
        write_ca: Option<PathBuf>,
        /// How often the Secret is read and the material renewed: a CA another replica
        /// replaced is picked up at the next check.
        check_interval: Duration,
    },
}

#[derive(Debug)]
enum Origin {
    Files {
        files: CertFiles,
        interval: Duration,
        // The bytes served now: a check swaps only when they change.
        last: Option<(Vec<u8>, Vec<u8>)>,
    },
    Generated {
        shared: SharedMaterial,
        current: Material,
        check_interval: Duration,
    },
}

/// A certificate to swap in and, when its CA changed, the new CA and the one it replaces.
struct Replacement {
    served: Served,
    ca_change: Option<CaChange>,
}

struct CaChange {
    new_pem: String,
    old_pem: String,
}

/// The resolver every handshake reads, and how it is kept fresh.
#[derive(Debug)]
pub struct Certificates {
    resolver: Arc<CertResolver>,
    ca_pem: String,
    origin: Origin,
}

impl Certificates {
    /// Loads, reads from the cluster's Secret, or generates the first certificate.
    pub async fn start(
        source: &CertificateSource,
        cluster: Option<&Cluster>,
    ) -> anyhow::Result<Self> {
        match source {
            CertificateSource::Files {
                cert,
                key,
                ca_file,
                reload_interval,
            } => {
                let files = CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                let last = files.read().ok();
                let served = files
                    .load()
                    .context("could not load --tls-cert/--tls-key")?;
                let cert_pem = std::fs::read_to_string(cert).unwrap_or_default();
                let ca_pem = match ca_file {
                    Some(path) => {
                        let ca_pem = std::fs::read_to_string(path).with_context(|| {
                            format!("could not read --ca-file {}", path.display())
                        })?;
                        super::check_ca_bundle(&ca_pem).with_context(|| {
                            format!(
                                "--ca-file {} cannot be the webhook's caBundle",
                                path.display()
                            )
                        })?;
                        super::check_issued_by(&cert_pem, &ca_pem).with_context(|| {
                            format!(
                                "--tls-cert {} does not verify against --ca-file {}",
                                cert.display(),
                                path.display()
                            )
                        })?;
                        ca_pem
                    }
                    None => {
                        tracing::warn!(
                            cert = %cert.display(),
                            "no --ca-file: the webhook configuration shown below carries the last \
                             certificate of --tls-cert as its caBundle, which the API server accepts \
                             only if that certificate is the CA; pass --ca-file with the CA that \
                             signed it"
                        );
                        cert_pem
                    }
                };
                log_served("serving the certificate of --tls-cert", &served);
                Ok(Self {
                    resolver: CertResolver::new(served),
                    ca_pem,
                    origin: Origin::Files {
                        files,
                        interval: *reload_interval,
                        last,
                    },
                })
            }
            CertificateSource::Generated {
                namespace,
                secret,
                names,
                validity,
                write_ca,
                check_interval,
            } => {
                let shared = SharedMaterial {
                    namespace: namespace.clone(),
                    secret: secret.clone(),
                    renewal: Renewal {
                        names: names.clone(),
                        ca_validity: DEFAULT_CA_VALIDITY,
                        validity: *validity,
                    },
                };
                let material = match cluster {
                    Some(cluster) => cluster.shared_material(&shared).await?,
                    None => shared.renewal.generate()?,
                };
                let served = Served::from_pem(
                    material.serving.cert_pem.as_bytes(),
                    material.serving.key_pem.as_bytes(),
                )?;
                log_served("serving a generated certificate", &served);
                if let Some(path) = write_ca {
                    write_ca_file(path, &material.ca.cert_pem)?;
                }
                Ok(Self {
                    resolver: CertResolver::new(served),
                    ca_pem: material.ca.cert_pem.clone(),
                    origin: Origin::Generated {
                        shared,
                        current: material,
                        check_interval: *check_interval,
                    },
                })
            }
        }
    }

    pub fn resolver(&self) -> &Arc<CertResolver> {
        &self.resolver
    }

    /// The PEM CA for the webhook's caBundle.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Starts the background task that keeps the certificate fresh.
    pub fn spawn_renewal(self, cluster: Option<Cluster>, registration: Registration) {
        tokio::spawn(rotate(self.origin, self.resolver, cluster, registration));
    }
}

/// The start-up line about the served certificate; an expired (or not yet valid) one is an
/// error line, since the API server refuses every call until it is replaced.
fn log_served(what: &str, served: &Served) {
    let info = &served.info;
    let not_after = humantime_utc(info.not_after);
    let names = &info.names;
    let now = SystemTime::now();
    if info.not_after <= now {
        tracing::error!(?names, %not_after, "{what}: it has EXPIRED; the API server refuses every call until it is replaced");
    } else if info.not_before > now {
        let not_before = humantime_utc(info.not_before);
        tracing::error!(?names, %not_before, "{what}: it is NOT VALID YET; the API server refuses every call until then");
    } else {
        tracing::info!(?names, %not_after, "{what}");
    }
}

fn write_ca_file(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem)
        .with_context(|| format!("could not write --write-ca {}", path.display()))
}

/// The one renewal loop: at every check, ask the origin for a replacement and swap it in.
///
/// A new CA must be trusted by the API server before any replica serves it, and the old one
/// until every replica has moved (the others read the new material from the Secret at their
/// next check): the bundle carries both from before the swap until two checks after it.
async fn rotate(
    mut origin: Origin,
    resolver: Arc<CertResolver>,
    cluster: Option<Cluster>,
    registration: Registration,
) {
    let interval = origin.interval();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    // The CA served now, and when the previous one may leave the bundle.
    let mut retiring: Option<(String, Instant)> = None;
    loop {
        ticker.tick().await;
        if let (Some((ca_pem, until)), Some(cluster)) = (&retiring, &cluster)
            && Instant::now() >= *until
        {
            register(
                cluster,
                &registration,
                ca_pem,
                "re-registered the webhook with the renewed CA alone",
            )
            .await;
            retiring = None;
        }
        let Some(replacement) = origin.check(cluster.as_ref()).await else {
            continue;
        };
        if let (Some(change), Some(cluster)) = (&replacement.ca_change, &cluster) {
            let both = format!(
                "{}\n{}\n",
                change.new_pem.trim_end(),
                change.old_pem.trim_end()
            );
            register(
                cluster,
                &registration,
                &both,
                "registered the renewed CA beside the current one",
            )
            .await;
            tokio::time::sleep(BUNDLE_PROPAGATION).await;
            retiring = Some((
                change.new_pem.clone(),
                Instant::now() + interval * 2 + BUNDLE_PROPAGATION,
            ));
        }
        resolver.swap(replacement.served);
        tracing::info!("serving a renewed certificate");
    }
}

async fn register(cluster: &Cluster, registration: &Registration, bundle: &str, done: &str) {
    match cluster
        .register(registration, bundle.as_bytes(), k8s::Conflicts::Report)
        .await
    {
        Ok(k8s::Applied::Applied) => tracing::info!("{done}"),
        Ok(k8s::Applied::LeftToNewer { version }) => tracing::info!(
            version,
            "left the webhook's CA bundle to the newer pullthrough that wrote the configuration"
        ),
        Err(error) => tracing::warn!(
            error = &error as &dyn std::error::Error,
            "could not re-register the webhook's CA bundle"
        ),
    }
}

impl Origin {
    fn interval(&self) -> Duration {
        match self {
            Self::Files { interval, .. } => (*interval).max(Duration::from_secs(1)),
            Self::Generated {
                shared,
                check_interval,
                ..
            } => (*check_interval)
                .min(shared.renewal.validity / 10)
                .max(Duration::from_secs(1)),
        }
    }

    /// The certificate to serve from now on, or `None` to keep the current one. A replacement
    /// that does not load keeps the current one serving and is retried at the next check.
    async fn check(&mut self, cluster: Option<&Cluster>) -> Option<Replacement> {
        match self {
            Self::Files { files, last, .. } => check_files(files, last),
            Self::Generated {
                shared, current, ..
            } => check_generated(shared, current, cluster).await,
        }
    }
}

/// Polling rather than inotify: Kubernetes updates Secret volumes by swapping a `..data`
/// symlink, and cert-manager or an operator may rewrite the files in place or rename over
/// them; comparing content catches all three on every filesystem. A pair that does not load (a
/// key written before its certificate) keeps the old certificate serving and is retried.
fn check_files(files: &CertFiles, last: &mut Option<(Vec<u8>, Vec<u8>)>) -> Option<Replacement> {
    let current = match files.read() {
        Ok(current) => current,
        Err(error) => {
            tracing::warn!(%error, "certificate files unreadable; still serving the previous certificate");
            return None;
        }
    };
    if last.as_ref() == Some(&current) {
        return None;
    }
    match Served::from_pem(&current.0, &current.1) {
        Ok(served) => {
            tracing::info!(
                cert = %files.cert.display(),
                not_after = %humantime_utc(served.info.not_after),
                "certificate files changed; serving the new certificate"
            );
            *last = Some(current);
            Some(Replacement {
                served,
                ca_change: None,
            })
        }
        Err(error) => {
            tracing::warn!(%error, cert = %files.cert.display(), "new certificate files rejected; still serving the previous certificate");
            None
        }
    }
}

async fn check_generated(
    shared: &SharedMaterial,
    current: &mut Material,
    cluster: Option<&Cluster>,
) -> Option<Replacement> {
    let next: Result<Material, Box<dyn std::error::Error + Send + Sync>> = match cluster {
        // Every replica runs this; the Secret decides which material wins.
        Some(cluster) => cluster.shared_material(shared).await.map_err(Into::into),
        None => shared
            .renewal
            .next(Some(current), SystemTime::now())
            .map(|next| next.unwrap_or_else(|| current.clone()))
            .map_err(Into::into),
    };
    let next = match next {
        Ok(next) => next,
        Err(error) => {
            tracing::warn!(error = %crate::report::one_line(&*error), "certificate renewal failed; retrying at the next check");
            return None;
        }
    };
    if next == *current {
        return None;
    }
    let served = match Served::from_pem(
        next.serving.cert_pem.as_bytes(),
        next.serving.key_pem.as_bytes(),
    ) {
        Ok(served) => served,
        Err(error) => {
            tracing::warn!(%error, "renewed certificate does not load; keeping the current one");
            return None;
        }
    };
    let ca_change = (next.ca != current.ca).then(|| CaChange {
        new_pem: next.ca.cert_pem.clone(),
        old_pem: current.ca.cert_pem.clone(),
    });
    *current = next;
    Some(Replacement { served, ca_change })
}

/// RFC 3339 in UTC, for log lines about certificate lifetimes.
fn humantime_utc(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let at = i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

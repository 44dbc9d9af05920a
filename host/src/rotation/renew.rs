//! The one renewal loop: at every check, a replacement from the files or the Secret is swapped
//! into the resolver, and a new CA is registered beside the old one before it is served.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::humantime_utc;
use crate::certificates::Material;
use crate::k8s::{self, Cluster, Registration, SharedMaterial};
use crate::tls::{CertFiles, CertResolver, Served};

/// How long the API server is given to see a caBundle that holds a new CA before this replica
/// serves a certificate issued by it. Its informer on webhook configurations delivers the change
/// well within a second; the rest is margin.
const BUNDLE_PROPAGATION: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(super) enum Origin {
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
pub(super) struct Replacement {
    served: Served,
    ca_change: Option<CaChange>,
}

pub(super) struct CaChange {
    new_pem: String,
    old_pem: String,
}

/// The one renewal loop: at every check, ask the origin for a replacement and swap it in.
///
/// A new CA must be trusted by the API server before any replica serves it, and the old one
/// until every replica has moved (the others read the new material from the Secret at their
/// next check): the bundle carries both from before the swap until two checks after it.
pub(super) async fn rotate(
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
        Ok(k8s::Registered::Written) => tracing::info!("{done}"),
        Ok(registered) => tracing::info!("{registered}"),
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

//! The serving certificate of `serve`: brought along as files (watched), generated and shared
//! through a Secret (in a cluster), or generated in memory (no cluster); generated ones are
//! renewed before they expire, and a new CA is re-registered.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use crate::commands::serve::ServeArgs;
use crate::commands::cert::days;
use crate::certificates::{self as certs, Material};
use crate::k8s::{self, Registration, SharedMaterial};
use crate::tls::{CertFiles, CertResolver, Served};

/// How often generated material is checked for renewal. Renewal starts at two thirds of the
/// certificate's life, so an hourly check is early enough for any validity above a few hours.
const RENEWAL_CHECK: Duration = Duration::from_secs(3600);

#[derive(Debug)]
enum Origin {
    Files {
        files: CertFiles,
        interval: Duration,
    },
    Generated {
        shared: SharedMaterial,
        current: Material,
    },
}

/// The resolver every handshake reads, and how it is kept fresh.
#[derive(Debug)]
pub struct Certificates {
    resolver: Arc<CertResolver>,
    ca_pem: String,
    origin: Origin,
}

impl Certificates {
    pub async fn start(args: &ServeArgs, cluster: Option<&kube::Client>) -> anyhow::Result<Self> {
        let tls = &args.tls;
        if let (Some(cert), Some(key)) = (&tls.tls_cert, &tls.tls_key) {
            let files = CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            let served = files
                .load()
                .context("could not load --tls-cert/--tls-key")?;
            let ca_pem = match &tls.ca_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("could not read --ca-file {}", path.display()))?,
                None if args.register => {
                    anyhow::bail!("--register with --tls-cert needs --ca-file for the caBundle")
                }
                // Unregistered: the printed configuration shows the chain's last certificate.
                None => std::fs::read_to_string(cert).unwrap_or_default(),
            };
            return Ok(Self {
                resolver: CertResolver::new(served),
                ca_pem,
                origin: Origin::Files {
                    files,
                    interval: Duration::from_secs(tls.tls_reload_seconds.max(1)),
                },
            });
        }
        let shared = SharedMaterial {
            namespace: args.service.namespace.clone(),
            secret: tls.secret.clone(),
            names: names_for(args),
            ca_validity: certs::DEFAULT_CA_VALIDITY,
            validity: days(tls.cert_validity_days),
        };
        let material = match cluster {
            Some(client) => shared.ensure(client).await?,
            None => Material::generate(&shared.names, shared.ca_validity, shared.validity)?,
        };
        let served = Served::from_pem(
            material.serving.cert_pem.as_bytes(),
            material.serving.key_pem.as_bytes(),
        )?;
        tracing::info!(names = ?served.info.names, "serving a generated certificate");
        if let Some(path) = &tls.write_ca {
            write_ca(path, &material.ca.cert_pem)?;
        }
        Ok(Self {
            resolver: CertResolver::new(served),
            ca_pem: material.ca.cert_pem.clone(),
            origin: Origin::Generated {
                shared,
                current: material,
            },
        })
    }

    pub fn resolver(&self) -> &Arc<CertResolver> {
        &self.resolver
    }

    /// The PEM CA for the webhook's caBundle.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Starts the background task that keeps the certificate fresh.
    pub fn spawn_renewal(self, cluster: Option<kube::Client>, registration: Registration) {
        let resolver = self.resolver;
        match self.origin {
            Origin::Files { files, interval } => {
                tokio::spawn(files.watch(resolver, interval));
            }
            Origin::Generated { shared, current } => {
                tokio::spawn(renew(shared, current, resolver, cluster, registration));
            }
        }
    }
}

/// The in-cluster names plus, without a cluster, the loopback names a local run is called by.
fn names_for(args: &ServeArgs) -> Vec<String> {
    let mut names = args.service.names();
    for local in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == local) {
            names.push(local.to_owned());
        }
    }
    names
}

fn write_ca(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem)
        .with_context(|| format!("could not write --write-ca {}", path.display()))
}

async fn renew(
    shared: SharedMaterial,
    mut current: Material,
    resolver: Arc<CertResolver>,
    cluster: Option<kube::Client>,
    registration: Registration,
) {
    let mut ticker = tokio::time::interval(
        RENEWAL_CHECK
            .min(shared.validity / 10)
            .max(Duration::from_secs(1)),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let next = match &cluster {
            // Every replica runs this; the Secret decides which material wins.
            Some(client) => shared.ensure(client).await.map_err(anyhow::Error::from),
            None => shared
                .renewal(Some(&current), SystemTime::now())
                .map(|next| next.unwrap_or_else(|| current.clone()))
                .map_err(anyhow::Error::from),
        };
        let next = match next {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "certificate renewal failed; retrying at the next check");
                continue;
            }
        };
        if next == current {
            continue;
        }
        match Served::from_pem(
            next.serving.cert_pem.as_bytes(),
            next.serving.key_pem.as_bytes(),
        ) {
            Ok(served) => resolver.swap(served),
            Err(error) => {
                tracing::warn!(%error, "renewed certificate does not load; keeping the current one");
                continue;
            }
        }
        if next.ca != current.ca
            && let Some(client) = &cluster
        {
            let config = k8s::webhook_configuration(&registration, next.ca.cert_pem.as_bytes());
            match k8s::apply(client, &config).await {
                Ok(_) => tracing::info!("re-registered the webhook with the renewed CA"),
                Err(error) => tracing::warn!(%error, "could not re-register the renewed CA"),
            }
        }
        tracing::info!("serving a renewed certificate");
        current = next;
    }
}

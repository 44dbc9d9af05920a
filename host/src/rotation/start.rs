//! The first serving certificate: loaded from the files brought along, or read from the
//! cluster's Secret (or generated) and shared there; then handed to the renewal loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::renew::{self, Origin};
use super::{Error, Result, humantime_utc};
use crate::certificates::{self, DEFAULT_CA_VALIDITY, Renewal};
use crate::k8s::{Cluster, Registration, SharedMaterial};
use crate::tls::{CertFiles, CertResolver, Served};

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

/// The resolver every handshake reads, and how it is kept fresh.
#[derive(Debug)]
pub struct Certificates {
    resolver: Arc<CertResolver>,
    ca_pem: String,
    origin: Origin,
}

impl Certificates {
    /// Loads, reads from the cluster's Secret, or generates the first certificate.
    pub async fn start(source: &CertificateSource, cluster: Option<&Cluster>) -> Result<Self> {
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
                let served = files.load().map_err(Error::LoadFiles)?;
                let cert_pem = std::fs::read_to_string(cert).unwrap_or_default();
                let ca_pem = match ca_file {
                    Some(path) => {
                        let ca_pem =
                            std::fs::read_to_string(path).map_err(|source| Error::ReadCaFile {
                                path: path.clone(),
                                source,
                            })?;
                        certificates::check_ca_bundle(&ca_pem).map_err(|source| {
                            Error::CaBundle {
                                path: path.clone(),
                                source,
                            }
                        })?;
                        certificates::check_issued_by(&cert_pem, &ca_pem).map_err(|source| {
                            Error::NotIssuedByCaFile {
                                cert: cert.clone(),
                                ca_file: path.clone(),
                                source,
                            }
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
        tokio::spawn(renew::rotate(
            self.origin,
            self.resolver,
            cluster,
            registration,
        ));
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

fn write_ca_file(path: &Path, pem: &str) -> Result<()> {
    std::fs::write(path, pem).map_err(|source| Error::WriteCa {
        path: path.to_owned(),
        source,
    })
}

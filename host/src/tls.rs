//! rustls: the serving configuration (TLS 1.2 and 1.3 only, ALPN h2, http/1.1, http/1.0) and the
//! certificate resolver that swaps certificates atomically, so a rotation never drops a handshake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::certificates::{self as certs, CertInfo};

/// Why a certificate could not be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the certificate PEM holds no certificate")]
    NoCertificate,
    #[error("the certificate PEM could not be parsed")]
    CertPem(#[source] rustls::pki_types::pem::Error),
    #[error("the private key PEM holds no usable private key")]
    KeyPem(#[source] rustls::pki_types::pem::Error),
    #[error("the private key does not match the certificate, or its type is not supported")]
    Key(#[source] rustls::Error),
    #[error(transparent)]
    Info(#[from] certs::Error),
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not build the TLS configuration")]
    Config(#[source] rustls::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The one crypto provider of the process. kube's client and our server both use rustls; naming
/// the provider explicitly keeps them from disagreeing about a process default.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs [`provider`] as the process default, for libraries (kube) that ask rustls for it.
/// A second call is harmless.
pub fn install_default_provider() {
    // Err means a provider is already installed, which is what we wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A certificate ready to serve, with what we know about it.
#[derive(Debug)]
pub struct Served {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
}

impl Served {
    /// Parses a PEM chain and key and checks that they belong together.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::CertPem)?;
        if chain.is_empty() {
            return Err(Error::NoCertificate);
        }
        let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(Error::KeyPem)?;
        let key = CertifiedKey::from_der(chain, key_der, &provider()).map_err(Error::Key)?;
        let info = CertInfo::from_pem(&String::from_utf8_lossy(cert_pem))?;
        Ok(Self {
            key: Arc::new(key),
            info,
        })
    }
}

/// Hands every TLS handshake the current certificate. A swap replaces an `Arc`; handshakes already
/// past certificate selection keep the one they got.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<Served>>,
}

impl CertResolver {
    pub fn new(served: Served) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(served)),
        })
    }

    /// Serves `served` from the next handshake on.
    pub fn swap(&self, served: Served) {
        let served = Arc::new(served);
        match self.current.write() {
            Ok(mut guard) => *guard = served,
            // A panic while holding the lock cannot leave a half-written Arc behind.
            Err(poisoned) => *poisoned.into_inner() = served,
        }
    }

    /// The certificate currently served.
    pub fn current(&self) -> Arc<Served> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Whether the served certificate is inside its validity window now.
    pub fn is_valid(&self, now: SystemTime) -> bool {
        let info = &self.current().info;
        info.not_before <= now && now < info.not_after
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current().key))
    }
}

/// The rustls server configuration: TLS 1.3 and 1.2 only, ALPN `h2`, `http/1.1` or `http/1.0`
/// (`curl --http1.0` offers only that, and rustls refuses a client whose offer shares nothing
/// with ours); a client that offers no ALPN at all gets HTTP/1.1.
pub fn server_config(resolver: Arc<CertResolver>) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(Error::Config)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate and key on disk (bring your own, e.g. from cert-manager).
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// The certificate and key bytes, as they are now.
    pub fn read(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        Ok((read(&self.cert)?, read(&self.key)?))
    }

    /// Loads the files once.
    pub fn load(&self) -> Result<Served> {
        let (cert, key) = self.read()?;
        Served::from_pem(&cert, &key)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::{DEFAULT_CA_VALIDITY, DEFAULT_SERVING_VALIDITY, Material};

    fn material() -> Material {
        Material::generate(
            &["localhost".to_owned()],
            DEFAULT_CA_VALIDITY,
            DEFAULT_SERVING_VALIDITY,
        )
        .expect("material")
    }

    #[test]
    fn a_generated_pair_loads() {
        let m = material();
        let served = Served::from_pem(m.serving.cert_pem.as_bytes(), m.serving.key_pem.as_bytes())
            .expect("loads");
        assert_eq!(served.info.names, ["localhost"]);
        assert_eq!(served.key.cert.len(), 1);
    }

    #[test]
    fn a_key_from_another_pair_is_refused() {
        let (a, b) = (material(), material());
        let err = Served::from_pem(a.serving.cert_pem.as_bytes(), b.serving.key_pem.as_bytes())
            .expect_err("mismatched key");
        assert_eq!(
            err.to_string(),
            "the private key does not match the certificate, or its type is not supported"
        );
    }

    #[test]
    fn empty_input_is_refused_with_what_is_missing() {
        let m = material();
        let err = Served::from_pem(b"", m.serving.key_pem.as_bytes()).expect_err("no cert");
        assert_eq!(err.to_string(), "the certificate PEM holds no certificate");
        let err = Served::from_pem(m.serving.cert_pem.as_bytes(), b"").expect_err("no key");
        assert_eq!(
            err.to_string(),
            "the private key PEM holds no usable private key"
        );
    }

    #[test]
    fn swap_changes_what_the_next_handshake_gets() {
        let (a, b) = (material(), material());
        let resolver = CertResolver::new(
            Served::from_pem(a.serving.cert_pem.as_bytes(), a.serving.key_pem.as_bytes())
                .expect("a"),
        );
        let before = resolver.current();
        resolver.swap(
            Served::from_pem(b.serving.cert_pem.as_bytes(), b.serving.key_pem.as_bytes())
                .expect("b"),
        );
        let after = resolver.current();
        assert_ne!(before.key.cert[0], after.key.cert[0]);
        assert!(resolver.is_valid(SystemTime::now()));
        assert!(!resolver.is_valid(SystemTime::now() + DEFAULT_SERVING_VALIDITY * 2));
    }

    #[test]
    fn config_offers_h2_then_http1_1_then_http1_0() {
        let m = material();
        let resolver = CertResolver::new(
            Served::from_pem(m.serving.cert_pem.as_bytes(), m.serving.key_pem.as_bytes())
                .expect("loads"),
        );
        let config = server_config(resolver).expect("config");
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec(), b"http/1.0".to_vec()]
        );
    }
}

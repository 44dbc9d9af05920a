//! One check: a fresh connection (TCP, then TLS for `https`), `GET /v2/` over HTTP/1.1 with
//! hyper, and the status read. A new connection each time, because what matters is whether a
//! node pulling now would get through, not whether an old connection is still open.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{HOST, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Error, MirrorCheck};

const USER_AGENT_VALUE: &str = concat!("pullthrough/", env!("CARGO_PKG_VERSION"), " mirror-check");

/// Where a check connects, from `http(s)://host[:port]`.
#[derive(Debug)]
pub(super) struct Target {
    https: bool,
    /// The host as the resolver and the TLS name take it (an IPv6 address without brackets).
    host: String,
    port: u16,
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidUrl(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| invalid())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid()),
        };
        let authority = uri.authority().ok_or_else(invalid)?;
        let rest = uri.path_and_query().map_or("", |p| p.as_str());
        if authority.as_str().contains('@') || !(rest.is_empty() || rest == "/") {
            return Err(invalid());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() || ServerName::try_from(host.as_str()).is_err() {
            return Err(invalid());
        }
        Ok(Self {
            https,
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            host,
        })
    }
}

/// Why one check failed; logged, never returned to a client.
#[derive(Debug, thiserror::Error)]
pub(super) enum ProbeError {
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    #[error("TLS handshake failed")]
    Tls(#[source] std::io::Error),
    #[error("HTTP request failed")]
    Http(#[source] hyper::Error),
    #[error("the request could not be built")]
    Request(#[source] hyper::http::Error),
    #[error("GET /v2/ answered {0} (200 or 401 means up)")]
    Status(StatusCode),
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

/// A check ready to run again and again.
pub(super) struct Probe {
    target: Target,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Probe {
    /// A probe of `url`, one of `check`'s, with its CA.
    pub(super) fn new(url: &str, check: &MirrorCheck) -> Result<Self, Error> {
        let target = Target::parse(url)?;
        let tls = if target.https {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| Error::InvalidUrl(url.to_owned()))?;
            Some((connector(url, check)?, name))
        } else {
            None
        };
        Ok(Self { target, tls })
    }

    /// Up means `/v2/` answered 200 or 401 (a registry that wants credentials is running).
    pub(super) async fn check(&self, timeout: Duration) -> Result<(), ProbeError> {
        let status = tokio::time::timeout(timeout, self.get())
            .await
            .map_err(|_| ProbeError::Timeout(timeout))??;
        if status == StatusCode::OK || status == StatusCode::UNAUTHORIZED {
            Ok(())
        } else {
            Err(ProbeError::Status(status))
        }
    }

    async fn get(&self) -> Result<StatusCode, ProbeError> {
        let tcp = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(ProbeError::Connect)?;
        // Best effort: only latency depends on it.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(ProbeError::Tls)?;
                request(stream, &self.target.authority).await
            }
            None => request(tcp, &self.target.authority).await,
        }
    }
}

/// `GET /v2/` on an open stream; the connection is driven only until the answer's head arrives.
async fn request<S>(stream: S, authority: &str) -> Result<StatusCode, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ProbeError::Http)?;
    let request = Request::get("/v2/")
        .header(HOST, authority)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .body(Empty::<Bytes>::new())
        .map_err(ProbeError::Request)?;
    let answer = sender.send_request(request);
    tokio::pin!(answer, connection);
    let response = tokio::select! {
        biased;
        response = &mut answer => response,
        ended = &mut connection => match ended {
            // A server that closes after answering ends the connection in the same poll that
            // hands over the answer: it is there to take, or the request was dropped.
            Ok(()) => answer.await,
            Err(error) => return Err(ProbeError::Http(error)),
        },
    };
    response.map(|r| r.status()).map_err(ProbeError::Http)
}

/// TLS 1.2 and 1.3 against the CA file, or the system's CA certificates.
fn connector(url: &str, check: &MirrorCheck) -> Result<TlsConnector, Error> {
    let mut roots = RootCertStore::empty();
    match &check.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| Error::ReadCa {
                path: path.clone(),
                source,
            })?;
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|_| Error::BadCa { path: path.clone() })?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(Error::BadCa { path: path.clone() });
            }
        }
        None => {
            // Unreadable entries are skipped, as every TLS client does; none at all is an error.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err(Error::NoRoots {
                    url: url.to_owned(),
                });
            }
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|source| Error::Tls {
            url: url.to_owned(),
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

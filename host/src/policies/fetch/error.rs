//! Why a fetch failed, sorted into what an operator does about it: a name that does not exist,
//! credentials refused, a host that does not answer, content that is not what its digest says.
//! The OCI client's own error stays the source of each, for the details.

use std::time::Duration;

use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};

use super::auth::AuthError;
use super::sources::SourcesError;

/// Why a remote module could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The sources file is unusable.
    #[error(transparent)]
    Sources(#[from] SourcesError),
    /// The Docker config file is unusable.
    #[error(transparent)]
    DockerConfig(#[from] AuthError),
    /// `http://` to a host the sources file does not list.
    #[error(
        "plain http:// is only used for hosts listed in insecure_sources of --sources-path, and \
         {0} is not"
    )]
    PlainHttp(String),
    /// The registry or server cannot be reached (name, connection, TLS).
    #[error("cannot reach {host}")]
    Unreachable {
        /// `host[:port]`.
        host: String,
        /// What the connection said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry wants credentials it did not get, or refused the ones it got.
    #[error("{host} refused access {credentials}")]
    Unauthorized {
        /// `host[:port]`.
        host: String,
        /// Which credentials were sent, and from where.
        credentials: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The tag, digest or repository does not exist.
    #[error("{0} does not exist (no such repository, tag or digest)")]
    NotFound(String),
    /// What arrived does not hash to the digest that names it.
    #[error("digest mismatch in {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The manifest or the module layer.
        what: &'static str,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The artifact holds no Wasm module layer, or more than one.
    #[error(
        "the artifact must hold exactly one layer of media type {}, as `kwctl push` and `oras \
         push FILE:{}` make; its layers are {layers:?}",
        super::oci::WASM_LAYER,
        super::oci::WASM_LAYER
    )]
    NotAModule {
        /// The media types of its layers.
        layers: Vec<String>,
    },
    /// The module is larger than a fetch accepts.
    #[error("the module is {size} bytes, more than the {limit} a fetch accepts")]
    TooLarge {
        /// Its size (as announced, or as counted so far).
        size: u64,
        /// [`super::MAX_MODULE_BYTES`].
        limit: u64,
    },
    /// A web server answered something other than 200.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The download broke off or could not be set up.
    #[error("download failed")]
    Http(#[source] reqwest::Error),
    /// Anything else the registry or the OCI client reported.
    #[error("registry error")]
    Registry(#[source] OciDistributionError),
    /// No async runtime could be started for the fetch (`pullthrough run`).
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The whole fetch took too long.
    #[error("no module within {} s", .0.as_secs())]
    Timeout(Duration),
}

impl FetchError {
    /// Sorts an error of the OCI client talking to `host` about `reference`; `credentials`
    /// says which were sent (for an authorisation failure).
    pub(super) fn from_oci(
        error: OciDistributionError,
        host: &str,
        reference: &str,
        credentials: &str,
    ) -> Self {
        let unauthorized = |error: OciDistributionError| Self::Unauthorized {
            host: host.to_owned(),
            credentials: credentials.to_owned(),
            source: Box::new(error),
        };
        match error {
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected,
                actual,
            }) => Self::DigestMismatch {
                what: "what the registry sent",
                expected,
                actual,
            },
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => unauthorized(error),
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => unauthorized(error),
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => {
                Self::NotFound(format!("registry://{reference}"))
            }
            OciDistributionError::RegistryError { ref envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    unauthorized(error)
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    Self::NotFound(format!("registry://{reference}"))
                } else {
                    Self::Registry(error)
                }
            }
            OciDistributionError::RequestError(request)
                if request.is_connect() || request.is_timeout() =>
            {
                Self::Unreachable {
                    host: host.to_owned(),
                    source: Box::new(request),
                }
            }
            other => Self::Registry(other),
        }
    }

    /// Sorts a reqwest error of a download from `host`.
    pub(super) fn from_http(error: reqwest::Error, host: &str) -> Self {
        if error.is_connect() || error.is_timeout() {
            Self::Unreachable {
                host: host.to_owned(),
                source: Box::new(error),
            }
        } else {
            Self::Http(error)
        }
    }
}

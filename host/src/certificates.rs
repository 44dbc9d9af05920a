//! The webhook's certificates, in one place: the CA and serving certificates pullthrough
//! generates (rcgen), what it reads back from PEM (x509-parser), the renewal decision, and the
//! files `pullthrough cert` writes. Keeping the certificate `serve` presents fresh is
//! [`crate::rotation`]'s, which drives the cluster and the TLS resolver too.

mod authority;
mod files;
mod info;
mod renewal;

use std::time::Duration;

pub use authority::{
    Authority, DEFAULT_CA_VALIDITY, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_SERVING_VALIDITY,
    DEFAULT_SERVING_VALIDITY_DAYS, Material, ServingCert, service_dns_names,
};
pub use files::{Issue, WriteError, Written, write_files};
pub use info::{CertInfo, check_ca_bundle, check_issued_by};
pub use renewal::Renewal;

/// Why certificate material could not be generated or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name:?} is not a valid DNS name or IP address for a certificate")]
    InvalidName {
        name: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("could not generate the {what}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("the CA key is not a usable PEM private key")]
    CaKey(#[source] rcgen::Error),
    #[error("the CA certificate is not a usable PEM certificate")]
    CaCert(#[source] rcgen::Error),
    #[error("no PEM certificate found in the input")]
    NoCertificate,
    #[error("the PEM certificate could not be parsed")]
    Parse,
    #[error("the certificate is not a CA certificate (its basicConstraints do not say CA:TRUE)")]
    NotCa,
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("the certificate was not signed by the CA")]
    NotIssuedBy,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `days` whole days.
pub const fn days(days: u64) -> Duration {
    Duration::from_secs(days.saturating_mul(24 * 3600))
}

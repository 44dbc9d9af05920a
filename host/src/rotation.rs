//! The serving certificate of `serve`: brought along as files (watched), generated and shared
//! through a Secret (in a cluster), or generated in memory (no cluster). One loop keeps either
//! fresh: changed files are swapped in, generated material is renewed before it expires, and a
//! new CA is re-registered. It composes the certificate material ([`crate::certificates`]), the
//! cluster ([`crate::k8s`]) and the resolver every handshake reads ([`crate::tls`]).
//!
//! - `start`: the first certificate, from its [`CertificateSource`].
//! - `renew`: the loop that keeps it fresh.

mod renew;
mod start;

use std::path::PathBuf;
use std::time::SystemTime;

pub use start::{CertificateSource, Certificates};

/// Why `serve` has no certificate to start with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not load --tls-cert/--tls-key")]
    LoadFiles(#[source] crate::tls::Error),
    #[error("could not read --ca-file {}", path.display())]
    ReadCaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--ca-file {} cannot be the webhook's caBundle", path.display())]
    CaBundle {
        path: PathBuf,
        #[source]
        source: crate::certificates::Error,
    },
    #[error("--tls-cert {} does not verify against --ca-file {}", cert.display(), ca_file.display())]
    NotIssuedByCaFile {
        cert: PathBuf,
        ca_file: PathBuf,
        #[source]
        source: crate::certificates::Error,
    },
    /// Reading or writing the shared Secret.
    #[error(transparent)]
    Cluster(#[from] crate::k8s::Error),
    /// Generating the material.
    #[error(transparent)]
    Generate(#[from] crate::certificates::Error),
    /// The material does not load as a serving certificate.
    #[error(transparent)]
    Serve(#[from] crate::tls::Error),
    #[error("could not write --write-ca {}", path.display())]
    WriteCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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

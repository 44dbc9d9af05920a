//! x509-parser: the few facts (validity, names) the server reads back from a PEM certificate it
//! did not necessarily make.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::{Error, Result};

/// What the server needs to know about a PEM certificate it did not necessarily make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// DNS names and IP addresses from the subjectAltName extension, in order.
    pub names: Vec<String>,
    /// Whether its basicConstraints make it a CA.
    pub is_ca: bool,
}

impl CertInfo {
    /// Reads the first certificate of a PEM chain.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| Error::NoCertificate)?;
        let cert = pem.parse_x509().map_err(|_| Error::Parse)?;
        let names = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(bytes) => ip_from_bytes(bytes),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let validity = cert.validity();
        Ok(Self {
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
            names,
            is_ca: cert.is_ca(),
        })
    }

    /// Whether `now` is inside the validity window.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now < self.not_after
    }

    /// Whether the certificate should be replaced: less than a third of its life is left.
    /// Renewing at two thirds leaves every replica and every client time to pick up the new one.
    pub fn needs_renewal(&self, now: SystemTime) -> bool {
        let life = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        match self.not_after.duration_since(now) {
            Ok(left) => left < life / 3,
            Err(_) => true,
        }
    }
}

/// The DER SubjectPublicKeyInfo of the first certificate of a PEM chain.
pub(super) fn public_key_info(pem: &str) -> Result<Vec<u8>> {
    let certs = pem_certificates(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&certs[0]).map_err(|_| Error::Parse)?;
    Ok(cert.public_key().raw.to_vec())
}

/// Checks that every certificate of a PEM bundle (a `caBundle`, a `--ca-file`) is a CA.
pub fn check_ca_bundle(pem: &str) -> Result<()> {
    let certs = pem_certificates(pem)?;
    for der in &certs {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| Error::Parse)?;
        if !cert.is_ca() {
            return Err(Error::NotCa);
        }
    }
    Ok(())
}

/// Checks that the first certificate of `leaf_pem` was signed by one of the CAs in `ca_pem`.
pub fn check_issued_by(leaf_pem: &str, ca_pem: &str) -> Result<()> {
    let leaves = pem_certificates(leaf_pem)?;
    let cas = pem_certificates(ca_pem)?;
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaves[0]).map_err(|_| Error::Parse)?;
    for der in &cas {
        let (_, ca) = x509_parser::parse_x509_certificate(der).map_err(|_| Error::Parse)?;
        if leaf.verify_signature(Some(ca.public_key())).is_ok() {
            return Ok(());
        }
    }
    Err(Error::NotIssuedBy)
}

/// The DER of every `CERTIFICATE` block; at least one.
fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>> {
    let certs: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .map_while(std::result::Result::ok)
        .filter(|block| block.label == "CERTIFICATE")
        .map(|block| block.contents)
        .collect();
    if certs.is_empty() {
        return Err(Error::NoCertificate);
    }
    Ok(certs)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::from(b).to_string()),
        _ => None,
    }
}

fn to_system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_certificate() {
        let err = CertInfo::from_pem("not a pem").expect_err("garbage");
        assert_eq!(err.to_string(), "no PEM certificate found in the input");
    }
}

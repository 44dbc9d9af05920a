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
        })
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

//! rcgen: the self-signed ECDSA P-256 certificate authority and the serving certificate the
//! webhook presents.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData as _,
};
use time::OffsetDateTime;

use super::{CertInfo, Error, Result};

/// Validity of a generated CA: long, because renewing it means re-registering the webhook.
pub const DEFAULT_CA_VALIDITY: Duration = super::days(DEFAULT_CA_VALIDITY_DAYS);
/// [`DEFAULT_CA_VALIDITY`] in days, as the flags take it.
pub const DEFAULT_CA_VALIDITY_DAYS: u64 = 3650;
/// Validity of a generated serving certificate; renewed in place long before it ends.
pub const DEFAULT_SERVING_VALIDITY: Duration = super::days(DEFAULT_SERVING_VALIDITY_DAYS);
/// [`DEFAULT_SERVING_VALIDITY`] in days, as the flags take it.
pub const DEFAULT_SERVING_VALIDITY_DAYS: u64 = 365;
/// Backdating covers clocks that run a little behind ours (the API server's, a laptop's).
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The in-cluster DNS names of a Service, the names the API server may use to call the webhook.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// A certificate authority that can sign serving certificates: PEM certificate and PEM key.
#[derive(Clone, PartialEq, Eq)]
pub struct Authority {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Authority {
    // The key is a secret: never let it reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// Generates a self-signed ECDSA P-256 CA valid for `validity` from now.
    pub fn generate(validity: Duration) -> Result<Self> {
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| Error::Generate {
                what: "CA key",
                source,
            })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "pullthrough webhook CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, validity);
        let cert = params.self_signed(&key).map_err(|source| Error::Generate {
            what: "CA certificate",
            source,
        })?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Checks a CA brought along (`cert --ca-cert --ca-key`): the certificate is a CA and the
    /// key is its key. Without this a mismatched key signs certificates nothing verifies.
    pub fn check(&self) -> Result<()> {
        let key = KeyPair::from_pem(&self.key_pem).map_err(Error::CaKey)?;
        if !CertInfo::from_pem(&self.cert_pem)?.is_ca {
            return Err(Error::NotCa);
        }
        if super::info::public_key_info(&self.cert_pem)? != key.subject_public_key_info() {
            return Err(Error::KeyMismatch);
        }
        Ok(())
    }

    /// The CA certificate as the base64 string a webhook configuration's `caBundle` expects.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.cert_pem.as_bytes())
    }

    /// Issues an ECDSA P-256 serving certificate for `names` (DNS names or IP literals).
    pub fn issue(&self, names: &[String], validity: Duration) -> Result<ServingCert> {
        let ca_key = KeyPair::from_pem(&self.key_pem).map_err(Error::CaKey)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, ca_key).map_err(Error::CaCert)?;
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| Error::Generate {
                what: "serving key",
                source,
            })?;
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|name| san(name))
            .collect::<Result<Vec<_>>>()?;
        let mut dn = DistinguishedName::new();
        if let Some(first) = names.first() {
            dn.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, validity);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|source| Error::Generate {
                what: "serving certificate",
                source,
            })?;
        Ok(ServingCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A serving certificate (leaf only) and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct ServingCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert").finish_non_exhaustive()
    }
}

/// Everything a generated deployment needs: the CA and the serving certificate it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub ca: Authority,
    pub serving: ServingCert,
}

impl Material {
    /// A new CA and a serving certificate for `names`.
    pub fn generate(names: &[String], ca_validity: Duration, validity: Duration) -> Result<Self> {
        let ca = Authority::generate(ca_validity)?;
        let serving = ca.issue(names, validity)?;
        Ok(Self { ca, serving })
    }
}

fn san(name: &str) -> Result<rcgen::SanType> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(rcgen::SanType::IpAddress(ip));
    }
    let dns = name
        .to_owned()
        .try_into()
        .map_err(|source| Error::InvalidName {
            name: name.to_owned(),
            source,
        })?;
    Ok(rcgen::SanType::DnsName(dns))
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + validity;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn names() -> Vec<String> {
        let mut names = service_dns_names("pullthrough", "pullthrough");
        names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
        names
    }

    #[test]
    fn service_names_cover_every_in_cluster_form() {
        assert_eq!(
            service_dns_names("svc", "ns"),
            ["svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local"]
        );
    }

    #[test]
    fn serving_certificate_carries_every_name_and_the_validity() {
        let validity = Duration::from_secs(3600);
        let material =
            Material::generate(&names(), DEFAULT_CA_VALIDITY, validity).expect("generate material");
        let info = CertInfo::from_pem(&material.serving.cert_pem).expect("parse serving cert");
        assert_eq!(info.names, names());
        let life = info
            .not_after
            .duration_since(info.not_before)
            .expect("life");
        assert_eq!(life.as_secs(), (validity + CLOCK_SKEW).as_secs());
        assert!(!info.needs_renewal(SystemTime::now()));
        assert!(info.needs_renewal(SystemTime::now() + Duration::from_secs(3000)));
        assert!(info.needs_renewal(SystemTime::now() + Duration::from_secs(7200)));
    }

    #[test]
    fn keys_are_ecdsa_p256_and_the_bundle_is_the_ca_pem() {
        let material = Material::generate(&names(), DEFAULT_CA_VALIDITY, DEFAULT_SERVING_VALIDITY)
            .expect("generate material");
        for key in [&material.ca.key_pem, &material.serving.key_pem] {
            let key = KeyPair::from_pem(key).expect("key parses");
            assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(material.ca.ca_bundle())
            .expect("bundle is base64");
        assert_eq!(decoded, material.ca.cert_pem.as_bytes());
    }

    #[test]
    fn an_existing_authority_signs_a_second_certificate() {
        let ca = Authority::generate(DEFAULT_CA_VALIDITY).expect("ca");
        let first = ca.issue(&names(), DEFAULT_SERVING_VALIDITY).expect("first");
        let second = ca
            .issue(&names(), DEFAULT_SERVING_VALIDITY)
            .expect("second");
        assert_ne!(first.cert_pem, second.cert_pem);
        assert_ne!(first.key_pem, second.key_pem);
    }

    #[test]
    fn an_invalid_name_is_refused_with_the_name() {
        let ca = Authority::generate(DEFAULT_CA_VALIDITY).expect("ca");
        let err = ca
            .issue(
                &["b\u{fc}cher.example".to_owned()],
                DEFAULT_SERVING_VALIDITY,
            )
            .expect_err("invalid name");
        assert!(
            err.to_string()
                .starts_with("\"b\u{fc}cher.example\" is not a valid DNS name"),
            "{err}"
        );
    }
}

//! The renewal decision, free of I/O: whether generated material can keep serving, and what
//! replaces it when it cannot. `serve` runs it on every check; so does every replica writing the
//! shared Secret (`k8s`), so they all decide alike.

use std::time::{Duration, SystemTime};

use super::{Authority, CertInfo, Material, Result};

/// What generated material must cover, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// Names the serving certificate must carry.
    pub names: Vec<String>,
    /// Validity of a newly generated CA.
    pub ca_validity: Duration,
    /// Validity of a newly issued serving certificate.
    pub validity: Duration,
}

impl Renewal {
    /// A new CA and a serving certificate for [`Renewal::names`].
    pub fn generate(&self) -> Result<Material> {
        Material::generate(&self.names, self.ca_validity, self.validity)
    }

    /// `None` when `current` can keep serving; otherwise what should replace it. The CA is kept
    /// (so the registered bundle stays valid) unless it would expire before the new certificate.
    pub fn next(&self, current: Option<&Material>, now: SystemTime) -> Result<Option<Material>> {
        let Some(current) = current else {
            return self.generate().map(Some);
        };
        let serving = CertInfo::from_pem(&current.serving.cert_pem).ok();
        let ca = CertInfo::from_pem(&current.ca.cert_pem).ok();
        let serving_ok = serving.as_ref().is_some_and(|info| {
            !info.needs_renewal(now) && self.names.iter().all(|n| info.names.contains(n))
        });
        let ca_ok = ca
            .as_ref()
            .is_some_and(|info| info.not_after > now + self.validity && info.not_before <= now);
        if serving_ok && ca_ok {
            return Ok(None);
        }
        let ca = if ca_ok {
            current.ca.clone()
        } else {
            Authority::generate(self.ca_validity)?
        };
        let serving = ca.issue(&self.names, self.validity)?;
        Ok(Some(Material { ca, serving }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::{DEFAULT_CA_VALIDITY, DEFAULT_SERVING_VALIDITY};

    fn renewal() -> Renewal {
        Renewal {
            names: vec!["pullthrough.pullthrough.svc".to_owned()],
            ca_validity: DEFAULT_CA_VALIDITY,
            validity: DEFAULT_SERVING_VALIDITY,
        }
    }

    #[test]
    fn fresh_material_is_kept() {
        let renewal = renewal();
        let material = renewal
            .next(None, SystemTime::now())
            .expect("new")
            .expect("some");
        assert_eq!(
            renewal
                .next(Some(&material), SystemTime::now())
                .expect("check"),
            None
        );
    }

    #[test]
    fn an_ageing_serving_certificate_is_reissued_by_the_same_ca() {
        let renewal = renewal();
        let material = renewal
            .next(None, SystemTime::now())
            .expect("new")
            .expect("some");
        let later = SystemTime::now() + DEFAULT_SERVING_VALIDITY * 9 / 10;
        let renewed = renewal
            .next(Some(&material), later)
            .expect("renew")
            .expect("renewed");
        assert_eq!(renewed.ca, material.ca);
        assert_ne!(renewed.serving, material.serving);
    }

    #[test]
    fn a_new_name_forces_a_new_serving_certificate() {
        let mut renewal = renewal();
        let material = renewal
            .next(None, SystemTime::now())
            .expect("new")
            .expect("some");
        renewal.names.push("extra.example.com".to_owned());
        let renewed = renewal
            .next(Some(&material), SystemTime::now())
            .expect("renew")
            .expect("renewed");
        assert_eq!(renewed.ca, material.ca);
        let info = CertInfo::from_pem(&renewed.serving.cert_pem).expect("info");
        assert_eq!(info.names, renewal.names);
    }

    #[test]
    fn a_ca_about_to_expire_is_replaced() {
        let mut renewal = renewal();
        renewal.ca_validity = Duration::from_secs(3600);
        let material = renewal
            .next(None, SystemTime::now())
            .expect("new")
            .expect("some");
        renewal.ca_validity = DEFAULT_CA_VALIDITY;
        let renewed = renewal
            .next(Some(&material), SystemTime::now())
            .expect("renew")
            .expect("renewed");
        assert_ne!(renewed.ca, material.ca);
    }
}

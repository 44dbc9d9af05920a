//! The Secret that holds the generated CA and serving certificate, so every replica serves
//! the same CA: the first replica creates it (by server-side apply, so RBAC can name it), the
//! others reuse it, and renewal replaces it with an optimistic-concurrency update that exactly
//! one replica wins.

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use sha2::{Digest as _, Sha256};

use super::{Error, Result};
use crate::certificates::{Authority, Material, Renewal, ServingCert};

/// The data keys of the Secret: a `kubernetes.io/tls` Secret plus the CA, and the CA key so any
/// replica can renew the serving certificate without changing the CA bundle.
pub const SECRET_KEYS: [&str; 4] = ["ca.crt", "ca.key", "tls.crt", "tls.key"];

/// Where the shared material lives and what it must cover.
#[derive(Debug, Clone)]
pub struct SharedMaterial {
    pub namespace: String,
    pub secret: String,
    /// What the material must cover, and when it is renewed.
    pub renewal: Renewal,
}

impl SharedMaterial {
    /// The material every replica should serve now: the Secret's if it is usable, otherwise new
    /// material written to the Secret. When two replicas race, the loser reads the winner's.
    pub async fn ensure(&self, client: &Client) -> Result<Material> {
        let api: Api<Secret> = Api::namespaced(client.clone(), &self.namespace);
        let existing = api
            .get_opt(&self.secret)
            .await
            .map_err(|source| self.error("read", source))?;
        let Some(existing) = existing else {
            let fresh = self.renewal.generate()?;
            return self.create(&api, fresh).await;
        };
        let now = SystemTime::now();
        let current = material_from_secret(&existing);
        let Some(next) = self.renewal.next(current.as_ref(), now)? else {
            // Checked just above: a usable current value is what the renewal declined to replace.
            return current.ok_or_else(|| unreachable_material(&self.secret));
        };
        let mut replacement = secret_for(&self.namespace, &self.secret, &next);
        replacement.metadata.resource_version = existing.metadata.resource_version.clone();
        match api
            .replace(&self.secret, &PostParams::default(), &replacement)
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %self.secret, "renewed certificate material");
                Ok(next)
            }
            Err(kube::Error::Api(status)) if status.is_conflict() => self.read_winner(&api).await,
            Err(source) => Err(self.error("update", source)),
        }
    }

    /// Creates the Secret holding `fresh` unless another replica has created it first, in which
    /// case the winner's material is served.
    ///
    /// By server-side apply rather than POST: the API server authorizes an apply that creates
    /// as `create` of this name, so the Role grants `create` on `pullthrough-tls` only, where a
    /// POST needs `create` on every Secret of the namespace. An apply also creates-or-updates,
    /// so create-if-absent comes from the field manager: each replica applies under one of its
    /// own, named after the CA it generated, and never forces. The first apply creates the
    /// Secret; a later one (or the loser of a simultaneous one, which the API server retries
    /// against the stored object) would change `data` that another manager owns, and gets
    /// `409 Conflict` instead of overwriting it.
    async fn create(&self, api: &Api<Secret>, fresh: Material) -> Result<Material> {
        let secret = secret_for(&self.namespace, &self.secret, &fresh);
        let params = PatchParams::apply(&creator(&fresh));
        match api
            .patch(&self.secret, &params, &Patch::Apply(&secret))
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %self.secret, "stored new certificate material");
                Ok(fresh)
            }
            Err(kube::Error::Api(status)) if status.is_conflict() || status.is_already_exists() => {
                tracing::info!(secret = %self.secret, "another replica stored the certificate material first");
                self.read_winner(api).await
            }
            Err(source) => Err(self.error("create", source)),
        }
    }

    async fn read_winner(&self, api: &Api<Secret>) -> Result<Material> {
        let secret = api
            .get(&self.secret)
            .await
            .map_err(|source| self.error("read", source))?;
        material_from_secret(&secret).ok_or_else(|| unreachable_material(&self.secret))
    }

    fn error(&self, verb: &'static str, source: kube::Error) -> Error {
        Error::Secret {
            verb,
            namespace: self.namespace.clone(),
            name: self.secret.clone(),
            source: Box::new(source),
        }
    }
}

/// The field manager a replica creates the Secret under: unique to the material it generated,
/// so no two replicas share one (a shared manager would let the second apply overwrite the first).
fn creator(material: &Material) -> String {
    let digest = Sha256::digest(material.ca.cert_pem.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", super::FIELD_MANAGER)
}

fn unreachable_material(secret: &str) -> Error {
    Error::IncompleteSecret {
        name: secret.to_owned(),
    }
}

/// The Secret object holding `material`.
pub fn secret_for(namespace: &str, name: &str, material: &Material) -> Secret {
    let values = [
        &material.ca.cert_pem,
        &material.ca.key_pem,
        &material.serving.cert_pem,
        &material.serving.key_pem,
    ];
    let data = SECRET_KEYS
        .iter()
        .zip(values)
        .map(|(key, value)| ((*key).to_owned(), ByteString(value.as_bytes().to_vec())))
        .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_owned(), super::NAME.to_owned()),
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    super::NAME.to_owned(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// The material in a Secret, or `None` when a key is missing or not UTF-8 PEM.
pub fn material_from_secret(secret: &Secret) -> Option<Material> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| -> Option<String> {
        data.get(key)
            .and_then(|value| String::from_utf8(value.0.clone()).ok())
    };
    Some(Material {
        ca: Authority {
            cert_pem: text("ca.crt")?,
            key_pem: text("ca.key")?,
        },
        serving: ServingCert {
            cert_pem: text("tls.crt")?,
            key_pem: text("tls.key")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::{DEFAULT_CA_VALIDITY, DEFAULT_SERVING_VALIDITY};

    #[test]
    fn secret_round_trips_and_a_missing_key_is_none() {
        let material = Material::generate(
            &["pullthrough.pullthrough.svc".to_owned()],
            DEFAULT_CA_VALIDITY,
            DEFAULT_SERVING_VALIDITY,
        )
        .expect("new");
        let mut secret = secret_for("ns", "name", &material);
        assert_eq!(material_from_secret(&secret), Some(material));
        if let Some(data) = secret.data.as_mut() {
            data.remove("ca.key");
        }
        assert_eq!(material_from_secret(&secret), None);
    }
}

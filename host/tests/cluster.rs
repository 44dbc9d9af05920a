//! Opt-in tests against a real cluster (ignored by default, so they show as ignored rather than
//! passing without a cluster). They use a throwaway webhook configuration name and Secret so they
//! never touch a real install:
//!
//!     KUBECONFIG=~/.kube/config cargo test -p pullthrough --test cluster -- --ignored
//!
//! Needs rights to patch/get/delete mutatingwebhookconfigurations and to create/get/update/delete
//! Secrets in PULLTHROUGH_TEST_NAMESPACE (default `default`).

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use pullthrough::certificates as certs;
use pullthrough::k8s::{self, Registration, SharedMaterial};

fn cluster() -> String {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "the real-cluster tests need KUBECONFIG pointing at a cluster"
    );
    pullthrough::tls::install_default_provider();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("pullthrough-test-{stamp}")
}

#[tokio::test]
#[ignore = "needs a cluster: KUBECONFIG=... cargo test --test cluster -- --ignored"]
async fn register_reads_back_and_unregisters() {
    let name = cluster();
    let client = k8s::client().await.expect("cluster client");
    let registration = Registration {
        name: name.clone(),
        ..Registration::default()
    };
    let ca = certs::Authority::generate(certs::DEFAULT_CA_VALIDITY).expect("ca");
    let config = k8s::webhook_configuration(&registration, ca.cert_pem.as_bytes());
    let outcome = k8s::apply(&client, &config, k8s::Conflicts::Report)
        .await
        .expect("apply");
    assert_eq!(outcome, k8s::Registered::Written);
    let applied = kube::Api::<
        k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
    >::all(client.clone())
    .get(&name)
    .await
    .expect("read back");
    let hook = &applied.webhooks.as_ref().expect("webhooks")[0];
    assert_eq!(
        hook.client_config.ca_bundle.as_ref().map(|b| b.0.clone()),
        Some(ca.cert_pem.clone().into_bytes())
    );
    assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(hook.reinvocation_policy.as_deref(), Some("IfNeeded"));
    let managers: Vec<_> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, [k8s::FIELD_MANAGER]);
    // Applying again is a no-op update, not a conflict.
    k8s::apply(&client, &config, k8s::Conflicts::Report)
        .await
        .expect("re-apply");
    assert!(k8s::unregister(&client, &name).await.expect("delete"));
    assert!(!k8s::unregister(&client, &name).await.expect("already gone"));
}

/// The test namespace (`PULLTHROUGH_TEST_NAMESPACE`, default `default`) and the shared material
/// of a Secret named `name` in it, as every replica of an install describes it.
fn shared_secret(name: &str) -> (String, SharedMaterial) {
    let namespace =
        std::env::var("PULLTHROUGH_TEST_NAMESPACE").unwrap_or_else(|_| "default".to_owned());
    let shared = SharedMaterial {
        namespace: namespace.clone(),
        secret: name.to_owned(),
        renewal: certs::Renewal {
            names: certs::service_dns_names("pullthrough", &namespace),
            ca_validity: certs::DEFAULT_CA_VALIDITY,
            validity: certs::DEFAULT_SERVING_VALIDITY,
        },
    };
    (namespace, shared)
}

#[tokio::test]
#[ignore = "needs a cluster: KUBECONFIG=... cargo test --test cluster -- --ignored"]
async fn replicas_share_one_secret() {
    let name = cluster();
    let client = k8s::client().await.expect("cluster client");
    let (namespace, shared) = shared_secret(&name);
    let first = shared.ensure(&client).await.expect("first replica");
    let second = shared.ensure(&client).await.expect("second replica");
    assert_eq!(first, second);
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a cluster: KUBECONFIG=... cargo test --test cluster -- --ignored"]
async fn replicas_racing_to_create_the_secret_agree_on_one_ca() {
    let name = cluster();
    let client = k8s::client().await.expect("cluster client");
    let (namespace, shared) = shared_secret(&name);
    // Six replicas that all find no Secret and each generate a CA of their own: every apply
    // after the first must fail with a conflict and read the first one's material.
    let mut replicas = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (shared, client) = (shared.clone(), client.clone());
        replicas.spawn(async move { shared.ensure(&client).await });
    }
    let served: Vec<_> = replicas
        .join_all()
        .await
        .into_iter()
        .map(|result| result.expect("replica"))
        .collect();
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let stored = api.get(&name).await.expect("the Secret");
    let stored_ca = stored
        .data
        .as_ref()
        .and_then(|data| data.get("ca.crt"))
        .map(|value| String::from_utf8_lossy(&value.0).into_owned());
    for material in &served {
        assert_eq!(Some(&material.ca.cert_pem), stored_ca.as_ref());
    }
    let appliers = stored
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.operation.as_deref() == Some("Apply"))
        .count();
    assert_eq!(appliers, 1, "exactly one replica's apply was stored");
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("clean up");
}

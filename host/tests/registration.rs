//! Registration and the shared certificate Secret against a fake API server: asserts the exact
//! requests and objects pullthrough sends.

#[path = "common/fake_apiserver.rs"]
mod fake_apiserver;

use axum::http::Method;
use base64::Engine as _;
use fake_apiserver::FakeApiServer;
use pullthrough::certificates::{self as certs, Material};
use pullthrough::k8s::{self, FailurePolicy, NamespaceScope, Registration, SharedMaterial};
use serde_json::{Value, json};

const WEBHOOKS: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
const SECRETS: &str = "/api/v1/namespaces/pullthrough/secrets";
const CA_PEM: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The object the defaults must produce, written out by hand.
fn expected_default_object() -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {
            "name": "pullthrough",
            "labels": {"app.kubernetes.io/name": "pullthrough"},
            "annotations": {"pullthrough.dev/version": env!("CARGO_PKG_VERSION")}
        },
        "webhooks": [{
            "name": "rewrite.pullthrough.dev",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {
                "caBundle": b64(CA_PEM),
                "service": {"name": "pullthrough", "namespace": "pullthrough", "path": "/mutate", "port": 443}
            },
            "failurePolicy": "Ignore",
            "matchPolicy": "Equivalent",
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [
                        "pullthrough", "kube-system", "kube-public", "kube-node-lease", "calico-system",
                        "calico-apiserver", "tigera-operator", "cilium", "kube-flannel", "longhorn-system",
                        "rook-ceph", "openebs", "ingress-nginx", "cert-manager", "zot", "registry"
                    ]}
                ]
            },
            "objectSelector": {
                "matchExpressions": [
                    {"key": "pullthrough.dev/rewrite", "operator": "NotIn", "values": ["false"]}
                ]
            },
            // The CEL itself is checked against the real API server (e2e-cluster/25-calls.bats).
            "matchConditions": serde_json::to_value(k8s::match_conditions(&[])).expect("json"),
            "reinvocationPolicy": "IfNeeded",
            "rules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"], "scope": "Namespaced"},
                {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"], "scope": "Namespaced"},
                {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["jobs", "cronjobs"], "scope": "Namespaced"}
            ],
            "sideEffects": "None",
            "timeoutSeconds": 3
        }]
    })
}

#[tokio::test]
async fn register_applies_the_exact_object_with_one_field_manager() {
    let fake = FakeApiServer::new();
    let config = k8s::webhook_configuration(&Registration::default(), CA_PEM);
    k8s::apply(&fake.client(), &config, k8s::Conflicts::Report)
        .await
        .expect("apply");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    // First a read: a configuration written by a newer version is left alone.
    assert_eq!(requests[0].method, Method::GET);
    let request = &requests[1];
    assert_eq!(request.method, Method::PATCH);
    // Never forced: a field another manager changed is reported, not taken back.
    assert_eq!(
        request.uri,
        format!("{WEBHOOKS}/pullthrough?&fieldManager=pullthrough")
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(request.body.as_ref(), Some(&expected_default_object()));
}

#[tokio::test]
async fn applying_twice_sends_the_same_object_and_updates_in_place() {
    let fake = FakeApiServer::new();
    let config = k8s::webhook_configuration(&Registration::default(), CA_PEM);
    let client = fake.client();
    k8s::apply(&client, &config, k8s::Conflicts::Report)
        .await
        .expect("first apply");
    k8s::apply(&client, &config, k8s::Conflicts::Report)
        .await
        .expect("second apply");
    let patches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::PATCH)
        .collect();
    assert_eq!(patches.len(), 2);
    assert_eq!(patches[0], patches[1]);
    let stored = fake
        .get(&format!("{WEBHOOKS}/pullthrough"))
        .expect("stored");
    assert_eq!(stored["metadata"]["resourceVersion"], "2");
}

#[tokio::test]
async fn options_change_exactly_their_fields() {
    let registration = Registration {
        name: "mirror".to_owned(),
        webhook_name: "mirror.example.com".to_owned(),
        service: "cache-hook".to_owned(),
        namespace: "infra".to_owned(),
        port: 8443,
        path: "/validate/mirror".to_owned(),
        failure_policy: FailurePolicy::Fail,
        timeout_seconds: 5,
        scope: NamespaceScope::Only(vec!["team-a".to_owned(), "team-b".to_owned()]),
        excluded_namespaces: vec!["zot".to_owned(), "kube-system".to_owned()],
        skip_image_prefixes: vec!["m.example.com/".to_owned(), "it's.example.com/".to_owned()],
    };
    let fake = FakeApiServer::new();
    let config = k8s::webhook_configuration(&registration, CA_PEM);
    k8s::apply(&fake.client(), &config, k8s::Conflicts::Report)
        .await
        .expect("apply");

    let mut expected = expected_default_object();
    expected["metadata"]["name"] = json!("mirror");
    let hook = &mut expected["webhooks"][0];
    hook["name"] = json!("mirror.example.com");
    hook["clientConfig"]["service"] = json!({"name": "cache-hook", "namespace": "infra", "path": "/validate/mirror", "port": 8443});
    hook["failurePolicy"] = json!("Fail");
    hook["timeoutSeconds"] = json!(5);
    hook["namespaceSelector"]["matchExpressions"] = json!([
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["infra", "kube-system", "zot"]},
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}
    ]);
    let requests = fake.requests();
    // With image prefixes, a third condition; they are CEL string literals, quotes escaped.
    let sent = requests[1].body.as_ref().expect("a body");
    let skip = &sent["webhooks"][0]["matchConditions"][2];
    assert_eq!(skip["name"], "an-image-off-the-mirror");
    let expression = skip["expression"].as_str().expect("text");
    assert!(
        expression.contains(
            "c.image.startsWith('m.example.com/') || c.image.startsWith('it\\'s.example.com/')"
        ),
        "{expression}"
    );
    hook["matchConditions"]
        .as_array_mut()
        .expect("conditions")
        .push(skip.clone());
    assert_eq!(
        requests[1].uri,
        format!("{WEBHOOKS}/mirror?&fieldManager=pullthrough")
    );
    assert_eq!(requests[1].body.as_ref(), Some(&expected));
}

#[tokio::test]
async fn unregister_deletes_and_reports_absence() {
    let fake = FakeApiServer::new();
    let client = fake.client();
    let config = k8s::webhook_configuration(&Registration::default(), CA_PEM);
    k8s::apply(&client, &config, k8s::Conflicts::Report)
        .await
        .expect("apply");
    assert!(
        k8s::unregister(&client, "pullthrough")
            .await
            .expect("delete")
    );
    assert!(
        !k8s::unregister(&client, "pullthrough")
            .await
            .expect("absent")
    );
    assert_eq!(fake.get(&format!("{WEBHOOKS}/pullthrough")), None);
    let methods: Vec<_> = fake
        .requests()
        .into_iter()
        .map(|r| (r.method, r.uri))
        .collect();
    assert_eq!(
        methods,
        [
            (Method::GET, format!("{WEBHOOKS}/pullthrough")),
            (
                Method::PATCH,
                format!("{WEBHOOKS}/pullthrough?&fieldManager=pullthrough")
            ),
            (Method::DELETE, format!("{WEBHOOKS}/pullthrough?")),
            (Method::DELETE, format!("{WEBHOOKS}/pullthrough?")),
        ]
    );
}

fn shared() -> SharedMaterial {
    SharedMaterial {
        namespace: "pullthrough".to_owned(),
        secret: "pullthrough-tls".to_owned(),
        renewal: certs::Renewal {
            names: certs::service_dns_names("pullthrough", "pullthrough"),
            ca_validity: certs::DEFAULT_CA_VALIDITY,
            validity: certs::DEFAULT_SERVING_VALIDITY,
        },
    }
}

fn secret_json(material: &Material) -> Value {
    serde_json::to_value(k8s::secret_for("pullthrough", "pullthrough-tls", material))
        .expect("secret json")
}

#[tokio::test]
async fn the_first_replica_creates_the_secret_and_the_second_reuses_it() {
    let fake = FakeApiServer::new();
    let first = shared()
        .ensure(&fake.client())
        .await
        .expect("first replica");
    let second = shared()
        .ensure(&fake.client())
        .await
        .expect("second replica");
    assert_eq!(first, second);

    let requests = fake.requests();
    let calls: Vec<_> = requests
        .iter()
        .map(|r| (r.method.clone(), r.uri.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (Method::GET, format!("{SECRETS}/pullthrough-tls")),
            (
                Method::PATCH,
                format!(
                    "{SECRETS}/pullthrough-tls?&fieldManager={}",
                    creator(&first)
                )
            ),
            (Method::GET, format!("{SECRETS}/pullthrough-tls")),
        ]
    );
    assert_eq!(
        requests[1].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    let created = requests[1].body.clone().expect("created body");
    assert_eq!(created, secret_json(&first));
    assert_eq!(created["type"], "kubernetes.io/tls");
    let keys: Vec<_> = created["data"]
        .as_object()
        .expect("data")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["ca.crt", "ca.key", "tls.crt", "tls.key"]);
}

#[tokio::test]
async fn a_replica_that_loses_the_create_race_serves_the_winners_material() {
    let fake = FakeApiServer::new();
    let winner = Material::generate(
        &shared().renewal.names,
        certs::DEFAULT_CA_VALIDITY,
        certs::DEFAULT_SERVING_VALIDITY,
    )
    .expect("winner");
    fake.race_next_create(secret_json(&winner));
    let got = shared().ensure(&fake.client()).await.expect("loser");
    assert_eq!(got, winner);
    let methods: Vec<_> = fake.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, [Method::GET, Method::PATCH, Method::GET]);
    let stored = fake
        .get(&format!("{SECRETS}/pullthrough-tls"))
        .expect("stored");
    assert_eq!(
        stored["data"]["ca.crt"],
        b64(winner.ca.cert_pem.as_bytes()),
        "the loser's apply must not overwrite the winner's CA"
    );
}

/// The field manager the replica that generated `material` creates the Secret under: its own
/// (`pullthrough-` and 16 hex digits of the CA certificate's SHA-256), never forced.
fn creator(material: &Material) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(material.ca.cert_pem.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("pullthrough-{hex}")
}

#[tokio::test]
async fn an_expiring_secret_is_renewed_under_the_same_ca_with_its_resource_version() {
    let fake = FakeApiServer::new();
    let mut short = shared();
    short.renewal.validity = std::time::Duration::from_secs(60);
    let old = short
        .renewal
        .next(None, std::time::SystemTime::now())
        .expect("old")
        .expect("some");
    // Generated with 60 s of life plus the 5 min backdating: already past two thirds.
    fake.insert(&format!("{SECRETS}/pullthrough-tls"), secret_json(&old));

    let renewed = shared().ensure(&fake.client()).await.expect("renew");
    assert_eq!(renewed.ca, old.ca, "the CA bundle must not change");
    assert_ne!(renewed.serving, old.serving);

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].method, Method::PUT);
    assert_eq!(requests[1].uri, format!("{SECRETS}/pullthrough-tls?"));
    let mut expected = secret_json(&renewed);
    expected["metadata"]["resourceVersion"] = json!("1");
    assert_eq!(requests[1].body.as_ref(), Some(&expected));
}

#[tokio::test]
async fn a_secret_missing_a_key_is_replaced() {
    let fake = FakeApiServer::new();
    let mut broken = secret_json(
        &Material::generate(
            &shared().renewal.names,
            certs::DEFAULT_CA_VALIDITY,
            certs::DEFAULT_SERVING_VALIDITY,
        )
        .expect("material"),
    );
    broken["data"]
        .as_object_mut()
        .expect("data")
        .remove("ca.key");
    fake.insert(&format!("{SECRETS}/pullthrough-tls"), broken);
    let fresh = shared().ensure(&fake.client()).await.expect("replace");
    let stored = fake
        .get(&format!("{SECRETS}/pullthrough-tls"))
        .expect("stored");
    assert_eq!(stored["data"]["ca.key"], b64(fresh.ca.key_pem.as_bytes()));
}

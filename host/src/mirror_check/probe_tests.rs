//! The probe against local servers on 127.0.0.1, plain and TLS: what counts as up, and how the
//! mirror's certificate is verified.

use std::time::Duration;

use super::probe::ProbeError;
use super::tests::{Server, check, probe_once};
use super::*;
use crate::certificates::Material;
use crate::tls::{CertResolver, Served};

#[tokio::test]
async fn the_probe_reads_200_and_401_as_up_and_anything_else_as_down() {
    let server = Server::start(200, None).await;
    let check = check(&server.url("http"));
    probe_once(&check).await.expect("200 is up");
    server.status.store(401, Ordering::SeqCst);
    probe_once(&check).await.expect("401 is up");
    for status in [503, 404, 500] {
        server.status.store(status, Ordering::SeqCst);
        let error = probe_once(&check).await.expect_err("down");
        assert_eq!(
            error.to_string(),
            format!(
                "GET /v2/ answered {} (200 or 401 means up)",
                hyper::StatusCode::from_u16(status).expect("status")
            )
        );
    }
    let requests = server.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 5);
    for head in requests {
        let mut lines = head.lines();
        assert_eq!(lines.next(), Some("GET /v2/ HTTP/1.1"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("host: {}\r\n", server.address)),
            "{head}"
        );
    }
}

#[tokio::test]
async fn a_closed_port_and_a_silent_server_are_down() {
    // A port nothing listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let check = check(&url);
    assert!(matches!(
        probe_once(&check).await,
        Err(ProbeError::Connect(_))
    ));
    let silent = Server::start(0, None).await;
    let error = Probe::new(&silent.url("http"), &self::check(&silent.url("http")))
        .expect("probe")
        .check(Duration::from_millis(100))
        .await
        .expect_err("no answer");
    assert_eq!(error.to_string(), "no answer within 100 ms");
}

#[tokio::test]
async fn https_is_verified_against_the_ca_file() {
    crate::tls::install_default_provider();
    let material = Material::generate(
        &["127.0.0.1".to_owned()],
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .expect("certificates");
    let served = Served::from_pem(
        material.serving.cert_pem.as_bytes(),
        material.serving.key_pem.as_bytes(),
    )
    .expect("served");
    let tls = crate::tls::server_config(CertResolver::new(served)).expect("server config");
    let server = Server::start(401, Some(tls)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, &material.ca.cert_pem).expect("write");
    let trusted =
        MirrorCheck::new(&server.url("https"), DEFAULT_INTERVAL, 1, Some(ca)).expect("check");
    probe_once(&trusted).await.expect("verified and up");
    // The system's CAs did not sign it; and plain HTTP to a TLS port gets no HTTP answer.
    let system = MirrorCheck::new(&server.url("https"), DEFAULT_INTERVAL, 1, None).expect("check");
    match Probe::new(system.url(), &system) {
        Ok(probe) => assert!(matches!(
            probe.check(Duration::from_millis(500)).await,
            Err(ProbeError::Tls(_))
        )),
        // A machine without CA certificates refuses the check up front instead.
        Err(error) => assert!(matches!(error, Error::NoRoots { .. }), "{error}"),
    }
    assert!(probe_once(&check(&server.url("http"))).await.is_err());
}

#[tokio::test]
async fn an_unusable_ca_file_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.crt");
    let error = MirrorHealth::start(
        "p",
        MirrorCheck::new(
            "https://m.example.com",
            DEFAULT_INTERVAL,
            1,
            Some(missing.clone()),
        )
        .expect("check"),
    )
    .expect_err("missing file");
    assert_eq!(
        crate::report::one_line(&error),
        format!(
            "cannot read the mirror's CA file {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let error = MirrorHealth::start(
        "p",
        MirrorCheck::new(
            "https://m.example.com",
            DEFAULT_INTERVAL,
            1,
            Some(garbage.clone()),
        )
        .expect("check"),
    )
    .expect_err("no certificate");
    assert_eq!(
        error.to_string(),
        format!(
            "the mirror's CA file {} holds no PEM certificate rustls accepts",
            garbage.display()
        )
    );
}

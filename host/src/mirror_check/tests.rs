//! The check's rules (URL, threshold), the probe against local servers on 127.0.0.1 (plain and
//! TLS), and the running check moving down and up again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::probe::{ProbeError, Target};
use super::*;
use crate::certificates::Material;
use crate::tls::{CertResolver, Served};

fn check(url: &str) -> MirrorCheck {
    MirrorCheck::new(url, Duration::from_millis(20), 3, None).expect("valid check")
}

#[test]
fn urls_are_checked() {
    for ok in [
        "https://m.example.com",
        "https://m.example.com/",
        "http://127.0.0.1:5000",
        "https://[::1]:5000",
        "https://Mirror.Example.com:443",
    ] {
        Target::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "m.example.com",
        "ftp://m.example.com",
        "https://m.example.com/v2/",
        "https://m.example.com/cache",
        "https://user@m.example.com",
        "https://m.example.com?x=1",
        "https://",
        "",
    ] {
        let error = MirrorCheck::new(bad, DEFAULT_INTERVAL, 1, None).expect_err(bad);
        assert_eq!(
            error.to_string(),
            format!(
                "must be http:// or https:// followed by the registry's host[:port] and nothing else, e.g. https://registry-mirror.example.com, got {bad:?}"
            )
        );
    }
    assert_eq!(
        MirrorCheck::new("https://m.example.com", Duration::ZERO, 1, None)
            .expect_err("zero interval")
            .to_string(),
        "the check interval must be more than zero"
    );
    assert_eq!(
        MirrorCheck::new("https://m.example.com", DEFAULT_INTERVAL, 0, None)
            .expect_err("zero threshold")
            .to_string(),
        "the failure threshold must be at least 1"
    );
    assert_eq!(
        check("http://127.0.0.1:5000/").url(),
        "http://127.0.0.1:5000"
    );
}

#[test]
fn a_mirror_setting_is_checked_at_its_host() {
    for (mirror, url) in [
        (
            "registry-mirror.example.com",
            "https://registry-mirror.example.com",
        ),
        ("mirror.local:5000/cache", "https://mirror.local:5000"),
        ("[::1]:5000/a/b", "https://[::1]:5000"),
    ] {
        assert_eq!(MirrorCheck::url_for_mirror(mirror), url);
        MirrorCheck::new(url, DEFAULT_INTERVAL, 1, None).expect("a valid check");
    }
}

/// A registry's `/v2/` as far as the check sees it: answers every request with the status held
/// in `status` (0: accept and never answer), and keeps what it was asked.
struct Server {
    address: SocketAddr,
    status: Arc<AtomicU16>,
    failures_served: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(status: u16, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let status = Arc::new(AtomicU16::new(status));
        let failures_served = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let (answer, failures, seen) = (
            Arc::clone(&status),
            Arc::clone(&failures_served),
            Arc::clone(&requests),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (answer, failures, seen) = (
                    Arc::clone(&answer),
                    Arc::clone(&failures),
                    Arc::clone(&seen),
                );
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                respond(stream, &answer, &failures, &seen).await;
                            }
                        }
                        None => respond(tcp, &answer, &failures, &seen).await,
                    }
                });
            }
        });
        Self {
            address,
            status,
            failures_served,
            requests,
            task,
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.address)
    }
}

async fn respond<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    answer: &AtomicU16,
    failures: &AtomicUsize,
    seen: &Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    seen.lock()
        .expect("lock")
        .push(String::from_utf8_lossy(&head).into_owned());
    let status = answer.load(Ordering::SeqCst);
    if status == 0 {
        std::future::pending::<()>().await;
    }
    if status != 200 && status != 401 {
        failures.fetch_add(1, Ordering::SeqCst);
    }
    let response = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn probe_once(check: &MirrorCheck) -> Result<(), ProbeError> {
    Probe::new(check.url(), check)
        .expect("probe")
        .check(Duration::from_millis(500))
        .await
}

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

/// Polls `condition` until it holds; fails after 10 s (a bound, not a measurement).
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test]
async fn the_running_check_goes_down_after_the_threshold_and_up_again() {
    let server = Server::start(200, None).await;
    let health = MirrorHealth::start("mirror", check(&server.url("http"))).expect("started");
    eventually("a first check", || {
        !server.requests.lock().expect("lock").is_empty()
    })
    .await;
    assert!(health.is_up());
    server.status.store(503, Ordering::SeqCst);
    eventually("down", || !health.is_up()).await;
    // Down is only ever decided on the third failure in a row.
    assert!(server.failures_served.load(Ordering::SeqCst) >= 3);
    assert_eq!(
        health.status(),
        MirrorStatus {
            policy: "mirror".into(),
            url: server.url("http"),
            up: false,
            choice: None,
            transitions: 1,
        }
    );
    assert_eq!(
        health.warning(),
        format!(
            "pullthrough: mirror {} is not answering; images left unchanged",
            server.url("http")
        )
    );
    server.status.store(401, Ordering::SeqCst);
    eventually("up again", || health.is_up()).await;
    assert_eq!(health.status().transitions, 2);
}

#[tokio::test]
async fn two_mirrors_the_first_that_answers_is_chosen() {
    let a = Server::start(200, None).await;
    let b = Server::start(200, None).await;
    let urls = [a.url("http"), b.url("http")];
    let check = MirrorCheck::for_mirrors(&urls, Duration::from_millis(20), 3, None).expect("check");
    assert_eq!(check.urls(), urls);
    let health = MirrorHealth::start("two", check).expect("started");
    eventually("a first check of both", || {
        !a.requests.lock().expect("lock").is_empty() && !b.requests.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(health.choice(), Some(0));
    a.status.store(503, Ordering::SeqCst);
    eventually("the second chosen", || health.choice() == Some(1)).await;
    assert_eq!(health.status().url, urls[1]);
    b.status.store(503, Ordering::SeqCst);
    eventually("none chosen", || health.choice().is_none()).await;
    assert_eq!(
        health.warning(),
        "pullthrough: none of the 2 mirrors is answering; images left unchanged"
    );
    b.status.store(200, Ordering::SeqCst);
    eventually("the second again", || health.choice() == Some(1)).await;
    a.status.store(401, Ordering::SeqCst);
    eventually("the first again", || health.choice() == Some(0)).await;
    assert_eq!(
        health.status(),
        MirrorStatus {
            policy: "two".into(),
            url: urls[0].clone(),
            up: true,
            choice: Some(0),
            transitions: 4,
        }
    );
}

#[test]
fn a_check_needs_a_url() {
    let none: [&str; 0] = [];
    assert_eq!(
        MirrorCheck::for_mirrors(&none, DEFAULT_INTERVAL, 1, None)
            .expect_err("no URL")
            .to_string(),
        "at least one mirror URL is needed"
    );
}

//! The check's rules (URL, threshold), and the local registry servers on 127.0.0.1 (plain and
//! TLS) the probe and the running check are tried against (`probe_tests.rs`, `running_tests.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::probe::{ProbeError, Target};
use super::*;

pub(super) fn check(url: &str) -> MirrorCheck {
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
pub(super) struct Server {
    pub(super) address: SocketAddr,
    pub(super) status: Arc<AtomicU16>,
    pub(super) failures_served: Arc<AtomicUsize>,
    pub(super) requests: Arc<Mutex<Vec<String>>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub(super) async fn start(status: u16, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
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

    pub(super) fn url(&self, scheme: &str) -> String {
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

pub(super) async fn probe_once(check: &MirrorCheck) -> Result<(), ProbeError> {
    Probe::new(check.url(), check)
        .expect("probe")
        .check(Duration::from_millis(500))
        .await
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

//! The TLS accept loop: TCP with TCP_NODELAY, a rustls handshake with a deadline, HTTP/1.1 or h2
//! by ALPN, and graceful shutdown that stops accepting and waits, within a bound, for in-flight
//! requests.
//!
//! A connection costs little until its client has sent a whole ClientHello: no TLS session is
//! created before, and the task that serves the connection is boxed so the handshake phase does
//! not reserve its space. 10,000 clients trickling their hellos (slowloris) then hold sockets and
//! small tasks, not 10,000 TLS sessions with their buffers.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustix::net::RecvFlags;
use rustls::ServerConfig;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::Service as _;

use super::linger::Lingering;
use super::plaintext::PlainHttp;

/// A client that has not finished its TLS handshake by then is dropped, so half-open
/// connections cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Same for request headers on HTTP/1.1 (slowloris); the body has as long again
/// ([`super::BODY_READ_TIMEOUT`]).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then drains connections for at
/// most `grace` before returning.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let plain_http = Arc::new(PlainHttp::default());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off briefly instead of spinning on the error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Admission reviews are small request/response pairs: Nagle would only add latency.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let plain_http = Arc::clone(&plain_http);
        tokio::spawn(async move {
            let handshake = async {
                client_hello_arrived(&tcp).await?;
                if PlainHttp::is_plain_http(&tcp).await {
                    plain_http.answer(tcp, peer).await;
                    return Err(io::Error::other("plain HTTP on the TLS port"));
                }
                acceptor.accept(tcp).await
            };
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                app.clone().call(request)
            });
            let stream = Lingering::new(stream);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = Box::pin(watcher.watch(connection)).await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("stopped accepting; draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_seconds = grace.as_secs_f64(), "shutdown bound reached; closing remaining connections");
        }
    }
}

/// A TLS record header: content type, legacy version, length.
const RECORD_HEADER_BYTES: usize = 5;
const HANDSHAKE_RECORD: u8 = 0x16;

/// Waits, reading nothing, until the client's first TLS record (its ClientHello) is wholly in the
/// socket's receive queue, or until what arrived cannot be one (rustls then refuses it), or the
/// client closed. Each wake-up is one `FIONREAD`, plus a 5-byte peek once there is a header.
async fn client_hello_arrived(tcp: &TcpStream) -> io::Result<()> {
    loop {
        tcp.readable().await?;
        // `WouldBlock` from the closure clears the readiness, so the next wait is for new bytes.
        match tcp.try_io(Interest::READABLE, || first_record_state(tcp)) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
    }
}

/// `Ok` when the handshake can go on (see [`client_hello_arrived`]), `WouldBlock` while more of
/// the first record is due.
fn first_record_state(tcp: &TcpStream) -> io::Result<()> {
    let queued = usize::try_from(rustix::io::ioctl_fionread(tcp)?).unwrap_or(usize::MAX);
    let mut header = [0u8; RECORD_HEADER_BYTES];
    if queued < header.len() {
        // Nothing queued after a wake-up means the client closed (a peek of 0 bytes) or the
        // wake-up was spurious (`WouldBlock`).
        if queued == 0 && rustix::net::recv(tcp, &mut header[..1], RecvFlags::PEEK)?.0 == 0 {
            return Ok(());
        }
        return Err(io::ErrorKind::WouldBlock.into());
    }
    rustix::net::recv(tcp, &mut header, RecvFlags::PEEK)?;
    if header[0] != HANDSHAKE_RECORD {
        return Ok(());
    }
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if queued >= header.len() + length {
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT; shutting down"),
        () = terminate => tracing::info!("received SIGTERM; shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, server)
    }

    async fn arrived_within(server: &TcpStream, wait: Duration) -> bool {
        tokio::time::timeout(wait, client_hello_arrived(server))
            .await
            .map(|result| result.expect("no socket error"))
            .is_ok()
    }

    #[tokio::test]
    async fn waits_for_the_whole_first_record_then_leaves_it_unread() {
        let (mut client, server) = pair().await;
        // A handshake record announcing 6 bytes of body.
        let record = [0x16, 0x03, 0x01, 0x00, 0x06, 1, 2, 3, 4, 5, 6];
        assert!(!arrived_within(&server, Duration::from_millis(50)).await);
        client.write_all(&record[..3]).await.expect("write");
        assert!(!arrived_within(&server, Duration::from_millis(50)).await);
        client.write_all(&record[3..8]).await.expect("write");
        assert!(!arrived_within(&server, Duration::from_millis(50)).await);
        client.write_all(&record[8..]).await.expect("write");
        assert!(arrived_within(&server, Duration::from_secs(5)).await);
        // Nothing was consumed: the TLS library reads the record from the start.
        let mut queued = [0u8; 16];
        let n = server.peek(&mut queued).await.expect("peek");
        assert_eq!(&queued[..n], &record);
    }

    #[tokio::test]
    async fn bytes_that_are_not_a_handshake_record_and_closes_end_the_wait() {
        let (mut client, server) = pair().await;
        client
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        assert!(arrived_within(&server, Duration::from_secs(5)).await);

        let (client, server) = pair().await;
        drop(client);
        assert!(arrived_within(&server, Duration::from_secs(5)).await);
    }
}

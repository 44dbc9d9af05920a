//! Plain HTTP sent to the TLS port: a probe or a client configured with `http://`. Without this
//! it gets a closed connection and the operator sees nothing; now it gets a plain-text 400 that
//! says to use `https://` (as Go's net/http answers), and the first request from each client
//! address is logged.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Addresses remembered before the set starts over: bounded memory, and a client seen again
/// after that is logged once more, which is harmless.
const REMEMBERED: usize = 1024;
/// The request head is read, within these bounds, before answering: closing a socket with
/// unread bytes resets it, and the client would lose the answer.
const HEAD_BYTES: usize = 16 * 1024;
const HEAD_TIME: Duration = Duration::from_secs(2);

const BODY: &str = "this port serves HTTPS only: use https://\n";

/// Which clients were already told.
#[derive(Debug, Default)]
pub(super) struct PlainHttp {
    seen: Mutex<HashSet<IpAddr>>,
}

impl PlainHttp {
    /// Whether the first bytes on `tcp` are an HTTP/1 request line (or the h2c preface) rather
    /// than a TLS record. Reads nothing.
    pub(super) async fn is_plain_http(tcp: &TcpStream) -> bool {
        let mut start = [0u8; 8];
        let Ok(n) = tcp.peek(&mut start).await else {
            return false;
        };
        let method: Vec<u8> = start[..n]
            .iter()
            .copied()
            .take_while(|b| *b != b' ')
            .collect();
        (3..=7).contains(&method.len()) && method.iter().all(u8::is_ascii_uppercase)
    }

    /// Answers 400 in plain HTTP and closes; logs the first time `peer`'s address does this.
    pub(super) async fn answer(&self, mut tcp: TcpStream, peer: SocketAddr) {
        if self.first_time(peer.ip()) {
            tracing::warn!(%peer, "plain HTTP sent to the HTTPS port; answered 400 (clients must use https://); further requests from this address are logged at debug");
        } else {
            tracing::debug!(%peer, "plain HTTP sent to the HTTPS port; answered 400");
        }
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        let _ = tokio::time::timeout(HEAD_TIME, async {
            while head.len() < HEAD_BYTES && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tcp.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await;
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        if tcp.write_all(response.as_bytes()).await.is_ok() && tcp.shutdown().await.is_ok() {
            // Let the client close first, so our close does not reset what it has not read.
            let _ = tokio::time::timeout(HEAD_TIME, async {
                while matches!(tcp.read(&mut buffer).await, Ok(n) if n > 0) {}
            })
            .await;
        }
    }

    fn first_time(&self, ip: IpAddr) -> bool {
        let mut seen = match self.seen.lock() {
            Ok(seen) => seen,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(ip)
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (TcpStream, TcpStream, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, peer) = listener.accept().await.expect("accept");
        (client, server, peer)
    }

    #[tokio::test]
    async fn an_http_request_gets_a_plain_400_and_a_tls_hello_is_left_alone() {
        let (mut client, server, peer) = pair().await;
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        server.readable().await.expect("readable");
        assert!(PlainHttp::is_plain_http(&server).await);
        let plain = PlainHttp::default();
        plain.answer(server, peer).await;
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.expect("read");
        assert_eq!(
            answer,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 42\r\nConnection: close\r\n\r\nthis port serves HTTPS only: use https://\n"
        );
        assert!(!plain.first_time(peer.ip()), "the address is remembered");

        let (mut client, server, _) = pair().await;
        client
            .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
            .await
            .expect("write");
        server.readable().await.expect("readable");
        assert!(!PlainHttp::is_plain_http(&server).await);
    }
}

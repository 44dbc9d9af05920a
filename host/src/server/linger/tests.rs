//! The lingering shutdown on an in-memory pipe, with paused time.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, duplex};

use super::*;

#[tokio::test(start_paused = true)]
async fn shutdown_reads_what_the_client_still_sends_then_closes() {
    let (client, server) = duplex(64 * 1024);
    let mut server = Lingering::new(server);
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let sender = tokio::spawn(async move {
        // Still uploading its headers when the server gives up on them.
        for _ in 0..40 {
            client_write
                .write_all(&[b'x'; 16 * 1024])
                .await
                .expect("write");
        }
        client_write
    });
    server
        .write_all(b"HTTP/1.1 431\r\n\r\n")
        .await
        .expect("answer");
    let started = Instant::now();
    server.shutdown().await.expect("shutdown");
    // Everything the client sent was read (it never blocked), and the answer is there for it.
    let client_write = tokio::time::timeout(Duration::from_secs(5), sender)
        .await
        .expect("the client could send everything: the server read it")
        .expect("task");
    let mut answer = Vec::new();
    client_read.read_to_end(&mut answer).await.expect("read");
    assert_eq!(answer, b"HTTP/1.1 431\r\n\r\n");
    assert_eq!(
        started.elapsed(),
        LINGER_IDLE,
        "closed one idle wait after the last bytes"
    );
    drop(client_write);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_client_costs_one_idle_wait_and_a_closed_one_none() {
    let (client, server) = duplex(1024);
    let mut server = Lingering::new(server);
    let started = Instant::now();
    server.shutdown().await.expect("shutdown");
    assert_eq!(started.elapsed(), LINGER_IDLE);
    drop(client);

    let (client, server) = duplex(1024);
    let mut server = Lingering::new(server);
    drop(client);
    let started = Instant::now();
    server.shutdown().await.expect("shutdown");
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_trickles_is_cut_off_at_the_linger_time() {
    let (client, server) = duplex(1024);
    let mut server = Lingering::new(server);
    let (_client_read, mut client_write) = tokio::io::split(client);
    let trickle = tokio::spawn(async move {
        loop {
            if client_write.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(LINGER_IDLE / 2).await;
        }
    });
    let started = Instant::now();
    server.shutdown().await.expect("shutdown");
    assert_eq!(started.elapsed(), LINGER_TIME);
    drop(server);
    trickle
        .await
        .expect("the trickle ends once the server is gone");
}

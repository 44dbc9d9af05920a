//! A guest call runs on the async worker that received its request. One that runs past a tick
//! must not keep the rest of the process waiting: neither the task that worker woke last (its
//! LIFO slot, which no other worker may steal) nor the sockets (the I/O driver, which no sleeping
//! worker polls). Both tests fail with `hand_off_worker` removed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::guests;
use pullthrough::policies::PolicyRegistry;
use pullthrough::wasm::{Runtime, RuntimeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The guest spins until its deadline: one second.
const CALL: Duration = Duration::from_secs(1);

/// A runtime whose one guest slot runs inline, as serve's do on two cores.
async fn looping() -> (tempfile::TempDir, PolicyRegistry) {
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrency: 1,
        inline_calls: 1,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let module = guests::guest(guests::LOOP, guests::SETTINGS_VALID);
    common::load_on(runtime, &[("loop", module, "  timeoutEvalSeconds: 1\n")]).await
}

/// Runs the looping guest on this task's worker until its deadline stops it.
async fn loop_until_deadline(registry: &PolicyRegistry) {
    let error = registry
        .evaluate("loop", common::pod_request("long", "nginx"))
        .await
        .expect_err("the loop runs into its deadline");
    assert_eq!(error.kind(), "timeout");
}

/// Starts the looping call on a worker, right after `before` ran on that same worker; returns
/// when the call began.
async fn long_call(registry: PolicyRegistry, before: impl FnOnce() + Send + 'static) -> Instant {
    let (began, began_at) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        before();
        let _ = began.send(Instant::now());
        loop_until_deadline(&registry).await;
    });
    began_at.await.expect("the call began")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_a_long_call_woke_last_runs_elsewhere() {
    let (_dir, registry) = looping().await;
    let wake = Arc::new(tokio::sync::Notify::new());
    let (ran, ran_at) = tokio::sync::oneshot::channel();
    tokio::spawn({
        let wake = Arc::clone(&wake);
        async move {
            wake.notified().await;
            let _ = ran.send(Instant::now());
        }
    });
    // The waiter is idle before it is woken; woken from a worker, it goes to that worker's
    // LIFO slot, and the call starts on the same worker at once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let began = long_call(registry, move || wake.notify_one()).await;
    let waited = ran_at.await.expect("the waiter ran").duration_since(began);
    assert!(
        waited < CALL / 4,
        "the woken task waited {waited:?} for a {CALL:?} guest call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_served_while_a_long_call_runs() {
    let (_dir, registry) = looping().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (began, began_at) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // The first connection's byte starts the call, as a request's bytes do in serve: on the
        // worker that polled the I/O driver, while the other sleeps without it.
        let (mut first, _) = listener.accept().await.expect("accept");
        let mut byte = [0; 1];
        first.read_exact(&mut byte).await.expect("read");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut byte = [0; 1];
                    if socket.read_exact(&mut byte).await.is_ok() {
                        let _ = socket.write_all(&byte).await;
                    }
                });
            }
        });
        let _ = began.send(Instant::now());
        loop_until_deadline(&registry).await;
    });
    // Clients on threads of their own: the runtime's workers are what is being tested.
    let echoed = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        // Let every worker go idle first.
        std::thread::sleep(Duration::from_millis(50));
        let mut first = std::net::TcpStream::connect(address).expect("connect");
        first.write_all(b"x").expect("send");
        std::thread::sleep(Duration::from_millis(50));
        let mut second = std::net::TcpStream::connect(address).expect("connect");
        second.write_all(b"y").expect("send");
        let mut byte = [0; 1];
        second.read_exact(&mut byte).expect("echo");
        Instant::now()
    })
    .await
    .expect("clients");
    let waited = echoed.duration_since(began_at.await.expect("the call began"));
    assert!(
        waited < CALL / 2,
        "a second connection was echoed {waited:?} into a {CALL:?} guest call"
    );
}

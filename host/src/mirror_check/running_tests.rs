//! The running check moving down after its threshold and up again, and choosing among mirrors.

use std::time::Duration;

use super::tests::{Server, check};
use super::*;

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

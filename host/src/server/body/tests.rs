//! The budget shared by all bodies, the size limit and the read deadline, on hand-made bodies
//! and paused time.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::HeaderValue;
use hyper::body::Frame;

use super::*;

/// A body that sends `sent` bytes in one frame, then nothing more, ever (a client that stopped).
struct Stalled {
    sent: Option<Bytes>,
}

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.sent.take() {
            Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            None => Poll::Pending,
        }
    }
}

fn declaring(length: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers
}

fn body_of(length: usize) -> Body {
    Body::from(vec![b' '; length])
}

#[tokio::test(start_paused = true)]
async fn a_body_waits_for_room_then_is_told_to_retry() {
    let budget = BodyBudget::new(4 * UNIT);
    let first = read(
        &budget,
        &declaring(3 * UNIT),
        body_of(3 * UNIT),
        Instant::now(),
    )
    .await
    .expect("fits");
    assert_eq!(budget.available_bytes(), UNIT);
    let started = Instant::now();
    let error = read(
        &budget,
        &declaring(2 * UNIT),
        body_of(2 * UNIT),
        Instant::now(),
    )
    .await
    .expect_err("no room");
    assert_eq!(started.elapsed(), BUDGET_WAIT);
    assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error.retry_after(), Some(1));
    assert_eq!(
        error.to_string(),
        "the server holds as many request bodies as its 4096 byte budget allows; retry shortly"
    );
    // The first body's share comes back when it is dropped, and a waiting body gets it.
    let waiting = tokio::spawn(async move {
        let budget = budget;
        let second = read(
            &budget,
            &declaring(2 * UNIT),
            body_of(2 * UNIT),
            Instant::now(),
        )
        .await;
        (second.map(|b| b.bytes.len()), budget.available_bytes())
    });
    tokio::time::sleep(BUDGET_WAIT / 2).await;
    drop(first);
    let (second, available) = waiting.await.expect("task");
    assert_eq!(second.expect("room after the first"), 2 * UNIT);
    assert_eq!(available, 4 * UNIT, "the second body's share is back too");
}

#[tokio::test(start_paused = true)]
async fn a_chunked_body_reserves_as_it_grows() {
    let budget = BodyBudget::new(4 * UNIT);
    let held = read(
        &budget,
        &HeaderMap::new(),
        body_of(3 * UNIT),
        Instant::now(),
    )
    .await
    .expect("fits");
    assert_eq!(budget.available_bytes(), UNIT);
    let error = read(
        &budget,
        &HeaderMap::new(),
        body_of(2 * UNIT),
        Instant::now(),
    )
    .await
    .expect_err("grows past the budget");
    assert!(
        matches!(error, BodyError::OverBudget { budget: 4096 }),
        "{error:?}"
    );
    // What the refused body had reserved went back.
    assert_eq!(budget.available_bytes(), UNIT);
    drop(held);
    // Larger than the whole budget: refused without waiting.
    let started = Instant::now();
    let error = read(
        &budget,
        &declaring(5 * UNIT),
        body_of(5 * UNIT),
        Instant::now(),
    )
    .await
    .expect_err("never fits");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stops_arriving_times_out_and_gives_its_share_back() {
    let budget = BodyBudget::new(16 * UNIT);
    let received = Instant::now();
    let stalled = Body::new(Stalled {
        sent: Some(Bytes::from_static(b"{")),
    });
    let error = read(&budget, &declaring(100), stalled, received)
        .await
        .expect_err("stalled");
    assert_eq!(received.elapsed(), BODY_READ_TIMEOUT);
    assert_eq!(error.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(error.to_string(), "request body did not arrive within 10 s");
    assert_eq!(error.retry_after(), None);
    assert_eq!(budget.available_bytes(), 16 * UNIT);
}

#[tokio::test]
async fn the_size_limit_holds_declared_or_not() {
    let budget = BodyBudget::new(2 * MAX_BODY_BYTES);
    let declared = read(
        &budget,
        &declaring(MAX_BODY_BYTES + 1),
        Body::empty(),
        Instant::now(),
    )
    .await
    .expect_err("declared too large");
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        declared.to_string(),
        "request body exceeds the 7340032 byte (7 MiB) limit"
    );
    let chunked = read(
        &budget,
        &HeaderMap::new(),
        body_of(MAX_BODY_BYTES + 1),
        Instant::now(),
    )
    .await
    .expect_err("too large");
    assert_eq!(chunked.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let exact = read(
        &budget,
        &HeaderMap::new(),
        body_of(MAX_BODY_BYTES),
        Instant::now(),
    )
    .await
    .expect("the limit itself is accepted");
    assert_eq!(exact.bytes.len(), MAX_BODY_BYTES);
    assert_eq!(budget.available_bytes(), MAX_BODY_BYTES);
}

//! Answers given before the request body was read (a body over the limit, an unknown path, a
//! wrong method) reach an HTTP/2 client intact.
//!
//! Over HTTP/1.1 hyper sends such an answer and closes the connection, and a client waiting on
//! `Expect: 100-continue` never uploads at all. Over HTTP/2 the stream stays open while the client
//! uploads; answering then makes h2 reset the stream, and clients such as curl report the reset
//! ("Stream error in the HTTP/2 framing layer") instead of the status. So for HTTP/2 the body a
//! handler left unread is read and discarded, within a bound, before the answer goes out.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::Version;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// At most this much of an unread body is discarded; a larger upload is reset as before.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// And for at most this long, so a client that stalls cannot hold the answer.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The middleware: HTTP/2 requests get a body that, dropped unfinished, hands itself back.
pub(super) async fn finish_unread_body(request: Request, next: Next) -> Response {
    if request.version() != Version::HTTP_2 {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let slot = Arc::new(Mutex::new(None));
    let body = Body::new(HandsBack {
        inner: Some(body),
        slot: Arc::clone(&slot),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    let unread = match slot.lock() {
        Ok(mut slot) => slot.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    if let Some(unread) = unread {
        // Either way the answer goes out next; a body that did not finish is then reset.
        let _ = tokio::time::timeout(DRAIN_TIME, discard(unread)).await;
    }
    response
}

/// Reads and drops up to [`DRAIN_BYTES`] of `body`.
async fn discard(mut body: Body) {
    let mut seen = 0usize;
    while seen <= DRAIN_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    seen += data.len();
                }
            }
            Some(Err(_)) | None => return,
        }
    }
}

/// A body that, dropped before its end, puts what is left of itself into `slot`.
struct HandsBack {
    inner: Option<Body>,
    slot: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for HandsBack {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            // Finished or broken: nothing to hand back.
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for HandsBack {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take()
            && !inner.is_end_stream()
        {
            match self.slot.lock() {
                Ok(mut slot) => *slot = Some(inner),
                Err(poisoned) => *poisoned.into_inner() = Some(inner),
            }
        }
    }
}

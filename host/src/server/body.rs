//! Reading a review's body: bounded in size per request, in the bytes buffered across every
//! request at once, and in time.
//!
//! The admission port is open to every pod, so without a shared bound 16 clients posting 7 MiB
//! each held 295 MB of a 320 MiB pod, and a client that sent part of a body and stopped held its
//! share (and its connection) for as long as it liked. A request now reserves its body's bytes
//! from one [`BodyBudget`] before they are read (the declared `Content-Length` at once, or frame
//! by frame for a chunked body) and keeps them until its answer is built; one that cannot get
//! them within [`BUDGET_WAIT`] is told to retry (`429` with `Retry-After`, which the API server's
//! client honours). A body must arrive whole within [`BODY_READ_TIMEOUT`], as its headers must.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The largest review body accepted. An UPDATE review carries the object twice (`object` and
/// `oldObject`), and the API server escapes `<` as six bytes: the largest it sent in
/// e2e-cluster/47-limits.bats was 6,292,826 bytes (BENCHMARKS.md).
pub const MAX_BODY_BYTES: usize = 7 * 1024 * 1024;

/// How long a body may take to arrive, from the end of its headers: as long as the headers
/// themselves may take (`HEADER_READ_TIMEOUT` of the listener).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for its share of the budget before it is told to retry.
pub const BUDGET_WAIT: Duration = Duration::from_secs(1);

/// What the client is told to wait before retrying a request the budget had no room for.
const RETRY_AFTER_SECONDS: u64 = 1;

/// The budget's unit: bodies reserve whole KiB, so the count fits a semaphore's permits.
const UNIT: usize = 1024;

/// The bytes of request bodies all requests together may hold in memory.
#[derive(Debug)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    total_units: usize,
}

impl BodyBudget {
    /// A budget of `bytes`, rounded up to whole KiB.
    pub fn new(bytes: usize) -> Self {
        let total_units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        self.total_units * UNIT
    }

    /// Bytes not reserved by any request now.
    pub fn available_bytes(&self) -> usize {
        self.units.available_permits() * UNIT
    }

    /// Adds the units for `bytes` to `held`, waiting at most [`BUDGET_WAIT`].
    async fn reserve(
        &self,
        held: &mut Option<OwnedSemaphorePermit>,
        bytes: usize,
    ) -> Result<(), BodyError> {
        let held_units = held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
        let more = bytes.div_ceil(UNIT).saturating_sub(held_units);
        if more == 0 {
            return Ok(());
        }
        let over = || BodyError::OverBudget {
            budget: self.bytes(),
        };
        let more = u32::try_from(more).map_err(|_| over())?;
        if held_units + more as usize > self.total_units {
            return Err(over());
        }
        let acquire = Arc::clone(&self.units).acquire_many_owned(more);
        let permit = match tokio::time::timeout(BUDGET_WAIT, acquire).await {
            Ok(Ok(permit)) => permit,
            // Timed out, or closed (never: the budget lives as long as the server).
            Ok(Err(_)) | Err(_) => return Err(over()),
        };
        match held {
            Some(held) => held.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }
}

/// A body read whole, holding its share of the budget until dropped.
#[derive(Debug)]
pub(super) struct Buffered {
    pub(super) bytes: Bytes,
    _reserved: Option<OwnedSemaphorePermit>,
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
    /// Declared or found to be over [`MAX_BODY_BYTES`].
    #[error("request body exceeds the {MAX_BODY_BYTES} byte (7 MiB) limit")]
    TooLarge,
    /// The budget had no room for it within [`BUDGET_WAIT`].
    #[error(
        "the server holds as many request bodies as its {budget} byte budget allows; retry shortly"
    )]
    OverBudget { budget: usize },
    /// It did not arrive whole within [`BODY_READ_TIMEOUT`].
    #[error(
        "request body did not arrive within {} s",
        BODY_READ_TIMEOUT.as_secs()
    )]
    TimedOut,
    /// The connection failed while it was read.
    #[error("could not read the request body: {0}")]
    Read(#[source] axum::Error),
}

impl BodyError {
    /// The status the client gets.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::OverBudget { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TimedOut => StatusCode::REQUEST_TIMEOUT,
            Self::Read(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The `Retry-After` seconds to send, for an answer that asks the client to retry.
    pub(super) fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::OverBudget { .. }).then_some(RETRY_AFTER_SECONDS)
    }
}

/// Reads `body` whole within the limits above. `received` is when its headers were read.
pub(super) async fn read(
    budget: &BodyBudget,
    headers: &HeaderMap,
    body: Body,
    received: Instant,
) -> Result<Buffered, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut reserved = None;
    let declared = declared.map_or(0, |len| usize::try_from(len).unwrap_or(MAX_BODY_BYTES));
    budget.reserve(&mut reserved, declared).await?;
    let until = received + BODY_READ_TIMEOUT;
    let mut body = body;
    let mut bytes = Vec::with_capacity(declared);
    loop {
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => break,
            Ok(Some(Err(error))) => return Err(BodyError::Read(error)),
            Ok(Some(Ok(frame))) => frame,
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let length = bytes.len() + data.len();
        if length > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        // A chunked body, or one longer than it declared (hyper refuses that), grows its share.
        budget.reserve(&mut reserved, length).await?;
        bytes.extend_from_slice(data);
    }
    Ok(Buffered {
        bytes: Bytes::from(bytes),
        _reserved: reserved,
    })
}

#[cfg(test)]
mod tests;

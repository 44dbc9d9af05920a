//! A lingering close: a connection that shuts down while its client is still sending reads and
//! drops what keeps coming, briefly, before the socket closes.
//!
//! hyper answers a request whose headers outgrow its buffer (a 1 MB header) with `431 Request
//! Header Fields Too Large` and closes. Closing a socket with unread bytes in its receive queue
//! makes the kernel send a reset, and the client's kernel then discards what it had received and
//! not yet read: the 431 with it. The client saw "empty reply from server". So the write side is
//! shut down first (the 431, TLS close_notify, FIN), then the read side is drained until the
//! client closes, stops sending for [`LINGER_IDLE`], has sent [`LINGER_BYTES`], or
//! [`LINGER_TIME`] has passed, whichever comes first. A client that sends nothing more costs one
//! idle wait.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a closing connection may keep reading, at most.
pub(super) const LINGER_TIME: Duration = Duration::from_secs(2);
/// How long it waits for the next bytes before closing.
pub(super) const LINGER_IDLE: Duration = Duration::from_millis(500);
/// How much it reads and drops, at most: a whole body of the largest size and then some, so an
/// HTTP/1.1 client refused before its upload (429, 413) still reads the answer.
pub(super) const LINGER_BYTES: usize = super::MAX_BODY_BYTES + 1024 * 1024;

/// `io`, whose shutdown lingers as described above.
pub(super) struct Lingering<T> {
    io: T,
    state: State,
}

enum State {
    Open,
    Draining {
        until: Instant,
        idle: Pin<Box<Sleep>>,
        drained: usize,
    },
    Closed,
}

impl<T> Lingering<T> {
    pub(super) fn new(io: T) -> Self {
        Self {
            io,
            state: State::Open,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Lingering<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Open => {
                    ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
                    let now = Instant::now();
                    this.state = State::Draining {
                        until: now + LINGER_TIME,
                        idle: Box::pin(tokio::time::sleep_until(now + LINGER_IDLE)),
                        drained: 0,
                    };
                }
                State::Draining {
                    until,
                    idle,
                    drained,
                } => {
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                            *drained += buf.filled().len();
                            if *drained < LINGER_BYTES {
                                let next = (Instant::now() + LINGER_IDLE).min(*until);
                                idle.as_mut().reset(next);
                                continue;
                            }
                            this.state = State::Closed;
                        }
                        // End of stream, or an error: nothing more will come.
                        Poll::Ready(_) => this.state = State::Closed,
                        Poll::Pending => {
                            ready!(idle.as_mut().poll(cx));
                            this.state = State::Closed;
                        }
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! A guest's WASI stdout and stderr, sent to our tracing logs instead of the process's streams
//! (which carry `pullthrough run`'s JSON answer and must stay clean).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// One line of guest output beyond this is cut in the log.
const MAX_LINE: usize = 8 * 1024;

/// A guest output stream that logs each write.
#[derive(Debug, Clone)]
pub(crate) struct GuestOutput {
    policy: Arc<str>,
    stream: &'static str,
}

impl GuestOutput {
    pub(crate) fn stdout(policy: Arc<str>) -> Self {
        Self {
            policy,
            stream: "stdout",
        }
    }

    pub(crate) fn stderr(policy: Arc<str>) -> Self {
        Self {
            policy,
            stream: "stderr",
        }
    }

    fn log(&self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(MAX_LINE)];
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            tracing::info!(policy = %self.policy, stream = self.stream, "{line}");
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.log(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

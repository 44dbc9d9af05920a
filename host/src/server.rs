//! The admission HTTP server: the axum router and its handlers, metrics, and the TLS listener
//! with graceful shutdown.

mod listener;
pub mod metrics;

pub use listener::{serve, shutdown_signal};

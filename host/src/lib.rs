//! pullthrough: an admission webhook that runs Kubewarden waPC policies in-process.

pub mod certs;
pub mod cli;
pub mod k8s;
pub mod run;
pub mod telemetry;
pub mod tls;

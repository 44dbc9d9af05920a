//! pullthrough: an admission webhook that runs Kubewarden waPC policies in-process.

pub mod admission;
pub mod cert;
pub mod certs;
pub mod cli;
pub mod k8s;
pub mod manifests;
pub mod policies;
pub mod register;
pub mod run;
pub mod serve;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod wasm;

//! pullthrough: an admission webhook that runs Kubewarden waPC policies in-process.
//!
//! [`cli`] and [`commands`] are the command layer: clap flags turned into plain configuration.
//! Everything below them is library code by concern, each module owning its foreign crate.

/// Names shared by the Namespace, Service, ServiceAccount, Secret labels, webhook configuration
/// and RBAC objects, and the namespace the server protects by default (its own).
pub const NAME: &str = "pullthrough";

pub mod admission;
pub mod admission_policy;
mod allocator;
pub mod certificates;
pub mod cli;
pub mod commands;
pub mod k8s;
pub mod mirror_check;
pub mod policies;
pub mod report;
pub mod rotation;
pub mod scan;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod wasm;

//! pullthrough: an admission webhook that runs Kubewarden waPC policies in-process.

pub mod admission;
pub mod cli;
pub mod policies;
pub mod run;
pub mod wasm;

//! pullthrough: an admission webhook that runs Kubewarden waPC policies in-process.

pub mod cli;
pub mod run;

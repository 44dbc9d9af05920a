//! Command-line interface: one subcommand per job; each command's flags live in its own module.

use clap::{Parser, Subcommand};

/// Makes a Kubernetes cluster pull its images through a pull-through cache, by rewriting image
/// references at admission time with a Kubewarden waPC policy run in-process.
#[derive(Debug, Parser)]
#[command(name = "pullthrough", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate one AdmissionReview against a policy module offline and print the response
    /// (the same output shape as `kwctl run`).
    Run(crate::run::RunArgs),
}

//! Command-line interface: one subcommand per job; each command's flags live in its own module.

use clap::{Parser, Subcommand};

/// Makes a Kubernetes cluster pull its images through a pull-through cache, by rewriting image
/// references at admission time with a Kubewarden waPC policy run in-process.
#[derive(Debug, Parser)]
#[command(name = "pullthrough", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub log: crate::telemetry::LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate one AdmissionReview against a policy module offline and print the response
    /// (the same output shape as `kwctl run`).
    Run(crate::run::RunArgs),
    /// Serve the admission webhook over HTTPS (generates its certificate unless given one).
    Serve(Box<crate::serve::ServeArgs>),
    /// Generate a CA and a serving certificate for the webhook Service.
    Cert(crate::cert::CertArgs),
    /// Create or update the MutatingWebhookConfiguration in the current cluster.
    Register(crate::register::RegisterArgs),
    /// Delete the MutatingWebhookConfiguration from the current cluster.
    Unregister(crate::register::UnregisterArgs),
    /// Print a complete install (Namespace, RBAC, Deployment, Service) as YAML.
    Manifests(crate::manifests::ManifestsArgs),
}

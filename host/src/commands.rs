//! The `Cli` and its subcommands, one file each: each turns its flags into plain configuration
//! and calls the library. The flag groups several commands share are in [`crate::cli`].

pub mod cert;
pub mod manifests;
pub mod register;
pub mod run;
pub mod scan;
pub mod serve;

use clap::{Parser, Subcommand};

use crate::cli::LogArgs;

/// Makes a Kubernetes cluster pull its images through a pull-through cache, by rewriting image
/// references at admission time with a Kubewarden waPC policy run in-process.
#[derive(Debug, Parser)]
#[command(name = "pullthrough", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate one AdmissionReview against a policy module offline and print the response
    /// (the same output shape as `kwctl run`).
    Run(run::RunArgs),
    /// Serve the admission webhook over HTTPS (generates its certificate unless given one).
    Serve(Box<serve::ServeArgs>),
    /// Generate a CA and a serving certificate for the webhook Service.
    Cert(cert::CertArgs),
    /// Create or update the MutatingWebhookConfiguration in the current cluster.
    Register(register::RegisterArgs),
    /// Delete the MutatingWebhookConfiguration from the current cluster.
    Unregister(register::UnregisterArgs),
    /// Print a complete install (Namespace, ServiceAccount, RBAC, with --policies a ConfigMap,
    /// Deployment, Service, PodDisruptionBudget, NetworkPolicy) as YAML.
    Manifests(manifests::ManifestsArgs),
    /// Find the workloads whose images do not go through the mirror (admitted while the
    /// webhook was down), with the policy the webhook runs; `--apply` patches them.
    Scan(Box<scan::ScanArgs>),
    /// Compile the Wasm module on stdin for the engine these settings build and write the
    /// artifact on stdout: `serve` runs its own binary so, to keep the compiler's memory out of
    /// the server (crate::wasm's compile_child).
    #[command(name = "compile-module", hide = true)]
    CompileModule(CompileModuleArgs),
}

/// The engine settings of `compile-module`, as `serve` passes them (the flags of `serve` that
/// shape the engine, under the same names).
#[derive(Debug, clap::Args)]
pub struct CompileModuleArgs {
    /// Guest calls running at once (sizes the instance pool).
    #[arg(long, value_name = "N", env = "PULLTHROUGH_MAX_CONCURRENCY")]
    pub max_concurrency: usize,
    /// Linear-memory cap of one guest, in MiB.
    #[arg(long, value_name = "MIB", env = "PULLTHROUGH_POLICY_MEMORY_MIB")]
    pub policy_memory_mib: usize,
    /// Allocate guest instances on demand instead of from wasmtime's pre-reserved pool.
    #[arg(long, value_parser = crate::cli::values::boolish(), env = "PULLTHROUGH_NO_POOLING")]
    pub no_pooling: bool,
}
impl Cli {
    /// The filter the command logs with: `--log` if given, else `info`, or `warn` for `scan`
    /// (a one-shot command whose start-up lines would only bury its report).
    pub fn log_filter(&self) -> &str {
        match (&self.log.log, &self.command) {
            (Some(filter), _) => filter,
            (None, Command::Scan(_)) => "warn",
            (None, _) => "info",
        }
    }
}

#[cfg(test)]
mod tests;

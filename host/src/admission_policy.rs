//! `manifests --admission-policy`: the embedded policy's rewrite as a native
//! `MutatingAdmissionPolicy` (admissionregistration.k8s.io/v1, CEL run by the API server), with no
//! webhook to deploy.
//!
//! The settings are validated and normalised by the policy crate itself
//! ([`pullthrough_policy::Settings::compile`], then [`pullthrough_policy::Rewriter::describe`]),
//! so defaults and validation cannot drift from `policy.wasm`; the CEL is generated from that
//! description. The cluster suite puts every reference of the policy's tables and every
//! admission fixture through the real API server with it and compares with `policy.wasm`
//! (`e2e-cluster/75-admission-policy.bats`).
//!
//! - `walk.rs`: the admission walk (objects left alone, pod specs, containers, patch);
//! - `decide.rs`: each image's rewrite; `grammar.rs` and `glob.rs` the patterns it matches;
//! - `cel.rs`: literals.

mod cel;
mod decide;
mod glob;
mod grammar;
mod walk;

use pullthrough_policy::{Settings, SettingsError};

use crate::k8s::FailurePolicy;
use crate::k8s::admission_policy::{self as objects, PolicyObjects};
pub use crate::k8s::admission_policy::{Named, Program};

/// What the webhook does that the admission policy cannot, said on standard error with every
/// policy. Each degrades safely: images left unchanged (what the webhook does too when it cannot
/// help), or a record of originals that loses pairs no admission wrote. The cluster suite's
/// differential test lists the last as the one difference it finds
/// (`e2e-cluster/admission_policy_diff.py`, LISTED).
pub const NOTES: [&str; 3] = [
    "the admission policy has no mirror check: while the mirror is down, the webhook \
     (pullthrough serve) admits pods unchanged, but the admission policy keeps rewriting, so \
     new pods cannot pull until the mirror is back",
    "the admission policy leaves an image it cannot rewrite (not a valid reference, or too long \
     once rewritten) unchanged without the warning the webhook adds",
    "the admission policy cannot parse JSON: an originals annotation edited by hand to hold a \
     JSON escape (\\u...) is replaced with this admission's originals, where the webhook merges it",
];

/// What to say on standard error with the policy for `settings`: [`NOTES`], then the warning
/// the policy logs when it loads such settings (`allowSharedNamespace`).
pub fn notes(settings: &Settings) -> Vec<String> {
    NOTES
        .iter()
        .map(|note| (*note).to_owned())
        .chain(settings.warning())
        .collect()
}

/// What the settings leave to the API server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// What the API server does when an expression fails (the cost budget, a bug).
    pub failure_policy: FailurePolicy,
    /// Namespaces never rewritten (`kube-system` is always among them).
    pub excluded_namespaces: Vec<String>,
}

/// Why no admission policy was generated.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy refuses the settings (the message names the field).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The admission policy has no mirror check to choose among mirrors, so it could only ever
    /// use the first; refused rather than silently ignoring the others.
    #[error(
        "settings.mirrors names {count} mirrors, but an admission policy has no mirror check to \
         choose among them and would always rewrite to {first}: give one mirror, or use the \
         webhook (pullthrough serve), which switches to the next mirror when one is down"
    )]
    SeveralMirrors { count: usize, first: String },
    #[error(transparent)]
    Render(#[from] crate::k8s::Error),
}

/// The CEL that rewrites as `policy.wasm` does with `settings`.
pub fn program(settings: &Settings) -> Result<Program, Error> {
    let rewriter = settings.compile()?;
    let description = rewriter.describe();
    if !description.other_mirrors.is_empty() {
        let first = &description.mirror;
        return Err(Error::SeveralMirrors {
            count: description.other_mirrors.len() + 1,
            first: if first.prefix.is_empty() {
                first.host.to_owned()
            } else {
                format!("{}/{}", first.host, first.prefix)
            },
        });
    }
    let mut variables = walk::containers();
    variables.extend(decide::variables(&description));
    variables.extend(walk::edits(&description));
    Ok(Program {
        match_conditions: walk::match_conditions(&description),
        variables,
        mutation: walk::mutation(&description),
    })
}

/// The `MutatingAdmissionPolicy` and its binding as YAML, preceded by a comment naming the
/// settings they were generated from.
pub fn render(settings: &Settings, options: &Options) -> Result<String, Error> {
    let program = program(settings)?;
    let mut excluded = vec!["kube-system".to_owned()];
    for namespace in &options.excluded_namespaces {
        if !excluded.contains(namespace) {
            excluded.push(namespace.clone());
        }
    }
    let settings_json = serde_json::to_string(settings).unwrap_or_default();
    let yaml = objects::render(&PolicyObjects {
        program: &program,
        failure_policy: options.failure_policy,
        excluded_namespaces: &excluded,
        settings_json: &settings_json,
    })?;
    Ok(format!(
        "# pullthrough {} manifests --admission-policy: the rewrite of policy.wasm for these\n\
         # settings, as CEL the API server runs (Kubernetes 1.36 or later). Generated: change the\n\
         # settings and generate it again rather than editing the CEL.\n{yaml}",
        env!("CARGO_PKG_VERSION")
    ))
}

#[cfg(test)]
mod tests;

//! `pullthrough scan`: finds the workloads whose images do not go through the mirror (admitted
//! while the webhook was down, or before it was installed), using the policy the webhook runs.
//!
//! - [`input`] reads manifests; the cluster is read through [`crate::k8s`].
//! - [`evaluate`] runs each object through the policy as a CREATE and keeps the image changes
//!   and the guarded patch.
//! - [`plan`] groups them at the objects that own the pod templates, and says what `--apply`
//!   does with each.
//! - [`output`] prints the table, the summary or JSON.

pub mod evaluate;
pub mod input;
mod kinds;
pub mod output;
pub mod plan;

pub use evaluate::{NamespaceFilter, ObjectRef, Scan, Workers, scan};
pub use kinds::Kind;
pub use plan::{Action, PatchChoice, PatchOutcome, Plan};

//! Kubewarden waPC policy that rewrites image references to a pull-through cache.
//!
//! The rewrite is plain functions over plain values ([`parse_reference`], [`Rewriter`],
//! [`Rewriter::mutate`]), tested and benchmarked natively; built for `wasm32-wasip1` this crate is
//! also `policy.wasm`, whose waPC entry points below only decode and encode.

mod answer;
// The guest's allocator; natively the tests drive it.
#[cfg(any(target_arch = "wasm32", test))]
mod arena;
mod guest;
pub mod json_scan;
mod json_text;
#[cfg(test)]
mod listed;
mod mutate;
mod object_text;
mod reference;
mod rewrite;
mod settings;
mod skeleton;

pub use guest::{validate, validate_settings};
pub use json_text::first_special;
pub use mutate::{
    AdmissionRequest, GroupVersionKind, MAX_ANNOTATIONS_BYTES, MAX_WARNING_CHARS, MAX_WARNINGS,
    OPT_OUT_KEY, ORIGINAL_IMAGES_ANNOTATION, Outcome,
};
pub use reference::{NAME_TOTAL_LENGTH_MAX, ParseError, Reference, parse_reference};
pub use rewrite::{
    Description, Layout, Rewrite, RewriteError, Rewriter, RuleView, TargetView, Unchanged,
};
pub use settings::{
    DEFAULT_FLAT_REGISTRIES, DEFAULT_PREFIXED_REGISTRIES, RuleSetting, Settings, SettingsError,
    SharedNamespace,
};

/// Every allocation of the guest: a bump arena before dlmalloc (`arena.rs`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: arena::Guest = arena::Guest(arena::Arena::new());

/// Ends the life of a call's values: in the guest the arena's `discard`; natively, a drop.
pub(crate) fn discard<T>(value: T) {
    #[cfg(target_arch = "wasm32")]
    ALLOCATOR.0.discard(value);
    #[cfg(not(target_arch = "wasm32"))]
    drop(value);
}

/// waPC entry point: the host calls it once after instantiating the module.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    use wapc_guest::register_function;
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}

//! Link settings for the wasm build of the policy.

/// Linear memory the module starts with: the 1 MiB shadow stack, static data, and enough heap
/// for a typical AdmissionReview. With the default (stack and data only) every evaluation's first
/// allocation grows memory, and a runtime that reuses memory slots then pays an `mprotect` to grow
/// and another to shrink the slot back, each shrink a TLB shootdown across the host's cores.
/// Untouched pages cost nothing: runtimes map them copy-on-write or lazily.
const INITIAL_MEMORY_BYTES: u32 = 2 * 1024 * 1024;

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=--initial-memory={INITIAL_MEMORY_BYTES}");
    }
}

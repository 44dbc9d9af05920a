//! Settings documents from any bytes: reading, validating and compiling never panic, `validate`
//! and `compile` agree, accepted settings survive a JSON round trip, and the rewriter they
//! compile to handles a few images.
#![no_main]

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

const IMAGES: [&str; 6] = [
    "nginx",
    "ghcr.io/org/app:1.2",
    "localhost:5000/a/b@sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713",
    "[fd00::1]:5000/x:y",
    "registry.k8s.io/pause:3.9",
    "Not A Reference",
];

fuzz_target!(|data: &[u8]| {
    if let Some(rewriter) = checks::settings(data) {
        for image in IMAGES {
            let _ = rewriter.rewrite(image);
        }
    }
});

//! `parse_reference` on any string: it never panics, and a reference it accepts prints as a
//! normalised string that parses back to the same reference (and prints the same again).
#![no_main]

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::reference(data);
});

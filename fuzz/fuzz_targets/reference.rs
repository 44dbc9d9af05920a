//! `parse_reference` on any string: it never panics, and a reference it accepts prints as a
//! normalised string that parses back to the same reference (and prints the same again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullthrough_policy::parse_reference;

fuzz_target!(|data: &[u8]| {
    let Ok(image) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(reference) = parse_reference(image) else {
        return;
    };
    let normalised = reference.to_string();
    let again = parse_reference(&normalised).unwrap_or_else(|e| {
        panic!("{image:?} parsed, its normal form {normalised:?} did not: {e}")
    });
    assert_eq!(again, reference, "{image:?} -> {normalised:?}");
    assert_eq!(again.to_string(), normalised, "{image:?}");
});

//! Settings documents from any bytes: reading, validating and compiling never panic, `validate`
//! and `compile` agree, accepted settings survive a JSON round trip, and the rewriter they
//! compile to handles a few images.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullthrough_policy::Settings;

const IMAGES: [&str; 6] = [
    "nginx",
    "ghcr.io/org/app:1.2",
    "localhost:5000/a/b@sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713",
    "[fd00::1]:5000/x:y",
    "registry.k8s.io/pause:3.9",
    "Not A Reference",
];

fuzz_target!(|data: &[u8]| {
    let Ok(settings) = Settings::from_json(data) else {
        return;
    };
    let compiled = settings.compile();
    assert_eq!(
        settings.validate().is_ok(),
        compiled.is_ok(),
        "{settings:?}"
    );
    let json = serde_json::to_vec(&settings).expect("settings serialise");
    let again = Settings::from_json(&json).expect("serialised settings read back");
    assert_eq!(again, settings);
    if let Ok(rewriter) = compiled {
        for image in IMAGES {
            let _ = rewriter.rewrite(image);
        }
    }
});

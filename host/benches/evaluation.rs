//! In-process cost of one AdmissionReview, layer by layer, on the real fixtures:
//!
//! 1. the JSON floor: `serde_json` parse and serialise of the review;
//! 2. the rewrite natively: parse, `pullthrough-policy` called as a library, JSON patch;
//! 3. the rewrite through wasmtime: parse, one full evaluation of the embedded `policy.wasm`
//!    (fresh store, instantiate, call, patch) and the serialised response.
//!
//! Each call is timed on its own so the table shows medians and p99, not only means.
//! `BENCH_ITERATIONS` sets the calls per cell (default 20,000). Run with `cargo bench --bench evaluation`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use pullthrough::admission::AdmissionReview;
use pullthrough::policies::{PolicyRegistry, PolicySource};
use pullthrough::wasm::{Runtime, RuntimeConfig};
use serde_json::{Value, json};

const FIXTURES: [&str; 3] = [
    "deployment.json",
    "pod-initcontainers-digests.json",
    "cronjob.json",
];
const MIRROR: &str = "registry-mirror.example.com";

struct Summary {
    median: Duration,
    p99: Duration,
}

fn measure(iterations: usize, mut call: impl FnMut()) -> Summary {
    for _ in 0..iterations / 10 + 100 {
        call();
    }
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            call();
            started.elapsed()
        })
        .collect();
    samples.sort_unstable();
    Summary {
        median: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() -> anyhow::Result<()> {
    let iterations = std::env::var("BENCH_ITERATIONS")
        .ok()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let fixtures_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/admission");

    let rewriter = pullthrough_policy::Settings::from_json(
        json!({ "mirror": MIRROR }).to_string().as_bytes(),
    )?
    .compile()?;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let registry = tokio.block_on(PolicyRegistry::load(
        Runtime::new(RuntimeConfig::default())?,
        PolicySource::Embedded {
            settings: json!({ "mirror": MIRROR }),
        },
    ))?;
    let policy = registry.default_policy();

    println!(
        "| fixture | bytes | 1. JSON floor µs (median / p99) | 2. native rewrite µs | 3. wasm evaluation µs | 3 ÷ 2 (median) | 3 ÷ 1 (median) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for name in FIXTURES {
        let body = std::fs::read(format!("{fixtures_dir}/{name}"))?;

        let floor = measure(iterations, || {
            let review: Value = serde_json::from_slice(black_box(&body)).expect("fixture parses");
            black_box(serde_json::to_vec(&review).expect("serialises"));
        });

        let native = measure(iterations, || {
            let review: Value = serde_json::from_slice(black_box(&body)).expect("fixture parses");
            let request = &review["request"];
            let outcome = rewriter.mutate(request);
            if let Some(mutated) = &outcome.mutated_object {
                let patch = json_patch::diff(&request["object"], mutated);
                black_box(serde_json::to_vec(&patch).expect("serialises"));
            }
        });

        let wasm = measure(iterations, || {
            let review = AdmissionReview::from_slice(black_box(&body)).expect("fixture parses");
            let evaluation = registry
                .evaluate_blocking(&policy, &review.request)
                .expect("evaluation succeeds");
            black_box(serde_json::to_vec(&evaluation.response.into_review()).expect("serialises"));
        });

        println!(
            "| {name} | {} | {} / {} | {} / {} | {} / {} | {:.2} | {:.1} |",
            body.len(),
            micros(floor.median),
            micros(floor.p99),
            micros(native.median),
            micros(native.p99),
            micros(wasm.median),
            micros(wasm.p99),
            wasm.median.as_secs_f64() / native.median.as_secs_f64(),
            wasm.median.as_secs_f64() / floor.median.as_secs_f64(),
        );
    }
    Ok(())
}

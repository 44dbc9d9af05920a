//! Measures the engine alone (no HTTP, no TLS): load time of the embedded policy.wasm with and
//! without the compiled-module cache, and the cost of one evaluation of a fixture, on the calling
//! thread and through the async API at 32 concurrent callers.
//!
//! cargo run --release -p pullthrough --example engine_timing -- [fixture.json] [iterations]

use std::time::{Duration, Instant};

use pullthrough::admission::AdmissionReview;
use pullthrough::policies::{PolicyRegistry, PolicySource};
use pullthrough::wasm::{Runtime, RuntimeConfig};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let fixture = args
        .next()
        .unwrap_or_else(|| "fixtures/admission/deployment.json".to_owned());
    let iterations: usize = args.next().map_or(Ok(20_000), |n| n.parse())?;
    let review = AdmissionReview::from_slice(&std::fs::read(&fixture)?)?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cache = tempfile_dir()?;

    for (label, pooling, cache_dir) in [
        ("pooling, no cache (cold)", true, None),
        ("pooling, cache miss", true, Some(cache.clone())),
        ("pooling, cache hit", true, Some(cache.clone())),
        ("on-demand, cache hit", false, Some(cache.clone())),
    ] {
        let started = Instant::now();
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            cache_dir,
            ..RuntimeConfig::default()
        })?;
        let registry = tokio.block_on(PolicyRegistry::load(
            runtime,
            PolicySource::Embedded {
                settings: json!({"mirror": "registry-mirror.example.com"}),
            },
        ))?;
        let load = started.elapsed();

        let policy = registry.default_policy();
        for _ in 0..200 {
            registry.evaluate_blocking(&policy, &review.request)?;
        }
        let mut samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let one = Instant::now();
            registry.evaluate_blocking(&policy, &review.request)?;
            samples.push(one.elapsed());
        }
        samples.sort();

        let sequential = tokio.block_on(async {
            let mut samples = Vec::with_capacity(iterations / 4);
            for _ in 0..iterations / 4 {
                let one = Instant::now();
                registry.evaluate(&policy, review.request.clone()).await?;
                samples.push(one.elapsed());
            }
            samples.sort();
            anyhow::Ok(samples[samples.len() / 2])
        })?;
        let concurrent = tokio.block_on(async {
            let started = Instant::now();
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let registry = registry.clone();
                    let request = review.request.clone();
                    let policy = policy.clone();
                    tokio::spawn(async move {
                        for _ in 0..iterations / 32 {
                            registry.evaluate(&policy, request.clone()).await?;
                        }
                        Ok::<_, pullthrough::policies::EvaluationError>(())
                    })
                })
                .collect();
            for task in tasks {
                task.await??;
            }
            anyhow::Ok(started.elapsed())
        })?;
        let done = iterations / 32 * 32;
        println!(
            "{label:26} load {:>8.1} ms | evaluate p50 {:>6.1} µs p99 {:>6.1} µs mean {:>6.1} µs | async x1 p50 {:>6.1} µs | async x32 {:>7.0} eval/s",
            ms(load),
            us(samples[samples.len() / 2]),
            us(samples[samples.len() * 99 / 100]),
            us(samples.iter().sum::<Duration>() / samples.len() as u32),
            us(sequential),
            done as f64 / concurrent.as_secs_f64(),
        );
    }
    // The fixed cost of one call: fresh store, instantiation, start functions, a trivial guest
    // call (`protocol_version`), teardown.
    for pooling in [true, false] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            cache_dir: Some(cache.clone()),
            ..RuntimeConfig::default()
        })?;
        let module = runtime.load(
            "pullthrough",
            pullthrough::policies::EMBEDDED_POLICY_WASM,
            runtime.default_limits(),
        )?;
        let mut samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let one = Instant::now();
            module.call("protocol_version", Vec::new())?;
            samples.push(one.elapsed());
        }
        samples.sort();
        println!(
            "instantiate + trivial call ({}) p50 {:>6.1} µs p99 {:>6.1} µs mean {:>6.1} µs",
            if pooling { "pooling" } else { "on-demand" },
            us(samples[samples.len() / 2]),
            us(samples[samples.len() * 99 / 100]),
            us(samples.iter().sum::<Duration>() / samples.len() as u32),
        );
    }
    std::fs::remove_dir_all(&cache)?;
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("pullthrough-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

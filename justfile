# pullthrough developer tasks. `just --list` shows them.

# Build the Kubewarden policy module into ./policy.wasm.
policy:
    scripts/build-policy

# Build the container image without Docker; prints the OCI layout directory last.
image:
    scripts/image

# Run every test (what CI runs).
test:
    scripts/test

# Run the bats end-to-end suite against a release build.
e2e: policy
    cargo build --locked -p pullthrough --release
    bats e2e-tests

# The cluster suite against a real control plane; `just e2e-cluster --up` leaves it running.
e2e-cluster *ARGS:
    scripts/e2e-cluster {{ARGS}}

# Format the code.
fmt:
    cargo fmt --all

# Lint the code the way CI does.
lint:
    cargo fmt --all --check
    cargo clippy --locked --workspace --all-targets -- -D warnings

# Start the admission server on its embedded defaults and show a rewrite.
run:
    scripts/demo

# Fuzz the policy crate: each cargo-fuzz target 60 s, or [SECONDS] / $FUZZ_SECONDS (fuzz/README.md).
fuzz *ARGS:
    scripts/fuzz {{ARGS}}

# Every benchmark in BENCHMARKS.md (about 12 minutes); `just bench --quick` is CI's smoke run.
bench *ARGS:
    scripts/bench {{ARGS}}

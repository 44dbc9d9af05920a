#!/usr/bin/env bats
# The library's own real-cluster tests (host/tests/cluster.rs, ignored in the default cargo run),
# against this control plane: apply, read back and delete a throwaway webhook configuration, two
# replicas sharing one throwaway Secret, and six racing to create one ending with a single CA.

load helpers

@test "cargo test --test cluster -- --ignored passes against the real API server" {
  cd "$REPO"
  run env PULLTHROUGH_TEST_NAMESPACE=default cargo test --locked -q -p pullthrough --test cluster -- --ignored
  echo "$output" | tail -n 5
  [ "$status" -eq 0 ]
  [[ "$output" == *"test result: ok. 3 passed; 0 failed"* ]]
}

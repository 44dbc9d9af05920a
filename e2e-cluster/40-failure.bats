#!/usr/bin/env bats
# failurePolicy as the API server applies it: with the webhook down, Ignore admits unchanged
# within the timeout and Fail refuses.

load helpers

setup_file() {
  ensure_webhook
  new_namespace failure
}

teardown_file() {
  # Never leave a Fail policy registered for the suites after this one.
  stop_replica a
  "$PULLTHROUGH" unregister >/dev/null
}

# Each test starts the replica it needs; one that fails half-way must not leave its replica
# (a hanging policy, failurePolicy Fail) serving the next.
teardown() {
  stop_replica a
}

# create_pod NAME: creates a Pod with nginx:1.27; prints its stored image and how long the
# create took in milliseconds.
create_pod() {
  local start end image
  start=$(date +%s%N)
  image="$(k -n failure run "$1" --image=nginx:1.27 --restart=Never -o jsonpath='{.spec.containers[0].image}')"
  end=$(date +%s%N)
  echo "$image $(((end - start) / 1000000))"
}

@test "webhook stopped under failurePolicy Ignore: admitted unchanged at once" {
  stop_replica a
  read -r image ms < <(create_pod stopped)
  [ "$image" = nginx:1.27 ]
  echo "admitted in $ms ms" >&3
  ((ms < 2000))
}

@test "webhook hanging under failurePolicy Ignore: admitted unchanged after timeoutSeconds" {
  start_replica a "${REPLICA_IPS[0]}" --timeout-seconds 2
  wait_for 30 "rewriting" rewriting_in failure
  kill -STOP "$(replica_pid a)"
  read -r image ms < <(create_pod hanging)
  kill -CONT "$(replica_pid a)"
  [ "$image" = nginx:1.27 ]
  echo "admitted in $ms ms (timeoutSeconds 2)" >&3
  ((ms >= 1900 && ms < 5000))
  stop_replica a
}

@test "a policy slower than timeoutSeconds: the server answers before the API server gives up, even under failurePolicy Fail" {
  # The guest loops until its own 5 s deadline; the API server waits 2 s. Without the server's
  # reading of ?timeout=, the API server times out and, with Fail, refuses every Pod. One guest
  # slot: the second of two concurrent Pods waits for it, and that wait is bounded too.
  local dir="$CLUSTER_DIR/slow-policy"
  mkdir -p "$dir"
  python3 "$REPO/e2e-tests/faults/guest.py" loop "$dir/loop.wasm"
  printf 'loop:\n  module: loop.wasm\n' >"$dir/policies.yml"
  REPLICA_POLICIES="$dir/policies.yml" start_replica a "${REPLICA_IPS[0]}" --policy-timeout-ms 5000 \
    --max-concurrency 1 --timeout-seconds 2 --failure-policy fail
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].timeoutSeconds} {.webhooks[0].failurePolicy}')" = "2 Fail" ]
  local start end
  start=$(date +%s%N)
  k -n failure run slow-1 --image=nginx:1.27 --restart=Never >"$BATS_TEST_TMPDIR/slow-1" 2>&1 &
  local first=$!
  local first_status=0 second_status=0
  k -n failure run slow-2 --image=nginx:1.27 --restart=Never >"$BATS_TEST_TMPDIR/slow-2" 2>&1 || second_status=$?
  wait "$first" || first_status=$?
  end=$(date +%s%N)
  local ms=$(((end - start) / 1000000))
  echo "two Pods admitted in $ms ms (timeoutSeconds 2, policy deadline 5 s, one guest slot)" >&3
  cat "$BATS_TEST_TMPDIR/slow-1" "$BATS_TEST_TMPDIR/slow-2" >&3
  ((first_status == 0 && second_status == 0)) || { grep -h 'loop\|timeout\|slot' "$CLUSTER_DIR/logs/replica-a.log" | tail -n 20; false; }
  # Admitted unchanged with the server's warning, well before 2 s plus a retry.
  [ "$(k -n failure get pod slow-1 slow-2 -o jsonpath='{.items[*].spec.containers[0].image}')" = "nginx:1.27 nginx:1.27" ]
  grep -q 'policy "loop" failed (timeout)' "$BATS_TEST_TMPDIR/slow-1" "$BATS_TEST_TMPDIR/slow-2"
  grep -Eq 'policy "loop" failed \((timeout|no_slot)\)' "$BATS_TEST_TMPDIR/slow-2"
  ((ms < 4000))
  stop_replica a
}

@test "failurePolicy Fail: refused while the webhook is down, rewritten once it is back" {
  start_replica a "${REPLICA_IPS[0]}" --failure-policy fail
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].failurePolicy}')" = Fail ]
  wait_for 30 "rewriting" rewriting_in failure
  stop_replica a
  run k -n failure run refused --image=nginx:1.27 --restart=Never
  [ "$status" -ne 0 ]
  [[ "$output" == *'failed calling webhook "rewrite.pullthrough.dev"'* ]]
  run k -n failure get pod refused
  [[ "$output" == *NotFound* ]]
  start_replica a "${REPLICA_IPS[0]}" --failure-policy fail
  read -r image _ < <(create_pod accepted)
  [ "$image" = "$MIRROR/library/nginx:1.27" ]
}

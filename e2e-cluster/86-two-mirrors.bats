#!/usr/bin/env bats
# Two mirrors in priority order under a steady stream of Pod creations: two real pull-through
# caches (the CNCF distribution registry in proxy mode) in front of one upstream, each checked by
# the webhook replica every second and counted down after three failures. The first is stopped
# (Pods go to the second), then the second too (Pods are admitted unchanged), then the second
# comes back, then the first. No admission may fail; nothing admitted later than the detection
# window may point at a stopped mirror; each change of choice is one log line and one count.

load helpers
# shellcheck source=../e2e-tests/caches/registries.bash
source "$REPO/e2e-tests/caches/registries.bash"

UPSTREAM="127.0.0.1:$((25000 + E2E_PORT_OFFSET))"
FIRST="$HOST_IP:25001"
SECOND="$HOST_IP:25002"
INTERVAL=1
THRESHOLD=3

setup_file() {
  registry_build
  require_registries
  export REGISTRY_DIR="$CLUSTER_DIR/registries"
  rm -rf "$REGISTRY_DIR"
  start_upstream upstream "$UPSTREAM"
  push_test_images "$UPSTREAM"
  start_cache first "$FIRST" "http://$UPSTREAM"
  start_cache second "$SECOND" "http://$UPSTREAM"
  install
  stop_replica a
  local dir="$CLUSTER_DIR/two-mirrors"
  mkdir -p "$dir"
  cat >"$dir/policies.yml" <<EOF
pullthrough:
  module: $REPO/policy.wasm
  allowedToMutate: true
  settings:
    mirrors: ["$FIRST", "$SECOND"]
  mirrorCheck:
    urls: ["http://$FIRST", "http://$SECOND"]
    intervalSeconds: $INTERVAL
    failureThreshold: $THRESHOLD
EOF
  REPLICA_POLICIES="$dir/policies.yml" start_replica a "${REPLICA_IPS[0]}"
  new_namespace two-mirrors
  wait_for 30 "rewriting to $FIRST" rewritten_to "$FIRST/library/nginx:1.27"
}

teardown_file() {
  stop_replica a
  stop_registry first
  stop_registry second
  stop_registry upstream
}

teardown() {
  stop_loop
}

rewritten_to() {
  [[ "$(k -n two-mirrors run probe --image=nginx:1.27 --restart=Never --dry-run=server \
    -o jsonpath='{.spec.containers[0].image}')" == "$1" ]]
}

@test "two mirrors stopped and started in turn under a stream of Pod creations: none fails, none points at a stopped mirror once detected" {
  pod_stream two-mirrors nginx:1.27
  events="$BATS_TEST_TMPDIR/events"
  sleep 3
  echo "first-stopped $(now)" >>"$events"
  stop_registry first
  wait_for 30 "admissions on the second mirror" last_is "$SECOND/library/nginx:1.27"
  sleep 3
  echo "second-stopped $(now)" >>"$events"
  stop_registry second
  wait_for 30 "admissions left unchanged" last_is nginx:1.27
  sleep 3
  start_cache second "$SECOND" "http://$UPSTREAM"
  # start_cache returns once the cache answers /v2/: the mirror is back from here.
  echo "second-started $(now)" >>"$events"
  wait_for 30 "admissions on the second mirror again" last_is "$SECOND/library/nginx:1.27"
  sleep 3
  start_cache first "$FIRST" "http://$UPSTREAM"
  echo "first-started $(now)" >>"$events"
  wait_for 30 "admissions on the first mirror again" last_is "$FIRST/library/nginx:1.27"
  sleep 3
  touch "$BATS_TEST_TMPDIR/stop"
  wait "$loop"

  # While no mirror answers, kubectl prints the webhook's warning on stderr: expected, counted
  # below, not a failure.
  ! grep -v '^Warning: pullthrough: none of the 2 mirrors is answering; images left unchanged$' \
    "$BATS_TEST_TMPDIR/errors" || { cat "$BATS_TEST_TMPDIR/errors"; false; }
  # The bound: the first failed check comes within an interval of the stop, down is the
  # THRESHOLD-th; a refused connection fails at once.
  window=$(((THRESHOLD + 1) * INTERVAL))
  python3 "$REPO/e2e-cluster/mirror_windows.py" "$BATS_TEST_TMPDIR/admissions" "$events" \
    "$window" "$INTERVAL" "$FIRST/library/nginx:1.27" "$SECOND/library/nginx:1.27" nginx:1.27 >&3
  log="$CLUSTER_DIR/logs/replica-a.log"
  [ "$(grep -c 'mirror is not answering; rewriting to the next mirror that does' "$log")" -eq 1 ]
  [ "$(grep -c 'no mirror is answering; admitting' "$log")" -eq 1 ]
  [ "$(grep -c 'mirror answers again; rewriting resumes' "$log")" -eq 1 ]
  [ "$(grep -c 'a mirror earlier in the list answers again; rewriting to it' "$log")" -eq 1 ]
  metrics="$(ip netns exec "$NETNS" curl -sS "http://${REPLICA_IPS[0]}:9090/metrics")"
  grep -x 'pullthrough_mirror_transitions_total{policy="pullthrough"} 4' <<<"$metrics"
  grep -x 'pullthrough_mirror_choice{policy="pullthrough"} 0' <<<"$metrics"
}

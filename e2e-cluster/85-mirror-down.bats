#!/usr/bin/env bats
# The mirror goes down under a steady stream of Pod creations, and comes back: a real pull-through
# cache in front of Debian's docker-registry, on the host side of the suite's veth pair, checked
# by the webhook replica every second and counted down after three failures. The cache is zot
# with deploy/zot/config-flat.json when ZOT_BIN names a zot binary (its Go module is not served
# here, see e2e-tests/zot.bats), else the CNCF distribution registry in proxy mode. No admission
# may fail; nothing admitted later than the detection window may point at the stopped mirror;
# rewriting resumes within one interval of recovery.

load helpers
# shellcheck source=../e2e-tests/caches/registries.bash
source "$REPO/e2e-tests/caches/registries.bash"

# On loopback, moved with the rest of the suite's addresses by PULLTHROUGH_E2E_NET.
UPSTREAM="127.0.0.1:$((25000 + E2E_PORT_OFFSET))"
CACHE="$HOST_IP:25001"
INTERVAL=1
THRESHOLD=3

start_mirror() {
  if [[ -n "${ZOT_BIN:-}" ]]; then
    start_zot cache "$CACHE" "http://$UPSTREAM" config-flat.json
  else
    start_cache cache "$CACHE" "http://$UPSTREAM"
  fi
}

setup_file() {
  if [[ -n "${ZOT_BIN:-}" ]]; then
    require_zot
    require_upstream
    echo "# the mirror: zot ($ZOT_BIN)" >&3
  else
    registry_build
    require_registries
    echo "# the mirror: the distribution registry in proxy mode (no ZOT_BIN)" >&3
  fi
  export REGISTRY_DIR="$CLUSTER_DIR/registries"
  rm -rf "$REGISTRY_DIR"
  start_upstream upstream "$UPSTREAM"
  push_test_images "$UPSTREAM"
  start_mirror
  install
  stop_replica a
  REPLICA_MIRROR="$CACHE" PULLTHROUGH_NO_MIRROR_CHECK=false start_replica a "${REPLICA_IPS[0]}" \
    --mirror-check-url "http://$CACHE" --mirror-check-interval-seconds "$INTERVAL" \
    --mirror-check-failure-threshold "$THRESHOLD"
  new_namespace mirror-down
  wait_for 30 "rewriting to $CACHE" cache_rewriting
}

teardown_file() {
  stop_replica a
  stop_registry cache
  stop_registry upstream
}

teardown() {
  stop_loop
}

cache_rewriting() {
  [[ "$(k -n mirror-down run probe --image=nginx:1.27 --restart=Never --dry-run=server \
    -o jsonpath='{.spec.containers[0].image}')" == "$CACHE/library/nginx:1.27" ]]
}

@test "the mirror stopped and started under a stream of Pod creations: none fails, none points at it once detected, rewriting resumes" {
  pod_stream mirror-down nginx:1.27
  sleep 3
  stopped="$(now)"
  stop_registry cache
  wait_for 30 "admissions left unchanged" last_is nginx:1.27
  sleep 3
  start_mirror
  # start_mirror returns once the cache answers /v2/: the mirror is back from here.
  recovered="$(now)"
  wait_for 30 "admissions rewritten again" last_is "$CACHE/library/nginx:1.27"
  sleep 3
  touch "$BATS_TEST_TMPDIR/stop"
  wait "$loop"

  # kubectl prints the webhook's warnings on stderr too: those are the expected answer while
  # the mirror is down (counted below), not failures.
  ! grep -v '^Warning: pullthrough: mirror .* is not answering; images left unchanged$' "$BATS_TEST_TMPDIR/errors" ||
    { cat "$BATS_TEST_TMPDIR/errors"; false; }
  # The bound: the first failed check comes within an interval of the stop, down is the
  # THRESHOLD-th; a refused connection fails at once.
  window=$(((THRESHOLD + 1) * INTERVAL))
  # The heredoc is python's standard input (its program), so the rows come as a file.
  python3 - "$BATS_TEST_TMPDIR/admissions" "$stopped" "$recovered" "$window" "$INTERVAL" \
    "$CACHE/library/nginx:1.27" >&3 <<'EOF'
import sys
stopped, recovered, window, interval = (float(a) for a in sys.argv[2:6])
mirror = sys.argv[6]
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
assert rows, "no admissions recorded"
rows = [(float(s), float(e), image) for s, e, image in rows]
assert all(image in (mirror, "nginx:1.27") for _, _, image in rows), rows
down = [r for r in rows if stopped <= r[0] < recovered]
# Admitted while the mirror was stopped, yet pointing at it: only before detection.
late = [e - stopped for s, e, image in down if image == mirror]
detected = max(late, default=0.0)
bad = [r for r in down if r[0] > stopped + window and r[2] == mirror]
assert not bad, f"pointed at the stopped mirror after the {window} s window: {bad}"
after = [r for r in rows if r[0] >= recovered]
resumed = min((e - recovered for s, e, image in after if image == mirror), default=None)
assert resumed is not None, "never rewritten again"
stale = [r for r in after if r[0] > recovered + interval + 0.5 and r[2] != mirror]
assert not stale, f"left unchanged more than one interval after recovery: {stale}"
unchanged = sum(1 for r in rows if r[2] == "nginx:1.27")
print(f"{len(rows)} Pods admitted, none failed; {unchanged} admitted unchanged while the mirror was down")
print(f"detection window: last Pod pointing at the stopped mirror admitted {detected:.2f} s after the stop (bound {window:.0f} s)")
print(f"recovery: first Pod rewritten again {resumed:.2f} s after the mirror answered (bound {interval:.0f} s interval)")
EOF
  log="$CLUSTER_DIR/logs/replica-a.log"
  [ "$(grep -c 'mirror is not answering' "$log")" -eq 1 ]
  [ "$(grep -c 'mirror answers again; rewriting resumes' "$log")" -eq 1 ]
  ip netns exec "$NETNS" curl -sS "http://${REPLICA_IPS[0]}:9090/metrics" |
    grep -x 'pullthrough_mirror_transitions_total{policy="pullthrough"} 2'
}

#!/usr/bin/env bats
# A replica stopping (rollout, node drain) under a steady stream of admissions: it fails /readyz
# at once and keeps serving through its grace period, so the API server, which still routes to it
# until it sees the endpoint go, never meets a refused connection. Under failurePolicy Ignore a
# refused call would admit the Pod unrewritten, silently.

load helpers

setup_file() {
  ensure_webhook
  new_namespace shutdown
}

teardown_file() {
  stop_replica b
  publish_endpoints "${REPLICA_IPS[0]}"
}

ready() { ip netns exec "$NETNS" curl -sk --max-time 1 -o /dev/null -w '%{http_code}' "https://$1:8443/readyz"; }

@test "SIGTERM under a stream of admissions: readiness fails first, no admission is missed" {
  stop_replica a
  SHUTDOWN_GRACE_SECONDS=6 start_replica a "${REPLICA_IPS[0]}"
  start_replica b "${REPLICA_IPS[1]}"
  publish_endpoints "${REPLICA_IPS[0]}" "${REPLICA_IPS[1]}"
  wait_for 30 "rewriting" rewriting_in shutdown
  local results="$BATS_TEST_TMPDIR/results"
  # The stream: server-side dry-run creates (they pass through the webhook like any create).
  (
    end=$((SECONDS + 14))
    while ((SECONDS < end)); do
      dry_run_image shutdown 2>&1 || echo "error"
      echo
    done
  ) >"$results" &
  local stream=$!
  sleep 3
  kill -TERM "$(replica_pid a)"
  # What the EndpointSlice controller does for a pod that turns unready: drop it. The API
  # server's view of the slice lags behind; the grace period covers that lag.
  local started=$SECONDS
  wait_for 5 "replica a failing /readyz" bash -c "[[ \$(ip netns exec '$NETNS' curl -sk --max-time 1 -o /dev/null -w '%{http_code}' 'https://${REPLICA_IPS[0]}:8443/readyz') == 503 ]]"
  publish_endpoints "${REPLICA_IPS[1]}"
  echo "# replica a unready after $((SECONDS - started)) s; endpoints now b only" >&3
  wait "$stream"
  # Replica a finished its grace and exited on its own.
  wait_for 15 "replica a to exit" bash -c "! kill -0 $(replica_pid a) 2>/dev/null"
  local total rewritten
  total="$(grep -c . "$results")"
  rewritten="$(grep -c "^$MIRROR/library/nginx:1.27\$" "$results")"
  echo "# $rewritten of $total admissions rewritten across the shutdown" >&3
  grep -v "^$MIRROR/library/nginx:1.27\$" "$results" | grep . >&3 || true
  ((total >= 20))
  [ "$rewritten" -eq "$total" ]
  grep -q 'failing /readyz and serving on' "$CLUSTER_DIR/logs/replica-a.log"
}

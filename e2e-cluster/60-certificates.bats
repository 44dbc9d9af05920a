#!/usr/bin/env bats
# A replaced CA: both replicas move to the new one and the webhook is re-registered, while a loop
# creating Pods the whole time sees no failed and no unrewritten admission.

load helpers

setup_file() {
  install
  stop_replica a
  # Checked every 2 s instead of hourly, so the rotation happens within the test.
  start_replica a "${REPLICA_IPS[0]}" --cert-check-seconds 2
  start_replica b "${REPLICA_IPS[1]}" --cert-check-seconds 2
  publish_endpoints "${REPLICA_IPS[@]}"
  new_namespace rotation
  wait_for 30 "rewriting" rewriting_in rotation
}

teardown_file() {
  stop_replica b
  stop_replica a
  publish_endpoints "${REPLICA_IPS[0]}"
}

bundle_fingerprints() {
  k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].clientConfig.caBundle}' |
    base64 -d | awk '/BEGIN CERT/{n++} {print > "'"$BATS_TEST_TMPDIR"'/bundle-" n ".pem"}'
  for pem in "$BATS_TEST_TMPDIR"/bundle-*.pem; do
    openssl x509 -noout -fingerprint -sha256 -in "$pem" | cut -d= -f2
  done | sort | paste -sd' '
  rm -f "$BATS_TEST_TMPDIR"/bundle-*.pem
}

bundle_is() { [[ "$(bundle_fingerprints)" == "$1" ]]; }

served_ca_matches() {
  # $1: replica IP; $2: CA file. The replica's chain verifies against that CA.
  ip netns exec "$NETNS" curl -sf --max-time 2 --cacert "$2" \
    --resolve "pullthrough.pullthrough.svc:8443:$1" https://pullthrough.pullthrough.svc:8443/readyz >/dev/null
}

teardown() {
  stop_loop
}

@test "the Secret deleted: new CA on every replica, re-registered, no failed or unrewritten admission" {
  old_bundle="$(bundle_fingerprints)"
  k -n "$INSTALL_NS" get secret pullthrough-tls -o jsonpath='{.data.ca\.crt}' | base64 -d >"$BATS_TEST_TMPDIR/old-ca.crt"
  # Pods created one after another for the whole rotation.
  (
    i=0
    while [[ ! -f "$BATS_TEST_TMPDIR/stop" ]]; do
      i=$((i + 1))
      "$KUBE_BIN/kubectl" -n rotation run "p$i" --image=nginx:1.27 --restart=Never \
        -o jsonpath='{.spec.containers[0].image}{"\n"}' >>"$BATS_TEST_TMPDIR/images" 2>>"$BATS_TEST_TMPDIR/errors" ||
        echo "p$i failed" >>"$BATS_TEST_TMPDIR/errors"
    done
  ) 3>&- &
  loop=$!
  sleep 2
  k -n "$INSTALL_NS" delete secret pullthrough-tls >/dev/null
  wait_for 30 "a new Secret" k -n "$INSTALL_NS" get secret pullthrough-tls
  k -n "$INSTALL_NS" get secret pullthrough-tls -o jsonpath='{.data.ca\.crt}' | base64 -d >"$BATS_TEST_TMPDIR/new-ca.crt"
  # 1: the files differ (2 would be a missing file).
  run cmp -s "$BATS_TEST_TMPDIR/old-ca.crt" "$BATS_TEST_TMPDIR/new-ca.crt"
  [ "$status" -eq 1 ]
  for ip in "${REPLICA_IPS[@]}"; do
    wait_for 60 "replica $ip serving the new CA" served_ca_matches "$ip" "$BATS_TEST_TMPDIR/new-ca.crt"
  done
  new_fp="$(openssl x509 -noout -fingerprint -sha256 -in "$BATS_TEST_TMPDIR/new-ca.crt" | cut -d= -f2)"
  wait_for 60 "the bundle holding only the new CA" bundle_is "$new_fp"
  sleep 2
  touch "$BATS_TEST_TMPDIR/stop"
  wait "$loop"
  created="$(wc -l <"$BATS_TEST_TMPDIR/images")"
  echo "$created Pods created during the rotation; bundle before: $old_bundle" >&3
  [ ! -s "$BATS_TEST_TMPDIR/errors" ] || { cat "$BATS_TEST_TMPDIR/errors"; false; }
  ((created >= 20))
  [ "$(sort -u "$BATS_TEST_TMPDIR/images")" = "$MIRROR/library/nginx:1.27" ]
  grep -q "re-registered the webhook" "$CLUSTER_DIR/logs/replica-a.log"
}

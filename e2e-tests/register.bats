#!/usr/bin/env bats
# Registration without a cluster: `serve --register` says it skipped and prints what it would
# apply; `register --dry-run` prints the exact bundle; `register` fails with a clear message.
# (The applied object itself is asserted against a fake API server in host/tests/registration.rs.)

load helpers

setup() {
  require_binary
  # No kubeconfig anywhere and not in a pod.
  export KUBECONFIG="$BATS_TEST_TMPDIR/no-such-kubeconfig"
  export HOME="$BATS_TEST_TMPDIR"
  unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
}

teardown() {
  stop_server
}

@test "serve --register without a cluster skips registration, says why, and keeps serving" {
  start_server --mirror m.example.com --register --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  grep -q "registration skipped: no Kubernetes cluster found" "$BATS_TEST_TMPDIR/server.log"
  grep -q "webhook registration skipped (no Kubernetes cluster found (no kubeconfig, not in a pod)); the configuration it would apply follows on stdout" "$BATS_TEST_TMPDIR/server.log"
  bundle="$(base64 -w0 <"$BATS_TEST_TMPDIR/ca.crt")"
  grep -q "^    caBundle: $bundle$" "$BATS_TEST_TMPDIR/server.out"
  [ "$(curl -sS --cacert "$BATS_TEST_TMPDIR/ca.crt" "https://localhost:$PORT/readyz")" = ready ]
}

@test "register --dry-run prints the configuration with the CA file as its bundle" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/certs" --namespace infra >"$BATS_TEST_TMPDIR/bundle" 2>/dev/null
  run "$PULLTHROUGH" register --dry-run --namespace infra --ca-file "$BATS_TEST_TMPDIR/certs/ca.crt" \
    --failure-policy fail --timeout-seconds 5 --only-namespaces team-a
  [ "$status" -eq 0 ]
  [[ "$output" == *"    caBundle: $(cat "$BATS_TEST_TMPDIR/bundle")"* ]]
  [[ "$output" == *"  failurePolicy: Fail"* ]]
  [[ "$output" == *"  timeoutSeconds: 5"* ]]
  [[ "$output" == *"      namespace: infra"* ]]
  [[ "$output" == *"      - infra"*"      - kube-system"* ]]
  [[ "$output" == *"      operator: In"*"      - team-a"* ]]
}

@test "register without a cluster fails with a clear message" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/certs" >/dev/null 2>&1
  run "$PULLTHROUGH" register --ca-file "$BATS_TEST_TMPDIR/certs/ca.crt"
  [ "$status" -eq 1 ]
  [ "$(head -n1 <<<"$output")" = "Error: no Kubernetes cluster configuration found (no kubeconfig, not running in a pod)" ]
  [[ "$output" == *"Caused by:"*"failed to infer config"* ]]
}

@test "register refuses a CA file that is not PEM" {
  echo "nope" >"$BATS_TEST_TMPDIR/ca.crt"
  run "$PULLTHROUGH" register --dry-run --ca-file "$BATS_TEST_TMPDIR/ca.crt"
  [ "$status" -eq 1 ]
  [ "$(head -n1 <<<"$output")" = "Error: $BATS_TEST_TMPDIR/ca.crt holds no PEM certificate" ]
}

@test "register and serve --register in a shared namespace say its pods are never rewritten" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/certs" --namespace default >/dev/null 2>&1
  warning="pods in namespace default are never rewritten: it is pullthrough's own (--namespace default), which the webhook always excludes; run pullthrough in a namespace of its own, e.g. --namespace pullthrough"
  "$PULLTHROUGH" register --dry-run --namespace default --ca-file "$BATS_TEST_TMPDIR/certs/ca.crt" \
    >/dev/null 2>"$BATS_TEST_TMPDIR/register.err"
  grep -qF "$warning" "$BATS_TEST_TMPDIR/register.err" || { cat "$BATS_TEST_TMPDIR/register.err"; false; }
  start_server --mirror m.example.com --register --namespace default
  grep -qF "$warning" "$BATS_TEST_TMPDIR/server.log"
  stop_server
  # Its own namespace, and one excluded anyway: nothing to say.
  start_server --mirror m.example.com --register
  run grep -q "never rewritten" "$BATS_TEST_TMPDIR/server.log"
  [ "$status" -eq 1 ]
  "$PULLTHROUGH" register --dry-run --namespace kube-system --ca-file "$BATS_TEST_TMPDIR/certs/ca.crt" \
    >/dev/null 2>"$BATS_TEST_TMPDIR/register.err"
  run grep -q "never rewritten" "$BATS_TEST_TMPDIR/register.err"
  [ "$status" -eq 1 ]
}

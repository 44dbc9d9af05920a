#!/usr/bin/env bats
# `pullthrough serve` on 127.0.0.1 with its own generated certificate: every fixture over HTTPS
# against the service DNS name, exact patches, and broken requests with exact statuses and messages.

load helpers

setup_file() {
  require_binary
  export BATS_FILE_TMP="$BATS_FILE_TMPDIR"
  PORT="$(free_port)"
  METRICS_PORT="$(free_port)"
  export PORT METRICS_PORT
  env "${SERVE_ENV[@]}" "$PULLTHROUGH" serve --listen "127.0.0.1:$PORT" --metrics-addr "127.0.0.1:$METRICS_PORT" \
    --mirror registry-mirror.example.com \
    --write-ca "$BATS_FILE_TMPDIR/ca.crt" \
    >"$BATS_FILE_TMPDIR/server.out" 2>"$BATS_FILE_TMPDIR/server.log" &
  echo $! >"$BATS_FILE_TMPDIR/server.pid"
  for _ in $(seq 1 300); do
    curl -sk --max-time 1 "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$BATS_FILE_TMPDIR/server.log" >&2
  return 1
}

teardown_file() {
  local pid
  pid="$(cat "$BATS_FILE_TMPDIR/server.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# post PATH FILE: prints the body, then the status code on the last line.
review() {
  post "$1" "$2" "$BATS_FILE_TMPDIR/ca.crt"
}

status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

@test "without a cluster, serve says registration was skipped and prints the configuration" {
  grep -q "webhook registration skipped (--register not given)" "$BATS_FILE_TMPDIR/server.log"
  grep -q "^kind: MutatingWebhookConfiguration$" "$BATS_FILE_TMPDIR/server.out"
  grep -q "^      path: /mutate$" "$BATS_FILE_TMPDIR/server.out"
}

@test "every fixture gets its exact response and patch from /mutate" {
  for fixture in "$REPO"/fixtures/admission/*.json; do
    name="$(basename "$fixture" .json)"
    out="$(review /mutate "$fixture")"
    [ "$(status_of "$out")" = 200 ] || { echo "$name: $out"; return 1; }
    body_of "$out" | assert_review "$BATS_TEST_DIRNAME/expected/$name.json" || { echo "in $name"; return 1; }
  done
}

@test "/validate/pullthrough answers exactly like /mutate" {
  out="$(review /validate/pullthrough "$REPO/fixtures/admission/deployment.json")"
  [ "$(status_of "$out")" = 200 ]
  body_of "$out" | assert_review "$BATS_TEST_DIRNAME/expected/deployment.json"
}

@test "by default Docker Hub images are rewritten and ghcr.io ones are not" {
  out="$(review /mutate "$REPO/fixtures/admission/cronjob.json")"
  patch="$(body_of "$out" | decoded_patch)"
  grep -q '"path": "/spec/jobTemplate/spec/template/spec/containers/0/image", "value": "registry-mirror.example.com/library/busybox:1.28"' <<<"$patch"
  # ghcr.io/nginx/… would land where docker.io/nginx/… does: the flat namespace is Docker Hub's.
  out="$(review /mutate "$REPO/fixtures/admission/deployment.json")"
  [ "$(status_of "$out")" = 200 ]
  [ "$(body_of "$out")" = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"12345-67890-abcdef","allowed":true}}' ]
}

@test "a body over 7 MiB is 413 with the limit in the message, before it is read" {
  head -c $((7 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/big.json"
  # HTTP/1.1: the declared Content-Length is refused at once. (HTTP/2, where the server reads
  # the rest before answering so curl gets the status, is in protocol.bats.)
  out="$(curl -sS --http1.1 --cacert "$BATS_FILE_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
    --data-binary "@$BATS_TEST_TMPDIR/big.json" -w '\n%{http_code}' "https://$HOST:$PORT/mutate")"
  [ "$(status_of "$out")" = 413 ]
  [ "$(body_of "$out")" = "request body exceeds the 7340032 byte (7 MiB) limit" ]
}

@test "a chunked body over 7 MiB (no Content-Length) is 413 too" {
  head -c $((7 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/big.json"
  out="$(curl -sS --cacert "$BATS_FILE_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
    -H 'Transfer-Encoding: chunked' --data-binary "@$BATS_TEST_TMPDIR/big.json" \
    -w '\n%{http_code}' "https://$HOST:$PORT/mutate")"
  [ "$(status_of "$out")" = 413 ]
  [ "$(body_of "$out")" = "request body exceeds the 7340032 byte (7 MiB) limit" ]
}

@test "a body of exactly 7 MiB is read (and then refused as JSON, not as size)" {
  head -c $((7 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/edge.json"
  out="$(review /mutate "$BATS_TEST_TMPDIR/edge.json")"
  [ "$(status_of "$out")" = 400 ]
  [ "$(body_of "$out")" = "request body is not valid JSON: EOF while parsing a value at line 1 column 7340032" ]
}

@test "unparsable JSON is 400 with the parser's position" {
  printf '{"apiVersion": ' >"$BATS_TEST_TMPDIR/bad.json"
  out="$(review /mutate "$BATS_TEST_TMPDIR/bad.json")"
  [ "$(status_of "$out")" = 400 ]
  [ "$(body_of "$out")" = "request body is not valid JSON: EOF while parsing a value at line 1 column 15" ]
}

@test "a wrong apiVersion is 400 naming what was sent" {
  sed 's#"admission.k8s.io/v1"#"admission.k8s.io/v1beta1"#' "$REPO/fixtures/admission/deployment.json" >"$BATS_TEST_TMPDIR/v1beta1.json"
  out="$(review /mutate "$BATS_TEST_TMPDIR/v1beta1.json")"
  [ "$(status_of "$out")" = 400 ]
  [ "$(body_of "$out")" = 'expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got "admission.k8s.io/v1beta1" and "AdmissionReview"' ]
}

@test "a wrong kind is 400 naming what was sent" {
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"x"}}' >"$BATS_TEST_TMPDIR/kind.json"
  out="$(review /mutate "$BATS_TEST_TMPDIR/kind.json")"
  [ "$(status_of "$out")" = 400 ]
  [ "$(body_of "$out")" = 'expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got "admission.k8s.io/v1" and "Pod"' ]
}

@test "a review without a request is 400" {
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}' >"$BATS_TEST_TMPDIR/norequest.json"
  out="$(review /mutate "$BATS_TEST_TMPDIR/norequest.json")"
  [ "$(status_of "$out")" = 400 ]
  [ "$(body_of "$out")" = "AdmissionReview has no request object" ]
}

@test "a request without a uid is 400" {
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{}}}' >"$BATS_TEST_TMPDIR/nouid.json"
  out="$(review /mutate "$BATS_TEST_TMPDIR/nouid.json")"
  [ "$(status_of "$out")" = 400 ]
  [ "$(body_of "$out")" = "AdmissionReview request.uid must be a non-empty string" ]
}

@test "an unknown policy is 404 and is not a metric label" {
  out="$(review /validate/no-such-policy "$REPO/fixtures/admission/deployment.json")"
  [ "$(status_of "$out")" = 404 ]
  [ "$(body_of "$out")" = 'no policy named "no-such-policy"' ]
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  [ "$(grep -c 'no-such-policy' <<<"$metrics")" = 0 ]
  grep -q '^pullthrough_admission_requests_total{policy="unknown",outcome="invalid"} [1-9]' <<<"$metrics"
}

@test "an unknown policy is 404 whatever its body: looked up before the body is read" {
  head -c $((8 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/big.json"
  out="$(curl -sS --http1.1 --cacert "$BATS_FILE_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
    --data-binary "@$BATS_TEST_TMPDIR/big.json" -w '\n%{http_code}' "https://$HOST:$PORT/validate/no-such-policy")"
  [ "$(status_of "$out")" = 404 ]
  [ "$(body_of "$out")" = 'no policy named "no-such-policy"' ]
}

@test "a ?timeout= that leaves no time to answer is 400, not a policy timeout" {
  out="$(post "/mutate?timeout=1ms" "$REPO/fixtures/admission/cronjob.json" "$BATS_FILE_TMPDIR/ca.crt")"
  [ "$(status_of "$out")" = 400 ]
  [ "$(body_of "$out")" = "query parameter timeout=1ms leaves no time to answer: 100.25ms of it is kept for the API server's own connection (the API server sends its timeoutSeconds, at least 1s)" ]
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  grep -q '^pullthrough_evaluation_errors_total{policy="pullthrough",kind="timeout"} 0$' <<<"$metrics"
}

@test "kube-system and pullthrough's own namespace are never rewritten, whatever reaches the server" {
  for namespace in kube-system pullthrough; do
    jq --arg ns "$namespace" '.request.namespace = $ns | .request.object.metadata.namespace = $ns' \
      "$REPO/fixtures/admission/cronjob.json" >"$BATS_TEST_TMPDIR/$namespace.json"
    out="$(review /mutate "$BATS_TEST_TMPDIR/$namespace.json")"
    [ "$(status_of "$out")" = 200 ]
    [ "$(body_of "$out")" = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":\"0c0829ff-c2f5-4634-a1c3-098147304d03\",\"allowed\":true,\"warnings\":[\"pullthrough: namespace $namespace is never rewritten; images left unchanged\"]}}" ]
  done
  grep -q 'rewrite refused: this namespace is never rewritten' "$BATS_FILE_TMPDIR/server.log"
}

@test "GET on /mutate is 405" {
  code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$BATS_FILE_TMPDIR/ca.crt" "https://localhost:$PORT/mutate")"
  [ "$code" = 405 ]
}

@test "healthz, readyz and metrics answer" {
  [ "$(curl -sS --cacert "$BATS_FILE_TMPDIR/ca.crt" "https://localhost:$PORT/healthz")" = ok ]
  [ "$(curl -sS --cacert "$BATS_FILE_TMPDIR/ca.crt" "https://localhost:$PORT/readyz")" = ready ]
  review /mutate "$REPO/fixtures/admission/cronjob.json" >/dev/null
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  grep -q '^pullthrough_admission_requests_total{policy="pullthrough",outcome="mutated"} [1-9]' <<<"$metrics"
  grep -q '^pullthrough_images_rewritten_total{policy="pullthrough"} [1-9]' <<<"$metrics"
  grep -q '^pullthrough_certificate_expiry_timestamp_seconds [0-9]\{10\}$' <<<"$metrics"
  grep -q '^pullthrough_policy_reloads_total{policy="pullthrough",result="rejected"} 0$' <<<"$metrics"
}

@test "each review is logged with uid, kind, namespace, outcome and duration" {
  review /mutate "$REPO/fixtures/admission/cronjob.json" >/dev/null
  line="$(grep 'uid=0c0829ff-c2f5-4634-a1c3-098147304d03' "$BATS_FILE_TMPDIR/server.log" | tail -n1)"
  [[ "$line" == *"kind=CronJob"* ]]
  [[ "$line" == *"namespace=default"* ]]
  [[ "$line" == *"outcome=mutated"* ]]
  [[ "$line" == *"duration_us="* ]]
}

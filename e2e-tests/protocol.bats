#!/usr/bin/env bats
# Protocol edges with the real curl and openssl as clients: early answers over HTTP/2, ALPN
# http/1.0 or none, plain HTTP on the TLS port; and what the server says about each: metrics that
# exist from the start, and log lines that name the reason.

load helpers

setup() {
  require_binary
}

teardown() {
  stop_server
}

# call [CURL ARGS...] URL: curl against the service name; prints the body, then
# "<status> <http version> exit=<curl exit code>" on the last line.
call() {
  local rc=0 out
  out="$(curl -sS --max-time 20 --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
    -w '\n%{http_code} %{http_version}' "$@" 2>&1)" || rc=$?
  printf '%s exit=%s\n' "$out" "$rc"
}

big_body() {
  head -c $((7 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/big.json"
}

@test "early answers reach HTTP/2 clients as statuses, not reset streams" {
  start_server --mirror m.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  big_body
  for version in --http2 --http1.1; do
    out="$(call "$version" --data-binary "@$BATS_TEST_TMPDIR/big.json" "https://$HOST:$PORT/mutate")"
    echo "$version: $out"
    [ "$(head -n1 <<<"$out")" = "request body exceeds the 7340032 byte (7 MiB) limit" ]
    [[ "$(tail -n1 <<<"$out")" == "413 "*" exit=0" ]]
    out="$(call "$version" --data-binary "@$BATS_TEST_TMPDIR/big.json" "https://$HOST:$PORT/no-such-path")"
    echo "$version: $out"
    [ "$(head -n1 <<<"$out")" = "no such path: admission reviews are POSTed to /mutate or /validate/{policy}; /healthz and /readyz answer GET (metrics are on --metrics-addr)" ]
    [[ "$(tail -n1 <<<"$out")" == "404 "*" exit=0" ]]
    out="$(call "$version" -X PUT --data-binary "@$REPO/fixtures/admission/deployment.json" "https://$HOST:$PORT/mutate")"
    echo "$version: $out"
    [ "$(head -n1 <<<"$out")" = "PUT is not served here: /mutate answers POST" ]
    [[ "$(tail -n1 <<<"$out")" == "405 "*" exit=0" ]]
  done
  [[ "$(call --http2 "https://$HOST:$PORT/healthz" | tail -n1)" == "200 2 exit=0" ]]
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  grep -qx 'pullthrough_unrouted_requests_total{reason="not_found"} 2' <<<"$metrics"
  grep -qx 'pullthrough_unrouted_requests_total{reason="method_not_allowed"} 2' <<<"$metrics"
  grep -qx 'pullthrough_admission_requests_total{policy="pullthrough",outcome="invalid"} 2' <<<"$metrics"
  # Each is logged with what the client was told.
  grep -q 'WARN.*admission request rejected policy=pullthrough status=413 reason="request body exceeds the 7340032 byte (7 MiB) limit"' "$BATS_TEST_TMPDIR/server.log"
  grep -q 'WARN.*request rejected: no such path: .* method=POST path=/no-such-path status=404' "$BATS_TEST_TMPDIR/server.log"
  grep -q 'WARN.*request rejected: PUT is not served here: /mutate answers POST method=PUT path=/mutate status=405' "$BATS_TEST_TMPDIR/server.log"
}

@test "curl --http1.0 and a client offering no ALPN are served" {
  start_server --mirror m.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  out="$(call --http1.0 "https://$HOST:$PORT/healthz")"
  # curl spells HTTP/1.0 as "1".
  [ "$out" = "ok

200 1 exit=0" ]
  out="$(call --no-alpn "https://$HOST:$PORT/healthz")"
  [ "$out" = "ok

200 1.1 exit=0" ]
  run openssl s_client -connect "127.0.0.1:$PORT" -alpn http/1.0 </dev/null
  [[ "$output" == *"ALPN protocol: http/1.0"* ]]
  run openssl s_client -connect "127.0.0.1:$PORT" </dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"No ALPN negotiated"* ]]
}

@test "plain HTTP on the TLS port gets a plain 400 and is logged once per client" {
  start_server --mirror m.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  for _ in 1 2 3; do
    out="$(curl -sS --max-time 5 -w '\n%{http_code}' "http://127.0.0.1:$PORT/healthz")"
    [ "$out" = "this port serves HTTPS only: use https://

400" ]
  done
  [ "$(grep -c 'plain HTTP sent to the HTTPS port' "$BATS_TEST_TMPDIR/server.log")" -eq 1 ]
  grep -q 'WARN.*plain HTTP sent to the HTTPS port; answered 400 (clients must use https://).* peer=127.0.0.1:' "$BATS_TEST_TMPDIR/server.log"
  # TLS keeps working on the same port.
  [ "$(curl -sS --cacert "$BATS_TEST_TMPDIR/ca.crt" "https://localhost:$PORT/healthz")" = ok ]
}

@test "every metric docs/server.md lists exists at zero from the start, and none that cannot move" {
  start_server --mirror m.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  for series in \
    'pullthrough_admission_requests_total{policy="pullthrough",outcome="mutated"} 0' \
    'pullthrough_admission_requests_total{policy="pullthrough",outcome="error_denied"} 0' \
    'pullthrough_admission_requests_total{policy="unknown",outcome="invalid"} 0' \
    'pullthrough_admission_duration_seconds_count{policy="pullthrough"} 0' \
    'pullthrough_images_rewritten_total{policy="pullthrough"} 0' \
    'pullthrough_evaluation_errors_total{policy="pullthrough",kind="timeout"} 0' \
    'pullthrough_evaluation_errors_total{policy="pullthrough",kind="trap"} 0' \
    'pullthrough_policy_reloads_total{policy="pullthrough",result="accepted"} 0' \
    'pullthrough_unrouted_requests_total{reason="not_found"} 0'; do
    grep -qxF "$series" <<<"$metrics" || { echo "missing: $series"; echo "$metrics"; return 1; }
  done
  grep -q '^pullthrough_certificate_expiry_timestamp_seconds [0-9]\{10\}$' <<<"$metrics"
  post /validate/no-such-policy "$REPO/fixtures/admission/deployment.json" >/dev/null
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  [ "$(grep 'policy="unknown"' <<<"$metrics")" = 'pullthrough_admission_requests_total{policy="unknown",outcome="invalid"} 1' ]
}

@test "start-up names the mirror, the policy's sha256 and the certificate's expiry; JSON lists are arrays" {
  start_server --mirror registry-mirror.example.com --log-format json --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  sha="$(sha256sum <"$REPO/policy.wasm" | cut -d' ' -f1)"
  python3 - "$BATS_TEST_TMPDIR/server.log" "$sha" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by_message = {l["message"]: l for l in lines}
policy = by_message["policy loaded"]
assert policy["policy"] == "pullthrough" and policy["module"] == "embedded", policy
assert policy["sha256"] == sys.argv[2], policy
assert policy["mirror"] == "registry-mirror.example.com", policy
assert policy["allowed_to_mutate"] is True, policy
cert = by_message["serving a generated certificate"]
assert cert["names"] == ["pullthrough", "pullthrough.pullthrough", "pullthrough.pullthrough.svc",
                         "pullthrough.pullthrough.svc.cluster.local", "localhost", "127.0.0.1", "::1"], cert
assert cert["not_after"].endswith("Z"), cert
PY
}

@test "the admission line names the object, and an image left unchanged is logged with its warning" {
  start_server --mirror m.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  python3 - "$REPO/fixtures/admission/deployment.json" >"$BATS_TEST_TMPDIR/upper.json" <<'PY'
import json, sys
review = json.load(open(sys.argv[1]))
review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = "Nginx"
print(json.dumps(review))
PY
  out="$(post /mutate "$BATS_TEST_TMPDIR/upper.json")"
  [ "$(tail -n1 <<<"$out")" = 200 ]
  warning="$(sed '$d' <<<"$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["response"]["warnings"][0])')"
  name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request"]["object"]["metadata"]["name"])' "$REPO/fixtures/admission/deployment.json")"
  grep -q "INFO.*admission .*name=$name " "$BATS_TEST_TMPDIR/server.log"
  grep -qF "admitted with a warning" "$BATS_TEST_TMPDIR/server.log"
  grep -F "admitted with a warning" "$BATS_TEST_TMPDIR/server.log" | grep -qF "warning=$warning"
}

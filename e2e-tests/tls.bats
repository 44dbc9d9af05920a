#!/usr/bin/env bats
# TLS of `pullthrough serve`: the certificate's names, TLS 1.2/1.3 only, no plaintext served, and a
# certificate rotation under load with no failed request.

load helpers

setup() {
  require_binary
}

teardown() {
  stop_server
}

serial_served() {
  openssl s_client -connect "127.0.0.1:$PORT" -servername "$HOST" </dev/null 2>/dev/null \
    | openssl x509 -noout -serial
}

@test "the generated certificate carries exactly the service names and loopback addresses" {
  start_server --mirror registry-mirror.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  sans="$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$HOST" </dev/null 2>/dev/null \
    | openssl x509 -noout -ext subjectAltName | tail -n1 | sed 's/^ *//')"
  [ "$sans" = "DNS:pullthrough, DNS:pullthrough.pullthrough, DNS:pullthrough.pullthrough.svc, DNS:pullthrough.pullthrough.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" ]
  for name in pullthrough pullthrough.pullthrough pullthrough.pullthrough.svc pullthrough.pullthrough.svc.cluster.local; do
    curl -sS --fail --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "$name:$PORT:127.0.0.1" "https://$name:$PORT/healthz"
  done
  # A name the certificate does not carry is refused by the client's verification (exit 60).
  run curl -sS --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "other.example.com:$PORT:127.0.0.1" "https://other.example.com:$PORT/healthz"
  [ "$status" -eq 60 ]
}

@test "extra names from --extra-san are added" {
  start_server --mirror m.example.com --extra-san webhook.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  curl -sS --fail --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "webhook.example.com:$PORT:127.0.0.1" "https://webhook.example.com:$PORT/healthz"
}

@test "plaintext HTTP is refused with a plain 400 (never served) and the server keeps serving" {
  start_server --mirror m.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  run curl -sS --max-time 5 -w '\n%{http_code}' "http://127.0.0.1:$PORT/healthz"
  [ "$output" = "this port serves HTTPS only: use https://

400" ]
  [ "$(curl -sS --cacert "$BATS_TEST_TMPDIR/ca.crt" "https://localhost:$PORT/healthz")" = ok ]
}

@test "TLS 1.1 is refused by the server with a fatal alert; 1.2 and 1.3 are accepted" {
  start_server --mirror m.example.com
  # SECLEVEL=0 lets this OpenSSL client offer TLS 1.1 at all; -msg shows the TLS 1.1
  # ClientHello going out and the server's fatal alert coming back, so the refusal is the server's.
  run openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -msg </dev/null
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *">>> TLS 1.1, Handshake"*"ClientHello"* ]]
  [[ "$output" == *"<<< TLS 1.1, Alert [length 0002], fatal handshake_failure"* ]]
  [[ "$output" == *"no peer certificate available"* ]]
  run openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 </dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"Protocol  : TLSv1.2"* ]]
  run openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 </dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"New, TLSv1.3"* ]]
}

@test "ALPN offers h2, http/1.1 and http/1.0" {
  start_server --mirror m.example.com
  run openssl s_client -connect "127.0.0.1:$PORT" -alpn h2 </dev/null
  [[ "$output" == *"ALPN protocol: h2"* ]]
  run openssl s_client -connect "127.0.0.1:$PORT" -alpn http/1.1 </dev/null
  [[ "$output" == *"ALPN protocol: http/1.1"* ]]
  run openssl s_client -connect "127.0.0.1:$PORT" -alpn http/1.0 </dev/null
  [[ "$output" == *"ALPN protocol: http/1.0"* ]]
}

@test "a certificate rotated on disk under load is picked up with no failed request" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/b" \
    --ca-cert "$BATS_TEST_TMPDIR/a/ca.crt" --ca-key "$BATS_TEST_TMPDIR/a/ca.key" >/dev/null 2>&1
  mkdir "$BATS_TEST_TMPDIR/live"
  cp "$BATS_TEST_TMPDIR/a/tls.crt" "$BATS_TEST_TMPDIR/a/tls.key" "$BATS_TEST_TMPDIR/live/"
  start_server --mirror registry-mirror.example.com --tls-reload-seconds 1 \
    --tls-cert "$BATS_TEST_TMPDIR/live/tls.crt" --tls-key "$BATS_TEST_TMPDIR/live/tls.key"
  serial_a="$(serial_served)"
  [ "$serial_a" = "$(openssl x509 -noout -serial -in "$BATS_TEST_TMPDIR/a/tls.crt")" ]
  serial_b="$(openssl x509 -noout -serial -in "$BATS_TEST_TMPDIR/b/tls.crt")"

  # Load: 4 clients, each a new TLS connection per request (so every request does a handshake
  # and sees whichever certificate is current), verifying the chain and the exact answer.
  clients=()
  for client in 1 2 3 4; do
    (
      ok=0 failed=0
      while [ ! -e "$BATS_TEST_TMPDIR/stop" ]; do
        if post /mutate "$REPO/fixtures/admission/deployment.json" "$BATS_TEST_TMPDIR/a/ca.crt" \
          | sed '$d' | assert_review "$BATS_TEST_DIRNAME/expected/deployment.json" >/dev/null 2>&1; then
          ok=$((ok + 1))
        else
          failed=$((failed + 1))
        fi
      done
      echo "$ok $failed" >"$BATS_TEST_TMPDIR/client-$client"
    ) &
    clients+=($!)
  done
  # Keep-alive load alongside, as the API server keeps its connections open.
  REVIEW="$REPO/fixtures/admission/deployment.json" wrk -t1 -c8 -d8s \
    -s "$BATS_TEST_DIRNAME/post-review.lua" "https://127.0.0.1:$PORT/mutate" >"$BATS_TEST_TMPDIR/wrk.out" 2>&1 &
  wrk_pid=$!
  sleep 2
  # Rotate the way Kubernetes and cert-manager do: new files renamed into place.
  cp "$BATS_TEST_TMPDIR/b/tls.key" "$BATS_TEST_TMPDIR/live/tls.key.new"
  cp "$BATS_TEST_TMPDIR/b/tls.crt" "$BATS_TEST_TMPDIR/live/tls.crt.new"
  mv "$BATS_TEST_TMPDIR/live/tls.key.new" "$BATS_TEST_TMPDIR/live/tls.key"
  mv "$BATS_TEST_TMPDIR/live/tls.crt.new" "$BATS_TEST_TMPDIR/live/tls.crt"
  for _ in $(seq 1 50); do
    [ "$(serial_served)" = "$serial_b" ] && break
    sleep 0.2
  done
  [ "$(serial_served)" = "$serial_b" ]
  # A broken write (garbage certificate) is rejected; the rotated certificate keeps serving.
  echo "not a certificate" >"$BATS_TEST_TMPDIR/live/tls.crt"
  sleep 3
  [ "$(serial_served)" = "$serial_b" ]
  touch "$BATS_TEST_TMPDIR/stop"
  wait "${clients[@]}"
  wait "$wrk_pid"
  cat "$BATS_TEST_TMPDIR/wrk.out"
  grep -q "errors_connect=0 errors_read=0 errors_write=0 errors_status=0 errors_timeout=0" "$BATS_TEST_TMPDIR/wrk.out"
  total_ok=0 total_failed=0 idle_clients=0
  for client in 1 2 3 4; do
    read -r ok failed <"$BATS_TEST_TMPDIR/client-$client"
    total_ok=$((total_ok + ok)) total_failed=$((total_failed + failed))
    ((ok > 0)) || idle_clients=$((idle_clients + 1))
  done
  echo "requests ok: $total_ok, failed: $total_failed"
  [ "$total_failed" -eq 0 ]
  # Every client got answers through the rotation. A count of them would measure the machine:
  # 4 clients made 16 with a load average of 11 on 2 cores.
  [ "$idle_clients" -eq 0 ]
  grep -q "certificate files changed; serving the new certificate" "$BATS_TEST_TMPDIR/server.log"
  grep -q "new certificate files rejected; still serving the previous certificate" "$BATS_TEST_TMPDIR/server.log"
}

@test "SIGTERM stops the server cleanly" {
  start_server --mirror m.example.com
  kill -TERM "$SERVER_PID"
  code=0
  wait "$SERVER_PID" || code=$?
  [ "$code" -eq 0 ]
  SERVER_PID=""
  grep -q "received SIGTERM; shutting down" "$BATS_TEST_TMPDIR/server.log"
  grep -q "all connections closed" "$BATS_TEST_TMPDIR/server.log"
}

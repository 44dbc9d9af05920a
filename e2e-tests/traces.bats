#!/usr/bin/env bats
# OTLP traces from `pullthrough serve` to a real OpenTelemetry Collector (tools/otelcol: the
# collector's own OTLP receiver and file exporter), configured only by the standard OTEL_*
# variables: a span per admission with its attributes, a child of the caller's traceparent; the
# last spans exported at shutdown; and off unless those variables ask for it.

load helpers

setup() {
  require_binary
  load_tools
  OTELCOL="${OTELCOL:-$(tool_dir tools/otelcol)/otelcol}"
  pinned_tool "$OTELCOL" "the OpenTelemetry Collector"
  start_collector
}

teardown() {
  stop_server
  if [[ -n "${COLLECTOR_PID:-}" ]]; then
    kill -TERM "$COLLECTOR_PID" 2>/dev/null || true
    wait "$COLLECTOR_PID" 2>/dev/null || true
  fi
}

# The collector on a free port, writing every span it receives to $SPANS; sets OTLP_PORT.
start_collector() {
  OTLP_PORT="$(free_port)"
  SPANS="$BATS_TEST_TMPDIR/spans.jsonl"
  cat >"$BATS_TEST_TMPDIR/otelcol.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$OTLP_PORT
exporters:
  file:
    path: $SPANS
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
EOF
  "$OTELCOL" --config "$BATS_TEST_TMPDIR/otelcol.yaml" 2>"$BATS_TEST_TMPDIR/otelcol.log" &
  COLLECTOR_PID=$!
  for _ in $(seq 1 100); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OTLP_PORT/v1/traces")" != 000 ]] && return 0
    sleep 0.1
  done
  cat "$BATS_TEST_TMPDIR/otelcol.log" >&2
  return 1
}

# wait_spans COUNT: until the collector has written COUNT spans; prints them (traces/spans.py).
wait_spans() {
  for _ in $(seq 1 100); do
    python3 "$BATS_TEST_DIRNAME/traces/spans.py" "$SPANS" "$1" && return 0
    sleep 0.1
  done
  echo "fewer than $1 spans arrived:" >&2
  python3 "$BATS_TEST_DIRNAME/traces/spans.py" "$SPANS" >&2
  return 1
}

# serve_traced VARIABLE=VALUE...: serve with those variables and the bundled policy.
serve_traced() {
  SERVE_ENV+=("$@")
  start_server --mirror registry-mirror.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
}

@test "the collector receives a span per admission, with its attributes and the caller's trace" {
  serve_traced OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" OTEL_SERVICE_NAME=pullthrough-e2e \
    OTEL_BSP_SCHEDULE_DELAY=100
  # As kube-apiserver sends it with its tracing on.
  curl -sS --max-time 10 --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
    -H 'Content-Type: application/json' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
    --data-binary "@$REPO/fixtures/admission/cronjob.json" -o /dev/null "https://$HOST:$PORT/mutate"
  wait_spans 1
  post /validate/pullthrough "$REPO/fixtures/admission/pod-initcontainers-digests.json" >/dev/null
  wait_spans 2
  echo '{"kind":"AdmissionReview"' >"$BATS_TEST_TMPDIR/broken.json"
  [ "$(post /mutate "$BATS_TEST_TMPDIR/broken.json" | tail -n1)" = 400 ]
  run wait_spans 3
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 3 ]
  [ "${lines[0]}" = "pullthrough-e2e admission server trace=4bf92f3577b34da6a3ce929d0e0e4736 parent=00f067aa0ba902b7 status=0 k8s.namespace.name=default pullthrough.guest_us=>0 pullthrough.images_rewritten=1 pullthrough.kind=CronJob pullthrough.operation=CREATE pullthrough.outcome=mutated pullthrough.policy=pullthrough pullthrough.uid=0c0829ff-c2f5-4634-a1c3-098147304d03" ]
  # No traceparent: a trace of its own.
  [[ "${lines[1]}" =~ ^"pullthrough-e2e admission server trace="[0-9a-f]{32}" parent=- status=0 " ]]
  [[ "${lines[1]}" != *4bf92f3577b34da6a3ce929d0e0e4736* ]]
  [[ "${lines[1]}" == *" k8s.namespace.name= pullthrough.guest_us=>0 pullthrough.images_rewritten=2 pullthrough.kind=Pod pullthrough.operation=CREATE pullthrough.outcome=mutated pullthrough.policy=pullthrough pullthrough.uid=c78e0c58-7389-4838-b4f5-28d6005c1cc3" ]]
  # A broken request never reached the policy: no request fields, no guest time, an error.
  [[ "${lines[2]}" == *" status=2 pullthrough.images_rewritten=0 pullthrough.outcome=invalid pullthrough.policy=pullthrough" ]]
}

@test "the last spans are exported when serve stops" {
  # A minute between exports: only the shutdown sends this span.
  serve_traced OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" OTEL_BSP_SCHEDULE_DELAY=60000
  post /mutate "$REPO/fixtures/admission/cronjob.json" >/dev/null
  sleep 0.5
  [ -z "$(python3 "$BATS_TEST_DIRNAME/traces/spans.py" "$SPANS")" ]
  stop_server
  run wait_spans 1
  echo "$output"
  [ "$status" -eq 0 ]
  # OTEL_SERVICE_NAME unset: the service is pullthrough.
  [[ "$output" == "pullthrough admission server "*" pullthrough.outcome=mutated "* ]]
}

@test "traces stay off without an OTLP variable, and with OTEL_TRACES_EXPORTER=none" {
  for off in OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true; do
    SERVE_ENV=(PULLTHROUGH_SHUTDOWN_GRACE_SECONDS=0)
    serve_traced OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" OTEL_BSP_SCHEDULE_DELAY=100 "$off"
    post /mutate "$REPO/fixtures/admission/deployment.json" >/dev/null
    stop_server
  done
  # Nothing names the collector: where would the spans go? Nowhere, and no error says otherwise.
  SERVE_ENV=(PULLTHROUGH_SHUTDOWN_GRACE_SECONDS=0)
  serve_traced
  post /mutate "$REPO/fixtures/admission/deployment.json" >/dev/null
  stop_server
  run grep -qi 'opentelemetry\|otlp\|span' "$BATS_TEST_TMPDIR/server.log"
  [ "$status" -eq 1 ]
  sleep 0.5
  [ -z "$(python3 "$BATS_TEST_DIRNAME/traces/spans.py" "$SPANS")" ]
}

@test "an exporter or protocol this build lacks is refused at start, naming the variable" {
  run env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
    "$PULLTHROUGH" serve --mirror registry-mirror.example.com
  [ "$status" -eq 2 ]
  [ "$output" = "error: invalid trace configuration: OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (the collector's port 4318), got \"grpc\"" ]
  run env OTEL_TRACES_EXPORTER=console "$PULLTHROUGH" serve --mirror registry-mirror.example.com
  [ "$status" -eq 2 ]
  [ "$output" = "error: invalid trace configuration: OTEL_TRACES_EXPORTER must be otlp or none, got \"console\"" ]
}

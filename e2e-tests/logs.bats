#!/usr/bin/env bats
# Structured logs: --log-format json writes one JSON object per line with the review's fields.

load helpers

setup() {
  require_binary
}

teardown() {
  stop_server
}

@test "JSON logs carry uid, kind, namespace, outcome and duration as fields" {
  start_server --mirror registry-mirror.example.com --log-format json --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  post /mutate "$REPO/fixtures/admission/cronjob.json" >/dev/null
  stop_server
  python3 - "$BATS_TEST_TMPDIR/server.log" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
reviews = [l for l in lines if l.get("message") == "admission"]
assert len(reviews) == 1, lines
r = reviews[0]
expected = {"uid": "0c0829ff-c2f5-4634-a1c3-098147304d03", "kind": "CronJob", "namespace": "default",
            "operation": "CREATE", "outcome": "mutated", "images_rewritten": 1, "policy": "pullthrough",
            "level": "INFO"}
for key, value in expected.items():
    assert r[key] == value, (key, r)
assert isinstance(r["duration_us"], int) and r["duration_us"] > 0, r
PY
}

@test "text logs escape a newline and an ANSI escape in the object's name: one line per review" {
  start_server --mirror registry-mirror.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  jq '.request.name = "evil\n2026-12-04T00:00:00Z  INFO forged uid=x\u001b[31m"' \
    "$REPO/fixtures/admission/cronjob.json" >"$BATS_TEST_TMPDIR/evil.json"
  post /mutate "$BATS_TEST_TMPDIR/evil.json" >/dev/null
  stop_server
  # (`! grep` would not fail a bats test: errexit ignores a negated command.)
  [ "$(grep -v 'name=evil' "$BATS_TEST_TMPDIR/server.log" | grep -c 'INFO forged')" = 0 ]
  [ "$(grep -c $'\e' "$BATS_TEST_TMPDIR/server.log")" = 0 ]
  line="$(grep 'uid=0c0829ff-c2f5-4634-a1c3-098147304d03' "$BATS_TEST_TMPDIR/server.log")"
  [ "$(wc -l <<<"$line")" = 1 ]
  [[ "$line" == *'name=evil\n2026-12-04T00:00:00Z  INFO forged uid=x\u{1b}[31m operation=CREATE'* ]]
}

@test "duration_us and the latency metric leave out the client's upload" {
  start_server --mirror registry-mirror.example.com --log-format json --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  # About 2 s to upload 2 KB at 1 KB/s.
  curl -sS --http1.1 --limit-rate 1k --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
    --data-binary "@$REPO/fixtures/admission/cronjob.json" -o /dev/null -w '%{time_total}\n' \
    "https://$HOST:$PORT/mutate" >"$BATS_TEST_TMPDIR/upload"
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  stop_server
  echo "upload took $(cat "$BATS_TEST_TMPDIR/upload") s"
  python3 -c 'import sys; sys.exit(float(open(sys.argv[1]).read()) < 1.5)' "$BATS_TEST_TMPDIR/upload"
  duration="$(jq -r 'select(.message == "admission") | .duration_us' "$BATS_TEST_TMPDIR/server.log")"
  echo "duration_us=$duration"
  [ "$duration" -lt 500000 ]
  # Within the histogram's 0.4096 s bucket, not in the 1.6 s or 3.3 s ones.
  grep -q '^pullthrough_admission_duration_seconds_bucket{le="0.4096",policy="pullthrough"} 1$' <<<"$metrics"
}

@test "serve logs the policy's warning when allowSharedNamespace accepts a shared namespace" {
  start_server --settings-json '{"mirror":"registry-mirror.example.com","registries":["*"],"allowSharedNamespace":true}'
  stop_server
  line="$(grep 'the policy accepted its settings with a warning' "$BATS_TEST_TMPDIR/server.log")"
  [[ "$line" == *" WARN "* ]]
  [[ "$line" == *'policy="pullthrough" warning=settings.registries ["*"] with layout flat rewrites every registry into the one mirror namespace "registry-mirror.example.com/": allowSharedNamespace accepts that'* ]]
}

# The names of the server's threads, one per line.
threads() {
  cat /proc/"$SERVER_PID"/task/*/comm
}

# uid=…: the cronjob fixture's, which every review below carries.
uid=0c0829ff-c2f5-4634-a1c3-098147304d03

# Waits up to a second for the first review's line: a worker writes what it holds once it is idle,
# right after the answer.
first_line_soon() {
  for _ in $(seq 1 10); do
    grep -q "uid=$uid" "$BATS_TEST_TMPDIR/server.log" && break
    sleep 0.1
  done
  [ "$(grep -c "uid=$uid" "$BATS_TEST_TMPDIR/server.log")" = 1 ]
}

# 300 more reviews from 8 clients at once, the server stopped, and the log read back: every
# admission logged once (held by the workers, none lost or doubled), and the shutdown's lines,
# logged after the last admission, written after it.
every_line_once_and_before_the_exit() {
  seq 1 300 | xargs -P 8 -I{} curl -sS -o /dev/null --cacert "$BATS_TEST_TMPDIR/ca.crt" \
    --resolve "$HOST:$PORT:127.0.0.1" -H 'Content-Type: application/json' \
    --data-binary "@$REPO/fixtures/admission/cronjob.json" "https://$HOST:$PORT/mutate"
  stop_server
  [ -z "${reader:-}" ] || wait "$reader"
  [ "$(grep -c "uid=$uid" "$BATS_TEST_TMPDIR/server.log")" = 301 ]
  last_admission="$(grep -n "uid=$uid" "$BATS_TEST_TMPDIR/server.log" | tail -1 | cut -d: -f1)"
  closed="$(grep -n 'all connections closed' "$BATS_TEST_TMPDIR/server.log" | cut -d: -f1)"
  [ "$closed" -gt "$last_admission" ]
}

@test "a log written to a file has no writer thread, yet every admission is logged once, soon, and before the exit" {
  start_server --mirror registry-mirror.example.com --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  post /mutate "$REPO/fixtures/admission/cronjob.json" >/dev/null
  [ "$(threads | grep -c '^log-writer$')" = 0 ]
  first_line_soon
  every_line_once_and_before_the_exit
}

@test "through a pipe, as under containerd, lines are batched, yet every admission is logged once, soon, and before the exit" {
  # stderr is a pipe that cat copies into server.log, as containerd's shim reads a container's.
  mkfifo "$BATS_TEST_TMPDIR/stderr"
  cat <"$BATS_TEST_TMPDIR/stderr" >"$BATS_TEST_TMPDIR/server.log" &
  reader=$!
  SERVER_STDERR="$BATS_TEST_TMPDIR/stderr" start_server --mirror registry-mirror.example.com \
    --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  [ "$(threads | grep -c '^log-writer$')" = 1 ]
  post /mutate "$REPO/fixtures/admission/cronjob.json" >/dev/null
  first_line_soon
  every_line_once_and_before_the_exit
}

@test "an invalid --log filter is refused with exit code 2" {
  run "$PULLTHROUGH" --log 'info,=[' manifests --mirror m.example.com
  [ "$status" -eq 2 ]
  [[ "$output" == "error: invalid --log filter: "* ]]
}

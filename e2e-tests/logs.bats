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

@test "an invalid --log filter is refused with exit code 2" {
  run "$PULLTHROUGH" --log 'info,=[' manifests --mirror m.example.com
  [ "$status" -eq 2 ]
  [[ "$output" == "error: invalid --log filter: "* ]]
}

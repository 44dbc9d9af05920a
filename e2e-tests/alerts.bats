#!/usr/bin/env bats
# The chart's alerting rules (deploy/helm/pullthrough/files/alerts.yaml) under the pinned promtool:
# they check, and their unit tests (alerts/tests.yaml) fire and clear every alert. And every
# metric the rules and the Grafana dashboard (files/dashboard.json) select, parsed with
# Prometheus's own PromQL parser (tools/promql-names), is one a running `serve` exports.

load helpers

CHART="$REPO/deploy/helm/pullthrough"
RULES="$CHART/files/alerts.yaml"

setup() {
  load_tools
  PROMTOOL="${PROMTOOL:-$(tool_dir promtool)/promtool}"
  PROMQL_NAMES="${PROMQL_NAMES:-$(tool_dir tools/promql-names)/promql-names}"
  pinned_tool "$PROMTOOL" promtool
  pinned_tool "$PROMQL_NAMES" promql-names
}

teardown() {
  stop_server
}

# The metric names a running serve exports, one a line, sorted: with a mirror check (against a
# port nothing listens on, so the mirror is down) and its own certificate, so every series is there.
exported_names() {
  require_binary
  PULLTHROUGH_NO_MIRROR_CHECK=false start_server --mirror registry-mirror.example.com \
    --mirror-check-url "http://127.0.0.1:$(free_port)" --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  for _ in $(seq 1 50); do
    curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" >"$BATS_TEST_TMPDIR/metrics"
    grep -q '^pullthrough_mirror_up' "$BATS_TEST_TMPDIR/metrics" && break
    sleep 0.1
  done
  python3 "$BATS_TEST_DIRNAME/alerts/queries.py" exported <"$BATS_TEST_TMPDIR/metrics"
}

@test "promtool check rules passes the rules file the chart ships" {
  run "$PROMTOOL" --version
  [[ "$output" == "promtool, version 3.16.0 "* ]]
  run "$PROMTOOL" check rules "$RULES"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"SUCCESS: 8 rules found"* ]]
}

@test "promtool test rules: every alert fires with its labels and text, and clears" {
  run "$PROMTOOL" test rules "$BATS_TEST_DIRNAME/alerts/tests.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"SUCCESS"* ]]
  # Each alert of the file is tested.
  for alert in $(awk '$2 == "alert:" {print $3}' "$RULES" | sort -u); do
    grep -q "alertname: $alert\$" "$BATS_TEST_DIRNAME/alerts/tests.yaml" || { echo "untested: $alert"; return 1; }
  done
}

@test "promtool test rules fails when an alert's text or timing differs (the tests can fail)" {
  sed -e "s|\.\./\.\./deploy|$REPO/deploy|" -e '0,/eval_time: 10m$/s//eval_time: 9m/' \
    "$BATS_TEST_DIRNAME/alerts/tests.yaml" >"$BATS_TEST_TMPDIR/tests.yaml"
  run "$PROMTOOL" test rules "$BATS_TEST_TMPDIR/tests.yaml"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"alertname: PullthroughMirrorDown, time: 9m"* ]]
  [[ "$output" == *"got:[]"* ]]
}

@test "every metric the rules select is one serve exports" {
  python3 "$BATS_TEST_DIRNAME/alerts/queries.py" rules "$RULES" | "$PROMQL_NAMES" >"$BATS_TEST_TMPDIR/used"
  [ "$(cat "$BATS_TEST_TMPDIR/used")" = "pullthrough_admission_duration_seconds_bucket
pullthrough_admission_requests_total
pullthrough_certificate_expiry_timestamp_seconds
pullthrough_evaluation_errors_total
pullthrough_mirror_up
pullthrough_policy_reloads_total" ]
  exported_names >"$BATS_TEST_TMPDIR/exported"
  run comm -23 "$BATS_TEST_TMPDIR/used" "$BATS_TEST_TMPDIR/exported"
  echo "not exported: $output"
  [ -z "$output" ]
}

@test "every metric the Grafana dashboard queries is one serve exports" {
  python3 "$BATS_TEST_DIRNAME/alerts/queries.py" dashboard "$CHART/files/dashboard.json" |
    "$PROMQL_NAMES" >"$BATS_TEST_TMPDIR/used"
  [ "$(cat "$BATS_TEST_TMPDIR/used")" = "pullthrough_admission_duration_seconds_bucket
pullthrough_admission_requests_total
pullthrough_certificate_expiry_timestamp_seconds
pullthrough_evaluation_errors_total
pullthrough_images_rewritten_total
pullthrough_mirror_transitions_total
pullthrough_mirror_up
pullthrough_policy_reloads_total
pullthrough_unrouted_requests_total" ]
  exported_names >"$BATS_TEST_TMPDIR/exported"
  run comm -23 "$BATS_TEST_TMPDIR/used" "$BATS_TEST_TMPDIR/exported"
  echo "not exported: $output"
  [ -z "$output" ]
}

@test "a query of a metric serve does not export is caught (the check can fail)" {
  echo '["sum(rate(pullthrough_admission_requests_total[5m])) / sum(rate(pullthrough_admissions_total[5m]))"]' |
    "$PROMQL_NAMES" >"$BATS_TEST_TMPDIR/used"
  exported_names >"$BATS_TEST_TMPDIR/exported"
  run comm -23 "$BATS_TEST_TMPDIR/used" "$BATS_TEST_TMPDIR/exported"
  [ "$output" = pullthrough_admissions_total ]
  # A selector without a metric name cannot be checked, so it is refused.
  run "$PROMQL_NAMES" <<<'["sum(rate({job=\"pullthrough\"}[5m]))"]'
  [ "$status" -eq 1 ]
  [[ "$output" == *'selects {job="pullthrough"} without a metric name'* ]]
}

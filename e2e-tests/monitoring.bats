#!/usr/bin/env bats
# The chart's monitoring objects: a ServiceMonitor, a PrometheusRule and a Grafana dashboard
# ConfigMap, each off by default and on with one value. None has a `pullthrough manifests` flag,
# so with the defaults the chart still renders exactly what manifests prints (helm.bats).
#
# kubernetes-validate knows no monitoring.coreos.com kinds: the ConfigMap is validated against
# the Kubernetes schema, the two Prometheus Operator objects by alerts/chart_objects.py (fields
# and types the CRDs require, and that they select this chart's Service, port and rules file).

load helpers

CHART="$REPO/deploy/helm/pullthrough"

setup() {
  load_tools
  HELM="${HELM:-$(tool_dir helm)/helm}"
  pinned_tool "$HELM" helm
}

# render ARGS...: helm template into namespace infra with a mirror, to $BATS_TEST_TMPDIR/chart.yaml;
# prints the kinds rendered, one a line, sorted.
render() {
  "$HELM" template pullthrough "$CHART" -n infra --set mirror=m.example.com "$@" >"$BATS_TEST_TMPDIR/chart.yaml"
  python3 -c 'import sys, yaml
print("\n".join(sorted(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)))' "$BATS_TEST_TMPDIR/chart.yaml"
}

check() {
  python3 "$BATS_TEST_DIRNAME/alerts/chart_objects.py" "$BATS_TEST_TMPDIR/chart.yaml" "$CHART" "$@"
}

@test "by default none of the monitoring objects is rendered" {
  run render
  [ "$status" -eq 0 ]
  [ "$output" = "ClusterRole
ClusterRoleBinding
Deployment
NetworkPolicy
PodDisruptionBudget
Role
RoleBinding
Service
ServiceAccount" ]
  run grep -q 'monitoring.coreos.com\|grafana_dashboard' "$BATS_TEST_TMPDIR/chart.yaml"
  [ "$status" -eq 1 ]
}

@test "each value renders its object and nothing else" {
  for value in serviceMonitor:ServiceMonitor prometheusRule:PrometheusRule grafanaDashboard:ConfigMap; do
    run render --set "${value%%:*}.enabled=true"
    [ "$status" -eq 0 ]
    [ "$(grep -c . <<<"$output")" -eq 10 ] || { echo "$value: $output"; return 1; }
    grep -qx "${value##*:}" <<<"$output"
  done
  run "$HELM" lint --strict "$CHART" --set mirror=m.example.com --set serviceMonitor.enabled=true \
    --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "the ServiceMonitor scrapes the Service's metrics port, with the labels and interval given" {
  run render --set serviceMonitor.enabled=true --set serviceMonitor.labels.release=kube-prometheus-stack \
    --set serviceMonitor.interval=15s
  [ "$status" -eq 0 ]
  run check ServiceMonitor
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "valid: ServiceMonitor/infra/pullthrough scrapes Service pullthrough port metrics (9090) every 15s, labels app.kubernetes.io/name=pullthrough,release=kube-prometheus-stack" ]
  # Without an interval, Prometheus's own.
  render --set serviceMonitor.enabled=true >/dev/null
  run check ServiceMonitor
  [ "$output" = "valid: ServiceMonitor/infra/pullthrough scrapes Service pullthrough port metrics (9090) every (Prometheus's interval), labels app.kubernetes.io/name=pullthrough" ]
}

@test "the PrometheusRule's spec is files/alerts.yaml, the file promtool tests" {
  run render --set prometheusRule.enabled=true --set prometheusRule.labels.role=alert-rules
  [ "$status" -eq 0 ]
  run check PrometheusRule
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "valid: PrometheusRule/infra/pullthrough holds files/alerts.yaml: 1 group, 8 rules, labels app.kubernetes.io/name=pullthrough,role=alert-rules" ]
}

@test "the dashboard ConfigMap holds files/dashboard.json for the Grafana sidecar, and validates" {
  run render --set grafanaDashboard.enabled=true --set grafanaDashboard.namespace=monitoring
  [ "$status" -eq 0 ]
  run check ConfigMap
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "valid: ConfigMap/monitoring/pullthrough-dashboard holds files/dashboard.json (8 panels), labels app.kubernetes.io/name=pullthrough,grafana_dashboard=1" ]
  if command -v kubernetes-validate >/dev/null 2>&1; then
    run kubernetes-validate --strict "$BATS_TEST_TMPDIR/chart.yaml"
    echo "$output"
    grep -q "passed for resource configmap/pullthrough-dashboard" <<<"$output"
  else
    [[ -z "${CI:-}" ]] || { echo "kubernetes-validate is required in CI" >&2; return 1; }
  fi
}

@test "the checks catch an object that does not select the Service (they can fail)" {
  render --set serviceMonitor.enabled=true >/dev/null
  sed -i 's/- port: metrics/- port: http-metrics/' "$BATS_TEST_TMPDIR/chart.yaml"
  run check ServiceMonitor
  [ "$status" -eq 1 ]
  [ "$output" = "ServiceMonitor/infra/pullthrough: endpoint port \"http-metrics\" is not a port of Service pullthrough (https, metrics)" ]
  render --set prometheusRule.enabled=true >/dev/null
  sed -i 's/severity: critical/severity: page/' "$BATS_TEST_TMPDIR/chart.yaml"
  run check PrometheusRule
  [ "$status" -eq 1 ]
  [ "$output" = "PrometheusRule/infra/pullthrough: spec differs from files/alerts.yaml" ]
}

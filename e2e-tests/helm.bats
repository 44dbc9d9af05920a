#!/usr/bin/env bats
# The Helm chart (deploy/helm/pullthrough) against `pullthrough manifests` and the kustomize base:
# it lints with the pinned helm, and renders the same objects, compared one by one as parsed YAML,
# with the default values and with every value changed. Only the Namespace is left to
# `helm install --create-namespace`.

load helpers

CHART="$REPO/deploy/helm/pullthrough"

setup() {
  require_binary
  load_tools
  HELM="${HELM:-$(tool_dir helm)/helm}"
  pinned_tool "$HELM" helm
}

# same CHART_ARGS -- MANIFESTS_ARGS: helm template of the chart into namespace infra-ns ... against
# pullthrough manifests ..., both with their arguments.
same() {
  local chart_args=() manifests_args=()
  while [[ "$1" != -- ]]; do chart_args+=("$1"); shift; done
  shift
  manifests_args=("$@")
  "$HELM" template pullthrough "$CHART" "${chart_args[@]}" >"$BATS_TEST_TMPDIR/chart.yaml"
  "$PULLTHROUGH" manifests "${manifests_args[@]}" >"$BATS_TEST_TMPDIR/manifests.yaml"
  python3 "$BATS_TEST_DIRNAME/same_objects.py" --skip Namespace \
    "$BATS_TEST_TMPDIR/manifests.yaml" "$BATS_TEST_TMPDIR/chart.yaml"
}

@test "helm lint --strict passes, and rendering without a mirror names the value" {
  run "$HELM" lint --strict "$CHART" --set mirror=registry-mirror.example.com
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"1 chart(s) linted, 0 chart(s) failed"* ]]
  # lint only notes a missing required value; template and install refuse it.
  run "$HELM" template pullthrough "$CHART"
  [ "$status" -ne 0 ]
  [[ "$output" == *"mirror is required: the registry host of the pull-through cache, e.g. --set mirror=zot.registry.svc:5000"* ]]
}

@test "the chart with default values renders what pullthrough manifests and the kustomize base hold" {
  run same -n pullthrough --set mirror=registry-mirror.example.com -- --mirror registry-mirror.example.com
  echo "$output"
  [ "$status" -eq 0 ]
  # Every object but the Namespace, each compared.
  [ "$(grep -c '^same: ' <<<"$output")" -eq 9 ]
  for kind in ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding Deployment Service \
    PodDisruptionBudget NetworkPolicy; do
    grep -q "^same: $kind/" <<<"$output"
  done
  run python3 "$BATS_TEST_DIRNAME/same_objects.py" --skip Namespace \
    "$REPO/deploy/kustomize/base/install.yaml" "$BATS_TEST_TMPDIR/chart.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(grep -c '^same: ' <<<"$output")" -eq 9 ]
}

@test "every value of the chart matches its pullthrough manifests flag" {
  run same -n infra \
    --set mirror=zot.registry.svc:5000/cache \
    --set image.repository=registry.example.com/pt/pullthrough --set image.tag=9.9.9 \
    --set replicas=3 --set failurePolicy=fail \
    --set 'excludeNamespaces={zot,cilium,longhorn-system}' \
    --set 'mirrorPullSecrets={mirror-creds,mirror-creds-2}' \
    --set guestSlots=4 --set policyMemoryMiB=64 \
    --set priorityClassName= \
    --set-json 'metrics.namespaceSelector={"team":"observability","tier":"infra"}' \
    --set shutdownGraceSeconds=20 \
    -- \
    --namespace infra --mirror zot.registry.svc:5000/cache \
    --image registry.example.com/pt/pullthrough:9.9.9 \
    --replicas 3 --failure-policy fail \
    --exclude-namespaces zot,cilium,longhorn-system \
    --mirror-pull-secret mirror-creds --mirror-pull-secret mirror-creds-2 \
    --guest-slots 4 --policy-memory-mib 64 \
    --priority-class-name '' \
    --metrics-namespace-selector team=observability,tier=infra \
    --shutdown-grace-seconds 20
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(grep -c '^same: ' <<<"$output")" -eq 9 ]
  # The changed values did reach the objects.
  grep -q 'memory: 320Mi' "$BATS_TEST_TMPDIR/chart.yaml"
  grep -q 'terminationGracePeriodSeconds: 50' "$BATS_TEST_TMPDIR/chart.yaml"
  run grep -q priorityClassName "$BATS_TEST_TMPDIR/chart.yaml"
  [ "$status" -eq 1 ]
}

@test "a policies file is the ConfigMap pullthrough-policies and serve --policies, in both" {
  cat >"$BATS_TEST_TMPDIR/policies.yml" <<'EOF'
pullthrough:
  module: /usr/share/pullthrough/policy.wasm
  allowedToMutate: true
  settings:
    mirror: m.example.com
    layout: prefixed
  mirrorCheck:
    url: https://m.example.com
EOF
  run same -n pullthrough --set-file policies="$BATS_TEST_TMPDIR/policies.yml" -- \
    --policies "$BATS_TEST_TMPDIR/policies.yml"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(grep -c '^same: ' <<<"$output")" -eq 10 ]
  grep -q '^same: ConfigMap/pullthrough/pullthrough-policies' <<<"$output"
  grep -A1 -- '- --policies' "$BATS_TEST_TMPDIR/chart.yaml" | grep -q -- '- /etc/pullthrough/policies.yml'
  # The image's bundled policy is checked with its own settings code, in manifests.
  sed -i 's/layout: prefixed/layout: sideways/' "$BATS_TEST_TMPDIR/policies.yml"
  run "$PULLTHROUGH" manifests --policies "$BATS_TEST_TMPDIR/policies.yml"
  [ "$status" -ne 0 ]
  [[ "$output" == *"policy \"pullthrough\" (/usr/share/pullthrough/policy.wasm) would refuse its settings"* ]]
  run "$HELM" template pullthrough "$CHART" --set-file policies="$BATS_TEST_TMPDIR/policies.yml" --set 'mirrorPullSecrets={creds}'
  [ "$status" -ne 0 ]
  [[ "$output" == *"mirrorPullSecrets goes with mirror; with policies, list the secrets in the policy's settings (imagePullSecrets)"* ]]
}

@test "an empty exclusion list is passed on as one, in both" {
  run same -n pullthrough --set mirror=m.example.com --set 'excludeNamespaces={}' -- --mirror m.example.com --exclude-namespaces ''
  echo "$output"
  [ "$status" -eq 0 ]
  grep -A1 -- '- --exclude-namespaces' "$BATS_TEST_TMPDIR/chart.yaml" | grep -q -- '- ""'
}

@test "the comparison reports a value that differs (the check can fail)" {
  run same -n pullthrough --set mirror=m.example.com --set guestSlots=3 -- --mirror m.example.com
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"('Deployment', 'pullthrough', 'pullthrough') \$.spec.template.spec.containers[0].args[7]: \"2\" != \"3\""* ]]
  [[ "$output" == *"\$.spec.template.spec.containers[0].resources.limits.memory: \"320Mi\" != \"448Mi\""* ]]
}

@test "a chart value out of range is refused with its name" {
  run "$HELM" template pullthrough "$CHART" --set mirror=m.example.com --set failurePolicy=Fail
  [ "$status" -ne 0 ]
  [[ "$output" == *'failurePolicy must be ignore or fail, got "Fail"'* ]]
  run "$HELM" template pullthrough "$CHART" --set mirror=m.example.com --set guestSlots=0
  [ "$status" -ne 0 ]
  [[ "$output" == *"guestSlots must be at least 1, got 0"* ]]
}

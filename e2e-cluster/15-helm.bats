#!/usr/bin/env bats
# The Helm chart on the real control plane: `helm install` into a namespace of its own makes
# exactly the objects it renders, the Deployment's pods pass admission at their priority class,
# a replica registers with the chart's ServiceAccount and RBAC alone, and `helm uninstall` plus
# the uninstall steps the chart prints leave no webhook configuration behind.

load helpers

CHART="$REPO/deploy/helm/pullthrough"
# Not the manifests' namespace: the replica below runs with a token of the chart's ServiceAccount.
INSTALL_NS="pt-helm"

setup_file() {
  stop_replica a
  stop_replica b
  # Helm refuses to adopt objects it did not make: the cluster-wide objects of the manifests
  # install that earlier files applied go first (later files apply the manifests again).
  k delete mutatingwebhookconfiguration pullthrough --ignore-not-found >/dev/null
  k delete clusterrolebinding pullthrough --ignore-not-found >/dev/null
  k delete clusterrole pullthrough --ignore-not-found >/dev/null
}

teardown_file() {
  stop_replica a
  "$HELM" uninstall pullthrough -n "$INSTALL_NS" --ignore-not-found >/dev/null 2>&1 || true
  k delete mutatingwebhookconfiguration pullthrough --ignore-not-found >/dev/null
}

@test "helm install creates every object the chart renders, with the rendered values" {
  run "$HELM" install pullthrough "$CHART" -n "$INSTALL_NS" --create-namespace --set mirror="$MIRROR"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"STATUS: deployed"* ]]
  k get namespace "$INSTALL_NS" >/dev/null
  "$HELM" get manifest pullthrough -n "$INSTALL_NS" >"$BATS_TEST_TMPDIR/rendered.yaml"
  k -n "$INSTALL_NS" get -o yaml \
    serviceaccount/pullthrough clusterrole/pullthrough clusterrolebinding/pullthrough \
    role.rbac.authorization.k8s.io/pullthrough rolebinding.rbac.authorization.k8s.io/pullthrough \
    deployment/pullthrough service/pullthrough poddisruptionbudget/pullthrough \
    networkpolicy/pullthrough >"$BATS_TEST_TMPDIR/live.yaml"
  run python3 "$REPO/e2e-tests/same_objects.py" --subset "$BATS_TEST_TMPDIR/rendered.yaml" "$BATS_TEST_TMPDIR/live.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(grep -c '^same: ' <<<"$output")" -eq 9 ]
}

@test "the chart's pods pass admission at system-cluster-critical outside kube-system" {
  # No kubelet runs, but the controller manager's ReplicaSet creates the Pods through admission
  # (the Priority plugin resolves the class); they then stay Pending.
  wait_for 60 "two pods of the chart's Deployment" bash -c \
    "[[ \$('$KUBE_BIN/kubectl' -n $INSTALL_NS get pods -l app.kubernetes.io/name=pullthrough -o name | wc -l) -eq 2 ]]"
  run k -n "$INSTALL_NS" get pods -l app.kubernetes.io/name=pullthrough \
    -o jsonpath='{range .items[*]}{.spec.priorityClassName} {.spec.priority}{"\n"}{end}'
  [ "$status" -eq 0 ]
  [ "$output" = "system-cluster-critical 2000000000
system-cluster-critical 2000000000" ]
}

@test "a replica registers with the chart's ServiceAccount and RBAC, which name only its own Secret" {
  sa="system:serviceaccount:$INSTALL_NS:pullthrough"
  [ "$(k auth can-i create secrets/pullthrough-tls -n "$INSTALL_NS" --as "$sa")" = yes ]
  run k auth can-i create secrets/other -n "$INSTALL_NS" --as "$sa"
  [ "$output" = no ]
  publish_endpoints "${REPLICA_IPS[0]}"
  start_replica a "${REPLICA_IPS[0]}"
  grep -q "stored new certificate material" "$CLUSTER_DIR/logs/replica-a.log"
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].clientConfig.service.namespace}')" = "$INSTALL_NS" ]
  secret_ca="$(k -n "$INSTALL_NS" get secret pullthrough-tls -o jsonpath='{.data.ca\.crt}' | base64 -d)"
  [ "$secret_ca" = "$(cat "$CLUSTER_DIR/replica-a.ca")" ]
  new_namespace helm-check
  wait_for 30 "the API server rewriting through the chart's Service" rewriting_in helm-check
}

@test "helm uninstall and the uninstall steps the chart prints leave no webhook configuration" {
  # The commands NOTES.txt prints, run as printed.
  "$HELM" get notes pullthrough -n "$INSTALL_NS" | sed -n 's/^  \(helm\|kubectl\) /\1 /p' >"$BATS_TEST_TMPDIR/steps"
  cat "$BATS_TEST_TMPDIR/steps"
  [ "$(wc -l <"$BATS_TEST_TMPDIR/steps")" -eq 3 ]
  # The Deployment's pods would stop with it; the replica here is a process of the suite's.
  stop_replica a
  ran=0
  while read -r tool args; do
    if [[ "$tool" == helm ]]; then
      # shellcheck disable=SC2086
      "$HELM" $args </dev/null
      # What the release does not own is still there: the replica made it.
      k get mutatingwebhookconfiguration pullthrough >/dev/null
      k -n "$INSTALL_NS" get secret pullthrough-tls >/dev/null
    else
      # shellcheck disable=SC2086
      k $args </dev/null
    fi
    ran=$((ran + 1))
  done <"$BATS_TEST_TMPDIR/steps"
  [ "$ran" -eq 3 ]
  run k get mutatingwebhookconfiguration pullthrough
  [[ "$output" == *NotFound* ]]
  [ "$(k get mutatingwebhookconfigurations -o json | jq '[.items[].webhooks[]? | select(.clientConfig.service.namespace == "'"$INSTALL_NS"'")] | length')" -eq 0 ]
  run k get namespace "$INSTALL_NS"
  [[ "$output" == *NotFound* ]]
  wait_for 10 "the API server no longer calling the webhook" not_rewriting_in helm-check
}

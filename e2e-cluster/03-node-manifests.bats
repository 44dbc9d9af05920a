#!/usr/bin/env bats
# The other install path, on the node: `pullthrough manifests | kubectl apply -f -` with a
# policies file (rendered into the ConfigMap pullthrough-policies), its two replicas Ready through
# their probes, a workload rewritten and pulled through the cache, and `kubectl delete -f` of the
# same output plus the webhook configuration leaving nothing behind.

load helpers
load node_helpers

SELECTOR="app.kubernetes.io/name=pullthrough"

setup_file() {
  require_node
  stop_replica a
  stop_replica b
  k delete mutatingwebhookconfiguration pullthrough --ignore-not-found >/dev/null
  # The chart's install an earlier file removed may still be terminating its namespace.
  k delete namespace "$INSTALL_NS" --ignore-not-found --timeout 120s >/dev/null
  node_open
  start_node_registries
  import_pullthrough_image
  cat >"$CLUSTER_DIR/manifests-policies.yml" <<EOF
pullthrough:
  module: /usr/share/pullthrough/policy.wasm
  allowedToMutate: true
  settings:
    mirror: $MIRROR
  mirrorCheck:
    url: http://$HUB_CACHE
EOF
  "$PULLTHROUGH" manifests --policies "$CLUSTER_DIR/manifests-policies.yml" >"$CLUSTER_DIR/manifests.yaml"
}

teardown_file() {
  k delete -f "$CLUSTER_DIR/manifests.yaml" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  k delete mutatingwebhookconfiguration pullthrough --ignore-not-found >/dev/null
  k delete namespace from-manifests --ignore-not-found --wait=false >/dev/null 2>&1 || true
  node_close
  stop_node_registries
}

@test "pullthrough manifests | kubectl apply -f -: two Ready replicas serving the ConfigMap's policies" {
  run k apply -f "$CLUSTER_DIR/manifests.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"configmap/pullthrough-policies created"* ]]
  wait_for 180 "two Ready replicas" ready_pods "$INSTALL_NS" "$SELECTOR" 2
  wait_for 60 "the webhook registered by the pods" k get mutatingwebhookconfiguration pullthrough
}

@test "a workload from the manifests' install is rewritten and pulled through the cache" {
  digest="$(push_busybox "$HUB" library/busybox:1.36)"
  new_namespace from-manifests
  wait_for 60 "rewriting" bash -c "[[ \$('$KUBE_BIN/kubectl' -n from-manifests create deployment probe --image=busybox:1.36 --dry-run=server -o jsonpath='{.spec.template.spec.containers[0].image}') == '$MIRROR/library/busybox:1.36' ]]"
  run_workload from-manifests app busybox:1.36 >/dev/null
  [ "$(pod_field from-manifests app=app '.spec.containers[0].image')" = "$MIRROR/library/busybox:1.36" ]
  [ "$(pod_field from-manifests app=app '.status.containerStatuses[0].imageID' | sed 's/.*@//')" = "$digest" ]
}

@test "kubectl delete -f of the same output, and the webhook configuration, leave nothing" {
  k delete -f "$CLUSTER_DIR/manifests.yaml" >/dev/null
  k delete mutatingwebhookconfiguration pullthrough >/dev/null
  wait_for 120 "namespace $INSTALL_NS gone" bash -c "! '$KUBE_BIN/kubectl' get namespace '$INSTALL_NS' >/dev/null 2>&1"
  run k get clusterrole,clusterrolebinding,mutatingwebhookconfiguration -l "$SELECTOR" -o name
  [ "$output" = "" ]
}

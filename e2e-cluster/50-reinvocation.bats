#!/usr/bin/env bats
# reinvocationPolicy IfNeeded: a webhook that runs after ours and adds a sidecar makes the API
# server call ours again, and the sidecar's image is rewritten too.

load helpers

setup_file() {
  ensure_webhook
  start_helper_webhook
  new_namespace reinvoke
  # Mutating webhooks run in the order of their configurations' names: zz- comes after pullthrough.
  register_helper zz-sidecar /sidecar reinvoke \
    '[{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods], scope: Namespaced}]'
  wait_for 30 "the sidecar webhook" bash -c \
    "'$KUBE_BIN/kubectl' -n reinvoke run probe --image=nginx:1.27 --restart=Never --dry-run=server -o jsonpath='{.spec.containers[*].name}' | grep -qw sidecar"
}

teardown_file() {
  k delete mutatingwebhookconfiguration zz-sidecar --ignore-not-found >/dev/null
}

@test "a sidecar added after our webhook is rewritten on reinvocation" {
  before="$(grep -c 'namespace=reinvoke' "$CLUSTER_DIR/logs/replica-a.log" || true)"
  run k -n reinvoke run app --image=nginx:1.27 --restart=Never -o json
  [ "$status" -eq 0 ]
  [ "$(jq -c '[.spec.containers[] | [.name, .image]]' <<<"$output")" = \
    "[[\"app\",\"$MIRROR/library/nginx:1.27\"],[\"sidecar\",\"$MIRROR/library/busybox:1.36\"]]" ]
  [ "$(jq -r '.metadata.annotations["pullthrough.dev/original-images"] | fromjson | [.app, .sidecar] | join(" ")' <<<"$output")" = \
    "nginx:1.27 busybox:1.36" ]
  # Called twice for the one Pod: first for app, then again after the sidecar was added.
  after="$(grep -c 'namespace=reinvoke' "$CLUSTER_DIR/logs/replica-a.log")"
  [ $((after - before)) -eq 2 ]
}

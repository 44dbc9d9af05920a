#!/usr/bin/env bats
# The admission the API server never sends: the webhook's objectSelector and matchConditions keep
# the API server from calling it for what it would leave unchanged. Counted with the API server's
# own counter of webhook requests, so the figures are what the API server did, not what we think.
# Each case prints its count (bats shows it with --timing / the tap stream) for BENCHMARKS.md.

load helpers

setup_file() {
  ensure_webhook
  new_namespace calls
}

# Webhook requests the API server has sent to pullthrough so far (every operation and code).
calls() {
  k get --raw /metrics |
    awk '/^apiserver_admission_webhook_request_total\{/ && /name="rewrite.pullthrough.dev"/ {sum += $NF} END {print sum + 0}'
}

# counted WHAT COMMAND...: runs COMMAND, waits for the controllers to settle, and prints how many
# calls it cost; the count is also left in $counted.
counted() {
  local what="$1" before after
  shift
  before="$(calls)"
  "$@"
  sleep 3
  after="$(calls)"
  counted=$((after - before))
  echo "# webhook calls for $what: $counted" >&3
}

# create_deployment NAME: a Deployment of 2 replicas, waited for until both Pods exist.
create_deployment() {
  k -n calls create deployment "$1" --image=nginx:1.27 --replicas=2 >/dev/null
  wait_for 30 "the Deployment's Pods" bash -c \
    "[[ \$('$KUBE_BIN/kubectl' -n calls get pods -l app=$1 -o name | wc -l) -eq 2 ]]"
}

no_image_updates() {
  k -n calls label deployment "$1" tier=frontend >/dev/null &&
    k -n calls annotate deployment "$1" owner=team-a >/dev/null &&
    k -n calls scale deployment "$1" --replicas=3 >/dev/null
}

@test "before: without the objectSelector and matchConditions, the API server calls for everything" {
  # The registration as it was before them, made by removing both from the live configuration.
  k patch mutatingwebhookconfiguration pullthrough --type=json --field-manager=e2e -p \
    '[{"op":"remove","path":"/webhooks/0/matchConditions"},{"op":"remove","path":"/webhooks/0/objectSelector"}]' >/dev/null
  sleep 2
  counted "one Deployment rollout (2 replicas), without conditions" create_deployment before
  local rollout=$counted
  counted "label, annotate and scale a Deployment, without conditions" no_image_updates before
  # Deployment, ReplicaSet and two Pods at least, and the controllers' own updates.
  ((rollout >= 4))
  ((counted >= 3))
  # Server-side apply leaves a field another manager removed removed (as it leaves an
  # operator's edit), so re-registering restores nothing: start from a fresh configuration.
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}"
  [ -z "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].matchConditions[*].name}')" ]
  k delete mutatingwebhookconfiguration pullthrough >/dev/null
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}"
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].matchConditions[*].name}')" = "not-a-static-pod images-changed an-image-off-the-mirror" ]
  sleep 2
}

@test "a Deployment rollout with 2 replicas costs one webhook call (the Deployment's CREATE)" {
  counted "one Deployment rollout (2 replicas)" create_deployment web
  run k -n calls get pods -l app=web -o jsonpath='{.items[*].spec.containers[0].image}'
  [ "$output" = "$MIRROR/library/nginx:1.27 $MIRROR/library/nginx:1.27" ]
  [ "$counted" -eq 1 ]
}

@test "an UPDATE that changes no image costs no call: labels, annotations, scale" {
  counted "label, annotate and scale a Deployment" no_image_updates web
  [ "$counted" -eq 0 ]
}

@test "an UPDATE that changes an image is still sent and rewritten" {
  counted "kubectl set image on the Deployment" \
    k -n calls set image deployment/web nginx=nginx:1.28 >/dev/null
  run k -n calls get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}'
  [ "$output" = "$MIRROR/library/nginx:1.28" ]
  # The Deployment's UPDATE; the new ReplicaSet and its Pods already point at the mirror.
  [ "$counted" -eq 1 ]
}

@test "a Pod whose images are all on the mirror, and a static pod's API copy, are not sent" {
  counted "a Pod already on the mirror" \
    k -n calls run on-mirror --image="$MIRROR/library/nginx:1.27" --restart=Never >/dev/null
  [ "$counted" -eq 0 ]
  counted "a static pod's API copy" k -n calls apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: static-web
  annotations: {kubernetes.io/config.mirror: "0f1d7a4c", kubernetes.io/config.source: file}
spec:
  nodeName: node-a
  containers: [{name: web, image: nginx:1.27}]
EOF
  [ "$counted" -eq 0 ]
  run k -n calls get pod static-web -o jsonpath='{.spec.containers[0].image}'
  [ "$output" = "nginx:1.27" ]
}

@test "an opted-out Pod is not sent; one image off the mirror among init and ephemeral containers is" {
  counted "an opted-out Pod" \
    k -n calls run opted-out --image=nginx:1.27 --restart=Never --labels=pullthrough.dev/rewrite=false >/dev/null
  [ "$counted" -eq 0 ]
  counted "a Pod with one init container off the mirror" k -n calls apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: mixed}
spec:
  initContainers: [{name: init, image: busybox:1.36}]
  containers: [{name: web, image: $MIRROR/library/nginx:1.27}]
EOF
  [ "$counted" -eq 1 ]
  run k -n calls get pod mixed -o jsonpath='{.spec.initContainers[0].image}'
  [ "$output" = "$MIRROR/library/busybox:1.36" ]
  counted "kubectl debug adding an ephemeral container" \
    k -n calls debug mixed --image=busybox:1.36 --container=debugger -- true >/dev/null
  [ "$counted" -eq 1 ]
  run k -n calls get pod mixed -o jsonpath='{.spec.ephemeralContainers[0].image}'
  [ "$output" = "$MIRROR/library/busybox:1.36" ]
}

#!/usr/bin/env bats
# The admission round trip for every kind the policy handles: what the API server stores through
# the webhook is the submitted object with exactly the expected images and the originals
# annotation. The control is the same manifest stored in kube-system, which the webhook never sees.

load helpers

OBJECTS="$BATS_TEST_DIRNAME/objects"
DIGEST="sha256:0b3c2f1e7a5d4c6b8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901"
WEB="nginx:1.27=$MIRROR/library/nginx:1.27"
METRICS="prom/node-exporter:v1.8.2=$MIRROR/prom/node-exporter:v1.8.2"
TEMPLATE_ORIGINALS='{"metrics":"prom/node-exporter:v1.8.2","web":"nginx:1.27"}'

setup_file() {
  ensure_webhook
  new_namespace rt
}

# round_trip KIND ANNOTATION PAIRS...: creates objects/KIND.yaml in kube-system and in rt and
# compares what was stored.
round_trip() {
  local kind="$1"
  shift
  k -n kube-system create -f "$OBJECTS/$kind.yaml" -o json >"$BATS_TEST_TMPDIR/control.json"
  k -n rt create -f "$OBJECTS/$kind.yaml" -o json >"$BATS_TEST_TMPDIR/stored.json"
  python3 "$BATS_TEST_DIRNAME/compare.py" "$BATS_TEST_TMPDIR/control.json" "$BATS_TEST_TMPDIR/stored.json" "$@"
  # And read back: what a later GET returns is what was admitted.
  k -n rt get "$(jq -r '.kind + "/" + .metadata.name' "$BATS_TEST_TMPDIR/stored.json")" -o json >"$BATS_TEST_TMPDIR/read.json"
  [ "$(jq -c '[.. | objects | select(has("image")) | .image]' "$BATS_TEST_TMPDIR/read.json")" = \
    "$(jq -c '[.. | objects | select(has("image")) | .image]' "$BATS_TEST_TMPDIR/stored.json")" ]
}

@test "Pod: init and app containers, tag and digest; a ghcr.io image stays as written" {
  # The default flat layout is Docker Hub's alone: ghcr.io/example/tools:1 is stored as
  # submitted (compare.py holds every image without a pair to the control's).
  round_trip pod \
    "{\"app\":\"example/app@$DIGEST\",\"init\":\"busybox:1.36\",\"web\":\"nginx:1.27\"}" \
    "busybox:1.36=$MIRROR/library/busybox:1.36" "$WEB" \
    "example/app@$DIGEST=$MIRROR/example/app@$DIGEST"
  [ "$(jq -r '.spec.containers[2].image' "$BATS_TEST_TMPDIR/stored.json")" = ghcr.io/example/tools:1 ]
}

@test "Deployment" {
  round_trip deployment "$TEMPLATE_ORIGINALS" "$WEB" "$METRICS"
}

@test "ReplicaSet" {
  round_trip replicaset "$TEMPLATE_ORIGINALS" "$WEB" "$METRICS"
}

@test "StatefulSet" {
  round_trip statefulset "$TEMPLATE_ORIGINALS" "$WEB" "$METRICS"
}

@test "DaemonSet" {
  round_trip daemonset "$TEMPLATE_ORIGINALS" "$WEB" "$METRICS"
}

@test "Job" {
  round_trip job "$TEMPLATE_ORIGINALS" "$WEB" "$METRICS"
}

@test "CronJob" {
  round_trip cronjob "$TEMPLATE_ORIGINALS" "$WEB" "$METRICS"
}

@test "ReplicationController" {
  round_trip replicationcontroller "$TEMPLATE_ORIGINALS" "$WEB" "$METRICS"
}

@test "an ephemeral container added through pods/ephemeralcontainers (kubectl debug)" {
  k -n rt get pod rt-pod >/dev/null
  k -n rt debug rt-pod --image=busybox:1.36 -c debugger --profile=general >/dev/null 2>&1
  run k -n rt get pod rt-pod -o jsonpath='{.spec.ephemeralContainers[0].image}'
  [ "$output" = "$MIRROR/library/busybox:1.36" ]
  # The other containers are as the create left them.
  run k -n rt get pod rt-pod -o jsonpath='{.spec.containers[*].image}'
  [ "$output" = "$MIRROR/library/nginx:1.27 $MIRROR/example/app@$DIGEST ghcr.io/example/tools:1" ]
  # The subresource changes only spec.ephemeralContainers (the API server keeps the Pod's
  # metadata), so the policy records no original for it: the annotation is as the create left it.
  originals="$(k -n rt get pod rt-pod -o jsonpath='{.metadata.annotations.pullthrough\.dev/original-images}')"
  [ "$(jq -c . <<<"$originals")" = \
    "{\"app\":\"example/app@$DIGEST\",\"init\":\"busybox:1.36\",\"web\":\"nginx:1.27\"}" ]
  grep -q 'kind=Pod namespace=rt name=rt-pod operation=UPDATE outcome=mutated images_rewritten=1' "$CLUSTER_DIR/logs/replica-a.log"
}

@test "an opted-out object is stored as submitted" {
  k -n kube-system run opted-out --image=nginx:1.27 --restart=Never -l pullthrough.dev/rewrite=false -o json >"$BATS_TEST_TMPDIR/control.json"
  k -n rt run opted-out --image=nginx:1.27 --restart=Never -l pullthrough.dev/rewrite=false -o json >"$BATS_TEST_TMPDIR/stored.json"
  python3 "$BATS_TEST_DIRNAME/compare.py" "$BATS_TEST_TMPDIR/control.json" "$BATS_TEST_TMPDIR/stored.json" -
}

@test "an image already on the mirror is stored as submitted" {
  k -n kube-system run on-mirror --image="$MIRROR/library/nginx:1.27" --restart=Never -o json >"$BATS_TEST_TMPDIR/control.json"
  k -n rt run on-mirror --image="$MIRROR/library/nginx:1.27" --restart=Never -o json >"$BATS_TEST_TMPDIR/stored.json"
  python3 "$BATS_TEST_DIRNAME/compare.py" "$BATS_TEST_TMPDIR/control.json" "$BATS_TEST_TMPDIR/stored.json" -
}

@test "kubectl apply --dry-run=server shows the rewrite and stores nothing" {
  sed 's/name: rt-deployment$/name: dry-run/' "$OBJECTS/deployment.yaml" >"$BATS_TEST_TMPDIR/dry.yaml"
  run k -n rt apply --dry-run=server -f "$BATS_TEST_TMPDIR/dry.yaml" -o jsonpath='{.spec.template.spec.containers[*].image}'
  [ "$status" -eq 0 ]
  [ "$output" = "$MIRROR/library/nginx:1.27 $MIRROR/prom/node-exporter:v1.8.2" ]
  run k -n rt get deployment dry-run
  [[ "$output" == *NotFound* ]]
}

@test "kubectl set image on one container of a running Deployment changes only that container" {
  k -n rt get deployment rt-deployment -o json >"$BATS_TEST_TMPDIR/before.json"
  k -n rt set image deployment/rt-deployment metrics=prom/node-exporter:v1.9.0 >/dev/null
  k -n rt get deployment rt-deployment -o json >"$BATS_TEST_TMPDIR/after.json"
  # The template differs in that one image and nothing else.
  jq '.spec.template | .spec.containers[1].image = "X"' "$BATS_TEST_TMPDIR/before.json" >"$BATS_TEST_TMPDIR/b"
  jq '.spec.template | .spec.containers[1].image = "X"' "$BATS_TEST_TMPDIR/after.json" >"$BATS_TEST_TMPDIR/a"
  diff "$BATS_TEST_TMPDIR/b" "$BATS_TEST_TMPDIR/a"
  run jq -r '.spec.template.spec.containers[1].image' "$BATS_TEST_TMPDIR/after.json"
  [ "$output" = "$MIRROR/prom/node-exporter:v1.9.0" ]
  run jq -r '.metadata.annotations["pullthrough.dev/original-images"] | fromjson | .metrics' "$BATS_TEST_TMPDIR/after.json"
  [ "$output" = "prom/node-exporter:v1.9.0" ]
}

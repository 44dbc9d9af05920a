#!/usr/bin/env bats
# `pullthrough scan` against the real API server: workloads created while no webhook was
# registered are found; `--apply` patches each owner of a pod template once (one new rollout);
# a patch never overwrites a change made after the scan; a second scan finds nothing to patch.

bats_require_minimum_version 1.5.0
load helpers

OBJECTS="$BATS_TEST_DIRNAME/objects"
NS=heal

setup_file() {
  # What `failurePolicy: Ignore` lets through while the webhook is down: no webhook at all.
  stop_replica a
  stop_replica b
  "$PULLTHROUGH" unregister >/dev/null
  new_namespace "$NS"
  for kind in deployment statefulset daemonset replicaset replicationcontroller cronjob job pod; do
    k -n "$NS" create -f "$OBJECTS/$kind.yaml" >/dev/null
  done
  # Let the controllers make what they make: the Deployment's ReplicaSet and Pod, the Pods of
  # the ReplicaSet, ReplicationController, StatefulSet and Job (no node, so no DaemonSet Pod).
  wait_for 60 "the controllers' Pods" bash -c \
    "[[ \$('$KUBE_BIN/kubectl' -n $NS get pods -o name | wc -l) -eq 6 ]]"
}

scan() { "$PULLTHROUGH" scan --mirror "$MIRROR" --only-namespaces "$NS" "$@"; }

# generations: KIND/NAME generation for every object --apply patches (the owners: not the
# Deployment's ReplicaSets, which its rollout makes and scales), one per line.
generations() {
  k -n "$NS" get deployments,statefulsets,daemonsets,replicasets,replicationcontrollers,cronjobs -o json |
    jq -r '.items[] | select(.metadata.ownerReferences == null) | "\(.kind)/\(.metadata.name) \(.metadata.generation)"' | sort
}

@test "scan finds every workload created while the webhook was down, once, at its owner" {
  run --separate-stderr scan
  [ "$status" -eq 0 ]
  [ "$stderr" = "" ]
  # The table is the one for the manifests alone; the cluster adds what the controllers made.
  diff <(echo "$output") - <<'EOF'
NAMESPACE  KIND                   NAME                      CONTAINER  IMAGE                                                                                                                                                                                                  ACTION
heal       Deployment             rt-deployment             web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            patch
heal       Deployment             rt-deployment             metrics    prom/node-exporter:v1.8.2 → registry-mirror.example.com/prom/node-exporter:v1.8.2                                                                                                                      patch
heal       StatefulSet            rt-statefulset            web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            patch
heal       StatefulSet            rt-statefulset            metrics    prom/node-exporter:v1.8.2 → registry-mirror.example.com/prom/node-exporter:v1.8.2                                                                                                                      patch
heal       DaemonSet              rt-daemonset              web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            patch
heal       DaemonSet              rt-daemonset              metrics    prom/node-exporter:v1.8.2 → registry-mirror.example.com/prom/node-exporter:v1.8.2                                                                                                                      patch
heal       ReplicaSet             rt-replicaset             web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            patch
heal       ReplicaSet             rt-replicaset             metrics    prom/node-exporter:v1.8.2 → registry-mirror.example.com/prom/node-exporter:v1.8.2                                                                                                                      patch
heal       ReplicationController  rt-replicationcontroller  web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            patch
heal       ReplicationController  rt-replicationcontroller  metrics    prom/node-exporter:v1.8.2 → registry-mirror.example.com/prom/node-exporter:v1.8.2                                                                                                                      patch
heal       CronJob                rt-cronjob                web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            patch
heal       CronJob                rt-cronjob                metrics    prom/node-exporter:v1.8.2 → registry-mirror.example.com/prom/node-exporter:v1.8.2                                                                                                                      patch
heal       Job                    rt-job                    web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            report (bare Job: --patch-jobs)
heal       Job                    rt-job                    metrics    prom/node-exporter:v1.8.2 → registry-mirror.example.com/prom/node-exporter:v1.8.2                                                                                                                      report (bare Job: --patch-jobs)
heal       Pod                    rt-pod                    web        nginx:1.27 → registry-mirror.example.com/library/nginx:1.27                                                                                                                                            report (bare Pod: --patch-pods)
heal       Pod                    rt-pod                    app        example/app@sha256:0b3c2f1e7a5d4c6b8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901 → registry-mirror.example.com/example/app@sha256:0b3c2f1e7a5d4c6b8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901  report (bare Pod: --patch-pods)
heal       Pod                    rt-pod                    init       busybox:1.36 → registry-mirror.example.com/library/busybox:1.36                                                                                                                                        report (bare Pod: --patch-pods)

17 images would change in 8 objects: 6 to patch, 2 reported only.
Objects they control that change with them: 1 ReplicaSet and 5 Pods.
Scanned 14 objects (1 Deployment, 1 StatefulSet, 1 DaemonSet, 2 ReplicaSets, 1 ReplicationController, 1 CronJob, 1 Job, 6 Pods).
EOF
}

# The raced ReplicaSet of the test below goes whether that test passes or not: the counts of the
# tests after it must be their own.
teardown() {
  if [[ "$BATS_TEST_DESCRIPTION" == "the patch --apply sends fails"* ]]; then
    k -n "$NS" delete replicaset raced --ignore-not-found --wait=false >/dev/null
  fi
}

@test "the patch --apply sends fails on the API server when the object changed since the scan" {
  scan -o json >"$BATS_TEST_TMPDIR/plan.json"
  jq -c '.findings[] | select(.kind == "ReplicaSet") | .patch' "$BATS_TEST_TMPDIR/plan.json" >"$BATS_TEST_TMPDIR/patch.json"
  # Its guards: the annotation it adds is absent, each image and container name as scanned.
  [ "$(jq -c '[.[] | select(.op == "test") | .path]' "$BATS_TEST_TMPDIR/patch.json")" = \
    '["/metadata/annotations","/spec/template/spec/containers/0/image","/spec/template/spec/containers/0/name","/spec/template/spec/containers/1/image","/spec/template/spec/containers/1/name"]' ]
  # Someone changes the image after the scan: the scan's patch must not overwrite it.
  k -n "$NS" create -f - -o name >/dev/null <<EOF
$(sed 's/rt-replicaset/raced/g' "$OBJECTS/replicaset.yaml")
EOF
  scan -o json | jq -c '.findings[] | select(.name == "raced") | .patch' >"$BATS_TEST_TMPDIR/raced.json"
  k -n "$NS" set image replicaset/raced web=nginx:1.28 >/dev/null
  run k -n "$NS" patch replicaset raced --type json --patch-file "$BATS_TEST_TMPDIR/raced.json"
  [ "$status" -ne 0 ]
  echo "the API server's answer: $output" >&3
  # A failed `test` is a 422 with a generic message; the patch library's words are only in the
  # status's causes, which kubectl does not print (scan reads them: host/src/k8s/scan.rs).
  [[ "$output" == *"The request is invalid"* ]]
  [ "$(k -n "$NS" get replicaset raced -o jsonpath='{.spec.template.spec.containers[0].image}')" = nginx:1.28 ]
}

@test "--apply patches each owner once: one new rollout each, Pods and Jobs only reported" {
  # The raced ReplicaSet of the test before and its Pod are gone, so the counts are this test's.
  wait_for 30 "the raced ReplicaSet and its Pod to go" bash -c \
    "[[ -z \$('$KUBE_BIN/kubectl' -n $NS get replicasets,pods -l app=raced -o name) ]]"
  generations >"$BATS_TEST_TMPDIR/before"
  [ "$(cut -d' ' -f2 "$BATS_TEST_TMPDIR/before" | sort -u)" = 1 ]
  revisions_before="$(k -n "$NS" get controllerrevisions -o name | wc -l)"
  start=$(date +%s%N)
  run --separate-stderr scan --apply --patches-per-second 4
  ms=$((($(date +%s%N) - start) / 1000000))
  [ "$status" -eq 0 ]
  echo "6 patches at 4 per second took $ms ms" >&3
  # The fifth interval starts 1.25 s after the first patch.
  ((ms >= 1250))
  grep -Eq "^heal +Deployment +rt-deployment +web +nginx:1.27 → $MIRROR/library/nginx:1.27 +patched$" <<<"$output"
  [ "$(grep -c ' patched$' <<<"$output")" -eq 12 ]
  [ "$(grep -c 'report (bare' <<<"$output")" -eq 5 ]
  [[ "$output" == *$'\nPatched 6 of 6.\n'* ]]
  # Exactly one new generation each, and it holds: no controller fights the patch.
  sleep 5
  generations >"$BATS_TEST_TMPDIR/after"
  [ "$(cut -d' ' -f2 "$BATS_TEST_TMPDIR/after" | sort -u)" = 2 ] || { paste "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"; false; }
  [ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/after")" = "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/before")" ]
  # The Deployment made exactly one new ReplicaSet, on the mirror; the StatefulSet and the
  # DaemonSet each one new ControllerRevision.
  run k -n "$NS" get replicasets -l app=rt-deployment -o jsonpath='{range .items[*]}{.spec.template.spec.containers[*].image}{"\n"}{end}'
  [ "$(sort <<<"$output")" = "$(printf '%s\n' "$MIRROR/library/nginx:1.27 $MIRROR/prom/node-exporter:v1.8.2" "nginx:1.27 prom/node-exporter:v1.8.2" | sort)" ]
  [ "$(k -n "$NS" get deployment rt-deployment -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = 2 ]
  [ "$(k -n "$NS" get controllerrevisions -o name | wc -l)" -eq $((revisions_before + 2)) ]
  # What the webhook would have written: the mirror images and the originals annotation.
  for object in deployment/rt-deployment statefulset/rt-statefulset daemonset/rt-daemonset \
    replicaset/rt-replicaset replicationcontroller/rt-replicationcontroller; do
    [ "$(k -n "$NS" get "$object" -o jsonpath='{.spec.template.spec.containers[*].image}')" = \
      "$MIRROR/library/nginx:1.27 $MIRROR/prom/node-exporter:v1.8.2" ]
    [ "$(k -n "$NS" get "$object" -o jsonpath='{.metadata.annotations.pullthrough\.dev/original-images}')" = \
      '{"metrics":"prom/node-exporter:v1.8.2","web":"nginx:1.27"}' ]
  done
  [ "$(k -n "$NS" get cronjob rt-cronjob -o jsonpath='{.spec.jobTemplate.spec.template.spec.containers[*].image}')" = \
    "$MIRROR/library/nginx:1.27 $MIRROR/prom/node-exporter:v1.8.2" ]
  # Reported, not patched.
  [ "$(k -n "$NS" get pod rt-pod -o jsonpath='{.spec.containers[0].image}')" = nginx:1.27 ]
  [ "$(k -n "$NS" get job rt-job -o jsonpath='{.spec.template.spec.containers[0].image}')" = nginx:1.27 ]
  # Recorded under the scan's own field manager.
  k -n "$NS" get deployment rt-deployment -o jsonpath='{.metadata.managedFields[*].manager}' | grep -qw pullthrough-scan
}

@test "a second scan finds nothing to patch and changes nothing" {
  generations >"$BATS_TEST_TMPDIR/before"
  run --separate-stderr scan --apply --exit-code
  # The bare Pod and Job are still there, reported: --exit-code says so.
  [ "$status" -eq 3 ]
  [ "$(grep -c ' patched$' <<<"$output")" -eq 0 ]
  [[ "$output" == *$'\n5 images would change in 2 objects: 0 to patch, 2 reported only.\n'* ]]
  [ "$(generations)" = "$(cat "$BATS_TEST_TMPDIR/before")" ]
}

@test "--patch-pods patches a bare Pod in place; a Job's template is refused by the API server" {
  run --separate-stderr scan --apply --patch-pods --patch-jobs
  [ "$status" -eq 1 ]
  grep -Eq "^heal +Pod +rt-pod +web +nginx:1.27 → $MIRROR/library/nginx:1.27 +patched$" <<<"$output"
  grep -Eq "^heal +Job +rt-job +web +nginx:1.27 → $MIRROR/library/nginx:1.27 +not patched: refused \(see below\)$" <<<"$output"
  [[ "$output" == *$'\nPatched 1 of 2.\n  heal/Job/rt-job: '*"field is immutable"* ]]
  [[ "$stderr" == *"Error: 1 of 2 patches were not applied (listed above); scan again to retry"* ]]
  [ "$(k -n "$NS" get pod rt-pod -o jsonpath='{.spec.initContainers[0].image} {.spec.containers[*].image}')" = \
    "$MIRROR/library/busybox:1.36 $MIRROR/library/nginx:1.27 $MIRROR/example/app@sha256:0b3c2f1e7a5d4c6b8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901 ghcr.io/example/tools:1" ]
  k -n "$NS" delete job rt-job --wait=false >/dev/null
  # Its Pod goes with it (the garbage collector's work): until then it would be an orphan.
  wait_for 30 "the Job and its Pod to go" bash -c \
    "[[ -z \$('$KUBE_BIN/kubectl' -n $NS get jobs,pods -l job-name=rt-job -o name) ]] && ! '$KUBE_BIN/kubectl' -n $NS get job rt-job >/dev/null 2>&1"
  run --separate-stderr scan --exit-code -o json
  [ "$status" -eq 0 ]
  [ "$(jq -c .findings <<<"$output")" = "[]" ]
}

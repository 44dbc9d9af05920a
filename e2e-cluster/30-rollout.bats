#!/usr/bin/env bats
# The claim the project rests on: with kube-controller-manager running, a Deployment whose image
# is rewritten at admission rolls out once.

load helpers

setup_file() {
  ensure_webhook
  new_namespace rollout
}

@test "a rewritten Deployment makes exactly one ReplicaSet, its Pods use the mirror, revision stays 1" {
  k -n rollout create deployment web --image=nginx:1.27 --replicas=2 >/dev/null
  wait_for 30 "the Deployment's Pods" bash -c \
    "[[ \$('$KUBE_BIN/kubectl' -n rollout get pods -l app=web -o name | wc -l) -eq 2 ]]"
  # Give the controllers time to act on any difference between template and ReplicaSet.
  sleep 5
  run k -n rollout get replicasets -o jsonpath='{range .items[*]}{.metadata.name} {.spec.template.spec.containers[0].image}{"\n"}{end}'
  [ "$(wc -l <<<"$output")" -eq 1 ]
  [[ "$output" == "web-"*" $MIRROR/library/nginx:1.27" ]]
  run k -n rollout get pods -l app=web -o jsonpath='{.items[*].spec.containers[0].image}'
  [ "$output" = "$MIRROR/library/nginx:1.27 $MIRROR/library/nginx:1.27" ]
  run k -n rollout get deployment web -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.generation} {.status.observedGeneration}'
  [ "$output" = "1 1 1" ]
}

@test "re-applying the original manifest under GitOps keeps the one ReplicaSet" {
  # What a GitOps tool does: apply the manifest as written in the repository, again.
  cat >"$BATS_TEST_TMPDIR/app.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: gitops, namespace: rollout}
spec:
  replicas: 1
  selector: {matchLabels: {app: gitops}}
  template:
    metadata: {labels: {app: gitops}}
    spec:
      containers: [{name: app, image: nginx:1.27}]
EOF
  k apply --server-side --field-manager gitops -f "$BATS_TEST_TMPDIR/app.yaml" >/dev/null
  wait_for 30 "the first ReplicaSet" bash -c \
    "[[ \$('$KUBE_BIN/kubectl' -n rollout get rs -l app=gitops -o name | wc -l) -eq 1 ]]"
  for _ in 1 2 3; do
    k apply --server-side --field-manager gitops -f "$BATS_TEST_TMPDIR/app.yaml" >/dev/null
  done
  sleep 3
  run k -n rollout get rs -l app=gitops -o name
  [ "$(wc -l <<<"$output")" -eq 1 ]
  run k -n rollout get deployment gitops -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.generation} {.spec.template.spec.containers[0].image}'
  [ "$output" = "1 1 $MIRROR/library/nginx:1.27" ]
}

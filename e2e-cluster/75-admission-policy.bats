#!/usr/bin/env bats
# The MutatingAdmissionPolicy `pullthrough manifests --admission-policy` generates, run by the real
# API server with no webhook at all. admission_policy_diff.py sends every reference of the
# policy's reference tables and every admission fixture through a server-side dry-run with the
# policy installed and compares what would be stored with what policy.wasm (`pullthrough run`)
# makes of the same request with the same settings: flat and prefixed with variants (pull
# secrets, opt-outs, static pods, recorded originals), and every other settings of the rewrite
# table (rules, exclude, mirror paths, registries sharing a namespace). Then the issue's one-line
# install, kube-system with the selector gone, and the CEL cost of a large Pod.

load helpers

NS=policy-diff
RECORDS="$CLUSTER_DIR/helper/records"
TABLE="$REPO/fixtures/references/rewrite-table.json"
DEFAULTS='{"mirror": "m.example.com"}'
PULL_SECRETS='{"mirror": "m.example.com", "layout": "prefixed", "imagePullSecrets": ["mirror-creds"], "keepImagesWithPullSecrets": true}'

setup_file() {
  # No webhook may rewrite here: every change must be the policy's. The suites after this one
  # get theirs back from ensure_webhook, which starts replica a and so registers it again.
  if replica_running a; then
    touch "$BATS_FILE_TMPDIR/restart-replica"
  fi
  stop_replica a
  stop_replica b
  k delete mutatingwebhookconfiguration pullthrough --ignore-not-found >/dev/null
  start_helper_webhook
  k get namespace "$NS" >/dev/null 2>&1 || new_namespace "$NS"
  # Called after the policy (the API server runs admission policies before webhooks): what a
  # request validation refuses is still seen as the policy left it.
  register_helper zz-record-policy /record "$NS" \
    '[{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, pods/ephemeralcontainers, replicationcontrollers], scope: Namespaced},
      {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, replicasets, statefulsets, daemonsets], scope: Namespaced},
      {apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [jobs, cronjobs], scope: Namespaced}]'
  diff_driver prepare "$NS"
}

teardown_file() {
  k delete mutatingadmissionpolicy,mutatingadmissionpolicybinding pullthrough --ignore-not-found >/dev/null
  k delete mutatingwebhookconfiguration zz-record-policy --ignore-not-found >/dev/null
  if [[ -f "$BATS_FILE_TMPDIR/restart-replica" ]]; then
    start_replica a "${REPLICA_IPS[0]}"
  fi
}

diff_driver() {
  KUBE_BIN="$KUBE_BIN" CLUSTER_DIR="$CLUSTER_DIR" APISERVER="$APISERVER" PULLTHROUGH="$PULLTHROUGH" \
    REPO="$REPO" RECORDS="$RECORDS" python3 "$BATS_TEST_DIRNAME/admission_policy_diff.py" "$@"
}

# compare CONFIG SETTINGS [--variants]: the driver's lines on fd 3; fails on an unlisted or a
# stale difference, and unless the API server stored the most requests itself.
compare() {
  run diff_driver compare "$NS" "$@"
  echo "$output" >&3
  [ "$status" -eq 0 ]
  summary="$(tail -n1 <<<"$output")"
  [ "$(jq '.seen.stored' <<<"$summary")" -gt "$(jq '.requests / 2 | floor' <<<"$summary")" ]
}

@test "flat (the defaults): every reference and fixture is stored as policy.wasm leaves it" {
  compare flat "$DEFAULTS" --variants
}

@test "prefixed: every reference and fixture is stored as policy.wasm leaves it" {
  compare prefixed '{"mirror": "m.example.com", "layout": "prefixed"}' --variants
}

@test "pull secrets added, and a pod spec with its own kept, as policy.wasm does" {
  compare pull-secrets "$PULL_SECRETS" --variants
}

@test "every other settings of the rewrite table: rules, exclude, paths, shared namespaces" {
  for config in $(jq -r '.settings | keys[] | select(. != "flat" and . != "prefixed")' "$TABLE"); do
    compare "$config" "$(jq -c --arg c "$config" '.settings[$c]' "$TABLE")"
  done
}

@test "the comparison fails on a policy that rewrites otherwise than policy.wasm" {
  run diff_driver compare "$NS" wrong "$DEFAULTS" --wasm-settings '{"mirror": "m.example.com", "exclude": ["docker.io/library/nginx:*"]}'
  echo "$output" >&3
  [ "$status" -eq 1 ]
  # The API server's own capture of `kubectl run web --image=nginx:1.27`, rewritten by the
  # policy, left alone by policy.wasm with nginx excluded.
  grep '"case": "pod-create as-is"' <<<"$output" | jq -e '.listed == null
    and .["admission policy"].images == {"containers/web": "m.example.com/library/nginx:1.27"}
    and .["policy.wasm"].images == {"containers/web": "nginx:1.27"}'
}

# image_in NAMESPACE IMAGE: what a server-side dry-run of `kubectl run x --image=IMAGE` stores.
image_in() {
  k -n "$1" run x --image="$2" --dry-run=server -o jsonpath='{.spec.containers[0].image}'
}

# stores NAMESPACE IMAGE STORED: whether IMAGE is stored as STORED there.
stores() { [ "$(image_in "$1" "$2")" = "$3" ]; }

@test "the issue's install: kubectl run x --image=nginx stores m.example.com/docker.io/library/nginx" {
  k delete mutatingadmissionpolicy,mutatingadmissionpolicybinding pullthrough --ignore-not-found >/dev/null
  "$PULLTHROUGH" manifests --admission-policy --settings-json '{"mirror": "m.example.com", "registries": ["*"], "layout": "prefixed"}' |
    k apply -f - >/dev/null
  wait_for 30 "the policy in force" stores "$NS" nginx m.example.com/docker.io/library/nginx
  run k -n "$NS" run x --image=nginx --dry-run=server -o jsonpath='{.metadata.annotations.pullthrough\.dev/original-images}'
  [ "$output" = '{"x":"nginx"}' ]
}

@test "with the namespaceSelector removed by hand, nothing is rewritten in kube-system" {
  k delete mutatingadmissionpolicy,mutatingadmissionpolicybinding pullthrough --ignore-not-found >/dev/null
  "$PULLTHROUGH" manifests --admission-policy --mirror m.example.com | k apply -f - >/dev/null
  k get namespace zot >/dev/null 2>&1 || new_namespace zot
  wait_for 30 "the policy in force" stores "$NS" nginx:1.27 m.example.com/library/nginx:1.27
  stores zot nginx:1.27 nginx:1.27
  k patch mutatingadmissionpolicy pullthrough --type=json \
    -p '[{"op":"remove","path":"/spec/matchConstraints/namespaceSelector"}]' >/dev/null
  # zot, a default exclusion, is rewritten now: the edited policy is in force.
  wait_for 30 "the edited policy in force" stores zot nginx:1.27 m.example.com/library/nginx:1.27
  stores kube-system nginx:1.27 nginx:1.27
}

@test "CEL cost: a Pod of 64 containers, 16 init and 16 ephemeral stays within the API server's limits" {
  build_tool tools/cel-cost "-s -w" .
  "$PULLTHROUGH" manifests --admission-policy --mirror m.example.com >"$BATS_TEST_TMPDIR/policy.yaml" 2>/dev/null
  run "$(tool_dir tools/cel-cost)/cel-cost" -policy "$BATS_TEST_TMPDIR/policy.yaml"
  echo "$output" >&3
  [ "$status" -eq 0 ]
  # Every image of the CREATE rewritten, the one changed image of the UPDATE; each well within
  # the limit of one expression, which is a tenth of the budget of the whole evaluation.
  jq -e -s '.[0].request == "CREATE" and .[0].imagesRewritten == 96
    and .[1].request == "UPDATE" and .[1].imagesRewritten == 1
    and all(.[]; .cost > 0 and .cost * 2 < .perCallLimit
                 and .matchConditionsCost > 0 and .matchConditionsCost * 100 < .perCallLimit)' <<<"$output"
  # The API server itself: the same Pod's CREATE with failurePolicy Fail reaches the recorder
  # with all 96 images rewritten (validation then refuses ephemeral containers on create).
  k delete mutatingadmissionpolicy,mutatingadmissionpolicybinding pullthrough --ignore-not-found >/dev/null
  "$PULLTHROUGH" manifests --admission-policy --mirror m.example.com --failure-policy fail 2>/dev/null | k apply -f - >/dev/null
  python3 - "$NS" >"$BATS_TEST_TMPDIR/large.json" <<'EOF'
import json, sys
def containers(prefix, n, start):
    return [{"name": f"{prefix}-{i:02}", "image": f"docker.io/example-organisation-{(start + i) % 8:02}/"
             f"service-component-{start + i:03}:v1.0.0@sha256:{start + i + 1:064x}"} for i in range(n)]
print(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "large", "namespace": sys.argv[1]},
                  "spec": {"initContainers": containers("init", 16, 0), "containers": containers("main", 64, 16),
                           "ephemeralContainers": containers("debug", 16, 80)}}))
EOF
  rewritten_large() {
    rm -f "$RECORDS"/*.json
    k create --dry-run=server -f "$BATS_TEST_TMPDIR/large.json" >"$BATS_TEST_TMPDIR/create.out" 2>&1 || true
    [ "$(jq '[.review.request.object.spec | (.initContainers, .containers, .ephemeralContainers)[]
      | select(.image | startswith("m.example.com/example-organisation-"))] | length' "$RECORDS"/*.json)" = 96 ]
  }
  wait_for 30 "the policy in force" rewritten_large
  cat "$BATS_TEST_TMPDIR/create.out"
  grep -q 'spec.ephemeralContainers: Forbidden: cannot be set on create' "$BATS_TEST_TMPDIR/create.out"
  [ "$(grep -ci cost "$BATS_TEST_TMPDIR/create.out")" -eq 0 ]
}

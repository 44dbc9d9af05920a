#!/usr/bin/env bats
# Every manifest pullthrough ships or prints, validated offline against the Kubernetes schemas.

load helpers

teardown() { stop_server; }

setup() {
  require_binary
  if ! command -v kubernetes-validate >/dev/null 2>&1; then
    # CI installs it (scripts/setup --test); only a developer machine may lack it.
    [[ -z "${CI:-}" ]] || { echo "kubernetes-validate is required in CI" >&2; return 1; }
    skip "kubernetes-validate is not installed (scripts/setup --test installs it)"
  fi
}

@test "pullthrough manifests validates against the Kubernetes schemas (strict)" {
  "$PULLTHROUGH" manifests --mirror registry-mirror.example.com >"$BATS_TEST_TMPDIR/install.yaml"
  run kubernetes-validate --strict "$BATS_TEST_TMPDIR/install.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  for kind in namespace serviceaccount clusterrole clusterrolebinding role rolebinding deployment service \
    poddisruptionbudget networkpolicy; do
    grep -q "passed for resource $kind/pullthrough" <<<"$output"
  done
}

@test "deploy/kustomize/base validates against the Kubernetes schemas (strict)" {
  run kubernetes-validate --strict "$REPO/deploy/kustomize/base/install.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(grep -c 'passed for resource' <<<"$output")" -eq 10 ]
}

@test "the webhook configuration register applies validates (strict)" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/certs" >/dev/null
  "$PULLTHROUGH" register --dry-run --ca-file "$BATS_TEST_TMPDIR/certs/ca.crt" \
    --only-namespaces team-a,team-b >"$BATS_TEST_TMPDIR/webhook.yaml"
  run kubernetes-validate --strict "$BATS_TEST_TMPDIR/webhook.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  grep -q "passed for resource mutatingwebhookconfiguration/pullthrough" <<<"$output"
}

@test "the validator rejects a broken Deployment (the check can fail)" {
  "$PULLTHROUGH" manifests --mirror m.example.com \
    | sed 's/containerPort: 8443/containerPort: not-a-port/' >"$BATS_TEST_TMPDIR/broken.yaml"
  run kubernetes-validate --strict "$BATS_TEST_TMPDIR/broken.yaml"
  [ "$status" -ne 0 ]
}

# The Deployment's container arguments, one per line.
serve_args_of() {
  python3 - "$1" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["kind"] == "Deployment":
        print("\n".join(doc["spec"]["template"]["spec"]["containers"][0]["args"]))
PY
}

@test "serve accepts every argument the install passes it, and adds the mirror's pull secrets" {
  export KUBECONFIG="$BATS_TEST_TMPDIR/no-such-kubeconfig" HOME="$BATS_TEST_TMPDIR"
  unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
  "$PULLTHROUGH" manifests --mirror registry-mirror.example.com --failure-policy fail \
    --mirror-pull-secret mirror-creds,mirror-creds-2 --exclude-namespaces team-infra \
    >"$BATS_TEST_TMPDIR/install.yaml"
  mapfile -t args < <(serve_args_of "$BATS_TEST_TMPDIR/install.yaml")
  [ "${args[0]}" = serve ]
  [[ " ${args[*]} " == *" --mirror-pull-secret mirror-creds --mirror-pull-secret mirror-creds-2 "* ]]
  # Every argument as the pod gets it, but listening on loopback only (start_server's addresses).
  local run=() i
  for ((i = 1; i < ${#args[@]}; i++)); do
    if [[ "${args[$i]}" == --metrics-addr ]]; then i=$((i + 1)); else run+=("${args[$i]}"); fi
  done
  start_server "${run[@]}" --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  # busybox: a Docker Hub image, which the default (flat) layout rewrites.
  out="$(post /mutate "$REPO/fixtures/admission/cronjob.json")"
  stop_server
  [ "$(tail -n1 <<<"$out")" = 200 ]
  sed '$d' <<<"$out" | decoded_patch | python3 -c '
import json, sys
ops = json.load(sys.stdin)
added = [op for op in ops if op["path"].endswith("/imagePullSecrets") or "/imagePullSecrets/" in op["path"]]
assert added, ops
names = [s["name"] for op in added for s in (op["value"] if isinstance(op["value"], list) else [op["value"]])]
assert names == ["mirror-creds", "mirror-creds-2"], names
assert any(op["path"].endswith("/image") and op["value"].startswith("registry-mirror.example.com/") for op in ops), ops
'
}

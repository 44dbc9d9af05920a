#!/usr/bin/env bats
# Every manifest pullthrough ships or prints, validated offline against the Kubernetes schemas.

load helpers

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

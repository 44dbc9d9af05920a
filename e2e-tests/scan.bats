#!/usr/bin/env bats
# `pullthrough scan -f`, offline: manifests (multi-document YAML, `kubectl get -A -o json`
# lists, directories, standard input) evaluated with the embedded policy; the exact table,
# summary and JSON; --exit-code for GitOps checks; bad input and flags refused with a message.
# (Against a real API server, with --apply: e2e-cluster/90-scan.bats.)

bats_require_minimum_version 1.5.0
load helpers

SCAN="$REPO/fixtures/scan"
MIRROR="registry-mirror.example.com"

setup() {
  require_binary
}

# stderr is compared exactly: scan logs at warn unless --log says otherwise, so the policy
# registry's start-up `info` lines (module, sha256), written for serve, stay out of it.
scan() { "$PULLTHROUGH" scan --mirror "$MIRROR" "$@"; }

@test "a GitOps repository's manifests: one row per image to change, warnings on stderr" {
  run --separate-stderr scan -f "$SCAN/workloads.yaml"
  [ "$status" -eq 0 ]
  diff -u "$BATS_TEST_DIRNAME/expected/scan-workloads.txt" <(printf '%s\n' "$output")
  [ "$stderr" = 'warning: shop/Job/seed: pullthrough: container "seed" left unchanged: not a valid image reference: invalid reference format: repository name (Seed) must be lowercase; image "Example/Seed:1"' ]
}

@test "a kubectl get -A -o json list: owned objects are reported once, at their owner" {
  run --separate-stderr scan -f "$SCAN/cluster-list.json"
  [ "$status" -eq 0 ]
  [ "$stderr" = "" ]
  diff -u "$BATS_TEST_DIRNAME/expected/scan-cluster-list.txt" <(printf '%s\n' "$output")
}

@test "-o json: every finding with its images, what it controls and the guarded patch" {
  run --separate-stderr scan -o json -f "$SCAN/cluster-list.json"
  [ "$status" -eq 0 ]
  python3 -c '
import json, sys
expected = json.load(open(sys.argv[1]))
actual = json.load(sys.stdin)
assert actual == expected, json.dumps(actual, indent=2)
' "$BATS_TEST_DIRNAME/expected/scan-cluster-list.json" <<<"$output"
}

@test "standard input and a directory read the same objects as the files" {
  run --separate-stderr scan -f - <"$SCAN/workloads.yaml"
  [ "$status" -eq 0 ]
  diff -u "$BATS_TEST_DIRNAME/expected/scan-workloads.txt" <(printf '%s\n' "$output")
  mkdir "$BATS_TEST_TMPDIR/repo"
  cp "$SCAN/workloads.yaml" "$SCAN/on-mirror.yaml" "$BATS_TEST_TMPDIR/repo/"
  echo "not a manifest" >"$BATS_TEST_TMPDIR/repo/README.md"
  run --separate-stderr scan -f "$BATS_TEST_TMPDIR/repo" -o json
  [ "$status" -eq 0 ]
  # on-mirror.yaml adds one Deployment with nothing to change; README.md is not read.
  [ "$(jq -c '[.scanned.Deployment, (.findings | length)]' <<<"$output")" = "[2,3]" ]
}

@test "--exit-code fails a check when something would change, passes when nothing would" {
  run --separate-stderr scan --exit-code -f "$SCAN/workloads.yaml"
  [ "$status" -eq 3 ]
  run --separate-stderr scan --exit-code -f "$SCAN/on-mirror.yaml"
  [ "$status" -eq 0 ]
  [ "$output" = $'Nothing would change.\nScanned 1 object (1 Deployment).' ]
  [ "$stderr" = "" ]
}

@test "only the namespaces asked for; kube-system and pullthrough's own never" {
  run --separate-stderr scan --only-namespaces ops -o json -f "$SCAN/cluster-list.json"
  [ "$status" -eq 0 ]
  [ "$(jq -c '[.findings[] | .namespace + "/" + .kind + "/" + .name]' <<<"$output")" = '["ops/ReplicaSet/legacy","ops/Pod/toolbox"]' ]
  [ "$(jq .excludedNamespaces <<<"$output")" = 9 ]
  run --separate-stderr scan --namespace ops -o json -f "$SCAN/cluster-list.json"
  [ "$(jq -c '[.findings[] | .namespace] | unique' <<<"$output")" = '["shop"]' ]
}

@test "a policies file: the first policy is the one the webhook's /mutate runs" {
  cat >"$BATS_TEST_TMPDIR/policies.yml" <<EOF
prefixed:
  module: $REPO/policy.wasm
  allowedToMutate: true
  settings: {mirror: cache.internal, layout: prefixed}
EOF
  run --separate-stderr "$PULLTHROUGH" scan --policies "$BATS_TEST_TMPDIR/policies.yml" -o json -f "$SCAN/workloads.yaml"
  [ "$status" -eq 0 ]
  [ "$(jq -r '.findings[] | select(.name == "web") | .images[] | select(.container == "web") | .to' <<<"$output")" = cache.internal/docker.io/library/nginx:1.27 ]
  run --separate-stderr "$PULLTHROUGH" scan --policies "$BATS_TEST_TMPDIR/policies.yml" --policy-name other -f "$SCAN/workloads.yaml"
  [ "$status" -eq 1 ]
  [ "$stderr" = 'Error: --policy-name "other" is not in the policies file, which has: prefixed' ]
}

@test "bad input and impossible flags are refused with what to fix" {
  printf 'kind: Pod\n---\nkind: [\n' >"$BATS_TEST_TMPDIR/bad.yaml"
  run --separate-stderr scan -f "$BATS_TEST_TMPDIR/bad.yaml"
  [ "$status" -eq 1 ]
  [[ "$stderr" == "Error: $BATS_TEST_TMPDIR/bad.yaml: document 2 is not valid YAML"$'\n\nCaused by:\n'* ]]
  run --separate-stderr scan -f "$BATS_TEST_TMPDIR/missing.yaml"
  [ "$status" -eq 1 ]
  [ "$stderr" = "$(printf 'Error: cannot read %s\n\nCaused by:\n    No such file or directory (os error 2)' "$BATS_TEST_TMPDIR/missing.yaml")" ]
  run --separate-stderr scan --apply -f "$SCAN/workloads.yaml"
  [ "$status" -eq 1 ]
  [ "$stderr" = "Error: --apply patches the cluster: it cannot be used with -f (files are only read)" ]
  run --separate-stderr scan --patches-per-second 0 -f "$SCAN/workloads.yaml"
  [ "$status" -eq 1 ]
  [ "$stderr" = "Error: --patches-per-second must be a positive number, got 0" ]
  run --separate-stderr "$PULLTHROUGH" scan -f "$SCAN/workloads.yaml"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"the following required arguments were not provided:"*"--mirror <MIRROR>"* ]]
}

@test "no progress line when standard error is not a terminal, one when it is" {
  run --separate-stderr scan -f "$SCAN/cluster-list.json"
  [ "$stderr" = "" ]
  # script(1) gives the scan a terminal; the line is rewritten in place and cleared at the end.
  run script -qec "$PULLTHROUGH scan --mirror $MIRROR -f $SCAN/cluster-list.json >/dev/null" /dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *$'\r\e[Kscan: evaluated '*$'\r\e[K'* ]]
}

@test "-f DIR reads its subdirectories, as kubectl -R does: --exit-code sees manifests in folders" {
  repo="$BATS_TEST_TMPDIR/gitops"
  mkdir -p "$repo/apps/shop" "$repo/.github/workflows"
  cp "$SCAN/workloads.yaml" "$repo/apps/shop/"
  cp "$SCAN/on-mirror.yaml" "$repo/"
  # Not a manifest, and hidden: skipped.
  printf 'on: push\njobs: {}\n' >"$repo/.github/workflows/ci.yml"
  run --separate-stderr scan --exit-code -o json -f "$repo"
  [ "$status" -eq 3 ]
  [ "$(jq -c '[.scanned.Deployment, (.findings | length)]' <<<"$output")" = "[2,3]" ]
}

@test "settings that share a mirror namespace: refused, or with allowSharedNamespace logged as a warning" {
  shared='"mirror":"registry-mirror.example.com","registries":["docker.io","ghcr.io"]'
  run --separate-stderr "$PULLTHROUGH" scan --settings-json "{$shared}" -f "$SCAN/workloads.yaml"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'settings.registries with layout flat rewrites docker.io and ghcr.io into the one mirror namespace "registry-mirror.example.com/": whoever owns a repository path on one registry could then supply the image of the same path on the other; use layout: prefixed'* ]]
  run --separate-stderr "$PULLTHROUGH" scan --settings-json "{$shared,\"allowSharedNamespace\":true}" -f "$SCAN/workloads.yaml"
  [ "$status" -eq 0 ]
  [[ "$stderr" == *'WARN'*'the policy accepted its settings with a warning'*'rewrites docker.io and ghcr.io into the one mirror namespace'* ]]
}

#!/usr/bin/env bats
# The real-cache suite with zot, the cache docs/caches.md configures: zot started with
# deploy/zot/config-flat.json and config-prefixed.json as shipped (only each sync entry's URL, the
# storage path and the listening address substituted), in front of Debian's docker-registry on
# 127.0.0.1 holding the images caches.bats pushes (an OCI manifest, a Docker v2 schema 2
# manifest, an OCI index, a Docker manifest list) and `library/app`. Every reference shape
# `pullthrough serve` writes, in both layouts and through a rule's target, is pulled through zot
# the way containerd pulls it and must resolve to the upstream's manifest digest. Then the same
# pulls through zot without `compat: ["docker2s2"]` and without `preserveDigest`, to show what
# each is for, and the mirror check against a zot that is stopped and started again.
#
# zot's Go module is not served by the module proxy this project builds from: the suite runs when
# ZOT_BIN names a zot binary with the sync extension, and skips saying so otherwise.

load helpers
# shellcheck source=../e2e-cluster/controlplane.bash
source "$REPO/e2e-cluster/controlplane.bash"
# shellcheck source=caches/registries.bash
source "$BATS_TEST_DIRNAME/caches/registries.bash"
# shellcheck source=caches/reviews.bash
source "$BATS_TEST_DIRNAME/caches/reviews.bash"

IMAGES=(oci-app docker-app multi multi-docker)
DOCKER_IMAGES=(docker-app multi-docker)
# Edits of the shipped configuration (start_zot's EDIT).
NO_COMPAT_EDIT='del c["http"]["compat"]'
NO_PRESERVE_EDIT='for r in c["extensions"]["sync"]["registries"]: r["preserveDigest"] = False'

setup_file() {
  [[ -n "${ZOT_BIN:-}" ]] || return 0
  require_zot
  require_binary
  require_upstream
  export REGISTRY_DIR="$BATS_FILE_TMPDIR/registries"
  local up
  up="$(free_port)"
  export UPSTREAM="127.0.0.1:$up" RULE_REGISTRY="localhost:$up"
  export FLAT="127.0.0.1:$(free_port)" PREFIXED="127.0.0.1:$(free_port)"
  export NO_COMPAT="127.0.0.1:$(free_port)" NO_PRESERVE="127.0.0.1:$(free_port)"
  start_upstream upstream "$UPSTREAM"
  push_test_images "$UPSTREAM"
  # What `nginx:1.27` is to a cluster: a short name, docker.io/library/app.
  skopeo copy --quiet --dest-tls-verify=false "oci:$REGISTRY_DIR/layout:app" "docker://$UPSTREAM/library/app:1"
  start_zot flat "$FLAT" "http://$UPSTREAM" config-flat.json
  start_zot prefixed "$PREFIXED" "http://$UPSTREAM" config-prefixed.json
  # zot refuses preserveDigest without compat (a test below), so the first drops both.
  start_zot no-compat "$NO_COMPAT" "http://$UPSTREAM" config-flat.json "$NO_COMPAT_EDIT"$'\n'"$NO_PRESERVE_EDIT"
  start_zot no-preserve "$NO_PRESERVE" "http://$UPSTREAM" config-flat.json "$NO_PRESERVE_EDIT"
}

teardown_file() {
  [[ -n "${ZOT_BIN:-}" ]] || return 0
  for name in no-preserve no-compat prefixed flat upstream; do
    stop_registry "$name"
  done
}

setup() { [[ -n "${ZOT_BIN:-}" ]] || skip "$ZOT_MISSING"; }

teardown() { stop_server; }

digest_of() { pull_digest "$UPSTREAM/$1:1"; }

# through_zot SETTINGS ORIGINAL EXPECTED UPSTREAM_REFERENCE...: `serve` with SETTINGS rewrites each
# ORIGINAL to exactly EXPECTED, and EXPECTED pulls through zot to the manifest digest the upstream
# serves for UPSTREAM_REFERENCE. Prints each pull to the terminal.
through_zot() {
  start_server --settings-json "$1" --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  shift
  local originals=() expected=() pairs=() images rewritten
  while (($#)); do
    originals+=("$1") expected+=("$2") pairs+=("$2" "$3")
    shift 3
  done
  images="$(rewrite "${originals[@]}")"
  mapfile -t rewritten <<<"$images"
  [ "${rewritten[*]}" = "${expected[*]}" ] || {
    paste <(printf '%s\n' "${rewritten[@]}") <(printf '%s\n' "${expected[@]}") | sed 's/^/got, want: /'
    return 1
  }
  # The rewrite equals EXPECTED (above), so each EXPECTED is what is pulled.
  resolve_alike "${pairs[@]}"
}

@test "flat layout: every reference shape serve writes resolves through zot (config-flat.json) to the upstream's manifest digest" {
  local triples=() digest
  for image in "${IMAGES[@]}"; do
    digest="$(digest_of "team/$image")"
    for shape in ":1" "@$digest" ":1@$digest"; do
      triples+=("docker.io/team/$image$shape" "$FLAT/team/$image$shape" "$UPSTREAM/team/$image$shape")
    done
  done
  digest="$(digest_of library/app)"
  triples+=("app:1" "$FLAT/library/app:1" "$UPSTREAM/library/app:1")
  triples+=("app@$digest" "$FLAT/library/app@$digest" "$UPSTREAM/library/app@$digest")
  # The flat namespace is Docker Hub's alone: config-flat.json syncs only docker.io, and the
  # policy's default registries for the flat layout are ["docker.io"].
  through_zot "{\"mirror\":\"$FLAT\"}" "${triples[@]}"
  ((${#triples[@]} == 14 * 3))
}

@test "prefixed layout and a rule's target: every shape resolves through zot (config-prefixed.json) to the upstream's manifest digest" {
  # A registry with a port cannot be a path component: a rule sends it to one of zot's
  # destinations (here /quay.io, whose upstream the test points at the same registry). quay.io
  # itself is then left out of `registries`: two sources in one directory are refused.
  local settings triples=() digest
  settings="$(printf '{"mirror":"%s","layout":"prefixed","registries":["docker.io","ghcr.io","gcr.io"],"rules":[{"registry":"%s","target":"%s/quay.io"}]}' \
    "$PREFIXED" "$RULE_REGISTRY" "$PREFIXED")"
  for image in "${IMAGES[@]}"; do
    digest="$(digest_of "team/$image")"
    for shape in ":1" "@$digest" ":1@$digest"; do
      for registry in docker.io ghcr.io gcr.io; do
        triples+=("$registry/team/$image$shape" "$PREFIXED/$registry/team/$image$shape" "$UPSTREAM/team/$image$shape")
      done
      triples+=("$RULE_REGISTRY/team/$image$shape" "$PREFIXED/quay.io/team/$image$shape" "$UPSTREAM/team/$image$shape")
    done
  done
  triples+=("app:1" "$PREFIXED/docker.io/library/app:1" "$UPSTREAM/library/app:1")
  through_zot "$settings" "${triples[@]}"
  ((${#triples[@]} == 49 * 3))
}

# pulled IMAGE SHAPE ZOT: pulls ZOT/team/IMAGE SHAPE, prints what it resolved to (or zot's refusal)
# on the terminal, and leaves pull.py's status and output in $status and $output.
pulled() {
  run pull_digest "$3/team/$1$2"
  local said="${output##*pull.py: }"
  [[ "$status" -ne 0 ]] || said="${said:0:19}"
  printf '%-60s %s\n' "$3/team/$1${2:0:20}" "${said%%: b\'\'}" >&3
}

# converted_by_tag IMAGE ZOT DIGEST: team/IMAGE:1 pulls through ZOT, to another digest than the
# upstream's DIGEST (zot converted it to OCI).
converted_by_tag() {
  pulled "$1" :1 "$2"
  [ "$status" -eq 0 ]
  [[ "$output" == sha256:* && "$output" != "$3" ]]
}

@test "zot refuses preserveDigest without compat docker2s2" {
  run start_zot refused "127.0.0.1:$(free_port)" "http://$UPSTREAM" config-flat.json "$NO_COMPAT_EDIT"
  [ "$status" -ne 0 ]
  [[ "$output" == *"can not use PreserveDigest option without enabling http.Compat"* ]] || {
    echo "$output"
    false
  }
}

@test "zot without compat docker2s2: Docker-format images convert to another digest and do not pull by theirs; OCI ones do" {
  local digest
  for image in "${DOCKER_IMAGES[@]}"; do
    digest="$(digest_of "team/$image")"
    converted_by_tag "$image" "$NO_COMPAT" "$digest"
    pulled "$image" "@$digest" "$NO_COMPAT"
    [ "$status" -ne 0 ]
    [[ "$output" == *"answered 404"* ]]
  done
  for image in oci-app multi; do
    digest="$(digest_of "team/$image")"
    pulled "$image" "@$digest" "$NO_COMPAT"
    [ "$status" -eq 0 ]
    [ "$output" = "$digest" ]
  done
}

@test "zot without preserveDigest: a Docker-format image pulled by tag gets another digest than upstream's" {
  local digest
  for image in "${DOCKER_IMAGES[@]}"; do
    digest="$(digest_of "team/$image")"
    converted_by_tag "$image" "$NO_PRESERVE" "$digest"
    # By its digest it still pulls (zot v2.1.20), as a different manifest than the tag's.
    pulled "$image" "@$digest" "$NO_PRESERVE"
    [ "$status" -eq 0 ]
    [ "$output" = "$digest" ]
  done
}

@test "a digest zot has synced once still pulls from it while the upstream is down" {
  outlives_upstream "$FLAT"
}

one_image() { [ "$(rewrite "docker.io/team/oci-app:1")" = "$1" ]; }

@test "serve admits unchanged while zot is stopped and rewrites again once it answers" {
  PULLTHROUGH_NO_MIRROR_CHECK=false start_server --settings-json "{\"mirror\":\"$FLAT\"}" \
    --write-ca "$BATS_TEST_TMPDIR/ca.crt" --mirror-check-url "http://$FLAT" \
    --mirror-check-interval-seconds 1 --mirror-check-failure-threshold 2
  one_image "$FLAT/team/oci-app:1"
  metric 'pullthrough_mirror_up{policy="pullthrough"} 1'
  stop_registry flat
  stopped=$SECONDS
  wait_until 20 "requests admitted unchanged" one_image docker.io/team/oci-app:1
  echo "admitted unchanged $((SECONDS - stopped)) s after zot stopped" >&3
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["response"]
assert r["warnings"] == ["pullthrough: mirror http://" + sys.argv[2] + " is not answering; images left unchanged"], r
' "$BATS_TEST_TMPDIR/response.json" "$FLAT"
  metric 'pullthrough_mirror_up{policy="pullthrough"} 0'
  start_zot flat "$FLAT" "http://$UPSTREAM" config-flat.json
  wait_until 20 "rewriting again" one_image "$FLAT/team/oci-app:1"
  metric 'pullthrough_mirror_transitions_total{policy="pullthrough"} 2'
  # What zot synced before it stopped is still on its disk.
  digest="$(digest_of team/oci-app)"
  [ "$(pull_digest "$FLAT/team/oci-app@$digest")" = "$digest" ]
}

@test "the zot configurations shipped in deploy/zot and shown in docs/caches.md pass zot verify" {
  python3 - "$REPO/docs/caches.md" "$BATS_TEST_TMPDIR" <<'PY'
import json, re, sys
blocks = re.findall(r"```json\n(.*?)```", open(sys.argv[1]).read(), re.S)
configs = [b for b in blocks if '"sync"' in b]
assert len(configs) >= 2, f"{len(configs)} zot configurations in docs/caches.md"
for i, block in enumerate(configs):
    json.loads(block)
    open(f"{sys.argv[2]}/caches.md-zot-{i + 1}.json", "w").write(block)
PY
  for config in "$REPO"/deploy/zot/*.json "$BATS_TEST_TMPDIR"/caches.md-zot-*.json; do
    run "$ZOT_BIN" verify "$config"
    [ "$status" -eq 0 ] || { echo "$config: $output"; false; }
    [[ "$output" == *'"config file is valid"'* ]]
    echo "zot verify: ${config##*/} is valid" >&3
  done
}

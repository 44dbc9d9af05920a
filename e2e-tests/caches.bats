#!/usr/bin/env bats
# The real-cache suite: Debian's docker-registry on 127.0.0.1 as the upstream, holding images the
# suite builds and pushes itself (an OCI manifest, a Docker v2 schema 2 manifest, an OCI index
# and a Docker manifest list), and the CNCF distribution registry in proxy mode as the
# pull-through cache in front of it (flat layout), plus a second one as a rule's target. Every
# reference shape `pullthrough serve` writes is pulled through the cache the way containerd pulls
# it, and must resolve to the upstream's manifest digest. Then the mirror check against the real
# cache: stopped, the server admits unchanged; started again, it rewrites again.
#
# zot, the cache docs/caches.md configures, has its own suite (zot.bats).

load helpers
# shellcheck source=../e2e-cluster/controlplane.bash
source "$REPO/e2e-cluster/controlplane.bash"
# shellcheck source=caches/registries.bash
source "$BATS_TEST_DIRNAME/caches/registries.bash"
# shellcheck source=caches/reviews.bash
source "$BATS_TEST_DIRNAME/caches/reviews.bash"

IMAGES=(oci-app docker-app multi multi-docker)

setup_file() {
  require_binary
  registry_build
  require_registries
  export REGISTRY_DIR="$BATS_FILE_TMPDIR/registries"
  local up cache rule
  up="$(free_port)" cache="$(free_port)" rule="$(free_port)"
  # A rule's registry: the same upstream under another name, cached by a second cache.
  export UPSTREAM="127.0.0.1:$up" RULE_UPSTREAM="localhost:$up"
  export CACHE="127.0.0.1:$cache" RULE_CACHE="127.0.0.1:$rule"
  start_upstream upstream "$UPSTREAM"
  push_test_images "$UPSTREAM"
  start_cache cache "$CACHE" "http://$UPSTREAM"
  start_cache rule-cache "$RULE_CACHE" "http://$RULE_UPSTREAM"
}

teardown_file() {
  stop_registry rule-cache
  stop_registry cache
  stop_registry upstream
}

teardown() { stop_server; }

settings() {
  printf '{"mirror":"%s","registries":["%s"],"rules":[{"registry":"%s","target":"%s"}]}' \
    "$CACHE" "$UPSTREAM" "$RULE_UPSTREAM" "$RULE_CACHE"
}

# serve_with_check ARGS...: the embedded policy on these registries, checking the real cache.
serve_with_check() {
  PULLTHROUGH_NO_MIRROR_CHECK=false start_server --settings-json "$(settings)" \
    --mirror-check-url "http://$CACHE" --write-ca "$BATS_TEST_TMPDIR/ca.crt" "$@"
}

@test "the upstream serves each test image in the format it was pushed" {
  local -A want=(
    [oci-app]=application/vnd.oci.image.manifest.v1+json
    [docker-app]=application/vnd.docker.distribution.manifest.v2+json
    [multi]=application/vnd.oci.image.index.v1+json
    [multi-docker]=application/vnd.docker.distribution.manifest.list.v2+json
  )
  for image in "${IMAGES[@]}"; do
    run python3 "$CACHES_DIR/pull.py" "$UPSTREAM/team/$image:1"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    media_type="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["mediaType"])' "$output")"
    [ "$media_type" = "${want[$image]}" ] || { echo "$image: $media_type"; false; }
  done
}

@test "every reference shape serve writes resolves through the cache to the upstream's manifest digest" {
  serve_with_check
  local originals=() expected=() digest
  for image in "${IMAGES[@]}"; do
    digest="$(pull_digest "$UPSTREAM/team/$image:1")"
    for shape in ":1" "@$digest" ":1@$digest"; do
      # The mirror (flat layout) and the rule's target.
      originals+=("$UPSTREAM/team/$image$shape" "$RULE_UPSTREAM/team/$image$shape")
      expected+=("$CACHE/team/$image$shape" "$RULE_CACHE/team/$image$shape")
    done
  done
  images="$(rewrite "${originals[@]}")"
  mapfile -t rewritten <<<"$images"
  [ "${rewritten[*]}" = "${expected[*]}" ] || { printf 'got  %s\n' "${rewritten[@]}"; false; }
  local pairs=()
  for i in "${!originals[@]}"; do pairs+=("${rewritten[$i]}" "${originals[$i]}"); done
  resolve_alike "${pairs[@]}"
  ((${#originals[@]} == 24))
}

@test "a digest the cache has pulled once still pulls from it while the upstream is down" {
  outlives_upstream "$CACHE"
}

# The rewritten image of the one-container review, and the response's warnings.
review_image() {
  post /mutate "$BATS_TEST_TMPDIR/one.json" | sed '$d' >"$BATS_TEST_TMPDIR/one-response.json"
  patched_images "$BATS_TEST_TMPDIR/one-response.json" "$BATS_TEST_TMPDIR/one.json"
}
rewritten_to_cache() { [ "$(review_image)" = "$CACHE/team/oci-app:1" ]; }
admitted_unchanged() { [ "$(review_image)" = "$UPSTREAM/team/oci-app:1" ]; }

@test "serve admits unchanged while the cache is stopped and rewrites again once it answers" {
  serve_with_check --mirror-check-interval-seconds 1 --mirror-check-failure-threshold 2
  pod_review "$BATS_TEST_TMPDIR/one.json" "$UPSTREAM/team/oci-app:1"
  rewritten_to_cache
  metric 'pullthrough_mirror_up{policy="pullthrough"} 1'
  stop_registry cache
  stopped=$SECONDS
  wait_until 20 "requests admitted unchanged" admitted_unchanged
  echo "admitted unchanged $((SECONDS - stopped)) s after the cache stopped" >&3
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["response"]
assert r["allowed"] and "patch" not in r, r
assert r["warnings"] == ["pullthrough: mirror http://" + sys.argv[2] + " is not answering; images left unchanged"], r
' "$BATS_TEST_TMPDIR/one-response.json" "$CACHE"
  metric 'pullthrough_mirror_up{policy="pullthrough"} 0'
  metric 'pullthrough_mirror_transitions_total{policy="pullthrough"} 1'
  start_cache cache "$CACHE" "http://$UPSTREAM"
  wait_until 20 "rewriting again" rewritten_to_cache
  metric 'pullthrough_mirror_transitions_total{policy="pullthrough"} 2'
  [ "$(grep -c 'mirror is not answering' "$BATS_TEST_TMPDIR/server.log")" -eq 1 ]
  [ "$(grep -c 'mirror answers again; rewriting resumes' "$BATS_TEST_TMPDIR/server.log")" -eq 1 ]
}

#!/usr/bin/env bats
# Policy modules from registries: the bundled policy pushed by oras (built from its Go module) to
# the CNCF distribution registry (built from its Go module), once over plain HTTP and once over
# HTTPS with htpasswd credentials, and served over HTTPS by a plain web server. `serve`, `run` and
# `scan` fetch it; `serve` keeps it in the store by digest, swaps when the tag moves (SIGHUP, the
# refresh interval), refuses to start with an error naming the module and the reason (missing
# tag, digest mismatch, wrong credentials, unknown CA, unreachable host), and keeps the running
# module when a later fetch fails.

bats_require_minimum_version 1.5.0

load helpers
load_tools
# shellcheck source=caches/registries.bash
source "$BATS_TEST_DIRNAME/caches/registries.bash"

MEDIA=application/vnd.wasm.content.layer.v1+wasm
MIRROR=mirror.example.com
USER_PASSWORD=puller:pullthrough-e2e

setup_file() {
  require_binary
  registry_build
  oras_build
  export REGISTRY_DIR="$BATS_FILE_TMPDIR/registries" CLUSTER_DIR="$BATS_FILE_TMPDIR"
  export PKI="$CLUSTER_DIR/pki" MODULES="$BATS_FILE_TMPDIR/modules"
  cp_ca
  issue server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
  export PLAIN="127.0.0.1:$(free_port)" SECURE="127.0.0.1:$(free_port)"
  run_registry plain "$PLAIN" "$REGISTRY_BIN" ""
  run_registry secure "$SECURE" "$REGISTRY_BIN" \
    "auth: {htpasswd: {realm: pullthrough-e2e, path: $BATS_TEST_DIRNAME/registry-modules/htpasswd}}" \
    "tls: {certificate: $PKI/server.crt, key: $PKI/server.key}"
  mkdir -p "$MODULES"
  cp "$REPO/policy.wasm" "$MODULES/v1.wasm"
  # The same policy with a custom section more: another digest, the same answers.
  with_section v2 "$MODULES/v2.wasm"
  with_section tampered "$MODULES/tampered.wasm"
  # The config `kwctl push` writes, in short.
  echo '{"architecture":"wasm","os":"wasip1"}' >"$MODULES/config.json"
  push "$PLAIN" policies/pullthrough:v1 v1.wasm >/dev/null
}

teardown_file() {
  stop_registry secure
  stop_registry plain
}

setup() {
  DIR="$BATS_TEST_TMPDIR/policies" STORE="$BATS_TEST_TMPDIR/store"
  mkdir -p "$DIR"
  sources "$PLAIN"
}

teardown() {
  stop_server
  if [[ -n "${WEB_PID:-}" ]]; then
    kill "$WEB_PID" 2>/dev/null || true
    wait "$WEB_PID" 2>/dev/null || true
  fi
}

# with_section NAME OUT: policy.wasm with a custom section NAME appended (ignored by the engine).
with_section() {
  python3 - "$REPO/policy.wasm" "$1" "$2" <<'PY'
import sys
source, name, out = sys.argv[1:]
def leb128(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
payload = leb128(len(name)) + name.encode()
open(out, "wb").write(open(source, "rb").read() + b"\0" + leb128(len(payload)) + payload)
PY
}

# push ADDRESS REPOSITORY:TAG FILE [ORAS FLAGS]: pushes FILE of $MODULES as a policy artifact,
# as `kwctl push` lays it out; prints the manifest digest. Plain HTTP unless flags say otherwise.
push() {
  local address="$1" reference="$2" file="$3"
  shift 3
  (($#)) || set -- --plain-http
  (cd "$MODULES" && "$ORAS" push "$@" --format json \
    --config config.json:application/vnd.wasm.config.v1+json \
    "$address/$reference" "$file:$MEDIA") | jq -r .digest
}

# push_secure REPOSITORY:TAG FILE: push to the registry with credentials.
push_secure() {
  push "$SECURE" "$1" "$2" --ca-file "$PKI/ca.crt" -u "${USER_PASSWORD%%:*}" -p "${USER_PASSWORD#*:}"
}

# hex FILE: the sha256 of a file of $MODULES, in hex.
hex() { sha256sum "$MODULES/$1" | cut -d' ' -f1; }

# sources INSECURE [AUTHORITY_HOST]: the sources file: INSECURE reached over plain HTTP (none
# when empty), the suite's CA trusted for AUTHORITY_HOST.
sources() {
  {
    if [[ -n "$1" ]]; then echo "insecure_sources: [\"$1\"]"; fi
    if [[ -n "${2:-}" ]]; then
      printf 'source_authorities:\n  "%s":\n    - type: Path\n      path: %s\n' "$2" "$PKI/ca.crt"
    fi
  } >"$DIR/sources.yaml"
}

# policies MODULE: the policies file, one entry `p` with MODULE rewriting to $MIRROR.
policies() {
  printf 'p:\n  module: %s\n  allowedToMutate: true\n  settings:\n    mirror: %s\n' "$1" "$MIRROR" >"$DIR/policies.yml"
}

# docker_config PASSWORD: a Docker config with the registry user and PASSWORD for $SECURE,
# replaced in one rename as a kubelet updates a mounted pull secret.
docker_config() {
  local auth
  auth="$(printf '%s:%s' "${USER_PASSWORD%%:*}" "$1" | base64 -w0)"
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$SECURE" "$auth" >"$DIR/config.json.new"
  mv "$DIR/config.json.new" "$DIR/config.json"
}

serve() {
  start_server --policies "$DIR/policies.yml" --sources-path "$DIR/sources.yaml" \
    --module-store-dir "$STORE" --write-ca "$BATS_TEST_TMPDIR/ca.crt" "$@"
}

# serve_fails ARGS...: a serve that must stop before serving; sets status and output.
serve_fails() {
  run env "${SERVE_ENV[@]}" "$PULLTHROUGH" serve --listen 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
    --policies "$DIR/policies.yml" --sources-path "$DIR/sources.yaml" --module-store-dir "$STORE" "$@"
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = "Error: could not load the policies" ]
  [ "${lines[1]}" = "Caused by:" ]
}

rewrites() { [ "$(rewritten_to)" = "$MIRROR/library/busybox:1.28" ]; }

# serve_secure REPOSITORY:TAG: v1 pushed there on the registry with credentials, and served from
# it with the right ones and the suite's CA.
serve_secure() {
  push_secure "$1" v1.wasm >/dev/null
  policies "registry://$SECURE/$1"
  sources "" "$SECURE"
  docker_config pullthrough-e2e
  serve --docker-config-json-path "$DIR/config.json"
  rewrites
}

metric() { curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" | grep -F "$1"; }

@test "a registry:// module is served, kept in the store by digest, and swapped on SIGHUP when its tag moves" {
  local manifest
  manifest="$(push "$PLAIN" policies/swap:v1 v1.wasm)"
  policies "registry://$PLAIN/policies/swap:v1"
  serve
  rewrites
  logged "policy loaded policy=p module=registry://$PLAIN/policies/swap:v1 sha256=$(hex v1.wasm)" >/dev/null
  # The manifest and the module, each under its digest.
  cmp "$STORE/blobs/sha256/${manifest#sha256:}" <(curl -sS -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$PLAIN/v2/policies/swap/manifests/v1")
  cmp "$STORE/blobs/sha256/$(hex v1.wasm)" "$MODULES/v1.wasm"

  # SIGHUP with the tag where it was: nothing to swap.
  kill -HUP "$SERVER_PID"
  logged "SIGHUP: reloading policies" >/dev/null
  sleep 1
  run grep -q "policy version swapped in" "$BATS_TEST_TMPDIR/server.log"
  [ "$status" -eq 1 ]

  push "$PLAIN" policies/swap:v1 v2.wasm >/dev/null
  kill -HUP "$SERVER_PID"
  logged "policy version swapped in policy=p sha256=$(hex v2.wasm) changed=module" >/dev/null
  rewrites
  cmp "$STORE/blobs/sha256/$(hex v2.wasm)" "$MODULES/v2.wasm"
  [[ "$(metric 'pullthrough_policy_reloads_total{policy="p",result="accepted"}')" == *" 1" ]]
}

@test "with --module-refresh-seconds a moved tag is swapped in without a signal" {
  push "$PLAIN" policies/refresh:v1 v1.wasm >/dev/null
  policies "registry://$PLAIN/policies/refresh:v1"
  serve --module-refresh-seconds 1
  rewrites
  push "$PLAIN" policies/refresh:v1 v2.wasm >/dev/null
  logged "policy version swapped in policy=p sha256=$(hex v2.wasm) changed=module" >/dev/null
  run grep -q "SIGHUP" "$BATS_TEST_TMPDIR/server.log"
  [ "$status" -eq 1 ]
  rewrites
}

@test "a digest-pinned module restarts from the store without asking the registry" {
  local manifest
  manifest="$(push "$PLAIN" policies/pinned:v1 v1.wasm)"
  policies "registry://$PLAIN/policies/pinned@$manifest"
  serve
  rewrites
  stop_server
  # No host reachable over plain HTTP now: HTTPS to this registry fails, so a start that works
  # read the store.
  sources ""
  serve
  rewrites
  stop_server
  # The same start with an empty store has to ask, and cannot.
  rm -r "$STORE"
  serve_fails
  [ "${lines[2]}" = "    policy \"p\": cannot fetch module registry://$PLAIN/policies/pinned@$manifest" ]
  [ "${lines[3]}" = "    cannot reach $PLAIN" ]
}

@test "a missing tag, a missing digest and an unreachable host stop the start, naming the module and the reason" {
  policies "registry://$PLAIN/policies/pullthrough:nope"
  serve_fails
  [ "${lines[2]}" = "    policy \"p\": cannot fetch module registry://$PLAIN/policies/pullthrough:nope" ]
  [ "${lines[3]}" = "    registry://$PLAIN/policies/pullthrough:nope does not exist (no such repository, tag or digest)" ]
  [ "${#lines[@]}" -eq 4 ]

  local missing
  missing="sha256:$(printf 'no such manifest' | sha256sum | cut -d' ' -f1)"
  policies "registry://$PLAIN/policies/pullthrough@$missing"
  serve_fails
  [ "${lines[3]}" = "    registry://$PLAIN/policies/pullthrough@$missing does not exist (no such repository, tag or digest)" ]

  local nobody="127.0.0.1:$(free_port)"
  sources "$nobody"
  policies "registry://$nobody/policies/pullthrough:v1"
  serve_fails
  [ "${lines[2]}" = "    policy \"p\": cannot fetch module registry://$nobody/policies/pullthrough:v1" ]
  [ "${lines[3]}" = "    cannot reach $nobody" ]
}

@test "a registry that sends other bytes than the layer's digest names is refused" {
  local layer
  push "$PLAIN" policies/tampered:v1 tampered.wasm >/dev/null
  layer="$(hex tampered.wasm)"
  # What a corrupted disk or a hostile mirror would serve under that digest.
  printf 'not the module' >"$REGISTRY_DIR/plain/storage/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data"
  policies "registry://$PLAIN/policies/tampered:v1"
  serve_fails
  [ "${lines[3]}" = "    digest mismatch in the module layer: expected sha256:$layer, got sha256:$(printf 'not the module' | sha256sum | cut -d' ' -f1)" ]
  # Nothing of it was kept.
  [ ! -e "$STORE/blobs/sha256/$layer" ]
}

@test "credentials come from a Docker config file; wrong or missing ones and an unknown CA are named" {
  serve_secure policies/pullthrough:v1
  stop_server

  rm -r "$STORE"
  docker_config wrong
  serve_fails --docker-config-json-path "$DIR/config.json"
  [ "${lines[3]}" = "    $SECURE refused access to user \"puller\" (from $DIR/config.json)" ]

  serve_fails
  [ "${lines[3]}" = "    $SECURE refused access without credentials (no --docker-config-json-path)" ]

  # The registry's certificate is signed by the suite's CA, which nothing names now.
  sources ""
  docker_config pullthrough-e2e
  serve_fails --docker-config-json-path "$DIR/config.json"
  [ "${lines[3]}" = "    cannot reach $SECURE" ]
  [[ "$output" == *"UnknownIssuer"* ]]
}

@test "a fetch that fails after the start keeps the running module, with one log line and the reload metric" {
  serve_secure policies/later:v1
  # The pull secret is rotated to a wrong password; the tag moves.
  docker_config wrong
  push_secure policies/later:v1 v2.wasm >/dev/null
  kill -HUP "$SERVER_PID"
  line="$(logged 'new policy version rejected; the previous one keeps serving policy=p')"
  [[ "$line" == *" WARN "* ]]
  [[ "$line" == *"cannot fetch module registry://$SECURE/policies/later:v1: $SECURE refused access to user \"puller\" (from $DIR/config.json)"* ]]
  [ "$(grep -c 'refused access' "$BATS_TEST_TMPDIR/server.log")" -eq 1 ]
  [[ "$(metric 'pullthrough_policy_reloads_total{policy="p",result="rejected"}')" == *" 1" ]]
  rewrites
  [ "$(readyz)" = "ready 200" ]
  # The secret fixed, the next reload swaps to the moved tag.
  docker_config pullthrough-e2e
  kill -HUP "$SERVER_PID"
  logged "policy version swapped in policy=p sha256=$(hex v2.wasm)" >/dev/null
}

@test "run and scan fetch a registry:// module and answer as with the file" {
  local module="registry://$PLAIN/policies/pullthrough:v1" flags
  flags=(--sources-path "$DIR/sources.yaml" --module-store-dir "$STORE")
  run "$PULLTHROUGH" run "${flags[@]}" --settings-json "{\"mirror\": \"$MIRROR\"}" \
    -r "$REPO/fixtures/admission/cronjob.json" "$module"
  [ "$status" -eq 0 ]
  [ "$output" = "$("$PULLTHROUGH" run --settings-json "{\"mirror\": \"$MIRROR\"}" -r "$REPO/fixtures/admission/cronjob.json" "$MODULES/v1.wasm")" ]
  [[ "$output" == *'"patch"'* ]]

  policies "$module"
  run --separate-stderr "$PULLTHROUGH" scan --policies "$DIR/policies.yml" "${flags[@]}" -o json \
    -f "$REPO/fixtures/scan/workloads.yaml"
  [ "$status" -eq 0 ]
  local fetched="$output"
  policies "$MODULES/v1.wasm"
  run --separate-stderr "$PULLTHROUGH" scan --policies "$DIR/policies.yml" -o json \
    -f "$REPO/fixtures/scan/workloads.yaml"
  [ "$output" = "$fetched" ]
  [[ "$fetched" == *"$MIRROR/"* ]]

  run "$PULLTHROUGH" run "${flags[@]}" -r "$REPO/fixtures/admission/cronjob.json" \
    "registry://$PLAIN/policies/pullthrough:nope"
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = "Error: cannot fetch module registry://$PLAIN/policies/pullthrough:nope" ]
}

@test "an https:// module is fetched with the host's CA; plain http:// only from a listed host" {
  python3 "$BATS_TEST_DIRNAME/registry-modules/https_server.py" "$MODULES" "$PKI/server.crt" \
    "$PKI/server.key" "$BATS_TEST_TMPDIR/web.port" 2>"$BATS_TEST_TMPDIR/web.log" &
  WEB_PID=$!
  wait_until 10 "the web server" test -s "$BATS_TEST_TMPDIR/web.port"
  local web="127.0.0.1:$(cat "$BATS_TEST_TMPDIR/web.port")"
  policies "https://$web/v1.wasm"
  sources "" "$web"
  serve
  rewrites
  logged "policy loaded policy=p module=https://$web/v1.wasm sha256=$(hex v1.wasm)" >/dev/null
  stop_server

  sources ""
  serve_fails
  [ "${lines[3]}" = "    cannot reach $web" ]

  policies "http://$web/v1.wasm"
  serve_fails
  [ "${lines[2]}" = "    policy \"p\": cannot fetch module http://$web/v1.wasm" ]
  [ "${lines[3]}" = "    plain http:// is only used for hosts listed in insecure_sources of --sources-path, and $web is not" ]
}

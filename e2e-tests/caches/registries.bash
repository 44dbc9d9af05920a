# Real registries for the real-cache suites (e2e-tests/caches.bats, e2e-cluster/85-mirror-down.bats):
# Debian's docker-registry as the upstream the tests push to, and the CNCF distribution registry
# (built by registry_build in e2e-cluster/controlplane.bash) in proxy mode as the pull-through
# cache in front of it. Each keeps its storage, config, log and pid under $REGISTRY_DIR/NAME.
#
#   start_upstream NAME ADDRESS          docker-registry on ADDRESS (host:port), plain HTTP
#   start_cache NAME ADDRESS REMOTE_URL  distribution's registry, proxy.remoteurl = REMOTE_URL
#   start_zot NAME ADDRESS UPSTREAM_URL CONFIG [EDIT]
#                                        zot ($ZOT_BIN) with deploy/zot/CONFIG as shipped (below)
#   stop_registry NAME                   SIGTERM, then waits for it to exit
#   push_test_images UPSTREAM            the suite's images, built by make_layout.py, via skopeo
#   resolve_alike, outlives_upstream     what the suites check of a cache (below)

CACHES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The upstream registry and the tool that pushes to it, from Debian.
require_upstream() {
  local missing=()
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  ((${#missing[@]} == 0)) || {
    echo "missing ${missing[*]}: run scripts/setup --test (Debian packages docker-registry, skopeo)" >&2
    return 1
  }
}

# The registries' own binaries; the distribution registry comes from registry_build.
require_registries() {
  require_upstream || return 1
  [[ -x "${REGISTRY_BIN:-}" ]] || {
    echo "no distribution registry binary: call registry_build (e2e-cluster/controlplane.bash) first" >&2
    return 1
  }
}

# run_registry NAME ADDRESS BINARY CONFIG_TAIL [HTTP]: a distribution registry's config, then
# launch. HTTP adds to the config's http mapping: `tls: {certificate: CRT, key: KEY}` serves HTTPS.
run_registry() {
  local name="$1" address="$2" binary="$3" tail="$4" http="${5:-}" dir="$REGISTRY_DIR/$1"
  mkdir -p "$dir/storage"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log: {level: info}
storage:
  filesystem: {rootdirectory: $dir/storage}
  delete: {enabled: true}
http: {addr: "$address"${http:+, $http}}
$tail
EOF
  local scheme=http
  [[ "$http" == *tls:* ]] && scheme=https
  REGISTRY_SCHEME="$scheme" launch "$name" "$address" "$binary" serve "$dir/config.yml"
}

# launch NAME ADDRESS COMMAND...: starts a registry with every descriptor above 2 closed (bats
# waits for whatever holds its pipes), then waits until /v2/ on ADDRESS answers at all (401 from
# a registry that wants credentials too), over REGISTRY_SCHEME (http unless set).
launch() {
  local name="$1" address="$2" dir="$REGISTRY_DIR/$1"
  shift 2
  (
    for fd in $(ls /proc/$BASHPID/fd); do ((fd > 2)) && eval "exec $fd>&-"; done
    exec "$@"
  ) >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  local deadline=$((SECONDS + 20))
  # -k: only whether something answers matters here, not whose certificate it shows.
  until curl -sk --max-time 1 -o /dev/null "${REGISTRY_SCHEME:-http}://$address/v2/" 2>/dev/null; do
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || {
      echo "registry $name exited; its log:" >&2
      cat "$dir/log" >&2
      return 1
    }
    ((SECONDS < deadline)) || {
      echo "registry $name not answering on $address after 20 s" >&2
      return 1
    }
    sleep 0.1
  done
}

start_upstream() { run_registry "$1" "$2" "$(command -v docker-registry)" ""; }

# zot is not built here: its Go module (zotregistry.dev/zot) is not served by the module proxy
# this project builds from. ZOT_BIN names a zot binary built elsewhere with the sync extension;
# without it the zot tests skip with this reason.
ZOT_MISSING="no zot (ZOT_BIN is unset): its Go module zotregistry.dev/zot is not served by the Go module proxy this project builds from"

# The zot binary ZOT_BIN names (callers check first that it names one).
require_zot() {
  [[ -x "$ZOT_BIN" ]] || {
    echo "ZOT_BIN=$ZOT_BIN is not an executable file" >&2
    return 1
  }
}

# start_zot NAME ADDRESS UPSTREAM_URL CONFIG [EDIT]: zot serving deploy/zot/CONFIG as shipped,
# but for what a test must substitute: every sync entry's URL (UPSTREAM_URL), the storage path and
# the listening address. EDIT, a Python statement on the parsed configuration `c`, changes it
# further (the tests that show what a setting is for). Waits for /v2/.
start_zot() {
  local name="$1" address="$2" upstream="$3" config="$4" edit="${5:-pass}" dir="$REGISTRY_DIR/$1"
  mkdir -p "$dir/storage"
  python3 - "$CACHES_DIR/../../deploy/zot/$config" "$dir" "$address" "$upstream" "$edit" \
    >"$dir/config.json" <<'PY'
import json, sys
path, root, address, upstream, edit = sys.argv[1:]
c = json.load(open(path))
c["storage"]["rootDirectory"] = root + "/storage"
c["http"]["address"], c["http"]["port"] = address.rsplit(":", 1)
for registry in c["extensions"]["sync"]["registries"]:
    registry["urls"] = [upstream]
exec(edit)
json.dump(c, sys.stdout, indent=2)
PY
  launch "$name" "$address" "$ZOT_BIN" serve "$dir/config.json"
}

start_cache() { run_registry "$1" "$2" "$REGISTRY_BIN" "proxy: {remoteurl: \"$3\"}"; }

# stop_pidfile is e2e-cluster/controlplane.bash's, which every user of this file sources.
stop_registry() { stop_pidfile "$REGISTRY_DIR/$1/pid" 100; }

# The test images on UPSTREAM (host:port): team/oci-app:1 (OCI manifest), team/docker-app:1
# (Docker v2 schema 2), team/multi:1 (OCI index, amd64 + arm64), team/multi-docker:1 (Docker
# manifest list).
push_test_images() {
  local upstream="$1" layout="$REGISTRY_DIR/layout"
  python3 "$CACHES_DIR/make_layout.py" "$layout"
  local copy=(skopeo copy --quiet --dest-tls-verify=false)
  "${copy[@]}" "oci:$layout:app" "docker://$upstream/team/oci-app:1"
  "${copy[@]}" --format v2s2 "oci:$layout:app" "docker://$upstream/team/docker-app:1"
  "${copy[@]}" --all "oci:$layout:multi" "docker://$upstream/team/multi:1"
  "${copy[@]}" --all --format v2s2 "oci:$layout:multi" "docker://$upstream/team/multi-docker:1"
}

# pull REFERENCE: containerd's resolve and fetch (pull.py); prints the resolved manifest digest.
pull_digest() {
  local pulled
  pulled="$(python3 "$CACHES_DIR/pull.py" "$1")" || return
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["digest"])' "$pulled"
}

# resolve_alike REFERENCE UPSTREAM_REFERENCE...: for each pair, REFERENCE (through a cache) pulls
# to the manifest digest UPSTREAM_REFERENCE pulls to; prints each pull to the terminal.
resolve_alike() {
  local up through
  while (($#)); do
    up="$(pull_digest "$2")"
    through="$(pull_digest "$1")"
    [[ "$through" == "$up" ]] || {
      echo "$1 resolved to $through, upstream $2 to $up"
      return 1
    }
    printf '%-110s %s\n' "$1" "${through:0:19}" >&3
    shift 2
  done
}

# outlives_upstream CACHE: a digest CACHE (host:port) has pulled once from the upstream registry
# "upstream" at $UPSTREAM still pulls from it while that registry is stopped.
outlives_upstream() {
  local digest
  digest="$(pull_digest "$UPSTREAM/team/multi:1")"
  pull_digest "$1/team/multi@$digest" >/dev/null
  stop_registry upstream
  run pull_digest "$1/team/multi@$digest"
  start_upstream upstream "$UPSTREAM"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$output" = "$digest" ]
}

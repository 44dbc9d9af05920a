# What the node files share: the pullthrough image in the node's containerd, two "upstream"
# registries and a pull-through cache in front of each, the names containerd sends to them, and
# small images the suite builds itself from Debian's busybox-static.
#
#   docker.io                    -> upstream "hub"   $HOST_IP:25100 (Debian's docker-registry)
#   ghcr.io                      -> upstream "ghcr"  $HOST_IP:25102
#   registry-mirror.example.com  -> cache "hub-cache"  $HOST_IP:25101 (distribution, proxy of hub)
#   ghcr-mirror.example.com      -> cache "ghcr-cache" $HOST_IP:25103 (distribution, proxy of ghcr)
#
# The distribution registry proxies one upstream each, so each source registry has its cache, as
# operators run it; pullthrough rewrites docker.io to the first (the flat layout's default) and
# ghcr.io to the second (a rule). An image that was not rewritten visibly comes from upstream.

# shellcheck source=../e2e-tests/caches/registries.bash
source "$REPO/e2e-tests/caches/registries.bash"

HUB="$HOST_IP:$((25100 + E2E_PORT_OFFSET))"
HUB_CACHE="$HOST_IP:$((25101 + E2E_PORT_OFFSET))"
GHCR="$HOST_IP:$((25102 + E2E_PORT_OFFSET))"
GHCR_CACHE="$HOST_IP:$((25103 + E2E_PORT_OFFSET))"
GHCR_MIRROR="ghcr-mirror.example.com"
export REGISTRY_DIR="$CLUSTER_DIR/node-registries"

require_node() {
  [[ -S "$CONTAINERD_SOCK" ]] && node_ready || {
    echo "no node: the cluster runs without one (PULLTHROUGH_E2E_NODE=0 or PULLTHROUGH_E2E_NET is not 73)" >&2
    return 1
  }
}

# registry_host NAME SERVER: containerd sends pulls of NAME to SERVER (plain HTTP).
registry_host() {
  mkdir -p "$REGISTRY_HOSTS_DIR/$1"
  cat >"$REGISTRY_HOSTS_DIR/$1/hosts.toml" <<EOF
server = "http://$2"
[host."http://$2"]
  capabilities = ["pull", "resolve"]
EOF
}

start_node_registries() {
  registry_build
  require_registries
  rm -rf "$REGISTRY_DIR"
  start_upstream hub "$HUB"
  start_upstream ghcr "$GHCR"
  start_cache hub-cache "$HUB_CACHE" "http://$HUB"
  start_cache ghcr-cache "$GHCR_CACHE" "http://$GHCR"
  registry_host docker.io "$HUB"
  registry_host ghcr.io "$GHCR"
  registry_host "$MIRROR" "$HUB_CACHE"
  registry_host "$GHCR_MIRROR" "$GHCR_CACHE"
}

stop_node_registries() {
  local name
  for name in hub-cache ghcr-cache hub ghcr; do stop_registry "$name"; done
}

# push_busybox UPSTREAM REPOSITORY:TAG [MB]: an image of Debian's busybox-static that sleeps,
# pushed to UPSTREAM; prints its manifest digest. The tag is a label too, so each tag has its
# digest. MB adds a file of that many MiB of random bytes, for pulls that take measurable time.
push_busybox() {
  local upstream="$1" ref="$2" megabytes="${3:-0}" dir oci_image
  dir="$REGISTRY_DIR/images/${ref//[:\/]/_}"
  build_tool tools/oci-image "-s -w" . >/dev/null 2>&1
  oci_image="$(tool_dir tools/oci-image)/oci-image"
  mkdir -p "$dir/rootfs/bin"
  # `command`: helpers.bash defines a function named install (the manifests' install).
  command install -m 0755 "$(command -v busybox)" "$dir/rootfs/bin/busybox"
  if ((megabytes > 0)); then
    head -c "$((megabytes << 20))" /dev/urandom >"$dir/rootfs/payload"
  fi
  "$oci_image" -rootfs "$dir/rootfs" -ref "pullthrough.test/$ref" -epoch 0 -layout "$dir/oci" \
    -user 65534:65534 -entrypoint '["/bin/busybox","sleep","3600"]' -label "e2e.pullthrough.dev/ref=$ref" >/dev/null
  skopeo copy --quiet --dest-tls-verify=false "oci:$dir/oci:${ref##*:}" "docker://$upstream/$ref"
  skopeo inspect --tls-verify=false --raw "docker://$upstream/$ref" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'
}

# The pullthrough image scripts/image built, in the node's containerd (the chart's default
# reference, so no registry serves it).
import_pullthrough_image() {
  local archive="$TARGET_DIR/image/pullthrough.tar"
  [[ -f "$archive" ]] || {
    echo "no $archive: scripts/e2e-cluster builds it with scripts/image" >&2
    return 1
  }
  ctr_node images import "$archive" >/dev/null
}

# blob_gets NAME: how many blob GETs registry NAME has logged.
blob_gets() {
  grep -c '"GET /v2/[^ ]*/blobs/sha256:' "$REGISTRY_DIR/$1/log" || true
}

# ready_pods NAMESPACE SELECTOR COUNT: COUNT pods matching SELECTOR are Ready.
ready_pods() {
  [[ "$(k -n "$1" get pods -l "$2" \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c True)" -eq "$3" ]]
}

# pod_field NAMESPACE SELECTOR JSONPATH: JSONPATH of the one pod SELECTOR matches.
pod_field() {
  k -n "$1" get pods -l "$2" -o jsonpath="{.items[0]$3}"
}

# workload NAMESPACE NAME IMAGE [LABELS]: applies a one-replica Deployment of IMAGE whose pod
# template carries LABELS (a YAML flow mapping's inside, e.g. 'pullthrough.dev/rewrite: "false"').
workload() {
  k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $2, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: $2}}
  template:
    metadata: {labels: {app: $2${4:+, $4}}}
    spec:
      # busybox as PID 1 ignores SIGTERM: a deleted pod would wait out the default 30 s.
      terminationGracePeriodSeconds: 1
      containers: [{name: main, image: "$3"}]
EOF
}

# run_workload NAMESPACE NAME IMAGE [LABELS]: workload, then waits until its pod is Ready and
# prints the seconds from the create to Ready.
run_workload() {
  local started
  started="$(date +%s.%N)"
  workload "$@"
  wait_for 120 "deployment $1/$2 ready" ready_pods "$1" "app=$2" 1 || {
    k -n "$1" describe pods -l "app=$2" | sed -n '/^Events:/,$p' >&2
    node_state >&2
    return 1
  }
  python3 -c 'import sys,time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$started"
}

# Shared set-up for the cluster suite: kubectl against the running control plane, webhook
# replicas started in the suite's network namespace with the ServiceAccount token the shipped
# manifests give them, and waits that poll the API server. scripts/e2e-cluster starts the control
# plane before bats and stops it after.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E_ROOT="$REPO"
# shellcheck source=controlplane.bash
source "$REPO/e2e-cluster/controlplane.bash"
# CARGO_TARGET_DIR may be relative to the repository or absolute.
TARGET_DIR="$(cd "$REPO" && realpath -m "${CARGO_TARGET_DIR:-target}")"
PULLTHROUGH="${PULLTHROUGH:-$TARGET_DIR/release/pullthrough}"
KUBE_BIN="${KUBE_BIN:-$(tool_dir kube)}"
[[ -x "$KUBE_BIN/kubectl" ]] || {
  echo "no kubectl in $KUBE_BIN: run the cluster suite through scripts/e2e-cluster" >&2
  return 1
}
HELM="${HELM:-$(tool_dir helm)/helm}"
MIRROR="registry-mirror.example.com"
INSTALL_NS="pullthrough"
export KUBECONFIG="$CLUSTER_DIR/admin.kubeconfig"

k() { "$KUBE_BIN/kubectl" "$@"; }

# detached COMMAND...: runs COMMAND with every descriptor above 2 closed. bats waits for whatever
# holds its internal pipes open, so a server started in the background must not inherit them.
detached() {
  local fd
  for fd in $(ls /proc/$BASHPID/fd); do
    ((fd > 2)) && eval "exec $fd>&-"
  done
  exec "$@"
}

# The ServiceAccount's own credentials, as the pod would have them: a bound token from the
# TokenRequest API, so the webhook runs with exactly the rights the manifests grant. One per
# install namespace (the chart's suite installs into its own).
webhook_kubeconfig() {
  local file="$CLUSTER_DIR/webhook-$INSTALL_NS.kubeconfig" token
  if [[ ! -f "$file" ]]; then
    token="$(k -n "$INSTALL_NS" create token pullthrough --duration 6h)"
    write_kubeconfig "$file" "token: $token"
  fi
  echo "$file"
}

# The Service's endpoints: replicas run in the network namespace, not as pods (no kubelet), so
# the suite publishes them in an EndpointSlice of its own. The EndpointSlice controller leaves a
# slice alone that another manager owns.
publish_endpoints() {
  local addresses="" ip
  for ip in "$@"; do addresses+="  - addresses: [\"$ip\"]
    conditions: {ready: true}
"; done
  k apply --server-side --field-manager pullthrough-e2e -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: pullthrough-e2e
  namespace: $INSTALL_NS
  labels:
    kubernetes.io/service-name: pullthrough
    endpointslice.kubernetes.io/managed-by: pullthrough-e2e
addressType: IPv4
ports:
- name: https
  port: 8443
  protocol: TCP
endpoints:
${addresses:-  []}
EOF
}

# The manifests, with replica a as the Service's one endpoint (a test that runs b adds it).
install() {
  "$PULLTHROUGH" manifests --mirror "$MIRROR" | k apply --server-side --force-conflicts -f - >/dev/null
  publish_endpoints "${REPLICA_IPS[0]}"
}

# start_replica NAME IP [SERVE FLAGS]: `pullthrough serve --register` in the network namespace as
# the ServiceAccount; logs to $CLUSTER_DIR/logs/replica-NAME.log. Waits for /readyz.
start_replica() {
  local name="$1" ip="$2"
  shift 2
  local log="$CLUSTER_DIR/logs/replica-$name.log"
  # A replica a failed test left running would keep the address, and every later test would
  # talk to it instead of this one.
  stop_replica "$name"
  # MIRROR names no registry, so its check is off unless a test (85-mirror-down) names a real one.
  detached ip netns exec "$NETNS" env KUBECONFIG="$(webhook_kubeconfig)" PULLTHROUGH_NAMESPACE="$INSTALL_NS" \
    PULLTHROUGH_SHUTDOWN_GRACE_SECONDS="${SHUTDOWN_GRACE_SECONDS:-0}" \
    PULLTHROUGH_NO_MIRROR_CHECK="${PULLTHROUGH_NO_MIRROR_CHECK:-true}" \
    "$PULLTHROUGH" serve --register --listen "$ip:8443" \
    $([[ -n "${REPLICA_POLICIES:-}" ]] && echo --policies "$REPLICA_POLICIES" || echo --mirror "${REPLICA_MIRROR:-$MIRROR}") \
    --write-ca "$CLUSTER_DIR/replica-$name.ca" "$@" >"$log.out" 2>"$log" &
  echo $! >"$CLUSTER_DIR/pids/replica-$name"
  local deadline=$((SECONDS + 30))
  until ip netns exec "$NETNS" curl -sf --max-time 1 -k "https://$ip:8443/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$CLUSTER_DIR/pids/replica-$name")" 2>/dev/null; then
      echo "replica $name exited; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    ((SECONDS < deadline)) || {
      echo "replica $name not ready after 30 s" >&2
      return 1
    }
    sleep 0.1
  done
}

replica_pid() { cat "$CLUSTER_DIR/pids/replica-$1" 2>/dev/null; }

replica_running() {
  local pid
  pid="$(replica_pid "$1")" && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# wait_gone PID TENTHS: returns once PID has exited, or after TENTHS tenths of a second.
wait_gone() {
  for _ in $(seq 1 "$2"); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
}

stop_replica() {
  local pid
  pid="$(replica_pid "$1")" || return 0
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid"
    wait_gone "$pid" 100
    kill -KILL "$pid" 2>/dev/null || true
    # Reap it when this shell started it, so bash prints no job notice.
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$CLUSTER_DIR/pids/replica-$1"
}

# pod_stream NAMESPACE IMAGE: creates Pods of IMAGE one after the other in the background until
# $BATS_TEST_TMPDIR/stop appears, each as a row "<start> <end> <image as stored>" in
# $BATS_TEST_TMPDIR/admissions (kubectl's stderr, the webhook's warnings included, in
# $BATS_TEST_TMPDIR/errors); the loop's pid is left in $loop for stop_loop.
pod_stream() {
  : >"$BATS_TEST_TMPDIR/admissions"
  (
    local i=0 start image
    while [[ ! -f "$BATS_TEST_TMPDIR/stop" ]]; do
      i=$((i + 1))
      start="$(date +%s.%N)"
      if image="$("$KUBE_BIN/kubectl" -n "$1" run "p$i" --image="$2" --restart=Never \
        -o jsonpath='{.spec.containers[0].image}' 2>>"$BATS_TEST_TMPDIR/errors")"; then
        echo "$start $(date +%s.%N) $image" >>"$BATS_TEST_TMPDIR/admissions"
      else
        echo "p$i failed" >>"$BATS_TEST_TMPDIR/errors"
      fi
    done
  ) 3>&- &
  loop=$!
}

now() { date +%s.%N; }

# last_is IMAGE: whether the stream's last admitted Pod got IMAGE.
last_is() { [[ "$(tail -n1 "$BATS_TEST_TMPDIR/admissions" | cut -d' ' -f3)" == "$1" ]]; }

# stop_loop: for a test's teardown: ends the background loop of creations a test keeps in $loop
# (it stops when $BATS_TEST_TMPDIR/stop appears). A test that fails before it stops the loop
# would otherwise leave it running, and bats would wait for it forever.
stop_loop() {
  [[ -n "${loop:-}" ]] || return 0
  touch "$BATS_TEST_TMPDIR/stop"
  wait_gone "$loop" 50
  pkill -P "$loop" 2>/dev/null || true
  kill "$loop" 2>/dev/null || true
  wait "$loop" 2>/dev/null || true
  loop=""
}

# A namespace for one test, with the default ServiceAccount pods need (made by the controller
# manager) already there.
new_namespace() {
  k create namespace "$1" >/dev/null
  wait_for 30 "ServiceAccount $1/default" k -n "$1" get serviceaccount default
}

# wait_for SECONDS WHAT COMMAND...: wait_until of the control plane, under the suite's name.
wait_for() { wait_until "$@"; }

# The image a server-side dry-run of a one-container Pod in NAMESPACE comes back with.
dry_run_image() {
  k -n "$1" run probe --image=nginx:1.27 --restart=Never --dry-run=server -o jsonpath='{.spec.containers[0].image}'
}

rewriting_in() { [[ "$(dry_run_image "$1")" == "$MIRROR/library/nginx:1.27" ]]; }
not_rewriting_in() { [[ "$(dry_run_image "$1")" == nginx:1.27 ]]; }

# The install with replica a serving and the API server rewriting through it.
ensure_webhook() {
  install
  replica_running a || start_replica a "${REPLICA_IPS[0]}"
  k get namespace probe >/dev/null 2>&1 || new_namespace probe
  wait_for 30 "the API server rewriting through the webhook" rewriting_in probe
}

# The suite's second webhook (helper_webhook.py) behind Service helper.pt-helpers, on HELPER_IP.
start_helper_webhook() {
  local dir="$CLUSTER_DIR/helper"
  mkdir -p "$dir/records"
  [[ -f "$dir/helper.crt" ]] || {
    issue helper "/CN=helper.pt-helpers.svc" "subjectAltName=DNS:helper.pt-helpers.svc
extendedKeyUsage=serverAuth"
    mv "$CLUSTER_DIR/pki/helper.crt" "$CLUSTER_DIR/pki/helper.key" "$dir/"
  }
  k apply --server-side --field-manager pullthrough-e2e -f - >/dev/null <<EOF2
apiVersion: v1
kind: Namespace
metadata: {name: pt-helpers}
---
apiVersion: v1
kind: Service
metadata: {name: helper, namespace: pt-helpers}
spec:
  ports: [{name: https, port: 443, targetPort: 9443, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: helper
  namespace: pt-helpers
  labels: {kubernetes.io/service-name: helper, endpointslice.kubernetes.io/managed-by: pullthrough-e2e}
addressType: IPv4
ports: [{name: https, port: 9443, protocol: TCP}]
endpoints: [{addresses: ["$HELPER_IP"], conditions: {ready: true}}]
EOF2
  if ! [[ -f "$CLUSTER_DIR/pids/helper" ]] || ! kill -0 "$(cat "$CLUSTER_DIR/pids/helper")" 2>/dev/null; then
    detached ip netns exec "$NETNS" python3 "$REPO/e2e-cluster/helper_webhook.py" "$HELPER_IP" 9443 \
      "$dir/helper.crt" "$dir/helper.key" "$dir/records" >"$CLUSTER_DIR/logs/helper.out" 2>"$CLUSTER_DIR/logs/helper.log" &
    echo $! >"$CLUSTER_DIR/pids/helper"
    wait_for 10 "the helper webhook" grep -q ready "$CLUSTER_DIR/logs/helper.out"
  fi
}

# register_helper NAME PATH NAMESPACE RULES_JSON: a MutatingWebhookConfiguration calling the
# helper at PATH for objects in NAMESPACE.
register_helper() {
  local bundle
  bundle="$(base64 -w0 <"$CLUSTER_DIR/pki/ca.crt")"
  k apply --server-side --field-manager pullthrough-e2e -f - >/dev/null <<EOF2
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: $1}
webhooks:
- name: $1.e2e.pullthrough.dev
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  reinvocationPolicy: Never
  timeoutSeconds: 10
  clientConfig:
    caBundle: $bundle
    service: {name: helper, namespace: pt-helpers, path: $2, port: 443}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: $3}
  rules: $4
EOF2
}

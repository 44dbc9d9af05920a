# A real Kubernetes cluster on this machine, for the cluster suite: etcd, kube-apiserver
# (authorizers Node,RBAC), kube-controller-manager, and one node (node.bash: containerd, kubelet,
# kube-proxy, kube-scheduler), built from their Go modules by e2e-cluster/tools and cached by
# version, or taken from Debian's packages.
#
# The webhook is reached the way a cluster reaches it: the API server resolves the Service
# reference that registration writes to an EndpointSlice (--enable-aggregator-routing) and verifies
# the certificate against the caBundle for <service>.<namespace>.svc. Endpoints may not be loopback,
# so most files run the webhook in a network namespace of ours, joined to this one by a veth pair
# (the node files run it as pods instead):
#
#   root namespace   pt-e2e-h  10.251.73.1   kube-apiserver listens here (and etcd on 127.0.0.1)
#   netns pt-e2e     pt-e2e-n  10.251.73.2   webhook replica a
#                              10.251.73.3   webhook replica b
#                              10.251.73.4   the suite's helper webhooks (sidecar, recorder)
#
# Sourced by scripts/e2e-cluster and by the bats helpers; every function prints what it does.

E2E_ROOT="${E2E_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
# The third octet of the suite's addresses (default 73). Names, addresses, loopback ports and the
# state directory follow it, so a second checkout can run a cluster of its own beside the first
# with PULLTHROUGH_E2E_NET=74 (any of 74-99).
E2E_NET="${PULLTHROUGH_E2E_NET:-73}"
[[ "$E2E_NET" =~ ^(7[3-9]|[89][0-9])$ ]] || {
  echo "cluster: PULLTHROUGH_E2E_NET must be a number from 73 to 99, got \"$E2E_NET\"" >&2
  return 1
}
E2E_SUFFIX=""
[[ "$E2E_NET" == 73 ]] || E2E_SUFFIX="$E2E_NET"
# Added to every loopback port the suite binds.
E2E_PORT_OFFSET=$((E2E_NET - 73))
# Where the running control plane keeps its state: certificates, kubeconfigs, logs, pids.
CLUSTER_DIR="${PULLTHROUGH_CLUSTER_DIR:-/tmp/pullthrough-cluster$E2E_SUFFIX}"
# tool_dir and build_tool: binaries built from the pinned modules, cached by version.
# shellcheck source=../scripts/go-tools.bash
source "$E2E_ROOT/scripts/go-tools.bash"

KUBE_VERSION="v1.37.2"
NETNS="pt-e2e$E2E_SUFFIX"
HOST_IF="pt-e2e$E2E_SUFFIX-h"
NS_IF="pt-e2e$E2E_SUFFIX-n"
HOST_IP="10.251.$E2E_NET.1"
REPLICA_IPS=("10.251.$E2E_NET.2" "10.251.$E2E_NET.3")
HELPER_IP="10.251.$E2E_NET.4"
APISERVER_PORT=6443
ETCD_CLIENT_PORT=$((23790 + E2E_PORT_OFFSET))
ETCD_PEER_PORT=$((23900 + E2E_PORT_OFFSET))
APISERVER="https://$HOST_IP:$APISERVER_PORT"
# Routed from the node's pods by its kube-proxy.
SERVICE_CIDR="10.96.0.0/24"

cp_log() { printf '\033[1mcluster:\033[0m %s\n' "$*" >&2; }

cp_build() {
  local v="$KUBE_VERSION" minor ld="-s -w"
  minor="${v#v1.}"
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  # One go build for the control plane and the node's kubelet and kube-proxy: they share most
  # packages, so together they cost little more than the API server alone.
  build_tool kube "$ld" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  build_tool etcd "-s -w" go.etcd.io/etcd/server/v3
  build_tool crictl "-s -w" sigs.k8s.io/cri-tools/cmd/crictl
  registry_build
  CRICTL="$(tool_dir crictl)/crictl"
  KUBE_BIN="$(tool_dir kube)"
  ETCD_BIN="$(tool_dir etcd)/v3"
  # The server module's binary is named after its last path element.
  [[ -x "$ETCD_BIN" ]] || ETCD_BIN="$(tool_dir etcd)/server"
  export KUBE_BIN ETCD_BIN CRICTL
}

# helm, for the chart: built like the control plane from its Go module (e2e-cluster/tools/helm,
# pinned there) with the version stamps helm's own Makefile sets, so `helm version` and the
# Kubernetes version `helm template` and `helm lint` assume are those of the pin, not the source's
# placeholders. Sets HELM.
helm_build() {
  local module="$E2E_ROOT/e2e-cluster/tools/helm" version client minor ld="-s -w"
  version="$(awk '$1 == "helm.sh/helm/v3" {print $2}' "$module/go.mod")"
  client="$(awk '$1 == "k8s.io/client-go" {print $2}' "$module/go.mod")"
  minor="${client#v0.}"
  minor="${minor%%.*}"
  ld+=" -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  build_tool helm "$ld" helm.sh/helm/v3/cmd/helm
  HELM="$(tool_dir helm)/helm"
  export HELM
}

# The CNCF distribution registry (e2e-cluster/tools/registry), the pull-through cache of the
# real-cache suites (e2e-tests/caches.bats and 85-mirror-down.bats); sets REGISTRY_BIN.
registry_build() {
  build_tool registry "-s -w" github.com/distribution/distribution/v3/cmd/registry
  REGISTRY_BIN="$(tool_dir registry)/registry"
  export REGISTRY_BIN
}

# promtool (e2e-cluster/tools/promtool), which checks and unit-tests the chart's alerting rules,
# stamped with the version of its pin the way Prometheus's own release build does, and
# tools/promql-names, which lists the metrics a query selects with the same release's parser.
# Sets PROMTOOL and PROMQL_NAMES.
promtool_build() {
  local module="$E2E_ROOT/e2e-cluster/tools/promtool" pin version
  pin="$(awk '$1 == "github.com/prometheus/prometheus" {print $2}' "$module/go.mod")"
  # The Go module's v0.316.0 is Prometheus 3.16.0: major digit, two minor digits, patch.
  pin="${pin#v0.}"
  version="${pin:0:1}.$((10#${pin:1:2})).${pin#*.}"
  build_tool promtool "-s -w -X github.com/prometheus/common/version.Version=$version" \
    github.com/prometheus/prometheus/cmd/promtool
  build_tool tools/promql-names "-s -w" .
  PROMTOOL="$(tool_dir promtool)/promtool"
  PROMQL_NAMES="$(tool_dir tools/promql-names)/promql-names"
  export PROMTOOL PROMQL_NAMES
}

# The OpenTelemetry Collector the trace tests send spans to (tools/otelcol: the OTLP receiver and
# the file exporter, no builder). Sets OTELCOL.
otelcol_build() {
  build_tool tools/otelcol "-s -w" .
  OTELCOL="$(tool_dir tools/otelcol)/otelcol"
  export OTELCOL
}

# oras (e2e-cluster/tools/oras), the OCI client that pushes policy modules to the registry the
# registry-module tests fetch them from. Sets ORAS.
oras_build() {
  build_tool oras "-s -w" oras.land/oras/cmd/oras
  ORAS="$(tool_dir oras)/oras"
  export ORAS
}

# An ECDSA P-256 key and a certificate signed by the suite's CA: NAME SUBJECT EXTENSIONS.
issue() {
  local name="$1" subject="$2" ext="$3" pki="$CLUSTER_DIR/pki"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 7 -out "$pki/$name.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm "$pki/$name.csr"
}

# The suite's CA in $CLUSTER_DIR/pki (ca.crt, ca.key), for issue to sign with.
cp_ca() {
  local pki="$CLUSTER_DIR/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj "/CN=pullthrough-e2e-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

cp_pki() {
  local pki="$CLUSTER_DIR/pki"
  cp_ca
  issue apiserver "/CN=kube-apiserver" \
    "subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:10.96.0.1,IP:$HOST_IP,IP:127.0.0.1
extendedKeyUsage=serverAuth"
  issue admin "/O=system:masters/CN=pullthrough-e2e-admin" "extendedKeyUsage=clientAuth"
  issue controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  # Service-account tokens: the API server verifies with the public key, the token signer and the
  # controller manager sign with the private one.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  if node_wanted; then node_pki; fi
}

# kubeconfig FILE USER-LINES...: a kubeconfig for the suite's API server.
write_kubeconfig() {
  local file="$1"
  shift
  {
    cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $APISERVER
    certificate-authority: $CLUSTER_DIR/pki/ca.crt
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e}
current-context: e2e
users:
- name: e2e
  user:
EOF
    printf '    %s\n' "$@"
  } >"$file"
}

cp_network() {
  cp_log "network namespace $NETNS: $HOST_IF $HOST_IP <-> $NS_IF ${REPLICA_IPS[*]} $HELPER_IP"
  ip netns add "$NETNS"
  ip link add "$HOST_IF" type veth peer name "$NS_IF"
  ip link set "$NS_IF" netns "$NETNS"
  ip addr add "$HOST_IP/29" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  for ip in "${REPLICA_IPS[@]}" "$HELPER_IP"; do
    ip -n "$NETNS" addr add "$ip/29" dev "$NS_IF"
  done
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" link set "$NS_IF" up
}

# start NAME COMMAND...: runs a control plane process in its own session (so it outlives the
# script under --up), logging to logs/NAME.log and recording its pid.
start() {
  local name="$1"
  shift
  setsid "$@" >"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_DIR/pids/$name"
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_until() {
  local seconds="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "cluster: $what not ready after $seconds s" >&2
      return 1
    fi
    sleep 0.2
  done
}

admin_curl() {
  curl -sf --max-time 2 --cacert "$CLUSTER_DIR/pki/ca.crt" --cert "$CLUSTER_DIR/pki/admin.crt" \
    --key "$CLUSTER_DIR/pki/admin.key" "$APISERVER$1"
}

# Starts the control plane from the binaries cp_build made.
cp_up() {
  [[ -n "${KUBE_BIN:-}" && -n "${ETCD_BIN:-}" ]] || cp_build
  [[ $(id -u) -eq 0 ]] || {
    echo "cluster: needs root (it creates a network namespace and a veth pair)" >&2
    return 1
  }
  if [[ -d "$CLUSTER_DIR" ]]; then
    cp_log "a previous control plane is still recorded in $CLUSTER_DIR: stopping it first"
    cp_down
  fi
  local started=$SECONDS
  mkdir -p "$CLUSTER_DIR"/{logs,pids,etcd}
  cp_pki
  cp_network
  local pki="$CLUSTER_DIR/pki"
  write_kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "client-certificate: $pki/admin.crt" "client-key: $pki/admin.key"
  write_kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    "client-certificate: $pki/controller-manager.crt" "client-key: $pki/controller-manager.key"

  cp_log "etcd on 127.0.0.1:$ETCD_CLIENT_PORT"
  start etcd "$ETCD_BIN" --name e2e --data-dir "$CLUSTER_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync
  wait_until 30 etcd curl -sf --max-time 1 "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

  cp_log "kube-apiserver $KUBE_VERSION on $APISERVER (authorization Node,RBAC)"
  start kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address "$HOST_IP" --advertise-address "$HOST_IP" --secure-port "$APISERVER_PORT" \
    --cert-dir "$CLUSTER_DIR/apiserver" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC \
    --enable-aggregator-routing=true \
    --profiling=false \
    $(if node_wanted; then node_apiserver_flags; fi)
  wait_until 120 kube-apiserver admin_curl /readyz

  cp_log "kube-controller-manager"
  start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0 \
    --concurrent-deployment-syncs 2 --concurrent-replicaset-syncs 2
  # The controller manager is up once it has given the default namespace its ServiceAccount.
  wait_until 120 "kube-controller-manager" kubectl_admin -n default get serviceaccount default
  if node_wanted; then
    node_up
  else
    cp_log "no node (PULLTHROUGH_E2E_NODE=0, or PULLTHROUGH_E2E_NET is not 73: one node per machine)"
  fi
  cp_log "control plane up in $((SECONDS - started)) s; admin kubeconfig: $CLUSTER_DIR/admin.kubeconfig"
}

kubectl_admin() {
  "$KUBE_BIN/kubectl" --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "$@"
}

# stop_pidfile FILE TENTHS: SIGTERM to the process FILE records, SIGKILL if it still runs after
# TENTHS tenths of a second; FILE goes.
stop_pidfile() {
  local file="$1" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$2"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

# stop_pid NAME: the process cp_up recorded as NAME, with 5 s to exit.
stop_pid() { stop_pidfile "$CLUSTER_DIR/pids/$1" 50; }

# Stops everything cp_up started (and any webhook the suite left running in the namespace).
cp_down() {
  local pid name
  # Registries the suite files started (e2e-tests/caches/registries.bash keeps their pids in
  # their own directories): a file that failed before its teardown leaves them running, and the
  # next run would find their ports taken.
  for pid in "$CLUSTER_DIR"/*registries/*/pid; do
    [[ -f "$pid" ]] && kill -TERM "$(cat "$pid")" 2>/dev/null || true
  done
  if [[ -d "$CLUSTER_DIR/pids" ]]; then
    node_down
    for name in kube-controller-manager kube-apiserver etcd; do
      stop_pid "$name"
    done
  fi
  if ip netns list 2>/dev/null | grep -qw "$NETNS"; then
    # Whatever the suite still runs inside the namespace goes with it.
    for pid in $(ip netns pids "$NETNS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$NETNS"
  fi
  ip link del "$HOST_IF" 2>/dev/null || true
  rm -rf "$CLUSTER_DIR"
  cp_log "control plane stopped"
}

# shellcheck source=node.bash
source "$E2E_ROOT/e2e-cluster/node.bash"

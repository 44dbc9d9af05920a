# The cluster suite's node: containerd and runc from Debian, the CNI bridge plugin from Debian's
# containernetworking-plugins, and kubelet, kube-proxy and kube-scheduler built from the same
# pinned Kubernetes module as the API server. The kubelet registers through the Node authorizer
# with a system:node client certificate, as a real node does.
#
#   root namespace   pt-e2e-br  10.250.73.1   the pods' bridge; pods get 10.250.73.2-254
#                    containerd, kubelet (10.251.73.1:10250), kube-proxy (iptables mode, so pods
#                    reach the API server through the kubernetes Service)
#
# The node registers with the taint pullthrough.dev/e2e-closed:NoSchedule, so the hundreds of
# Pods the other suite files create stay Pending as they did before the node existed; the node
# files open it (node_open) and close it again (node_close). One node per machine: kube-proxy
# owns the host's KUBE-* iptables chains, so only the default PULLTHROUGH_E2E_NET=73 starts one.
#
# Sourced by controlplane.bash; every function prints what it does.

NODE_NAME="pt-e2e-node"
NODE_BRIDGE="pt-e2e-br"
POD_SUBNET="10.250.$E2E_NET.0/24"
NODE_TAINT="pullthrough.dev/e2e-closed"
CONTAINERD_DIR="$CLUSTER_DIR/containerd"
CONTAINERD_SOCK="$CONTAINERD_DIR/containerd.sock"
# Where containerd reads hosts.toml per registry name (the node files write them); read on every
# pull, so a test may add one while containerd runs.
REGISTRY_HOSTS_DIR="$CONTAINERD_DIR/certs.d"
# The sandbox ("pause") image, built here from Debian's busybox-static: registry.k8s.io cannot
# be reached from this machine.
PAUSE_IMAGE="pullthrough.test/pause:1"

node_wanted() {
  [[ "${PULLTHROUGH_E2E_NODE:-1}" != 0 && "$E2E_NET" == 73 ]]
}

node_require() {
  local missing=() tool
  for tool in containerd:containerd runc:runc containerd-shim-runc-v2:containerd busybox:busybox-static \
    iptables:iptables conntrack:conntrack; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
  done
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  ((${#missing[@]} == 0)) || {
    echo "cluster: the node needs Debian's ${missing[*]}: run scripts/setup --test" >&2
    return 1
  }
}

crictl_node() { "$CRICTL" --runtime-endpoint "unix://$CONTAINERD_SOCK" --timeout 30s "$@"; }
ctr_node() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

node_pki() {
  issue node "/O=system:nodes/CN=system:node:$NODE_NAME" "extendedKeyUsage=clientAuth"
  issue kubelet-serving "/CN=$NODE_NAME" "subjectAltName=IP:$HOST_IP,DNS:$NODE_NAME
extendedKeyUsage=serverAuth"
  issue kube-proxy "/CN=system:kube-proxy" "extendedKeyUsage=clientAuth"
  issue kube-scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  # What the API server shows the kubelet for logs, exec and port-forward.
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  local pki="$CLUSTER_DIR/pki" name
  for name in node kube-proxy kube-scheduler; do
    write_kubeconfig "$CLUSTER_DIR/$name.kubeconfig" "client-certificate: $pki/$name.crt" "client-key: $pki/$name.key"
  done
}

# The flags the API server needs to reach the kubelet (kubectl logs, exec), verifying its
# serving certificate; cp_up adds them when a node runs.
node_apiserver_flags() {
  local pki="$CLUSTER_DIR/pki"
  echo --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --enable-admission-plugins NodeRestriction
}

# The pause image: busybox-static sleeping; containerd kills the sandbox with SIGKILL.
node_pause_image() {
  local dir="$CONTAINERD_DIR/pause" oci_image
  build_tool tools/oci-image "-s -w" .
  oci_image="$(tool_dir tools/oci-image)/oci-image"
  mkdir -p "$dir/rootfs/bin"
  command install -m 0755 "$(command -v busybox)" "$dir/rootfs/bin/busybox"
  "$oci_image" -rootfs "$dir/rootfs" -ref "$PAUSE_IMAGE" -epoch 0 -layout "$dir/oci" \
    -archive "$dir/pause.tar" -user 65535:65535 -entrypoint '["/bin/busybox","sleep","2147483647"]' >/dev/null
  ctr_node images import "$dir/pause.tar" >/dev/null
}

node_containerd_config() {
  mkdir -p "$CONTAINERD_DIR" "$REGISTRY_HOSTS_DIR" "$CLUSTER_DIR/cni/net.d"
  cat >"$CONTAINERD_DIR/config.toml" <<EOF
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The machine lacks CAP_SYS_RESOURCE: runc may not lower a container's oom_score_adj below
  # containerd's own, and without this every sandbox fails ("can't get final child's PID from
  # pipe: EOF").
  restrict_oom_score_adj = true
  # Pod network namespaces under our state directory, so node_down finds and removes them all.
  netns_mounts_under_state_dir = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$CLUSTER_DIR/cni/net.d"
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "$REGISTRY_HOSTS_DIR"
EOF
  cat >"$CLUSTER_DIR/cni/net.d/10-pt-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "pt-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$CLUSTER_DIR/cni/ipam"
      }
    }
  ]
}
EOF
}

node_kubelet_config() {
  local pki="$CLUSTER_DIR/pki"
  cat >"$CLUSTER_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $HOST_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podLogsDir: $CLUSTER_DIR/pod-logs
# Debian's containerd runs runc with cgroupfs, and this machine has cgroup v1 only, which the
# kubelet refuses unless told.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
registerWithTaints:
- {key: $NODE_TAINT, effect: NoSchedule}
# The pod sync period, by which a changed ConfigMap reaches a pod's volume (watched, then written
# at the pod's next sync): the default is 1 min; 10 s keeps the suite's ConfigMap test short.
syncFrequency: 10s
# A VM's disk fills with other work (CI's builds, the registries' blobs). A disk signal makes the
# kubelet taint the node node.kubernetes.io/disk-pressure and the suite's pods stay Pending, as
# in stop 44's CI (1 % of a 252 GB disk is 2.5 GB). Only memory is set, so every disk signal is
# off: a set evictionHard replaces the defaults unless mergeDefaultEvictionSettings
# (cmd/kubelet/app/server.go).
evictionHard: {memory.available: 100Mi}
imageGCHighThresholdPercent: 100
EOF
}

node_proxy_config() {
  cat >"$CLUSTER_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_SUBNET
bindAddress: $HOST_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leaves the host's conntrack table size alone (it is the machine's, not the suite's).
conntrack: {maxPerCore: 0}
EOF
}

# Starts containerd, kube-scheduler, kube-proxy and the kubelet, and waits for the node to be
# Ready. Called by cp_up after the controller manager.
node_up() {
  local started=$SECONDS
  node_require
  node_containerd_config
  cp_log "containerd $(containerd --version | awk '{print $3}') (Debian) on $CONTAINERD_SOCK"
  start containerd containerd --config "$CONTAINERD_DIR/config.toml"
  wait_until 30 containerd ctr --address "$CONTAINERD_SOCK" version
  node_pause_image
  cp_log "kube-scheduler"
  start kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259
  node_proxy_config
  cp_log "kube-proxy (iptables) for Service routing from pods"
  start kube-proxy "$KUBE_BIN/kube-proxy" --config "$CLUSTER_DIR/kube-proxy.yaml"
  node_kubelet_config
  cp_log "kubelet: node $NODE_NAME at $HOST_IP, pods on $NODE_BRIDGE $POD_SUBNET"
  start kubelet "$KUBE_BIN/kubelet" --config "$CLUSTER_DIR/kubelet.yaml" \
    --kubeconfig "$CLUSTER_DIR/node.kubeconfig" --node-ip "$HOST_IP" \
    --hostname-override "$NODE_NAME" --root-dir "$CLUSTER_DIR/kubelet" --cert-dir "$CLUSTER_DIR/kubelet/pki"
  wait_until 120 "node $NODE_NAME Ready" node_ready
  cp_log "node $NODE_NAME Ready in $((SECONDS - started)) s (closed to pods: taint $NODE_TAINT;" \
    "$(df -h --output=avail "$CLUSTER_DIR" | tail -1 | tr -d ' ') free on its disk)"
}

node_ready() {
  [[ "$(kubectl_admin get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# The node takes the suite's pods (node files only): the suite's taint goes, and the node must
# then carry none, or the file fails here naming them rather than at each Pending pod.
node_open() {
  if node_taints | grep -q "^$NODE_TAINT:"; then
    kubectl_admin taint node "$NODE_NAME" "$NODE_TAINT:NoSchedule-" >/dev/null
  fi
  wait_until 60 "node $NODE_NAME without taints" node_untainted || {
    node_state >&2
    return 1
  }
}

node_taints() {
  kubectl_admin get node "$NODE_NAME" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect}{"\n"}{end}'
}

node_untainted() { [[ -z "$(node_taints 2>/dev/null)" ]]; }

# What keeps pods off the node: its taints, the conditions that are not as a healthy node has
# them, and the disk the kubelet measures.
node_state() {
  echo "node $NODE_NAME taints: $(node_taints | paste -sd ' ')"
  kubectl_admin get node "$NODE_NAME" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' |
    grep -v '^Ready=True \|^[A-Za-z]*=False ' | sed 's/^/node condition /'
  df -h "$CLUSTER_DIR" | sed 's/^/node disk: /'
}

node_close() {
  kubectl_admin taint node "$NODE_NAME" "$NODE_TAINT=:NoSchedule" --overwrite >/dev/null
}

# Stops the node and removes what it made on the host: pods (their network namespaces and the
# bridge), mounts under the state directory, kube-proxy's iptables chains, the pods' cgroups.
node_down() {
  stop_pid kubelet
  if [[ -S "$CONTAINERD_SOCK" && -x "${CRICTL:-}" ]]; then
    crictl_node rmp --all --force >/dev/null 2>&1 || true
  fi
  stop_pid kube-proxy
  stop_pid kube-scheduler
  [[ -x "${KUBE_BIN:-}/kube-proxy" ]] && "$KUBE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  stop_pid containerd
  # Shims outlive containerd on purpose (live restore); ours go with the node.
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
  local mount
  for mount in $(awk -v dir="$CLUSTER_DIR/" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$mount" 2>/dev/null || true
  done
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  local cgroup
  for cgroup in /sys/fs/cgroup/*/kubepods; do
    [[ -d "$cgroup" ]] && find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

#!/usr/bin/env bats
# pullthrough installed as users install it, on a real node: `helm install` of the chart with the
# image scripts/image built, its pods scheduled, probed and restarted by the kubelet, and
# workloads whose rewritten images containerd pulls through real pull-through caches
# (node_helpers.bash). The install serves a policies file from the chart's ConfigMap, with
# failurePolicy Fail, so an admission the webhook misses is a failed create, not a silent one.

load helpers
load node_helpers

CHART="$REPO/deploy/helm/pullthrough"
SELECTOR="app.kubernetes.io/name=pullthrough"

# policies_file [EXTRA SETTINGS LINE]: the install's policies file; the mirror check looks at the
# docker.io cache every second and counts it down after three failures.
policies_file() {
  cat <<EOF
pullthrough:
  module: /usr/share/pullthrough/policy.wasm
  allowedToMutate: true
  settings:
    mirror: $MIRROR
    rules:
      - registry: ghcr.io
        target: $GHCR_MIRROR
${1:+    $1
}  mirrorCheck:
    url: http://$HUB_CACHE
    intervalSeconds: 1
    failureThreshold: 3
EOF
}

setup_file() {
  require_node
  stop_replica a
  stop_replica b
  # What earlier runs or files left: the chart cannot adopt objects it did not make.
  k delete mutatingwebhookconfiguration pullthrough --ignore-not-found >/dev/null
  k delete clusterrolebinding pullthrough --ignore-not-found >/dev/null
  k delete clusterrole pullthrough --ignore-not-found >/dev/null
  k delete namespace "$INSTALL_NS" --ignore-not-found --timeout 120s >/dev/null
  node_open
  start_node_registries
  import_pullthrough_image
  policies_file >"$CLUSTER_DIR/node-policies.yml"
}

teardown_file() {
  stop_loop
  "$HELM" uninstall pullthrough -n "$INSTALL_NS" --ignore-not-found >/dev/null 2>&1 || true
  # serve registered it, so helm does not know it; with failurePolicy Fail and no pods left,
  # every later create in the suite would be refused.
  k delete mutatingwebhookconfiguration pullthrough --ignore-not-found >/dev/null
  k delete namespace pulls stream "$INSTALL_NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  k uncordon "$NODE_NAME" >/dev/null 2>&1 || true
  node_close
  stop_node_registries
}

teardown() {
  stop_loop
}

# The image the dry-run of a Deployment of IMAGE in namespace pulls comes back with.
dry_run() {
  k -n pulls create deployment probe --image="$1" --dry-run=server -o jsonpath='{.spec.template.spec.containers[0].image}'
}

rewrites() { [[ "$(dry_run busybox:1.36)" == "$MIRROR/library/busybox:1.36" ]]; }
leaves() { [[ "$(dry_run busybox:1.36)" == busybox:1.36 ]]; }

# The digest of the image's manifest, from what the pod's container runs.
image_id_digest() { pod_field pulls "app=$1" '.status.containerStatuses[0].imageID' | sed 's/.*@//'; }

@test "the node registered through the Node authorizer with its own certificate and is Ready" {
  run k --kubeconfig "$CLUSTER_DIR/node.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}'
  [ "$status" -eq 0 ]
  [[ "$output" == "system:node:$NODE_NAME "*'"system:nodes"'* ]]
  # The Node authorizer and NodeRestriction: a node reads only what its pods need.
  run k --kubeconfig "$CLUSTER_DIR/node.kubeconfig" get secrets -A
  [ "$status" -ne 0 ]
  [[ "$output" == *"Forbidden"* ]]
  run k get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion}'
  [[ "$output" == "$KUBE_VERSION containerd://1.6."* ]]
}

@test "helm install: two replicas become Ready through their probes and register the webhook themselves" {
  run "$HELM" install pullthrough "$CHART" -n "$INSTALL_NS" --create-namespace \
    --set-file policies="$CLUSTER_DIR/node-policies.yml" --set failurePolicy=fail --wait --timeout 180s
  echo "$output"
  [ "$status" -eq 0 ]
  wait_for 60 "two Ready replicas" ready_pods "$INSTALL_NS" "$SELECTOR" 2
  # The pods run the image scripts/image built (an imported image has no repository digest:
  # the CRI names it by its config's digest).
  layout="$TARGET_DIR/image/oci"
  manifest="$(jq -r '.manifests[0].digest' "$layout/index.json")"
  built="$(jq -r .config.digest "$layout/blobs/sha256/${manifest#sha256:}")"
  run k -n "$INSTALL_NS" get pods -l "$SELECTOR" -o jsonpath='{range .items[*]}{.status.containerStatuses[0].imageID}{"\n"}{end}'
  [ "$output" = "$built
$built" ]
  pod="$(k -n "$INSTALL_NS" get pods -l "$SELECTOR" -o jsonpath='{.items[0].metadata.name}')"
  run k -n "$INSTALL_NS" exec "$pod" -- /usr/local/bin/pullthrough --version
  [ "$status" -eq 0 ]
  # No shell in the image: exec of one fails.
  run k -n "$INSTALL_NS" exec "$pod" -- /bin/sh -c true
  [ "$status" -ne 0 ]
  run k -n "$INSTALL_NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}'
  [ "$output" = 0 ]
  # Nothing but the pods could have registered: the suite started no replica of its own.
  k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].clientConfig.service.namespace}/{.webhooks[0].clientConfig.service.name} {.webhooks[0].failurePolicy}' |
    grep -qx "$INSTALL_NS/pullthrough Fail"
  k -n "$INSTALL_NS" logs -l "$SELECTOR" --tail=-1 | grep -q 'registered the MutatingWebhookConfiguration'
}

@test "the API server calls the pods through their Service" {
  new_namespace pulls
  wait_for 30 "rewriting through the pods" rewrites
  admissions=0
  for ip in $(k -n "$INSTALL_NS" get pods -l "$SELECTOR" -o jsonpath='{.items[*].status.podIP}'); do
    count="$(curl -sf "http://$ip:9090/metrics" | awk '/^pullthrough_admission_requests_total/ {s += $2} END {print s + 0}')"
    admissions=$((admissions + count))
  done
  [ "$admissions" -gt 0 ]
}

@test "containerd pulls rewritten references through the caches: a tag and a digest, cold and warm" {
  tag_digest="$(push_busybox "$HUB" library/busybox:1.36)"
  tool_digest="$(push_busybox "$GHCR" org/tool:1)"
  direct_digest="$(push_busybox "$HUB" library/busybox:1.37)"
  k get namespace pulls >/dev/null 2>&1 || new_namespace pulls

  hub_blobs="$(blob_gets hub)"
  cold="$(run_workload pulls by-tag busybox:1.36)"
  by_digest="$(run_workload pulls by-digest "ghcr.io/org/tool@$tool_digest")"
  [ "$(pod_field pulls app=by-tag '.spec.containers[0].image')" = "$MIRROR/library/busybox:1.36" ]
  [ "$(image_id_digest by-tag)" = "$tag_digest" ]
  [ "$(pod_field pulls app=by-digest '.spec.containers[0].image')" = "$GHCR_MIRROR/org/tool@$tool_digest" ]
  [ "$(image_id_digest by-digest)" = "$tool_digest" ]
  # Each cache served its pull (and fetched from its upstream, being cold).
  [ "$(blob_gets hub-cache)" -gt 0 ]
  [ "$(blob_gets ghcr-cache)" -gt 0 ]
  [ "$(blob_gets hub)" -gt "$hub_blobs" ]
  echo "# pulled through the cache: busybox:1.36 -> $MIRROR/library/busybox:1.36 (imageID $tag_digest)" >&3
  echo "# pulled through the cache: ghcr.io/org/tool@${tool_digest:0:19}… -> $GHCR_MIRROR/org/tool@${tool_digest:0:19}… (imageID $tool_digest)" >&3

  # Warm: the node forgets the image, the cache does not; upstream sees no blob request.
  k -n pulls delete deployment by-tag --wait=true >/dev/null
  wait_for 60 "by-tag's pod gone" bash -c "[[ -z \$('$KUBE_BIN/kubectl' -n pulls get pods -l app=by-tag -o name) ]]"
  crictl_node rmi "$MIRROR/library/busybox:1.36" >/dev/null
  hub_blobs="$(blob_gets hub)"
  cache_blobs="$(blob_gets hub-cache)"
  warm="$(run_workload pulls warm busybox:1.36)"
  [ "$(image_id_digest warm)" = "$tag_digest" ]
  [ "$(blob_gets hub)" -eq "$hub_blobs" ]
  [ "$(blob_gets hub-cache)" -gt "$cache_blobs" ]

  # Opted out: left as written, pulled from upstream directly.
  direct="$(run_workload pulls direct busybox:1.37 'pullthrough.dev/rewrite: "false"')"
  [ "$(pod_field pulls app=direct '.spec.containers[0].image')" = busybox:1.37 ]
  [ "$(image_id_digest direct)" = "$direct_digest" ]
  echo "# create to Ready, one 1.1 MB image: cold through the cache ${cold} s, warm through the cache ${warm} s, direct from upstream ${direct} s (by digest, cold, through the ghcr cache ${by_digest} s)" >&3
}

@test "pull-to-Ready of a 64 MiB image: cold and warm through the cache, and direct from upstream" {
  push_busybox "$HUB" library/big:through 64 >/dev/null
  push_busybox "$HUB" library/big:direct 64 >/dev/null
  k get namespace pulls >/dev/null 2>&1 || new_namespace pulls
  cold="$(run_workload pulls big-cold big:through)"
  k -n pulls delete deployment big-cold --wait=true >/dev/null
  wait_for 60 "big-cold's pod gone" bash -c "[[ -z \$('$KUBE_BIN/kubectl' -n pulls get pods -l app=big-cold -o name) ]]"
  crictl_node rmi "$MIRROR/library/big:through" >/dev/null
  hub_blobs="$(blob_gets hub)"
  warm="$(run_workload pulls big-warm big:through)"
  [ "$(blob_gets hub)" -eq "$hub_blobs" ]
  direct="$(run_workload pulls big-direct big:direct 'pullthrough.dev/rewrite: "false"')"
  echo "# create to Ready, one 64 MiB image (incompressible): cold through the cache ${cold} s, warm through the cache ${warm} s, direct from upstream ${direct} s" >&3
  k -n pulls delete deployment big-warm big-direct --wait=false >/dev/null
}

# on_every_pod METRIC VALUE: each replica's /metrics has the sample METRIC (name and labels)
# at VALUE: the kubelet updates each pod's volume at that pod's own sync, and each replica checks
# the mirror on its own.
on_every_pod() {
  local ip value
  for ip in $(k -n "$INSTALL_NS" get pods -l "$SELECTOR" -o jsonpath='{.items[*].status.podIP}'); do
    value="$(curl -sf "http://$ip:9090/metrics" | awk -v m="$1" '$1 == m {print $2}')"
    [[ "$value" == "$2" ]] || return 1
  done
}

RELOADS='pullthrough_policy_reloads_total{policy="pullthrough",result="accepted"}'
MIRROR_UP='pullthrough_mirror_up{policy="pullthrough"}'

apply_policies() {
  k -n "$INSTALL_NS" create configmap pullthrough-policies --from-file=policies.yml="$1" \
    --dry-run=client -o yaml | k apply -f - >/dev/null 2>&1
}

@test "a changed policies ConfigMap reaches the running pods: the next admission uses it, no restart" {
  k get namespace pulls >/dev/null 2>&1 || new_namespace pulls
  wait_for 30 "rewriting" rewrites
  before="$(k -n "$INSTALL_NS" get pods -l "$SELECTOR" -o jsonpath='{range .items[*]}{.metadata.uid} {.status.containerStatuses[0].restartCount}{"\n"}{end}')"
  policies_file 'exclude: ["docker.io/library/busybox:*"]' >"$BATS_TEST_TMPDIR/policies.yml"
  applied="$(date +%s.%N)"
  apply_policies "$BATS_TEST_TMPDIR/policies.yml"
  wait_for 120 "the new settings in effect" leaves
  first="$(python3 -c 'import sys,time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$applied")"
  # The kubelet updates each pod's volume at that pod's own sync.
  wait_for 120 "both replicas swapped" on_every_pod "$RELOADS" 1
  both="$(python3 -c 'import sys,time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$applied")"
  leaves
  # Other images are still rewritten: the new file took effect whole, not a fallback.
  [ "$(dry_run nginx:1.27)" = "$MIRROR/library/nginx:1.27" ]
  # The same pods, never restarted.
  [ "$(k -n "$INSTALL_NS" get pods -l "$SELECTOR" -o jsonpath='{range .items[*]}{.metadata.uid} {.status.containerStatuses[0].restartCount}{"\n"}{end}')" = "$before" ]
  echo "# kubectl apply of the ConfigMap to the first admission with the new settings: ${first} s, to both replicas swapped: ${both} s (kubelet syncFrequency 10 s)" >&3
  apply_policies "$CLUSTER_DIR/node-policies.yml"
  wait_for 120 "both replicas back on the install's file" on_every_pod "$RELOADS" 2
  rewrites
}

# stream_workloads: creates suspended CronJobs in namespace stream until $BATS_TEST_TMPDIR/stop
# exists, recording each stored image, or the failure. Suspended, they give the controllers no
# work: a stream of Deployments would make a ReplicaSet each and queue the deployment controller
# behind them, and pullthrough's own rollout with it.
stream_workloads() {
  local i=0 image
  while [[ ! -f "$BATS_TEST_TMPDIR/stop" ]]; do
    i=$((i + 1))
    if image="$("$KUBE_BIN/kubectl" -n stream create -o jsonpath='{.spec.jobTemplate.spec.template.spec.containers[0].image}' -f - 2>>"$BATS_TEST_TMPDIR/errors" <<EOF
apiVersion: batch/v1
kind: CronJob
metadata: {name: c$i}
spec:
  schedule: "0 0 1 1 *"
  suspend: true
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: main, image: "busybox:1.36"}]
EOF
    )"; then
      echo "$image" >>"$BATS_TEST_TMPDIR/stored"
    else
      echo "c$i failed" >>"$BATS_TEST_TMPDIR/errors"
    fi
  done
}

@test "rollout restart and drain under a stream of creates: none fails, none unrewritten, the PDB keeps one replica" {
  new_namespace stream
  : >"$BATS_TEST_TMPDIR/stored"
  : >"$BATS_TEST_TMPDIR/errors"
  stream_workloads 3>&- &
  loop=$!
  sleep 2
  k -n "$INSTALL_NS" rollout restart deployment/pullthrough >/dev/null
  k -n "$INSTALL_NS" rollout status deployment/pullthrough --timeout 180s >/dev/null
  wait_for 60 "two Ready replicas after the restart" ready_pods "$INSTALL_NS" "$SELECTOR" 2
  sleep 2
  # One node: the first eviction leaves one Ready replica and its replacement cannot be scheduled
  # on the cordoned node, so the budget refuses the second until the drain gives up.
  run k drain "$NODE_NAME" --pod-selector "$SELECTOR" --timeout 25s
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Cannot evict pod as it would violate the pod's disruption budget"* ]]
  ready_pods "$INSTALL_NS" "$SELECTOR" 1
  sleep 2
  k uncordon "$NODE_NAME" >/dev/null
  wait_for 120 "two Ready replicas after the uncordon" ready_pods "$INSTALL_NS" "$SELECTOR" 2
  sleep 2
  touch "$BATS_TEST_TMPDIR/stop"
  wait "$loop"
  loop=""
  created="$(wc -l <"$BATS_TEST_TMPDIR/stored")"
  [ ! -s "$BATS_TEST_TMPDIR/errors" ] || { cat "$BATS_TEST_TMPDIR/errors"; false; }
  [ "$created" -gt 20 ]
  unrewritten="$(grep -vx "$MIRROR/library/busybox:1.36" "$BATS_TEST_TMPDIR/stored" || true)"
  [ -z "$unrewritten" ] || { sort <<<"$unrewritten" | uniq -c; false; }
  echo "# $created CronJobs created through a rollout restart and a drain: 0 failed, 0 unrewritten" >&3
  k delete namespace stream --wait=false >/dev/null
}

@test "the mirror stops: new pods start from upstream; it comes back: new pods use it again" {
  down_digest="$(push_busybox "$HUB" library/busybox:1.34)"
  up_digest="$(push_busybox "$HUB" library/busybox:1.33)"
  k get namespace pulls >/dev/null 2>&1 || new_namespace pulls
  wait_for 30 "rewriting" rewrites
  stopped="$(date +%s.%N)"
  stop_registry hub-cache
  wait_for 30 "every replica counting the mirror down" on_every_pod "$MIRROR_UP" 0
  detected="$(python3 -c 'import sys,time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$stopped")"
  leaves
  run_workload pulls while-down busybox:1.34 >/dev/null
  [ "$(pod_field pulls app=while-down '.spec.containers[0].image')" = busybox:1.34 ]
  [ "$(image_id_digest while-down)" = "$down_digest" ]

  start_cache hub-cache "$HUB_CACHE" "http://$HUB"
  started="$(date +%s.%N)"
  wait_for 30 "every replica counting the mirror up" on_every_pod "$MIRROR_UP" 1
  resumed="$(python3 -c 'import sys,time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$started")"
  rewrites
  run_workload pulls after-up busybox:1.33 >/dev/null
  [ "$(pod_field pulls app=after-up '.spec.containers[0].image')" = "$MIRROR/library/busybox:1.33" ]
  [ "$(image_id_digest after-up)" = "$up_digest" ]
  echo "# mirror stopped: every replica admitting unchanged ${detected} s later, and a new pod ran from upstream; mirror back: every replica rewriting ${resumed} s later, and a new pod ran through it" >&3
}

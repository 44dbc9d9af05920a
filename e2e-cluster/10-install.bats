#!/usr/bin/env bats
# Install on a fresh cluster: the manifests as printed, registration with exactly the rights they
# grant, a second replica sharing the CA, and unregister.

load helpers

teardown_file() {
  stop_replica b
}

@test "every object 'pullthrough manifests' prints is accepted by server-side apply as it is" {
  run bash -c "'$PULLTHROUGH' manifests --mirror '$MIRROR' | '$KUBE_BIN/kubectl' apply --server-side -f -"
  [ "$status" -eq 0 ]
  [[ "$output" == *"namespace/pullthrough serverside-applied"* ]]
  [[ "$output" == *"clusterrole.rbac.authorization.k8s.io/pullthrough serverside-applied"* ]]
  [[ "$output" == *"deployment.apps/pullthrough serverside-applied"* ]]
  [[ "$output" == *"service/pullthrough serverside-applied"* ]]
  [[ "$output" == *"poddisruptionbudget.policy/pullthrough serverside-applied"* ]]
  [[ "$output" == *"networkpolicy.networking.k8s.io/pullthrough serverside-applied"* ]]
  [ "$(grep -c serverside-applied <<<"$output")" -eq 10 ]
  publish_endpoints "${REPLICA_IPS[0]}"
}

@test "on a fresh cluster, the ClusterRole pullthrough 0.1.0 shipped (get, patch) makes serve --register exit 403" {
  # Server-side apply that creates the object is authorized as `create` (apiserver
  # endpoints/handlers/patch.go): with only get and patch every replica crash-looped.
  k get mutatingwebhookconfiguration pullthrough 2>&1 | grep -q NotFound
  k patch clusterrole pullthrough --type=json \
    -p '[{"op":"replace","path":"/rules/0/verbs","value":["get","patch"]}]' >/dev/null
  run start_replica a "${REPLICA_IPS[0]}"
  [ "$status" -eq 1 ]
  wait_for 10 "replica a exits" bash -c "! kill -0 $(replica_pid a)"
  log="$CLUSTER_DIR/logs/replica-a.log"
  grep -q 'could not apply MutatingWebhookConfiguration "pullthrough"' "$log"
  grep -q 'cannot create resource \\"mutatingwebhookconfigurations\\" in API group \\"admissionregistration.k8s.io\\" at the cluster scope' "$log"
  # The shipped role again (taking back the verbs the patch above now owns).
  "$PULLTHROUGH" manifests --mirror "$MIRROR" | k apply --server-side --force-conflicts -f - >/dev/null
}

@test "the ServiceAccount may create its own Secret and no other" {
  sa="system:serviceaccount:$INSTALL_NS:pullthrough"
  for verb in get create patch update; do
    [ "$(k auth can-i "$verb" secrets/pullthrough-tls -n "$INSTALL_NS" --as "$sa")" = yes ]
  done
  for target in secrets/other secrets; do
    run k auth can-i create "$target" -n "$INSTALL_NS" --as "$sa"
    [ "$output" = no ]
  done
  run k auth can-i list secrets -n "$INSTALL_NS" --as "$sa"
  [ "$output" = no ]
}

@test "serve --register as the ServiceAccount creates the Secret and registers on a fresh cluster" {
  k -n "$INSTALL_NS" delete secret pullthrough-tls --ignore-not-found >/dev/null
  run k get mutatingwebhookconfiguration pullthrough
  [[ "$output" == *NotFound* ]]
  start_replica a "${REPLICA_IPS[0]}"
  grep -q "stored new certificate material" "$CLUSTER_DIR/logs/replica-a.log"
  grep -q "registered the MutatingWebhookConfiguration" "$CLUSTER_DIR/logs/replica-a.log"
  bundle="$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d)"
  [ "$bundle" = "$(cat "$CLUSTER_DIR/replica-a.ca")" ]
  secret_ca="$(k -n "$INSTALL_NS" get secret pullthrough-tls -o jsonpath='{.data.ca\.crt}' | base64 -d)"
  [ "$secret_ca" = "$(cat "$CLUSTER_DIR/replica-a.ca")" ]
  # Created by server-side apply, under the replica's own field manager.
  run k -n "$INSTALL_NS" get secret pullthrough-tls -o jsonpath='{range .metadata.managedFields[*]}{.manager} {.operation}{"\n"}{end}'
  [[ "$output" =~ ^pullthrough-[0-9a-f]{16}\ Apply$ ]]
  # The API server reaches the replica through the Service and verifies it against the bundle.
  new_namespace install-check
  wait_for 30 "the API server rewriting" rewriting_in install-check
}

@test "a second replica reuses the Secret and serves the same CA" {
  start_replica b "${REPLICA_IPS[1]}"
  publish_endpoints "${REPLICA_IPS[@]}"
  cmp "$CLUSTER_DIR/replica-a.ca" "$CLUSTER_DIR/replica-b.ca"
  run grep -q "stored new certificate material" "$CLUSTER_DIR/logs/replica-b.log"
  [ "$status" -eq 1 ]
  # Both replicas present a chain the shared CA verifies for the in-cluster service name.
  for ip in "${REPLICA_IPS[@]}"; do
    run ip netns exec "$NETNS" curl -sS --cacert "$CLUSTER_DIR/replica-a.ca" \
      --resolve "pullthrough.pullthrough.svc:8443:$ip" https://pullthrough.pullthrough.svc:8443/readyz
    [ "$status" -eq 0 ]
    [ "$output" = ready ]
  done
  # Each is called by the API server: both log admissions after a few requests.
  for i in $(seq 1 20); do dry_run_image install-check >/dev/null; done
  grep -q 'namespace=install-check' "$CLUSTER_DIR/logs/replica-a.log"
  grep -q 'namespace=install-check' "$CLUSTER_DIR/logs/replica-b.log"
}

@test "two replicas starting together on a cluster without the Secret end with one CA" {
  stop_replica a
  stop_replica b
  k -n "$INSTALL_NS" delete secret pullthrough-tls >/dev/null
  start_replica a "${REPLICA_IPS[0]}" &
  started_a=$!
  start_replica b "${REPLICA_IPS[1]}" &
  started_b=$!
  wait "$started_a"
  wait "$started_b"
  cmp "$CLUSTER_DIR/replica-a.ca" "$CLUSTER_DIR/replica-b.ca"
  secret_ca="$(k -n "$INSTALL_NS" get secret pullthrough-tls -o jsonpath='{.data.ca\.crt}' | base64 -d)"
  [ "$secret_ca" = "$(cat "$CLUSTER_DIR/replica-a.ca")" ]
  # Exactly one stored its material; the other read it, after a 409 if its apply came second.
  stored="$(cat "$CLUSTER_DIR"/logs/replica-{a,b}.log | grep -c "stored new certificate material")"
  [ "$stored" -eq 1 ]
  grep -h "another replica stored the certificate material first" "$CLUSTER_DIR"/logs/replica-{a,b}.log || true
  [ "$(k -n "$INSTALL_NS" get secret pullthrough-tls -o jsonpath='{.metadata.managedFields[*].manager}' | wc -w)" -eq 1 ]
}

@test "unregister removes what register made" {
  run "$PULLTHROUGH" unregister
  [ "$status" -eq 0 ]
  [ "$output" = "deleted MutatingWebhookConfiguration pullthrough" ]
  run k get mutatingwebhookconfiguration pullthrough
  [[ "$output" == *NotFound* ]]
  wait_for 10 "the API server no longer calling the webhook" not_rewriting_in install-check
  run "$PULLTHROUGH" unregister
  [ "$status" -eq 0 ]
  [ "$output" = "MutatingWebhookConfiguration pullthrough was not registered" ]
  stop_replica a
  stop_replica b
  publish_endpoints "${REPLICA_IPS[0]}"
}

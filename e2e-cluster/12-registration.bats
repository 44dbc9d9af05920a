#!/usr/bin/env bats
# Registration as an operator lives with it: infrastructure namespaces are never rewritten (and
# kube-system not even with the namespace selector gone), an
# emergency edit by another field manager stays (reported, not reverted), `register
# --force-conflicts` takes it back, and a replica never rewrites what a newer version wrote.

load helpers

setup_file() {
  ensure_webhook
  for ns in zot calico-system team-infra; do
    k get namespace "$ns" >/dev/null 2>&1 || new_namespace "$ns"
  done
}

teardown_file() {
  # Leave the default registration for the suites after this one.
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}"
}

@test "the default exclusions keep the mirror's and the CNI's namespaces away from the webhook" {
  run k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].namespaceSelector.matchExpressions[0].values}'
  [[ "$output" == *'"zot"'* && "$output" == *'"calico-system"'* && "$output" == *'"kube-system"'* ]]
  not_rewriting_in zot
  not_rewriting_in calico-system
  rewriting_in team-infra
}

@test "with the namespaceSelector removed by hand, the server still never rewrites in kube-system" {
  # Defence in depth: the selector is the first line; serve refuses the rewrite itself.
  k patch mutatingwebhookconfiguration pullthrough --type=json --field-manager=oncall \
    -p '[{"op":"remove","path":"/webhooks/0/namespaceSelector"}]' >/dev/null
  image="$(k -n kube-system run guarded --image=nginx:1.27 --restart=Never \
    -o jsonpath='{.spec.containers[0].image}' 2>"$BATS_TEST_TMPDIR/stderr")"
  k -n kube-system delete pod guarded --wait=false >/dev/null
  cat "$BATS_TEST_TMPDIR/stderr"
  [ "$image" = nginx:1.27 ]
  grep -q '^Warning: pullthrough: namespace kube-system is never rewritten; images left unchanged$' "$BATS_TEST_TMPDIR/stderr"
  grep -q 'rewrite refused: this namespace is never rewritten' "$CLUSTER_DIR/logs/replica-a.log"
  # The same call for another namespace is rewritten: the webhook was called and answered.
  rewriting_in team-infra
  # Server-side apply does not put a removed field back: start from a fresh configuration.
  k delete mutatingwebhookconfiguration pullthrough >/dev/null
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}"
  run k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].namespaceSelector.matchExpressions[0].values}'
  [[ "$output" == *'"kube-system"'* ]]
}

@test "--exclude-namespaces replaces the list; our own namespace and kube-system stay excluded" {
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}" --exclude-namespaces team-infra
  run k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].namespaceSelector.matchExpressions[0].values}'
  [ "$output" = '["pullthrough","kube-system","team-infra"]' ]
  wait_for 10 "team-infra excluded" not_rewriting_in team-infra
  rewriting_in zot
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}"
}

@test "an operator's emergency edit survives a restart: the conflict is logged, the replica serves" {
  k patch mutatingwebhookconfiguration pullthrough --type=json --field-manager=oncall \
    -p '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Fail"}]' >/dev/null
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}"
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].failurePolicy}')" = Fail ]
  log="$CLUSTER_DIR/logs/replica-a.log"
  grep -q 'was changed by another field manager and pullthrough leaves that change alone' "$log"
  grep -q 'failurePolicy' "$log"
  grep -q 'oncall' "$log"
  rewriting_in team-infra
  # register without --force-conflicts refuses the same way, and exits non-zero.
  run "$PULLTHROUGH" register --ca-file "$CLUSTER_DIR/replica-a.ca"
  [ "$status" -ne 0 ]
  [[ "$output" == *'re-register with `pullthrough register --force-conflicts`'* ]]
  run "$PULLTHROUGH" register --ca-file "$CLUSTER_DIR/replica-a.ca" --force-conflicts
  [ "$status" -eq 0 ]
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].failurePolicy}')" = Ignore ]
}

@test "a replica leaves alone a configuration a newer pullthrough wrote (rolling update)" {
  k annotate --overwrite --field-manager=pullthrough mutatingwebhookconfiguration pullthrough \
    pullthrough.dev/version=999.0.0 >/dev/null
  k patch mutatingwebhookconfiguration pullthrough --type=json --field-manager=pullthrough \
    -p '[{"op":"replace","path":"/webhooks/0/timeoutSeconds","value":7}]' >/dev/null
  stop_replica a
  start_replica a "${REPLICA_IPS[0]}"
  grep -q 'a newer pullthrough wrote the MutatingWebhookConfiguration; leaving it as it is' "$CLUSTER_DIR/logs/replica-a.log"
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].timeoutSeconds}')" = 7 ]
  k delete mutatingwebhookconfiguration pullthrough >/dev/null
  stop_replica a
}

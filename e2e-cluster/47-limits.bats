#!/usr/bin/env bats
# The largest review the real API server sends: an UPDATE of the largest Deployment it stores
# carries that object twice (object and oldObject). pullthrough must accept it, or under
# failurePolicy Ignore the update goes through unrewritten. A recorder registered before ours
# keeps the byte count of each review the API server sent.

load helpers

RECORDS="$CLUSTER_DIR/helper/records"

setup_file() {
  ensure_webhook
  start_helper_webhook
  new_namespace limits
  register_helper ab-size /record limits \
    '[{apiGroups: [apps], apiVersions: [v1], operations: [UPDATE], resources: [deployments], scope: Namespaced}]'
}

teardown_file() {
  k delete mutatingwebhookconfiguration ab-size --ignore-not-found >/dev/null
}

# deployment NAME FILLER BYTES: a Deployment whose one env value is BYTES copies of FILLER.
deployment() {
  python3 - "$@" <<'PY'
import json, sys
name, filler, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(json.dumps({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": name, "namespace": "limits"},
    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
             "template": {"metadata": {"labels": {"app": name}},
                          "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                                   "env": [{"name": "BIG", "value": filler * size}]}]}}}}))
PY
}

# largest NAME FILLER: creates the largest such Deployment the API server stores (to 10 kB);
# prints its value size.
largest() {
  local name="$1" filler="$2" low=100000 high=3200000 mid
  while ((high - low > 10000)); do
    mid=$(((low + high) / 2))
    # A real create: a server-side dry run never reaches etcd, whose client refuses to send
    # more than 2 MiB (the limit that decides here), so it would accept far larger objects.
    if deployment "$name-probe" "$filler" "$mid" | k create -f - >/dev/null 2>&1; then
      k -n limits delete deployment "$name-probe" --wait=false >/dev/null
      low=$mid
    else
      high=$mid
    fi
  done
  deployment "$name" "$filler" "$low" | k create -f - >/dev/null
  echo "$low"
}

@test "an UPDATE of the largest Deployment the API server stores is accepted and rewritten" {
  local filler name size file bytes largest_review=0
  for filler in a '<'; do
    name="big-$([[ $filler == a ]] && echo plain || echo escaped)"
    size="$(largest "$name" "$filler")"
    rm -f "$RECORDS"/*.json
    k -n limits set image "deployment/$name" app=nginx:1.28 >/dev/null
    [ "$(k -n limits get deployment "$name" -o jsonpath='{.spec.template.spec.containers[0].image}')" = "$MIRROR/library/nginx:1.28" ]
    file="$(ls "$RECORDS"/*.json | head -1)"
    bytes="$(jq .body_bytes "$file")"
    echo "# $name: env value of $size x '$filler' stored; its UPDATE review is $bytes bytes" >&3
    ((bytes > largest_review)) && largest_review=$bytes
  done
  # The limit must hold what the API server sends, with room to spare.
  limit=$((7 * 1024 * 1024))
  echo "# largest review $largest_review bytes; pullthrough accepts $limit" >&3
  ((largest_review < limit))
  run grep -q '"status":413\|status=413' "$CLUSTER_DIR/logs/replica-a.log"
  [ "$status" -eq 1 ]
}

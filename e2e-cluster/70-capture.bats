#!/usr/bin/env bats
# What this API server really sends a webhook: a recorder registered before ours (configurations
# run in name order) keeps the request line, headers and AdmissionReview of a Pod CREATE, a
# Deployment UPDATE, an ephemeral container, and a Pod and a Deployment CREATE with image volumes
# (GA in Kubernetes 1.36); pullthrough must answer each as sent.
# PULLTHROUGH_KEEP_CAPTURES=DIR copies them there (fixtures/admission/kube-apiserver-* are those).

load helpers

RECORDS="$CLUSTER_DIR/helper/records"

setup_file() {
  ensure_webhook
  start_helper_webhook
  new_namespace capture
  register_helper aa-record /record capture \
    '[{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, pods/ephemeralcontainers], scope: Namespaced},
      {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments], scope: Namespaced}]'
  wait_for 30 "the recorder" bash -c "'$KUBE_BIN/kubectl' -n capture run probe --image=nginx:1.27 --restart=Never --dry-run=server >/dev/null && ls '$RECORDS'/*.json"
  rm -f "$RECORDS"/*.json
  k -n capture run web --image=nginx:1.27 --restart=Never >/dev/null
  k -n capture create deployment app --image=nginx:1.27 >/dev/null
  k -n capture set image deployment/app nginx=nginx:1.28 >/dev/null
  k -n capture debug web --image=busybox:1.36 -c debugger --profile=general >/dev/null 2>&1
  k -n capture apply -f "$REPO/e2e-cluster/objects/image-volumes.yaml" >/dev/null
}

teardown_file() {
  k delete mutatingwebhookconfiguration aa-record --ignore-not-found >/dev/null
}

# record KIND OPERATION [SUBRESOURCE] [NAME]: the path of the first capture of that request.
record() {
  local file
  for file in "$RECORDS"/*.json; do
    if jq -e --arg kind "$1" --arg op "$2" --arg sub "${3:-}" --arg name "${4:-}" \
      '.review.request | .kind.kind == $kind and .operation == $op and (.subResource // "") == $sub and (.dryRun | not)
        and ($name == "" or .name == $name)' \
      "$file" >/dev/null; then
      echo "$file"
      return 0
    fi
  done
  echo "no capture of $* among $(ls "$RECORDS")" >&2
  return 1
}

keep() {
  [[ -n "${PULLTHROUGH_KEEP_CAPTURES:-}" ]] || return 0
  mkdir -p "$PULLTHROUGH_KEEP_CAPTURES"
  jq '.review' "$1" >"$PULLTHROUGH_KEEP_CAPTURES/$2.json"
  jq '{path, query, headers}' "$1" >"$PULLTHROUGH_KEEP_CAPTURES/$2.request.json"
}

# replay FILE: posts the captured review to replica a exactly as the API server sent it (query
# string and headers included) and prints the decoded patch.
replay() {
  local query
  query="$(jq -r '.query' "$1")"
  jq '.review' "$1" >"$BATS_TEST_TMPDIR/review.json"
  ip netns exec "$NETNS" curl -sS --fail --cacert "$CLUSTER_DIR/replica-a.ca" \
    --resolve "pullthrough.pullthrough.svc:8443:${REPLICA_IPS[0]}" \
    -H "Content-Type: $(jq -r '.headers["Content-Type"]' "$1")" \
    -H "Accept: $(jq -r '.headers["Accept"]' "$1")" \
    -H "User-Agent: $(jq -r '.headers["User-Agent"]' "$1")" \
    --data-binary "@$BATS_TEST_TMPDIR/review.json" \
    "https://pullthrough.pullthrough.svc:8443/mutate?$query" |
    jq -r '.response.patch' | base64 -d | jq -c '[.[] | select(.path | test("image(/reference)?$"))]'
}

@test "the request line and headers the API server sends" {
  file="$(record Pod CREATE)"
  [ "$(jq -r .query "$file")" = "timeout=10s" ]
  [ "$(jq -r '.headers["Content-Type"]' "$file")" = "application/json" ]
  [[ "$(jq -r '.headers["Accept"]' "$file")" == "application/json"* ]]
  [[ "$(jq -r '.headers["User-Agent"]' "$file")" == "kube-apiserver-admission"* ]]
  jq '{path, query, headers}' "$file" >&3
}

@test "Pod CREATE as sent: rewritten by pullthrough" {
  file="$(record Pod CREATE)"
  keep "$file" pod-create
  [ "$(replay "$file")" = "[{\"op\":\"replace\",\"path\":\"/spec/containers/0/image\",\"value\":\"$MIRROR/library/nginx:1.27\"}]" ]
}

@test "Deployment UPDATE (kubectl set image) as sent: the changed image is rewritten" {
  file="$(record Deployment UPDATE)"
  keep "$file" deployment-update
  [ "$(jq -r '.review.request.oldObject.spec.template.spec.containers[0].image' "$file")" = "$MIRROR/library/nginx:1.27" ]
  [ "$(replay "$file")" = "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"$MIRROR/library/nginx:1.28\"}]" ]
}

@test "ephemeral container (kubectl debug) as sent: the new container is rewritten" {
  file="$(record Pod UPDATE ephemeralcontainers)"
  keep "$file" pod-ephemeralcontainers-update
  [ "$(replay "$file")" = "[{\"op\":\"replace\",\"path\":\"/spec/ephemeralContainers/0/image\",\"value\":\"$MIRROR/library/busybox:1.36\"}]" ]
}

@test "Pod CREATE with image volumes as sent: the image volume is rewritten, no other volume" {
  file="$(record Pod CREATE "" with-volumes)"
  keep "$file" pod-image-volume-create
  # The API server adds the service account token's projected volume before any webhook.
  [ "$(jq -c '[.review.request.object.spec.volumes[] | keys[]] | sort' "$file")" = '["configMap","emptyDir","image","image","name","name","name","name","name","projected"]' ]
  [ "$(replay "$file")" = "[{\"op\":\"replace\",\"path\":\"/spec/containers/0/image\",\"value\":\"$MIRROR/library/nginx:1.27\"},{\"op\":\"replace\",\"path\":\"/spec/volumes/1/image/reference\",\"value\":\"$MIRROR/library/busybox:1.36\"}]" ]
}

@test "Deployment CREATE with an image volume as sent: the template's image volume is rewritten" {
  file="$(record Deployment CREATE "" with-volumes)"
  keep "$file" deployment-image-volume-create
  [ "$(replay "$file")" = "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"$MIRROR/library/nginx:1.27\"},{\"op\":\"replace\",\"path\":\"/spec/template/spec/volumes/0/image/reference\",\"value\":\"$MIRROR/library/busybox:1.36\"}]" ]
}

@test "stored through the real API server: image volumes rewritten, other volumes as written, the originals recorded" {
  pod="$(k -n capture get pod with-volumes -o json)"
  [ "$(jq -r '.spec.volumes[1].image.reference' <<<"$pod")" = "$MIRROR/library/busybox:1.36" ]
  [ "$(jq -r '.spec.volumes[3].image.reference' <<<"$pod")" = "$MIRROR/team/already:1" ]
  [ "$(jq -c '.spec.volumes[0], .spec.volumes[2]' <<<"$pod")" = '{"configMap":{"defaultMode":420,"name":"settings"},"name":"settings"}
{"emptyDir":{},"name":"scratch"}' ]
  [ "$(jq -r '.metadata.annotations["pullthrough.dev/original-images"]' <<<"$pod")" = '{"volume:models":"busybox:1.36","web":"nginx:1.27"}' ]
  deployment="$(k -n capture get deployment with-volumes -o json)"
  [ "$(jq -r '.spec.template.spec.volumes[0].image.reference' <<<"$deployment")" = "$MIRROR/library/busybox:1.36" ]
}

@test "a Pod whose one image off the mirror is a volume's is still sent and rewritten (match conditions count volumes)" {
  k -n capture run only-volume --restart=Never --image="$MIRROR/library/nginx:1.27" \
    --overrides='{"spec": {"volumes": [{"name": "models", "image": {"reference": "busybox:1.36"}}]}}' >/dev/null
  [ "$(k -n capture get pod only-volume -o jsonpath='{.spec.volumes[0].image.reference}')" = "$MIRROR/library/busybox:1.36" ]
}

@test "warnings through the real API server name the container and why within 256 characters" {
  # The longest references of the reference tables: a path of 256 and a hub name over 255 once
  # normalised; the API server itself takes any image that is not blank.
  local name=the-longest-container-name-a-dns-label-allows-is-sixty-three-ch
  local path256 hub248
  path256="example.com/$(printf 'a%.0s' {1..256})"
  hub248="$(printf 'a%.0s' {1..248})"
  warnings="$(k -n capture apply --dry-run=server -o name -f - 2>&1 >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: long-references}
spec:
  containers:
    - {name: $name, image: "$path256:tag"}
    - {name: hub, image: "$hub248"}
  volumes:
    - {name: $name, image: {reference: "$path256@sha256:$(printf 'f%.0s' {1..64})"}}
YAML
)"
  echo "$warnings" >&3
  [ "$(grep -c '^Warning: ' <<<"$warnings")" -eq 3 ]
  while IFS= read -r line; do
    text="${line#Warning: }"
    (($(LC_ALL=C.UTF-8 wc -m <<<"$text") - 1 <= 256))
    [[ "$text" == "pullthrough: container \"$name\" left unchanged: not a valid image reference: repository name must not be more than 255 characters; image \"example.com/aaa"*"aaa:tag\"" ||
      "$text" == "pullthrough: container \"hub\" left unchanged: not a valid image reference: repository name must not be more than 255 characters; image \"aaa"*"aaa\"" ||
      "$text" == "pullthrough: volume \"$name\" left unchanged: not a valid image reference: repository name must not be more than 255 characters; image \"example.com/aaa"*"ffff\"" ]]
  done < <(grep '^Warning: ' <<<"$warnings")
}

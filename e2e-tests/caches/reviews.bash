# AdmissionReviews for the real-cache suites (caches.bats, zot.bats): a Pod with the images to
# pull, the images the server's patch leaves in it, and the server's metrics.

# pod_review FILE REFERENCE...: an AdmissionReview creating a Pod with one container per reference.
pod_review() {
  local file="$1"
  shift
  python3 - "$file" "$@" <<'EOF'
import json, sys
images = sys.argv[2:]
containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "caches", "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "namespace": "caches", "operation": "CREATE",
    "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "caches"},
               "spec": {"containers": containers}}}}
json.dump(review, open(sys.argv[1], "w"))
EOF
}

# The image of each container after the response's patch, one per line (unchanged ones too).
patched_images() {
  python3 -c '
import base64, json, sys
review, request = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
images = [c["image"] for c in request["request"]["object"]["spec"]["containers"]]
patch = review["response"].get("patch")
for op in json.loads(base64.b64decode(patch)) if patch else []:
    parts = op["path"].split("/")
    if parts[1:3] == ["spec", "containers"] and parts[4:] == ["image"]:
        images[int(parts[3])] = op["value"]
print("\n".join(images))' "$1" "$2"
}

# rewrite ORIGINAL...: posts a Pod with these images to the running server (start_server) and
# prints the images its patch leaves, one per line; fails unless the server answers 200.
rewrite() {
  pod_review "$BATS_TEST_TMPDIR/review.json" "$@"
  local response
  response="$(post /mutate "$BATS_TEST_TMPDIR/review.json")"
  [[ "$(tail -n1 <<<"$response")" == 200 ]] || {
    echo "the server answered: $response" >&2
    return 1
  }
  sed '$d' <<<"$response" >"$BATS_TEST_TMPDIR/response.json"
  patched_images "$BATS_TEST_TMPDIR/response.json" "$BATS_TEST_TMPDIR/review.json"
}

# metric LINE: the running server's /metrics has exactly this line.
metric() { curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" | grep -x "$1"; }

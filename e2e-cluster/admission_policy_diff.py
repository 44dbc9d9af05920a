"""The generated MutatingAdmissionPolicy against policy.wasm, through the real API server, for
e2e-cluster/75-admission-policy.bats:

    admission_policy_diff.py prepare NAMESPACE
    admission_policy_diff.py compare NAMESPACE CONFIG SETTINGS_JSON [--variants]
                             [--wasm-settings JSON]

prepare stores the old objects of the UPDATE fixtures as they are (run it before any policy is
bound). compare installs the policy `pullthrough manifests --admission-policy` generates from
SETTINGS_JSON (failurePolicy Fail, so a CEL error fails the request instead of hiding), then sends
every listed reference (fixtures/references: in Deployments of 40 containers) and every
admission fixture (fixtures/admission: the shared copies, the derived ones and this API server's
captures) to the API server with server-side dry-run, and runs the same request through
policy.wasm (`pullthrough run`). What is compared: each container's image, the pod spec's
imagePullSecrets and the originals annotation. A request validation refuses (an empty image,
ephemeral containers on create) is read from the recorder webhook, which the API server calls
after the policy. --variants adds, per CREATE fixture, the pod spec with pull secrets of its own
or the mirror's, an opted-out object or template, a static pod, and an originals annotation
already there (compact, reformatted, or with a JSON escape).

One JSON line per difference, then a summary line; exits 1 on a difference LISTED does not name,
or when a LISTED difference no longer occurs.
--wasm-settings gives policy.wasm other settings than the admission policy's: the suite's check
that a difference is caught.
Environment: KUBE_BIN, CLUSTER_DIR, APISERVER, PULLTHROUGH, REPO, RECORDS.
"""
import base64
import copy
import glob
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

ENV = os.environ
REPO, CLUSTER_DIR = ENV["REPO"], ENV["CLUSTER_DIR"]
KUBECTL = os.path.join(ENV["KUBE_BIN"], "kubectl")
ORIGINALS = "pullthrough.dev/original-images"
CHUNK = 40
# A difference the admission policy cannot avoid, by variant: the reason, which
# `manifests --admission-policy` also says on standard error (admission_policy::NOTES).
LISTED = {
    "escaped-originals": "an originals annotation with a JSON escape in a string is replaced, not "
    "merged: CEL in Kubernetes cannot parse JSON, and no container name or image needs an escape",
}
FIXTURES = sorted(
    glob.glob(f"{REPO}/fixtures/admission/*.json")
    + glob.glob(f"{REPO}/fixtures/admission/derived/*.json")
    + [f for f in glob.glob(f"{REPO}/fixtures/admission/kube-apiserver-v1.37.2/*.json")
       if not f.endswith(".request.json")]
)


def api(method, path, body=None):
    """(status, JSON) of one request to the API server as the suite's admin."""
    context = ssl.create_default_context(cafile=f"{CLUSTER_DIR}/pki/ca.crt")
    context.load_cert_chain(f"{CLUSTER_DIR}/pki/admin.crt", f"{CLUSTER_DIR}/pki/admin.key")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ENV["APISERVER"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def collection(resource, namespace):
    prefix = "/api/v1" if resource["group"] == "" else f"/apis/{resource['group']}/{resource['version']}"
    return f"{prefix}/namespaces/{namespace}/{resource['resource']}"


def pod_spec(obj):
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.setdefault("spec", {})
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"].setdefault("spec", {})
    return obj["spec"]["template"].setdefault("spec", {})


def sanitize(obj, namespace, name):
    """The fixture's object as a client in NAMESPACE would send it."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.setdefault("metadata", {})
    for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation",
                  "selfLink", "ownerReferences", "generateName"):
        meta.pop(field, None)
    meta["namespace"], meta["name"] = namespace, name
    return obj


def view(obj):
    """What the rewrite may change in an object."""
    spec = pod_spec(copy.deepcopy(obj)) if obj else {}
    images = {}
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(field) or []):
            # The API server leaves out an empty image when it serialises the object.
            images[f"{field}/{container.get('name', i)}"] = container.get("image", "")
    for i, volume in enumerate(spec.get("volumes") or []):
        if "image" in volume:
            images[f"volumes/{volume.get('name', i)}"] = volume["image"].get("reference", "")
    return {
        "images": images,
        "imagePullSecrets": [s.get("name") for s in spec.get("imagePullSecrets") or []],
        "originals": ((obj or {}).get("metadata") or {}).get("annotations", {}).get(ORIGINALS),
    }


def only_differing(view, other):
    """VIEW with only the images that differ from OTHER's."""
    images = {k: v for k, v in view["images"].items() if other["images"].get(k) != v}
    return {**view, "images": images}


def patched(obj, patch):
    """OBJ with a JSON patch of add and replace operations applied (what pullthrough emits)."""
    obj = copy.deepcopy(obj)
    for op in patch:
        keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"].split("/")[1:]]
        parent = obj
        for key in keys[:-1]:
            parent = parent[int(key)] if isinstance(parent, list) else parent[key]
        last = keys[-1]
        if op["op"] not in ("add", "replace"):
            raise ValueError(f"unexpected patch operation {op}")
        if isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            elif op["op"] == "add":
                parent.insert(int(last), op["value"])
            else:
                parent[int(last)] = op["value"]
        else:
            parent[last] = op["value"]
    return obj


def wasm(settings, request):
    """The object as policy.wasm leaves it."""
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    out = subprocess.run(
        [ENV["PULLTHROUGH"], "run", "--settings-json", settings, "-r", "-",
         "--module-cache-dir", f"{CLUSTER_DIR}/module-cache", f"{REPO}/policy.wasm"],
        input=json.dumps(review), capture_output=True, text=True, check=True)
    response = json.loads(out.stdout)
    if not response.get("allowed"):
        raise RuntimeError(f"policy.wasm refused {request['name']}: {response}")
    if "patch" not in response:
        return request["object"]
    return patched(request["object"], json.loads(base64.b64decode(response["patch"])))


def recorded(namespace, name):
    """The object the recorder webhook saw for NAME, after the policy (admit clears the records
    before each request)."""
    for path in sorted(glob.glob(f"{ENV['RECORDS']}/*.json"), reverse=True):
        with open(path) as f:
            request = json.load(f)["review"]["request"]
        if request.get("namespace") == namespace and request.get("name") == name:
            return request["object"]
    return None


def admit(method, path, body, namespace, name):
    """The object the API server admits (server-side dry-run), and how it was seen."""
    for record in glob.glob(f"{ENV['RECORDS']}/*.json"):
        os.remove(record)
    status, answer = api(method, f"{path}?dryRun=All", body)
    if status < 300:
        return answer, "stored"
    seen = recorded(namespace, name)
    if seen is None:
        raise RuntimeError(f"{method} {path}: {status} {answer.get('message')} (never admitted)")
    return seen, f"refused after admission: {answer.get('message', '')[:120]}"


def request_for(review_request, obj, namespace, operation, old=None, sub=""):
    return {"uid": f"diff-{obj['metadata']['name']}", "kind": review_request["kind"],
            "resource": review_request["resource"], "subResource": sub,
            "namespace": namespace, "name": obj["metadata"]["name"], "operation": operation,
            "object": obj, "oldObject": old}


def load(path):
    with open(path) as f:
        return json.load(f)["request"]


def base(path):
    return os.path.basename(path)[: -len(".json")]


def prepare(namespace):
    for path in FIXTURES:
        request = load(path)
        if request["operation"] != "UPDATE":
            continue
        name = f"old-{base(path)}"
        old = sanitize(request["oldObject"], namespace, name)
        # Stored anew, as sent: a copy from an earlier run may have been stored under a policy.
        url = f"{collection(request['resource'], namespace)}/{name}"
        api("DELETE", f"{url}?gracePeriodSeconds=0")
        wait_for(f"{url} deleted", lambda: api("GET", url)[0] == 404)
        status, answer = api("POST", collection(request["resource"], namespace), old)
        if status >= 300:
            raise RuntimeError(f"{path}: storing the old object: {answer.get('message')}")


def static(obj):
    """OBJ as the kubelet's API copy of a static pod, which the ServiceAccount admission plugin
    refuses if it names a service account or mounts its token; validation wants its node."""
    obj["metadata"].setdefault("annotations", {})["kubernetes.io/config.mirror"] = "x"
    spec = obj["spec"]
    spec["nodeName"] = "node-a"
    spec.pop("serviceAccountName", None)
    spec.pop("serviceAccount", None)
    token = {v["name"] for v in spec.get("volumes") or [] if "projected" in v or "secret" in v}
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v["name"] not in token]
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            container["volumeMounts"] = [m for m in container.get("volumeMounts") or []
                                         if m["name"] not in token]


def variants(obj):
    """The object as it is, and with what the pull-secret, opt-out and originals settings read."""
    out = [("as-is", obj)]
    def variant(label, change):
        changed = copy.deepcopy(obj)
        change(changed)
        out.append((label, changed))
    variant("own-secret", lambda o: pod_spec(o).update(imagePullSecrets=[{"name": "team-secret"}]))
    variant("mirror-secret", lambda o: pod_spec(o).update(imagePullSecrets=[{"name": "mirror-creds"}]))
    annotations = lambda o: o["metadata"].setdefault("annotations", {})
    if obj["kind"] == "Pod":
        variant("static", static)
        variant("opted-out", lambda o: annotations(o).update({"pullthrough.dev/rewrite": "false"}))
    else:
        template = lambda o: (o["spec"]["jobTemplate"]["spec"] if o["kind"] == "CronJob" else o["spec"])["template"]
        variant("opted-out", lambda o: template(o).setdefault("metadata", {}).setdefault(
            "labels", {}).update({"pullthrough.dev/rewrite": "false"}))
    variant("recorded-originals", lambda o: annotations(o).update(
        {ORIGINALS: '{"zz":"registry.example.com/zz:1","zzz":"x@y"}'}))
    variant("reformatted-originals", lambda o: annotations(o).update(
        {ORIGINALS: '{ "zz": "x",\n  "zzz" : "y" }'}))
    variant("escaped-originals", lambda o: annotations(o).update({ORIGINALS: '{"zz":"\\u0078"}'}))
    variant("unparsable-originals", lambda o: annotations(o).update({ORIGINALS: '{"zz":1}'}))
    return out


def cases(namespace, config, with_variants):
    """(label, method, path, body, wasm request) for every reference chunk and fixture."""
    references = []
    for name in ("parse-table.json", "rewrite-table.json", "fuzz-regressions.json"):
        with open(f"{REPO}/fixtures/references/{name}") as f:
            references += [r for r in json.load(f)["images"] if r not in references]
    deployment = load(f"{REPO}/fixtures/admission/deployment.json")
    for start in range(0, len(references), CHUNK):
        name = f"refs-{start // CHUNK}-{config}"
        obj = sanitize(deployment["object"], namespace, name)
        pod_spec(obj)["containers"] = [{"name": f"c{start + i}", "image": image}
                                       for i, image in enumerate(references[start:start + CHUNK])]
        yield (f"references {start}..", "POST", collection(deployment["resource"], namespace),
               obj, request_for(deployment, obj, namespace, "CREATE"))
    for path in FIXTURES:
        request = load(path)
        operation, sub = request["operation"], request.get("subResource") or ""
        if operation == "CREATE":
            for label, obj in variants(request["object"]) if with_variants else [("as-is", request["object"])]:
                obj = sanitize(obj, namespace, f"{base(path)}-{label}-{config}"[:63].rstrip("-"))
                yield (f"{base(path)} {label}", "POST", collection(request["resource"], namespace),
                       obj, request_for(request, obj, namespace, "CREATE"))
            continue
        name = f"old-{base(path)}"
        _, old = api("GET", f"{collection(request['resource'], namespace)}/{name}")
        if sub == "ephemeralcontainers":
            # kubectl debug sends the stored Pod with the new ephemeral containers.
            obj = copy.deepcopy(old)
            obj["spec"]["ephemeralContainers"] = request["object"]["spec"]["ephemeralContainers"]
            url = f"{collection(request['resource'], namespace)}/{name}/ephemeralcontainers"
        else:
            obj = sanitize(request["object"], namespace, name)
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            url = f"{collection(request['resource'], namespace)}/{name}"
        yield (base(path), "PUT", url, obj, request_for(request, obj, namespace, "UPDATE", old, sub))


def dry_run_view(probe):
    """What the API server makes of PROBE now, stored or refused after admission."""
    return view(admit(*probe)[0])


def wait_for(what, condition):
    deadline = time.time() + 30
    while not condition():
        if time.time() > deadline:
            raise RuntimeError(f"{what}: not within 30 s")
        time.sleep(0.2)


def install(settings, probe, want):
    """The policy for SETTINGS in force: the previous one gone (PROBE stored as sent), then PROBE
    stored as policy.wasm leaves it (WANT)."""
    subprocess.run([KUBECTL, "delete", "mutatingadmissionpolicy,mutatingadmissionpolicybinding",
                    "pullthrough", "--ignore-not-found"], check=True, capture_output=True)
    wait_for("the previous policy gone", lambda: dry_run_view(probe) == view(probe[2]))
    generated = subprocess.run([ENV["PULLTHROUGH"], "manifests", "--admission-policy",
                                "--failure-policy", "fail", "--settings-json", settings],
                               check=True, capture_output=True, text=True).stdout
    subprocess.run([KUBECTL, "apply", "-f", "-"], input=generated, check=True,
                   capture_output=True, text=True)
    wait_for("the policy in force", lambda: dry_run_view(probe) == view(want))


def compare(namespace, config, settings, with_variants, wasm_settings=None):
    computed = [(case, wasm(wasm_settings or settings, case[4]))
                for case in cases(namespace, config, with_variants)]
    # A stored request policy.wasm changes tells when the policy is in force.
    probe = next(((c[1], c[2], c[3], namespace, c[4]["name"]), w) for c, w in computed
                 if c[1] == "POST" and view(w) != view(c[3]))
    install(settings, *probe)
    differences, unlisted, seen, differing = 0, 0, {}, set()
    for (label, method, path, body, request), want in computed:
        got, how = admit(method, path, body, namespace, request["name"])
        seen[how.split(":")[0]] = seen.get(how.split(":")[0], 0) + 1
        got_view, want_view = view(got), view(want)
        if got_view == want_view:
            continue
        differences += 1
        variant = label.split(" ")[-1]
        differing.add(variant)
        listed = LISTED.get(variant)
        unlisted += listed is None
        print(json.dumps({"config": config, "case": label, "how": how, "listed": listed,
                          "admission policy": only_differing(got_view, want_view),
                          "policy.wasm": only_differing(want_view, got_view)}))
    # A listed difference that no longer occurs is a stale claim.
    stale = sorted(v for v in LISTED if with_variants and v not in differing)
    print(json.dumps({"config": config, "requests": len(computed), "seen": seen,
                      "differences": differences, "unlisted": unlisted, "stale": stale}))
    return unlisted == 0 and not stale


if __name__ == "__main__":
    command, namespace = sys.argv[1], sys.argv[2]
    if command == "prepare":
        prepare(namespace)
    elif command == "compare":
        options = sys.argv[5:]
        other = options[options.index("--wasm-settings") + 1] if "--wasm-settings" in options else None
        sys.exit(0 if compare(namespace, sys.argv[3], sys.argv[4], "--variants" in options, other) else 1)
    else:
        sys.exit(f"unknown command {command}")

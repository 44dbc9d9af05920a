"""Checks that an object stored through the webhook differs from the same object stored without it
in exactly the expected images and the originals annotation, and in nothing else.

    compare.py CONTROL.json MUTATED.json ANNOTATION_JSON|- [ORIGINAL=REWRITTEN ...]

CONTROL is what the API server stored for the manifest in a namespace the webhook never sees,
MUTATED what it stored for the same manifest through the webhook (both as `kubectl create -o
json` printed them). Every container image of CONTROL found on the left of a pair is replaced by
the right; ANNOTATION_JSON is the expected value of pullthrough.dev/original-images as JSON
(`-`: no annotation). What the API server sets per object (uid, resourceVersion, timestamps,
managed fields, namespace, generated token volume names, its uid wherever it is copied) is set aside before comparing.
"""
import json
import re
import sys

ANNOTATION = "pullthrough.dev/original-images"
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
PER_OBJECT = ( "resourceVersion", "creationTimestamp", "managedFields", "namespace",
              "generation", "selfLink")
# The ServiceAccount admission plugin names each pod's token volume with a random suffix.
TOKEN_VOLUME = re.compile(r"^kube-api-access-[a-z0-9]{5}$")


def normalise(value):
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and TOKEN_VOLUME.match(value):
        return "kube-api-access-*"
    return value


def replace_uid(value, uid):
    if isinstance(value, dict):
        return {k: replace_uid(v, uid) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_uid(v, uid) for v in value]
    return "<uid>" if value == uid else value


def strip(obj):
    # A Job's selector and template labels carry its own uid.
    obj = replace_uid(obj, obj.get("metadata", {}).get("uid"))
    for key in PER_OBJECT:
        obj.get("metadata", {}).pop(key, None)
    obj.pop("status", None)
    return normalise(obj)


def rewrite_images(value, pairs, seen):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CONTAINER_LISTS and isinstance(item, list):
                for container in item:
                    image = container.get("image")
                    if image in pairs:
                        container["image"] = pairs[image]
                        seen.add(image)
            rewrite_images(item, pairs, seen)
    elif isinstance(value, list):
        for item in value:
            rewrite_images(item, pairs, seen)


def main():
    control = json.load(open(sys.argv[1]))
    mutated = json.load(open(sys.argv[2]))
    annotation = sys.argv[3]
    pairs = dict(arg.split("=", 1) for arg in sys.argv[4:])

    expected = strip(control)
    seen = set()
    rewrite_images(expected, pairs, seen)
    missing = set(pairs) - seen
    if missing:
        sys.exit(f"the control object has no container image {sorted(missing)}")
    if annotation != "-":
        meta = expected.setdefault("metadata", {})
        meta.setdefault("annotations", {})[ANNOTATION] = annotation
    got = strip(mutated)
    # The annotation is a JSON string; compare its value, not its spelling.
    got_annotation = got.get("metadata", {}).get("annotations", {}).get(ANNOTATION)
    if annotation != "-" and got_annotation is not None:
        if json.loads(got_annotation) != json.loads(annotation):
            sys.exit(f"{ANNOTATION}: expected {annotation}, got {got_annotation}")
        got["metadata"]["annotations"][ANNOTATION] = annotation
    if got != expected:
        print("expected:", json.dumps(expected, indent=1, sort_keys=True))
        print("stored:  ", json.dumps(got, indent=1, sort_keys=True))
        sys.exit("the stored object differs from the expected rewrite")


main()

"""Compares two sets of Kubernetes objects, object by object, as parsed YAML.

    same_objects.py [--skip KIND]... [--subset] LEFT.yaml RIGHT.yaml

Each file is a multi-document YAML stream (comments and document order do not matter); objects
are matched by kind, namespace and name. Without --subset both sides must hold the same objects
and each pair must be equal. With --subset every LEFT object must be found on the RIGHT and each
of its fields be there with the same value, lists element by element (RIGHT may carry more: the
defaults an API server fills in). --skip drops objects of a kind from LEFT first. Prints what
differs and exits 1, or prints the objects compared and exits 0.
"""
import json
import sys

import yaml


def objects(path, skip):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    items = []
    for doc in docs:
        items.extend(doc["items"] if doc.get("kind", "").endswith("List") else [doc])
    found = {}
    for obj in items:
        if obj["kind"] in skip:
            continue
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        if key in found:
            sys.exit(f"{path}: {key} twice")
        found[key] = obj
    return found


def differences(left, right, subset, where="$"):
    if isinstance(left, dict) and isinstance(right, dict):
        out = []
        keys = left.keys() if subset else left.keys() | right.keys()
        for key in sorted(keys):
            if key not in right:
                out.append(f"{where}.{key}: only on the left: {json.dumps(left[key])}")
            elif key not in left:
                out.append(f"{where}.{key}: only on the right: {json.dumps(right[key])}")
            else:
                out.extend(differences(left[key], right[key], subset, f"{where}.{key}"))
        return out
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        out = []
        for i, (l, r) in enumerate(zip(left, right)):
            out.extend(differences(l, r, subset, f"{where}[{i}]"))
        return out
    return [] if left == right else [f"{where}: {json.dumps(left)} != {json.dumps(right)}"]


def main(argv):
    skip, subset, paths = set(), False, []
    while argv:
        arg = argv.pop(0)
        if arg == "--skip":
            skip.add(argv.pop(0))
        elif arg == "--subset":
            subset = True
        else:
            paths.append(arg)
    left_path, right_path = paths
    left, right = objects(left_path, skip), objects(right_path, set())
    problems = []
    for key in sorted(left.keys() | (set() if subset else right.keys())):
        if key not in right:
            problems.append(f"{key}: only in {left_path}")
        elif key not in left:
            problems.append(f"{key}: only in {right_path}")
        else:
            problems.extend(f"{key} {d}" for d in differences(left[key], right[key], subset))
    if problems:
        print("\n".join(problems))
        return 1
    for key in sorted(left):
        print("same:", "/".join(part for part in key if part))
    return 0


sys.exit(main(sys.argv[1:]))

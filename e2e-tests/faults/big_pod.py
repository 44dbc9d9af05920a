#!/usr/bin/env python3
"""A Pod AdmissionReview with N containers, and the exact check of the server's answer to it.

  big_pod.py make N OUT.json     writes the review (the pod-initcontainers fixture, its init
                                 container dropped and its containers replaced by N containers
                                 with distinct Docker Hub images `appI:1.I`)
  big_pod.py check N < ANSWER    checks the AdmissionReview answer: allowed, a JSONPatch of
                                 exactly N+1 operations (the originals annotation, then one
                                 `replace` per container with its mirror image), and prints
                                 `ops=N+1`
"""
import base64
import json
import os
import sys

MIRROR = "registry-mirror.example.com"
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "admission",
                       "pod-initcontainers-digests.json")


def make(count, out):
    with open(FIXTURE, encoding="utf-8") as f:
        review = json.load(f)
    spec = review["request"]["object"]["spec"]
    template = spec["containers"][0]
    del spec["initContainers"]
    spec["containers"] = [dict(template, name=f"c{i}", image=f"app{i}:1.{i}") for i in range(count)]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(review, f, separators=(",", ":"))


def check(count):
    answer = json.load(sys.stdin)
    response = answer["response"]
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert response["allowed"] is True, response
    assert response["patchType"] == "JSONPatch", response
    assert set(response) == {"uid", "allowed", "patchType", "patch"}, sorted(response)
    ops = json.loads(base64.b64decode(response["patch"]))
    assert len(ops) == count + 1, f"{len(ops)} operations for {count} containers"
    annotation = ops[0]
    assert annotation["op"] == "add" and annotation["path"] == "/metadata/annotations", annotation
    originals = json.loads(annotation["value"]["pullthrough.dev/original-images"])
    assert originals == {f"c{i}": f"app{i}:1.{i}" for i in range(count)}, "originals annotation"
    expected = [{"op": "replace", "path": f"/spec/containers/{i}/image",
                 "value": f"{MIRROR}/library/app{i}:1.{i}"} for i in range(count)]
    assert ops[1:] == expected, "image operations differ"
    print(f"ops={len(ops)}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        make(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(int(sys.argv[2]))
    else:
        sys.exit(__doc__)

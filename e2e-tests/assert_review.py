"""Compares an AdmissionReview response (stdin) with an expected file: every response field
exactly, and the base64 JSON patch decoded and compared as a JSON value."""
import base64
import json
import sys

expected = json.load(open(sys.argv[1]))
body = json.load(sys.stdin)
response = dict(body["response"])
patch = response.pop("patch", None)
got = {
    "apiVersion": body["apiVersion"],
    "kind": body["kind"],
    "response": response,
    "patch": json.loads(base64.b64decode(patch)) if patch is not None else None,
}
if got != expected:
    print("expected:", json.dumps(expected, indent=2, sort_keys=True))
    print("got:     ", json.dumps(got, indent=2, sort_keys=True))
    sys.exit(1)

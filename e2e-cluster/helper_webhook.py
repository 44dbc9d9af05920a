"""A second admission webhook for the cluster suite, run by the test inside its network namespace:

    helper_webhook.py ADDRESS PORT CERT KEY RECORD_DIR

POST /sidecar  adds a container `sidecar` (busybox:1.36) to a Pod that has none, the way a
               sidecar injector registered after pullthrough does, so the API server must
               reinvoke pullthrough for the new image.
POST /record   admits unchanged and writes what the API server sent (path, query, headers and
               the AdmissionReview) to RECORD_DIR/<n>.json, so the suite can keep real captures.
"""
import base64
import http.server
import json
import os
import ssl
import sys
import urllib.parse

ADDRESS, PORT, CERT, KEY, RECORD_DIR = sys.argv[1:6]
SIDECAR = {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "infinity"]}


def answer(review, patch=None):
    response = {"uid": review["request"]["uid"], "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recorded = 0

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        review = json.loads(body)
        if url.path == "/sidecar":
            containers = review["request"]["object"]["spec"].get("containers", [])
            patch = None
            if not any(c.get("name") == "sidecar" for c in containers):
                patch = [{"op": "add", "path": "/spec/containers/-", "value": SIDECAR}]
            reply = answer(review, patch)
        elif url.path == "/record":
            Handler.recorded += 1
            record = {
                "path": url.path,
                "query": url.query,
                "body_bytes": len(body),
                "headers": {k: v for k, v in self.headers.items()},
                "review": review,
            }
            with open(os.path.join(RECORD_DIR, f"{Handler.recorded:03}.json"), "w") as out:
                json.dump(record, out, indent=2, sort_keys=True)
            reply = answer(review)
        else:
            self.send_error(404)
            return
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write("helper: " + format % args + "\n")


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server = http.server.ThreadingHTTPServer((ADDRESS, int(PORT)), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()

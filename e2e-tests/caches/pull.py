#!/usr/bin/env python3
"""Pulls an image reference the way containerd's resolver and fetcher do, over plain HTTP.

    pull.py REFERENCE [PLATFORM]      e.g. 127.0.0.1:5001/team/app:1@sha256:...  linux/amd64

Resolve: HEAD /v2/<name>/manifests/<digest, else tag> with containerd's Accept header; the digest
is Docker-Content-Digest, else the sha256 of a GET of the same URL. Then fetch: that manifest by
digest (an index: the manifest for PLATFORM, default linux/amd64), its config and every layer,
each checked against its digest. Prints one JSON object: the resolved digest and media type,
and the digests fetched. Exits non-zero with the reason on any mismatch or error status.
"""

import hashlib
import json
import re
import sys
import urllib.error
import urllib.request

# containerd remotes/docker: the manifest media types it accepts, in its order.
ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "*/*",
])
INDEXES = {
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
}


def fail(message):
    sys.exit(f"pull.py: {message}")


def parse(reference):
    match = re.fullmatch(r"([^/]+)/([a-z0-9._/-]+?)(?::([\w][\w.-]*))?(?:@(sha256:[0-9a-f]{64}))?", reference)
    if not match:
        fail(f"not a host/name[:tag][@digest] reference: {reference}")
    host, name, tag, digest = match.groups()
    return host, name, tag, digest


def request(method, url, accept=ACCEPT):
    req = urllib.request.Request(url, method=method, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        fail(f"{method} {url} answered {error.code}: {error.read()[:200]!r}")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: pull.py REFERENCE [PLATFORM]")
    reference = sys.argv[1]
    os_name, arch = (sys.argv[2] if len(sys.argv) == 3 else "linux/amd64").split("/")
    host, name, tag, digest = parse(reference)
    base = f"http://{host}/v2/{name}"
    # With both, containerd resolves the digest and ignores the tag.
    url = f"{base}/manifests/{digest or tag or 'latest'}"
    _, head, _ = request("HEAD", url)
    _, got, body = request("GET", url)
    resolved = head.get("Docker-Content-Digest") or sha256(body)
    if sha256(body) != resolved:
        fail(f"{url}: body digest {sha256(body)} is not the Docker-Content-Digest {resolved}")
    if digest and resolved != digest:
        fail(f"{url}: resolved {resolved}, asked for {digest}")
    media_type = got.get("Content-Type", "").split(";")[0]
    fetched = [resolved]
    manifest = json.loads(body)
    if media_type in INDEXES:
        chosen = [m for m in manifest.get("manifests", [])
                  if m.get("platform", {}).get("os") == os_name
                  and m.get("platform", {}).get("architecture") == arch]
        if not chosen:
            fail(f"{reference}: no manifest for {os_name}/{arch}")
        child = chosen[0]["digest"]
        _, _, body = request("GET", f"{base}/manifests/{child}", chosen[0]["mediaType"])
        if sha256(body) != child:
            fail(f"manifest {child}: body digest {sha256(body)}")
        fetched.append(child)
        manifest = json.loads(body)
    for blob in [manifest["config"]] + manifest["layers"]:
        _, _, data = request("GET", f"{base}/blobs/{blob['digest']}", "*/*")
        if sha256(data) != blob["digest"] or len(data) != blob["size"]:
            fail(f"blob {blob['digest']}: got {sha256(data)}, {len(data)} bytes")
        fetched.append(blob["digest"])
    print(json.dumps({"digest": resolved, "mediaType": media_type, "fetched": fetched}, sort_keys=True))


if __name__ == "__main__":
    main()

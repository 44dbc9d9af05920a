#!/usr/bin/env python3
"""Writes the real-cache suite's test images as an OCI image layout, byte for byte reproducible.

    make_layout.py DIR

Tags in DIR/index.json (`skopeo copy oci:DIR:TAG ...` pushes them):
  app    an OCI image manifest for linux/amd64, one gzip layer holding /hello
  multi  an OCI image index of two such manifests, linux/amd64 and linux/arm64

The Docker v2 schema 2 image is `app` pushed with `skopeo copy --format v2s2`, which rewrites
the manifest and config media types (a different manifest digest, as a real Docker image has).
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def write_blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def layer(text):
    """A tar of one file, and its gzip; both without timestamps so the digests never change."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        body = text.encode()
        info = tarfile.TarInfo("hello")
        info.size = len(body)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(body))
    tar_bytes = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(tar_bytes)
    return tar_bytes, packed.getvalue()


def image(root, arch):
    """An image manifest for linux/ARCH; returns its descriptor."""
    tar_bytes, gz_bytes = layer(f"pullthrough real-cache test image, linux/{arch}\n")
    layer_digest = write_blob(root, gz_bytes)
    config = canonical({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
        "history": [{"created_by": "e2e-tests/caches/make_layout.py"}],
    })
    config_digest = write_blob(root, config)
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(gz_bytes)}],
    })
    return {
        "mediaType": OCI_MANIFEST,
        "digest": write_blob(root, manifest),
        "size": len(manifest),
        "platform": {"architecture": arch, "os": "linux"},
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_layout.py DIR")
    root = sys.argv[1]
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    amd64 = image(root, "amd64")
    arm64 = image(root, "arm64")
    index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd64, arm64]})
    multi = {"mediaType": OCI_INDEX, "digest": write_blob(root, index), "size": len(index)}

    def tagged(descriptor, tag):
        entry = {k: v for k, v in descriptor.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        return entry

    with open(os.path.join(root, "index.json"), "wb") as f:
        f.write(canonical({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [tagged(amd64, "app"), tagged(multi, "multi")],
        }))


if __name__ == "__main__":
    main()

#!/usr/bin/env bats
# The container image scripts/image builds without Docker: one manifest digest for one commit,
# the non-root user and no shell, OCI labels, and the same files as the Dockerfile's image where
# a Docker engine runs. (The cluster suite runs it on a node: e2e-cluster/02-node-helm.bats.)

load helpers

setup_file() {
  IMAGE_OUT="$TARGET_DIR/image"
  export IMAGE_OUT
}

scripts_image() { "$REPO/scripts/image" 2>"$BATS_TEST_TMPDIR/image.log"; }

manifest_digest() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"
}

# blob DIGEST: a blob of the layout as text (manifest or config).
blob() { cat "$IMAGE_OUT/oci/blobs/sha256/${1#sha256:}"; }

@test "scripts/image twice gives one manifest digest, and prints the layout directory last" {
  run scripts_image
  [ "$status" -eq 0 ]
  [ "$(tail -n1 <<<"$output")" = "$IMAGE_OUT/oci" ]
  first="$(manifest_digest "$IMAGE_OUT/oci")"
  cp "$IMAGE_OUT/pullthrough.tar" "$BATS_TEST_TMPDIR/first.tar"
  # A new mtime on the binary: no file's own date may reach the layer. Not on policy.wasm,
  # which the binary embeds: cargo would relink the host with fat LTO, ten of CI's minutes, to
  # show what every CI run from 40063ca to 7f148fe showed, that the rebuild is byte for byte.
  touch "$TARGET_DIR/release/pullthrough"
  run scripts_image
  [ "$status" -eq 0 ]
  [ "$(manifest_digest "$IMAGE_OUT/oci")" = "$first" ]
  cmp "$BATS_TEST_TMPDIR/first.tar" "$IMAGE_OUT/pullthrough.tar"
  echo "# $first" >&3
}

@test "the image runs pullthrough serve as 65532, for linux/amd64, with the OCI labels" {
  manifest="$(blob "$(manifest_digest "$IMAGE_OUT/oci")")"
  config="$(blob "$(jq -r .config.digest <<<"$manifest")")"
  [ "$(jq -r .mediaType <<<"$manifest")" = application/vnd.oci.image.manifest.v1+json ]
  [ "$(jq -c '[.os, .architecture, .config.User, .config.Entrypoint, .config.Cmd]' <<<"$config")" = \
    '["linux","amd64","65532:65532",["/usr/local/bin/pullthrough"],["serve"]]' ]
  version="$(awk -F'"' '/^version = / {print $2; exit}' "$REPO/Cargo.toml")"
  [ "$(jq -r '.config.Labels["org.opencontainers.image.version"]' <<<"$config")" = "$version" ]
  [ "$(jq -r '.config.Labels["org.opencontainers.image.licenses"]' <<<"$config")" = Apache-2.0 ]
  [ "$(jq -r '.config.Labels["org.opencontainers.image.source"]' <<<"$config")" = https://github.com/pullthrough/pullthrough ]
  [ "$(jq -r '.config.Labels["org.opencontainers.image.revision"]' <<<"$config")" = "$(git -C "$REPO" rev-parse HEAD)$(git -C "$REPO" diff --quiet HEAD || echo -dirty)" ]
  # Named for containerd as the chart and manifests name it.
  [ "$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' "$IMAGE_OUT/oci/index.json")" = \
    "$(cat "$REPO/deploy/helm/pullthrough/image-repository"):$version" ]
}

@test "the image holds pullthrough, the policy, its libraries and certificates, and no shell" {
  layer="$(jq -r '.layers[0].digest' <<<"$(blob "$(manifest_digest "$IMAGE_OUT/oci")")")"
  tar -tzvf "$IMAGE_OUT/oci/blobs/sha256/${layer#sha256:}" >"$BATS_TEST_TMPDIR/files"
  cat "$BATS_TEST_TMPDIR/files" >&3
  for file in usr/local/bin/pullthrough usr/share/pullthrough/policy.wasm etc/passwd \
    etc/ssl/certs/ca-certificates.crt lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2 \
    usr/share/doc/libc6/copyright usr/share/doc/pullthrough/LICENSE; do
    grep -q " $file\( \|$\)" "$BATS_TEST_TMPDIR/files" || { echo "missing $file"; false; }
  done
  run grep -Eq ' (bin/sh|usr/bin/sh|bin/busybox|bin/bash)( |$)' "$BATS_TEST_TMPDIR/files"
  [ "$status" -eq 1 ]
  # Every entry root-owned and dated at the commit, in name order.
  run grep -v ' 0/0 ' "$BATS_TEST_TMPDIR/files"
  [ "$status" -eq 1 ]
  awk '{print $6}' "$BATS_TEST_TMPDIR/files" | LC_ALL=C sort -c
  # The bundled policy is the one the binary embeds.
  cmp "$REPO/policy.wasm" "$IMAGE_OUT/rootfs/usr/share/pullthrough/policy.wasm"
  grep -qx 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' "$IMAGE_OUT/rootfs/etc/passwd"
}

@test "the Dockerfile gives the same files as scripts/image" {
  if ! docker info >/dev/null 2>&1; then
    skip "no Docker engine here (docker info fails): the Dockerfile is compared where one runs"
  fi
  docker build -q -t pullthrough-image-test "$REPO" >/dev/null
  container="$(docker create pullthrough-image-test)"
  docker export "$container" | tar -t | sed 's,/$,,' | grep -v -e '^\.dockerenv$' -e '^dev' -e '^proc' -e '^sys' -e '^etc/hostname$' -e '^etc/hosts$' -e '^etc/resolv.conf$' -e '^etc/mtab$' | sort >"$BATS_TEST_TMPDIR/docker"
  docker rm "$container" >/dev/null
  (cd "$IMAGE_OUT/rootfs" && find . -mindepth 1 | sed 's,^\./,,' | sort) >"$BATS_TEST_TMPDIR/ours"
  diff "$BATS_TEST_TMPDIR/ours" "$BATS_TEST_TMPDIR/docker"
}

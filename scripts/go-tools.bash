# Go programs the tests and scripts/image run, built with the ordinary go client from a pinned
# module of this repository and cached outside it by a hash of that module's go.mod, go.sum and
# own Go files, so a change of pin builds anew and a clean clone reuses what an earlier one built.
#
#   tool_dir MODULE                     the cache directory of MODULE
#   build_tool MODULE LDFLAGS PACKAGE...
#                                       go build the packages into it unless they are there
#
# MODULE is a directory under e2e-cluster/tools (kube, etcd, helm, registry, crictl: third-party
# components pinned for the cluster suite) or a path from the repository root (tools/oci-image).
# Each build has a Go build cache of its own, removed once the binaries are in place: what is
# kept is the binaries, and a cold build of the control plane alone leaves 4 GB of compiled
# packages that nothing reads again until its pin changes (CI's disk is shared and small).
# Sourced; needs E2E_ROOT, the repository root.

TOOLS_CACHE="${PULLTHROUGH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pullthrough/tools}"

tool_log() { printf '\033[1mtools:\033[0m %s\n' "$*" >&2; }

tool_module() {
  if [[ "$1" == */* ]]; then echo "$E2E_ROOT/$1"; else echo "$E2E_ROOT/e2e-cluster/tools/$1"; fi
}

tool_dir() {
  local module sum
  module="$(tool_module "$1")"
  # A module of ours (tools/oci-image) has its own main.go: an edit of it builds anew too.
  sum="$(
    shopt -s nullglob
    cat "$module/go.mod" "$module/go.sum" "$module"/*.go | sha256sum | cut -c1-12
  )"
  echo "$TOOLS_CACHE/$(basename "$1")-$sum"
}

build_tool() {
  local module="$1" ldflags="$2"
  shift 2
  local dir lock status=0 started=$SECONDS
  dir="$(tool_dir "$module")"
  mkdir -p "$TOOLS_CACHE"
  # Two checkouts building the same pin wait for each other instead of sharing $dir.tmp.
  exec {lock}>"$dir.lock"
  flock "$lock"
  build_tool_locked "$module" "$ldflags" "$dir" "$started" "$@" || status=$?
  exec {lock}>&-
  return "$status"
}

build_tool_locked() {
  local module="$1" ldflags="$2" dir="$3" started="$4"
  shift 4
  if [[ -f "$dir/.complete" ]]; then
    tool_log "$module: cached in $dir"
    return 0
  fi
  command -v go >/dev/null 2>&1 || {
    echo "tools: the Go toolchain is missing: $module is built from its Go module" >&2
    return 1
  }
  tool_log "$module: building $* (cold: up to several minutes on 2 cores)"
  rm -rf "$dir.tmp" "$dir.gocache"
  mkdir -p "$dir.tmp"
  (cd "$(tool_module "$module")" &&
    GOCACHE="$dir.gocache" GOFLAGS=-mod=readonly \
      go build -trimpath -ldflags "$ldflags" -o "$dir.tmp/" "$@") || {
    echo "tools: building $module failed (is the Go module proxy reachable?)" >&2
    rm -rf "$dir.gocache"
    return 1
  }
  rm -rf "$dir.gocache" "$dir"
  mv "$dir.tmp" "$dir"
  touch "$dir/.complete"
  tool_log "$module: built in $((SECONDS - started)) s"
}

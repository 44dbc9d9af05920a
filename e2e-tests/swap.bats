#!/usr/bin/env bats
# A running `serve --policies FILE` whose file is replaced (renamed atomically, as a ConfigMap
# update or a deploy tool does): POST /mutate serves the new file's first entry, as a restart
# would, readiness tells the truth, and the log says what changed.

load helpers
# shellcheck source=../e2e-cluster/controlplane.bash
source "$REPO/e2e-cluster/controlplane.bash"

setup() {
  require_binary
  DIR="$BATS_TEST_TMPDIR/policies"
  mkdir -p "$DIR"
  cp "$REPO/policy.wasm" "$DIR/policy.wasm"
}

teardown() {
  stop_server
}

# policies NAME=MIRROR...: the policies file, replaced in one rename; each entry the bundled
# policy rewriting to its own mirror.
policies() {
  local entry
  for entry in "$@"; do
    printf '%s:\n  module: policy.wasm\n  allowedToMutate: true\n  settings:\n    mirror: %s\n' "${entry%%=*}" "${entry#*=}"
  done >"$DIR/policies.yml.new"
  mv "$DIR/policies.yml.new" "$DIR/policies.yml"
}

@test "renaming, reordering and removing the first entry moves POST /mutate with it" {
  policies first=a.example.com second=b.example.com
  start_server --policies "$DIR/policies.yml" --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  [ "$(rewritten_to)" = "a.example.com/library/busybox:1.28" ]

  policies renamed=c.example.com second=b.example.com
  logged 'policy version swapped in policy=renamed' >/dev/null
  [ "$(rewritten_to)" = "c.example.com/library/busybox:1.28" ]
  [ "$(readyz)" = "ready 200" ]
  line="$(logged 'POST /mutate now serves policy "renamed" instead of "first"')"
  [[ "$line" == *" WARN "* ]]

  policies second=b.example.com renamed=c.example.com
  logged 'POST /mutate now serves policy "second" instead of "renamed"' >/dev/null
  [ "$(rewritten_to)" = "b.example.com/library/busybox:1.28" ]

  policies renamed=c.example.com
  logged 'POST /mutate now serves policy "renamed" instead of "second"' >/dev/null
  [ "$(rewritten_to)" = "c.example.com/library/busybox:1.28" ]
  # Every review was answered by a policy: none counted as unknown.
  metrics="$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics")"
  grep -q '^pullthrough_admission_requests_total{policy="renamed",outcome="mutated"} 2$' <<<"$metrics"
  grep -q '^pullthrough_admission_requests_total{policy="unknown",outcome="invalid"} 0$' <<<"$metrics"
}

@test "a settings-only swap logs which settings changed, not just the same sha256" {
  policies first=a.example.com
  start_server --policies "$DIR/policies.yml" --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  policies first=d.example.com
  line="$(logged 'policy version swapped in')"
  [[ "$line" == *'policy=first'* ]]
  [[ "$line" == *'changed=settings (mirror)'* ]]
  [[ "$line" =~ settings_sha256=[0-9a-f]{12}\ →\ [0-9a-f]{12} ]]
  [ "$(rewritten_to)" = "d.example.com/library/busybox:1.28" ]
}

@test "a first entry that cannot load fails readiness until it does" {
  policies first=a.example.com
  start_server --policies "$DIR/policies.yml" --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  printf 'later:\n  module: later.wasm\n  allowedToMutate: true\n  settings: {mirror: e.example.com}\nfirst:\n  module: policy.wasm\n  allowedToMutate: true\n  settings: {mirror: a.example.com}\n' >"$DIR/policies.yml.new"
  mv "$DIR/policies.yml.new" "$DIR/policies.yml"
  logged 'new policy version rejected; the previous one keeps serving policy=later' >/dev/null
  [ "$(readyz)" = "policies not loaded 503" ]
  logged 'POST /mutate cannot answer: policy "later"' >/dev/null
  cp "$REPO/policy.wasm" "$DIR/later.wasm.new"
  mv "$DIR/later.wasm.new" "$DIR/later.wasm"
  wait_until 10 "readiness" ready
  [ "$(readyz)" = "ready 200" ]
  [ "$(rewritten_to)" = "e.example.com/library/busybox:1.28" ]
}

@test "modules compile in a child process, and a binary replaced on disk still swaps" {
  cp "$PULLTHROUGH" "$BATS_TEST_TMPDIR/pullthrough"
  PULLTHROUGH="$BATS_TEST_TMPDIR/pullthrough"
  policies first=a.example.com
  start_server --policies "$DIR/policies.yml" --write-ca "$BATS_TEST_TMPDIR/ca.crt"
  logged 'compiled the module in a child process' >/dev/null
  [ "$(rewritten_to)" = "a.example.com/library/busybox:1.28" ]

  # A module that does not compile is the module's fault, not the child's: rejected as it would
  # be without a child, and nothing said about the child.
  printf '\0asm\1\0\0\0\177' >"$DIR/policy.wasm.new"
  mv "$DIR/policy.wasm.new" "$DIR/policy.wasm"
  line="$(logged 'new policy version rejected; the previous one keeps serving policy=first')"
  [[ "$line" == *"module does not compile"* ]]
  run grep -q 'child process; compiling here' "$BATS_TEST_TMPDIR/server.log"
  [ "$status" -eq 1 ]
  [ "$(rewritten_to)" = "a.example.com/library/busybox:1.28" ]

  # An upgrade deleted the binary the server runs: no child can start, so the server compiles the
  # next module itself, says so, and swaps as before. The module differs by a custom section.
  rm "$PULLTHROUGH"
  { cat "$REPO/policy.wasm"; printf '\0\4\3abc'; } >"$DIR/policy.wasm.new"
  mv "$DIR/policy.wasm.new" "$DIR/policy.wasm"
  policies first=b.example.com
  line="$(logged 'cannot compile in a child process; compiling here')"
  [[ "$line" == *" WARN "* && "$line" == *"cannot run"* ]]
  logged 'policy version swapped in' >/dev/null
  [ "$(rewritten_to)" = "b.example.com/library/busybox:1.28" ]
}

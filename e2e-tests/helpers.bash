# Shared set-up for the bats suites: the binary under test, a scratch directory, and a server
# started in the background on 127.0.0.1 with its logs kept for failed tests.

REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
# CARGO_TARGET_DIR may be relative to the repository or absolute.
TARGET_DIR="$(cd "$REPO" && realpath -m "${CARGO_TARGET_DIR:-target}")"
PULLTHROUGH="${PULLTHROUGH:-$TARGET_DIR/release/pullthrough}"
# The service DNS name curl asks for; --resolve points it at 127.0.0.1 like cluster DNS would.
HOST="pullthrough.pullthrough.svc"
# The mirrors these suites name do not exist, so `serve` would find them down and stop
# rewriting; the tests of the mirror check (caches.bats) turn it back on with false.
export PULLTHROUGH_NO_MIRROR_CHECK="${PULLTHROUGH_NO_MIRROR_CHECK:-true}"

require_binary() {
  [[ -x "$PULLTHROUGH" ]] || {
    echo "missing $PULLTHROUGH: run 'cargo build --release -p pullthrough' first" >&2
    return 1
  }
}

# Servers the suites start stop at once on SIGTERM: the grace period after it is for a pod
# behind a Service, and would only slow every test down here. Given to `serve` alone (not
# exported): `manifests` reads the same variable and would print it into the install.
SERVE_ENV=(PULLTHROUGH_SHUTDOWN_GRACE_SECONDS=0)

# A TCP port on 127.0.0.1 that is free now, picked at random below the kernel's range of local
# ports for outgoing connections (ip_local_port_range): the port is bound later, by the server
# under test, and a port from that range can be taken in between by any connection the test
# makes. A range that starts too low for that leaves the pick to the kernel.
free_port() {
  python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports = random.sample(range(20000, low), min(64, max(low - 20000, 0))) or [0]
for port in ports:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(s.getsockname()[1])
        break
else:
    raise SystemExit("free_port: no free port below the local port range")
PY
}

# start_server ARGS...: runs `pullthrough serve ARGS` on a free port; sets PORT, METRICS_PORT
# (plain HTTP /metrics) and SERVER_PID
# and waits until /healthz answers over TLS. Its stderr goes to server.log, or to SERVER_STDERR
# (a pipe that the test copies into server.log).
start_server() {
  PORT="$(free_port)"
  METRICS_PORT="$(free_port)"
  env "${SERVE_ENV[@]}" PULLTHROUGH_METRICS_ADDR="127.0.0.1:$METRICS_PORT" "$PULLTHROUGH" serve --listen "127.0.0.1:$PORT" "$@" \
    >"$BATS_TEST_TMPDIR/server.out" 2>"${SERVER_STDERR:-$BATS_TEST_TMPDIR/server.log}" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    if curl -sk --max-time 1 "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start; its log:" >&2
  cat "$BATS_TEST_TMPDIR/server.log" >&2
  return 1
}

stop_server() {
  if [[ -n "${SERVER_PID:-}" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
  fi
  SERVER_PID=""
}

# post PATH FILE [CACERT]: POST a file over TLS to the service name; prints the body, then the
# status code on its own last line.
post() {
  local path="$1" file="$2" cacert="${3:-$BATS_TEST_TMPDIR/ca.crt}"
  curl -sS --max-time 10 --cacert "$cacert" --resolve "$HOST:$PORT:127.0.0.1" \
    -H 'Content-Type: application/json' --data-binary "@$file" \
    -w '\n%{http_code}' "https://$HOST:$PORT$path"
}

# Decodes the base64 JSON patch of an AdmissionReview response read on stdin.
decoded_patch() {
  python3 -c 'import base64,json,sys; r=json.load(sys.stdin)["response"]; print(json.dumps(json.loads(base64.b64decode(r["patch"])), sort_keys=True))'
}

# assert_review EXPECTED_JSON: compares the AdmissionReview response on stdin with the expected
# file — every response field exactly, and the base64 patch decoded and compared as JSON.
assert_review() {
  python3 "$BATS_TEST_DIRNAME/assert_review.py" "$1"
}

# pinned_tool PATH WHAT: for a setup function, a tool built from a pinned Go module (helm,
# promtool, the collector: scripts/setup --test builds them, CI runs that first). Missing, it
# fails in CI and skips the test elsewhere, where only a machine without Go lacks it.
pinned_tool() {
  [[ -x "$1" ]] && return 0
  [[ -z "${CI:-}" ]] || { echo "$2 is required in CI: scripts/setup --test builds it" >&2; return 1; }
  skip "$2 is not built (scripts/setup --test builds it from its pinned Go module)"
}

# Sources the tool builds (e2e-cluster/controlplane.bash) for tool_dir and the *_build functions.
load_tools() {
  E2E_ROOT="$REPO"
  # shellcheck source=../e2e-cluster/controlplane.bash
  source "$REPO/e2e-cluster/controlplane.bash"
}

# rewritten_to: the image the cronjob fixture's /mutate answer rewrites busybox to, or the
# status and body when there is no patch.
rewritten_to() {
  local out
  out="$(post /mutate "$REPO/fixtures/admission/cronjob.json")"
  if [ "$(tail -n1 <<<"$out")" != 200 ]; then
    echo "$out"
    return
  fi
  sed '$d' <<<"$out" | decoded_patch | jq -r '.[] | select(.path | endswith("/image")) | .value'
}

# logged TEXT: waits (up to 10 s) for a server log line containing TEXT; prints it. Needs
# wait_until (e2e-cluster/controlplane.bash).
logged() {
  wait_until 10 "the log line '$1'" grep -qF -- "$1" "$BATS_TEST_TMPDIR/server.log" ||
    { cat "$BATS_TEST_TMPDIR/server.log" >&2; return 1; }
  grep -F -- "$1" "$BATS_TEST_TMPDIR/server.log"
}

ready() { [ "$(readyz)" = "ready 200" ]; }

# readyz: the body and status of /readyz on one line ("ready 200").
readyz() {
  local out
  out="$(curl -sS --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" -w '\n%{http_code}' "https://$HOST:$PORT/readyz")"
  echo "$(head -n1 <<<"$out") $(tail -n1 <<<"$out")"
}

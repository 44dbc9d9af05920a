# Shared by the bench scripts that load serve with wrk (ab-serve, cpu-profile, latency-split,
# peak-rss, thread-switches, vs-others): serve with the bundled policy on 127.0.0.1 and the wrk
# load they put on it. Source it after setting `work` (a scratch directory) and `pid=""`.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
metrics="$(free_port)"
# The three fixtures wrk sends round-robin (bench/admission.lua). They are pretty-printed, as
# every table in BENCHMARKS.md before 2026-12-07 was measured; the API server sends its reviews
# compact, and BENCH_FIXTURES=compact sends compact copies of the same reviews instead.
fixtures=(fixtures/admission/deployment.json fixtures/admission/pod-initcontainers-digests.json fixtures/admission/cronjob.json)
case "${BENCH_FIXTURES:-pretty}" in
  pretty) ;;
  compact)
    mkdir -p "$work/compact"
    for i in "${!fixtures[@]}"; do
      python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"), separators=(",", ":"))' \
        "${fixtures[$i]}" "$work/compact/${fixtures[$i]##*/}"
      fixtures[i]="$work/compact/${fixtures[$i]##*/}"
    done
    ;;
  *) echo "BENCH_FIXTURES is pretty or compact, not $BENCH_FIXTURES" >&2; exit 1 ;;
esac

# What start runs serve under (a command and its arguments that exec serve in the same process,
# such as valgrind), and how many seconds it waits for /readyz: set them after sourcing.
serve_under=()
ready_seconds=10
# start BINARY [NAME=VALUE...]: serve with the bundled policy and those variables, pid in $pid,
# once /readyz answers; flags an older binary lacks are given only to a binary whose --help lists
# them. The log goes to $work/log: straight into the file, or with BENCH_LOG=pipe through a pipe
# that cat copies into it, as a container's stderr reaches containerd's shim; BENCH_LOG=null
# discards it.
start() {
  local bin="$1" extra=() log="$work/log"
  shift
  "$bin" serve --help >"$work/help"
  grep -q -- '--metrics-addr' "$work/help" && extra+=(--metrics-addr "127.0.0.1:$metrics")
  grep -q -- '--no-mirror-check' "$work/help" && extra+=(--no-mirror-check)
  grep -q -- '--shutdown-grace-seconds' "$work/help" && extra+=(--shutdown-grace-seconds 0)
  case "${BENCH_LOG:-file}" in
    file) ;;
    null) log=/dev/null ;;
    pipe)
      log="$work/log.pipe"
      [[ -p $log ]] || mkfifo "$log"
      cat <"$log" >"$work/log" &
      ;;
    *) echo "BENCH_LOG is file, null or pipe, not $BENCH_LOG" >&2; exit 1 ;;
  esac
  env "$@" "${serve_under[@]}" "$bin" serve --listen "127.0.0.1:$port" \
    --mirror registry-mirror.example.com --module-cache-dir "$work/cache" \
    --write-ca "$work/ca.pem" "${extra[@]}" >/dev/null 2>"$log" &
  pid=$!
  for _ in $(seq 1 $((ready_seconds * 50))); do
    curl -sk --max-time 1 -o /dev/null "https://127.0.0.1:$port/readyz" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "serve${serve_under[*]:+ under ${serve_under[0]}} exited or did not answer /readyz within about $ready_seconds s:" >&2
  cat "$work/log" >&2
  exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
# Server CPU so far, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# measure SECONDS CONNECTIONS [PATH]: one wrk run of the fixtures round-robin against PATH
# (/mutate), one wrk thread for one connection and two otherwise; prints wrk's summary line
# (bench/admission.lua), which each caller checks for failures as strictly as it needs. wrk's
# own CPU time (user and system seconds, bash's `time`) goes to $work/client-cpu: on cores it
# shares with the server, the client's CPU per request is part of what the server's answers cost.
measure() {
  local threads=2 TIMEFORMAT='%U %S' status=0
  (($2 < 2)) && threads=1
  { time wrk -t"$threads" -c"$2" -d"$1s" --timeout 5s -s bench/admission.lua \
    "https://127.0.0.1:$port${3:-/mutate}" -- "${fixtures[@]}" >"$work/wrk.out" 2>"$work/wrk.err" || status=$?; } 2>"$work/client-cpu"
  ((status == 0)) && grep '^{"requests"' "$work/wrk.out" ||
    { echo "wrk failed (exit $status) or printed no summary line:" >&2; cat "$work/wrk.err" "$work/wrk.out" >&2; return 1; }
}
# warm [PATH]: warms the connections and the allocator before measuring (1 s at 8 connections).
warm() { measure 1 8 "${1:-/mutate}" >/dev/null; }

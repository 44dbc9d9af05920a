#!/usr/bin/env bats
# Faults and bad input against `pullthrough serve` on 127.0.0.1: huge and malformed reviews,
# bodies at the size limit, slowloris, and policies that hang, trap or exhaust their memory under
# load. Every answer is checked exactly; the server must keep answering everyone else.
# admission.bats already covers: a 7 MiB + 1 byte body of spaces (Content-Length and chunked), a
# body of exactly 7 MiB of spaces, one truncated object, apiVersion v1beta1, kind Pod, no
# request, no uid and an unknown policy. They are not repeated here.

load helpers

FAULTS="$BATS_TEST_DIRNAME/faults"
DEPLOYMENT="$REPO/fixtures/admission/deployment.json"

setup() {
  require_binary
  BACKGROUND=()
}

teardown() {
  local pid
  for pid in "${BACKGROUND[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  stop_server
}

# serve ARGS...: start_server with the mirror setting and the CA written for `post`.
serve() {
  start_server --write-ca "$BATS_TEST_TMPDIR/ca.crt" "$@"
}

status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

# expect_400 FILE MESSAGE: POST FILE to /mutate and require 400 with exactly MESSAGE.
expect_400() {
  local out
  out="$(post /mutate "$1")"
  if [ "$(status_of "$out")" != 400 ] || [ "$(body_of "$out")" != "$2" ]; then
    echo "for $1: expected 400 '$2', got:"
    echo "$out"
    return 1
  fi
}

# The server still answers a real review exactly.
still_serving() {
  post /mutate "$DEPLOYMENT" | sed '$d' | assert_review "$BATS_TEST_DIRNAME/expected/deployment.json"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }

@test "a Pod with 5,000 containers gets exactly 5,001 patch operations, 200, within 5 s" {
  serve --mirror registry-mirror.example.com
  python3 "$FAULTS/big_pod.py" make 5000 "$BATS_TEST_TMPDIR/big.json"
  size="$(stat -c %s "$BATS_TEST_TMPDIR/big.json")"
  [ "$size" -lt $((7 * 1024 * 1024)) ]
  out="$(curl -sS --max-time 5 --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
    --data-binary "@$BATS_TEST_TMPDIR/big.json" -o "$BATS_TEST_TMPDIR/answer.json" \
    -w '%{http_code} %{time_total}' "https://$HOST:$PORT/mutate")"
  echo "$size bytes: status and seconds: $out"
  [ "${out% *}" = 200 ]
  [ "$(python3 "$FAULTS/big_pod.py" check 5000 <"$BATS_TEST_TMPDIR/answer.json")" = "ops=5001" ]
  still_serving
}

@test "a review truncated at any of several points is 400 with the parser's exact position" {
  serve --mirror registry-mirror.example.com
  # Cut points (bytes) in the pretty-printed 64-line fixture: after '{', after '{\n', inside a
  # key, after a member's ',', inside nested strings and values, and before the last '}'.
  while IFS='|' read -r cut message; do
    head -c "$cut" "$DEPLOYMENT" >"$BATS_TEST_TMPDIR/cut-$cut.json"
    expect_400 "$BATS_TEST_TMPDIR/cut-$cut.json" "request body is not valid JSON: $message"
  done <<'CUTS'
1|EOF while parsing an object at line 1 column 1
2|EOF while parsing an object at line 2 column 0
14|EOF while parsing a string at line 2 column 12
40|EOF while parsing a value at line 2 column 38
100|EOF while parsing a string at line 5 column 15
500|EOF while parsing a string at line 23 column 10
1000|EOF while parsing a value at line 46 column 26
1348|EOF while parsing an object at line 63 column 3
1349|EOF while parsing an object at line 64 column 0
CUTS
  # Cutting only the final newline leaves a complete review, which is admitted.
  [ "$(stat -c %s "$DEPLOYMENT")" = 1351 ]
  head -c 1350 "$DEPLOYMENT" >"$BATS_TEST_TMPDIR/cut-1350.json"
  post /mutate "$BATS_TEST_TMPDIR/cut-1350.json" | sed '$d' \
    | assert_review "$BATS_TEST_DIRNAME/expected/deployment.json"
}

@test "bodies that are not a JSON object are 400 with what was wrong" {
  serve --mirror registry-mirror.example.com
  t="$BATS_TEST_TMPDIR"
  : >"$t/empty.json"
  expect_400 "$t/empty.json" "request body is not valid JSON: EOF while parsing a value at line 1 column 0"
  printf '[]' >"$t/array.json"
  expect_400 "$t/array.json" "expected a JSON object, got an array"
  printf 'null' >"$t/null.json"
  expect_400 "$t/null.json" "expected a JSON object, got null"
  printf '"AdmissionReview"' >"$t/string.json"
  expect_400 "$t/string.json" "expected a JSON object, got a string"
  { cat "$DEPLOYMENT"; printf 'x'; } >"$t/trailing.json"
  expect_400 "$t/trailing.json" "request body is not valid JSON: trailing characters at line 65 column 1"
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\xff"}}' >"$t/utf8.json"
  expect_400 "$t/utf8.json" "request body is not valid JSON: invalid unicode code point at line 1 column 80"
  # 10,000 nested arrays: refused at serde_json's depth limit, before any tree is built.
  python3 -c 'print("[" * 10000, end="")' >"$t/deep.json"
  expect_400 "$t/deep.json" "request body is not valid JSON: arrays and objects nested deeper than 127 levels"
  still_serving
}

@test "missing or misspelt apiVersion and kind are 400 naming what was sent" {
  serve --mirror registry-mirror.example.com
  t="$BATS_TEST_TMPDIR"
  prefix='expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got'
  printf '{}' >"$t/none.json"
  expect_400 "$t/none.json" "$prefix \"\" and \"\""
  printf '{"kind":"AdmissionReview","request":{"uid":"x"}}' >"$t/no-version.json"
  expect_400 "$t/no-version.json" "$prefix \"\" and \"AdmissionReview\""
  printf '{"apiVersion":"admission.k8s.io/v1","request":{"uid":"x"}}' >"$t/no-kind.json"
  expect_400 "$t/no-kind.json" "$prefix \"admission.k8s.io/v1\" and \"\""
  printf '{"apiVersion":"v1","kind":"AdmissionReview","request":{"uid":"x"}}' >"$t/core.json"
  expect_400 "$t/core.json" "$prefix \"v1\" and \"AdmissionReview\""
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"admissionreview","request":{"uid":"x"}}' >"$t/case.json"
  expect_400 "$t/case.json" "$prefix \"admission.k8s.io/v1\" and \"admissionreview\""
  # A review whose request is not an object, and a uid that is a number or empty.
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"x"}' >"$t/request-string.json"
  expect_400 "$t/request-string.json" "AdmissionReview has no request object"
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}' >"$t/uid-number.json"
  expect_400 "$t/uid-number.json" "AdmissionReview request.uid must be a non-empty string"
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}' >"$t/uid-empty.json"
  expect_400 "$t/uid-empty.json" "AdmissionReview request.uid must be a non-empty string"
  still_serving
}

@test "a real review padded to 7 MiB + 1 byte is 413; padded to exactly 7 MiB it is admitted exactly" {
  serve --mirror registry-mirror.example.com
  limit=$((7 * 1024 * 1024))
  # Trailing whitespace is valid JSON: the only difference between the two bodies is their size.
  pad() {
    cat "$DEPLOYMENT"
    head -c $(($1 - $(stat -c %s "$DEPLOYMENT"))) /dev/zero | tr '\0' ' '
  }
  pad "$limit" >"$BATS_TEST_TMPDIR/at-limit.json"
  pad $((limit + 1)) >"$BATS_TEST_TMPDIR/over-limit.json"
  [ "$(stat -c %s "$BATS_TEST_TMPDIR/at-limit.json")" = "$limit" ]
  [ "$(stat -c %s "$BATS_TEST_TMPDIR/over-limit.json")" = $((limit + 1)) ]
  # HTTP/1.1, as in admission.bats: curl reports h2's stream reset as an error, not a status.
  out="$(curl -sS --http1.1 --max-time 10 --cacert "$BATS_TEST_TMPDIR/ca.crt" \
    --resolve "$HOST:$PORT:127.0.0.1" --data-binary "@$BATS_TEST_TMPDIR/over-limit.json" \
    -w '\n%{http_code}' "https://$HOST:$PORT/mutate")"
  [ "$(status_of "$out")" = 413 ]
  [ "$(body_of "$out")" = "request body exceeds the 7340032 byte (7 MiB) limit" ]
  post /mutate "$BATS_TEST_TMPDIR/at-limit.json" | sed '$d' \
    | assert_review "$BATS_TEST_DIRNAME/expected/deployment.json"
}

@test "10,000 slowloris connections are cut at the handshake deadline; others keep exact answers; RSS stays bounded" {
  # Each side needs one descriptor per connection. The soft limit is raised to the hard one; on
  # a machine whose hard limit is too low for 10,000 the count is reduced and printed.
  ulimit -n "$(ulimit -Hn)"
  hard="$(ulimit -n)"
  n=10000
  if [ "$hard" != unlimited ] && [ $((hard - 500)) -lt "$n" ]; then n=$((hard - 500)); fi
  [ "$n" -ge 1000 ] || skip "open-file limit $hard is too low for a slowloris test"
  echo "slowloris connections: $n (open-file limit $hard)"
  serve --mirror registry-mirror.example.com
  # Watched for up to 25 s; the server's 10 s handshake deadline must end every one before.
  python3 "$FAULTS/slowloris.py" 127.0.0.1 "$PORT" "$n" 25 >"$BATS_TEST_TMPDIR/slowloris.out" &
  loris=$!
  BACKGROUND+=("$loris")
  max_fds=0 answers=0 slowest=0
  while kill -0 "$loris" 2>/dev/null; do
    fds="$(find "/proc/$SERVER_PID/fd" -mindepth 1 | wc -l)"
    [ "$fds" -gt "$max_fds" ] && max_fds="$fds"
    # A new client, new TLS connection each time: answered exactly and within 3 s (tens of ms
    # idle; up to 1.1 s seen with a release build sharing the cores).
    out="$(curl -sS --max-time 5 --cacert "$BATS_TEST_TMPDIR/ca.crt" --resolve "$HOST:$PORT:127.0.0.1" \
      --data-binary "@$DEPLOYMENT" -w '\n%{http_code} %{time_total}' "https://$HOST:$PORT/mutate")"
    read -r code seconds <<<"$(tail -n1 <<<"$out")"
    [ "$code" = 200 ] || { echo "answer $answers: $out"; return 1; }
    body_of "$out" | assert_review "$BATS_TEST_DIRNAME/expected/deployment.json"
    ms="$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 1000 }')"
    [ "$ms" -gt "$slowest" ] && slowest="$ms"
    answers=$((answers + 1))
    sleep 0.3
  done
  wait "$loris"
  result="$(cat "$BATS_TEST_TMPDIR/slowloris.out")"
  peak="$(peak_rss_kib)"
  echo "$result"
  echo "server descriptors at most: $max_fds; answers: $answers, slowest ${slowest} ms; peak RSS ${peak} KiB"
  [[ "$result" == "opened=$n failed_to_open=0 closed_by_server=$n peak_open="*" still_open=0" ]]
  # The client's own count of connections open together: on a loaded machine the first ones
  # can reach their deadline before the last are opened (9,857 of 10,000 in one CI-like run).
  peak_open="$(sed -n 's/.*peak_open=\([0-9]*\) .*/\1/p' <<<"$result")"
  [ "$peak_open" -ge $((n * 3 / 4)) ]
  # The server really held them at once: all of them on an idle machine (10,016 descriptors);
  # when a release build shared the two cores the server accepted so slowly that opening took
  # as long as the deadline and at most 8,741 were open together. Three quarters is required.
  [ "$max_fds" -ge $((n * 3 / 4)) ]
  # ...and closed each one by its 10 s deadline. Lives are seen from the client, which on a
  # busy machine notices opens and closes a few seconds late: 9.0-10.6 s idle, 6.6-12.5 s
  # while a release build shared the two cores.
  max_life="$(sed -n 's/.*max_life_s=\([0-9]*\)\..*/\1/p' <<<"$result")"
  [ "$max_life" -le 15 ]
  [ "$answers" -ge 5 ]
  [ "$slowest" -lt 3000 ]
  # No TLS session exists until a whole ClientHello has arrived, so a trickling client costs a
  # socket and a small task: 55 MB peak for 10,000 here (160-212 MB when every one held a rustls
  # session). The load target is 100 MB, and it holds under this flood too.
  [ "$peak" -lt $((100 * 1024)) ]
  still_serving
}

# policies FILE: the real policy first, then three broken guests written by faults/guest.py.
write_policies() {
  local guest
  for guest in loop trap memory-bomb; do
    python3 "$FAULTS/guest.py" "$guest" "$BATS_TEST_TMPDIR/$guest.wasm"
  done
  cat >"$BATS_TEST_TMPDIR/policies.yml" <<YAML
pullthrough:
  module: $REPO/policy.wasm
  allowedToMutate: true
  settings:
    mirror: registry-mirror.example.com
loop:
  module: loop.wasm
trap:
  module: trap.wasm
memory-bomb:
  module: memory-bomb.wasm
YAML
}

# load_wrk NAME CONNECTIONS SECONDS POLICY EXPECTED_FILE: wrk in the background posting the
# Deployment review to /validate/POLICY, checking every answer against EXPECTED_FILE.
load_wrk() {
  REVIEW="$DEPLOYMENT" EXPECTED="$5" wrk -t1 -c"$2" -d"$3"s -s "$FAULTS/post-expect.lua" \
    "https://127.0.0.1:$PORT/validate/$4" >"$BATS_TEST_TMPDIR/wrk-$1.out" 2>&1 &
  BACKGROUND+=($!)
}

# field NAME KEY: a number from the summary line of load_wrk NAME.
field() {
  sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$BATS_TEST_TMPDIR/wrk-$1.out"
}

metric() {
  curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" \
    | sed -n "s/^$1 \([0-9]*\)$/\1/p"
}

# faults_under_load MODE: the broken policies hammered (four keep-alive connections each, more
# than the two guest slots of a 2-core machine) while four connections post to the real one;
# every answer is checked exactly by post-expect.lua. Each policy may hold all guest slots but
# one, so the looping policy, whose every call runs into its deadline, cannot starve the others.
faults_under_load() {
  local mode="$1" guest
  for guest in loop trap memory-bomb; do
    local kind
    case "$guest" in loop) kind=timeout ;; trap) kind=trap ;; memory-bomb) kind=memory_limit ;; esac
    if [ "$mode" = open ]; then
      printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"12345-67890-abcdef","allowed":true,"warnings":["pullthrough: policy \\"%s\\" failed (%s); admitted unchanged"]}}' \
        "$guest" "$kind" >"$BATS_TEST_TMPDIR/expected-$guest"
    else
      printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"12345-67890-abcdef","allowed":false,"status":{"code":500,"message":"pullthrough: policy \\"%s\\" failed (%s)"}}}' \
        "$guest" "$kind" >"$BATS_TEST_TMPDIR/expected-$guest"
    fi
    # One answer by hand first, so a mismatch shows the actual body.
    out="$(post "/validate/$guest" "$DEPLOYMENT")"
    [ "$(status_of "$out")" = 200 ]
    [ "$(body_of "$out")" = "$(cat "$BATS_TEST_TMPDIR/expected-$guest")" ] || { echo "$out"; return 1; }
  done
  # The real policy's answer, checked against the fixture's expected patch, is what wrk expects.
  post /validate/pullthrough "$DEPLOYMENT" | sed '$d' >"$BATS_TEST_TMPDIR/expected-pullthrough"
  assert_review "$BATS_TEST_DIRNAME/expected/deployment.json" <"$BATS_TEST_TMPDIR/expected-pullthrough"
  # wrk compares bodies byte for byte: drop the newline the shell capture added back.
  printf '%s' "$(cat "$BATS_TEST_TMPDIR/expected-pullthrough")" >"$BATS_TEST_TMPDIR/expected-pullthrough"

  for guest in loop trap memory-bomb; do
    load_wrk "$guest" 4 7 "$guest" "$BATS_TEST_TMPDIR/expected-$guest"
  done
  sleep 1
  load_wrk good 4 5 pullthrough "$BATS_TEST_TMPDIR/expected-pullthrough"
  wait "${BACKGROUND[@]}"
  BACKGROUND=()
  for run in good loop trap memory-bomb; do
    echo "$run: $(tail -n1 "$BATS_TEST_TMPDIR/wrk-$run.out")"
  done
  for run in good loop trap memory-bomb; do
    grep -q "wrong=0 errors_connect=0 errors_read=0 errors_write=0 errors_timeout=0 " \
      "$BATS_TEST_TMPDIR/wrk-$run.out" || { cat "$BATS_TEST_TMPDIR/wrk-$run.out"; return 1; }
  done
  # The real policy kept its throughput and latency: p99 about 7 ms here (generous bound: the
  # machine is shared); when the looping policy could take both slots it was about 300 ms.
  [ "$(field good requests)" -ge 1000 ]
  [ "$(field good p99_us)" -lt 50000 ]
  # The loop runs into its 200 ms deadline each time, one call at a time: about 33 in 7 s.
  [ "$(field loop requests)" -ge 20 ]
  [ "$(field trap requests)" -ge 100 ]
  [ "$(field memory-bomb requests)" -ge 100 ]
  # Each failure was counted under its kind: wrk's answers, the one by hand, and at most one
  # per connection that was in flight when wrk stopped.
  outcome="error_allowed"
  [ "$mode" = closed ] && outcome="error_denied"
  for guest in loop trap memory-bomb; do
    case "$guest" in loop) kind=timeout ;; trap) kind=trap ;; memory-bomb) kind=memory_limit ;; esac
    answered=$(($(field "$guest" requests) + 1))
    errors="$(metric "pullthrough_evaluation_errors_total{policy=\"$guest\",kind=\"$kind\"}")"
    outcomes="$(metric "pullthrough_admission_requests_total{policy=\"$guest\",outcome=\"$outcome\"}")"
    echo "$guest: answered $answered, errors $errors, $outcome $outcomes"
    [ "$errors" -ge "$answered" ] && [ "$errors" -le $((answered + 4)) ]
    [ "$outcomes" = "$errors" ]
  done
  [ "$(metric 'pullthrough_admission_requests_total{policy="pullthrough",outcome="error_allowed"}')" = 0 ]
  [ "$(metric 'pullthrough_admission_requests_total{policy="pullthrough",outcome="error_denied"}')" = 0 ]
  # Thousands of 32 MiB memory bombs later, the server's own memory is bounded.
  echo "peak RSS $(peak_rss_kib) KiB"
  [ "$(peak_rss_kib)" -lt $((200 * 1024)) ]
}

@test "policies that hang, trap and exhaust memory under load fail open; the real policy keeps its latency" {
  write_policies
  serve --policies "$BATS_TEST_TMPDIR/policies.yml" --policy-timeout-ms 200 --policy-memory-mib 32
  faults_under_load open
}

@test "with --fail-closed the same policies are denied with the reason; the real policy keeps its latency" {
  write_policies
  serve --policies "$BATS_TEST_TMPDIR/policies.yml" --policy-timeout-ms 200 --policy-memory-mib 32 \
    --fail-closed
  faults_under_load closed
}

@test "two reviews on one HTTP/2 connection with a hanging policy both answer within the API server's timeout" {
  # The API server sends its reviews as streams of one HTTP/2 connection. The first call of a
  # policy runs on the async worker that read it; the connection's own task, woken by that read,
  # must not be left behind it for the whole call, or the second stream is read only after the
  # first is answered and its deadline, counted from then, lies past the API server's.
  python3 "$FAULTS/guest.py" loop "$BATS_TEST_TMPDIR/loop.wasm"
  printf 'loop:\n  module: loop.wasm\n' >"$BATS_TEST_TMPDIR/policies.yml"
  serve --policies "$BATS_TEST_TMPDIR/policies.yml" --policy-timeout-ms 5000 --max-concurrency 1
  out="$(curl -sS --http2 --parallel --parallel-immediate --parallel-max 2 --cacert "$BATS_TEST_TMPDIR/ca.crt" \
    --resolve "$HOST:$PORT:127.0.0.1" -H 'Content-Type: application/json' --data-binary "@$DEPLOYMENT" \
    -o /dev/null -o /dev/null -w '%{http_version} %{http_code} %{time_total}\n' \
    "https://$HOST:$PORT/mutate?timeout=2s" "https://$HOST:$PORT/mutate?timeout=2s")"
  echo "$out"
  [ "$(wc -l <<<"$out")" -eq 2 ]
  # Each is answered at its deadline (2 s less the server's margin of T/4 + 100 ms): one when
  # the guest is interrupted, the other when its wait for the only slot ends, or, on a loaded
  # machine whose timer fires after the slot came free, when its own call starts past it.
  while read -r version code seconds; do
    [ "$version" = 2 ] && [ "$code" = 200 ]
    python3 -c 'import sys; t = float(sys.argv[1]); assert 1.3 < t < 1.9, t' "$seconds"
  done <<<"$out"
  grep -q 'error_kind="timeout"' "$BATS_TEST_TMPDIR/server.log"
  [ "$(grep -cE 'error_kind="(timeout|no_slot)"' "$BATS_TEST_TMPDIR/server.log")" -eq 2 ]
}

@test "a body that stops arriving gets 408 at the body deadline, and its connection closes" {
  serve --mirror registry-mirror.example.com
  result="$(python3 "$REPO/bench/body-attacks.py" "$PORT" trickle)"
  echo "$result"
  [ "$(jq -c '[.status, .closed]' <<<"$result")" = '[408,true]' ]
  # 10 s from the headers, as the header deadline.
  python3 -c 'import sys; sys.exit(not 9.5 <= float(sys.argv[1]) <= 12)' "$(jq .seconds <<<"$result")"
  grep -q 'status=408 reason="request body did not arrive within 10 s"' "$BATS_TEST_TMPDIR/server.log"
  still_serving
}

@test "16 clients posting 7 MiB reviews and 20 stalled 6 MiB bodies stay within the install's memory limit" {
  # The install's guest settings; its memory limit is 64 Mi + 2 × 128 Mi.
  serve --mirror registry-mirror.example.com --max-concurrency 2 --policy-memory-mib 128
  big="$(python3 "$REPO/bench/body-attacks.py" "$PORT" big 16 8)"
  echo "$big"
  # Every answer is a verdict or a retry with Retry-After; no connection dropped.
  [ "$(jq -c '[.errors, (.statuses | keys - ["200", "429"]), (.retry_after - ["1"])]' <<<"$big")" = '[0,[],[]]' ]
  stalled="$(python3 "$REPO/bench/body-attacks.py" "$PORT" stalled 20 6)"
  echo "$stalled"
  # 28 MiB of bodies at once: four stalled ones hold it until the body deadline (408), the others
  # are told to retry (429) after waiting a second.
  [ "$(jq -cS .statuses <<<"$stalled")" = '{"408":4,"429":16}' ]
  peak="$(peak_rss_kib)"
  echo "peak RSS: $peak KiB"
  [ "$peak" -lt $((320 * 1024)) ]
  still_serving
}

@test "1 MB and 4 MB headers get 431 over HTTP/1.1: the client sends them whole and reads the answer" {
  serve --mirror registry-mirror.example.com
  # Without the lingering close the 4 MB send failed every time (the server reset the
  # connection with most of the header unread); the 1 MB one some of the time.
  for size in 1000000 4000000; do
    run python3 "$FAULTS/big_header.py" "$PORT" "$size"
    echo "$size: $output"
    [ "$output" = "$(printf 'sent\nHTTP/1.1 431 Request Header Fields Too Large')" ]
  done
  still_serving
}

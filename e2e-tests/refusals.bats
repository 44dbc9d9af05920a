#!/usr/bin/env bats
# Every command refuses what it cannot do, with the exact exit code and message, checked with the
# real openssl where a certificate is involved; and what the environment says reads like a flag.

load helpers

setup() {
  require_binary
  export KUBECONFIG="$BATS_TEST_TMPDIR/no-such-kubeconfig"
  export HOME="$BATS_TEST_TMPDIR"
  unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
}

teardown() {
  stop_server
}

@test "cert refuses a --ca-key that is not the CA's; openssl would have rejected the result" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  run "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/b" \
    --ca-cert "$BATS_TEST_TMPDIR/a/ca.crt" --ca-key "$BATS_TEST_TMPDIR/a/tls.key"
  [ "$status" -eq 1 ]
  [ "$output" = "Error: cannot sign with the CA in $BATS_TEST_TMPDIR/a/ca.crt and $BATS_TEST_TMPDIR/a/tls.key

Caused by:
    the private key does not belong to the certificate" ]
  [ ! -e "$BATS_TEST_TMPDIR/b/tls.crt" ]
  # With the right key the result verifies.
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/b" \
    --ca-cert "$BATS_TEST_TMPDIR/a/ca.crt" --ca-key "$BATS_TEST_TMPDIR/a/ca.key" >/dev/null 2>&1
  [ "$(openssl verify -CAfile "$BATS_TEST_TMPDIR/a/ca.crt" "$BATS_TEST_TMPDIR/b/tls.crt")" = "$BATS_TEST_TMPDIR/b/tls.crt: OK" ]
}

@test "cert refuses a --ca-cert that is not a CA" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  run "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/b" \
    --ca-cert "$BATS_TEST_TMPDIR/a/tls.crt" --ca-key "$BATS_TEST_TMPDIR/a/tls.key"
  [ "$status" -eq 1 ]
  [ "$(sed -n 4p <<<"$output")" = "    the certificate is not a CA certificate (its basicConstraints do not say CA:TRUE)" ]
}

@test "cert run twice keeps the CA unless --force" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  before="$(sha256sum <"$BATS_TEST_TMPDIR/a/ca.key")"
  run "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a"
  [ "$status" -eq 1 ]
  d="$BATS_TEST_TMPDIR/a"
  [ "$output" = "Error: $d/ca.key already exists and holds a CA key: pass --force to replace it (webhooks registered with the old CA then need the new ca-bundle.b64), or sign with it: --ca-cert $d/ca.crt --ca-key $d/ca.key" ]
  [ "$(sha256sum <"$d/ca.key")" = "$before" ]
  PULLTHROUGH_FORCE=yes "$PULLTHROUGH" cert --out-dir "$d" >/dev/null 2>&1
  [ "$(sha256sum <"$d/ca.key")" != "$before" ]
  [ "$(openssl verify -CAfile "$d/ca.crt" "$d/tls.crt")" = "$d/tls.crt: OK" ]
}

@test "serve refuses a --tls-cert its --ca-file did not sign, and a --ca-file that is not a CA" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/b" >/dev/null 2>&1
  a="$BATS_TEST_TMPDIR/a" b="$BATS_TEST_TMPDIR/b"
  run "$PULLTHROUGH" serve --mirror m.example.com --listen 127.0.0.1:0 \
    --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --ca-file "$b/ca.crt"
  [ "$status" -eq 1 ]
  [[ "$output" == *"Error: --tls-cert $a/tls.crt does not verify against --ca-file $b/ca.crt

Caused by:
    the certificate was not signed by the CA" ]]
  run "$PULLTHROUGH" serve --mirror m.example.com --listen 127.0.0.1:0 \
    --tls-cert "$a/tls.crt" --tls-key "$a/tls.key" --ca-file "$a/tls.crt"
  [ "$status" -eq 1 ]
  [[ "$output" == *"Error: --ca-file $a/tls.crt cannot be the webhook's caBundle

Caused by:
    the certificate is not a CA certificate (its basicConstraints do not say CA:TRUE)" ]]
}

@test "register refuses a --ca-file that is a serving certificate" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  run "$PULLTHROUGH" register --dry-run --ca-file "$BATS_TEST_TMPDIR/a/tls.crt"
  [ "$status" -eq 1 ]
  [ "$output" = "Error: --ca-file $BATS_TEST_TMPDIR/a/tls.crt cannot be the webhook's caBundle

Caused by:
    the certificate is not a CA certificate (its basicConstraints do not say CA:TRUE)" ]
}

@test "serve without --ca-file says the caBundle it prints is the leaf" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  start_server --mirror m.example.com --tls-cert "$BATS_TEST_TMPDIR/a/tls.crt" --tls-key "$BATS_TEST_TMPDIR/a/tls.key"
  grep -q "no --ca-file: the webhook configuration shown below carries the last certificate of --tls-cert as its caBundle" "$BATS_TEST_TMPDIR/server.log"
}

@test "an expired --tls-cert is an error line at start" {
  # `openssl ca` is the one openssl command that back-dates a certificate.
  d="$BATS_TEST_TMPDIR/oldca"
  mkdir -p "$d" && touch "$d/index.txt" && echo 01 >"$d/serial"
  printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\nserial = %s/serial\nnew_certs_dir = %s\ndefault_md = sha256\npolicy = p\nx509_extensions = e\n[p]\ncommonName = supplied\n[e]\nbasicConstraints = CA:FALSE\nsubjectAltName = DNS:localhost\n' "$d" "$d" "$d" >"$d/ca.cnf"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=old-ca -days 3650 \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$d/old.key" -out "$d/old.csr" 2>/dev/null
  openssl ca -batch -notext -config "$d/ca.cnf" -cert "$d/ca.crt" -keyfile "$d/ca.key" -in "$d/old.csr" \
    -out "$d/old.crt" -startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null
  start_server --mirror m.example.com --tls-cert "$d/old.crt" --tls-key "$d/old.key" --ca-file "$d/ca.crt"
  grep -q "ERROR.*serving the certificate of --tls-cert: it has EXPIRED; the API server refuses every call until it is replaced.*not_after=2020-01-02T00:00:00Z" "$BATS_TEST_TMPDIR/server.log"
  [ "$(curl -sk "https://127.0.0.1:$PORT/readyz")" = "serving certificate is not valid now" ]
}

@test "manifests refuses flags that would crash-loop the install" {
  run "$PULLTHROUGH" manifests --mirror http://x
  [ "$status" -eq 1 ]
  [ "$output" = 'Error: --mirror "http://x" is not a mirror the policy accepts

Caused by:
    settings.mirror must be host[:port] optionally followed by a path, got "http://x": leave out the scheme' ]
  run "$PULLTHROUGH" manifests --mirror m.example.com --image 'Not An Image'
  [ "$status" -eq 1 ]
  [ "$(head -n1 <<<"$output")" = 'Error: --image "Not An Image" is not an image reference' ]
  run "$PULLTHROUGH" manifests --mirror m.example.com --replicas 0
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: invalid value '0' for '--replicas <N>': must be at least 1" ]
  run "$PULLTHROUGH" manifests --mirror m.example.com --namespace default
  [ "$status" -eq 1 ]
  [ "$output" = 'Error: --namespace default is shared with other workloads: the install creates its namespace (`kubectl delete -f` would delete it) and pullthrough never rewrites images in its own namespace; choose one of its own, e.g. --namespace pullthrough' ]
}

@test "impossible numbers and names are usage errors (exit 2) naming the flag" {
  run "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/c" --extra-san 'bad name!'
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: invalid value 'bad name!' for '--extra-san <NAME>': must be a DNS name (letters, digits, '-' and '.', optionally starting with '*.') or an IP address" ]
  run "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/c" --cert-validity-days 0
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: invalid value '0' for '--cert-validity-days <DAYS>': must be a whole number of days from 1 to 36500" ]
  run "$PULLTHROUGH" serve --mirror m.example.com --cert-validity-days 0
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: invalid value '0' for '--cert-validity-days <DAYS>': must be a whole number of days from 1 to 36500" ]
  run "$PULLTHROUGH" run --timeout-ms 0 -r - policy.wasm
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: invalid value '0' for '--policy-timeout-ms <MS>': must be at least 1" ]
  run "$PULLTHROUGH" register --dry-run --ca-file x --only-namespaces 'team-a,'
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: invalid value '' for '--only-namespaces <NAMESPACE>': must not be empty" ]
  run "$PULLTHROUGH" register --dry-run --ca-file x --only-namespaces 'Team_A'
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: invalid value 'Team_A' for '--only-namespaces <NAMESPACE>': must be lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters" ]
  [ ! -e "$BATS_TEST_TMPDIR/c" ]
}

@test "a policies entry without allowedToMutate is warned about at load, by name" {
  cp "$REPO/policy.wasm" "$BATS_TEST_TMPDIR/policy.wasm" 2>/dev/null \
    || skip "no policy.wasm (scripts/build-policy builds it)"
  printf 'rewrite:\n  module: policy.wasm\n  settings:\n    mirror: m.example.com\n' >"$BATS_TEST_TMPDIR/policies.yml"
  start_server --policies "$BATS_TEST_TMPDIR/policies.yml"
  grep -q "WARN.*policy \"rewrite\" does not set allowedToMutate, so it may not mutate: a patch it returns denies the request (as in Kubewarden's policy-server), and under failurePolicy Ignore that denial is the first sign; add \`allowedToMutate: true\` to rewrite's entry if it rewrites objects, or \`allowedToMutate: false\` if it only validates" "$BATS_TEST_TMPDIR/server.log"
}

@test "switches read yes and 1 from the environment; register --dry-run has a variable" {
  "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/a" >/dev/null 2>&1
  for value in yes 1 on true; do
    run env PULLTHROUGH_DRY_RUN="$value" "$PULLTHROUGH" register --ca-file "$BATS_TEST_TMPDIR/a/ca.crt"
    [ "$status" -eq 0 ] || { echo "$value: $output"; return 1; }
    [[ "$output" == *"kind: MutatingWebhookConfiguration"* ]]
  done
  # `no` is false: register then tries the (absent) cluster.
  run env PULLTHROUGH_DRY_RUN=no "$PULLTHROUGH" register --ca-file "$BATS_TEST_TMPDIR/a/ca.crt"
  [ "$status" -eq 1 ]
  run env PULLTHROUGH_EXTRA_SAN=webhook.example.com "$PULLTHROUGH" cert --out-dir "$BATS_TEST_TMPDIR/e"
  [ "$status" -eq 0 ]
  [[ "$output" == *"names: pullthrough, pullthrough.pullthrough, pullthrough.pullthrough.svc, pullthrough.pullthrough.svc.cluster.local, webhook.example.com"* ]]
}

@test "every command's usage line shows what it requires" {
  # As a newcomer runs it: clap lists flags that arrive through the environment in the usage
  # line, and helpers.bash sets two for every server the suites start.
  run env -u PULLTHROUGH_NO_MIRROR_CHECK -u PULLTHROUGH_SHUTDOWN_GRACE_SECONDS "$PULLTHROUGH" serve
  [ "$status" -eq 2 ]
  [ "$output" = "error: the following required arguments were not provided:
  <--mirror <MIRROR>|--settings-json <JSON>|--policies <FILE>>

Usage: pullthrough serve <--mirror <MIRROR>|--settings-json <JSON>|--policies <FILE>>

For more information, try '--help'." ]
  run "$PULLTHROUGH" serve --help
  [[ "$output" == *"Usage: pullthrough serve [OPTIONS] <--mirror <MIRROR>|--settings-json <JSON>|--policies <FILE>>"* ]]
  run "$PULLTHROUGH" serve --mirror m.example.com --policies p.yml
  [ "$status" -eq 2 ]
  [ "$(head -n1 <<<"$output")" = "error: the argument '--mirror <MIRROR>' cannot be used with '--policies <FILE>'" ]
  run "$PULLTHROUGH" register --help
  [[ "$output" != *"--extra-san"* ]]
  [[ "$output" == *"Usage: pullthrough register [OPTIONS] --ca-file <FILE>"* ]]
}

#!/usr/bin/env bats
# failurePolicy as the API server applies it: with the webhook down, Ignore admits unchanged
# within the timeout and Fail refuses.

load helpers

setup_file() {
  ensure_webhook
  new_namespace failure
}

teardown_file() {
  # Never leave a Fail policy registered for the suites after this one.
  stop_replica a
  "$PULLTHROUGH" unregister >/dev/null
}

# create_pod NAME: creates a Pod with nginx:1.27; prints its stored image and how long the
# create took in milliseconds.
create_pod() {
  local start end image
  start=$(date +%s%N)
  image="$(k -n failure run "$1" --image=nginx:1.27 --restart=Never -o jsonpath='{.spec.containers[0].image}')"
  end=$(date +%s%N)
  echo "$image $(((end - start) / 1000000))"
}

@test "webhook stopped under failurePolicy Ignore: admitted unchanged at once" {
  stop_replica a
  read -r image ms < <(create_pod stopped)
  [ "$image" = nginx:1.27 ]
  echo "admitted in $ms ms" >&3
  ((ms < 2000))
}

@test "webhook hanging under failurePolicy Ignore: admitted unchanged after timeoutSeconds" {
  start_replica a "${REPLICA_IPS[0]}" --timeout-seconds 2
  wait_for 30 "rewriting" rewriting_in failure
  kill -STOP "$(replica_pid a)"
  read -r image ms < <(create_pod hanging)
  kill -CONT "$(replica_pid a)"
  [ "$image" = nginx:1.27 ]
  echo "admitted in $ms ms (timeoutSeconds 2)" >&3
  ((ms >= 1900 && ms < 5000))
  stop_replica a
}

@test "failurePolicy Fail: refused while the webhook is down, rewritten once it is back" {
  start_replica a "${REPLICA_IPS[0]}" --failure-policy fail
  [ "$(k get mutatingwebhookconfiguration pullthrough -o jsonpath='{.webhooks[0].failurePolicy}')" = Fail ]
  wait_for 30 "rewriting" rewriting_in failure
  stop_replica a
  run k -n failure run refused --image=nginx:1.27 --restart=Never
  [ "$status" -ne 0 ]
  [[ "$output" == *'failed calling webhook "rewrite.pullthrough.dev"'* ]]
  run k -n failure get pod refused
  [[ "$output" == *NotFound* ]]
  start_replica a "${REPLICA_IPS[0]}" --failure-policy fail
  read -r image _ < <(create_pod accepted)
  [ "$image" = "$MIRROR/library/nginx:1.27" ]
}

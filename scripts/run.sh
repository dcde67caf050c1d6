#!/usr/bin/env bash
# Starts everything on this machine: PostgreSQL + NATS, migrations, one node, one gateway and a
# small simulated fleet, then shows a backend call through the gateway. Ctrl-C stops what it started.
#
# Environment (optional): COAP_PORT (5683), COAPS_PORT (5684), GRPC_PORT (50051), FLEET (20 devices).
set -euo pipefail
cd "$(dirname "$0")/.."
coap_port=${COAP_PORT:-5683}
coaps_port=${COAPS_PORT:-5684}
grpc_port=${GRPC_PORT:-50051}
fleet=${FLEET:-20}
logs=.state/logs
mkdir -p "$logs"

eval "$(scripts/services.sh)"
echo "building..." >&2
cargo build --workspace --bins >&2
bin=target/debug

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "stopping (pids ${pids[*]:-})" >&2
  # Last started first: the fleet de-registers while its node still answers.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[$i]}
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
}
trap cleanup INT TERM EXIT

"$bin/lwm2m-node" migrate >&2
"$bin/lwm2m-node" --coap-listen "127.0.0.1:$coap_port" --coaps-listen "127.0.0.1:$coaps_port" --node-id node-1 >"$logs/node-1.log" 2>&1 &
pids+=($!)
"$bin/lwm2m-gateway" --grpc-listen "127.0.0.1:$grpc_port" >"$logs/gateway.log" 2>&1 &
pids+=($!)
export LWM2M_GATEWAY="http://127.0.0.1:$grpc_port"
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null && break; sleep 0.1; done

"$bin/lwm2m-sim" --server "127.0.0.1:$coap_port" --count "$fleet" --prefix sim- --lifetime 60 >"$logs/fleet.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "devices registered" "$logs/fleet.log" 2>/dev/null && break; sleep 0.1; done
# One device over DTLS with a pre-shared key (identity secure-0001-id, key hex 736563726574).
"$bin/lwm2m" security put secure-0001 --psk-identity secure-0001-id --psk-key 736563726574 >/dev/null
"$bin/lwm2m-sim" --server "127.0.0.1:$coaps_port" --count 1 --prefix secure- --lifetime 60 --psk-key 736563726574 >"$logs/secure.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "devices registered" "$logs/secure.log" 2>/dev/null && break; sleep 0.1; done

cat <<TXT

== LwM2M cluster running ==
  node     coap://127.0.0.1:$coap_port   (log $logs/node-1.log)
  gateway  $LWM2M_GATEWAY       (log $logs/gateway.log)
  coaps    coaps://127.0.0.1:$coaps_port (DTLS-PSK; secure-0001 registered over it, log $logs/secure.log)
  fleet    $fleet simulated devices sim-0001.. (log $logs/fleet.log)
  $(echo "DATABASE_URL=$DATABASE_URL NATS_URL=$NATS_URL")

Try (in another shell, with LWM2M_GATEWAY=$LWM2M_GATEWAY):
  $bin/lwm2m list
  $bin/lwm2m get sim-0001
  $bin/lwm2m get secure-0001            # registered over DTLS: shows its PSK identity
  $bin/lwm2m read secure-0001 /3/0
  $bin/lwm2m security list
  $bin/lwm2m read sim-0001 /3/0
  $bin/lwm2m read sim-0001 /3/0/0 --format text
  $bin/lwm2m watch --from-seq 1
  $bin/lwm2m observe sim-0001 /3/0/9
  $bin/lwm2m observation create sim-0001 /3/0/9 && $bin/lwm2m notifications --from-seq 1
A real client (for example libcoap): coap-client-notls -m post -t 40 -e '</1/0>,</3/0>' 'coap://127.0.0.1:$coap_port/rd?ep=my-device&lt=300&lwm2m=1.1'

== lwm2m list ==
TXT
"$bin/lwm2m" list
echo
echo "== lwm2m read sim-0001 /3/0 =="
"$bin/lwm2m" read sim-0001 /3/0
echo
echo "== lwm2m observe sim-0001 /3/0/9 --count 1 =="
"$bin/lwm2m" observe sim-0001 /3/0/9 --count 1
echo
echo "Running. Ctrl-C stops the node, the gateway and the fleet (Postgres and NATS keep running)."
if [ -n "${RUN_ONCE:-}" ]; then exit 0; fi
wait

#!/usr/bin/env bash
# Runs every test of the workspace: unit tests and the end-to-end tests against real PostgreSQL,
# a real nats-server and real node / gateway processes. What CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# libcoap's client is the independent CoAP peer of the interop tests.
if ! command -v coap-client-notls >/dev/null 2>&1; then
  echo "test: installing libcoap3-bin" >&2
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends libcoap3-bin >&2
fi

# aiocoap on tinydtls (PyPI aiocoap + DTLSSocket) is the third DTLS stack of the interop tests.
scripts/aiocoap.sh >/dev/null

# Tests get their own database (LWM2M_DB, default lwm2m_test), so a running demo (scripts/run.sh)
# never sees test devices.
eval "$(LWM2M_DB=${LWM2M_DB:-lwm2m_test} scripts/services.sh)"

# The end-to-end tests start the binaries: build them first.
cargo build --workspace --bins --tests
log=$(mktemp)
trap 'rm -f "$log" "$log.bench.json"' EXIT
set +e
cargo test --workspace --lib --bins --tests --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# Every benchmark scenario, tiny, checked for sanity not speed (no errors, counts add up).
target/debug/lwm2m-bench --out "$log.bench.json" smoke
bench_status=$?
set -e
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
if [ "$status" -ne 0 ]; then exit "$status"; fi
exit "$bench_status"

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

eval "$(scripts/services.sh)"

# The end-to-end tests start the binaries: build them first.
cargo build --workspace --bins --tests
cargo test --workspace --no-fail-fast "$@"

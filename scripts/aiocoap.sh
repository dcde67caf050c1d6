#!/usr/bin/env bash
# Installs the aiocoap + DTLSSocket (tinydtls) peer of the DTLS interoperability test into a venv
# under /var/tmp and prints the path of its python. Idempotent.
set -euo pipefail
venv=/var/tmp/lwm2m-aiocoap
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! "$venv/bin/python" -c 'import aiocoap, DTLSSocket' >/dev/null 2>&1; then
  # DTLSSocket is source-only on PyPI: it builds tinydtls with autotools.
  if ! command -v autoreconf >/dev/null 2>&1 || ! command -v libtoolize >/dev/null 2>&1; then
    echo "aiocoap: installing autoconf, automake, libtool" >&2
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      autoconf automake libtool build-essential python3-venv python3-dev >&2
  fi
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q aiocoap==0.4.17 DTLSSocket==0.2.3 >&2
fi
echo "$venv/bin/python"

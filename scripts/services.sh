#!/usr/bin/env bash
# Starts throwaway PostgreSQL 15 and Redis servers on loopback, idempotently, and prints the
# environment exports the tests read. Installs redis-server (and nodejs and npm, for the Kinto
# JS clients' suite, and chromium, for the Kinto web admin's journeys) with apt-get when they
# are missing.
# Run as root. Usage: eval "$(bash scripts/services.sh)"
#        bash scripts/services.sh stop   (stops the servers this script started in SVC_DIR)
#
# Overrides (environment), the same for start and stop:
#   PG_PORT     PostgreSQL port (default 55432)
#   REDIS_PORT  Redis port (default 56379)
#   SVC_DIR     directory of the servers' data, pid files and logs
#               (default /tmp/cliquet-test-services)
#   PGBIN       directory of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin)
set -euo pipefail
PG_PORT=${PG_PORT:-55432}
REDIS_PORT=${REDIS_PORT:-56379}
SVC_DIR=${SVC_DIR:-/tmp/cliquet-test-services}
cd /tmp # initdb and pg_ctl run as user postgres and need a readable working directory

log() { echo "services: $*" >&2; }

case "${1:-start}" in
start) ;;
stop)
  # Only the servers started with this SVC_DIR: Redis by its pid file, PostgreSQL by its
  # data directory. Their data stays in SVC_DIR (delete it to start afresh).
  if [ -f "$SVC_DIR/redis.pid" ]; then
    pid=$(cat "$SVC_DIR/redis.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      log "redis stopped (pid $pid)"
    fi
    rm -f "$SVC_DIR/redis.pid"
  fi
  if [ -f "$SVC_DIR/pg/data/postmaster.pid" ]; then
    PGBIN=${PGBIN:-}
    if [ -z "$PGBIN" ]; then
      for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && PGBIN=$d; done
    fi
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$SVC_DIR/pg/data" -m fast -w stop >&2
    log "postgresql stopped"
  fi
  exit 0
  ;;
*)
  log "usage: eval \"\$(bash scripts/services.sh)\" | bash scripts/services.sh stop"
  exit 2
  ;;
esac
mkdir -p "$SVC_DIR"; chmod 755 "$SVC_DIR"

# --- PostgreSQL ---------------------------------------------------------------------------
PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PGBIN=$d; done
fi
if [ -z "$PGBIN" ]; then
  log "installing postgresql with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PGBIN=$d; done
fi
if ! command -v psql >/dev/null; then export PATH="$PGBIN:$PATH"; fi

# --- Redis --------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null; then
  log "installing redis-server with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2
fi
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$SVC_DIR/redis.pid" --logfile "$SVC_DIR/redis.log" >&2
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
  done
fi
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG || { log "redis did not start"; exit 1; }

# --- Node.js (examples/kinto/jstest/run.sh, the last step of scripts/test) -----------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi

# --- Chromium (examples/kinto/admintest/run.sh: the Kinto web admin in a headless browser) --
# Debian's package, never a browser downloaded by an npm package.
if ! [ -x /usr/bin/chromium ]; then
  log "installing chromium with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
fi

PGHOME="$SVC_DIR/pg"; PGDATA="$PGHOME/data"
install -d -o postgres -g postgres "$PGHOME"
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PGHOME/initdb.log"
fi
if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGHOME/pg.log" -w -t 30 start \
    -o "-p $PG_PORT -k $PGHOME -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >&2
fi
for db in testdb benchdb; do
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $db" >&2
done

echo "export CLIQUET_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:$PG_PORT/testdb?sslmode=disable'"
echo "export CLIQUET_TEST_REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'"

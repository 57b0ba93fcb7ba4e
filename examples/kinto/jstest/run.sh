#!/usr/bin/env bash
# Runs the official Kinto JS clients (kinto-http, kinto.js) against examples/kinto, first on
# memory backends, then on PostgreSQL (database kinto_jstest on CLIQUET_TEST_POSTGRES_DSN's
# server, named after this run's process id, created and dropped at the end, schema brought up
# with `migrate`).
# Usage: bash examples/kinto/jstest/run.sh   (needs node >= 18 and npm, which
# scripts/services.sh installs; PostgreSQL part skipped when CLIQUET_TEST_POSTGRES_DSN is
# unset, unless CI is set, then it fails)
set -euo pipefail
min_node=18
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "kinto jstest: node >= $min_node and npm are required (bash scripts/services.sh installs them with apt-get)" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)"
if ! [ "$node_major" -ge "$min_node" ] 2>/dev/null; then
  echo "kinto jstest: node $(node --version 2>/dev/null || echo '?') is too old: node >= $min_node is required" >&2
  exit 1
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
server_pid=""
database="" # this run's PostgreSQL database, dropped at exit
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$database" ]; then psql "$dsn" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== kinto jstest: npm ci" >&2
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
echo "== kinto jstest: go build" >&2
(cd "$root" && go build -o "$work/kinto" ./examples/kinto)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# run_suite NAME [--ini FILE]: starts the server on a free loopback port, waits for its
# heartbeat, runs the node tests, stops the server.
run_suite() {
  local name="$1"; shift
  local port; port="$(free_port)"
  "$work/kinto" --listen "127.0.0.1:$port" "$@" >"$work/$name.log" 2>&1 &
  server_pid=$!
  local url="http://127.0.0.1:$port/v1"
  for _ in $(seq 1 100); do
    if curl -fsS "$url/__lbheartbeat__" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/$name.log" >&2; echo "kinto server ($name) died" >&2; return 1; fi
    sleep 0.1
  done
  echo "== kinto jstest: node --test on $name ($url)" >&2
  local status=0
  (cd "$here" && KINTO_URL="$url" node --test ./*.test.mjs) || status=$?
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [ "$status" -ne 0 ]; then
    echo "kinto jstest failed on $name; server log:" >&2
    tail -n 50 "$work/$name.log" >&2
    return "$status"
  fi
}

run_suite memory

dsn="${CLIQUET_TEST_POSTGRES_DSN:-}"
if [ -z "$dsn" ]; then
  if [ -n "${CI:-}" ]; then echo "CLIQUET_TEST_POSTGRES_DSN is not set" >&2; exit 1; fi
  echo "== kinto jstest: CLIQUET_TEST_POSTGRES_DSN not set, PostgreSQL run skipped" >&2
  exit 0
fi
database="kinto_jstest_$$" # two runs sharing the server never share a database
psql "$dsn" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true # a dead run's, same pid
psql "$dsn" -qc "CREATE DATABASE $database" >/dev/null
pgdsn="$(python3 -c 'import sys, urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$dsn" "$database")"
cat >"$work/kinto.ini" <<INI
[app:main]
kinto.storage_backend = postgresql
kinto.storage_url = $pgdsn
kinto.permission_backend = postgresql
kinto.permission_url = $pgdsn
kinto.cache_backend = postgresql
kinto.cache_url = $pgdsn
INI
echo "== kinto jstest: migrate" >&2
"$work/kinto" migrate --ini "$work/kinto.ini" >&2
run_suite postgresql --ini "$work/kinto.ini"

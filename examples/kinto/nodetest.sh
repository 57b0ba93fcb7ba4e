# Shared steps of the Node suites run against examples/kinto (jstest/run.sh, admintest/run.sh):
# check node, npm ci, build the server, start and stop it on a free loopback port, and create
# a PostgreSQL database of the run's own with an ini file pointing at it. Sourced, not run.
# The caller sets `suite` (its name in messages) and `here` (its directory) before sourcing,
# and gets `root` (the repository), `work` (a temporary directory removed at exit) and, after
# kinto_start, `server_url`. Everything started here is stopped, and the database dropped, at
# exit.

min_node=18
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
server_pid=""
database="" # the run's PostgreSQL database, dropped at exit
dsn="${CLIQUET_TEST_POSTGRES_DSN:-}"

kinto_cleanup() {
  kinto_stop
  if [ -n "$database" ]; then psql "$dsn" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap kinto_cleanup EXIT

# kinto_require_node fails unless node >= min_node and npm are installed.
kinto_require_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "kinto $suite: node >= $min_node and npm are required (bash scripts/services.sh installs them with apt-get)" >&2
    exit 1
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)"
  if ! [ "$major" -ge "$min_node" ] 2>/dev/null; then
    echo "kinto $suite: node $(node --version 2>/dev/null || echo '?') is too old: node >= $min_node is required" >&2
    exit 1
  fi
}

# kinto_setup installs the suite's pinned packages and builds the server into $work/kinto.
kinto_setup() {
  echo "== kinto $suite: npm ci" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "== kinto $suite: go build" >&2
  (cd "$root" && go build -o "$work/kinto" ./examples/kinto)
}

kinto_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# kinto_start NAME [server arguments...] starts the server on a free loopback port, logging
# to $work/NAME.log, waits for its heartbeat and sets server_url (http://127.0.0.1:PORT/v1).
kinto_start() {
  local name="$1"; shift
  local port; port="$(kinto_free_port)"
  "$work/kinto" --listen "127.0.0.1:$port" "$@" >"$work/$name.log" 2>&1 &
  server_pid=$!
  server_url="http://127.0.0.1:$port/v1"
  for _ in $(seq 1 100); do
    if curl -fsS "$server_url/__lbheartbeat__" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$work/$name.log" >&2
      echo "kinto server ($name) died" >&2
      server_pid=""
      return 1
    fi
    sleep 0.1
  done
  echo "kinto server ($name) did not answer its heartbeat" >&2
  return 1
}

# kinto_stop stops the server kinto_start started, if any.
kinto_stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

# kinto_run_suite NAME [server arguments...] runs the suite's node tests (./*.test.mjs in
# $here, with KINTO_URL) against a server of their own, and reports a failure with the end of
# the server's log.
kinto_run_suite() {
  local name="$1"; shift
  kinto_start "$name" "$@"
  echo "== kinto $suite: node --test on $name ($server_url)" >&2
  local status=0
  (cd "$here" && KINTO_URL="$server_url" node --test ./*.test.mjs) || status=$?
  kinto_stop
  if [ "$status" -ne 0 ]; then
    echo "kinto $suite failed on $name; server log:" >&2
    tail -n 50 "$work/$name.log" >&2
    return "$status"
  fi
}

# kinto_want_postgresql says whether to run on PostgreSQL: yes when CLIQUET_TEST_POSTGRES_DSN
# is set; when it is unset, no (with a message), unless CI is set, then it fails.
kinto_want_postgresql() {
  if [ -n "$dsn" ]; then return 0; fi
  if [ -n "${CI:-}" ]; then echo "CLIQUET_TEST_POSTGRES_DSN is not set" >&2; exit 1; fi
  echo "== kinto $suite: CLIQUET_TEST_POSTGRES_DSN not set, PostgreSQL run skipped" >&2
  return 1
}

# kinto_postgresql_ini creates the run's database on CLIQUET_TEST_POSTGRES_DSN's server
# (kinto_<suite>_<pid>: two runs sharing the server never share a database), writes
# $work/kinto.ini with the three PostgreSQL backends on it and brings the schema up with
# migrate.
kinto_postgresql_ini() {
  database="kinto_${suite}_$$"
  psql "$dsn" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true # a dead run's, same pid
  psql "$dsn" -qc "CREATE DATABASE $database" >/dev/null
  local pgdsn
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
  echo "== kinto $suite: migrate" >&2
  "$work/kinto" migrate --ini "$work/kinto.ini" >&2
}

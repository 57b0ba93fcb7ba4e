#!/usr/bin/env bash
# Runs the official Kinto JS clients (kinto-http, kinto.js) against examples/kinto, first on
# memory backends, then on PostgreSQL (database kinto_jstest_<pid> on CLIQUET_TEST_POSTGRES_DSN's
# server, created and dropped at the end, schema brought up with `migrate`).
# Usage: bash examples/kinto/jstest/run.sh   (needs node >= 18 and npm, which
# scripts/services.sh installs; PostgreSQL part skipped when CLIQUET_TEST_POSTGRES_DSN is
# unset, unless CI is set, then it fails)
set -euo pipefail
suite=jstest
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../nodetest.sh
source "$here/../nodetest.sh"

kinto_require_node
kinto_setup

kinto_run_suite memory
if kinto_want_postgresql; then
  kinto_postgresql_ini
  kinto_run_suite postgresql --ini "$work/kinto.ini"
fi

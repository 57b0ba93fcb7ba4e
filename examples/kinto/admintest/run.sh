#!/usr/bin/env bash
# Runs the Kinto web admin (kinto-admin, from npm) in headless Chromium against
# examples/kinto: the user journeys of journeys.test.mjs, first on memory backends, then on
# PostgreSQL (database kinto_admintest_<pid> on CLIQUET_TEST_POSTGRES_DSN's server, created and
# dropped at the end, schema brought up with `migrate`). The admin is built from its npm
# package into dist/ (build.mjs) and served from another loopback port than the API's, so that
# it is cross-origin, as an admin hosted apart from Kinto is.
# Usage: bash examples/kinto/admintest/run.sh   (needs node >= 18, npm and Debian's chromium,
# which scripts/services.sh installs with apt-get; CHROMIUM names another binary. Without
# chromium the run is skipped, unless CI is set, then it fails; the PostgreSQL part likewise
# without CLIQUET_TEST_POSTGRES_DSN.) SCREENSHOTS=DIR saves a screenshot of each failed journey.
set -euo pipefail
suite=admintest
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../nodetest.sh
source "$here/../nodetest.sh"

kinto_require_node
chromium="${CHROMIUM:-/usr/bin/chromium}"
if ! [ -x "$chromium" ]; then
  if [ -n "${CI:-}" ]; then
    echo "kinto admintest: $chromium is missing: Debian's chromium is required (bash scripts/services.sh installs it with apt-get)" >&2
    exit 1
  fi
  echo "== kinto admintest: $chromium is missing, admin journeys skipped (bash scripts/services.sh installs it)" >&2
  exit 0
fi
export CHROMIUM="$chromium"

kinto_setup
echo "== kinto admintest: build the admin" >&2
(cd "$here" && node build.mjs)

# The server runs with Kinto's history plugin on (the admin's History tabs).
export KINTO_INCLUDES="kinto.plugins.history"
kinto_run_suite memory
if kinto_want_postgresql; then
  kinto_postgresql_ini
  kinto_run_suite postgresql --ini "$work/kinto.ini"
fi

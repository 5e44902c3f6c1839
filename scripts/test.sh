#!/usr/bin/env bash
# Quick start, command 2: install what the tests need and run every test:
# formatting and lints, unit tests (sans-IO cores, RFC 4475), and the
# integration tests against the real binary with real peers (SIPp, pjsip),
# with storage tests on SQLite and on a PostgreSQL this script starts, and
# the admin UI in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh test
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# Python peers (pjsua2 for SHA-256 digest).
if [ ! -x .venv-test/bin/python ]; then
  python3 -m venv .venv-test
fi
.venv-test/bin/pip install -q --disable-pip-version-check -r tests/peers/requirements.txt
export DIALROOM_TEST_PYTHON="$root/.venv-test/bin/python"

# Browser tests: playwright-core (npm, pinned in tests/browser/package-lock.json)
# drives Debian's chromium; no browser is downloaded.
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

# A throwaway PostgreSQL on a random loopback port.
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
pgdir=$(mktemp -d /tmp/dialroom-pg.XXXXXX)
pgport=$(( 20000 + RANDOM % 20000 ))
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" -eq 0 ] && chown postgres "$pgdir"
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap cleanup EXIT
as_pg "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust >/dev/null
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
export DIALROOM_PG_URL="postgres://postgres@127.0.0.1:$pgport/postgres"

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
echo "test: all passed"

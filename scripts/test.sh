#!/usr/bin/env bash
# Sets up everything (libtorch, models, the Python reference stack for parity tests, PostgreSQL
# and Redis when they are missing) and runs every test of the workspace.
#
# PostgreSQL and Redis are used at their standard local ports when reachable; otherwise this
# script starts them if installed, or installs them from Debian's packages when run as root.
# When they still cannot be had, their tests are skipped, except under CI=true where that is an
# error.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

bash scripts/setup.sh --pyref

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

ensure_postgres() {
  port_open 5432 && return 0
  if ! command -v pg_ctlcluster >/dev/null && can_apt; then
    log "installing PostgreSQL"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if command -v pg_ctlcluster >/dev/null; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    [ -n "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    for _ in $(seq 1 20); do port_open 5432 && break; sleep 0.5; done
    if port_open 5432 && [ "$(id -u)" = 0 ]; then
      # A fresh cluster: trust local TCP connections and create the test database.
      su postgres -c "psql -qtc \"SELECT 1 FROM pg_database WHERE datname='test'\"" 2>/dev/null | grep -q 1 \
        || su postgres -c "createdb test" 2>/dev/null || true
    fi
  fi
  port_open 5432
}

ensure_redis() {
  port_open 6379 && return 0
  if ! command -v redis-server >/dev/null && can_apt; then
    log "installing Redis"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 20); do port_open 6379 && break; sleep 0.5; done
  fi
  port_open 6379
}

if ensure_postgres; then
  for user in postgres root; do
    url="postgres://$user@127.0.0.1:5432/test"
    if command -v psql >/dev/null && psql "$url" -qtc 'SELECT 1' >/dev/null 2>&1; then
      export ADFORGE_TEST_DATABASE_URL="$url"
      break
    fi
  done
  export ADFORGE_TEST_DATABASE_URL="${ADFORGE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
  log "PostgreSQL tests use $ADFORGE_TEST_DATABASE_URL"
elif [ "${CI:-}" = true ]; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started" >&2; exit 1
else
  log "PostgreSQL unavailable: its tests will be skipped"
fi
if ensure_redis; then
  export ADFORGE_TEST_REDIS_URL="redis://127.0.0.1:6379"
  log "Redis tests use $ADFORGE_TEST_REDIS_URL"
elif [ "${CI:-}" = true ]; then
  echo "Redis is not reachable on 127.0.0.1:6379 and could not be started" >&2; exit 1
else
  log "Redis unavailable: its tests will be skipped"
fi

# Browser tests of the dashboard: Debian's Chromium driven by playwright-core from npm.
if [ -f api/tests/browser/package.json ]; then
  if { ! command -v chromium >/dev/null || ! command -v npm >/dev/null; } && can_apt; then
    log "installing Chromium and Node.js"
    apt-get update -qq
    command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true
    command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || true
  fi
  if command -v npm >/dev/null && [ ! -d api/tests/browser/node_modules ]; then
    log "installing the browser test's npm packages"
    if [ -f api/tests/browser/package-lock.json ]; then
      npm ci --silent --prefix api/tests/browser
    else
      npm install --silent --prefix api/tests/browser
    fi
  fi
fi

# Leftover per-test PostgreSQL databases of earlier runs.
if [ -n "${ADFORGE_TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null; then
  psql "$ADFORGE_TEST_DATABASE_URL" -qtAc "SELECT datname FROM pg_database WHERE datname LIKE 'adforge_t_%'" 2>/dev/null |
    while read -r db; do [ -n "$db" ] && psql "$ADFORGE_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; done || true
fi

# Fixtures made by the Python reference stack: tiny random checkpoints and reference outputs.
export ADFORGE_FIXTURES="${ADFORGE_FIXTURES:-$ROOT/target/fixtures}"
for script in */tests/fixtures/make_*.py; do
  [ -e "$script" ] || continue
  name=$(basename "$script" .py); name=${name#make_}
  out="$ADFORGE_FIXTURES/$name"
  stamp=$(sha256sum "$script" | cut -c1-16)
  if [ "$(cat "$out/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "building fixture $name"
    rm -rf "$out" && mkdir -p "$out"
    HF_HUB_OFFLINE=1 .deps/pyref/bin/python "$script" "$out"
    echo "$stamp" >"$out/.stamp"
  fi
done

log "cargo test"
cargo test --workspace --locked "$@"

#!/usr/bin/env bash
# Manager load benchmark: a release `groupcast manager` on SQLite (and on PostgreSQL when
# GROUPCAST_PG_URL is set, see scripts/postgres), 10,000 sessions opened, then heartbeats from
# a pool of keep-alive connections for a fixed time; prints heartbeats/s and latency.
# Everything on 127.0.0.1. Usage: bench/manager.sh [SESSIONS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-10000} seconds=${2:-10} connections=${3:-32}
cargo build --release -q -p groupcast -p groupcast-manager --example load
bin=target/release/groupcast load=target/release/examples/load
token=bench-admin-token-$$-0123456789abcdef
port=$((20000 + RANDOM % 20000))
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # DB_URL LABEL
  GROUPCAST_ADMIN_TOKEN=$token "$bin" manager --listen "127.0.0.1:$port" --db "$1" \
    --session-timeout-ms 600000 --rate-per-user 0 >"$work/manager.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null || { cat "$work/manager.log" >&2; exit 1; }
  echo "== $2"
  "$load" "http://127.0.0.1:$port" "$token" "$sessions" "$seconds" "$connections"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run "sqlite://$work/bench.db" "SQLite (WAL, file in $(df --output=fstype "$work" | tail -1))"
if [ -n "${GROUPCAST_PG_URL:-}" ]; then
  psql -q "$GROUPCAST_PG_URL" -c "DROP DATABASE IF EXISTS gc_bench WITH (FORCE)" -c "CREATE DATABASE gc_bench"
  run "${GROUPCAST_PG_URL%/*}/gc_bench" "PostgreSQL $(psql -tA "$GROUPCAST_PG_URL" -c 'SHOW server_version')"
else
  echo "== PostgreSQL skipped: set GROUPCAST_PG_URL (scripts/postgres prints it)"
fi

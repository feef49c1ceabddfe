#!/usr/bin/env bash
# Measures the submit path (POST /v1/jobs through the API into PostgreSQL and
# Pub/Sub) against pgbench's plain single-row INSERTs on the same machine.
#
#   bench/submit.sh            # release build, 32 connections, 20 s each
#   CONNECTIONS=64 DURATION=30 bench/submit.sh
#   JOBS_BIN=path/to/jobs bench/submit.sh   # an already built release binary
#
# Needs wrk and pgbench (Debian: apt-get install wrk postgresql-client) and a
# PostgreSQL server that DATABASE_URL's host can create databases on.
set -euo pipefail
cd "$(dirname "$0")/.."

connections=${CONNECTIONS:-32}
duration=${DURATION:-20}
server=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
server=${server%/*}
bench_db="$server/jobs_bench"
api_port=${API_PORT:-18180}
emulator_port=${EMULATOR_PORT:-18185}
if [ -z "${JOBS_BIN:-}" ]; then
  # The image's one binary: a single (fat-LTO) link instead of three.
  cargo build --release -p jobs
  JOBS_BIN=${CARGO_TARGET_DIR:-target}/release/jobs
fi

children=()
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
  [ ${#children[@]} -gt 0 ] && kill "${children[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$server/postgres" -qc 'drop database if exists jobs_bench' >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql "$server/postgres" -qc 'drop database if exists jobs_bench' >/dev/null
DATABASE_URL=$bench_db "$JOBS_BIN" migrate >/dev/null
psql "$bench_db" -qc 'create table bench_insert (id uuid primary key, payload jsonb not null, created_at timestamptz not null)'

echo "== pgbench: single-row INSERTs, $connections clients, ${duration}s"
pgbench -n -c "$connections" -j 2 -T "$duration" -f bench/pgbench-insert.sql "$bench_db" | grep -E '^(tps|latency average)'

"$JOBS_BIN" pubsub-emulator --port "$emulator_port" --topic jobs >/dev/null 2>&1 &
children+=($!)
export DATABASE_URL=$bench_db PUBSUB_EMULATOR_HOST=127.0.0.1:$emulator_port RUST_LOG=warn
JOBS_API_KEY=$("$JOBS_BIN" api create-key --tenant bench)
export JOBS_API_KEY
HOST=127.0.0.1 PORT=$api_port DATABASE_MAX_CONNECTIONS=$connections "$JOBS_BIN" api &
children+=($!)
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$api_port/readyz" 2>/dev/null && break
  sleep 0.1
done

echo "== wrk: POST /v1/jobs, $connections connections, ${duration}s"
wrk -t 2 -c "$connections" -d "${duration}s" --latency -s bench/submit.lua "http://127.0.0.1:$api_port/v1/jobs"
echo "jobs stored: $(psql "$bench_db" -Atc 'select count(*) from jobs')"

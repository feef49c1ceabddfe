#!/usr/bin/env bash
# The submit path (POST /v1/jobs through the API into PostgreSQL and
# Pub/Sub) against pgbench's plain single-row INSERTs, same client count, on
# the same PostgreSQL in the same run; also the API's resident set idle and
# at its peak under the load.
#
#   bench/submit.sh                        # release build, 64 connections, 20 s each
#   CONNECTIONS=32 DURATION=30 bench/submit.sh
#   JOBS_BIN=path/to/jobs bench/submit.sh  # an already built release binary
#
# Needs wrk, curl, psql and pgbench (Debian: wrk, curl, postgresql-client).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

connections=${CONNECTIONS:-64}
duration=${DURATION:-20}
api_port=${API_PORT:-18180}
emulator_port=${EMULATOR_PORT:-18185}
db=jobs_bench_submit

machine
fresh_database "$db"
psql "$server/$db" -qf bench/pgbench-tables.sql
echo "== pgbench: single-row INSERTs, $connections clients, ${duration}s"
inserts=$(pgbench_tps "$db" "$connections" "$duration" bench/pgbench-insert.sql)
echo "single-row INSERT: $inserts/s"

start emulator "$JOBS_BIN" pubsub-emulator --host 127.0.0.1 --port "$emulator_port" --topic jobs
export DATABASE_URL=$server/$db PUBSUB_EMULATOR_HOST=127.0.0.1:$emulator_port RUST_LOG=warn
ready "http://$PUBSUB_EMULATOR_HOST/stats"
JOBS_API_KEY=$("$JOBS_BIN" api create-key --tenant bench)
export JOBS_API_KEY
HOST=127.0.0.1 PORT=$api_port DATABASE_MAX_CONNECTIONS=$connections start api "$JOBS_BIN" api
api_pid=${children[-1]}
ready "http://127.0.0.1:$api_port/readyz"
echo "idle RSS: api $(rss_mb "$api_pid") MB"

echo "== wrk: POST /v1/jobs, $connections connections, ${duration}s"
wrk -t 2 -c "$connections" -d "${duration}s" --latency -s bench/submit.lua \
  "http://127.0.0.1:$api_port/v1/jobs" | tee "$work/wrk.out"
echo "peak RSS: api $(rss_mb "$api_pid" VmHWM) MB"
submits=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$work/wrk.out")
echo "jobs stored: $(psql "$server/$db" -Atc 'select count(*) from jobs')"
echo "submit / pgbench single-row INSERT: $(ratio "$submits" "$inserts")"
machine

#!/usr/bin/env bash
# Measures how soon `GET /v1/jobs/{id}?wait_seconds=N` answers once its job
# is final: the whole stack runs (Pub/Sub emulator, worker, API), each of
# JOBS `sleep` jobs is submitted and waited for at once, the worker completes
# it SLEEP_MS later, and the latency is the moment the waiter's answer
# arrived minus the job's `finished_at` (PostgreSQL's `now()` in the worker's
# outcome statement, so the statement, its commit, the notice, the wake, the
# re-read and the answer are all inside it; so is starting `date` after curl).
#
#   bench/wait.sh                      # release build, 200 jobs, 10 at a time
#   JOBS=500 CONCURRENCY=50 bench/wait.sh
#   JOBS_BIN=path/to/jobs bench/wait.sh   # an already built binary
#
# Needs curl, jq, psql and pgbench (bench/common.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/common.sh

jobs=${JOBS:-200}
concurrency=${CONCURRENCY:-10}
sleep_ms=${SLEEP_MS:-300}
api_port=${API_PORT:-18190}
worker_port=${WORKER_PORT:-18191}
emulator_port=${EMULATOR_PORT:-18195}
db=jobs_bench_wait

fresh_database "$db"
export DATABASE_URL=$server/$db GOOGLE_CLOUD_PROJECT=local-project RUST_LOG=warn
export PUBSUB_EMULATOR_HOST=127.0.0.1:$emulator_port
JOBS_API_KEY=$("$JOBS_BIN" api create-key --tenant bench)
worker_url="http://127.0.0.1:$worker_port"
api="http://127.0.0.1:$api_port"

start emulator "$JOBS_BIN" pubsub-emulator --host 127.0.0.1 --port "$emulator_port" --project local-project \
  --subscription "jobs-worker=jobs@$worker_url/pubsub/push,ack-deadline=600"
ready "http://$PUBSUB_EMULATOR_HOST/stats"
HOST=127.0.0.1 PORT=$worker_port start worker "$JOBS_BIN" worker
ready "$worker_url/readyz"
HOST=127.0.0.1 PORT=$api_port start api "$JOBS_BIN" api
ready "$api/readyz"

# one I: submits a sleep job, waits for it, and writes "<status> <latency ms>" to $work/I.
one() {
  local id answer arrived finished
  id=$(curl -fsS -X POST "$api/v1/jobs" -H "Authorization: Bearer $JOBS_API_KEY" \
    -H 'Content-Type: application/json' -d "{\"type\":\"sleep\",\"payload\":{\"ms\":$sleep_ms}}" | jq -r .id)
  answer=$(curl -fsS "$api/v1/jobs/$id?wait_seconds=30" -H "Authorization: Bearer $JOBS_API_KEY")
  arrived=$(date +%s.%N)
  finished=$(jq -r '.finished_at // empty' <<<"$answer")
  if [ -z "$finished" ]; then
    echo "$(jq -r .status <<<"$answer") -" >"$work/$1"
    return
  fi
  finished=$(date -d "$finished" +%s.%N)
  echo "$(jq -r .status <<<"$answer") $(awk -v a="$arrived" -v f="$finished" 'BEGIN { printf "%.2f", (a - f) * 1000 }')" >"$work/$1"
}

echo "== $jobs sleep jobs of $sleep_ms ms, $concurrency at a time, each waited for with wait_seconds=30"
started=$(date +%s.%N)
export -f one
export api sleep_ms work JOBS_API_KEY
seq 1 "$jobs" | xargs -P "$concurrency" -I{} bash -c 'one {}'
echo "took $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"

cat "$work"/[0-9]* >"$work/results"
completed=$(awk '$1 == "completed" && $2 != "-"' "$work/results" | wc -l)
echo "answered completed: $completed of $jobs"
awk '$1 == "completed" && $2 != "-" { print $2 }' "$work/results" | sort -n >"$work/latencies"
if [ "$completed" -gt 0 ]; then
  awk '{ v[NR] = $1 } END {
    i50 = int((NR * 50 + 99) / 100); i99 = int((NR * 99 + 99) / 100)
    printf "completion -> answer latency (ms): min %.1f  p50 %.1f  p99 %.1f  max %.1f\n", v[1], v[i50], v[i99], v[NR]
  }' "$work/latencies"
fi
[ "$completed" -eq "$jobs" ]

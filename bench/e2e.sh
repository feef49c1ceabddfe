#!/usr/bin/env bash
# End to end: noop jobs submitted over HTTP for SUBMIT_SECONDS (POST /v1/jobs,
# CONNECTIONS concurrent clients) while the worker runs them, all of them
# timed from the first submit to the last completion, against pgbench's insert + claim + complete lifecycle
# (three autocommit statements per job, 32 clients) on the same PostgreSQL
# in the same run.
#
#   bench/e2e.sh                        # release build, push mode, 10 s of submits
#   WORKER_MODE=pull bench/e2e.sh       # the worker pulls (streaming pull)
#   SUBMIT_SECONDS=30 CONNECTIONS=32 bench/e2e.sh
#   JOBS_BIN=path/to/jobs bench/e2e.sh  # an already built release binary
#
# Needs wrk, curl, psql and pgbench (Debian: wrk, curl, postgresql-client).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

submit_seconds=${SUBMIT_SECONDS:-10}
connections=${CONNECTIONS:-64}
mode=${WORKER_MODE:-push}
reference_seconds=${REFERENCE_SECONDS:-20}
push_concurrency=${PUSH_CONCURRENCY:-64}
api_port=${API_PORT:-18200}
worker_port=${WORKER_PORT:-18201}
emulator_port=${EMULATOR_PORT:-18205}
db=jobs_bench_e2e

machine
fresh_database "$db"
psql "$server/$db" -qf bench/pgbench-tables.sql
echo "== pgbench: insert + claim + complete per job, 32 clients, ${reference_seconds}s"
lifecycle=$(pgbench_tps "$db" 32 "$reference_seconds" bench/pgbench-lifecycle.sql)
echo "lifecycle: $lifecycle jobs/s"

export DATABASE_URL=$server/$db GOOGLE_CLOUD_PROJECT=local-project RUST_LOG=warn
export PUBSUB_EMULATOR_HOST=127.0.0.1:$emulator_port
JOBS_API_KEY=$("$JOBS_BIN" api create-key --tenant bench)
export JOBS_API_KEY
worker_url="http://127.0.0.1:$worker_port"
api="http://127.0.0.1:$api_port"

case "$mode" in
  push) subscription="jobs-worker=jobs@$worker_url/pubsub/push,ack-deadline=600" ;;
  pull) subscription="jobs-worker-pull=jobs,ack-deadline=600" ;;
  *) echo "e2e.sh: WORKER_MODE must be push or pull, not $mode" >&2; exit 2 ;;
esac
start emulator "$JOBS_BIN" pubsub-emulator --host 127.0.0.1 --port "$emulator_port" \
  --project local-project --push-concurrency "$push_concurrency" --subscription "$subscription"
ready "http://$PUBSUB_EMULATOR_HOST/stats"
WORKER_MODE=$mode PUBSUB_PULL_SUBSCRIPTION=jobs-worker-pull HOST=127.0.0.1 PORT=$worker_port \
  start worker "$JOBS_BIN" worker
worker_pid=${children[-1]}
ready "$worker_url/readyz"
HOST=127.0.0.1 PORT=$api_port DATABASE_MAX_CONNECTIONS=$connections start api "$JOBS_BIN" api
api_pid=${children[-1]}
ready "$api/readyz"
echo "idle RSS: api $(rss_mb "$api_pid") MB, worker $(rss_mb "$worker_pid") MB"

echo "== noop jobs submitted for ${submit_seconds}s, $connections connections, worker in $mode mode"
wrk -t 2 -c "$connections" -d "${submit_seconds}s" -s bench/submit.lua "$api/v1/jobs" |
  grep -E 'Requests/sec|non-202'
for _ in $(seq 1 1200); do
  # One index probe each: polling must not scan the backlog it measures.
  done=$(psql "$server/$db" -Atc "select not exists (select from jobs where status = 'pending')
                                      and not exists (select from jobs where status = 'processing')")
  [ "$done" = t ] && break
  sleep 0.5
done
echo "peak RSS: api $(rss_mb "$api_pid" VmHWM) MB, worker $(rss_mb "$worker_pid" VmHWM) MB"
psql "$server/$db" -Atc "select count(*) from jobs where status <> 'completed'" | grep -qx 0 || {
  echo "e2e.sh: jobs still not completed after 10 minutes; logs in $work" >&2
  trap - EXIT
  exit 1
}
read -r total seconds p50 p99 < <(psql "$server/$db" -AtF' ' -c "
  select count(*),
         extract(epoch from max(finished_at) - min(created_at)),
         1000 * extract(epoch from percentile_cont(0.5) within group (order by finished_at - created_at)),
         1000 * extract(epoch from percentile_cont(0.99) within group (order by finished_at - created_at))
  from jobs")
events=$(psql "$server/$db" -Atc "
  select count(*) from jobs j where (select count(*) from job_events e where e.job_id = j.id
    and e.event in ('submitted', 'claimed', 'succeeded')) <> 3")
rate=$(awk -v n="$total" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
echo "completed: $total jobs in $(printf '%.2f' "$seconds") s = $rate jobs/s; jobs without their 3 events: $events"
printf 'completion latency (created -> finished): p50 %.0f ms, p99 %.0f ms\n' "$p50" "$p99"
echo "end to end ($mode) / pgbench lifecycle: $(ratio "$rate" "$lifecycle")"
machine
[ "$events" = 0 ]

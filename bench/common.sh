# shellcheck shell=bash
# Sourced by the benchmarks: the release binary, fresh databases, the
# processes they start (all stopped, and the databases dropped, on exit), and
# the pgbench references each benchmark prints its ratio to.
#
# Needs psql, pgbench and a PostgreSQL server that DATABASE_URL's host can
# create databases on.

server=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
server=${server%/*}
export PGOPTIONS='-c client_min_messages=warning'

if [ -z "${JOBS_BIN:-}" ]; then
  # The image's one binary: a single (fat-LTO) link instead of four.
  cargo build --release -p jobs
  JOBS_BIN=${CARGO_TARGET_DIR:-target}/release/jobs
fi

work=$(mktemp -d /tmp/jobs-bench.XXXXXX)
children=()
databases=()
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
  [ ${#children[@]} -gt 0 ] && kill "${children[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  for db in "${databases[@]}"; do
    psql "$server/postgres" -qc "drop database if exists $db" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# fresh_database NAME: an empty database with the service's schema, dropped on exit.
fresh_database() {
  psql "$server/postgres" -qc "drop database if exists $1" >/dev/null
  databases+=("$1")
  DATABASE_URL="$server/$1" "$JOBS_BIN" migrate >/dev/null
}

# start NAME COMMAND...: runs COMMAND in the background, its output in
# $work/NAME.log; its pid is then ${children[-1]}.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  children+=($!)
}

# ready URL: waits until URL answers 2xx, or fails with the logs' place.
ready() {
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): $1 did not answer; logs in $work" >&2
  trap - EXIT
  exit 1
}

# rss_mb PID [VmRSS|VmHWM]: a process's resident set (or its peak) in MB.
rss_mb() {
  awk -v field="${2:-VmRSS}:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# pgbench_tps DB CLIENTS SECONDS SCRIPT: pgbench's transactions per second.
pgbench_tps() {
  pgbench -n -c "$2" -j 2 -T "$3" -f "$4" "$server/$1" 2>"$work/pgbench.err" |
    awk '/^tps/ { printf "%.0f", $3 }'
}

# machine: what ran the benchmark, and how busy it was.
machine() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
}

# ratio A B: A / B to two decimals.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

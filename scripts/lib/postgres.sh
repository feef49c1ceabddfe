# shellcheck shell=bash
# Finds or starts a PostgreSQL for tests and local runs; sourced, not run.
# shellcheck source=scripts/lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
#
# postgres_ensure sets DATABASE_URL to a server where databases can be created:
#   1. DATABASE_URL if it is already set and answers;
#   2. the machine's server on 127.0.0.1:5432, starting its clusters if they are down;
#   3. a throwaway cluster in a temporary directory (initdb as the postgres user
#      when run as root), stopped again by postgres_stop_throwaway.
# POSTGRES_THROWAWAY=1 skips 1 and 2. The throwaway listens on the first free
# port from 55432 on (POSTGRES_THROWAWAY_PORT picks one); when it cannot start,
# its log is kept and named. It fails loudly when none of these gives a database.

postgres_bin_dir() {
  local dir
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

postgres_answers() {
  psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

postgres_ensure() {
  if [ "${POSTGRES_THROWAWAY:-}" = 1 ]; then
    postgres_start_throwaway
    return
  fi
  if [ -n "${DATABASE_URL:-}" ]; then
    if postgres_answers "$DATABASE_URL"; then
      return 0
    fi
    echo "DATABASE_URL is set but PostgreSQL does not answer at it" >&2
    return 1
  fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if postgres_answers "$local_url"; then
    export DATABASE_URL="$local_url"
    return 0
  fi
  if command -v pg_lsclusters >/dev/null 2>&1 && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
    echo "starting the machine's PostgreSQL clusters" >&2
    pg_lsclusters -h | while read -r version name _; do
      pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 30); do
      postgres_answers "$local_url" && { export DATABASE_URL="$local_url"; return 0; }
      sleep 0.5
    done
  fi
  postgres_start_throwaway
}

postgres_start_throwaway() {
  local bin
  bin=$(postgres_bin_dir) || {
    echo "no PostgreSQL found: set DATABASE_URL, or install PostgreSQL (apt-get install postgresql)" >&2
    return 1
  }
  # The first free port from 55432 on, or POSTGRES_THROWAWAY_PORT when set.
  local port attempts=5
  if [ -n "${POSTGRES_THROWAWAY_PORT:-}" ]; then
    check_port_number POSTGRES_THROWAWAY_PORT "$POSTGRES_THROWAWAY_PORT" || return 1
    port=$POSTGRES_THROWAWAY_PORT
    attempts=1
    if port_in_use "$port"; then
      echo "the throwaway PostgreSQL cannot start: port $port (POSTGRES_THROWAWAY_PORT) is already in use$(postgres_port_holder "$port"); unset it to pick a free port" >&2
      return 1
    fi
  else
    port=$(free_port 55432) || {
      echo "the throwaway PostgreSQL cannot start: ports 55432-55531 are all in use; set POSTGRES_THROWAWAY_PORT" >&2
      return 1
    }
  fi
  POSTGRES_THROWAWAY_DIR=$(mktemp -d /tmp/jobs-pg.XXXXXX)
  export POSTGRES_THROWAWAY_DIR
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$POSTGRES_THROWAWAY_DIR"
    run=(runuser -u postgres --)
  fi
  local dir=$POSTGRES_THROWAWAY_DIR log=$POSTGRES_THROWAWAY_DIR/log
  if ! "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust >"$dir/initdb.log" 2>&1; then
    POSTGRES_THROWAWAY_KEEP_LOG=1
    echo "initdb failed for the throwaway PostgreSQL; its output, kept at $dir/initdb.log, ends with:" >&2
    tail -n 20 "$dir/initdb.log" | sed 's/^/    /' >&2
    return 1
  fi
  while :; do
    echo "starting a throwaway PostgreSQL in $dir on port $port" >&2
    if "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$log" -w -o \
      "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null 2>&1; then
      break
    fi
    attempts=$((attempts - 1))
    # Another process took the port since it was checked: take the next free one.
    if [ "$attempts" -gt 0 ] && grep -q 'could not bind\|Address already in use' "$log" 2>/dev/null \
      && port=$(free_port $((port + 1))); then
      continue
    fi
    POSTGRES_THROWAWAY_KEEP_LOG=1
    echo "the throwaway PostgreSQL did not start on port $port; its log, kept at $log, ends with:" >&2
    tail -n 20 "$log" 2>/dev/null | sed 's/^/    /' >&2
    return 1
  done
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  postgres_answers "$DATABASE_URL" || {
    POSTGRES_THROWAWAY_KEEP_LOG=1
    echo "the throwaway PostgreSQL started but does not answer at $DATABASE_URL; its log is kept at $log" >&2
    return 1
  }
}

# postgres_port_holder PORT: " (held by NAME, pid PID)" when that can be told.
postgres_port_holder() {
  local holder
  holder=$(port_holder "$1")
  [ -z "$holder" ] || echo " (held by $holder)"
}

postgres_stop_throwaway() {
  [ -n "${POSTGRES_THROWAWAY_DIR:-}" ] || return 0
  local bin run=()
  bin=$(postgres_bin_dir) || return 0
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$bin/pg_ctl" -D "$POSTGRES_THROWAWAY_DIR/data" -m fast stop >/dev/null 2>&1 || true
  if [ -n "${POSTGRES_THROWAWAY_KEEP_LOG:-}" ]; then
    # Keep the logs of a failed start for the message that named them.
    rm -rf "$POSTGRES_THROWAWAY_DIR/data"
  else
    rm -rf "$POSTGRES_THROWAWAY_DIR"
  fi
  POSTGRES_THROWAWAY_DIR=
}

# The throwaway cluster's stop command, for a developer who keeps it running.
postgres_throwaway_stop_command() {
  local prefix=""
  [ "$(id -u)" = 0 ] && prefix="runuser -u postgres -- "
  echo "${prefix}$(postgres_bin_dir)/pg_ctl -D $POSTGRES_THROWAWAY_DIR/data stop && rm -rf $POSTGRES_THROWAWAY_DIR"
}

# --- test databases ------------------------------------------------------------
#
# #[sqlx::test] gives each test a database of its own, `_sqlx_test_<hash of the
# test's path>`, recorded in the `_sqlx_test.databases` table of DATABASE_URL's
# database. It drops it when the test passes, but that drop fails when the
# test's last connections are still closing ("being accessed by other users";
# sqlx only prints it), and it keeps a failed or killed test's database. So
# postgres_test_run_begin points DATABASE_URL at a database of this run's own,
# whose table then lists exactly this run's test databases, and
# postgres_test_run_end drops those and it. Other databases, other runs' test
# databases among them, are never touched.

# postgres_url_with_database URL NAME: URL with its database replaced by NAME.
postgres_url_with_database() {
  local url=$1 query="" rest
  if [[ $url == *\?* ]]; then
    query="?${url#*\?}"
    url=${url%%\?*}
  fi
  rest=${url#*://}
  [[ $rest != */* ]] || url="${url%%://*}://${rest%%/*}"
  echo "$url/$2$query"
}

# postgres_drop_database ADMIN_URL NAME: drops NAME, waiting up to 5 s for its
# last connections to close.
postgres_drop_database() {
  local err="" _
  for _ in $(seq 1 50); do
    err=$(psql "$1" -Atqc "drop database if exists \"$2\"" 2>&1 >/dev/null) && return 0
    [[ $err == *"being accessed by other users"* ]] || break
    sleep 0.1
  done
  echo "could not drop test database $2: $err" >&2
  return 1
}

# postgres_test_run_begin: creates this run's database (the master database of
# #[sqlx::test]) on DATABASE_URL's server and points DATABASE_URL at it.
postgres_test_run_begin() {
  POSTGRES_TEST_ADMIN_URL=$DATABASE_URL
  local name
  name="jobs_test_run_$(date +%Y%m%d_%H%M%S)_$$"
  psql "$POSTGRES_TEST_ADMIN_URL" -Atqc "create database \"$name\"" >/dev/null
  POSTGRES_TEST_RUN_DB=$name
  DATABASE_URL=$(postgres_url_with_database "$POSTGRES_TEST_ADMIN_URL" "$name")
  export DATABASE_URL
}

# postgres_test_run_end STATUS: drops the test databases this run left, then
# its own database. After a failed run (STATUS not 0) with
# KEEP_TEST_DATABASES=1, keeps them instead, lists them and sets
# POSTGRES_TEST_KEPT.
postgres_test_run_end() {
  [ -n "${POSTGRES_TEST_RUN_DB:-}" ] || return 0
  local status=$1 run_url=$DATABASE_URL admin=$POSTGRES_TEST_ADMIN_URL names name failed=0 dropped=0
  # The table is missing when no database test ran.
  names=$(psql "$run_url" -Atqc "select db_name from _sqlx_test.databases order by test_path" 2>/dev/null) || names=""
  if [ "$status" != 0 ] && [ "${KEEP_TEST_DATABASES:-}" = 1 ] && [ -n "$names" ]; then
    export POSTGRES_TEST_KEPT=1
    local drops=""
    echo "KEEP_TEST_DATABASES=1: kept the databases of the tests that failed (or were stopped, or whose drop failed):"
    while read -r path name; do
      echo "  $path: psql $(postgres_url_with_database "$admin" "$name")"
      drops+=" -c 'drop database \"$name\"'"
    done < <(psql "$run_url" -AtqF ' ' -c "select test_path, db_name from _sqlx_test.databases order by test_path")
    echo "  drop them, and this run's database, when done:"
    echo "    psql '$admin'$drops -c 'drop database \"$POSTGRES_TEST_RUN_DB\"'"
    return 0
  fi
  for name in $names; do
    # Only sqlx's own names; anything else in the table is left alone.
    [[ $name =~ ^_sqlx_test_[A-Za-z0-9_]+$ ]] || continue
    if postgres_drop_database "$admin" "$name"; then
      dropped=$((dropped + 1))
    else
      failed=1
    fi
  done
  [ "$dropped" = 0 ] || echo "dropped the $dropped test database(s) this run left"
  postgres_drop_database "$admin" "$POSTGRES_TEST_RUN_DB" || failed=1
  DATABASE_URL=$admin
  POSTGRES_TEST_RUN_DB=
  return "$failed"
}

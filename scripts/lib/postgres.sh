# shellcheck shell=bash
# Finds or starts a PostgreSQL for tests and local runs; sourced, not run.
#
# postgres_ensure sets DATABASE_URL to a server where databases can be created:
#   1. DATABASE_URL if it is already set and answers;
#   2. the machine's server on 127.0.0.1:5432, starting its clusters if they are down;
#   3. a throwaway cluster in a temporary directory (initdb as the postgres user
#      when run as root), stopped again by postgres_stop_throwaway.
# It fails loudly when none of these gives a database.

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
  POSTGRES_THROWAWAY_DIR=$(mktemp -d /tmp/jobs-pg.XXXXXX)
  local port=${POSTGRES_THROWAWAY_PORT:-55432}
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$POSTGRES_THROWAWAY_DIR"
    run=(runuser -u postgres --)
  fi
  echo "starting a throwaway PostgreSQL in $POSTGRES_THROWAWAY_DIR on port $port" >&2
  "${run[@]}" "$bin/initdb" -D "$POSTGRES_THROWAWAY_DIR/data" -U postgres -A trust >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$POSTGRES_THROWAWAY_DIR/data" -l "$POSTGRES_THROWAWAY_DIR/log" -w \
    -o "-p $port -k $POSTGRES_THROWAWAY_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
  export POSTGRES_THROWAWAY_DIR
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  postgres_answers "$DATABASE_URL" || {
    echo "the throwaway PostgreSQL did not start; see $POSTGRES_THROWAWAY_DIR/log" >&2
    return 1
  }
}

postgres_stop_throwaway() {
  [ -n "${POSTGRES_THROWAWAY_DIR:-}" ] || return 0
  local bin run=()
  bin=$(postgres_bin_dir) || return 0
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$bin/pg_ctl" -D "$POSTGRES_THROWAWAY_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$POSTGRES_THROWAWAY_DIR"
}

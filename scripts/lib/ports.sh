# shellcheck shell=bash
# TCP port helpers for scripts/dev and postgres.sh; sourced, not run.

# port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT
# (a server bound to 127.0.0.1, 0.0.0.0 or [::] there).
port_in_use() {
  # shellcheck disable=SC2016 # $1 is the inner shell's argument
  timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# port_holder PORT: "NAME, pid PID" of the process listening on PORT, when
# ss(8) can tell; nothing otherwise.
port_holder() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null \
    | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1, pid \2/p' | head -n 1
}

# free_port FIRST [COUNT]: prints the first port from FIRST on (COUNT tried,
# default 100) that nothing listens on; fails when all are taken.
free_port() {
  local port=$1 last=$(($1 + ${2:-100} - 1))
  while [ "$port" -le "$last" ]; do
    port_in_use "$port" || { echo "$port"; return 0; }
    port=$((port + 1))
  done
  return 1
}

# check_port_number VARIABLE VALUE: fails with a message naming VARIABLE unless
# VALUE is a TCP port (1-65535).
check_port_number() {
  if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then
    echo "$1=$2 is not a TCP port (1-65535)" >&2
    return 1
  fi
}

#!/usr/bin/env bash
# Starts a PostgreSQL 15 primary and one streaming standby on free loopback ports in a fresh
# temporary directory, runs the given test program against them, and always stops both servers
# and removes the directory on exit (success, failure or interruption).
# Exit code 77 (CTest SKIP_RETURN_CODE) when PostgreSQL is not installed.
# Usage: postgres_cluster.sh TEST_PROGRAM [ARGS...]
set -euo pipefail

pgbin="${SCALING_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$pgbin/initdb" ] || [ ! -x "$pgbin/pg_basebackup" ]; then
  echo "SKIPPED: PostgreSQL 15 server binaries not found in $pgbin (Debian: postgresql-15)"
  exit 77
fi

# PostgreSQL refuses to run as root: run the server tools as the `postgres` user then.
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "SKIPPED: running as root and there is no 'postgres' user to run the servers as"
    exit 77
  fi
  as_pg=(runuser -u postgres --)
else
  as_pg=()
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/scaling-pg.XXXXXX")
[ "$(id -u)" -eq 0 ] && chown postgres "$work"

cleanup() {
  local rc=$?
  for node in replica primary; do
    if [ -f "$work/$node/postmaster.pid" ]; then
      "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/$node" stop -m immediate -w >/dev/null 2>&1 || true
    fi
  done
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] && { echo "---- $log (tail)"; tail -n 20 "$log"; }
    done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port the kernel just handed out (free now); without python3, a random high port nobody
# answers on.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    local port
    while :; do
      port=$((20000 + RANDOM % 40000))
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
  fi
}
primary_port=$(free_port)
replica_port=$(free_port)
while [ "$replica_port" = "$primary_port" ]; do replica_port=$(free_port); done

"${as_pg[@]}" "$pgbin/initdb" -D "$work/primary" --auth=trust -U postgres >"$work/initdb.log" 2>&1
cat >>"$work/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$work'
wal_level = replica
max_wal_senders = 10
hot_standby = on
fsync = off
full_page_writes = off
CONF
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w -t 30 start >/dev/null
"${as_pg[@]}" "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
  -D "$work/replica" -R -X stream -c fast >"$work/basebackup.log" 2>&1
echo "port = $replica_port" >>"$work/replica/postgresql.conf"
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/replica" -l "$work/replica.log" -w -t 30 start >/dev/null

export SCALING_PG_PRIMARY="host=127.0.0.1 port=$primary_port user=postgres dbname=postgres"
export SCALING_PG_REPLICA="host=127.0.0.1 port=$replica_port user=postgres dbname=postgres"
export SCALING_PG_STOP_PRIMARY="${as_pg[*]} $pgbin/pg_ctl -D $work/primary stop -m immediate -w"
"$@"

#!/usr/bin/env bash
# Starts four PostgreSQL 15 servers on free loopback ports in a fresh temporary directory: a
# primary with one streaming standby (V1, V2, and shard instance "pg-a"), and two more
# instances "pg-b" and "pg-c" (V3: the second shard instance and a move target). Every server
# has wal_level = logical, so any of them can be the source of a shard move. Runs the given
# program with their conninfo strings in the environment, and always stops the servers and
# removes the directory on exit. Exit code 77 (CTest's SKIP_RETURN_CODE) when PostgreSQL 15 is
# not installed, or when run as root with no 'postgres' user to run the servers as; with
# SCALING_PG_OPTIONAL=1 it then runs the program anyway, without the servers (the example skips
# its PostgreSQL steps).
# Usage: [SCALING_PG_OPTIONAL=1] postgres_instances.sh PROGRAM [ARGS...]
set -euo pipefail
# SCALING_PG_TRACE=1 prints how long each start-up step took.
t0=$(date +%s%N); stamp() { [ -n "${SCALING_PG_TRACE:-}" ] && echo "$(( ($(date +%s%N) - t0) / 1000000 )) ms: $*" >&2 || true; }

pgbin="${SCALING_PG_BIN:-/usr/lib/postgresql/15/bin}"
skip() {
  echo "SKIPPED: $1"
  [ "${SCALING_PG_OPTIONAL:-0}" = 1 ] && exec "${program[@]}"
  exit 77
}
program=("$@")
if [ ! -x "$pgbin/initdb" ] || [ ! -x "$pgbin/pg_basebackup" ]; then
  skip "PostgreSQL 15 server binaries not found in $pgbin (Debian: postgresql-15)"
fi
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    skip "running as root and there is no 'postgres' user to run the servers as"
  fi
  as_pg=(runuser -u postgres --)
else
  as_pg=()
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/scaling-ig.XXXXXX")
[ "$(id -u)" -eq 0 ] && chown postgres "$work"
nodes=(replica pg_c pg_b primary)

cleanup() {
  local rc=$?
  for node in "${nodes[@]}"; do
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

# Four distinct ports the kernel just handed out (free now), from one python3 start.
read -r -a ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
declare -A port=([primary]=${ports[0]} [replica]=${ports[1]} [pg_b]=${ports[2]} [pg_c]=${ports[3]})
stamp ports
"${as_pg[@]}" "$pgbin/initdb" -D "$work/template" --auth=trust -U postgres --no-sync >"$work/initdb.log" 2>&1
cat >>"$work/template/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
max_connections = 60
hot_standby = on
fsync = off
full_page_writes = off
shared_buffers = 32MB
CONF
stamp initdb
for node in primary pg_b pg_c; do
  "${as_pg[@]}" cp -a "$work/template" "$work/$node"
  echo "port = ${port[$node]}" | "${as_pg[@]}" tee -a "$work/$node/postgresql.conf" >/dev/null
done
# The three start in parallel (about a second each on a loaded machine).
pids=()
for node in primary pg_b pg_c; do
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/$node" -l "$work/$node.log" -w -t 30 start >/dev/null &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
stamp started
"${as_pg[@]}" "$pgbin/pg_basebackup" -h 127.0.0.1 -p "${port[primary]}" -U postgres \
  -D "$work/replica" -R -X stream -c fast --no-sync >"$work/basebackup.log" 2>&1
echo "port = ${port[replica]}" | "${as_pg[@]}" tee -a "$work/replica/postgresql.conf" >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/replica" -l "$work/replica.log" -w -t 30 start >/dev/null
stamp replica

conninfo() { echo "host=127.0.0.1 port=$1 user=postgres dbname=postgres"; }
export SCALING_PG_PRIMARY="$(conninfo "${port[primary]}")"
export SCALING_PG_REPLICA="$(conninfo "${port[replica]}")"
export SCALING_PG_B="$(conninfo "${port[pg_b]}")"
export SCALING_PG_C="$(conninfo "${port[pg_c]}")"
"$@"

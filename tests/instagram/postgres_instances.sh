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

# shellcheck source-path=SCRIPTDIR source=../support/postgres_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/postgres_common.sh"
pg_program=("$@")
pg_setup scaling-ig replica pg_c pg_b primary
read -r -a ports < <(pg_free_ports 4)
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

SCALING_PG_PRIMARY=$(pg_conninfo "${port[primary]}")
SCALING_PG_REPLICA=$(pg_conninfo "${port[replica]}")
SCALING_PG_B=$(pg_conninfo "${port[pg_b]}")
SCALING_PG_C=$(pg_conninfo "${port[pg_c]}")
export SCALING_PG_PRIMARY SCALING_PG_REPLICA SCALING_PG_B SCALING_PG_C
"$@"

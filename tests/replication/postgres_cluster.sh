#!/usr/bin/env bash
# Starts a PostgreSQL 15 primary and one streaming standby on free loopback ports in a fresh
# temporary directory, runs the given test program against them, and always stops both servers
# and removes the directory on exit (success, failure or interruption).
# Exit code 77 (CTest SKIP_RETURN_CODE) when PostgreSQL is not installed.
# Usage: postgres_cluster.sh TEST_PROGRAM [ARGS...]
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../support/postgres_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/postgres_common.sh"
pg_setup scaling-pg replica primary
read -r primary_port replica_port < <(pg_free_ports 2)

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

SCALING_PG_PRIMARY=$(pg_conninfo "$primary_port")
SCALING_PG_REPLICA=$(pg_conninfo "$replica_port")
export SCALING_PG_PRIMARY SCALING_PG_REPLICA
export SCALING_PG_STOP_PRIMARY="${as_pg[*]} $pgbin/pg_ctl -D $work/primary stop -m immediate -w"
"$@"

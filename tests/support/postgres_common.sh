# shellcheck shell=bash
# Shared start-up of the integration scripts that run PostgreSQL 15 servers on loopback
# (tests/replication/postgres_cluster.sh, tests/instagram/postgres_instances.sh). Source it
# from bash after `set -euo pipefail`, then call:
#   pg_setup PREFIX NODE...  checks the server binaries and the user to run them as (else
#                            pg_skip), makes the fresh directory $work (mktemp PREFIX.XXXXXX)
#                            and installs the exit trap that stops the servers whose data
#                            directories are $work/NODE (in the order given), prints the
#                            logs' tails on failure and removes $work
#   pg_free_ports N          prints N distinct loopback ports that are free now
#   pg_conninfo PORT         prints the libpq conninfo of a server on PORT
#   "${as_pg[@]}" CMD...     runs CMD as the user that may run the servers
# and reads $pgbin (SCALING_PG_BIN, default /usr/lib/postgresql/15/bin).
# pg_skip MESSAGE prints "SKIPPED: MESSAGE" and exits 77 (CTest's SKIP_RETURN_CODE); when
# SCALING_PG_OPTIONAL=1 and the array `pg_program` is set, it runs that program instead.

pgbin="${SCALING_PG_BIN:-/usr/lib/postgresql/15/bin}"

pg_skip() {
  echo "SKIPPED: $1"
  if [ "${SCALING_PG_OPTIONAL:-0}" = 1 ] && [ -n "${pg_program+set}" ]; then
    exec "${pg_program[@]}"
  fi
  exit 77
}

pg_setup() {
  local prefix=$1
  shift
  pg_nodes=("$@")
  if [ ! -x "$pgbin/initdb" ] || [ ! -x "$pgbin/pg_basebackup" ]; then
    pg_skip "PostgreSQL 15 server binaries not found in $pgbin (Debian: postgresql-15)"
  fi
  # PostgreSQL refuses to run as root: run the server tools as the `postgres` user then.
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      pg_skip "running as root and there is no 'postgres' user to run the servers as"
    fi
    as_pg=(runuser -u postgres --)
  else
    as_pg=()
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$work"; fi
  trap pg_cleanup EXIT
  trap 'exit 130' INT TERM
}

pg_cleanup() {
  local rc=$? node log
  for node in "${pg_nodes[@]}"; do
    if [ -f "$work/$node/postmaster.pid" ]; then
      "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/$node" stop -m immediate -w >/dev/null 2>&1 || true
    fi
  done
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for log in "$work"/*.log; do
      if [ -f "$log" ]; then
        echo "---- $log (tail)"
        tail -n 20 "$log"
      fi
    done
  fi
  rm -rf "$work"
  exit $rc
}

# Ports the kernel just handed out, all bound at once so they differ; without python3, random
# high ports nobody answers on.
pg_free_ports() {
  local n=$1
  if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$n"
    return
  fi
  local ports=() port
  while [ ${#ports[@]} -lt "$n" ]; do
    port=$((20000 + RANDOM % 40000))
    case " ${ports[*]} " in *" $port "*) continue ;; esac
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || ports+=("$port")
  done
  echo "${ports[*]}"
}

pg_conninfo() { echo "host=127.0.0.1 port=$1 user=postgres dbname=postgres"; }

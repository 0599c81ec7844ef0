#!/usr/bin/env bash
# HTTP hit throughput: edge_server against nginx proxy_cache, with wrk, on loopback.
#
# Both proxies sit in front of the same origin (nginx serving one 1 KB static file with
# Cache-Control: public, max-age=3600), have the object warm in cache, run with the same
# number of workers (edge_server --threads = nginx worker_processes), pinned to one core while
# wrk runs pinned to another. nginx is configured the way edge_server behaves: proxy_cache with
# proxy_cache_lock on (one fetch per key), proxy_cache_use_stale updating (stale while
# revalidating), keep-alive to the origin, an X-Cache header, access_log off. Runs alternate
# between the two; the medians and the ratio edge/nginx are printed at the end, with the CPU
# share each server used during its runs (100% = its whole core), which shows whether the
# server or the load generator was the limit.
#
# Usage: benchmarks/cdn/http/run.sh
# Environment (defaults): RUNS=5 DURATION=10s CONNECTIONS=32 WORKERS=1 SERVER_CPU=0 WRK_CPU=1
#   BUILD_DIR=build/release (configured as Release when missing) PORT_BASE=18480
# Needs: nginx (nginx-light) and wrk: `scripts/deps http-bench`. Uses its own temporary
# directory, ports, pid files and configs, and stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/../../.."

RUNS=${RUNS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
BUILD_DIR=${BUILD_DIR:-build/release}
PORT_BASE=${PORT_BASE:-18480}
ORIGIN_PORT=$PORT_BASE
EDGE_PORT=$((PORT_BASE + 1))
NGINX_PORT=$((PORT_BASE + 2))

for tool in nginx wrk taskset curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: '$tool' not found; install with: scripts/deps http-bench (curl: apt-get install curl)" >&2
    exit 1
  fi
done
for port in $ORIGIN_PORT $EDGE_PORT $NGINX_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "run.sh: port $port is in use; set PORT_BASE to a free range" >&2
    exit 1
  fi
done

echo "== building edge_server (Release) in $BUILD_DIR"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" --target edge_server -j 2 >/dev/null
EDGE_SERVER="$BUILD_DIR/examples/cdn/edge_server/edge_server"

DIR=$(mktemp -d /tmp/scaling-http-bench.XXXXXX)
EDGE_PID=""
cleanup() {
  [ -n "$EDGE_PID" ] && kill "$EDGE_PID" 2>/dev/null && wait "$EDGE_PID" 2>/dev/null
  for mode in origin proxy; do
    if [ -s "$DIR/nginx-$mode.pid" ]; then
      kill "$(cat "$DIR/nginx-$mode.pid")" 2>/dev/null || true
    fi
  done
  sleep 0.2
  rm -rf "$DIR"
}
trap cleanup EXIT

# One nginx config per role; $1 = origin | proxy.
write_nginx_conf() {
  local mode=$1 server
  if [ "$mode" = origin ]; then
    server="
    server {
      listen 127.0.0.1:$ORIGIN_PORT;
      root $DIR/www;
      location / { add_header Cache-Control \"public, max-age=3600\"; }
    }"
  else
    server="
    proxy_cache_path $DIR/cache levels=1:2 keys_zone=edge:16m max_size=256m inactive=1h;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 16; }
    server {
      listen 127.0.0.1:$NGINX_PORT;
      location / {
        proxy_pass http://origin;
        proxy_http_version 1.1;
        proxy_set_header Connection \"\";
        proxy_cache edge;
        proxy_cache_lock on;
        proxy_cache_use_stale updating error timeout;
        proxy_cache_background_update on;
        add_header X-Cache \$upstream_cache_status;
      }
    }"
  fi
  # As root, nginx's workers would drop to nobody, who cannot read the temporary directory.
  local user_line=""
  [ "$(id -u)" = 0 ] && user_line="user root;"
  cat >"$DIR/nginx-$mode.conf" <<CONF
$user_line
worker_processes $WORKERS;
pid $DIR/nginx-$mode.pid;
error_log $DIR/nginx-$mode-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/$mode-client-body;
  proxy_temp_path $DIR/$mode-proxy-temp;
  fastcgi_temp_path $DIR/$mode-fastcgi;
  uwsgi_temp_path $DIR/$mode-uwsgi;
  scgi_temp_path $DIR/$mode-scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  $server
}
CONF
}

mkdir -p "$DIR/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$DIR/www/object.bin"
write_nginx_conf origin
write_nginx_conf proxy
nginx -p "$DIR" -c "$DIR/nginx-origin.conf" -e "$DIR/nginx-origin-error.log"
taskset -c "$SERVER_CPU" nginx -p "$DIR" -c "$DIR/nginx-proxy.conf" -e "$DIR/nginx-proxy-error.log"
taskset -c "$SERVER_CPU" "$EDGE_SERVER" --listen "127.0.0.1:$EDGE_PORT" \
  --origin "http://127.0.0.1:$ORIGIN_PORT" --threads "$WORKERS" >"$DIR/edge.log" 2>&1 &
EDGE_PID=$!

wait_for() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/object.bin" && return 0
    sleep 0.05
  done
  echo "run.sh: nothing answers on port $1" >&2
  exit 1
}
wait_for "$ORIGIN_PORT"
wait_for "$EDGE_PORT"
wait_for "$NGINX_PORT"

# Warm both caches and check that the object is a hit of 1 KB.
for port in $EDGE_PORT $NGINX_PORT; do
  for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/object.bin"; done
  status=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/object.bin" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "x-cache" { print $2 }')
  if [ "$status" != "HIT" ]; then
    echo "run.sh: port $port answers X-Cache: '$status', expected HIT" >&2
    curl -s -D - -o /dev/null "http://127.0.0.1:$port/object.bin" >&2
    exit 1
  fi
done

# CPU time (user + system, in clock ticks) used so far by the given processes.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
server_pids() {
  if [ "$1" = "$EDGE_PORT" ]; then echo "$EDGE_PID"; else pgrep -P "$(cat "$DIR/nginx-proxy.pid")"; fi
}
TICKS=$(getconf CLK_TCK)

# wrk once against port $1; prints "req_per_s p99_ms server_cpu_percent [ERRORS]".
measure() {
  local out pids t0 t1 c0 c1 cpu
  # shellcheck disable=SC2207
  pids=($(server_pids "$1"))
  c0=$(cpu_ticks "${pids[@]}")
  t0=$(date +%s.%N)
  out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
    "http://127.0.0.1:$1/object.bin")
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "${pids[@]}")
  cpu=$(awk -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" -v hz="$TICKS" \
    'BEGIN { printf "%.0f", 100 * c / hz / (t1 - t0) }')
  echo "$out" | awk -v cpu="$cpu" '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ {
      v = $2
      if (v ~ /us$/) { sub(/us$/, "", v); p99 = v / 1000 }
      else if (v ~ /ms$/) { sub(/ms$/, "", v); p99 = v }
      else if (v ~ /s$/) { sub(/s$/, "", v); p99 = v * 1000 }
    }
    / Socket errors|Non-2xx/ { errors = errors " " $0 }
    END { printf "%.0f %.3f %s%s\n", rps, p99, cpu, (errors != "" ? " ERRORS" : "") }'
}

echo "== machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), server on CPU $SERVER_CPU, wrk on CPU $WRK_CPU"
echo "== $RUNS runs each, wrk -t1 -c$CONNECTIONS -d$DURATION, 1 KB object, $WORKERS worker(s) each"
# A short unmeasured run each, so both start from warm connections and caches.
DURATION=2s measure "$EDGE_PORT" >/dev/null
DURATION=2s measure "$NGINX_PORT" >/dev/null

edge_rps=() nginx_rps=() edge_p99=() nginx_p99=() edge_cpu=() nginx_cpu=()
row() { printf '%-6s %11s %11s %9s %12s %12s %10s %s\n' "$@"; }
row run edge_req/s edge_p99_ms edge_cpu% nginx_req/s nginx_p99_ms nginx_cpu% ""
for run in $(seq "$RUNS"); do
  read -r e_rps e_p99 e_cpu e_err < <(measure "$EDGE_PORT")
  read -r n_rps n_p99 n_cpu n_err < <(measure "$NGINX_PORT")
  edge_rps+=("$e_rps") edge_p99+=("$e_p99") edge_cpu+=("$e_cpu")
  nginx_rps+=("$n_rps") nginx_p99+=("$n_p99") nginx_cpu+=("$n_cpu")
  row "$run" "$e_rps" "$e_p99" "$e_cpu" "$n_rps" "$n_p99" "$n_cpu" \
    "${e_err:+edge:$e_err }${n_err:+nginx:$n_err}"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_edge=$(median "${edge_rps[@]}")
m_nginx=$(median "${nginx_rps[@]}")
row median "$m_edge" "$(median "${edge_p99[@]}")" "$(median "${edge_cpu[@]}")" "$m_nginx" \
  "$(median "${nginx_p99[@]}")" "$(median "${nginx_cpu[@]}")" ""
awk -v e="$m_edge" -v n="$m_nginx" 'BEGIN { printf "ratio edge/nginx (median req/s): %.2f\n", e / n }'

#!/usr/bin/env bash
# The WhatsApp case in a few seconds: three chat_relay processes on loopback, a few hundred
# users with churn, V1 then V2 then V3, one chat_load summary line each.
# Usage: examples/cases/whatsapp/tour.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
bin="${1:-build/release}/examples/cases/whatsapp"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for mode in v1 v2 v3; do
  cluster="127.0.0.1:$(free_port),127.0.0.1:$(free_port),127.0.0.1:$(free_port)"
  pids=()
  for i in 0 1 2; do
    "$bin/chat_relay" --mode "$mode" --index "$i" --cluster "$cluster" --users 300 \
      --data-dir "$work/$mode-$i" >"$work/relay-$mode-$i.out" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 200); do grep -q listening "$work/relay-$mode-$i.out" && break; sleep 0.05; done
  done
  "$bin/chat_load" --mode "$mode" --cluster "$cluster" --users 300 --duration-ms 2000 \
    --rate 500 --churn 0.3
  for p in "${pids[@]}"; do kill "$p"; done
  wait
done
echo "V1 loses what it cannot deliver at once; V2 and V3 lose nothing (lost=0)."

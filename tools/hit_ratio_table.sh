#!/usr/bin/env bash
# Replays every trace under data/traces at its sizes against every policy (and OPT) and prints
# one CSV:
#   trace,policy,size,requests,hits,hit_ratio
# Usage: tools/hit_ratio_table.sh [CACHE_REPLAY] [TRACES_DIR] > hit_ratios.csv
set -euo pipefail
replay=${1:-build/release/tools/cache_replay}
traces=${2:-data/traces}
policies=opt,lru,fifo,clock,lfu,sieve,s3fifo,w_tinylfu,arc,lirs,adaptive

# trace file, format, sizes: three per trace (about 10-25%, 25-50% and 50-90% of the distinct
# keys), plus the smaller and in-between sizes the LIRS paper plots (cpp at 20 and 50 blocks,
# multi2 at 600 and 1800) and backf at 300
cases=(
  "lirs/2_pools.trace lirs 500,1000,2000"
  "lirs/cpp.trace lirs 20,50,100,200,400"
  "lirs/cs.trace lirs 100,300,600"
  "lirs/gli.trace lirs 250,500,1000"
  "lirs/loop.trace lirs 256,512,768"
  "lirs/multi1.trace lirs 250,500,1000"
  "lirs/multi2.trace lirs 500,600,1000,1800,2000"
  "lirs/multi3.trace lirs 500,1000,2000"
  "lirs/ps.trace lirs 250,500,1000"
  "lirs/sprite.trace lirs 250,500,1000"
  "lirs/scan.trace lirs 500,1000,1500"
  "lirs/zigzag.trace lirs 500,1000,1500"
  "lirs/backf.trace lirs 250,300,500,700"
  "cache2k/web07.trace cache2k 2048,8192,16384"
  "cache2k/web12.trace cache2k 2048,8192,16384"
  "arc/oltp.trc.bin cache2k 1000,5000,15000"
)

echo "trace,policy,size,requests,hits,hit_ratio"
for c in "${cases[@]}"; do
  read -r file format sizes <<<"$c"
  [[ -f "$traces/$file" ]] || { echo "hit_ratio_table: $file not found under $traces" >&2; exit 1; }
  name=$(basename "$file")
  name=${name%%.*}
  "$replay" --format "$format" --policy "$policies" --size "$sizes" "$traces/$file" |
    tail -n +2 | sed "s/^/$name,/"
done

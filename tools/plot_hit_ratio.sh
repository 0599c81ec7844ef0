#!/usr/bin/env bash
# Turns cache_replay CSV (policy,size,requests,hits,hit_ratio) into a hit-ratio-vs-size plot,
# one line per policy, with gnuplot (Debian: gnuplot-nox).
# Usage: tools/plot_hit_ratio.sh CSV OUT.svg|OUT.png [TITLE]
#   build/release/tools/cache_replay --format cache2k --policy opt,lru,w_tinylfu \
#     --size 1000,2000,5000 data/traces/arc/oltp.trc.bin > oltp.csv && tools/plot_hit_ratio.sh oltp.csv oltp.svg OLTP
set -euo pipefail
csv=$1
out=$2
title=${3:-$(basename "$csv" .csv)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

policies=$(tail -n +2 "$csv" | cut -d, -f1 | awk '!seen[$0]++')
plots=()
for p in $policies; do
  awk -F, -v p="$p" 'NR > 1 && $1 == p { print $2, $5 }' "$csv" | sort -n >"$work/$p.dat"
  style="linespoints lw 2"
  [[ $p == opt ]] && style="lines dt 2 lw 2 lc rgb 'black'"
  plots+=("'$work/$p.dat' using 1:2 with $style title '$p'")
done

case $out in
  *.png) terminal="pngcairo size 900,560 noenhanced" ;;
  *) terminal="svg size 900,560 dynamic noenhanced font 'sans,13'" ;;
esac
{
  echo "set terminal $terminal"
  echo "set output '$out'"
  echo "set title '$title: hit ratio vs cache size'"
  echo "set xlabel 'cache size (entries)'"
  echo "set ylabel 'hit ratio (%)'"
  echo "set key outside right"
  echo "set grid"
  echo "set logscale x"
  echo "set autoscale xfix"
  echo "set offsets graph 0.03, graph 0.03, 0, 0"
  (IFS=,; echo "plot ${plots[*]}")
} >"$work/plot.gp"
gnuplot "$work/plot.gp"

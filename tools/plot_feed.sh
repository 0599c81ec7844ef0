#!/usr/bin/env bash
# Sweeps the hybrid fan-out threshold with the twitter_timeline example and plots the work per
# post (3 x timeline writes + entries scanned by reads, over posts) against the threshold, for
# both of the example's workloads, with the per-pair policy as a flat line each, using gnuplot
# (Debian: gnuplot-nox). The CSV it plots is kept beside the image. With --plot-only CSV the
# sweep is not run again.
# Usage: tools/plot_feed.sh TWITTER_TIMELINE OUT_DIR [USERS]
#        tools/plot_feed.sh --plot-only CSV OUT_DIR
#   tools/plot_feed.sh build/release/examples/cases/twitter_timeline/twitter_timeline docs/images 200000
set -euo pipefail
if [ "$1" = "--plot-only" ]; then
  csv=$2
  out=$3
  mkdir -p "$out"
else
  out=$2
  mkdir -p "$out"
  csv="$out/twitter-timeline.csv"
  "$1" --users "${3:-200000}" --csv "$csv"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for w in calibrated celebrity_heavy; do
  # threshold, work per post, per-pair work per post
  awk -F, -v w="$w" 'NR > 1 && $1 == w { print $2, $5, $6 }' "$csv" >"$work/$w.dat"
done
{
  echo "set terminal svg size 900,560 dynamic noenhanced font 'sans,13'"
  echo "set output '$out/twitter-timeline-work.svg'"
  echo "set title 'Work per post against the hybrid threshold (V2 at the right end, V1 at 1)'"
  echo "set xlabel 'hybrid threshold: authors with at least this many followers are pulled'"
  echo "set ylabel 'work per post (3 x timeline writes + entries read)'"
  echo "set key top right"
  echo "set grid"
  echo "set logscale x"
  echo "plot '$work/calibrated.dat' using 1:2 with linespoints lw 2 title 'hybrid, posts by followers^0.4', \\"
  echo "     '$work/calibrated.dat' using 1:3 with lines dt 2 lw 2 title 'per-pair, same workload', \\"
  echo "     '$work/celebrity_heavy.dat' using 1:2 with linespoints lw 2 title 'hybrid, celebrities post 100x', \\"
  echo "     '$work/celebrity_heavy.dat' using 1:3 with lines dt 2 lw 2 title 'per-pair, same workload'"
} | gnuplot
echo "wrote $csv, $out/twitter-timeline-work.svg"

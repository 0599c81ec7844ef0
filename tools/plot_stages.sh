#!/usr/bin/env bash
# Runs each stage of the progression over a range of offered loads with scaling_lab and plots
# throughput and p99 against the offered load, one line per stage, with gnuplot (Debian:
# gnuplot-nox). The CSV it plots is kept beside the images.
# Usage: tools/plot_stages.sh SCALING_LAB OUT_DIR [DURATION_SECONDS]
#   tools/plot_stages.sh build/release/tools/scaling_lab docs/images 20
set -euo pipefail
lab=$1
out=$2
duration=${3:-20}
mkdir -p "$out"
csv="$out/stages.csv"

rates_for() {
  case $1 in
    1) echo 1000,2000,3000,4000,4500,5000,5500,6000 ;;
    2) echo 2000,5000,10000,14000,17000,19000,21000,24000 ;;
    3) echo 2000,5000,8000,11000,13000,15000,17000,20000 ;;
    4) echo 2000,5000,10000,20000,40000,60000,80000,100000 ;;
  esac
}

head_done=0
: >"$csv"
for stage in 1 2 3 4; do
  "$lab" stage --stage "$stage" --rate "$(rates_for "$stage")" --duration "$duration" --seed 1 |
    if [ $head_done -eq 0 ]; then cat; else tail -n +2; fi >>"$csv"
  head_done=1
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for stage in 1 2 3 4; do
  awk -F, -v s="$stage" 'NR > 1 && $1 == s { print $2, $3, $5 }' "$csv" >"$work/$stage.dat"
done
names=("" "stage 1: monolith + CDN" "stage 2: + app servers, cache, replicas"
  "stage 3: services + queue" "stage 4: sharded, two regions")

plot() {  # plot FILE YCOLUMN YLABEL TITLE [LOGSCALE]
  {
    echo "set terminal svg size 900,560 dynamic noenhanced font 'sans,13'"
    echo "set output '$1'"
    echo "set title '$4'"
    echo "set xlabel 'offered load (requests/s)'"
    echo "set ylabel '$3'"
    echo "set key top left"
    echo "set grid"
    echo "set logscale x"
    [ -n "${5:-}" ] && echo "set logscale y"
    local parts=()
    for stage in 1 2 3 4; do
      parts+=("'$work/$stage.dat' using 1:$2 with linespoints lw 2 title '${names[$stage]}'")
    done
    local IFS=,
    echo "plot ${parts[*]}"
  } | gnuplot
}
plot "$out/stages-throughput.svg" 2 "throughput (requests/s)" "Throughput against offered load, per stage"
plot "$out/stages-p99.svg" 3 "p99 latency (ms)" "p99 latency against offered load, per stage" log
echo "wrote $csv, $out/stages-throughput.svg, $out/stages-p99.svg"

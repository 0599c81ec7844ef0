#!/usr/bin/env python3
"""Checks a hit-ratio table (the CSV of tools/hit_ratio_table.sh) against the committed one.

Every policy is deterministic, so every cell must reproduce its committed hit count exactly,
and the `adaptive` policy must stay within 2 points of the best online policy in every cell
(the target of docs/patterns/application-caching.md).

Usage: tools/check_hit_ratios.py MEASURED.csv [EXPECTED.csv]
       (EXPECTED defaults to benchmarks/caching/hit_ratios.csv)
"""
import collections
import csv
import pathlib
import sys

MAX_GAP_POINTS = 2.0


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"check_hit_ratios: {path} has no rows")
    return {(r["trace"], int(r["size"]), r["policy"]): r for r in rows}


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    measured = load(sys.argv[1])
    default = pathlib.Path(__file__).resolve().parent.parent / "benchmarks/caching/hit_ratios.csv"
    expected = load(sys.argv[2] if len(sys.argv) == 3 else default)

    failures = []
    for key, want in sorted(expected.items()):
        got = measured.get(key)
        if got is None:
            failures.append(f"{key}: missing from the measured table")
        elif (got["requests"], got["hits"]) != (want["requests"], want["hits"]):
            failures.append(f"{key}: {got['hits']} hits of {got['requests']}, "
                            f"expected {want['hits']} of {want['requests']}")
    for key in sorted(set(measured) - set(expected)):
        failures.append(f"{key}: not in the expected table")

    cells = collections.defaultdict(dict)
    for (trace, size, policy), row in measured.items():
        cells[(trace, size)][policy] = 100.0 * int(row["hits"]) / int(row["requests"])
    worst = (0.0, None)
    for cell, ratios in sorted(cells.items()):
        if "adaptive" not in ratios:
            failures.append(f"{cell}: no adaptive row")
            continue
        best = max(r for p, r in ratios.items() if p != "opt")
        gap = best - ratios["adaptive"]
        worst = max(worst, (gap, cell))
        if gap > MAX_GAP_POINTS:
            failures.append(f"{cell}: adaptive {ratios['adaptive']:.2f}% is {gap:.2f} points "
                            f"below the best policy ({best:.2f}%)")

    for failure in failures:
        print("check_hit_ratios:", failure, file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"check_hit_ratios: {len(expected)} rows reproduced exactly; adaptive within "
          f"{MAX_GAP_POINTS} points in all {len(cells)} cells (largest gap {worst[0]:.2f}, "
          f"{worst[1][0]} @{worst[1][1]})")


if __name__ == "__main__":
    main()

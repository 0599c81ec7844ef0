#!/usr/bin/env python3
"""Reads Google Benchmark JSON on stdin and prints each workload's rows side by side.

Rows are named <workload>/<implementation>/<parameters>. For each workload and parameters,
ours (`scaling`) is the reference: ratio = peer's median time / our median time, so a ratio
above 1 means we are faster. Counters (hit_ratio, p99_us, ...) are printed as they are.
"""
import json
import sys


def main() -> int:
    data = json.load(sys.stdin)
    rows = {}
    order = []
    for bench in data.get("benchmarks", []):
        if bench.get("run_type") == "aggregate" and bench.get("aggregate_name") != "median":
            continue
        name = bench.get("run_name", bench["name"])
        parts = name.split("/")
        if len(parts) < 2:
            continue
        workload, impl, params = parts[0], parts[1], "/".join(parts[2:])
        key = (workload, params)
        if key not in rows:
            rows[key] = {}
            order.append(key)
        counters = {k: v for k, v in bench.items()
                    if k not in ("name", "run_name", "run_type", "repetitions",
                                 "repetition_index", "threads", "iterations", "real_time",
                                 "cpu_time", "time_unit", "family_index",
                                 "per_family_instance_index", "aggregate_name",
                                 "aggregate_unit", "items_per_second", "bytes_per_second")
                    and isinstance(v, (int, float))}
        rows[key][impl] = (bench["real_time"], bench["time_unit"], counters)
    for workload, params in order:
        impls = rows[(workload, params)]
        ours = impls.get("scaling")
        label = workload + (f"/{params}" if params else "")
        print(f"{label}")
        for impl, (time, unit, counters) in impls.items():
            ratio = ""
            if ours and impl != "scaling" and ours[0] > 0:
                ratio = f"  ratio {time / ours[0]:.2f}x"
            extra = "".join(f"  {k}={v:.4g}" for k, v in counters.items())
            print(f"  {impl:<22} {time:12.2f} {unit}{ratio}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

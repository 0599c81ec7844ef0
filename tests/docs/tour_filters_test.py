#!/usr/bin/env python3
"""Each row pattern of benchmarks/<area>/tour.filter (the rows scripts/tour shows) must name
benchmarks that exist: every alternative of the filter matches at least one row that the
area's binary lists, so a renamed or never-registered row cannot sit in a filter unnoticed.

Usage: tour_filters_test.py SOURCE_DIR AREA=BENCH_BINARY...
"""
import re
import subprocess
import sys
from pathlib import Path


def matching_paren(text):
    """Index of the `)` that closes the `(` at text[0], or -1."""
    depth, escaped = 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def split(text):
    """`text` split at its top-level `|`."""
    parts, depth, start, escaped = [], 0, 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def alternatives(pattern):
    """The patterns that must each match a row: the filter's top-level alternatives (a filter
    that is one group, `^(a|b)$`, counts as `^(a)$` and `^(b)$`), and within each, every option
    of every group put in the group's place, so `maglev/(64|100)` asks for 64 and for 100 while
    `(get_hit|get_miss_put)/(scaling|peer)` does not ask for every combination."""
    top = []
    for alternative in split(pattern):
        anchor = "^" if alternative.startswith("^") else ""
        body = alternative[len(anchor):]
        close = matching_paren(body) if body.startswith("(") else -1
        suffix = body[close + 1:] if close > 0 else ""
        inner = split(body[1:close]) if close > 0 and "(" not in suffix else []
        if len(inner) > 1:
            top += [f"{anchor}({part}){suffix}" for part in inner]
        else:
            top.append(alternative)
    out = []
    for alternative in top:
        out.append(alternative)
        for i, c in enumerate(alternative):
            if c != "(" or (i > 0 and alternative[i - 1] == "\\"):
                continue
            close = i + matching_paren(alternative[i:])
            options = split(alternative[i + 1:close])
            if len(options) > 1:
                out += [alternative[:i] + f"({o})" + alternative[close + 1:] for o in options]
    return out


def main():
    source = Path(sys.argv[1])
    problems, checked = [], 0
    for arg in sys.argv[2:]:
        area, binary = arg.split("=", 1)
        filter_file = source / "benchmarks" / area / "tour.filter"
        if not filter_file.is_file():
            continue
        listed = subprocess.run([binary, "--benchmark_list_tests"], capture_output=True,
                                text=True, check=True).stdout.split()
        for number, line in enumerate(filter_file.read_text().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            for alternative in alternatives(line.strip()):
                checked += 1
                if not any(re.search(alternative, name) for name in listed):
                    problems.append(f"benchmarks/{area}/tour.filter:{number}: '{alternative}' "
                                    f"matches no row of {Path(binary).name} (a peer that is not installed "
                                    "drops its rows: scripts/deps installs them)")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"tour filters: {checked - len(problems)} of {checked} alternatives name real rows")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

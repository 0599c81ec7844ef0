#!/usr/bin/env python3
"""Runs the README's "install the headers without building the tests" commands into a
temporary build folder and prefix, then checks what was installed and that no test,
benchmark, example or tool was configured.

Usage: readme_install_test.py SOURCE_DIR
"""
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def main():
    source = Path(sys.argv[1]).resolve()
    readme = (source / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    block = next((b for b in blocks if "cmake --install" in b), None)
    if block is None:
        print("README.md: no ```sh block with `cmake --install`", file=sys.stderr)
        return 1
    commands = block.replace("\\\n", " ").strip().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        build, prefix = Path(tmp) / "build", Path(tmp) / "prefix"
        for command in commands:
            command = command.replace("build/install", str(build))
            command = command.replace("/opt/scaling", str(prefix))
            print(f"$ {command}", flush=True)
            result = subprocess.run(shlex.split(command), cwd=source, check=False)
            if result.returncode != 0:
                print(f"README.md: `{command}` failed ({result.returncode})", file=sys.stderr)
                return 1
        expected = [prefix / "include" / "scaling" / "scaling.hpp",
                    prefix / "share" / "scaling" / "scalingConfig.cmake"]
        missing = [str(p) for p in expected if not p.is_file()]
        built = [d for d in ("tests", "benchmarks", "examples", "tools") if (build / d).exists()]
        if missing or built:
            print(f"README.md install: missing {missing}; configured {built}", file=sys.stderr)
            return 1
    print("README.md install commands: headers and package installed, nothing else configured")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""scripts/check_snippets must compile a fragment with its context marker, skip a snippet
marked `skip`, compile a `translation-unit` as it stands, and fail on a snippet that does not
compile, naming its page and line. Runs on a temporary page.

Usage: check_snippets_test.py SOURCE_DIR CXX [FLAGS...]
"""
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SOURCE = Path(sys.argv[1]).resolve()
CXX = sys.argv[2]
FLAGS = sys.argv[3:]
del sys.argv[1:]

GOOD = """# Page

<!-- snippet: context
int answer();
-->
```cpp
#include <string>
using namespace std::string_literals;
std::string s = "x"s + std::to_string(answer());
```

<!-- snippet: skip needs a server -->
```cpp
this is not C++
```

<!-- snippet: translation-unit -->
```cpp
int twice(int x) { return 2 * x; }
```
"""
BROKEN = """
```cpp
int n = undeclared_name;
```
"""


class CheckSnippets(unittest.TestCase):
    def run_on(self, text):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "README.md").write_text(text, encoding="utf-8")
            (root / "include").symlink_to(SOURCE / "include")
            return subprocess.run(
                [sys.executable, str(SOURCE / "scripts" / "check_snippets"), "--root", str(root),
                 "--cxx", CXX, "--", *FLAGS], capture_output=True, text=True, check=False)

    def test_fragments_with_context_compile_and_skip_is_honoured(self):
        result = self.run_on(GOOD)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("2 of 2 snippet(s) compile, 1 skipped", result.stdout)

    def test_a_broken_snippet_fails_naming_page_and_line(self):
        result = self.run_on(GOOD + BROKEN)
        self.assertEqual(result.returncode, 1, result.stdout)
        line = (GOOD + BROKEN).split("\n").index("int n = undeclared_name;") + 1
        self.assertIn(f"README.md:{line}: the snippet does not compile", result.stderr)
        self.assertIn("undeclared_name", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)

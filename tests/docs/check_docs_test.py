#!/usr/bin/env python3
"""scripts/check_docs must pass on the tree and fail, naming page, line and figure, when a
quoted figure is changed: in the headline table, in a pattern page's Measured section and in
the text of a link to the notes; and when an example or a page names a test that does not
exist, or an example skips one of the page's questions. Runs on temporary copies of the
documentation, the examples and the tests' sources.

Usage: check_docs_test.py SOURCE_DIR
"""
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SOURCE = Path(sys.argv.pop(1) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
SCRIPT = SOURCE / "scripts" / "check_docs"
WRONG = "987.654"  # a number no notes hold


def copy_docs(destination):
    shutil.copy2(SOURCE / "README.md", destination / "README.md")
    shutil.copytree(SOURCE / "docs", destination / "docs")
    sources = [*(SOURCE / "benchmarks").rglob("README.md"), *(SOURCE / "tests").rglob("*.cpp"),
               *(SOURCE / "examples").glob("*/main.cpp")]
    for source in sources:
        target = destination / source.relative_to(SOURCE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def run(root, *args):
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *args],
                          capture_output=True, text=True, check=False)


class CheckDocs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        copy_docs(self.root)
        listing = run(self.root, "--list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        # PAGE:LINE: FIGURE -> NOTES
        self.checked = [re.match(r"(.+?):(\d+): (.+?) -> (.+)", line).groups()
                        for line in listing.stdout.splitlines() if " -> " in line]

    def tearDown(self):
        self.tmp.cleanup()

    def change_first_figure(self, page_matches, line_matches=lambda text: True):
        for page, line, figure, _ in self.checked:
            path = self.root / page
            lines = path.read_text(encoding="utf-8").split("\n")
            text = lines[int(line) - 1]
            if not page_matches(page) or not line_matches(text) or "-" in figure:
                continue
            number = re.match(r"[\d,.]+", figure).group(0)
            pattern = rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)"
            lines[int(line) - 1] = re.sub(pattern, WRONG, text, count=1)
            path.write_text("\n".join(lines), encoding="utf-8")
            return page, int(line), figure.replace(number, WRONG, 1)
        self.fail("no figure to change")

    def expect_failure_naming(self, page, line, figure):
        result = run(self.root)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(f"{page}:{line}: figure '{figure}' is not in", result.stderr)

    def test_the_tree_passes(self):
        result = run(SOURCE)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertGreater(len(self.checked), 50, "the check reads the quoted figures")

    def test_a_wrong_headline_figure_fails(self):
        self.expect_failure_naming(*self.change_first_figure(
            lambda page: page == "benchmarks/README.md"))

    def test_a_wrong_figure_in_a_measured_section_fails(self):
        self.expect_failure_naming(*self.change_first_figure(
            lambda page: page == "docs/patterns/message-queues.md"))

    def test_a_wrong_figure_in_a_link_to_the_notes_fails(self):
        self.expect_failure_naming(*self.change_first_figure(
            lambda page: page == "docs/patterns/sharding.md",
            lambda text: "](../../benchmarks/" in text and "Measured" not in text))

    def test_notes_without_a_date_fail(self):
        notes = self.root / "benchmarks" / "core" / "README.md"
        text = re.sub(r"20\d\d-\d\d-\d\d", "recently", notes.read_text(encoding="utf-8"))
        notes.write_text(text, encoding="utf-8")
        result = run(self.root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("benchmarks/core/README.md: the notes give no date", result.stderr)

    def edit(self, rel, old, new):
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        self.assertIn(old, text)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def test_an_example_naming_a_test_that_does_not_exist_fails(self):
        self.edit("examples/cdn/main.cpp", "EdgeCache.MemoryStaysWithinTheByteBound",
                  "EdgeCache.NoSuchTest")
        result = run(self.root)
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr,
                         r"examples/cdn/main.cpp:\d+: test EdgeCache.NoSuchTest is not in tests/")

    def test_an_example_missing_a_question_fails(self):
        self.edit("examples/sharding/main.cpp", 'question("Real-world examples"',
                  'question("Elsewhere"')
        result = run(self.root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("examples/sharding/main.cpp: does not print the question "
                      "'Real-world examples'", result.stderr)

    def test_a_page_naming_a_test_that_does_not_exist_fails(self):
        self.edit("docs/patterns/cdn.md", "`EdgeCache.PurgeByUrlTagAndPrefix`",
                  "`EdgeCache.PurgeByNothing`")
        result = run(self.root)
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, r"docs/patterns/cdn.md:\d+: test `EdgeCache.PurgeByNothing`")


if __name__ == "__main__":
    unittest.main(verbosity=2)

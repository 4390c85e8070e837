# SPDX-License-Identifier: GPL-2.0
"""README.md: what it shows is what the code does.

- Its first code block, the ladder a newcomer sees first, is a command
  (first line, "$ ...") and that command's output: the test runs the
  command on a trace the module recorded (tests/tools/fixtures/real-*) and
  wants the rest of the block byte for byte, so a change to tcpflow-show's
  drawing or to the README's copy fails here until the block is printed
  again.
- Its demo table names exactly the demos `scripts/demo` (no argument)
  lists, in the same order: a new demo cannot be left out of it.
- Every relative link of README.md and docs/*.md points at a file that
  exists (sections moved from the README to docs/ keep their links)."""
import glob
import os
import re
import shlex
import subprocess
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(TOP, "README.md")
SHOW = "tools/tcpflow-show"


def readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


def first_block(text):
    """The lines of the first ``` block (fences excluded)."""
    m = re.search(r"^```[^\n]*\n(.*?)^```$", text, re.M | re.S)
    if not m:
        return None
    return m.group(1).split("\n")[:-1]


def section(text, title):
    """The body of the "## title" section, up to the next "## "."""
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text,
                  re.M | re.S)
    return m.group(1) if m else None


def build_show():
    """tools/tcpflow-show, built if it can be (the lab guest's checkout is
    read-only: there the one already built is used)."""
    p = subprocess.run(["make", "-s", "-C", os.path.join(TOP, "tools"),
                        "tcpflow-show"], capture_output=True, text=True)
    path = os.path.join(TOP, SHOW)
    if p.returncode != 0 and not os.access(path, os.X_OK):
        raise AssertionError("cannot build %s:\n%s" % (SHOW,
                                                      p.stdout + p.stderr))


class ReadmeLadder(unittest.TestCase):
    def test_first_block_is_the_command_and_its_output(self):
        block = first_block(readme())
        self.assertTrue(block, "README.md has no ``` block")
        self.assertTrue(block[0].startswith("$ "),
                        "the README's first block does not start with the "
                        "command that printed it ('$ ...'): %r" % block[0])
        argv = shlex.split(block[0][2:])
        self.assertEqual(argv[0], SHOW, "the first block is not drawn by "
                         "%s: %r" % (SHOW, block[0]))
        traces = [a for a in argv[1:] if not a.startswith("-")
                  and os.path.isfile(os.path.join(TOP, a))]
        self.assertTrue(traces and all(
            re.match(r"tests/tools/fixtures/real-[^/]*\.trace$", a)
            for a in traces), "the ladder must come from a trace the module "
            "recorded (tests/tools/fixtures/real-*.trace): %r" % block[0])
        build_show()
        env = dict(os.environ, LC_ALL="C", NO_COLOR="1")	# plain text
        p = subprocess.run(argv, cwd=TOP, capture_output=True, text=True,
                           env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertIn("[S]", p.stdout)	# it is a ladder, with a handshake
        self.assertEqual("\n".join(block[1:]) + "\n", p.stdout,
                         "README.md's first block differs from what `%s` "
                         "prints now: print it again into the README"
                         % block[0][2:])


class ReadmeDemos(unittest.TestCase):
    def test_demo_table_names_every_demo(self):
        p = subprocess.run([os.path.join(TOP, "scripts", "demo")], cwd=TOP,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertTrue(lines and lines[0].startswith("usage:"), p.stdout)
        listed = [ln.split()[0] for ln in lines[1:] if ln.strip()]
        self.assertGreater(len(listed), 10, p.stdout)
        body = section(readme(), "Demos")
        self.assertIsNotNone(body, "README.md has no '## Demos' section")
        named = re.findall(r"^\| `([a-z0-9-]+)` \|", body, re.M)
        self.assertEqual(named, listed, "README.md's demo table does not "
                         "name the demos `scripts/demo` lists, in its order")


class Links(unittest.TestCase):
    def test_relative_links_resolve(self):
        bad = []
        for md in [README] + sorted(glob.glob(os.path.join(TOP, "docs",
                                                            "*.md"))):
            with open(md, encoding="utf-8") as f:
                text = f.read()
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"[a-z]+:", target) or target.startswith("#"):
                    continue
                path = os.path.join(os.path.dirname(md),
                                    target.split("#")[0])
                if not os.path.exists(path):
                    bad.append("%s: %s" % (os.path.relpath(md, TOP), target))
        self.assertEqual(bad, [], "links to files that do not exist")


if __name__ == "__main__":
    unittest.main()

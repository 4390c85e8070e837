# SPDX-License-Identifier: GPL-2.0
"""The man pages: tools/tcpflow-show.1 and tools/bpf/tcpflow-bpf.8.

- Each is clean for mandoc's linter at its warning level (mandoc -T lint
  -W warning: errors and warnings, not style) and for groff's man macros
  with every warning on (groff -man -ww -z), with whichever of the two is
  installed (scripts/deps.list has mandoc).
- SEE ALSO names the other page both ways, by its name and the section
  its .TH line gives it.
- The options each page documents (its OPTIONS items) are the options
  the program's --help lists, each long option with the same short one:
  an option added to the program and not to its page, or dropped from
  the program and left on the page, fails here."""
import os
import re
import shutil
import subprocess
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PAGES = {
    "tcpflow-show": ("tools/tcpflow-show.1", "tools/tcpflow-show"),
    "tcpflow-bpf": ("tools/bpf/tcpflow-bpf.8", "tools/bpf/tcpflow-bpf"),
}


def page(name):
    with open(os.path.join(TOP, PAGES[name][0]), encoding="utf-8") as f:
        return f.read()


def section(text, title):
    """The lines of '.SH title', up to the next .SH."""
    m = re.search(r"^\.SH \"?%s\"?\n(.*?)(?=^\.SH |\Z)" % re.escape(title),
                  text, re.M | re.S)
    return m.group(1).splitlines() if m else []


def th(text):
    """(name, section) from the .TH line."""
    m = re.search(r"^\.TH (\S+) (\S+)", text, re.M)
    return (m.group(1).lower(), m.group(2)) if m else None


def page_options(text):
    """{long: short or None} of the OPTIONS section's items (the line after
    each .TP)."""
    lines = section(text, "OPTIONS")
    opts = {}
    for i, line in enumerate(lines[:-1]):
        if line.strip() != ".TP":
            continue
        item = lines[i + 1]
        longs = re.findall(r"\\-\\-([a-z][a-z0-9-]*)", item)
        shorts = re.findall(r"(?<!\\-)\\-([A-Za-z0-9])(?![a-z0-9-])", item)
        for lo in longs:
            opts[lo] = shorts[0] if len(shorts) == 1 and \
                len(longs) == 1 else None
    return opts


def help_options(prog):
    """{long: short or None} of PROG --help's option lines."""
    p = subprocess.run([os.path.join(TOP, prog), "--help"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("%s --help: exit %d\n%s" % (prog, p.returncode,
                                                         p.stderr))
    opts = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^  (?:-([A-Za-z0-9]), |    )--([a-z][a-z0-9-]*)", line)
        if m:
            opts[m.group(2)] = m.group(1)
            # "--since TIME ... --until TIME, same forms": both listed
        for lo in re.findall(r"^\s+--([a-z][a-z0-9-]*)\s", line):
            opts.setdefault(lo, None)
    return opts


class Lint(unittest.TestCase):
    def lint(self, argv, name):
        path = os.path.join(TOP, PAGES[name][0])
        p = subprocess.run(argv + [path], capture_output=True, text=True)
        said = (p.stdout + p.stderr).strip()
        self.assertEqual((p.returncode, said), (0, ""),
                         "%s %s:\n%s" % (" ".join(argv), PAGES[name][0],
                                         said))

    def test_mandoc(self):
        if not shutil.which("mandoc"):
            self.skipTest("no mandoc (scripts/deps installs it)")
        for name in PAGES:
            self.lint(["mandoc", "-T", "lint", "-W", "warning"], name)

    def test_groff(self):
        if not shutil.which("groff"):
            self.skipTest("no groff")
        for name in PAGES:
            self.lint(["groff", "-man", "-ww", "-z"], name)


class SeeAlso(unittest.TestCase):
    def test_each_names_the_other(self):
        for name, other in (("tcpflow-show", "tcpflow-bpf"),
                            ("tcpflow-bpf", "tcpflow-show")):
            refs = re.findall(r"^\.BR (\S+) \((\w+)\)",
                              "\n".join(section(page(name), "SEE ALSO")),
                              re.M)
            self.assertIn(th(page(other)), refs,
                          "%s's SEE ALSO does not name %s(%s): %r" % (
                              PAGES[name][0], other, th(page(other))[1],
                              refs))


class Options(unittest.TestCase):
    def check(self, name):
        prog = PAGES[name][1]
        if not os.access(os.path.join(TOP, prog), os.X_OK):
            self.skipTest("%s is not built" % prog)
        want = help_options(prog)
        got = page_options(page(name))
        self.assertGreater(len(want), 5, "%s --help: %r" % (prog, want))
        self.assertEqual(sorted(set(want) - set(got)), [],
                         "in %s --help, not an item of %s's OPTIONS" % (
                             prog, PAGES[name][0]))
        self.assertEqual(sorted(set(got) - set(want)), [],
                         "items of %s's OPTIONS that %s --help does not "
                         "list" % (PAGES[name][0], prog))
        self.assertEqual(want, got, "short options: %s --help vs %s" % (
            prog, PAGES[name][0]))

    def test_tcpflow_show(self):
        self.check("tcpflow-show")

    def test_tcpflow_bpf(self):
        self.check("tcpflow-bpf")


if __name__ == "__main__":
    unittest.main()

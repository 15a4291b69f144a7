"""What an audit imports: modules that only rare paths need stay out of every run's start-up.

Behaviour, not timing: a fresh interpreter imports the CLI, the engine and every rule module, and
must not have loaded the standard-library modules that only a fix, a stack inside git or another
command needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import sys
import scanner.cli, scanner.config, scanner.engine, scanner.fsutil, scanner.report
from scanner.registry import imported_rules
imported_rules()
print(" ".join(sorted(m for m in sys.modules)))
"""

# tempfile (with shutil, random, bz2, lzma): not even the atomic write of a report imports it (see below);
# subprocess: only a stack inside a git work tree runs git; secrets (with hmac): only a fix that
# generates a new value.
LAZY = ("tempfile", "subprocess", "secrets", "hmac")


def _loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_audit_imports_leave_rare_modules_out():
    # what the interpreter itself loads at start (site, .pth files of the environment) is not ours
    at_start = _loaded('import sys; print(" ".join(sys.modules))')
    loaded = _loaded(_PROBE)
    assert "rules.gateway.tls" in loaded and "scanner.secretcheck" in loaded  # the probe did import the rules
    added = (loaded - at_start) & set(LAZY)
    assert not added, sorted(added)


def test_writing_a_report_imports_no_tempfile(tmp_path):
    """The atomic write makes its temp file itself (0600, exclusive, beside the target)."""
    target = tmp_path / "r.json"
    code = (f"import sys; from scanner.fsutil import atomic_write; atomic_write({str(target)!r}, 'x'); "
            "print(' '.join(sys.modules))")
    at_start = _loaded('import sys; print(" ".join(sys.modules))')
    assert "tempfile" not in _loaded(code) - at_start
    assert target.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_atomic_write_and_open(tmp_path):
    from scanner.fsutil import atomic_open, atomic_write

    target = tmp_path / "report.json"
    atomic_write(target, "one")
    assert target.read_text() == "one"
    target.chmod(0o640)
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and target.stat().st_mode & 0o777 == 0o640
    with atomic_open(tmp_path / "big.txt") as fh:
        fh.write("piece 1\n")
        fh.write("piece 2\n")
    assert (tmp_path / "big.txt").read_text() == "piece 1\npiece 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt", "report.json"]  # no temp file left


def test_lazy_patterns_behave_as_compiled():
    import re

    from rules.helpers.locations import LazyRe

    lazy = LazyRe(r"a(b+)", re.I)
    plain = re.compile(r"a(b+)", re.I)
    for text in ("xABb", "nothing", "ab ab"):
        assert bool(lazy.search(text)) == bool(plain.search(text))
        assert lazy.sub("-", text) == plain.sub("-", text)
        assert [m.span(1) for m in lazy.finditer(text)] == [m.span(1) for m in plain.finditer(text)]
    assert lazy.pattern == plain.pattern and lazy.flags == plain.flags


def test_reports_to_devices_and_fifos_are_written_not_replaced(tmp_path):
    """`--output /dev/null` must not turn the device into a regular file (a rename over it would,
    as root), and a FIFO gets the report."""
    import stat
    import threading

    from click.testing import CliRunner

    from scanner import cli

    fixture = ROOT / "fixtures" / "studios-dk"
    r = CliRunner().invoke(cli.main, ["audit", str(fixture), "--format", "json", "--output", os.devnull])
    assert r.exit_code == 1, r.output
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    r = CliRunner().invoke(cli.main, ["audit", str(fixture), "--format", "sarif", "--output", str(fifo)])
    reader.join(60)
    assert r.exit_code == 1, r.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got and '"version": "2.1.0"' in got[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.fifo"]

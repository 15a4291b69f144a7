"""No report shows a secret: canaries planted in every secret-bearing place of a stack (dotenv,
compose environment, a command line, a URL, SQL ``PASSWORD``, Dockerfile ``ENV``, NATS config) and a
fix that generates a secret must not appear in any format, nor in the CLI's files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scanner.model import Edit, Finding, Fix, Location
from scanner.report import FORMATS, SUFFIXES, render
from test_report_common import CANARIES, GENERATED_SECRET, synthetic_result, write_stack

ROOT = Path(__file__).resolve().parent.parent


def _with_findings_on_every_secret_line(result):
    """Point a finding at every line of every file (so every line gets a snippet and a diff)."""
    rule = next(iter(result.rules))
    extra = []
    for rel, sf in result.stack.files.items():
        for n in range(1, len(sf.text.splitlines()) + 1):
            extra.append(Finding(rule=rule, location=Location(rel, n, 1), message=f"line {n}",
                                 snippet_key=f"{rel}:{n}",
                                 fix=Fix("rewrite the line", (Edit(Location(rel, n, 1), "# "),))))
    result.findings = result.findings + extra
    return result


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_canary_in_any_format(tmp_path, fmt):
    result = _with_findings_on_every_secret_line(synthetic_result(tmp_path, extra=True))
    text = render(fmt, result, uri_prefix="", include_suppressed=True)
    for secret in (*CANARIES, GENERATED_SECRET):
        assert secret not in text, f"{fmt} shows {secret[:4]}…"


def test_no_canary_through_the_cli(tmp_path):
    stack = write_stack(tmp_path / "s", extra=True)
    args = [sys.executable, "-m", "scanner.cli", "audit", str(stack), "--include-suppressed"]
    for fmt in FORMATS:
        args += ["--format", fmt, "--output", str(tmp_path / f"r{SUFFIXES[fmt]}")]
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode in (0, 1), r.stderr
    outputs = [r.stdout, r.stderr] + [(tmp_path / f"r{SUFFIXES[fmt]}").read_text() for fmt in FORMATS]
    for text in outputs:
        for secret in CANARIES:
            assert secret not in text

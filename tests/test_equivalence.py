"""The fast paths give, byte for byte, the reports of the plain ones (issue 17).

An audit reads the rule metadata from the generated index (``rules/_index.py``), imports and runs
only the rule families whose file kinds the stack has (``scanner.engine.runs_on``), and audits a
monorepo's first deployment in the parent before forking the pool. The reference here imports every
rule module (``imported_rules``), runs every rule on every stack and audits one deployment after the
other in one process: the six report formats must not differ by a byte, on both bundled stacks, every
project of ``../shared/corpus/`` and a generated monorepo (the benchmark's generator). The whole
golden comparison against another tree (every rule fixture, ``fix`` diffs, ``rules``/``explain``)
is ``benchmarks/equivalence.py``.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from scanner import engine, registry
from scanner.engine import PARALLEL_MIN_UNITS, audit
from scanner.report import REPORT_FORMATS, render
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parent.parent


def _targets() -> list[Path]:
    out = [ROOT / "fixtures" / "studios-dk", ROOT / "fixtures" / "studios-dk-compliant"]
    corpus = shared_path("corpus")
    if corpus is not None and Path(corpus).is_dir():
        out += sorted(p for p in Path(corpus).iterdir() if p.is_dir())
    return out


def _reports(path: Path, jobs: int) -> dict[str, str]:
    result = audit([path], jobs=jobs)
    return {f.name: render(f.name, result) for f in REPORT_FORMATS}


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    monkeypatch.setenv("NO_COLOR", "1")


def _reference(monkeypatch):
    """Every rule module imported, every rule run on every stack."""
    every = registry.imported_rules()
    monkeypatch.setattr(registry, "load_rules", lambda: every)
    monkeypatch.setattr(engine, "load_rules", lambda: every)
    monkeypatch.setattr(engine, "audit_rules", lambda: {k: r for k, r in every.items() if not k.startswith("LIVE")})
    monkeypatch.setattr(engine, "runs_on", lambda rule, kinds: True)


@pytest.mark.parametrize("path", _targets(), ids=lambda p: p.name)
def test_stack_reports_equal_the_reference(path, pinned, monkeypatch):
    fast = _reports(path, jobs=1)
    _reference(monkeypatch)
    assert _reports(path, jobs=1) == fast


def test_monorepo_pool_equals_one_process_with_every_rule(tmp_path, pinned, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from run import write_monorepo  # the benchmark's generator
    finally:
        sys.path.pop(0)
    mono = tmp_path / "mono"
    write_monorepo(mono, PARALLEL_MIN_UNITS + 2, random.Random(17), ROOT / "fixtures" / "studios-dk")
    (mono / "edge").mkdir()  # outside every deployment, of one kind: only the nginx families run on it
    (mono / "edge" / "nginx.conf").write_text("events {}\nhttp { server { listen 80; server_tokens on; } }\n")
    fast = _reports(mono, jobs=2)  # the pool, its first deployment audited in the parent
    _reference(monkeypatch)
    assert _reports(mono, jobs=1) == fast

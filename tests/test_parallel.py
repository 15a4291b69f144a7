"""A monorepo audited in a process pool gives exactly what one process gives.

``engine.audit`` splits a scan into deployments (the shallowest directories holding a compose file)
and, when there are at least ``PARALLEL_MIN_UNITS`` of them, audits them in forked workers. The
findings, suppressed findings, secrets to redact, files and every report format must not depend on
the number of processes.
"""

import dataclasses
import datetime as dt
import re
import shutil

import pytest

from scanner.engine import PARALLEL_MIN_UNITS, audit
from scanner.report import FORMATS, render
from tests.conftest import FIXTURES

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _mutate(text: str, i: int) -> str:
    """Stack ``i`` differs from the fixture: ports, a pool size, secrets, names."""
    text = re.sub(r"\b(8080|8000|3000)\b", lambda m: str(int(m.group(1)) + i), text)
    text = re.sub(r"(POOL_SIZE=)(\d+)", lambda m: f"{m.group(1)}{5 + 7 * i}", text)
    text = re.sub(r"(SECRET=|PASSWORD=)([^\n]*)", lambda m: f"{m.group(1)}s3cr3t-value-{i:03d}-{'x' * (i % 5)}", text)
    return text.replace("studios-dk", f"studios-dk-{i}")


@pytest.fixture(scope="module")
def monorepo(tmp_path_factory):
    root = tmp_path_factory.mktemp("mono")
    n = PARALLEL_MIN_UNITS + 1
    for i in range(n):
        dst = root / "stacks" / f"stack-{i:02d}"
        for src in (FIXTURES / "studios-dk").rglob("*"):
            if not src.is_file():
                continue
            target = dst / src.relative_to(FIXTURES / "studios-dk")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_text(_mutate(src.read_text(encoding="utf-8"), i), encoding="utf-8")
            except UnicodeDecodeError:
                shutil.copy2(src, target)
    # files outside every deployment are audited too (the pool's last work item)
    (root / "tools").mkdir()
    (root / "tools" / "Dockerfile").write_text("FROM python:3.12\nUSER root\nENV API_TOKEN=abcd1234efgh5678\n")
    (root / "nginx-snippets").mkdir()
    (root / "nginx-snippets" / "extra.conf").write_text("server { listen 80; autoindex on; }\n")
    return root


@pytest.fixture(scope="module")
def results(monorepo):
    return {jobs: audit([monorepo], jobs=jobs) for jobs in (1, 2)}


def test_the_pool_is_used(monorepo, results):
    from scanner.stack import stack_units

    assert len(stack_units([monorepo])) >= PARALLEL_MIN_UNITS
    assert len(results[1].findings) > 100 * PARALLEL_MIN_UNITS


def _comparable(findings):
    """Findings with generated secrets (random in every run, shown as ``<generated>``) blanked."""
    out = []
    for f in findings:
        if f.fix is not None and any(e.secret for e in f.fix.edits):
            edits = tuple(dataclasses.replace(e, new_text="<generated>") if e.secret else e for e in f.fix.edits)
            f = dataclasses.replace(f, fix=dataclasses.replace(f.fix, edits=edits))
        out.append(f)
    return out


def test_same_findings(results):
    one, two = results[1], results[2]
    assert _comparable(one.findings) == _comparable(two.findings)
    assert _comparable(one.suppressed) == _comparable(two.suppressed)
    assert _comparable(one.baselined) == _comparable(two.baselined)
    assert not [f for f in one.findings if f.rule == "OPS082"]


def test_same_files_and_secrets(results):
    one, two = results[1], results[2]
    assert sorted(one.stack.files) == sorted(two.stack.files)
    for rel, sf in one.stack.files.items():
        other = two.stack.files[rel]
        assert (sf.kind, sf.text, sf.template, sf.mode) == (other.kind, other.text, other.template, other.mode), rel
    assert one.redact._values == two.redact._values
    assert any("s3cr3t-value-007" in v for v in one.redact._values)


def test_outside_files_audited(results):
    paths = {f.location.path for f in results[2].findings}
    assert "tools/Dockerfile" in paths
    assert "nginx-snippets/extra.conf" in paths


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_reports(results, fmt):
    one = render(fmt, results[1], when=WHEN)
    two = render(fmt, results[2], when=WHEN)
    assert one == two
    assert "s3cr3t-value" not in one


def test_same_with_a_selection(monorepo):
    select = ["DATA001", "GW001", "PER001", "APP060", "OPS063"]
    one = audit([monorepo], select=select, jobs=1)
    two = audit([monorepo], select=select, jobs=2)
    assert _comparable(one.findings) == _comparable(two.findings)
    assert {f.rule for f in one.findings} <= set(select) | {"OPS080", "OPS081", "OPS082"}


def test_a_worker_keeps_no_deployment_alive(monorepo):
    """What a pool worker does per deployment (``_unit_worker``: a young collection, then the
    audit without keeping the Stack) leaves no Stack alive once the next young collection ran:
    a helper's cache keyed by ``id(stack)`` must be a ``scanner.caches.per_stack`` one."""
    import gc

    from scanner.config import Policy
    from scanner.engine import _audit_unit
    from scanner.exclude import Excluder
    from scanner.stack import Stack, deployment_groups

    root = monorepo.resolve()
    groups, _rest, _units = deployment_groups([root], Excluder(Policy(), root))
    gc.collect()
    before = [o for o in gc.get_objects() if isinstance(o, Stack)]  # other tests' results (held)
    was = gc.isenabled()
    gc.disable()
    try:
        for g in groups[:3]:
            gc.collect(0)
            unit = _audit_unit(g, root, Policy(), None, True, [], keep_stack=False)
            assert unit.runs
            del unit
        gc.collect(0)
        held = {id(o) for o in before}
        alive = [o for o in gc.get_objects(0) if isinstance(o, Stack) and id(o) not in held]
        # and none promoted past the young generation by a cache that held it at a collection
        older = [o for o in gc.get_objects() if isinstance(o, Stack) and id(o) not in held]
    finally:
        if was:
            gc.enable()
    assert alive == [] and older == []


@pytest.mark.parametrize("limit", [None, 700, 1])
def test_streamed_sarif_is_the_rendered_one(results, monkeypatch, limit):
    """A pool's findings are spilled (``scanner.findingstore``) and SARIF is written a result at
    a time, GitHub's results limit decided from the counts per severity: the same bytes and the
    same warnings as the log built whole, with the limit cutting inside a severity level too."""
    import io

    from scanner.findingstore import FindingRuns
    from scanner.report import sarif, write

    two = results[2]
    assert isinstance(two.findings, FindingRuns)
    if limit is not None:
        monkeypatch.setattr(sarif, "MAX_RESULTS", limit)
    said, told = [], []
    whole = render("sarif", two, when=WHEN, warn=said.append)
    buf = io.StringIO()
    write("sarif", two, buf, when=WHEN, warn=told.append)
    assert buf.getvalue() == whole and told == said
    assert (limit is not None) == bool(said)
    assert whole == render("sarif", results[1], when=WHEN, warn=[].append)  # the in-memory audit's


def test_streamed_sarif_over_the_size_limit_is_cut_as_before(results, monkeypatch):
    import io

    from scanner.report import sarif, write

    monkeypatch.setattr(sarif, "MAX_GZIP_BYTES", 20_000)
    said, told = [], []
    whole = render("sarif", results[2], when=WHEN, warn=said.append)
    buf = io.StringIO()
    write("sarif", results[2], buf, when=WHEN, warn=told.append)
    assert buf.getvalue() == whole and told == said and any("gzipped" in w for w in said)


def test_spilled_findings_are_the_listed_ones(results):
    """The spill's reading side: iteration, length, counts, files and indexing agree with the
    in-memory audit's lists."""
    from collections import Counter

    from scanner.report.common import counts, failing_count
    from scanner.model import Severity

    one, two = results[1], results[2]
    assert len(two.findings) == len(one.findings) and bool(two.findings)
    assert _comparable(list(two.findings)) == _comparable(one.findings)
    assert two.findings.paths() == sorted({f.location.path for f in one.findings})
    assert two.findings.tally == Counter((f.rule, f.severity) for f in one.findings)
    assert counts(two) == counts(one)
    for t in Severity:
        assert failing_count(two, t) == len(one.failing(t)) == two.failing_count(t)
    assert _comparable([two.findings[0], two.findings[-1]]) == _comparable([one.findings[0], one.findings[-1]])

"""Scan-root invariance (issue 15): a deployment's findings are the same whether it is audited
alone, beside other deployments, from a parent folder (at any depth), or by naming its files;
and no finding is ever reported twice.

The property is checked over random groupings of the bundled stacks and the real public stacks of
``../shared/corpus``: copies are laid out at random depths of a temporary folder, the folder (or the
stack directories, or every file) is audited once, and each stack's share of the findings — paths
and messages taken relative to the stack — must equal the findings of that stack audited alone.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from scanner.engine import audit
from scanner.report.common import fingerprint
from tests.conftest import FIXTURES, shared_path

STACKS = [FIXTURES / "studios-dk", FIXTURES / "studios-dk-compliant",
          *sorted(p for p in shared_path("corpus").iterdir() if p.is_dir())]

_WORK = Path(tempfile.mkdtemp(prefix="dkscan-invariance-"))
_ALONE: dict[str, Counter] = {}


def _copy(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True)


def _keys(findings, prefix: str) -> Counter:
    """The findings located under ``prefix`` (a stack's directory relative to the scan root), with
    that prefix taken off their paths and messages."""
    out: Counter = Counter()
    lead = prefix + "/" if prefix else ""
    for f in findings:
        path = f.location.path
        if lead and not path.startswith(lead):
            continue
        out[(f.rule, path[len(lead):], f.location.start_line, f.location.start_col,
             f.message.replace(lead, "") if lead else f.message)] += 1
    return out


def _alone(stack: Path) -> Counter:
    """The stack audited on its own, from a copy (the same git-less surroundings as the groupings)."""
    if stack.name not in _ALONE:
        dest = _WORK / "alone" / stack.name
        if not dest.exists():
            _copy(stack, dest)
        _ALONE[stack.name] = _keys(audit([dest]).findings, "")
    return _ALONE[stack.name]


def _no_duplicates(result) -> None:
    """No finding twice: not the same rule, place and message, nor the same fingerprint (what a
    baseline and GitHub code scanning key alerts on) at the same line."""
    seen = Counter((f.rule, f.location, f.message) for f in result.findings)
    dups = [k for k, n in seen.items() if n > 1]
    assert not dups, dups[:5]
    fps = Counter((f.rule, f.location.path, f.location.start_line, fingerprint(result, f)) for f in result.findings)
    assert not [k for k, n in fps.items() if n > 1]


_counter = [0]

grouping = st.lists(
    st.tuples(st.sampled_from(range(len(STACKS))), st.lists(st.sampled_from(["a", "b", "deploy", "ops"]), max_size=2)),
    min_size=1, max_size=6, unique_by=lambda t: t[0])


_EVERY = [(i, ["deploy"] * (i % 3)) for i in range(len(STACKS))]  # every stack at once, at depths 0-2


@settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(grouping, st.sampled_from(["parent", "dirs", "files"]))
@example(_EVERY, "parent")
@example(_EVERY, "dirs")
@example(_EVERY, "files")
def test_findings_do_not_depend_on_what_else_is_scanned(layout, how):
    _counter[0] += 1
    top = _WORK / f"g{_counter[0]}"
    placed = []
    for index, parents in layout:
        stack = STACKS[index]
        dest = top.joinpath(*parents, f"s{index}", stack.name)  # a unique folder per stack
        _copy(stack, dest)
        placed.append((stack, dest))
    if how == "parent":
        paths = [top]
    elif how == "dirs":
        paths = [dest for _s, dest in placed]
    else:  # every file of every stack, named on the command line
        paths = sorted(p for _s, dest in placed for p in dest.rglob("*") if p.is_file() or p.is_symlink())
    result = audit(paths, root=top)
    _no_duplicates(result)
    for stack, dest in placed:
        prefix = dest.relative_to(top).as_posix()
        got, want = _keys(result.findings, prefix), _alone(stack)
        assert got == want, (stack.name, how, sorted(got - want)[:5], sorted(want - got)[:5])
    shutil.rmtree(top)


def test_a_repository_root_scan_reports_each_bundled_stack_as_alone(root, monkeypatch):
    """The reported case: from the repository root, the studios-dk stacks get exactly the findings
    they get alone (their SQL/RLS model and services do not leak into each other)."""
    monkeypatch.chdir(root)  # a relative scan path (`dkscan audit .`) is where the deployments leaked
    result = audit([Path(".")])
    _no_duplicates(result)
    for name in ("studios-dk", "studios-dk-compliant"):
        alone = _keys(audit([FIXTURES / name]).findings, "")
        assert _keys(result.findings, f"fixtures/{name}") == alone, name


def test_the_compliant_stack_stays_clean_out_of_its_repository():
    """Copied out of git (a tarball, a CI cache), the compliant stack keeps its answer: what its
    own .gitignore keeps out of the repository (secrets/ written on the server) is not reported
    missing (OPS067)."""
    assert not _alone(STACKS[1]), sorted(_alone(STACKS[1]))[:5]

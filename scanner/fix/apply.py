"""Turning findings into a compliant stack: apply the rules' text edits, ruff-style.

A fix is a list of minimal text edits on the original file with an applicability (safe or unsafe).
``plan_fixes`` works on a private copy of the stack: it applies every non-overlapping fix, re-audits,
and repeats until nothing changes (fixes whose edits overlap wait for the next pass). The result is
a set of new file contents; ``write_changes`` writes them atomically (temp file in the same
directory, fsync, rename), keeping each file's mode, never through a symlink that leaves the root.
Text generated for a secret is written to the file only: diffs show ``<generated>``.
"""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import Result, audit
from ..model import SAFE, Edit, Finding, Fix
from ..secrets import Redactor

MAX_PASSES = 8
COPY_IGNORE = shutil.ignore_patterns(".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", "*.pyc")


@dataclass
class Plan:
    root: Path
    original: dict[str, str]  # rel -> original text (files that change)
    new: dict[str, str]  # rel -> new text
    applied: list[Finding] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)  # generated secret texts (to hide in diffs)
    secret_files: set[str] = field(default_factory=set)  # files that received a generated secret
    passes: int = 0
    remaining: Result | None = None

    @property
    def changed(self) -> list[str]:
        return sorted(rel for rel in self.new if self.new[rel] != self.original.get(rel))


def _offsets(text: str) -> list[int]:
    """Offset of the start of each line (index 0 = line 1), plus one past the end."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _offset(starts: list[int], text: str, line: int, col: int) -> int:
    if line > len(starts):
        return len(text)
    base = starts[line - 1]
    end = starts[line] - 1 if line < len(starts) else len(text)
    return min(base + max(col, 1) - 1, end + (0 if line < len(starts) else 0)) if col <= (end - base + 1) else end


def edit_span(text: str, edit: Edit, starts: list[int] | None = None) -> tuple[int, int]:
    starts = starts or _offsets(text)
    loc = edit.location
    a = _offset(starts, text, loc.start_line, loc.start_col)
    if loc.end_line is None:
        return a, a
    b = _offset(starts, text, loc.end_line, loc.end_col or 1)
    return a, max(a, b)


def apply_edits(text: str, fixes: list[Fix]) -> tuple[str, list[Fix]]:
    """Apply every fix whose edits overlap no other applied edit; return (text, applied fixes)."""
    starts = _offsets(text)
    taken: list[tuple[int, int]] = []
    chosen: list[tuple[int, int, str]] = []
    applied: list[Fix] = []
    for fix in fixes:
        spans = [(*edit_span(text, e, starts), e.new_text) for e in fix.edits]
        ok = True
        for a, b, _ in spans:
            for x, y in taken:
                if a < y and x < b or (a == b == x == y) or (a == b and x < a < y) or (x == y and a < x < b):
                    ok = False
                    break
            if not ok:
                break
        if not ok:
            continue
        taken.extend((a, b) for a, b, _ in spans)
        chosen.extend(spans)
        applied.append(fix)
    out = text
    for a, b, new in sorted(chosen, key=lambda t: (t[0], t[1]), reverse=True):
        out = out[:a] + new + out[b:]
    return out, applied


def _wanted(f: Finding, unsafe: bool, rules: set[str] | None) -> bool:
    if f.fix is None or not f.fix.edits:
        return False
    if rules and f.rule not in rules:
        return False
    return f.fix.applicability == SAFE or unsafe


def plan_fixes(paths: list[Path], policy=None, unsafe: bool = False, rules: set[str] | None = None,
               root: Path | None = None) -> Plan:
    first = audit(paths, policy, root=root)
    root = first.stack.root
    with tempfile.TemporaryDirectory(prefix="dkscan-fix-") as tmp:
        work = Path(tmp) / "stack"
        shutil.copytree(root, work, symlinks=True, ignore=COPY_IGNORE)
        rels = [Path(p).resolve().relative_to(root) if Path(p).resolve() != root else Path(".") for p in paths]
        work_paths = [work / r for r in rels]
        plan = Plan(root, {}, {})
        result = first
        for _ in range(MAX_PASSES):
            by_file: dict[str, list[tuple[Finding, Fix]]] = {}
            for f in result.findings:
                if _wanted(f, unsafe, rules):
                    for path in {e.location.path for e in f.fix.edits}:
                        by_file.setdefault(path, []).append((f, f.fix))
            changed = False
            for rel, items in by_file.items():
                target = work / rel
                if not _safe_target(work, target):
                    continue
                try:
                    text = target.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                plan.original.setdefault(rel, (root / rel).read_text(encoding="utf-8") if (root / rel).exists() else "")
                fixes = []
                for f, fix in items:
                    own = tuple(e for e in fix.edits if e.location.path == rel)
                    fixes.append(Fix(fix.description, own, fix.applicability))
                new_text, applied = apply_edits(text, fixes)
                if new_text != text:
                    target.write_text(new_text, encoding="utf-8")
                    plan.new[rel] = new_text
                    changed = True
                    for fix in applied:
                        for e in fix.edits:
                            if e.secret:
                                plan.secrets.add(e.new_text)
                                plan.secret_files.add(rel)
                    applied_ids = {id(x) for x in applied}
                    plan.applied.extend(f for (f, _), fx in zip(items, fixes) if id(fx) in applied_ids)
            if not changed:
                break
            plan.passes += 1
            result = audit(work_paths, policy, root=work)
        plan.remaining = result
    return plan


def _safe_target(root: Path, target: Path) -> bool:
    """Only regular files inside the root, never through a symlink that leaves it."""
    try:
        resolved = target.resolve(strict=True)
        resolved.relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):
        return False
    return stat.S_ISREG(resolved.stat().st_mode)


def render_diff(plan: Plan, redact: Redactor | None = None) -> str:
    """Unified diff of the plan; generated secrets show as ``<generated>``, old secret values as ``***``."""
    hide = Redactor()
    out: list[str] = []
    for rel in plan.changed:
        old = plan.original.get(rel, "")
        new = plan.new[rel]
        for s in sorted(plan.secrets, key=len, reverse=True):
            new = new.replace(s, "<generated>")
        if redact is not None:
            old, new = redact(old), redact(new)
        out.extend(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{rel}", tofile=f"b/{rel}"))
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
    del hide
    return "".join(out)


def write_changes(plan: Plan, backup: bool = False, before_each=None) -> list[str]:
    """Write the planned contents atomically; return the files written. ``before_each(rel)`` is a
    hook the tests use to interrupt a run between files."""
    from ..fsutil import atomic_write

    written = []
    root = plan.root.resolve()
    for rel in plan.changed:
        target = root / rel
        if not _safe_target(root, target):
            continue
        real = target.resolve()
        if before_each is not None:
            before_each(rel)
        if backup:
            shutil.copy2(real, real.with_name(real.name + ".orig"))
        mode = stat.S_IMODE(real.stat().st_mode)
        if rel in plan.secret_files:
            mode = 0o600
        atomic_write(real, plan.new[rel], mode=mode)
        written.append(rel)
    return written

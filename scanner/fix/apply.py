"""Turning findings into a compliant stack: apply the rules' text edits, ruff-style.

A fix is a list of minimal text edits on the original file with an applicability (safe or unsafe).
``plan_fixes`` works on a private copy of the stack: it applies every fix whose edits overlap no
other chosen edit (in any file: a fix applies whole or not at all), re-audits, and repeats until
nothing changes (fixes whose edits overlap wait for the next pass). Three guards keep a wrong fix
from doing damage:

- a fix that was applied and whose finding comes back is never applied again (``ineffective``): a
  fix that does not remove its finding would otherwise be inserted once per pass;
- a pass that makes a file unparseable (a new OPS080/OPS081 on it) is undone for that file and its
  fixes are retried one at a time on the pre-pass text; those that break it are ``rejected``;
- a fix that would edit a file outside the root, or through a symlink leaving it, is skipped.

A fix may create a file (``.gitignore``, ``.dockerignore``): edits on a missing path inside the
root start from an empty text. The private copy keeps the original's git view (tracked files and
ignore rules), so the git rules judge the copy as they judge the original.

The result is a set of new file contents; ``write_changes`` writes them atomically (temp file in the
same directory, fsync, rename), keeping each file's mode (0600 for a file that received a generated
secret), never through a symlink that leaves the root. Text generated for a secret is written to the
file only: diffs show ``<generated>``.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import Result, audit
from .. import gitview
from ..model import SAFE, CoreRule, Edit, Finding, Fix
from ..parsers.base import LineIndex
from ..secrets import Redactor

MAX_PASSES = 8
COPY_IGNORE = shutil.ignore_patterns(".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", "*.pyc")
PARSE_RULES = CoreRule.PARSE
BACKUP_SUFFIX = ".orig"  # what --backup writes; a fix never edits one


@dataclass
class Plan:
    root: Path
    original: dict[str, str]  # rel -> original text (files that change; "" for a file a fix creates)
    new: dict[str, str]  # rel -> new text
    applied: list[Finding] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)  # generated secret texts (to hide in diffs)
    secret_files: set[str] = field(default_factory=set)  # files that received a generated secret
    passes: int = 0
    remaining: Result | None = None
    created: set[str] = field(default_factory=set)  # files a fix creates
    rejected: list[tuple[Finding, str]] = field(default_factory=list)  # fixes not applied, and why
    ineffective: list[Finding] = field(default_factory=list)  # applied, yet the finding stayed
    modes: dict[str, tuple[int, int]] = field(default_factory=dict)  # rel -> (old mode, new mode)
    # the spans each pass spliced, per file, in the coordinates of the text before that pass
    history: list[dict[str, list[tuple[int, int, str]]]] = field(default_factory=list)

    def disk_line(self, f: Finding) -> int:
        """The line of remaining finding ``f`` (a position in the fixed text) in the file as it is on
        disk before the fixes are written: what a dry run lists. A position inside text a fix wrote
        is the line where that edit starts."""
        rel = f.location.path
        new = self.new.get(rel)
        if new is None or rel in self.created or new == self.original.get(rel):
            return f.location.start_line
        p = _offset(_offsets(new), new, f.location.start_line, f.location.start_col)
        for spans in reversed(self.history):
            if rel in spans:
                p = _unmap_offset(p, spans[rel])
        old = self.original[rel]
        return _offsets(old).line_col(min(p, len(old)))[0] if old else 1

    @property
    def changed(self) -> list[str]:
        return sorted(rel for rel in self.new if self.new[rel] != self.original.get(rel))

    def why_not_applied(self, f: Finding) -> str | None:
        """Why a remaining finding that has a fix still stands (None when the plan does not know)."""
        key = _fix_key(f)
        for g, reason in self.rejected:
            if _fix_key(g) == key:
                return reason
        if any(_fix_key(g) == key and g.location == f.location for g in self.ineffective):
            return "its fix was applied but did not remove the finding (a rule bug: report it)"
        return None

    @property
    def mode_changes(self) -> list[str]:
        return sorted(rel for rel, (old, new) in self.modes.items() if old != new)


# ---------------------------------------------------------------------------------------------
# edits -> text
# ---------------------------------------------------------------------------------------------

def _offsets(text: str) -> LineIndex:
    """The text's lines (``LineIndex``: the boundaries ``Document.lines`` and the parsers use)."""
    return LineIndex(text)


def _offset(index: LineIndex, text: str, line: int, col: int) -> int:
    """Character offset of 1-based (line, col); a column past the end of its line clamps to the
    line's end (before its line break), a line past the end of the text to the end of the text."""
    if line < 1:
        return 0
    if line > len(index.starts):
        return len(text)
    return min(index.starts[line - 1] + max(col, 1) - 1, index.ends[line - 1])


def edit_span(text: str, edit: Edit, starts: LineIndex | None = None) -> tuple[int, int]:
    starts = starts or _offsets(text)
    loc = edit.location
    a = _offset(starts, text, loc.start_line, loc.start_col)
    if loc.end_line is None:
        return a, a
    b = _offset(starts, text, loc.end_line, loc.end_col or 1)
    return a, max(a, b)


def _conflicts(a: int, b: int, x: int, y: int) -> bool:
    """Two spans [a, b) and [x, y) may not both be edited: they overlap, or an insertion falls
    strictly inside the other span, or both insert at the same point (order would be ambiguous)."""
    return (a < y and x < b) or (a == b == x == y) or (a == b and x < a < y) or (x == y and a < x < b)


def apply_edits(text: str, fixes: list[Fix]) -> tuple[str, list[Fix]]:
    """Apply every fix whose edits overlap no other applied edit; return (text, applied fixes)."""
    starts = _offsets(text)
    taken: list[tuple[int, int]] = []
    chosen: list[tuple[int, int, str]] = []
    applied: list[Fix] = []
    for fix in fixes:
        spans = [(*edit_span(text, e, starts), e.new_text) for e in fix.edits]
        if any(_conflicts(a, b, x, y) for a, b, _ in spans for x, y in taken) or _self_conflict(spans):
            continue
        taken.extend((a, b) for a, b, _ in spans)
        chosen.extend(spans)
        applied.append(fix)
    return _splice(text, chosen), applied


def _self_conflict(spans: list[tuple[int, int, str]]) -> bool:
    return any(_conflicts(a, b, x, y) for i, (a, b, _) in enumerate(spans) for x, y, _ in spans[i + 1:])


def _splice(text: str, chosen: list[tuple[int, int, str]]) -> str:
    out = text
    for a, b, new in sorted(chosen, key=lambda t: (t[0], t[1]), reverse=True):
        out = out[:a] + new + out[b:]
    return out


_CHMOD = re.compile(r"chmod ([0-7]{3,4}) (\S+)$")


def mode_change(fix: Fix | None) -> tuple[str, int] | None:
    """(path, mode) of a fix that changes a file's mode instead of its text: no edits and the
    description ``chmod 600 <path>`` (DATA003)."""
    if fix is None or fix.edits:
        return None
    m = _CHMOD.match(fix.description.strip())
    return (m.group(2), int(m.group(1), 8)) if m else None


def _wanted(f: Finding, unsafe: bool, rules: set[str] | None) -> bool:
    if f.fix is None or not (f.fix.edits or mode_change(f.fix)):
        return False
    if rules and f.rule not in rules:
        return False
    return f.fix.applicability == SAFE or unsafe


def _fix_key(f: Finding) -> tuple:
    """A finding's identity without its position (line numbers shift; the rule, the file and the
    finding's stable key do not)."""
    return (f.rule, f.location.path, f.snippet_key or f.message)


def _map_offset(p: int, spans: list[tuple[int, int, str]]) -> int:
    """Where offset ``p`` of the old text lands once ``spans`` are spliced in (a point inside a
    replaced span lands at the start of its replacement)."""
    delta = 0
    for a, b, new in sorted(spans, key=lambda t: (t[0], t[1])):
        if a == b:
            if a <= p:
                delta += len(new)
        elif b <= p:
            delta += len(new) - (b - a)
        elif a <= p < b:
            return a + delta
    return p + delta


# ---------------------------------------------------------------------------------------------
# the private copy
# ---------------------------------------------------------------------------------------------

def _unmap_offset(p: int, spans: list[tuple[int, int, str]]) -> int:
    """The inverse of ``_map_offset``: where offset ``p`` of the spliced text was before ``spans``
    (a point inside inserted text is the start of the span it replaced)."""
    delta = 0
    for a, b, new in sorted(spans, key=lambda t: (t[0], t[1])):
        if p < a + delta:
            break
        if p < a + delta + len(new):
            return a
        delta += len(new) - (b - a)
    return p - delta


def _safe_target(root: Path, target: Path) -> bool:
    """Only regular files inside the root, never through a symlink that leaves it."""
    try:
        resolved = target.resolve(strict=True)
        resolved.relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):
        return False
    return stat.S_ISREG(resolved.stat().st_mode)


def _creatable(root: Path, target: Path) -> bool:
    """A path that does not exist (not even as a dangling symlink) and whose nearest existing
    parent resolves inside the root."""
    if os.path.lexists(target):
        return False
    parent = target.parent
    while not parent.exists():
        if os.path.lexists(parent):
            return False
        parent = parent.parent
    try:
        (parent.resolve() / target.relative_to(parent)).relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):
        return False
    return True


def _parse_broken(result: Result) -> set[str]:
    return {f.location.path for f in result.findings if f.rule in PARSE_RULES}


# ---------------------------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------------------------

class _Copy:
    """The private copy's files, read once and written back as fixes change them."""

    def __init__(self, work: Path):
        self.work = work
        self.text: dict[str, str | None] = {}  # rel -> current text (None: cannot be edited)
        self.missing: set[str] = set()  # files that did not exist in the copy when first touched

    def load(self, rel: str) -> str | None:
        if rel in self.text:
            return self.text[rel]
        target = self.work / rel
        value: str | None = None
        if _safe_target(self.work, target):
            try:
                value = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                value = None
        elif _creatable(self.work, target):
            value = ""
            self.missing.add(rel)
        self.text[rel] = value
        return value

    def write(self, rel: str, text: str) -> None:
        target = self.work / rel
        if rel in self.missing and not text and not target.exists():
            self.text[rel] = text
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        self.text[rel] = text


def _choose(copy: _Copy, findings: list[Finding]) -> tuple[list[Finding], dict[str, list[tuple[int, int, str]]]]:
    """Fixes to apply together (no edit of one overlaps another's, in any file), with their spans."""
    starts: dict[str, LineIndex] = {}
    taken: dict[str, list[tuple[int, int]]] = {}
    spans: dict[str, list[tuple[int, int, str]]] = {}
    chosen: list[Finding] = []
    for f in findings:
        mine: dict[str, list[tuple[int, int, str]]] = {}
        for e in f.fix.edits:
            text = copy.load(e.location.path) or ""
            st = starts.setdefault(e.location.path, _offsets(text))
            mine.setdefault(e.location.path, []).append((*edit_span(text, e, st), e.new_text))
        if any(_self_conflict(s) or any(_conflicts(a, b, x, y) for a, b, _ in s for x, y in taken.get(rel, ()))
               for rel, s in mine.items()):
            continue
        for rel, s in mine.items():
            taken.setdefault(rel, []).extend((a, b) for a, b, _ in s)
            spans.setdefault(rel, []).extend(s)
        chosen.append(f)
    return chosen, spans


def _no_op(copy: _Copy, fix: Fix) -> bool:
    for e in fix.edits:
        text = copy.load(e.location.path) or ""
        a, b = edit_span(text, e)
        if text[a:b] != e.new_text:
            return False
    return True


def _spans_of(copy: _Copy, before: dict[str, str], fixes: list[Finding]) -> dict[str, list[tuple[int, int, str]]]:
    out: dict[str, list[tuple[int, int, str]]] = {}
    for f in fixes:
        for e in f.fix.edits:
            text = before[e.location.path]
            out.setdefault(e.location.path, []).append((*edit_span(text, e), e.new_text))
    return out


def _in_copy(policy, root: Path, work: Path):
    """``policy`` with the command line's compose files (-f, --env-file: absolute paths) moved into
    the working copy, so that the copy is audited as the same deployment."""
    compose = (getattr(policy, "cli", None) or {}).get("compose") if policy is not None else None
    if not compose:
        return policy
    import copy as _copy

    def moved(p: str) -> str:
        try:
            return str(work / Path(p).resolve().relative_to(root))
        except ValueError:
            return p

    out = _copy.copy(policy)
    out.cli = {**policy.cli, "compose": {**compose, "files": [moved(p) for p in compose.get("files") or []],
                                        "env_files": [moved(p) for p in compose.get("env_files") or []]}}
    return out


def plan_fixes(paths: list[Path], policy=None, unsafe: bool = False, rules: set[str] | None = None,
               root: Path | None = None) -> Plan:
    first = audit(paths, policy, root=root)
    root = first.stack.root
    with tempfile.TemporaryDirectory(prefix="dkscan-fix-") as tmp, gitview.aliased(Path(tmp) / "stack", root):
        work = Path(tmp) / "stack"
        shutil.copytree(root, work, symlinks=True, ignore=COPY_IGNORE)
        rels = [Path(p).resolve().relative_to(root) if Path(p).resolve() != root else Path(".") for p in paths]
        work_paths = [work / r for r in rels]
        work_policy = _in_copy(policy, root, work)

        def reaudit(select=None) -> Result:
            return audit(work_paths, work_policy, root=work, select=select)

        plan = Plan(root, {}, {})
        copy = _Copy(work)

        def position(f: Finding) -> tuple[str, int] | None:
            text = copy.load(f.location.path)
            if text is None:
                return None
            return f.location.path, _offset(_offsets(text), text, f.location.start_line, f.location.start_col)

        result = first
        refused: set[tuple] = set()  # fixes rejected for good
        blocked: list[list] = []  # [key, path, offset]: applied, and the finding is still there
        for _ in range(MAX_PASSES):
            todo, modes = [], []
            for f in result.findings:
                if not _wanted(f, unsafe, rules):
                    continue
                key = _fix_key(f)
                if key in refused:
                    continue
                pos = position(f)
                if pos is not None and [key, *pos] in blocked:
                    continue
                if mode_change(f.fix):
                    modes.append(f)
                    continue
                if any(e.location.path.endswith(BACKUP_SUFFIX) for e in f.fix.edits):
                    plan.rejected.append((f, f"its fix edits a backup copy ({BACKUP_SUFFIX}), which is never changed"))
                    refused.add(key)
                    continue
                if any(copy.load(e.location.path) is None for e in f.fix.edits):
                    plan.rejected.append((f, "its fix edits a file outside the scanned root, through a symlink, "
                                             "or that cannot be read"))
                    refused.add(key)
                    continue
                if _no_op(copy, f.fix):
                    plan.rejected.append((f, "its fix changes nothing: the edit writes the text already there "
                                             "(a rule bug: report it)"))
                    refused.add(key)
                    continue
                todo.append(f)
            chosen, spans = _choose(copy, todo)
            chosen_modes = [f for f in modes if _apply_mode(work, plan, f)]
            if not chosen and not chosen_modes:
                for f in modes:
                    plan.rejected.append((f, "its mode change targets a file outside the scanned root"))
                    refused.add(_fix_key(f))
                break
            before = {rel: copy.text[rel] for rel in spans}
            marks = [(f, position(f)) for f in chosen + chosen_modes]
            for rel, sp in spans.items():
                copy.write(rel, _splice(before[rel], sp))
            new_result = reaudit()
            broken = (_parse_broken(new_result) - _parse_broken(result)) & set(spans)
            if broken:
                chosen = _retry_one_by_one(copy, before, chosen, broken, plan, refused, reaudit)
                spans = _spans_of(copy, before, chosen)
                new_result = reaudit()
            kept = {id(f) for f in chosen + chosen_modes}
            plan.history.append({rel: list(sp) for rel, sp in spans.items()})
            for entry in blocked:
                if entry[1] in spans:
                    entry[2] = _map_offset(entry[2], spans[entry[1]])
            after = {}
            for f, pos in marks:
                if id(f) not in kept:
                    continue
                plan.applied.append(f)
                for e in f.fix.edits:
                    if e.secret:
                        plan.secrets.add(e.new_text)
                        plan.secret_files.add(e.location.path)
                if pos is not None:
                    path, off = pos
                    after[(_fix_key(f), path, _map_offset(off, spans.get(path, [])))] = f
            # a finding that stands where its applied fix was: the fix does not remove it
            for g in new_result.findings:
                pos = position(g)
                if pos is None:
                    continue
                hit_ = after.get((_fix_key(g), *pos))
                if hit_ is not None and [_fix_key(g), *pos] not in blocked:
                    blocked.append([_fix_key(g), *pos])
                    plan.ineffective.append(g)
            plan.passes += 1
            result = new_result
        plan.remaining = result
        for rel, text in copy.text.items():
            if text is None:
                continue
            if rel in copy.missing:
                original = ""
            else:
                try:
                    original = (root / rel).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
            if text != original:
                plan.original[rel] = original
                plan.new[rel] = text
                if rel in copy.missing:
                    plan.created.add(rel)
    return plan


def _apply_mode(work: Path, plan: Plan, f: Finding) -> bool:
    rel, mode = mode_change(f.fix)
    target = work / rel
    if not _safe_target(work, target):
        return False
    current = stat.S_IMODE(target.stat().st_mode)
    if rel not in plan.modes:
        plan.modes[rel] = (current, mode)
    else:
        plan.modes[rel] = (plan.modes[rel][0], mode)
    os.chmod(target.resolve(), mode)
    return True


def _retry_one_by_one(copy: _Copy, before: dict[str, str], chosen: list[Finding], broken: set[str], plan: Plan,
                      refused: set[tuple], reaudit) -> list[Finding]:
    """Undo a pass in the files it broke, then keep, one fix at a time (always applied to the
    pre-pass text), the fixes that leave those files parseable."""
    touching = [f for f in chosen if any(e.location.path in broken for e in f.fix.edits)]
    keep = [f for f in chosen if f not in touching]
    files = {e.location.path for f in touching for e in f.fix.edits}

    def lay(fixes: list[Finding]) -> None:
        spans = _spans_of(copy, before, [f for f in keep + fixes if any(e.location.path in files for e in f.fix.edits)])
        for rel in files:
            copy.write(rel, _splice(before[rel], spans.get(rel, [])))

    accepted: list[Finding] = []
    for f in touching:
        lay(accepted + [f])
        if _parse_broken(reaudit(select=list(PARSE_RULES))) & files:
            plan.rejected.append((f, "its fix would leave a file that does not parse (a rule bug: report it)"))
            refused.add(_fix_key(f))
        else:
            accepted.append(f)
    lay(accepted)
    return keep + accepted


# ---------------------------------------------------------------------------------------------
# showing and writing
# ---------------------------------------------------------------------------------------------

def render_diff(plan: Plan, redact: Redactor | None = None) -> str:
    """Unified diff of the plan; generated secrets show as ``<generated>``, every secret span of the
    old and the new text (``scanner.spans``, found in each text as written) as ``***``, then the
    redactor's safety net."""
    from ..encode import terminal  # a file name is one line of the diff, whatever it holds

    out: list[str] = []
    for rel in plan.changed:
        old = plan.original.get(rel, "")
        new = plan.new[rel]
        for s in sorted(plan.secrets, key=len, reverse=True):
            if s:
                new = new.replace(s, "<generated>")
        if redact is not None and hasattr(redact, "text"):
            old, new = redact.text(rel, old), redact.text(rel, new)
        else:
            from ..spans import mask, spans_of
            from ..stack import classify

            kind = classify(rel.rsplit("/", 1)[-1]) or ""
            kind = "nginx" if kind == "conf?" else kind
            old, new = mask(old, spans_of(kind, old)), mask(new, spans_of(kind, new))
            if redact is not None:
                old, new = redact(old), redact(new)
        lines = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                          fromfile="/dev/null" if rel in plan.created else f"a/{terminal(rel)}",
                                          tofile=f"b/{terminal(rel)}"))
        for i, line in enumerate(lines):
            if not line.endswith("\n"):
                lines[i] = line + "\n\\ No newline at end of file\n"
        out.extend(lines)
    for rel in plan.mode_changes:
        old_mode, new_mode = plan.modes[rel]
        out.append(f"diff --git a/{terminal(rel)} b/{terminal(rel)}\nold mode {0o100000 | old_mode:o}\nnew mode {0o100000 | new_mode:o}\n")
    return "".join(out)


def write_changes(plan: Plan, backup: bool = False, before_each=None) -> list[str]:
    """Write the planned contents atomically; return the files written. ``before_each(rel)`` is a
    hook the tests use to interrupt a run between files."""
    from ..fsutil import atomic_write

    written = []
    root = plan.root.resolve()
    for rel in plan.changed:
        target = root / rel
        if rel in plan.created:
            if not _creatable(root, target):
                continue
            if before_each is not None:
                before_each(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, plan.new[rel], mode=0o600 if rel in plan.secret_files else None)
            written.append(rel)
            continue
        if not _safe_target(root, target):
            continue
        real = target.resolve()
        if before_each is not None:
            before_each(rel)
        mode = stat.S_IMODE(real.stat().st_mode)
        if rel in plan.secret_files:
            mode = 0o600
        if rel in plan.modes:
            mode = plan.modes[rel][1] & (0o600 if rel in plan.secret_files else 0o7777)
        if backup:
            # the copy holds the old text (old secrets included): never more readable than the new file
            bak = real.with_name(real.name + BACKUP_SUFFIX)
            shutil.copy2(real, bak)
            os.chmod(bak, stat.S_IMODE(real.stat().st_mode) & mode)
        atomic_write(real, plan.new[rel], mode=mode)
        written.append(rel)
    for rel in plan.mode_changes:
        target = root / rel
        if rel in written or not _safe_target(root, target):
            continue
        if before_each is not None:
            before_each(rel)
        mode = plan.modes[rel][1]
        if rel in plan.secret_files:
            mode &= 0o600
        if backup:
            bak = target.resolve().with_name(target.resolve().name + BACKUP_SUFFIX)
            shutil.copy2(target.resolve(), bak)
            os.chmod(bak, stat.S_IMODE(target.resolve().stat().st_mode) & mode)
        os.chmod(target.resolve(), mode)
        written.append(rel)
    return written

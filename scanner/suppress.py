"""Inline suppressions: ``dkscan: ignore[GW003,GW010] reason: terminated at the load balancer``.

In each file's comment syntax (``#`` for YAML, nginx, dotenv, Dockerfile, NATS; ``--`` for SQL).
A trailing comment covers its own line; a comment on a line of its own covers the next line, and
when that line opens a block (a compose service, an nginx ``server {``, a SQL statement, a
Dockerfile instruction with continuations), the whole block. The reason is mandatory; ``until:
YYYY-MM-DD`` makes it expire. A suppression without a reason, naming an unknown rule, matching
nothing, or expired is itself a finding (OPS083, OPS084, OPS085).
"""

from __future__ import annotations

import datetime as _dt
import re

from .kinds import ANY_COMMENT, KIND
from .model import CoreRule, Finding, Location
from .lazyre import LazyRe
from .plain import FACTORY as _FACTORY

_MARK = LazyRe(r"dkscan:\s*ignore\s*\[(?P<ids>[^\]]*)\](?P<rest>.*)$", re.I)
# up to ``until:`` or the end; trailing blanks stripped in code (a lazy ``.*?\s*(?=…)`` is quadratic on blanks)
_REASON = LazyRe(r"\breason:\s*(?P<reason>(?:(?!\buntil:).)*)", re.I)
_UNTIL = LazyRe(r"\buntil:\s*(?P<until>\S+)", re.I)


class Suppression:
    """An inline ``dkscan: ignore[...]`` comment and the lines it covers."""

    path: str
    line: int  # line of the comment
    start: int  # first line covered
    end: int  # last line covered
    rules: list[str]
    reason: str
    until: _dt.date | None
    until_text: str | None
    used: bool = False
    problems: list[str]

    __match_args__ = ("path", "line", "start", "end", "rules", "reason", "until", "until_text", "used", "problems")

    def __init__(self, path, line, start, end, rules, reason, until, until_text, used=False, problems=_FACTORY):
        self.path = path
        self.line = line
        self.start = start
        self.end = end
        self.rules = rules
        self.reason = reason
        self.until = until
        self.until_text = until_text
        self.used = used
        self.problems = list() if problems is _FACTORY else problems

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.path, self.line, self.start, self.end, self.rules, self.reason, self.until, self.until_text, self.used, self.problems) == (other.path, other.line, other.start, other.end, other.rules, other.reason, other.until, other.until_text, other.used, other.problems)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was


def _block_end(sf, line: int) -> int:
    """Last line of the block that starts at ``line`` in a parsed file (``line`` when none): the
    kind's ``block_end`` (``scanner.kinds``)."""
    kind = KIND.get(sf.kind)
    if kind is None or kind.block_end is None or sf.doc is None:
        return line
    try:
        end = kind.block_end(sf.doc, line)
    except Exception:  # noqa: BLE001 - a suppression must never break the scan
        return line
    return end or line


def collect(stack, today: _dt.date | None = None) -> list[Suppression]:
    today = today or _dt.date.today()
    out: list[Suppression] = []
    for rel, sf in stack.files.items():
        doc = sf.doc
        comments = getattr(doc, "comments", None) if doc is not None else None
        if not comments:
            continue
        lines = doc.lines
        comment = KIND[sf.kind].comment if sf.kind in KIND else ANY_COMMENT
        for line_no, text in comments:
            m = _MARK.search(text)
            if not m:
                continue
            ids = [x.strip().upper() for x in m.group("ids").split(",") if x.strip()]
            rest = m.group("rest")
            rm = _REASON.search(rest)
            reason = rm.group("reason").strip() if rm else ""
            um = _UNTIL.search(rest)
            until, until_text = None, None
            s = Suppression(rel, line_no, line_no, line_no, ids, reason, None, None)
            if um:
                until_text = um.group("until")
                try:
                    until = _dt.date.fromisoformat(until_text)
                except ValueError:
                    s.problems.append(f"invalid until: date '{until_text}' (use YYYY-MM-DD)")
            s.until, s.until_text = until, until_text
            own_line = line_no <= len(lines) and lines[line_no - 1].lstrip().startswith(comment)
            if own_line:
                nxt = line_no + 1
                while nxt <= len(lines) and (not lines[nxt - 1].strip() or lines[nxt - 1].lstrip().startswith(comment)):
                    nxt += 1
                s.start = nxt
                s.end = _block_end(sf, nxt)
            out.append(s)
    return out


def apply(result, stack, enabled: bool = True, today: _dt.date | None = None, selected=None) -> list[Finding]:
    """Split result.findings into kept and suppressed (in place); return suppression findings."""
    import dataclasses

    today = today or _dt.date.today()
    from .registry import load_rules

    sups = collect(stack, today)
    known = set(load_rules())  # every registered rule: `dkscan probe`'s LIVE ids are valid in a suppression
    meta: list[Finding] = []
    for s in sups:
        loc = Location(s.path, s.line, 1)
        unknown = [r for r in s.rules if r not in known]
        if not s.reason:
            meta.append(Finding(CoreRule.SUPPRESSION_INVALID, loc, f"suppression of {', '.join(s.rules) or 'no rule'} has no reason: it does not suppress (write `reason: ...`)"))
        if unknown:
            meta.append(Finding(CoreRule.SUPPRESSION_INVALID, loc, f"suppression names unknown rule(s): {', '.join(unknown)}"))
        if not s.rules:
            meta.append(Finding(CoreRule.SUPPRESSION_INVALID, loc, "suppression names no rule (write ignore[RULE-ID])"))
        for p in s.problems:
            meta.append(Finding(CoreRule.SUPPRESSION_INVALID, loc, f"suppression: {p}"))
        if s.until is not None and s.until < today:
            meta.append(Finding(CoreRule.SUPPRESSION_EXPIRED, loc, f"suppression of {', '.join(s.rules)} expired on {s.until_text}: the findings are reported again"))
    if not enabled:
        return meta
    active = [s for s in sups if s.reason and s.rules and not (s.until is not None and s.until < today)]
    by_path: dict[str, list[Suppression]] = {}
    for s in active:
        by_path.setdefault(s.path, []).append(s)
    kept = []
    for f in result.findings:
        match = None
        for s in by_path.get(f.location.path, ()):
            if f.rule in s.rules and s.start <= f.location.start_line <= s.end:
                match = s
                break
        if match is None:
            kept.append(f)
        else:
            match.used = True
            result.suppressed.append(dataclasses.replace(f, suppressed=f"inline ({f.location.path}:{match.line}): {match.reason}"))
    result.findings = kept
    for s in active:
        ran = all(r in result.rules for r in s.rules) and (selected is None or all(r in selected for r in s.rules))
        if not s.used and ran:
            meta.append(Finding(CoreRule.SUPPRESSION_UNUSED, Location(s.path, s.line, 1), f"suppression of {', '.join(s.rules)} matches no finding: delete it"))
    return meta

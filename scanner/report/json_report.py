"""Machine-readable report, a stable versioned schema: ``reports/schema.json``.

``schema_version`` changes only when a field is removed or changes meaning; new optional fields may
appear within a version. Secret text never appears: messages are redacted by the engine, fix edits
that carry a generated secret show ``<generated>``.
"""

from __future__ import annotations

import json

from ..encode import terminal
from ..model import Severity
from . import matrix
from .common import (counts, failing_count, display_edit, fingerprint, iso, report_time, root_label, rule_help_uri,
                     ruleset_hash, stack_name, tool_info)

SCHEMA_VERSION = 1
SCHEMA_URL = "https://github.com/dkscan/dkscan/blob/main/reports/schema.json"


def _loc(loc) -> dict:
    out = {"path": loc.path, "line": loc.start_line, "column": loc.start_col}
    if loc.end_line is not None:
        out["end_line"] = loc.end_line
        if loc.end_col is not None:
            out["end_column"] = loc.end_col
    return out


def finding_dict(result, f) -> dict:
    rule = result.rules[f.rule]
    loc = f.location
    out = {
        "rule": f.rule,
        "name": rule.name,
        "title": result.redact(rule.title),
        "layer": rule.layer.value,
        "severity": result.severity(f).label,
        "message": terminal(result.redact(f.message)),  # one line (scanner.encode)
        "path": loc.path,
        "line": loc.start_line,
        "column": loc.start_col,
    }
    if loc.end_line is not None:
        out["end_line"] = loc.end_line
        if loc.end_col is not None:
            out["end_column"] = loc.end_col
    out["fingerprint"] = fingerprint(result, f)
    out["help_uri"] = rule_help_uri(f.rule)
    if f.related:
        out["related"] = [_loc(r) for r in f.related]
    if f.fix is not None:
        edits = []
        for e in f.fix.edits:
            shown = display_edit(result, e)
            edit = {**_loc(e.location), "new_text": shown.new_text}
            if e.location.end_line is None:
                edit["insert"] = True
            if e.secret:
                edit["secret"] = True
            edits.append(edit)
        out["fix"] = {"description": result.redact(f.fix.description), "applicability": f.fix.applicability,
                      "edits": edits}
    if f.suppressed:
        out["suppression"] = result.redact(f.suppressed)
    return out


def render_json(result, threshold: Severity = Severity.LOW, *, when=None, label: str | None = None,
                **_: object) -> str:
    import io

    buf = io.StringIO()
    write_json(result, buf, threshold, when=when, label=label)
    return buf.getvalue()


def write_json(result, out, threshold: Severity = Severity.LOW, *, when=None, label: str | None = None,
               **_: object) -> None:
    """The report, written to ``out`` piece by piece: one finding's dict at a time, so a monorepo's
    hundred thousand findings never sit in memory as dicts or as one string. The bytes are exactly
    ``json.dumps(document, indent=2, ensure_ascii=False) + "\n"`` (tested)."""
    failing = failing_count(result, threshold)
    head = {
        "$schema": SCHEMA_URL,
        "schema_version": SCHEMA_VERSION,
        "tool": tool_info(),
        "generated": iso(report_time(when)),
        "stack": stack_name(result),
        "root": root_label(result, label),
        "ruleset": {"hash": ruleset_hash(result.rules), "rules": len(result.rules)},
        "fail_on": threshold.label,
        "verdict": "fail" if failing else "pass",
        "counts": {
            "findings": len(result.findings),
            "failing": failing,
            "suppressed": len(result.suppressed),
            "baselined": len(result.baselined),
            "files": len(result.stack.files),
            "by_severity": counts(result),
        },
        "summary": matrix(result),
        "files": sorted(result.stack.files),
        "notes": list(getattr(result, "notes", None) or []),
    }
    if getattr(result, "shard", None):  # a shard's report: what `dkscan merge` checks, then drops
        k, n, digest = result.shard
        head["shard"] = {"index": k, "of": n, "deployments": digest}
    w = out.write
    w("{")
    for key, value in head.items():
        w(f"\n  {_str(key)}: ")
        w(dumps(value, 1))
        w(",")
    lists = (("findings", result.findings), ("suppressed", result.suppressed), ("baselined", result.baselined))
    for n, (key, findings) in enumerate(lists):
        w(f"\n  {_str(key)}: ")
        if not findings:
            w("[]")
        else:
            w("[")
            for text in _items(result, findings):
                w(text)
            w("\n  ]")
        w("," if n < len(lists) - 1 else "\n}\n")


PARALLEL_MIN_FINDINGS = 20000  # below this, forking costs more than it saves
_SLICE = 500  # small results: the parent holds few of them at a time (memory)
_SHARED: tuple | None = None  # (result, findings), inherited by the forked renderers


def _item_text(result, findings, i: int) -> str:
    """Finding ``i`` of a findings list as its JSON text, with the separator before it."""
    return ("\n    " if i == 0 else ",\n    ") + dumps(finding_dict(result, findings[i]), 2)


def _slice_text(start: int) -> str:
    result, findings = _SHARED
    return "".join(_item_text(result, findings, i) for i in range(start, min(start + _SLICE, len(findings))))


def _files_text(task: tuple[int, list[str]]) -> str:
    """The JSON texts of spilled findings (``findingstore.FindingRuns``): those of ``paths``, the
    first of them finding number ``start``; read from the spill file by the forked renderer."""
    start, paths = task
    result, findings = _SHARED
    parts = []
    i = start
    for path in paths:
        for f in findings.load(path):
            parts.append(("\n    " if i == 0 else ",\n    ") + dumps(finding_dict(result, f), 2))
            i += 1
    return "".join(parts)


def _items(result, findings):
    """The findings' JSON texts, in order, with their separators. A monorepo's hundred thousand
    findings are rendered by forked processes, a slice each (one per core), and written here in
    order as they come: the same text, in less time. Spilled findings (a pool's audit:
    ``scanner.findingstore``) are read back by the renderers themselves, a few files' at a time,
    and never all held: not by this process, not by a renderer."""
    global _SHARED
    import os

    from ..engine import default_jobs

    spilled = hasattr(findings, "slices")
    if spilled:
        tasks = findings.slices(_SLICE)
        if default_jobs() > 1 and len(findings) >= PARALLEL_MIN_FINDINGS and hasattr(os, "fork"):
            import multiprocessing as mp

            if not mp.current_process().daemon:
                _SHARED = (result, findings)
                try:
                    with mp.get_context("fork").Pool(min(default_jobs(), 8)) as pool:
                        yield from pool.imap(_files_text, tasks)
                finally:
                    _SHARED = None
                return
        _SHARED = (result, findings)
        try:
            for task in tasks:
                yield _files_text(task)
        finally:
            _SHARED = None
        return

    parallel = default_jobs() > 1 and len(findings) >= PARALLEL_MIN_FINDINGS and hasattr(os, "fork")
    if parallel:
        import multiprocessing as mp

        # a daemonic process (say, a pool worker of a program embedding dkscan) may not have children
        parallel = not mp.current_process().daemon
    if parallel:
        _SHARED = (result, findings)
        try:
            with mp.get_context("fork").Pool(min(default_jobs(), 8)) as pool:
                yield from pool.imap(_slice_text, range(0, len(findings), _SLICE))
        finally:
            _SHARED = None
        return
    for i in range(len(findings)):
        yield _item_text(result, findings, i)


_str = json.encoder.encode_basestring  # the C escaper json.dumps(ensure_ascii=False) uses


def dumps(obj, level: int = 0) -> str:
    """``json.dumps(obj, indent=2, ensure_ascii=False)`` for JSON-shaped data (dict with str keys,
    list/tuple, str, int, float, bool, None), as if ``obj`` sat ``level`` levels deep; about twice
    as fast as the standard library's pure-Python indenting encoder."""
    parts: list[str] = []
    _emit(obj, level, parts.append)
    return "".join(parts)


def _emit(o, level: int, w) -> None:
    if isinstance(o, str):
        w(_str(o))
    elif o is None:
        w("null")
    elif o is True:
        w("true")
    elif o is False:
        w("false")
    elif isinstance(o, int):
        w(int.__repr__(o))
    elif isinstance(o, float):
        w(json.encoder.JSONEncoder().encode(o))
    elif isinstance(o, dict):
        if not o:
            w("{}")
            return
        inner = "\n" + "  " * (level + 1)
        sep = "{" + inner
        for k, v in o.items():
            if type(k) is not str:
                raise TypeError(f"JSON keys must be str, not {type(k).__name__}")
            t = type(v)
            if t is str:  # the common cases inline: a finding is mostly flat strings and numbers
                w(sep + _str(k) + ": " + _str(v))
            elif t is int:
                w(sep + _str(k) + ": " + int.__repr__(v))
            else:
                w(sep + _str(k) + ": ")
                _emit(v, level + 1, w)
            sep = "," + inner
        w("\n" + "  " * level + "}")
    elif isinstance(o, (list, tuple)):
        if not o:
            w("[]")
            return
        inner = "\n" + "  " * (level + 1)
        first = True
        for v in o:
            w(("[" if first else ",") + inner)
            first = False
            _emit(v, level + 1, w)
        w("\n" + "  " * level + "]")
    else:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

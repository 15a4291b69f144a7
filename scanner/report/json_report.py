"""Machine-readable report, a stable versioned schema: ``reports/schema.json``.

``schema_version`` changes only when a field is removed or changes meaning; new optional fields may
appear within a version. Secret text never appears: messages are redacted by the engine, fix edits
that carry a generated secret show ``<generated>``.
"""

from __future__ import annotations

import json

from ..model import Severity
from . import matrix
from .common import (counts, display_edit, fingerprint, iso, report_time, root_label, rule_help_uri,
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
        "message": result.redact(f.message),
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
    failing = result.failing(threshold)
    data = {
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
            "failing": len(failing),
            "suppressed": len(result.suppressed),
            "baselined": len(result.baselined),
            "files": len(result.stack.files),
            "by_severity": counts(result),
        },
        "summary": matrix(result),
        "files": sorted(result.stack.files),
        "findings": [finding_dict(result, f) for f in result.findings],
        "suppressed": [finding_dict(result, f) for f in result.suppressed],
        "baselined": [finding_dict(result, f) for f in result.baselined],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

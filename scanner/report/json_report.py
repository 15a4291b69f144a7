"""Machine-readable report (versioned schema, see reports/schema.json)."""

from __future__ import annotations

import json

from .. import __version__
from ..model import Severity
from . import matrix

SCHEMA_VERSION = 1


def finding_dict(result, f) -> dict:
    rule = result.rules[f.rule]
    loc = f.location
    out = {
        "rule": f.rule,
        "name": rule.name,
        "layer": rule.layer.value,
        "severity": result.severity(f).label,
        "message": f.message,
        "path": loc.path,
        "line": loc.start_line,
        "column": loc.start_col,
    }
    if loc.end_line:
        out["end_line"] = loc.end_line
    if loc.end_col:
        out["end_column"] = loc.end_col
    if f.related:
        out["related"] = [{"path": r.path, "line": r.start_line, "column": r.start_col} for r in f.related]
    if f.fix is not None:
        out["fix"] = {"description": f.fix.description, "applicability": f.fix.applicability}
    if f.suppressed:
        out["suppression"] = f.suppressed
    return out


def render_json(result, threshold: Severity = Severity.LOW, **_: object) -> str:
    data = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "dkscan", "version": __version__},
        "root": str(result.stack.root),
        "fail_on": threshold.label,
        "verdict": "fail" if result.failing(threshold) else "pass",
        "summary": matrix(result),
        "files": sorted(result.stack.files),
        "findings": [finding_dict(result, f) for f in result.findings],
        "suppressed": [finding_dict(result, f) for f in result.suppressed],
        "baselined": [finding_dict(result, f) for f in result.baselined],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

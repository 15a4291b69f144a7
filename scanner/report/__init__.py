"""Report writers: each a pure function of an audit Result (and the rule catalog) to text."""

from __future__ import annotations

from collections import Counter

from ..model import LAYER_ORDER, Severity

FORMATS = ("text", "json")


def matrix(result) -> dict[str, dict[str, int]]:
    counts = Counter((result.rules[f.rule].layer.value, result.severity(f).label) for f in result.findings)
    return {layer.value: {s.label: counts.get((layer.value, s.label), 0) for s in reversed(Severity)} for layer in LAYER_ORDER}


def render(fmt: str, result, **opts) -> str:
    if fmt == "text":
        from .text import render_text

        return render_text(result, **opts)
    if fmt == "json":
        from .json_report import render_json

        return render_json(result, **opts)
    raise ValueError(f"unknown format {fmt}")

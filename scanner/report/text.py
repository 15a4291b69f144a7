"""The terminal report: findings grouped by layer, then a layer x severity table."""

from __future__ import annotations

import os

from ..encode import terminal
from ..model import LAYER_ORDER, Severity
from . import matrix

_COLOURS = {"critical": "\033[1;35m", "high": "\033[1;31m", "medium": "\033[33m", "low": "\033[36m", "info": "\033[2m"}
_RESET = "\033[0m"


def display_path(result, rel: str, base=None) -> str:
    full = result.stack.root / rel
    try:
        out = os.path.relpath(full, base) if base is not None else os.path.relpath(full)
    except ValueError:
        out = str(full)
    return out if not out.startswith("../../..") else str(full)


def render_text(result, colour: bool = False, threshold: Severity = Severity.LOW, *, path_base=None,
                **_: object) -> str:
    """``path_base``: show paths relative to this directory (default: the working directory)."""
    lines: list[str] = []
    by_layer: dict[str, list] = {}
    for f in result.findings:
        by_layer.setdefault(result.rules[f.rule].layer.value, []).append(f)

    def paint(sev: str, text: str) -> str:
        return f"{_COLOURS[sev]}{text}{_RESET}" if colour else text

    for layer in LAYER_ORDER:
        items = by_layer.get(layer.value)
        if not items:
            continue
        title = f"── {layer.value} ({len(items)}) "
        lines.append(title + "─" * max(0, 72 - len(title)))
        for f in items:
            sev = result.severity(f).label
            loc = f"{terminal(display_path(result, f.location.path, path_base))}:{f.location.start_line}:{f.location.start_col}"
            lines.append(f"{loc}  {paint(sev, sev.upper()):<8}  {f.rule}  {terminal(f.message)}")
        lines.append("")
    m = matrix(result)
    sevs = [s.label for s in reversed(Severity)]
    header = f"{'layer':<13}" + "".join(f"{s:>10}" for s in sevs) + f"{'total':>8}"
    lines.append(header)
    lines.append("-" * len(header))
    totals = dict.fromkeys(sevs, 0)
    for layer, row in m.items():
        lines.append(f"{layer:<13}" + "".join(f"{row[s]:>10}" for s in sevs) + f"{sum(row.values()):>8}")
        for s in sevs:
            totals[s] += row[s]
    lines.append("-" * len(header))
    lines.append(f"{'total':<13}" + "".join(f"{totals[s]:>10}" for s in sevs) + f"{sum(totals.values()):>8}")
    failing = len(result.failing(threshold))
    extra = []
    if result.suppressed:
        extra.append(f"{len(result.suppressed)} suppressed")
    if result.baselined:
        extra.append(f"{len(result.baselined)} baselined")
    verdict = "FAIL" if failing else "PASS"
    lines.append("")
    lines.append(f"{verdict}: {len(result.findings)} findings, {failing} at or above {threshold.label}"
                 + (f" ({', '.join(extra)})" if extra else "") + f"; {len(result.stack.files)} files scanned")
    return "\n".join(lines) + "\n"

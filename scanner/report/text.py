"""The terminal report: findings grouped by layer, then a layer x severity table."""

from __future__ import annotations

import os

from ..encode import terminal
from ..model import LAYER_ORDER, Severity
from . import matrix
from .common import failing_count

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
                quiet: int = 0, statistics: bool = False, show_fixes: bool = False, **_: object) -> str:
    """``path_base``: show paths relative to this directory (default: the working directory).
    ``quiet``: 1 keeps only the findings and the verdict, 2 nothing. ``statistics``: counts per rule
    instead of the findings (ruff's ``--statistics``). ``show_fixes``: each fix under its finding."""
    if quiet >= 2:
        return ""
    if statistics:
        return render_statistics(result, colour=colour, threshold=threshold, quiet=quiet)
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
        if not quiet:
            lines.append(title + "─" * max(0, 72 - len(title)))
        for f in items:
            sev = result.severity(f).label
            loc = f"{terminal(display_path(result, f.location.path, path_base))}:{f.location.start_line}:{f.location.start_col}"
            lines.append(f"{loc}  {paint(sev, sev.upper()):<8}  {f.rule}  {terminal(f.message)}")
            if show_fixes and f.fix is not None:
                lines.append(f"    fix ({f.fix.applicability}): {terminal(f.fix.description)}")
        if not quiet:
            lines.append("")
    lines.extend(terminal(n) for n in _inactive_notes(result)) if not quiet else None
    if not quiet and getattr(result, "notes", None):
        lines.extend(f"note: {terminal(n)}" for n in result.notes)
        lines.append("")
    if quiet:
        lines.append(_verdict(result, threshold))
        return "\n".join(lines) + "\n"
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
    lines.append("")
    lines.append(_verdict(result, threshold))
    return "\n".join(lines) + "\n"


def _verdict(result, threshold: Severity) -> str:
    failing = failing_count(result, threshold)
    extra = []
    if result.suppressed:
        extra.append(f"{len(result.suppressed)} suppressed")
    if result.baselined:
        extra.append(f"{len(result.baselined)} baselined")
    verdict = "FAIL" if failing else "PASS"
    return (f"{verdict}: {len(result.findings)} findings, {failing} at or above {threshold.label}"
            + (f" ({', '.join(extra)})" if extra else "") + f"; {len(result.stack.files)} files scanned")


def _inactive_notes(result) -> list[str]:
    """How each compose deployment was read, when it is not compose's plain default (several files,
    a project name, profiles), and the services of inactive profiles: named, not audited."""
    out = []
    for doc in getattr(result.stack, "compose_docs", ()):
        merged, name, profiles = getattr(doc, "merged_from", None), getattr(doc, "project_name", None), getattr(doc, "profiles", None)
        if merged or name or profiles is not None:
            out.append(f"deployment{' ' + name if name else ''}: {' + '.join([doc.path, *(merged or [])])}"
                       f"; interpolated from {', '.join(doc.env_sources) or 'no env file'}"
                       + (f"; profiles: {', '.join(profiles)}" if profiles is not None else ""))
        for name, profiles in sorted((getattr(doc, "inactive", None) or {}).items()):
            out.append(f"{doc.path}: service {name} is inactive (profiles: {', '.join(profiles)}; not among the "
                       f"active profiles): not audited")
    return out + ([""] if out else [])


def render_statistics(result, colour: bool = False, threshold: Severity = Severity.LOW, quiet: int = 0) -> str:
    """Findings counted per rule, most frequent first, like ``ruff check --statistics``:
    count, rule id, ``[*]`` when a fix exists for some of them, rule name, severity."""
    counts: dict[str, int] = {}
    fixable: set[str] = set()
    for f in result.findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
        if f.fix is not None:
            fixable.add(f.rule)
    width = max((len(str(n)) for n in counts.values()), default=1)
    lines = []
    for rule_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = result.rules[rule_id]
        sev = max((result.severity(f) for f in result.findings if f.rule == rule_id), default=rule.severity).label
        mark = "[*]" if rule_id in fixable else "   "
        sev_text = f"{_COLOURS[sev]}{sev}{_RESET}" if colour else sev
        lines.append(f"{n:>{width}}\t{rule_id:<8}\t{mark} {rule.name}  ({sev_text})")
    lines.append(_verdict(result, threshold))
    return "\n".join(lines) + "\n"

"""A compact GitHub-flavoured Markdown summary for ``$GITHUB_STEP_SUMMARY`` and pull-request comments:
verdict, layer x severity matrix, the most severe findings, what was suppressed or baselined.

Kept under GitHub's 65,536-character limit for a comment (the step summary allows 1 MiB).
"""

from __future__ import annotations

from ..encode import markdown
from ..model import LAYER_ORDER, Severity
from . import matrix
from .common import (by_severity, counts, failing_count, iso, report_time, root_label, rule_help_uri, ruleset_hash,
                     stack_name, tool_info)

MAX_CHARS = 60_000
TOP = 25
_ICON = {"critical": "🟣", "high": "🔴", "medium": "🟠", "low": "🔵", "info": "⚪"}


def _cell(text: str, limit: int = 300) -> str:
    """Text from the scanned tree as literal Markdown on one line (scanner.encode.markdown), clipped."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return markdown(text)


def render_markdown(result, threshold: Severity = Severity.LOW, *, when=None, label: str | None = None,
                    top: int = TOP, **_: object) -> str:
    failing = failing_count(result, threshold)
    verdict = "FAIL" if failing else "PASS"
    sev_labels = [s.label for s in reversed(Severity)]
    total = len(result.findings)
    out = []
    mark = "❌" if failing else "✅"
    out.append(f"## {mark} dkscan: {verdict} — {_cell(stack_name(result))}")
    out.append("")
    detail = f"**{total}** finding{'s' if total != 1 else ''}, **{failing}** at or above **{threshold.label}**"
    extra = []
    if result.suppressed:
        extra.append(f"{len(result.suppressed)} suppressed")
    if result.baselined:
        extra.append(f"{len(result.baselined)} baselined")
    if extra:
        detail += f" ({', '.join(extra)})"
    out.append(detail + f"; {len(result.stack.files)} files scanned in {_cell(root_label(result, label))}.")
    out.append("")
    by_sev = counts(result)
    out.append(" · ".join(f"{_ICON[s]} {s} **{by_sev[s]}**" for s in sev_labels))
    out.append("")

    m = matrix(result)
    out.append("| layer | " + " | ".join(sev_labels) + " | total |")
    out.append("|---|" + "---:|" * (len(sev_labels) + 1))
    for layer in LAYER_ORDER:
        row = m[layer.value]
        cells = [str(row[s]) if row[s] else "·" for s in sev_labels]
        out.append(f"| {layer.value} | " + " | ".join(cells) + f" | {sum(row.values())} |")
    out.append("| **total** | " + " | ".join(f"**{by_sev[s]}**" for s in sev_labels) + f" | **{total}** |")
    out.append("")

    if result.findings:
        if hasattr(result.findings, "tally"):  # spilled (a monorepo's): only the shown ones held
            import heapq

            # by_severity's order (most severe, then file order: the findings come in file order)
            shown = [f for _k, f in heapq.nsmallest(top, ((((-int(result.severity(f)), i), f)
                                                          for i, f in enumerate(result.findings))),
                                                    key=lambda kf: kf[0])]
        else:
            shown = by_severity(result, result.findings)[:top]
        title = "Findings" if len(shown) == total else f"Top {len(shown)} of {total} findings (most severe first)"
        out.append(f"### {title}")
        out.append("")
        out.append("| severity | rule | location | message |")
        out.append("|---|---|---|---|")
        for f in shown:
            sev = result.severity(f).label
            rule = result.rules[f.rule]
            loc = f"{_cell(f.location.path)}:{f.location.start_line}"
            out.append(f"| {_ICON[sev]} {sev} | [{f.rule}]({rule_help_uri(f.rule)}) {_cell(rule.name)} | {loc} | "
                       f"{_cell(result.redact(f.message))} |")
        out.append("")
    notes = list(getattr(result, "notes", None) or [])
    if notes:
        out.append("**Notes** (not findings: what the audit could not judge or chose)")
        out.append("")
        out.extend(f"- {_cell(n)}" for n in notes)
        out.append("")
    hidden = [(f, "suppressed", f.suppressed or "") for f in result.suppressed] + \
             [(f, "baselined", "in the baseline") for f in result.baselined]
    if hidden:
        out.append("<details><summary>Suppressed and baselined (" + str(len(hidden)) + ")</summary>")
        out.append("")
        out.append("| status | rule | location | reason |")
        out.append("|---|---|---|---|")
        for f, status, reason in hidden[:100]:
            out.append(f"| {status} | {f.rule} | {_cell(f.location.path)}:{f.location.start_line} | "
                       f"{_cell(result.redact(reason))} |")
        if len(hidden) > 100:
            out.append(f"| … | {len(hidden) - 100} more | | |")
        out.append("")
        out.append("</details>")
        out.append("")
    tool = tool_info()
    out.append(f"<sub>dkscan {tool['version']} · rule set `{ruleset_hash(result.rules)}` · "
               f"{iso(report_time(when))}</sub>")
    text = "\n".join(out) + "\n"
    if len(text) > MAX_CHARS and top > 1:  # a PR comment must fit
        return render_markdown(result, threshold, when=when, label=label, top=top // 2)
    return text

"""The HTML report a reviewer signs: one self-contained file.

Everything is inline — CSS, the small filter script, the SVG chart — and the page carries a strict
Content-Security-Policy (``default-src 'none'``; the one ``<style>`` and the one ``<script>`` are
allowed by their SHA-256 hashes, no inline event handlers, no ``style=`` attributes), so it makes no
network request and works from ``file://``. Without JavaScript (or printed) every finding shows.

Templates: ``scanner/report/templates/`` (jinja2, autoescaped). Text from scanned files reaches the
page only through ``common.snippet`` / ``common.fix_diff`` (masked), messages are redacted.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

from ..encode import terminal, terminal_block
from ..model import LAYER_ORDER, Severity
from . import matrix
from .common import (BASELINED, SUPPRESSED, by_severity, counts, failing_count, fingerprint, fix_diff, iso, reference_links,
                     report_time, root_label, rule_help_uri, ruleset_hash, section, snippet, stack_name,
                     tool_info)

TEMPLATES = Path(__file__).parent / "templates"
SEVERITIES = [s.label for s in reversed(Severity)]
LAYER_TITLES = {
    "perimeter": "Perimeter", "gateway": "Gateway", "api": "API", "application": "Application",
    "data": "Data", "operational": "Operational", "performance": "Performance",
}


# -- a small, safe Markdown subset for rule documentation ---------------------------------------

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?://[^)\s]+)\)|(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def _inline(text: str) -> Markup:
    out = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(escape(text[pos:m.start()]))
        code, bold, label, url, em = m.groups()
        if code is not None:
            out.append(Markup("<code>{}</code>").format(code))
        elif bold is not None:
            out.append(Markup("<strong>{}</strong>").format(bold))
        elif label is not None:
            out.append(Markup('<a href="{}" rel="noopener noreferrer">{}</a>').format(url, label))
        else:
            out.append(Markup("<em>{}</em>").format(em))
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def markdown(text: str) -> Markup:
    """Paragraphs, fenced code, bullet and numbered lists, inline code/bold/italic/links. Everything
    else is escaped text."""
    html: list[Markup] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    lines = (text or "").splitlines()
    i = 0

    def flush_para():
        if para:
            html.append(Markup("<p>{}</p>").format(_inline(" ".join(x.strip() for x in para))))
            para.clear()

    def flush_list():
        nonlocal list_tag
        if items:
            lis = Markup("").join(Markup("<li>{}</li>").format(_inline(x)) for x in items)
            html.append(Markup("<{0}>{1}</{0}>").format(Markup(list_tag), lis))
            items.clear()
        list_tag = ""

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush_para()
            flush_list()
            lang = re.sub(r"[^\w+-]", "", stripped[3:].strip())
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            cls = Markup(' class="lang-{}"').format(lang) if lang else Markup("")
            html.append(Markup("<pre class=\"doc-code\"><code{}>{}</code></pre>").format(cls, "\n".join(body)))
            i += 1
            continue
        m_bullet = re.match(r"^\s*[-*]\s+(.*)$", line)
        m_num = re.match(r"^\s*\d+[.)]\s+(.*)$", line)
        if m_bullet or m_num:
            flush_para()
            tag = "ul" if m_bullet else "ol"
            if list_tag and list_tag != tag:
                flush_list()
            list_tag = tag
            items.append((m_bullet or m_num).group(1))
        elif not stripped:
            flush_para()
            flush_list()
        elif items and line.startswith(("  ", "\t")):
            items[-1] += " " + stripped
        else:
            m_head = re.match(r"^#{1,6}\s+(.*)$", stripped)
            if m_head:
                flush_para()
                flush_list()
                html.append(Markup("<h5>{}</h5>").format(_inline(m_head.group(1))))
            else:
                flush_list()
                para.append(line)
        i += 1
    flush_para()
    flush_list()
    return Markup("\n").join(html)


# -- context -----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _rule_doc(rule, redact) -> dict:
    doc = redact(rule.doc)  # a rule's example may quote a weak value the scanned stack really uses
    why = section(doc, "Why is this bad?", "Why is this bad", "Why it matters")
    use = section(doc, "Use instead", "How to fix")
    example = section(doc, "Example")
    safety = section(doc, "Fix safety")
    what = section(doc, "What it does")
    return {
        "what": markdown(what) if what else Markup(""),
        "why": markdown(why) if why else Markup(""),
        "example": markdown(example) if example else Markup(""),
        "use": markdown(use) if use else Markup(""),
        "safety": markdown(safety) if safety else Markup(""),
        "references": reference_links(rule.references),
    }


def _diff_lines(diff: str) -> list[dict]:
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append({"kind": kind, "text": line})
    return out


def _chart(m: dict) -> dict:
    """Geometry of the horizontal stacked bar chart (findings per layer, by severity)."""
    width, label_w, bar_h, gap, top = 640, 120, 22, 12, 8
    totals = {layer: sum(row.values()) for layer, row in m.items()}
    biggest = max(totals.values(), default=0) or 1
    scale = (width - label_w - 50) / biggest
    rows = []
    for i, layer in enumerate(LAYER_ORDER):
        y = top + i * (bar_h + gap)
        x = label_w
        segs = []
        for sev in SEVERITIES:
            n = m[layer.value][sev]
            if n:
                w = max(2.0, n * scale)
                segs.append({"x": round(x, 1), "w": round(w, 1), "sev": sev, "n": n})
                x += w
        rows.append({"layer": layer.value, "title": LAYER_TITLES[layer.value], "y": y, "ty": y + bar_h / 2 + 4,
                     "segs": segs, "total": totals[layer.value], "tx": round(x + 6, 1)})
    height = top * 2 + len(LAYER_ORDER) * (bar_h + gap) - gap
    return {"width": width, "height": height, "bar_h": bar_h, "label_w": label_w, "rows": rows}


def _finding(result, f, n: int, docs: dict, status: str = "open") -> dict:
    rule = result.rules[f.rule]
    sev = result.severity(f).label
    if rule.id not in docs:
        docs[rule.id] = _rule_doc(rule, result.redact)
    diff = fix_diff(result, f.fix)
    return {
        "anchor": f"f{n}",
        "rule": f.rule,
        "name": rule.name,
        "title": result.redact(rule.title),
        "title_html": _inline(result.redact(rule.title)),
        "layer": rule.layer.value,
        "layer_title": LAYER_TITLES[rule.layer.value],
        "severity": sev,
        "message": terminal(result.redact(f.message)),  # tree text: one line (scanner.encode)
        "path": terminal(f.location.path),
        "line": f.location.start_line,
        "col": f.location.start_col,
        "snippet": snippet(result, f.location),
        "related": [{"path": terminal(r.path), "line": None if r.is_url else r.start_line} for r in f.related],
        "fix": None if f.fix is None else {
            "description": terminal(result.redact(f.fix.description)),
            "applicability": f.fix.applicability,
            "diff": _diff_lines(diff),
        },
        "doc": docs[rule.id],
        "help_uri": rule_help_uri(f.rule),
        "fingerprint": fingerprint(result, f),
        "status": status,
        "reason": terminal(result.redact(f.suppressed or ("accepted in the baseline" if status == BASELINED else ""))),
    }


def findings_digest(result) -> str:
    """One hash over every open finding (fingerprint + severity): a signed printout names exactly
    the findings it covers."""
    keys = sorted(f"{fingerprint(result, f)}:{result.severity(f).label}" for f in result.findings)
    return "sha256:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def build_context(result, threshold: Severity = Severity.LOW, *, when=None, label: str | None = None) -> dict:
    m = matrix(result)
    docs: dict[str, dict] = {}
    findings = [_finding(result, f, i + 1, docs) for i, f in enumerate(by_severity(result, result.findings))]
    n0 = len(findings)
    hidden = [_finding(result, f, n0 + i + 1, docs, SUPPRESSED) for i, f in enumerate(result.suppressed)]
    n1 = n0 + len(hidden)
    baselined = [_finding(result, f, n1 + i + 1, docs, BASELINED) for i, f in enumerate(result.baselined)]
    failing = failing_count(result, threshold)
    dt = report_time(when)
    by_sev = counts(result)
    files = sorted({x["path"] for x in findings})
    rules = sorted({(x["rule"], x["name"]) for x in findings})
    return {
        "tool": tool_info(),
        "stack": stack_name(result),
        "root": root_label(result, label),
        "date_iso": iso(dt),
        "date_human": dt.strftime("%Y-%m-%d %H:%M UTC"),
        "ruleset": ruleset_hash(result.rules),
        "rule_count": len(result.rules),
        "file_count": len(result.stack.files),
        "digest": findings_digest(result),
        "verdict": "FAIL" if failing else "PASS",
        "threshold": threshold.label,
        "failing": failing,
        "total": len(result.findings),
        "by_sev": by_sev,
        "severities": SEVERITIES,
        "layers": [{"id": layer.value, "title": LAYER_TITLES[layer.value], "row": m[layer.value],
                    "total": sum(m[layer.value].values())} for layer in LAYER_ORDER],
        "chart": _chart(m),
        "findings": findings,
        "suppressed": hidden,
        "baselined": baselined,
        "notes": [terminal(result.redact(n)) for n in (getattr(result, "notes", None) or [])],
        "filter_files": files,
        "filter_rules": rules,
    }



def _visible_controls(value):
    """Every ``{{ }}`` of the report: tree text (names, messages, snippets, diffs) escaped by
    autoescape for HTML, and its control characters (ESC, BEL, CR, NUL, bidi overrides…) shown as
    visible escapes, as the text report does (``encode.terminal_block``: the line breaks of a snippet
    or diff are kept). Markup (dkscan's own rendered HTML, the assets) is left as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return terminal_block(value)
    return value

def render_html(result, threshold: Severity = Severity.LOW, *, when=None, label: str | None = None,
                **_: object) -> str:
    import jinja2

    css = _asset("report.css")
    js = _asset("report.js")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, finalize=_visible_controls)
    ctx = build_context(result, threshold, when=when, label=label)
    csp = ("default-src 'none'; " f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return env.get_template("report.html.j2").render(css=Markup(css), js=Markup(js), csp=csp, **ctx)

"""Report writers: each a pure function of an audit Result (and the rule catalog) to text.

Every writer takes ``render(fmt, result, threshold=..., when=..., label=...)``; format-specific
options (``colour`` for text; ``sarif_category``, ``include_suppressed``, ``uri_prefix`` for SARIF)
are ignored by the others. Modules are imported lazily: a text report never imports jinja2.
"""

from __future__ import annotations

from collections import Counter

from ..model import LAYER_ORDER, Severity

FORMATS = ("text", "json", "sarif", "html", "markdown", "junit")
#: File suffix of each format (the examples in reports/ and the CLI's help use them).
SUFFIXES = {"text": ".txt", "json": ".json", "sarif": ".sarif", "html": ".html", "markdown": ".md",
            "junit": ".junit.xml"}


def matrix(result) -> dict[str, dict[str, int]]:
    counts = Counter((result.rules[f.rule].layer.value, result.severity(f).label) for f in result.findings)
    return {layer.value: {s.label: counts.get((layer.value, s.label), 0) for s in reversed(Severity)} for layer in LAYER_ORDER}


def render(fmt: str, result, **opts) -> str:
    if fmt == "text":
        from .text import render_text as fn
    elif fmt == "json":
        from .json_report import render_json as fn
    elif fmt == "sarif":
        from .sarif import render_sarif as fn
    elif fmt == "html":
        from .html import render_html as fn
    elif fmt == "markdown":
        from .markdown import render_markdown as fn
    elif fmt == "junit":
        from .junit import render_junit as fn
    else:
        raise ValueError(f"unknown format {fmt}")
    return fn(result, **opts)


def write(fmt: str, result, out, **opts) -> None:
    """The report written to the text stream ``out``; JSON is streamed a finding at a time (a
    monorepo's report is never held whole in memory), the other formats are rendered first."""
    if fmt == "json":
        from .json_report import write_json

        write_json(result, out, **opts)
    else:
        out.write(render(fmt, result, **opts))

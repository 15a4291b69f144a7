"""Report writers: each a pure function of an audit Result (and the rule catalog) to text.

Every writer takes ``render(fmt, result, threshold=..., when=..., label=...)``; format-specific
options (``colour`` for text; ``sarif_category``, ``include_suppressed``, ``uri_prefix`` for SARIF)
are ignored by the others. Modules are imported lazily: a text report never imports jinja2.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..model import LAYER_ORDER, Severity

@dataclass(frozen=True)
class ReportFormat:
    """A report format, declared once: its name (``--format``), the suffix of its example in
    ``reports/``, the ``--output`` name endings that imply it, and its renderer (``module:function``
    in this package, imported on first use: a text report never imports jinja2). ``writer``, when
    set, streams the report to a file object instead of rendering it whole first."""

    name: str
    suffix: str
    endings: tuple[str, ...]
    renderer: str
    writer: str | None = None

    def _load(self, ref: str):
        import importlib

        module, function = ref.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), function)

    def render(self, result, **opts) -> str:
        return self._load(self.renderer)(result, **opts)

    def write(self, result, out, **opts) -> None:
        if self.writer is not None:
            self._load(self.writer)(result, out, **opts)
        else:
            out.write(self.render(result, **opts))


REPORT_FORMATS: tuple[ReportFormat, ...] = (
    ReportFormat("text", ".txt", (), "text:render_text"),
    ReportFormat("json", ".json", (".json",), "json_report:render_json", writer="json_report:write_json"),
    ReportFormat("sarif", ".sarif", (".sarif", ".sarif.json"), "sarif:render_sarif", writer="sarif:write_sarif"),
    ReportFormat("html", ".html", (".html", ".htm"), "html:render_html"),
    ReportFormat("markdown", ".md", (".md", ".markdown"), "markdown:render_markdown"),
    ReportFormat("junit", ".junit.xml", (".xml",), "junit:render_junit"),
)
FORMAT: dict[str, ReportFormat] = {f.name: f for f in REPORT_FORMATS}
FORMATS = tuple(FORMAT)
#: File suffix of each format (the examples in reports/ and the CLI's help use them).
SUFFIXES = {f.name: f.suffix for f in REPORT_FORMATS}


def format_for(filename: str) -> str:
    """The format an ``--output`` file name implies: the format with the longest matching ending
    (``report.sarif.json`` is SARIF), else text."""
    name = filename.lower()
    best, length = "text", 0
    for f in REPORT_FORMATS:
        for ending in f.endings:
            if name.endswith(ending) and len(name) > len(ending) and len(ending) > length:
                best, length = f.name, len(ending)
    return best


def matrix(result) -> dict[str, dict[str, int]]:
    from .common import severity_tally

    counts: Counter = Counter()
    for (rule, sev), n in severity_tally(result).items():
        counts[(result.rules[rule].layer.value, sev.label)] += n
    return {layer.value: {s.label: counts.get((layer.value, s.label), 0) for s in reversed(Severity)} for layer in LAYER_ORDER}


def _format(fmt: str) -> ReportFormat:
    try:
        return FORMAT[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt}") from None


def render(fmt: str, result, **opts) -> str:
    return _format(fmt).render(result, **opts)


def write(fmt: str, result, out, **opts) -> None:
    """The report written to the text stream ``out``; JSON is streamed a finding at a time (a
    monorepo's report is never held whole in memory), the other formats are rendered first."""
    _format(fmt).write(result, out, **opts)

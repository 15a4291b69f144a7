"""The HTML report without a browser: self-contained, strict CSP whose hashes match, escaped,
every finding present, suppressed/baselined apart. (tests/test_html_browser.py drives Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from scanner.model import Severity
from scanner.report import render
from scanner.report.html import markdown
from test_report_common import CANARY, CANARY_TOKEN, CANARY_URL_PW, GENERATED_SECRET, synthetic_result

WHEN = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "script"):
            self._in = tag
            (self.styles if tag == "style" else self.scripts).append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.styles[-1] += data
        elif self._in == "script":
            self.scripts[-1] += data


@pytest.fixture
def page_and_result(tmp_path):
    result = synthetic_result(tmp_path)
    html = render("html", result, threshold=Severity.LOW, when=WHEN, label="deploy/prod")
    page = Page()
    page.feed(html)
    return html, page, result


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_strict_csp_with_matching_hashes(page_and_result):
    html, page, _ = page_and_result
    meta = [a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(meta) == 1
    csp = dict(part.strip().split(" ", 1) for part in meta[0]["content"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["base-uri"] == "'none'" and csp["form-action"] == "'none'"
    assert "unsafe-inline" not in meta[0]["content"] and "unsafe-eval" not in meta[0]["content"]
    assert len(page.styles) == 1 and len(page.scripts) == 1
    assert csp["style-src"] == _sha(page.styles[0])
    assert csp["script-src"] == _sha(page.scripts[0])
    # the CSP meta comes before anything it governs
    assert html.index("Content-Security-Policy") < html.index("<style>")


def test_self_contained_no_handlers_no_style_attributes(page_and_result):
    html, page, _ = page_and_result
    for tag, attrs in page.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        assert "style" not in attrs, (tag, attrs)
        if tag in ("script", "img", "iframe", "link", "audio", "video", "source", "object", "embed"):
            assert "src" not in attrs and "href" not in attrs, (tag, attrs)
    assert "@import" not in page.styles[0] and "url(" not in page.styles[0]
    assert "fetch(" not in page.scripts[0] and "XMLHttpRequest" not in page.scripts[0] and "eval(" not in page.scripts[0]


def test_header_and_signoff(page_and_result):
    html, page, result = page_and_result
    assert "<h1>stack</h1>" in html
    assert "deploy/prod" in html and "2026-01-01 00:00 UTC" in html
    assert 'data-verdict="FAIL"' in html
    assert re.search(r"sha256:[0-9a-f]{16}", html)
    assert 'id="signoff"' in html and "Reviewer" in html and "Signature" in html
    # headings in order: one h1, then h2 sections
    heads = [t for t, _ in page.tags if t in ("h1", "h2", "h3")]
    assert heads[0] == "h1" and heads.count("h1") == 1 and heads[1] == "h2"
    assert [a.get("lang") for t, a in page.tags if t == "html"] == ["en"]


def test_every_finding_once_with_filters_data(page_and_result):
    html, page, result = page_and_result
    arts = [a for t, a in page.tags if t == "article" and "finding" in a.get("class", "")]
    assert len(arts) == len(result.findings)
    ids = {a["id"] for a in arts}
    assert len(ids) == len(arts)
    apart = [a for t, a in page.tags if t == "tr" and a.get("id", "").startswith("f")]
    assert len(apart) == len(result.suppressed) + len(result.baselined)
    for a in arts:
        assert {"data-layer", "data-severity", "data-file", "data-rule"} <= set(a)
    cells = {(a["data-layer"], a["data-severity"]): int(a["data-count"]) for t, a in page.tags
             if a.get("data-count") is not None and "data-layer" in a and "data-severity" in a}
    assert sum(cells.values()) == len(result.findings)
    assert f'data-count="{len(result.findings)}"' in html


def test_suppressed_and_baselined_apart_with_reasons(page_and_result):
    html, _, _ = page_and_result
    sup = html.split('id="suppressed"')[1].split("</section>")[0]
    assert "fronted by a firewall" in sup and "accepted risk" in sup
    base = html.split('id="baselined"')[1].split("</section>")[0]
    assert "accepted when the baseline was created" in base


def test_escaped_and_secret_free(page_and_result):
    html, _, _ = page_and_result
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for secret in (CANARY, CANARY_TOKEN, CANARY_URL_PW, GENERATED_SECRET):
        assert secret not in html


def test_snippet_highlight_and_fix_diff(page_and_result):
    html, _, _ = page_and_result
    assert 'class="sl hit"' in html
    assert 'class="dl d-add"' in html and "127.0.0.1:5432:5432" in html
    assert "&lt;generated&gt;" in html
    assert "dkscan fix --apply --unsafe" in html


def test_no_findings_page(tmp_path):
    result = synthetic_result(tmp_path)
    result.findings, result.suppressed, result.baselined = [], [], []
    html = render("html", result, when=WHEN)
    assert 'data-verdict="PASS"' in html and "No open findings" in html
    assert 'id="suppressed"' not in html


def test_markdown_subset_is_safe():
    out = str(markdown("Text `code` **bold** *it* [link](https://e.example/x) <b>raw</b>\n\n"
                       "```yaml\nkey: <v>\n```\n- one\n- two\n\n1. first\n[bad](javascript:alert(1))"))
    assert "<code>code</code>" in out and "<strong>bold</strong>" in out and "<em>it</em>" in out
    assert '<a href="https://e.example/x"' in out
    assert "&lt;b&gt;raw&lt;/b&gt;" in out and "key: &lt;v&gt;" in out
    assert "<ul><li>one</li><li>two</li></ul>" in out and "<ol><li>first</li></ol>" in out
    assert 'href="javascript' not in out

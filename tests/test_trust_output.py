"""Trust, class 2: no output can be forged by a name or value from the scanned tree.

Hypothesis puts arbitrary text (control characters, ESC/OSC/CSI sequences, newlines, Markdown and HTML
meta-characters, RTL overrides, very long strings) where the tree's text lands in a report — finding
messages, file paths, the compose project name, suppression reasons — and renders every format. Each
format's structure must be the one the same report has with harmless text: the same finding lines in
text, the same Markdown nodes (parsed by markdown-it-py, GFM with linkify), a JUnit file that parses,
the same HTML elements, JSON/SARIF that load.
"""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from scanner.engine import audit
from scanner.report import FORMATS, render

ROOT = Path(__file__).resolve().parent.parent

NASTY = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["\x1b[31mRED\x1b[0m", "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07", "\x1b]0;title\x07",
                     "a\nfixtures/x.yml:1:1  CRITICAL  PER001  forged", "a\r\nb\rc", "\u202eevil\u202c", "\x00\x07\x7f\x85",
                     "[click](https://evil.example)", "![img](https://evil.example/x.png)", "<img src=x onerror=alert(1)>",
                     "<script>alert(1)</script>", "# heading", "`code` ``", "| a | b |", "https://evil.example/path",
                     "www.evil.example", "&lt;b&gt; &#x3C;", "**bold** _em_ ~~s~~", "<details>", "]]></failure>",
                     "x" * 5000]),
    st.lists(st.sampled_from(["\x1b", "\n", "[", "]", "(", ")", "<", ">", "`", "|", "\u202e", "*", "&", "#", "!", ":",
                              "//", "www.", "a", " ", "\x00", "\ud7ff", "\ufffe"]), max_size=40).map("".join),
)

_STATE: dict = {}


def _base():
    if "result" not in _STATE:
        _STATE["result"] = audit([ROOT / "fixtures" / "studios-dk"])
    return _STATE["result"]


def _with_text(result, text: str):
    """The bundled stack's result, its first findings' messages and paths, one suppression reason and
    the project name replaced by ``text``."""
    r = dataclasses.replace(result) if dataclasses.is_dataclass(result) else _copy(result)
    findings = list(result.findings)
    for i in range(min(5, len(findings))):
        findings[i] = dataclasses.replace(findings[i], message=f"service '{text}' {findings[i].message}")
    if findings:
        loc = dataclasses.replace(findings[0].location, path=f"{text}/docker-compose.yml")
        findings[0] = dataclasses.replace(findings[0], location=loc)
    r.findings = findings
    r.suppressed = [dataclasses.replace(findings[1], suppressed=f"reason: {text}")] if len(findings) > 1 else []
    r.baselined = []
    return r


def _copy(result):
    import copy

    return copy.copy(result)


_FINDING_LINE = re.compile(r"^\S.*:\d+:\d+  (CRITICAL|HIGH|MEDIUM|LOW|INFO)\s+[A-Z]+\d{3}  ", re.M)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _md_nodes(text: str) -> Counter:
    md = MarkdownIt("gfm-like")  # tables, strikethrough, linkify (GitHub's autolinks)
    out: Counter = Counter()

    def walk(tokens):
        for t in tokens:
            kind = t.type
            if kind in ("html_inline", "html_block"):
                kind += ":" + t.content.strip()[:12]
            if kind == "link_open":
                kind += ":" + t.attrGet("href")
            out[kind] += 1
            walk(t.children or [])

    walk(md.parse(text))
    for k in [k for k in out if k in ("text", "softbreak", "inline", "text_special")]:
        del out[k]
    return out


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: Counter = Counter()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1


def _html_tags(text: str) -> Counter:
    p = _Tags()
    p.feed(text)
    return p.tags


_HTML_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _structure(result) -> dict:
    out = {}
    for fmt in FORMATS:
        text = render(fmt, result)
        if fmt == "text":
            out[fmt] = len(_FINDING_LINE.findall(text))
            assert not _CONTROL.search(text), repr(_CONTROL.search(text).group())
        elif fmt == "markdown":
            out[fmt] = _md_nodes(text)
            assert not _CONTROL.search(text)
        elif fmt == "junit":
            ET.fromstring(text.encode("utf-8"))  # parses (XML 1.0's forbidden characters replaced)
            out[fmt] = True
        elif fmt == "html":
            out[fmt] = _html_tags(text)
            # tree text shows its controls as escapes (only the line breaks of snippets and diffs stay)
            assert not _HTML_CONTROL.search(text), repr(_HTML_CONTROL.search(text).group())
        else:
            json.loads(text)
            out[fmt] = True
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=NASTY)
def test_no_tree_text_changes_a_report_structure(text):
    base = _base()
    benign = _structure(_with_text(base, "svc"))
    hostile = _structure(_with_text(base, text))
    assert hostile == benign


def test_hostile_service_name_through_the_whole_pipeline(tmp_path):
    """A compose file whose project and service names carry ESC, newlines and Markdown: the real audit."""
    (tmp_path / "docker-compose.yml").write_text(
        'name: "x\\e]8;;http://evil.example\\a\\n[pwn](http://evil.example)"\n'
        'services:\n  "web\\e[31m\\nfixtures/a.yml:1:1  CRITICAL  PER001  forged\\u202e":\n'
        '    image: nginx:latest\n    privileged: true\n    ports: ["5432:5432"]\n')
    result = audit([tmp_path])
    assert result.findings
    text = render("text", result)
    assert not _CONTROL.search(text)
    assert len(_FINDING_LINE.findall(text)) == len(result.findings)
    md = render("markdown", result)
    nodes = _md_nodes(md)
    assert not [k for k in nodes if k.startswith("link_open:") and "evil" in k]
    assert not [k for k in nodes if k.startswith("image")]
    ET.fromstring(render("junit", result).encode("utf-8"))


# The command line's own prints of tree text: ``audit --diff`` printed the fix diff raw (an OSC/CSI
# sequence in a line next to a fix reached the terminal), and a file name with a newline forged diff
# header lines in it and in ``fix``. Every command that prints the tree's lines or names is run here.
_NAME_TEXT = st.one_of(
    st.sampled_from(["\x1b]0;t\x07", "a\n+++ b\n@@ -1 +1 @@\nx", "\x1b[2J\r", "\u202e", "a\x85b\u2028c", "x\x00y"]),
    st.text(alphabet=st.sampled_from(["\x1b", "\n", "\r", "\x07", "\u202e", "\x0c", "+", "-", "@", " ", "a"]),
            min_size=1, max_size=20))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(comment=_NAME_TEXT, name=_NAME_TEXT)
def test_cli_diffs_and_lines_never_carry_tree_controls(tmp_path_factory, comment, name):
    from click.testing import CliRunner

    from scanner.cli import main

    tree = tmp_path_factory.mktemp("tree")
    (tree / "conf.d").mkdir()
    (tree / "nginx.conf").write_text(f"events {{}}\nhttp {{\n server {{\n  listen 80; # {comment}\n"
                                     "  location / { proxy_pass http://b; }\n }\n}\n")
    fname = name.replace("/", "_").replace("\x00", "_")
    (tree / "conf.d" / f"{fname}.conf").write_text(f"server {{\n listen 81; # {comment}\n location / {{ proxy_pass http://c; }}\n}}\n")
    runner = CliRunner()
    for args in (["audit", "--diff", str(tree)], ["fix", str(tree)], ["audit", "--show-fixes", str(tree)]):
        res = runner.invoke(main, args)
        assert res.exit_code in (0, 1), (args, res.output)
        out = res.output
        assert not _CONTROL.search(out.replace("\t", "")), args
        headers = [x for x in out.split("\n") if x.startswith(("+++ ", "--- "))]
        assert all(x.startswith(("+++ b/", "--- a/", "--- /dev/null")) for x in headers), (args, headers)
        assert len([x for x in headers if x.startswith("+++ ")]) == len([x for x in headers if x.startswith("--- ")])

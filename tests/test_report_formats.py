"""The CI formats (markdown, junit), the text report's paths, the format registry, and the audit
command's --format/--output pairs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scanner import cli
from scanner.engine import audit
from scanner.model import Severity
from scanner.report import FORMATS, SUFFIXES, render
from test_report_common import CANARY, CANARY_TOKEN, CANARY_URL_PW, GENERATED_SECRET, synthetic_result, write_stack

ROOT = Path(__file__).resolve().parent.parent
WHEN = datetime(2026, 1, 1, tzinfo=timezone.utc)


def run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd or ROOT)


def test_format_registry_matches_the_cli():
    assert list(FORMATS) == cli.REPORT_FORMATS
    assert set(SUFFIXES) == set(FORMATS)
    with pytest.raises(ValueError):
        render("pdf", None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_reproducible_and_secret_free(tmp_path, fmt):
    result = synthetic_result(tmp_path)
    a = render(fmt, result, when=WHEN, label="stack", uri_prefix="")
    b = render(fmt, result, when=WHEN, label="stack", uri_prefix="")
    assert a == b
    for secret in (CANARY, CANARY_TOKEN, CANARY_URL_PW, GENERATED_SECRET):
        assert secret not in a, f"{fmt} shows a secret"


@pytest.mark.parametrize("fmt", ["json", "html", "markdown", "junit"])
def test_source_date_epoch(tmp_path, monkeypatch, fmt):
    result = audit([write_stack(tmp_path / "s")])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    text = render(fmt, result)
    assert "2026-01-01T00:00:00Z" in text
    assert render(fmt, result) == text


# -- markdown ----------------------------------------------------------------------------------

def test_markdown_summary(tmp_path):
    result = synthetic_result(tmp_path)
    md = render("markdown", result, threshold=Severity.LOW, when=WHEN, label="deploy/prod")
    lines = md.splitlines()
    assert lines[0].startswith("## ❌ dkscan: FAIL — ")
    assert "deploy\\/prod" in md  # tree text is backslash-escaped (scanner.encode.markdown)
    for layer in ("perimeter", "gateway", "api", "application", "data", "operational", "performance"):
        assert any(l.startswith(f"| {layer} |") for l in lines)
    rows = [l for l in lines if l.startswith("| ") and "[" in l and "](https://github.com/dkscan/dkscan/blob/main/docs/rules.md#" in l]
    assert len(rows) == min(25, len(result.findings))
    assert "\\<script\\>" in md and "<script>" not in md  # messages cannot inject HTML into a PR comment
    assert "Suppressed and baselined (3)" in md and "fronted by a firewall" in md
    assert len(md) < 65536


def test_markdown_pass_and_top_cut(tmp_path):
    result = synthetic_result(tmp_path)
    result.findings = []
    md = render("markdown", result, when=WHEN)
    assert md.startswith("## ✅ dkscan: PASS")
    assert "### " not in md.split("<details>")[0]


def test_markdown_stays_under_the_comment_limit(tmp_path):
    result = synthetic_result(tmp_path)
    big = result.findings[0]
    import dataclasses

    result.findings = [dataclasses.replace(big, message="x" * 2000 + str(i)) for i in range(500)]
    result.suppressed = result.suppressed * 100
    md = render("markdown", result, when=WHEN)
    assert len(md) < 65536


# -- junit -------------------------------------------------------------------------------------

def test_junit_one_testcase_per_rule_and_file(tmp_path):
    result = synthetic_result(tmp_path)
    xml = render("junit", result, when=WHEN)
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"dkscan.{l}" for l in
                                               ("perimeter", "gateway", "api", "application", "data", "operational", "performance")]
    cases = root.iter("testcase")
    keys = Counter((c.get("classname").rsplit(".", 1)[1], c.get("file")) for c in cases)
    assert all(n == 1 for n in keys.values()), "one testcase per rule x file"
    failing = {(c.get("classname").rsplit(".", 1)[1], c.get("file")) for c in root.iter("testcase") if c.find("failure") is not None}
    assert failing == {(f.rule, f.location.path) for f in result.findings}
    # every open finding is one line of its failure's text
    lines = sum(len([l for l in c.find("failure").text.splitlines() if " " in l and ":" in l.split(" ")[0]])
                for c in root.iter("testcase") if c.find("failure") is not None)
    assert lines == len(result.findings)
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites) == sum(keys.values())
    assert int(root.get("failures")) == len(failing)
    # rules that read compose files have a passing testcase for docker-compose.yml
    passing = [c for c in root.iter("testcase") if not list(c)]
    assert passing and all(c.get("file") for c in passing)


def test_junit_skipped_for_suppressed_only(tmp_path):
    result = synthetic_result(tmp_path)
    sup = result.suppressed[0]
    result.findings = [f for f in result.findings if (f.rule, f.location.path) != (sup.rule, sup.location.path)]
    root = ET.fromstring(render("junit", result, when=WHEN))
    case = next(c for c in root.iter("testcase") if c.get("classname").endswith(sup.rule) and c.get("file") == sup.location.path)
    skipped = case.find("skipped")
    assert skipped is not None and "fronted by a firewall" in skipped.get("message")


def test_junit_survives_control_characters(tmp_path):
    import dataclasses

    result = synthetic_result(tmp_path)
    result.findings[0] = dataclasses.replace(result.findings[0], message="bell\x07 and nul\x00 and ]]> end")
    ET.fromstring(render("junit", result, when=WHEN))


# -- text --------------------------------------------------------------------------------------

def test_text_paths_relative_to_base(tmp_path):
    result = audit([write_stack(tmp_path / "s")])
    text = render("text", result, path_base=tmp_path)
    assert "s/docker-compose.yml:" in text


# -- the audit command -------------------------------------------------------------------------

def test_several_format_output_pairs_in_one_run(tmp_path):
    stack = write_stack(tmp_path / "s")
    outs = {fmt: tmp_path / f"report{SUFFIXES[fmt]}" for fmt in FORMATS}
    args = ["audit", str(stack)]
    for fmt, out in outs.items():
        args += ["--format", fmt, "--output", str(out)]
    r = run(*args, env={"SOURCE_DATE_EPOCH": "1767225600"})
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    for fmt, out in outs.items():
        assert out.stat().st_size > 0, fmt
    assert json.loads(outs["json"].read_text())["root"] == str(stack)
    assert json.loads(outs["sarif"].read_text())["version"] == "2.1.0"
    assert outs["html"].read_text().startswith("<!DOCTYPE html>")
    ET.parse(outs["junit"])


def test_format_from_output_suffix(tmp_path):
    stack = write_stack(tmp_path / "s")
    r = run("audit", str(stack), "--output", str(tmp_path / "a.sarif"), "--output", str(tmp_path / "b.html"),
            "--output", str(tmp_path / "c.md"), "--output", str(tmp_path / "d.xml"), "--output", str(tmp_path / "e.txt"))
    assert r.returncode == 1, r.stderr
    assert json.loads((tmp_path / "a.sarif").read_text())["runs"]
    assert "<html" in (tmp_path / "b.html").read_text()
    assert (tmp_path / "c.md").read_text().startswith("## ")
    assert (tmp_path / "d.xml").read_text().startswith("<?xml")
    assert "total" in (tmp_path / "e.txt").read_text()


def test_two_reports_on_stdout_is_a_usage_error(tmp_path):
    r = run("audit", str(write_stack(tmp_path / "s")), "--format", "json", "--format", "markdown")
    assert r.returncode == 2 and "stdout" in r.stderr


def test_include_suppressed_flag_reaches_sarif(tmp_path):
    stack = write_stack(tmp_path / "s")
    (stack / "docker-compose.yml").write_text(
        (stack / "docker-compose.yml").read_text().replace(
            '      - "5432:5432"', '      - "5432:5432"  # dkscan: ignore[PER001] reason: firewalled at the provider'))
    plain = json.loads(run("audit", str(stack), "--format", "sarif").stdout)
    full = json.loads(run("audit", str(stack), "--format", "sarif", "--include-suppressed").stdout)
    n_plain, n_full = len(plain["runs"][0]["results"]), len(full["runs"][0]["results"])
    sup = [r for r in full["runs"][0]["results"] if r.get("suppressions")]
    assert sup, "the inline suppression did not reach the SARIF file"
    assert n_full == n_plain + len(sup)
    assert sup[0]["suppressions"][0]["kind"] == "inSource"
    assert "firewalled at the provider" in sup[0]["suppressions"][0]["justification"]

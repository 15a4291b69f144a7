"""docs/probe.md and the scheduled workflow example say what the code does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from scanner.registry import probe_rules

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "probe.md").read_text(encoding="utf-8")


def test_scheduled_workflow_example():
    text = (ROOT / "examples" / "github" / "dkscan-probe.yml").read_text(encoding="utf-8")
    wf = yaml.safe_load(text)
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads `on:` as True
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    assert wf["permissions"] == {"contents": "read", "security-events": "write", "actions": "read"}
    steps = wf["jobs"]["probe"]["steps"]
    run = next(s["run"] for s in steps if "dkscan probe" in s.get("run", ""))
    assert "--format sarif --output probe.sarif" in run and "--sarif-category dkscan-probe" in run
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"] == {"sarif_file": "probe.sarif", "category": "dkscan-probe"} and upload["if"] == "always()"
    # the page shows the same workflow (one source: the example file minus its header comment)
    body = "".join(l for l in text.splitlines(keepends=True) if not l.startswith("#"))
    assert f"```yaml\n{body}```" in DOC


def test_deploy_script_example_is_valid_bash():
    script = re.search(r"```bash\n(#!/usr/bin/env bash.*?)```", DOC, re.S).group(1)
    assert "dkscan probe https://api.studios-dk.com ." in script and "--fail-on high" in script
    out = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_options_in_the_docs_exist():
    help_text = subprocess.run([sys.executable, "-m", "scanner.cli", "probe", "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=60).stdout
    used = set(re.findall(r"dkscan probe [^\n`|]*", DOC))
    flags = {f for line in used for f in re.findall(r"(--[a-z-]+)", line)}
    flags |= set(re.findall(r"`(--[a-z-]+)", DOC))
    assert flags and all(f in help_text for f in flags), sorted(f for f in flags if f not in help_text)


def test_rule_table_matches_the_registry():
    rows = dict(re.findall(r"^\| (LIVE\d{3}) \| ([a-z0-9-]+) \|", DOC, re.M))
    live = {rid: r for rid, r in probe_rules().items() if rid.startswith("LIVE")}
    assert rows == {rid: r.name for rid, r in live.items()}
    for rid, r in live.items():
        assert re.search(rf"^\| {rid} \| {r.name} \| {r.severity.label} \|", DOC, re.M), rid

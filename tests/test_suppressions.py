"""Inline suppressions with reasons, config ignores, baselines and policy files."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.config import ConfigError, find_config, load_policy
from scanner.engine import audit

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = """\
services:
  db:
    image: adminer:4.8.1
    ports:
      - "5432:5432"{trail}
  cache:
    image: grafana/grafana:11.0.0
    ports:
      - "6379:6379"
"""


def stack(tmp_path, trail="", above="", extra=""):
    (tmp_path / "docker-compose.yml").write_text(above + COMPOSE.format(trail=trail) + extra)
    return tmp_path


def rules_at(result, rule="PER001"):
    return sorted(f.location.start_line for f in result.findings if f.rule == rule)


def test_trailing_comment_suppresses_its_line(tmp_path):
    r = audit([stack(tmp_path, trail="  # dkscan: ignore[PER001] reason: reachable only through the VPN")], select=["PER001", "OPS083", "OPS084"])
    assert rules_at(r) == [9]
    assert len(r.suppressed) == 1 and "VPN" in r.suppressed[0].suppressed
    assert not [f for f in r.findings if f.rule.startswith("OPS08")]


def test_block_head_comment_covers_the_whole_service(tmp_path):
    text = COMPOSE.format(trail="").replace("  db:\n", "  # dkscan: ignore[PER001] reason: lab database, firewalled upstream\n  db:\n")
    (tmp_path / "docker-compose.yml").write_text(text)
    r = audit([tmp_path], select=["PER001", "OPS084"])
    assert rules_at(r) == [10]  # cache still reported
    assert [f.location.start_line for f in r.suppressed] == [6]


def test_nginx_block_suppression(tmp_path):
    (tmp_path / "nginx.conf").write_text("events {}\n# dkscan: ignore[GW032] reason: version hidden by the CDN\nhttp {\n    server { listen 80; }\n}\n")
    r = audit([tmp_path], select=["GW032", "OPS084"])
    assert not [f for f in r.findings if f.rule == "GW032"] and len(r.suppressed) == 1


def test_missing_reason_unknown_rule_and_unused_are_findings(tmp_path):
    r = audit([stack(tmp_path, trail="  # dkscan: ignore[PER001]", extra="# dkscan: ignore[NOPE123] reason: x\n# dkscan: ignore[APP001] reason: old\n")],
              select=["PER001", "APP001", "OPS083", "OPS084"])
    assert rules_at(r) == [5, 9], "a suppression without a reason must not suppress"
    msgs = {(f.rule, f.location.start_line): f.message for f in r.findings if f.rule.startswith("OPS08")}
    assert ("OPS083", 5) in msgs and "no reason" in msgs[("OPS083", 5)]
    assert ("OPS083", 10) in msgs and "NOPE123" in msgs[("OPS083", 10)]
    assert ("OPS084", 11) in msgs  # APP001 ignored where nothing is privileged


def test_expired_suppression_stops_suppressing(tmp_path):
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    r = audit([stack(tmp_path, trail=f"  # dkscan: ignore[PER001] reason: temporary until: {past}")], select=["PER001", "OPS085"])
    assert rules_at(r) == [5, 9]
    assert any(f.rule == "OPS085" and past in f.message for f in r.findings)
    r = audit([stack(tmp_path, trail=f"  # dkscan: ignore[PER001] reason: temporary until: {future}")], select=["PER001", "OPS085"])
    assert rules_at(r) == [9]


def test_no_inline_suppressions_cli_and_config(tmp_path):
    d = stack(tmp_path, trail="  # dkscan: ignore[PER001] reason: vpn")
    assert rules_at(audit([d], select=["PER001"], inline_suppressions=False)) == [5, 9]
    (d / ".dkscan.yaml").write_text("inline-suppressions: false\n")
    assert rules_at(audit([d], load_policy(find_config(d)), select=["PER001"])) == [5, 9]
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", "--select", "PER001", "--no-inline-suppressions", str(d)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.count("PER001") >= 2


def test_sql_suppression_uses_double_dash(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: adminer:4.8.1\n    ports: ['5432:5432'] # dkscan: ignore[PER001] reason: dev only\n")
    (tmp_path / "init.sql").write_text("-- dkscan: ignore[OPS081] reason: psql extension we know\nSELEC 1;\n")
    r = audit([tmp_path], select=["PER001", "OPS081"])
    assert not r.findings and len(r.suppressed) == 2


def test_config_ignores_with_paths_reason_expiry_owner(tmp_path):
    d = stack(tmp_path)
    (d / ".dkscan.yaml").write_text(
        "ignore:\n  - rules: [PER001]\n    paths: ['docker-compose.yml']\n    reason: internal network only\n    owner: sec-team\n    expires: 2999-01-01\n"
        "disable: [GW032]\nseverity:\n  PER001: low\n")
    policy = load_policy(find_config(d))
    r = audit([d], policy, select=["PER001"])
    assert not r.findings and len(r.suppressed) == 2
    assert "sec-team" in r.suppressed[0].suppressed


def test_config_severity_override_and_disable(tmp_path):
    d = stack(tmp_path)
    (d / ".dkscan.yaml").write_text("severity:\n  PER001: low\ndisable: [perimeter]\n")
    r = audit([d], load_policy(find_config(d)))
    assert not [f for f in r.findings if f.rule.startswith("PER") and not f.rule.startswith("PERF")]
    assert any(f.rule.startswith("PERF") for f in r.findings)
    (d / ".dkscan.yaml").write_text("severity:\n  PER001: low\n")
    r = audit([d], load_policy(find_config(d)), select=["PER001"])
    assert {r.severity(f).label for f in r.findings} == {"low"}


def test_config_found_walking_up_and_in_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.dkscan]\nfail-on = 'high'\n[tool.dkscan.host]\ncpus = 8\n")
    sub = tmp_path / "deploy/prod"
    sub.mkdir(parents=True)
    found = find_config(sub)
    assert found == tmp_path / "pyproject.toml"
    p = load_policy(found)
    assert p.get("fail-on") == "high" and p.get("host.cpus") == 8 and p.get("host.memory") == "8g"


def test_config_errors_are_clear(tmp_path):
    f = tmp_path / ".dkscan.yaml"
    f.write_text("hosts:\n  cpus: 4\ngateway:\n  rate_auth: fast\nignore:\n  - rules: [X]\n")
    with pytest.raises(ConfigError) as e:
        load_policy(f)
    msg = str(e.value)
    assert "unknown key 'hosts'" in msg and "rate_auth" in msg and "reason" in msg


def test_baseline_reports_only_new_findings_and_survives_line_shifts(tmp_path):
    d = stack(tmp_path)
    subprocess.run([sys.executable, "-m", "scanner.cli", "baseline", str(d)], check=True, cwd=ROOT, capture_output=True)
    base = json.loads((d / ".dkscan-baseline.json").read_text())
    assert {e["rule"] for e in base["findings"]} >= {"PER001"}
    assert all({"rule", "path", "fingerprint", "reason"} <= set(e) for e in base["findings"])
    # shift every line down and add a new problem
    text = (d / "docker-compose.yml").read_text()
    (d / "docker-compose.yml").write_text("# a comment\n\n" + text + "  queue:\n    image: memcached:1.6\n    ports:\n      - \"4222:4222\"\n")
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", "--select", "PER001", "--format", "json",
                        "--baseline", str(d / ".dkscan-baseline.json"), str(d)], capture_output=True, text=True, cwd=ROOT)
    data = json.loads(r.stdout)
    assert [(f["rule"], f["line"]) for f in data["findings"]] == [("PER001", 15)]
    assert sorted(f["line"] for f in data["baselined"]) == [7, 11]
    assert r.returncode == 1


def test_report_does_not_depend_on_fail_on(tmp_path):
    d = stack(tmp_path)
    outs = []
    for level in ("critical", "low"):
        r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", "--format", "json", "--fail-on", level, str(d)],
                           capture_output=True, text=True, cwd=ROOT)
        data = json.loads(r.stdout)
        outs.append(data["findings"])
    assert outs[0] == outs[1]

"""Shared report machinery (scanner/report/common.py): masking, fix diffs, rule-doc sections, dates.

Also home of ``synthetic_result``, the stack the other report tests use: real files and a real audit,
plus hand-made findings for what the bundled rules may not produce (secret-generating fixes,
insertions, multi-file fixes, suppressed and baselined findings, related locations, an info rule,
a severity override, a finding with no column).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scanner.engine import audit
from scanner.model import Edit, Fix, Finding, Location, Severity
from scanner.report import common

CANARY = "Zq8canaryPW4reports"  # a secret value planted in the synthetic stack: must never appear
CANARY_TOKEN = "tok3nCanary9xyzzy"
CANARY_URL_PW = "urlPwCanary77"
CANARY_SQL = "sqlCanaryPw31"
CANARY_DOCKER = "dockerfileCanaryKey8"
CANARY_NATS = "natsCanaryPw55"
CANARIES = (CANARY, CANARY_TOKEN, CANARY_URL_PW, CANARY_SQL, CANARY_DOCKER, CANARY_NATS)
GENERATED_SECRET = "GENERATEDsecretVALUE123"  # what a secret-generating fix writes: never shown

COMPOSE = f"""\
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: {CANARY}
    ports:
      - "5432:5432"
  cache:
    image: redis:7
    command: redis-server --requirepass {CANARY_TOKEN}
    ports:
      - "6379:6379"
  api:
    image: example/api:1.0
    environment:
      DATABASE_URL: postgres://app:{CANARY_URL_PW}@db:5432/app
      JWT_SECRET: short
"""
ENV = f"""\
# <b>not html</b> & friends
API_TOKEN={CANARY_TOKEN}
DB_PASSWORD={CANARY}
PLAIN=value
"""


SQL = f"""\
CREATE ROLE app LOGIN PASSWORD '{CANARY_SQL}';
CREATE TABLE users (id serial PRIMARY KEY, email text);
"""
DOCKERFILE = f"""\
FROM python:3.12
ENV API_KEY={CANARY_DOCKER}
CMD python app.py
"""
NATS = f"""\
authorization {{
  users = [ {{ user: "backend", password: "{CANARY_NATS}" }} ]
}}
"""


def write_stack(root: Path, extra: bool = False) -> Path:
    """The synthetic stack; ``extra`` adds SQL, a Dockerfile and a NATS config with planted secrets."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "docker-compose.yml").write_text(COMPOSE)
    (root / ".env").write_text(ENV)
    if extra:
        (root / "init-db.sql").write_text(SQL)
        (root / "Dockerfile").write_text(DOCKERFILE)
        (root / "nats-server.conf").write_text(NATS)
    return root


def _rule_with(result, severity: Severity) -> str | None:
    return next((r.id for r in result.rules.values() if r.severity == severity), None)


def synthetic_result(tmp_path: Path, extra: bool = False):
    """A Result over a real stack with every kind of finding a report must handle."""
    root = write_stack(tmp_path / "stack", extra)
    result = audit([root])
    rules = result.rules
    any_rule = "PER001" if "PER001" in rules else next(iter(rules))
    info_rule = _rule_with(result, Severity.INFO) or any_rule
    compose = "docker-compose.yml"
    extra = [
        # an insertion + a replacement in two files, one of them a generated secret
        Finding(rule=any_rule, location=Location(compose, 7, 9, 7, 20),
                message="port published on every interface <script>alert(1)</script>",
                fix=Fix("bind to 127.0.0.1 and rotate the password", (
                    Edit(Location(compose, 7, 10), "127.0.0.1:"),
                    Edit(Location(".env", 3, 13, 3, 13 + len(CANARY)), GENERATED_SECRET, secret=True),
                ), "unsafe"),
                # a probed URL as related location (dkscan probe's drift findings): an absolute URI in SARIF
                related=(Location(".env", 3, 1), Location(compose, 5, 7), Location("https://studios-dk.com:8443/a b/?q=<x>")),
                snippet_key="db:ports:5432"),
        # a whole-line deletion, safe (stated here: these findings do not pass through the engine,
        # which gives a rule's fix its declared safety)
        Finding(rule=any_rule, location=Location(compose, 12, 9),
                message="cache port published", fix=Fix("remove the port", (Edit(Location(compose, 11, 1, 13, 1), ""),), "safe"),
                snippet_key="cache:ports"),
        # a 'missing' finding: a block line, no columns known beyond the start
        Finding(rule=info_rule, location=Location(compose, 2, 3), message="advice for db", snippet_key="db"),
        # severity override
        Finding(rule=any_rule, location=Location(compose, 17, 7), message="overridden to critical",
                severity=Severity.CRITICAL, snippet_key="api:env"),
        # a finding on a file the stack did not read (OPS082-style anchor)
        Finding(rule=any_rule, location=Location(".", 1, 1), message="internal error anchor", snippet_key="anchor"),
    ]
    result.findings = sorted(result.findings + extra, key=Finding.sort_key)
    result.suppressed = [
        dataclasses.replace(extra[1], message="suppressed inline", suppressed="inline (docker-compose.yml:11): fronted by a firewall"),
        dataclasses.replace(extra[2], message="suppressed by config", suppressed="config: accepted risk (owner: ops)"),
    ]
    result.baselined = [dataclasses.replace(extra[3], message="known before", baselined=True,
                                            suppressed="baseline: accepted when the baseline was created")]
    return result


# -- tests -------------------------------------------------------------------------------------

class _R:  # the part of a Result mask_line uses
    def __init__(self, *values):
        from scanner.secrets import Redactor

        self.redact = Redactor(values)


@pytest.mark.parametrize("line, expected", [
    ("JWT_SECRET=abcdef", "JWT_SECRET=***"),
    ("  POSTGRES_PASSWORD: changeme", "  POSTGRES_PASSWORD: ***"),
    ("      - 'JWT_SECRET=abc'", "      - 'JWT_SECRET=***'"),
    ("ENV API_KEY abc", "ENV API_KEY ***"),
    ("requirepass foobared", "requirepass ***"),
    ("command: redis-server --requirepass foo --appendonly yes", "command: redis-server --requirepass *** --appendonly yes"),
    ("DATABASE_URL=postgres://u:pw1@h/db", "DATABASE_URL=postgres://u:***@h/db"),
    ("CREATE ROLE app LOGIN PASSWORD 'x''y';", "CREATE ROLE app LOGIN PASSWORD '***';"),
    ('{ user: "backend", password: "pw" }', '{ user: "backend", password: "***" }'),
    ("x knownsecret y", "x *** y"),
    # near misses: not secrets
    ("    server_tokens off;", "    server_tokens off;"),
    ("  - DB_PASSWORD=${X}", "  - DB_PASSWORD=${X}"),
    ("password_file: /run/secrets/x", "password_file: /run/secrets/x"),
    ("SECRET_KEY_LENGTH=32", "SECRET_KEY_LENGTH=32"),
    ("# token rotation is daily", "# token rotation is daily"),
    ("-p 5432", "-p 5432"),
])
def test_mask_line(line, expected):
    assert common.mask_line(_R("knownsecret"), line) == expected


def test_apply_edits_replace_insert_delete_and_overlap():
    text = "a: 1\nb: 2\nc: 3\n"
    edits = [Edit(Location("f", 1, 4, 1, 5), "9"), Edit(Location("f", 2, 1), "# x\n"),
             Edit(Location("f", 3, 1, 4, 1), ""), Edit(Location("f", 3, 2, 3, 3), "overlap")]
    assert common.apply_edits(text, edits) == "a: 9\n# x\nb: 2\n"
    secret = [Edit(Location("f", 1, 4, 1, 5), "s3cr3t", secret=True)]
    assert common.apply_edits(text, secret) == "a: <generated>\nb: 2\nc: 3\n"
    assert common.apply_edits(text, secret, show_secrets=True).startswith("a: s3cr3t")


def test_fix_diff_is_masked_windowed_and_line_numbered(tmp_path):
    result = synthetic_result(tmp_path)
    f = next(x for x in result.findings if "<script>" in x.message)
    diff = common.fix_diff(result, f.fix)
    assert "--- a/docker-compose.yml" in diff and "--- a/.env" in diff
    assert '+      - "127.0.0.1:5432:5432"' in diff
    assert "@@ -5," in diff  # real line numbers, not the window's
    assert "<generated>" in diff
    for secret in (CANARY, GENERATED_SECRET, CANARY_TOKEN):
        assert secret not in diff
    assert common.fix_diff(result, None) == ""


def test_doc_sections_and_plain_text():
    doc = "Title line.\n\n## What it does\nFlags `x`.\n\n## Why is this bad?\n**Bad**.\n```yaml\n## not a heading\n```\n"
    secs = common.doc_sections(doc)
    assert secs["What it does"] == "Flags `x`."
    assert "## not a heading" in secs["Why is this bad?"]
    assert common.section(doc, "why is this bad") .startswith("**Bad**")
    assert common.plain_text("## Use instead\nSet `a` **now**") == "Use instead:\nSet a now"


def test_reference_links():
    links = dict(common.reference_links(["CWE-668", "RFC 6797", "DL3002", "CIS 5.14", "https://x.example/y"]))
    assert links["CWE-668"] == "https://cwe.mitre.org/data/definitions/668.html"
    assert links["RFC 6797"].endswith("rfc6797")
    assert "DL3002" in links["DL3002"]
    assert links["CIS 5.14"] is None
    assert links["https://x.example/y"] == "https://x.example/y"


def test_report_time_honours_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert common.report_time() == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "garbage")
    assert common.report_time().year >= 2024
    when = datetime(2020, 1, 2, tzinfo=timezone.utc)
    assert common.iso(common.report_time(when)) == "2020-01-02T00:00:00Z"


def test_snippet_marks_the_line_and_masks_secrets(tmp_path):
    result = synthetic_result(tmp_path)
    lines = common.snippet(result, Location("docker-compose.yml", 5, 7))
    hit = [l for l in lines if l["hit"]]
    assert [l["line"] for l in hit] == [5]
    assert CANARY not in "".join(l["text"] for l in lines)
    assert "POSTGRES_PASSWORD: ***" in hit[0]["text"]
    assert common.snippet(result, Location(".", 1, 1)) == []


def test_fingerprint_matches_the_baseline_module_and_survives_line_shifts(tmp_path):
    from scanner.fingerprint import fingerprint as baseline_fp

    a = audit([write_stack(tmp_path / "a")])
    shifted = tmp_path / "b"
    write_stack(shifted)
    (shifted / "docker-compose.yml").write_text("# a comment added on top\n\n" + COMPOSE)
    b = audit([shifted])
    fa = {common.fingerprint(a, f): f.location.start_line for f in a.findings}
    fb = {common.fingerprint(b, f): f.location.start_line for f in b.findings}
    assert fa and set(fa) == set(fb)
    assert any(fb[k] == fa[k] + 2 for k in fa)
    f = a.findings[0]
    assert common.fingerprint(a, f) == baseline_fp(f, a.stack, a.redact)


def test_ruleset_hash_changes_with_rules(tmp_path):
    result = audit([write_stack(tmp_path / "s")])
    h = common.ruleset_hash(result.rules)
    assert h.startswith("sha256:") and len(h) == 7 + 16
    rules = dict(result.rules)
    first = next(iter(rules))
    rules[first] = dataclasses.replace(rules[first], doc=rules[first].doc + "\nchanged")
    assert common.ruleset_hash(rules) != h


def test_root_label(tmp_path, monkeypatch):
    result = audit([write_stack(tmp_path / "s")])
    assert common.root_label(result, "given") == "given"
    monkeypatch.chdir(tmp_path)
    assert common.root_label(result) == "s"
    assert common.stack_name(result) == "s"

"""Secrets never leave the engine (rules catalog, "Secrets never leave the engine").

1. Every real stack of the shared corpus: no secret value of a scanned dotenv file or compose
   ``environment:`` appears in any report format (``scanner.report.FORMATS``, read at test time).
2. A canary stack with a unique canary in every secret-bearing place dkscan reads (dotenv, compose
   ``environment:`` map and list, command line, healthcheck, ``${VAR:-default}``, build args,
   nats.conf, prometheus.yml, SQL ``PASSWORD``/``crypt()`` literals, Dockerfile ``ENV``/``ARG``,
   redis.conf, nginx auth headers, a provider token): no canary in any format, in the CLI's stdout
   or stderr (``audit`` in every format, ``fix`` diff, ``baseline``), nor in any exception text.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from scanner.engine import audit
from scanner.report import FORMATS, render
from scanner.secrets import is_secret_key, url_password

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def _render_all(result) -> dict[str, str]:
    out = {}
    for fmt in FORMATS:
        out[fmt] = render(fmt, result)
    return out


# --------------------------------------------------------------------------------------------
# 1. the corpus
# --------------------------------------------------------------------------------------------


def _corpus_stacks() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_dir())


def _stack_secrets(result) -> list[str]:
    """Secret values of every scanned dotenv file and compose ``environment:`` (literals)."""
    values: list[str] = []
    stack = result.stack
    for doc in stack.dotenvs:
        for e in doc.entries:
            if is_secret_key(e.key) and e.value and "${" not in e.value and not e.value.startswith(("$", "/", "./")):
                values.append(e.value)
            pw = url_password(e.value)
            if pw:
                values.append(pw)
    for svc in stack.services:
        for var in svc.environment:
            if not var.value or var.raw is None or "$" in var.raw:
                continue
            if is_secret_key(var.key) and not var.value.startswith(("/", "./")):
                values.append(var.value)
            pw = url_password(var.value)
            if pw:
                values.append(pw)
    return values


def _public(result, value: str, secret_count: int) -> bool:
    """A value that also appears where it is not a secret (a user name equal to the password, a
    service or directory named like it, a word of the rule documentation) cannot be told apart in a
    report: such values are not testable here (the canary stack covers them)."""
    texts = [sf.text for sf in result.stack.files.values()]
    occurrences = sum(t.count(value) for t in texts)
    if occurrences > secret_count:
        return True
    if value in str(result.stack.root) or any(value in rel for rel in result.stack.files):
        return True
    docs = " ".join(r.doc + " " + r.title + " " + r.name + " " + " ".join(r.references) for r in result.rules.values())
    return value in docs or value.lower() in docs.lower()


@functools.lru_cache(maxsize=None)
def _audited(stack_dir: Path):
    return audit([stack_dir])


@pytest.mark.parametrize("stack_dir", _corpus_stacks(), ids=lambda p: p.name)
def test_corpus_secrets_never_reach_a_report(stack_dir):
    result = _audited(stack_dir)
    values = _stack_secrets(result)
    counts = {v: values.count(v) for v in values}
    testable = sorted(v for v in counts if len(v) >= 6 and not _public(result, v, counts[v]))
    outputs = _render_all(result)
    leaks = [(fmt, v[:2] + "…") for fmt, text in outputs.items() for v in testable if v in text]
    assert not leaks, f"secret values of {stack_dir.name} reach reports: {leaks}"
    # no rule failed on it either (a raising rule would hide findings, and its text is checked above)
    assert not [f for f in result.findings if f.rule == "OPS082"], [f.message for f in result.findings if f.rule == "OPS082"]


def test_corpus_has_secrets_to_hide():
    """The corpus test above is not vacuous: some corpus secrets are testable and are reported on."""
    total = 0
    for stack_dir in _corpus_stacks():
        result = _audited(stack_dir)
        values = _stack_secrets(result)
        total += sum(1 for v in set(values) if len(v) >= 6 and not _public(result, v, values.count(v)))
    assert _corpus_stacks(), "../shared/corpus is missing"
    assert total >= 5


# --------------------------------------------------------------------------------------------
# 2. the canary stack
# --------------------------------------------------------------------------------------------

PLACES = (
    "env_password", "env_jwt", "env_dsn", "env_placeholder", "env_dup", "env_hazard", "env_quoted",
    "compose_map", "compose_list", "compose_dsn", "command", "healthcheck", "default", "build_arg",
    "nats_password", "nats_token", "prom_password", "prom_bearer", "sql_password", "sql_crypt",
    "sql_error", "docker_env", "docker_arg", "redis_conf", "nginx_header", "provider",
)


def _canaries() -> dict[str, str]:
    out = {}
    for place in PLACES:
        out[place] = "Cn" + secrets.token_hex(7)  # 16 chars, unique, valid everywhere unquoted
    # shapes that make value rules fire (and so tempt a message to quote them)
    out["env_jwt"] = "jwt" + secrets.token_hex(5)  # short HMAC key: API001
    out["env_password"] = "Pw" + secrets.token_hex(4)  # 10 chars: DATA007
    out["env_placeholder"] = "changeme" + secrets.token_hex(5)  # DATA005
    out["provider"] = "ghp_" + secrets.token_hex(18)  # a GitHub token shape: DATA009
    return out


def _write_canary_stack(d: Path, c: dict[str, str]) -> None:
    (d / "nginx").mkdir()
    (d / "nats").mkdir()
    (d / "monitoring").mkdir()
    (d / "backend").mkdir()
    (d / ".env").write_text(
        f"PG_PASSWORD={c['env_password']}\n"
        f"JWT_SECRET={c['env_jwt']}\n"
        f"DATABASE_URL=postgres://app:{c['env_dsn']}@db:5432/app\n"
        f"SMTP_PASSWORD={c['env_placeholder']}\n"
        f"API_TOKEN={c['env_dup']}\nAPI_TOKEN={c['env_dup']}\n"
        f"MAIL_PASSWORD={c['env_hazard']}$x y #z\n"
        f"SESSION_SECRET=\"{c['env_quoted']}\"\n"
        f"SESSION_SECRET_COPY={c['env_quoted']}\n"
        "RUST_LOG=debug\n"
    )
    (d / "docker-compose.yml").write_text(f"""
services:
  nginx:
    image: nginx:1.25
    ports: ["80:80", "443:443"]
    volumes:
      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro
  backend:
    build:
      context: ./backend
      args:
        NPM_TOKEN: {c['build_arg']}
    env_file: .env
    environment:
      APP_SECRET_KEY: {c['compose_map']}
      REDIS_URL: redis://:{c['compose_dsn']}@cache:6379/0
      ADMIN_PASSWORD: ${{ADMIN_PASSWORD:-{c['default']}}}
    ports: ["8000:8000"]
  worker:
    build: ./backend
    command: ["worker", "--db-password=${{PG_PASSWORD}}", "--verbose"]
    environment:
      - WORKER_TOKEN={c['compose_list']}
  cache:
    image: redis:7
    command: redis-server --requirepass {c['command']} --appendonly yes
    healthcheck:
      test: ["CMD", "redis-cli", "-a", "{c['healthcheck']}", "ping"]
    ports: ["6379:6379"]
    volumes:
      - ./redis.conf:/usr/local/etc/redis/redis.conf:ro
  db:
    image: postgres:15
    env_file: .env
    volumes:
      - ./init.sql:/docker-entrypoint-initdb.d/init.sql:ro
  nats:
    image: nats:2.10
    command: ["-c", "/etc/nats/nats.conf"]
    volumes:
      - ./nats/nats.conf:/etc/nats/nats.conf:ro
  prometheus:
    image: prom/prometheus:v2.48.1
    volumes:
      - ./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro
""".lstrip())
    (d / "nats" / "nats.conf").write_text(
        "port: 4222\n"
        f"authorization {{\n  users = [\n    {{ user: backend, password: \"{c['nats_password']}\" }}\n  ]\n}}\n"
        f"leafnodes {{\n  authorization {{\n    token: {c['nats_token']}\n  }}\n}}\n"
    )
    (d / "monitoring" / "prometheus.yml").write_text(f"""
scrape_configs:
  - job_name: backend
    basic_auth:
      username: prometheus
      password: {c['prom_password']}
    static_configs:
      - targets: ["backend:8000"]
  - job_name: api
    bearer_token: {c['prom_bearer']}
    static_configs:
      - targets: ["backend:8000"]
""".lstrip())
    (d / "init.sql").write_text(
        f"CREATE ROLE app LOGIN PASSWORD '{c['sql_password']}';\n"
        "CREATE TABLE users (id serial PRIMARY KEY, user_id int, password_hash text);\n"
        f"INSERT INTO users (user_id, password_hash) VALUES (1, crypt('{c['sql_crypt']}', gen_salt('bf')));\n"
        f"ALTER ROLE app PASSWORD '{c['sql_error']}' NOSUCHKEYWORD;\n"
    )
    (d / "backend" / "Dockerfile").write_text(
        "FROM python:3.12-slim\n"
        f"ARG DB_PASSWORD={c['docker_arg']}\n"
        f"ENV API_KEY={c['docker_env']}\n"
        "CMD [\"python\", \"-m\", \"app\"]\n"
    )
    (d / "redis.conf").write_text(f"requirepass {c['redis_conf']}\nappendonly yes\n")
    (d / "nginx" / "nginx.conf").write_text(f"""
events {{}}
http {{
  server {{
    listen 80;
    location / {{
      proxy_set_header Authorization "Bearer {c['nginx_header']}";
      proxy_set_header X-GitHub-Token "{c['provider']}";
      proxy_pass http://backend:8000;
    }}
  }}
}}
""".lstrip())


def _leaks(text: str, canaries: dict[str, str]) -> list[str]:
    found = []
    for place, canary in canaries.items():
        # the whole value, and its random part (a message quoting part of the value leaks too)
        core = canary[-12:]
        if canary in text or core in text:
            found.append(place)
    return found


@pytest.fixture
def canary_stack(tmp_path):
    c = _canaries()
    d = tmp_path / "stack"
    d.mkdir()
    _write_canary_stack(d, c)
    return d, c


def test_canary_stack_is_scanned_and_reported_on(canary_stack):
    """The canary stack really exercises the secret rules (else the leak test proves nothing)."""
    d, c = canary_stack
    result = audit([d])
    rules = {f.rule for f in result.findings}
    for rid in ("DATA005", "DATA007", "API001", "DATA009", "DATA012", "DATA013", "DATA015", "OPS021", "OPS022"):
        assert rid in rules, f"{rid} should fire on the canary stack; got {sorted(rules)}"
    assert not [f for f in result.findings if f.rule == "OPS082"], [f.message for f in result.findings if f.rule == "OPS082"]
    # every canary reached the redactor
    missing = [p for p, v in c.items() if v not in result.redact]
    assert not missing, f"secret places the engine does not redact: {missing}"


def test_canaries_reach_no_report_format(canary_stack):
    d, c = canary_stack
    try:
        result = audit([d])
        outputs = _render_all(result)
    except Exception:  # pragma: no cover - the failure itself must not leak either
        tb = traceback.format_exc()
        assert not _leaks(tb, c), "an exception text shows a secret"
        raise
    assert set(outputs) == set(FORMATS)
    for fmt, text in outputs.items():
        assert not _leaks(text, c), f"{fmt} report shows secrets of: {_leaks(text, c)}"
    # and the report data itself (messages, fix descriptions, snippet keys)
    for f in result.findings:
        blob = " ".join([f.message, f.snippet_key, f.fix.description if f.fix else ""])
        assert not _leaks(blob, c), (f.rule, _leaks(blob, c))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_canaries_reach_no_cli_output(canary_stack, tmp_path):
    d, c = canary_stack
    for fmt in FORMATS:
        r = _cli("audit", "--format", fmt, str(d), cwd=ROOT)
        assert r.returncode in (0, 1), r.stderr[-2000:]
        assert not _leaks(r.stdout, c), f"audit --format {fmt} stdout shows secrets of {_leaks(r.stdout, c)}"
        assert not _leaks(r.stderr, c), f"audit --format {fmt} stderr shows secrets of {_leaks(r.stderr, c)}"
        assert "Traceback" not in r.stderr, r.stderr[-2000:]
    # fix: the diff shows generated and replaced secrets as placeholders
    r = _cli("fix", "--unsafe", str(d), cwd=ROOT)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not _leaks(r.stdout + r.stderr, c), f"fix output shows secrets of {_leaks(r.stdout + r.stderr, c)}"
    # baseline: fingerprints and messages only
    out = tmp_path / "baseline.json"
    r = _cli("baseline", "--output", str(out), str(d), cwd=ROOT)
    if r.returncode == 0 and out.exists():
        assert not _leaks(out.read_text(), c)
    assert not _leaks(r.stdout + r.stderr, c)


def test_fix_diff_hides_generated_values(canary_stack):
    """A fix that writes a random value shows it as <generated>, never the value it wrote."""
    from scanner.fix.apply import plan_fixes, render_diff

    d, c = canary_stack
    plan = plan_fixes([d], unsafe=True)
    from scanner.engine import collect_secrets
    from scanner.stack import build_stack

    diff = render_diff(plan, collect_secrets(build_stack([d])))
    assert not _leaks(diff, c)
    for generated in plan.secrets:
        assert generated not in diff
    if plan.secrets:
        assert "<generated>" in diff


def test_rule_messages_name_keys_not_values(canary_stack):
    """Even before redaction, the secret rules' own messages never quote a value."""
    from scanner.engine import run_rules
    from scanner.registry import load_rules
    from scanner.stack import build_stack

    d, c = canary_stack
    stack = build_stack([d])
    mine = {"DATA001", "DATA002", "DATA003", "DATA004", "DATA005", "DATA006", "DATA007", "DATA008", "DATA009",
            "DATA010", "DATA012", "DATA013", "DATA014", "DATA015", "API001", "API002", "API004", "OPS020", "OPS021",
            "OPS022"}
    rules = {k: v for k, v in load_rules().items() if k in mine}
    for f in run_rules(stack, rules):
        blob = " ".join([f.message, f.snippet_key, f.fix.description if f.fix else ""])
        assert not _leaks(blob, c), (f.rule, f.message)


def test_json_report_is_valid_with_secrets_hidden(canary_stack):
    d, c = canary_stack
    data = json.loads(render("json", audit([d])))
    assert data["findings"]
    assert not _leaks(json.dumps(data), c)
    assert not re.search(r"Cn[0-9a-f]{14}", json.dumps(data))


def test_a_rule_quoting_every_canary_is_redacted(canary_stack):
    """The guard behind the rules: whatever a rule writes, the engine's redactor hides every canary
    (a rule quoting a value, or the compose-interpolated command line holding one)."""
    from scanner.engine import _redacted, collect_secrets, run_rules
    from scanner.model import Fix, Layer, Location, Rule, Severity, hit
    from scanner.stack import build_stack

    d, c = canary_stack
    stack = build_stack([d])

    def leaky(stack):
        for place, value in c.items():
            yield hit(Location(".env", 1, 1), f"{place} is {value}!", snippet_key=value,
                      fix=Fix(f"replace {value}", (), "unsafe"))
        for svc in stack.services:
            yield hit(Location("docker-compose.yml", 1, 1), f"runs {svc.command_text()}")

    rule = Rule("DATA999", "leaky", Layer.DATA, Severity.LOW, "leaky", ("any",), (), "manual", leaky, "doc")
    red = collect_secrets(stack)
    for f in run_rules(stack, {"DATA999": rule}):
        f = _redacted(f, red)
        blob = " ".join([f.message, f.snippet_key, f.fix.description if f.fix else ""])
        assert not _leaks(blob, c), (_leaks(blob, c), f.message)

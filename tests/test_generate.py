"""dkscan generate: the stack it writes passes dkscan itself and the real tools.

Real tools, no mocks: ``dkscan audit`` (zero findings, no suppression), the compose specification's
JSON schema, Debian's ``nginx -t`` through tests/nginx_harness.py (self-signed certificates made
with ``cryptography``, compose service names mapped to 127.0.0.1), and a throwaway PostgreSQL
(tests/pg_harness.py) that applies init-db.sql with ``psql -v ON_ERROR_STOP=1`` and proves
row-level security isolates two users.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scanner.config import find_config, load_policy
from scanner.engine import audit
from scanner.fix.generate import GenerateError, Options, generate, nkey_user_pair
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parent.parent

COMBOS = {
    "default": {},
    "modern": {"tls_profile": "modern"},
    "minimal-small-host": {"services": (), "host_cpus": 2, "host_memory": "4g", "tls_profile": "modern"},
    "old-nginx-pg17-port3000": {"services": ("redis", "prometheus"), "app_port": 3000,
                                "images": {"nginx": "nginx:1.24.0-alpine", "postgres": "postgres:17.2-alpine"}},
    "pg18-big-host-aliases": {"host_cpus": 16, "host_memory": "64g", "images": {"postgres": "postgres:18.1-alpine"},
                              "extra_domains": ["www.example.org"], "project": "shop"},
}
# a combo that asks for an outdated image gets that image judged, and nothing else: nginx 1.24 is past
# end of life and exposed to CVE-2025-23419 (GW094); the configuration generated for it is clean
OUTDATED = {"old-nginx-pg17-port3000": {"GW094"}}


def make(tmp_path: Path, name: str = "default", **over) -> Path:
    out = tmp_path / f"stack-{name}"
    kw = {**COMBOS.get(name, {}), **over}
    generate(Options(domain="api.example.com", out=out, **kw))
    return out


def audit_stack(d: Path):
    return audit([d], load_policy(find_config(d)))


# ---------------------------------------------------------------------------------------------
# dkscan's own verdict
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("combo", list(COMBOS))
def test_generated_stack_has_zero_findings(tmp_path, combo):
    d = make(tmp_path, combo)
    result = audit_stack(d)
    want = OUTDATED.get(combo, set())
    assert {f.rule for f in result.findings} == want, [(f.rule, str(f.location), f.message) for f in result.findings]
    assert all(f.location.path == "docker-compose.prod.yml" and "image" in (d / f.location.path).read_text().splitlines()[f.location.start_line - 1]
               for f in result.findings)
    assert result.suppressed == [], "the generated stack must be clean without suppressions"
    kinds = {getattr(sf, "kind", None) for sf in result.stack.files.values()}
    assert {"compose", "nginx", "env", "sql", "dockerfile"} <= kinds, kinds  # the audit really read the stack


def test_cli_generate_then_audit_passes(tmp_path):
    out = tmp_path / "stack"
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "generate", "--domain", "api.example.com", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "fresh secrets" in r.stdout and ".env.prod  (secret)" in r.stdout
    _assert_no_secret_in(r.stdout + r.stderr, out)
    a = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert a.returncode == 0 and "PASS: 0 findings" in a.stdout, a.stdout[-3000:]
    _assert_no_secret_in(a.stdout + a.stderr, out)


def test_generated_stack_is_clean_inside_git_too(tmp_path):
    """With the stack committed (what .gitignore lets in), the git rules (DATA001/DATA002/DATA010) stay
    silent: secrets are ignored, templates hold none."""
    d = make(tmp_path)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", str(d)], check=True, env=env)
    subprocess.run(["git", "-C", str(d), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(d), "commit", "-qm", "stack"], check=True, env=env)
    tracked = subprocess.run(["git", "-C", str(d), "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    assert ".env.prod" not in tracked and not [t for t in tracked if t.startswith("secrets/")], tracked
    assert ".env.prod.example" in tracked and ".gitignore" in tracked
    result = audit_stack(d)
    assert result.findings == [], [(f.rule, str(f.location), f.message) for f in result.findings]


# ---------------------------------------------------------------------------------------------
# secrets
# ---------------------------------------------------------------------------------------------

def _secret_values(d: Path) -> list[str]:
    vals = []
    for line in (d / ".env.prod").read_text().splitlines():
        m = re.match(r"([A-Z_]+)=(.+)$", line)
        if m and re.search(r"SECRET|KEY$", m.group(1)) and m.group(1) not in ("API_KEY_HEADER",):
            vals.append(m.group(2))
    for f in (d / "secrets").iterdir():
        vals.extend(line for line in f.read_text().splitlines() if line and not line.startswith("#"))
    return vals


def _assert_no_secret_in(text: str, d: Path) -> None:
    for v in _secret_values(d):
        if len(v) >= 12 and not v.endswith("-root"):
            assert v not in text, "a secret value was printed"
            assert v[:12] not in text, "part of a secret value was printed"


def test_secrets_are_fresh_strong_and_private(tmp_path):
    d = make(tmp_path)
    env = dict(line.split("=", 1) for line in (d / ".env.prod").read_text().splitlines() if re.match(r"[A-Z_]+=", line))
    for key in ("JWT_SECRET", "JWT_REFRESH_SECRET", "SESSION_SECRET"):
        assert re.fullmatch(r"[0-9a-f]{64}", env[key]), f"{key} is not 256 random bits in hex"
    assert len(__import__("base64").b64decode(env["ENCRYPTION_KEY"])) == 32
    assert env["JWT_SECRET"] != env["JWT_REFRESH_SECRET"]
    for name in ("postgres_password", "app_db_password", "redis_password", "minio_root_password", "s3_app_secret_key"):
        v = (d / "secrets" / name).read_text().strip()
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", v), f"{name} is not a URL-safe 256-bit password"
    values = _secret_values(d)
    assert len(values) == len(set(values)), "a secret value is reused"
    assert stat.S_IMODE(os.stat(d / ".env.prod").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "secrets").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d / "secrets" / "app_db_password").st_mode) == 0o444
    assert stat.S_IMODE(os.stat(d / "secrets" / "backup_age_identity").st_mode) == 0o600
    example = (d / ".env.prod.example").read_text()
    assert not [v for v in values if v in example]
    assert re.search(r"(?m)^JWT_SECRET=$", example)
    # two runs never share a secret
    other = make(tmp_path, "second-run", project="example2")
    assert not set(_secret_values(d)) & set(_secret_values(other))


def test_nats_nkey_and_backup_key_are_consistent(tmp_path):
    d = make(tmp_path)
    seed = (d / "secrets" / "nats_backend_nkey").read_text().strip()
    assert seed.startswith("SU") and len(seed) == 58
    _, public = nkey_user_pair(seed)
    conf = (d / "nats" / "nats-server.conf").read_text()
    assert f'nkey: "{public}"' in conf and seed not in conf
    recipient = re.search(r"(?m)^BACKUP_AGE_RECIPIENT=(age1[a-z0-9]{58})$", (d / ".env").read_text()).group(1)
    identity = (d / "secrets" / "backup_age_identity").read_text()
    assert recipient in identity and re.search(r"(?m)^AGE-SECRET-KEY-1[A-Z0-9]{58}$", identity)


def test_refuses_to_overwrite_unless_force_and_force_keeps_secrets(tmp_path):
    out = tmp_path / "stack"
    cmd = [sys.executable, "-m", "scanner.cli", "generate", "--domain", "api.example.com", "--out", str(out)]
    assert subprocess.run(cmd, capture_output=True, cwd=ROOT).returncode == 0
    (out / "nginx" / "nginx.conf").write_text("# edited by hand\n")
    before = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*") if p.is_file()}
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr and "--force" in r.stderr
    after = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*") if p.is_file()}
    assert before == after, "a refused run changed a file"
    r = subprocess.run(cmd + ["--force", "--tls-profile", "modern"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "kept the existing secrets" in r.stdout
    again = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*") if p.is_file()}
    for rel in before:
        if rel.startswith("secrets/"):
            assert again[rel] == before[rel], f"--force rotated {rel}"
    assert again["nginx/nginx.conf"] != before["nginx/nginx.conf"]
    assert "ssl_protocols TLSv1.3;" in (out / "nginx" / "nginx.conf").read_text()
    _assert_no_secret_in(r.stdout + r.stderr, out)
    assert audit_stack(out).findings == []


@pytest.mark.parametrize("opts,message", [
    ({"domain": "localhost"}, "fully qualified"),
    ({"images": {"postgres": "postgres:latest"}}, "tag other than latest"),
    ({"images": {"postgres": "postgres:14.9-alpine"}}, "too old"),
    ({"images": {"postgress": "postgres:16"}}, "unknown image"),
    ({"host_cpus": 1, "host_memory": "1g"}, "too small"),
    ({"app_port": 80}, "1024-65535"),
    ({"services": ("redis", "kafka")}, "unknown service"),
    ({"images": {"postgres": "postgres:16.6"}}, "alpine"),
])
def test_bad_options_are_refused_before_writing(tmp_path, opts, message):
    out = tmp_path / "stack"
    kw = {"domain": "api.example.com", **opts}
    with pytest.raises(GenerateError, match=message):
        generate(Options(out=out, **kw))
    assert not out.exists()


def test_refuses_to_write_through_a_symlink_out_of_the_directory(tmp_path):
    out = tmp_path / "stack"
    outside = tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "nginx").symlink_to(outside)
    with pytest.raises(GenerateError, match="outside"):
        generate(Options(domain="api.example.com", out=out, force=True))
    assert not list(outside.iterdir())


# ---------------------------------------------------------------------------------------------
# the compose specification
# ---------------------------------------------------------------------------------------------

def compose_errors(path: Path) -> list[str]:
    import jsonschema

    schema = json.loads(shared_path("schemas", "compose-spec.json").read_text())
    doc = yaml.safe_load(path.read_text())
    v = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


@pytest.mark.parametrize("combo", list(COMBOS))
def test_generated_compose_validates_against_the_compose_spec(tmp_path, combo):
    d = make(tmp_path, combo)
    assert compose_errors(d / "docker-compose.prod.yml") == []


# ---------------------------------------------------------------------------------------------
# nginx -t
# ---------------------------------------------------------------------------------------------

def nginx_check(stack: Path) -> tuple[bool, str]:
    """``nginx -t`` on the configuration the gateway service mounts (tests/nginx_harness.py)."""
    from tests.nginx_harness import nginx_t, require_nginx

    require_nginx()
    return nginx_t(stack)


@pytest.mark.parametrize("combo", ["default", "modern", "minimal-small-host", "old-nginx-pg17-port3000"])
def test_generated_nginx_passes_nginx_t(tmp_path, combo):
    d = make(tmp_path, combo)
    ok, out = nginx_check(d)
    assert ok, out
    assert "test is successful" in out


# ---------------------------------------------------------------------------------------------
# PostgreSQL: the init script applies, RLS isolates two users
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg():
    from tests import pg_harness

    pg_harness.start_postgres()
    yield pg_harness
    pg_harness.reset_cluster()


A, B = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


@pytest.mark.parametrize("combo", ["default", "minimal-small-host"])
def test_generated_init_sql_applies_and_rls_isolates_tenants(tmp_path, pg, combo):
    d = make(tmp_path, combo)
    db = "example"
    pg.reset_cluster()
    pg.create_database(db)
    ok, out = pg.apply_sql(db, d / "init-db.sql")
    assert ok, out
    ok, out = pg.psql(db, f"""
        INSERT INTO users (id, email, username, password_hash) VALUES
            ('{A}', 'a@example.com', 'alice', 'x'), ('{B}', 'b@example.com', 'bob', 'x');
        INSERT INTO sessions (user_id, token_hash, expires_at) VALUES
            ('{A}', '\\x01', now() + interval '1 day'), ('{B}', '\\x02', now() + interval '1 day');
        INSERT INTO api_keys (user_id, name, key_prefix, key_hash) VALUES
            ('{A}', 'k', 'ak', '\\x0a'), ('{B}', 'k', 'bk', '\\x0b');""")
    assert ok, out

    def as_app(user: str, sql: str) -> tuple[bool, str]:
        return pg.psql(db, f"BEGIN; SET LOCAL app.current_user_id = '{user}'; {sql} COMMIT;", user="app_user")

    ok, out = as_app(A, "SELECT id FROM users; SELECT user_id FROM sessions; SELECT key_prefix FROM api_keys;")
    assert ok, out
    assert out.split() == [A, A, "ak"], out
    ok, out = as_app(B, "SELECT count(*) FROM sessions WHERE user_id = '" + A + "';")
    assert ok and out.strip() == "0", out
    # writing a row into the other tenant is refused by WITH CHECK
    ok, out = as_app(A, f"INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ('{B}', '\\x03', now());")
    assert not ok and "row-level security" in out, out
    ok, out = as_app(A, f"UPDATE api_keys SET name = 'stolen' WHERE user_id = '{B}'; SELECT name FROM api_keys;")
    assert ok and out.split() == ["k"], out
    # without the setting the app role sees nothing
    ok, out = pg.psql(db, "SELECT count(*) FROM users;", user="app_user")
    assert ok and out.strip() == "0", out
    # audit logs are append-only: no UPDATE grant for the app, a raising trigger for everyone else
    ok, out = as_app(A, "UPDATE audit_logs SET action = 'delete';")
    assert not ok and "permission denied" in out, out
    ok, out = pg.psql(db, "UPDATE audit_logs SET action = 'delete';")
    assert not ok and "append-only" in out, out
    # no default credentials: no seeded account, the login roles have no password in the SQL
    ok, out = pg.psql(db, "SELECT count(*) FROM pg_authid WHERE rolname IN ('app_user', 'postgres_exporter') AND rolpassword IS NOT NULL;")
    assert ok and out.strip() == "0", out

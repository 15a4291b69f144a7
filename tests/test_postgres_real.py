"""dkscan's SQL verdicts agree with a real PostgreSQL server.

One server for the whole session (``tests/pg_harness.py``). Every SQL fixture of the PostgreSQL
rules that dkscan parses cleanly (no OPS081) is applied, the way the postgres image runs init
scripts, to a fresh database and must succeed; every SQL file dkscan calls unparseable must be
rejected. The bundled stacks' init scripts must apply cleanly, and the compliant one must really
isolate two users' rows when the app role connects.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from scanner.config import Policy
from scanner.stack import build_stack
from tests import pg_harness
from tests.conftest import FIXTURES

# the rules whose fixtures carry SQL meant for PostgreSQL (the SQL rules of the catalog)
SQL_RULES = ("APP060 APP061 APP062 APP063 DATA040 DATA041 DATA042 DATA043 DATA044 DATA045 DATA046 DATA048 DATA049 "
             "DATA050 DATA051 DATA052 DATA053 DATA055 DATA056 DATA057 DATA058 DATA059 DATA060 DATA061 DATA062 "
             "DATA063 DATA064 DATA065 DATA067 OPS003 OPS004 OPS005 OPS081").split()


@pytest.fixture(scope="session")
def pg():
    try:
        server = pg_harness.start_postgres()
    except pg_harness.PostgresUnavailable as exc:
        pytest.fail(f"the real-PostgreSQL tests need a PostgreSQL server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        pg_harness.stop_postgres()


def _sql_cases() -> list[Path]:
    out = []
    rules_dir = FIXTURES / "rules"
    for rid in SQL_RULES:
        d = rules_dir / rid
        if not d.is_dir():
            continue
        for case in sorted(d.iterdir()):
            if case.is_dir() and any(case.rglob("*.sql")):
                out.append(case)
    return out


def _plan(case: Path):
    """(database name, [(sql path, dkscan error or None)] in init order) for a fixture stack."""
    from rules._sql import init_order

    stack = build_stack([case], Policy(), root=case)
    errors = {}
    for p in stack.problems:
        if p.rule == "OPS081" and p.location.path.endswith(".sql"):
            errors.setdefault(p.location.path, f"{p.location.start_line}: {p.message}")
    docs = init_order(stack)
    seen = {d.path for d in docs}
    extra = sorted(str(p.relative_to(case)) for p in case.rglob("*.sql") if str(p.relative_to(case)) not in seen)
    order = [d.path for d in docs] + extra
    db = "fixture"
    for svc in stack.services_by_role("postgres"):
        env = stack.service_env(svc)
        db = (env.get("POSTGRES_DB") or env.get("POSTGRES_USER") or ("fixture",))[0] or "fixture"
    return db, [(case / rel, errors.get(rel)) for rel in order]


CASES = _sql_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_sql_fixture_agrees_with_postgres(pg, case):
    db, files = _plan(case)
    pg_harness.reset_cluster(create=db)  # whatever the previous test left, then an empty database
    for path, dk_error in files:
        ok, out = pg_harness.apply_sql(db, path)
        rel = path.relative_to(FIXTURES)
        if dk_error is None:
            assert ok, f"dkscan parses {rel} but PostgreSQL rejects it:\n{out}"
        else:
            assert not ok, f"dkscan reports {rel} unparseable ({dk_error}) but PostgreSQL accepts it"
            break


def _bundled(name: str) -> Path:
    path = FIXTURES / name / "init-db.sql"
    if not path.exists():
        pytest.fail(f"fixtures/{name}/init-db.sql is missing", pytrace=False)
    return path


def _stack_db(name: str) -> str:
    db, _files = _plan(FIXTURES / name)
    return db


@pytest.mark.parametrize("name", ["studios-dk", "studios-dk-compliant"])
def test_bundled_init_script_applies(pg, name):
    path = _bundled(name)
    db = _stack_db(name)
    pg_harness.reset_cluster(create=db)
    ok, out = pg_harness.apply_sql(db, path)
    assert ok, f"fixtures/{name}/init-db.sql does not apply:\n{out}"


def test_compliant_rls_isolates_users(pg):
    """Connected as the compliant stack's app role, each user sees and writes only its own rows."""
    from rules._sql import app_users

    root = FIXTURES / "studios-dk-compliant"
    path = _bundled("studios-dk-compliant")
    stack = build_stack([root], Policy(), root=root)
    users = app_users(stack)
    assert users, "the compliant stack names no app DB user (DATABASE_URL)"
    app = users[0].name
    db = _stack_db("studios-dk-compliant")
    pg_harness.reset_cluster(create=db)
    ok, out = pg_harness.apply_sql(db, path)
    assert ok, out
    a, b = str(uuid.uuid4()), str(uuid.uuid4())

    def as_app(user_id: str | None, sql: str) -> tuple[bool, str]:
        setting = f"SET app.current_user_id = '{user_id}';\n" if user_id else ""
        return pg_harness.psql(db, setting + sql, user=app)

    for uid, name in ((a, "alice"), (b, "bob")):
        ok, out = as_app(uid, f"INSERT INTO users (id, email, username, password_hash) VALUES ('{uid}', '{name}@example.test', '{name}', 'x');\n"
                              f"INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ('{uid}', '\\x01{name.encode().hex()}', now() + interval '1 hour');")
        assert ok, f"{app} cannot create its own rows: {out}"

    ok, out = as_app(a, "SELECT user_id FROM sessions;")
    assert ok and out.split() == [a], f"user A sees sessions {out!r}, expected only its own"
    ok, out = as_app(b, "SELECT username FROM users;")
    assert ok and out.split() == ["bob"], f"user B sees users {out!r}, expected only bob"
    ok, out = as_app(None, "SELECT count(*) FROM sessions;")
    assert ok and out.strip() == "0", f"without app.current_user_id the app sees {out!r} sessions"
    ok, out = as_app(a, f"INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ('{b}', '\\xff', now());")
    assert not ok and "row-level security" in out, f"user A could write a session for user B: {out!r}"
    ok, out = as_app(a, f"UPDATE sessions SET user_id = '{b}';")
    assert not ok and "row-level security" in out, f"user A could move its session to user B: {out!r}"
    # the superuser sees both: the rows exist, the app just cannot see them
    ok, out = pg_harness.psql(db, "SELECT count(*) FROM sessions;")
    assert ok and out.strip() == "2", out
    # audit rows are append-only, even for the superuser (trigger), and the app holds no UPDATE
    ok, out = as_app(a, "UPDATE audit_logs SET entity_type = 'x';")
    assert not ok, f"the app could update audit rows: {out!r}"
    ok, out = pg_harness.psql(db, "DELETE FROM audit_logs;")
    assert not ok and "append-only" in out, f"audit rows could be deleted: {out!r}"

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
    from rules.helpers.sql import init_order

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


def test_there_are_sql_fixtures():
    assert len(CASES) > 30, "the SQL rules' fixtures are missing: nothing would be checked against PostgreSQL"


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
    from rules.helpers.sql import app_users

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


def _fixable_cases() -> list[tuple[str, Path]]:
    from tests.ruletest import load_expected

    out = []
    for rid in SQL_RULES:
        d = FIXTURES / "rules" / rid
        for case in sorted(d.glob("bad*")) if d.is_dir() else ():
            spec = load_expected(case)
            if case.is_dir() and not spec.get("git_add") and not spec.get("policy"):
                out.append((rid, case))
    return out


FIXABLE = _fixable_cases()


@pytest.mark.parametrize("rule_id,case", FIXABLE, ids=[f"{r}/{c.name}" for r, c in FIXABLE])
def test_fixes_silence_the_rule_and_keep_the_sql_valid(pg, rule_id, case, tmp_path):
    """Every Fix of a SQL rule applies as text to its bad fixture, removes the finding, and leaves
    SQL that PostgreSQL accepts."""
    import shutil

    from scanner.engine import audit
    from scanner.fix.apply import apply_edits

    work = tmp_path / case.name
    shutil.copytree(case, work)
    (work / "expected.json").unlink(missing_ok=True)
    fixed_any = False
    for _ in range(4):  # fixes inserting at one point apply one per pass
        result = audit([work], Policy(), select=[rule_id], root=work)
        fixes = [f.fix for f in result.findings if f.rule == rule_id and f.fix is not None]
        if not fixes:
            break
        fixed_any = True
        by_file: dict[str, list] = {}
        for fix in fixes:
            for path in {e.location.path for e in fix.edits}:
                if fix not in by_file.setdefault(path, []):
                    by_file[path].append(fix)
        for path, file_fixes in by_file.items():
            text = (work / path).read_text()
            new, applied = apply_edits(text, file_fixes)
            assert applied, f"no fix of {rule_id} applies to {path}"
            (work / path).write_text(new)
    else:
        pytest.fail(f"{rule_id} keeps offering fixes after 4 passes")
    changed_sql = any(p.read_text() != (case / p.relative_to(work)).read_text() for p in work.rglob("*.sql"))
    if not fixed_any:
        return
    result = audit([work], Policy(), select=[rule_id, "OPS081"], root=work)
    assert not [f for f in result.findings if f.rule == "OPS081"], [f.message for f in result.findings]
    db, files = _plan(work)
    if not changed_sql:
        return  # the fixes edited compose/env only
    pg_harness.reset_cluster(create=db)
    for path, _err in files:
        ok, out = pg_harness.apply_sql(db, path)
        assert ok, f"{rule_id}'s fix leaves {path.name} unacceptable to PostgreSQL:\n{out}\n---\n{path.read_text()}"

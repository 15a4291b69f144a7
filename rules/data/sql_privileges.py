"""Data, PostgreSQL privileges family: the app's role, superusers, BYPASSRLS, grants to PUBLIC."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers import sql as _sql
from rules.helpers.sql import (
    app_role_names,
    app_users,
    fix_after,
    init_user,
    lines_of,
    loc_at,
    pg_ast,
    pg_major,
    postgres_service,
    postgres_user,
    quote_ident,
    sql_model,
    stmt_loc,
    table_owner,
)
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def _related_pg(stack: Stack) -> list[Location]:
    svc = postgres_service(stack)
    return [Location(svc.doc.path, svc.key.line, svc.key.col)] if svc is not None else []


@rule("DATA043", "app-db-superuser", "high", files="env+compose+sql", refs="CWE-250; CIS-PG 4.3")
def app_db_superuser(stack: Stack):
    """The app connects to PostgreSQL as the image's superuser.

    ## What it does
    Flags an app service whose DB user (`DATABASE_URL`, `DB_USER`, `PGUSER`, …) is the postgres
    service's `POSTGRES_USER` (default `postgres`), which the official image creates as superuser
    and which owns everything the init scripts create. Roles made superuser (or `BYPASSRLS`) in
    SQL are DATA049/DATA048.

    ## Why is this bad?
    A superuser ignores row-level security, grants, `REVOKE`s and audit-table protections, can read
    files on the server (`COPY … FROM PROGRAM`): one SQL injection in the app is the whole database
    and a shell in the container.

    ## Example
    ```env
    DATABASE_URL=postgres://postgres:…@db:5432/app
    ```

    ## Use instead
    Create a `NOLOGIN` owner role for the schema and a login role for the app with only the grants
    it needs (`SELECT, INSERT, UPDATE, DELETE` on its tables), and connect as that role.

    ## Fix safety
    Manual.

    ## References
    CWE-250; CIS PostgreSQL Benchmark 4.3.
    """
    for u in app_users(stack):
        svc = _sql.user_server(stack, u)
        su, su_loc = postgres_user(stack, svc)
        if svc is None and u.name != "postgres":
            continue
        if u.name != su and not u.via_superuser_ref:
            continue
        related = [su_loc] if su_loc is not None else []
        how = "POSTGRES_USER" if (svc is not None and su != "postgres") or u.via_superuser_ref else "the default POSTGRES_USER"
        yield hit(u.loc,
                  f"service '{u.svc.name}' connects as '{u.name}' ({u.key}), {how} of the postgres image: a superuser that bypasses RLS, grants and audit protections",
                  related=related, snippet_key=f"{u.svc.name}:{u.key}")


# ---------------------------------------------------------------------------------------------
# DATA048 - DATA053: roles and privileges
# ---------------------------------------------------------------------------------------------


@rule("DATA048", "bypassrls-role", "high", files="sql", refs="CWE-269; CIS-PG 4.7")
def bypassrls_role(stack: Stack):
    """A role is given BYPASSRLS.

    ## What it does
    Flags `CREATE ROLE`/`ALTER ROLE … BYPASSRLS` (when no later `NOBYPASSRLS` takes it back).

    ## Why is this bad?
    Such a role ignores every row-level security policy. If the app (or anything reachable from
    it) logs in with it, tenant isolation is gone.

    ## Example
    ```sql
    CREATE ROLE app LOGIN BYPASSRLS;
    ```

    ## Use instead
    Give no role `BYPASSRLS` except a dedicated, non-login maintenance role used by an operator;
    backups with `pg_dump` can use `--enable-row-security` or a superuser.

    ## Fix safety
    Manual.

    ## References
    CWE-269; CIS PostgreSQL Benchmark 4.7.
    """
    model = sql_model(stack)
    for r in model.roles.values():
        if r.has("bypassrls"):
            where = r.attr_locs.get("bypassrls") or stmt_loc(*r.stmts[-1])
            yield hit(where, f"role '{r.name}' has BYPASSRLS: it ignores every row-level security policy", snippet_key=r.name)


@rule("DATA049", "privileged-login-role", "high", files="sql", refs="CWE-269; CIS-PG 4.3")
def privileged_login_role(stack: Stack):
    """A login role is superuser or can create roles.

    ## What it does
    Flags a `LOGIN` role (`CREATE USER`, or `CREATE ROLE … LOGIN`) with `SUPERUSER` or `CREATEROLE`;
    `CREATEDB` and `REPLICATION` only when the role is the app's (backup and replica roles need
    them).

    ## Why is this bad?
    A superuser login bypasses every control of the database; `CREATEROLE` can create and grant
    itself roles up to near-superuser power. Credentials that log in are the ones that leak.

    ## Example
    ```sql
    CREATE ROLE admin LOGIN SUPERUSER PASSWORD :'admin_pw';
    ```

    ## Use instead
    Keep `POSTGRES_USER` as the only superuser (used by operators, never by services) and give
    login roles only grants.

    ## Fix safety
    Manual.

    ## References
    CWE-269; CIS PostgreSQL Benchmark 4.3.
    """
    model = sql_model(stack)
    apps = {u.name for u in app_users(stack)}
    for r in model.roles.values():
        if not r.login:
            continue
        attrs = [a for a in ("superuser", "createrole") if r.has(a)]
        if r.name in apps:
            attrs += [a for a in ("createdb", "isreplication") if r.has(a)]
        if not attrs:
            continue
        shown = [a.replace("isreplication", "replication").upper() for a in attrs]
        where = r.attr_locs.get(attrs[0]) or stmt_loc(*r.stmts[-1])
        app = " (the app's DB user)" if r.name in apps else ""
        yield hit(where, f"login role '{r.name}'{app} has {', '.join(shown)}", snippet_key=r.name)


def _public_spec_loc(g, grantee_name: str = "public") -> Location | None:
    ast = pg_ast()
    node = g.node.action if isinstance(g.node, ast.AlterDefaultPrivilegesStmt) else g.node
    for spec in getattr(node, "grantees", None) or ():
        if _sql.role_name(spec) == grantee_name and getattr(spec, "location", -1) is not None and spec.location >= 0:
            start = g.stmt.base + spec.location
            return loc_at(g.doc, start, start + len("PUBLIC"))
    return None


@rule("DATA050", "grant-to-public", "high", files="sql", refs="CWE-732; CIS-PG 4.6", fix="unsafe")
def grant_to_public(stack: Stack):
    """Table, sequence or function privileges are granted to PUBLIC.

    ## What it does
    Flags `GRANT … TO PUBLIC` and `ALTER DEFAULT PRIVILEGES … GRANT … TO PUBLIC` on tables,
    sequences and functions (one object, `ALL … IN SCHEMA`, or future objects).

    ## Why is this bad?
    `PUBLIC` is every role, present and future: the app, replicas, exporters, anyone a later
    script creates. Data access stops being a decision per role.

    ## Example
    ```sql
    GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO PUBLIC;
    ```

    ## Use instead
    ```sql
    GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO app;
    ```

    ## Fix safety
    Unsafe: other roles that relied on the PUBLIC grant lose access; the fix names the app's role.

    ## References
    CWE-732; CIS PostgreSQL Benchmark 4.6.
    """
    model = sql_model(stack)
    apps = sorted(app_role_names(stack))
    for g in model.grants:
        if not g.is_grant or "public" not in g.grantees:
            continue
        if g.objtype not in ("table", "sequence", "function", "procedure", "routine"):
            continue
        fix = None
        span = _public_spec_loc(g)
        if span is not None and len(apps) == 1:
            fix = Fix(f"grant to '{apps[0]}' instead of PUBLIC", (Edit(span, quote_ident(apps[0])),))
        what = _grant_what(g)
        yield hit(span or g.loc, f"GRANT {', '.join(sorted(p.upper() for p in g.privs))} on {what} TO PUBLIC: every role gets it",
                  fix=fix, snippet_key=f"{g.objtype}:{what}")


def _grant_what(g) -> str:
    names = [o if isinstance(o, str) else o[1] for o in g.objects]
    if g.target == "all_in_schema":
        return f"ALL {g.objtype.upper()}S IN SCHEMA {', '.join(names)}"
    if g.target == "defaults":
        return f"future {g.objtype}s (ALTER DEFAULT PRIVILEGES)"
    return ", ".join(names)


def _delete_stmt_edit(doc, stmt) -> Edit:
    end = _sql.stmt_end(doc, stmt)
    text = doc.text
    if end < len(text) and text[end] == "\n":
        end += 1
    start_line, start_col = lines_of(doc).pos(stmt.offset)
    end_line, end_col = lines_of(doc).pos(end)
    return Edit(Location(doc.path, start_line, start_col, end_line, end_col), "")


@rule("DATA051", "public-schema-create", "high", files="sql", refs="CWE-732; CIS-PG 4.10", fix="unsafe")
def public_schema_create(stack: Stack):
    """Every role may create objects in the public schema.

    ## What it does
    Flags `GRANT CREATE` (or `ALL`) `ON SCHEMA public TO PUBLIC`, which undoes PostgreSQL 15's fix
    for CVE-2018-1058; and, for a postgres image older than 15, init SQL that never runs
    `REVOKE CREATE ON SCHEMA public FROM PUBLIC`.

    ## Why is this bad?
    A role that can create in a schema on other roles' `search_path` can plant a function or
    operator with the name of a built-in (`lower(text)`, `=`) that runs with the privileges of
    whoever calls it — the classic path from the app role to superuser.

    ## Example
    ```sql
    GRANT CREATE ON SCHEMA public TO PUBLIC;
    ```

    ## Use instead
    ```sql
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    ```

    ## Fix safety
    Unsafe: roles that created objects in `public` can no longer do so.

    ## References
    CWE-732; CVE-2018-1058; CIS PostgreSQL Benchmark 4.10.
    """
    model = sql_model(stack)
    revoked = False
    for g in model.grants:
        if g.objtype != "schema" or "public" not in g.objects or "public" not in g.grantees:
            continue
        if not ({"create", "all"} & g.privs):
            continue
        if g.is_grant:
            revoked = False
            fix = None if getattr(g.stmt, "replayed", False) else Fix("delete the GRANT", (_delete_stmt_edit(g.doc, g.stmt),))
            yield hit(g.loc, "GRANT CREATE ON SCHEMA public TO PUBLIC: every role can plant objects other roles resolve (CVE-2018-1058)",
                      fix=fix, snippet_key="grant-create-public")
        else:
            revoked = True
    major = pg_major(stack)
    if major is not None and major < 15 and not revoked and model.stmts:
        doc, stmt, _ = model.stmts[0]
        svc = postgres_service(stack)
        related = [Location(svc.doc.path, svc.get("image").line, svc.get("image").col)] if svc is not None and svc.get("image") is not None else _related_pg(stack)
        yield hit(stmt_loc(doc, stmt),
                  f"postgres {major} lets every role create in schema public and the init SQL never runs REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                  related=related, snippet_key="missing-revoke-create-public")


def _login_roles(stack: Stack) -> set[str]:
    model = sql_model(stack)
    out = {u.name for u in app_users(stack)}
    out |= {r.name for r in model.roles.values() if r.login}
    return out


@rule("DATA052", "grant-all-app-role", "medium", files="sql", refs="CWE-269; CIS-PG 4.6")
def grant_all_app_role(stack: Stack):
    """ALL privileges on tables are granted to a login role that does not own them.

    ## What it does
    Flags `GRANT ALL [PRIVILEGES]` on tables, `ALL TABLES IN SCHEMA` or future tables (`ALTER
    DEFAULT PRIVILEGES`) to a login role (the app's DB user or a `LOGIN` role of the script) that
    is not their owner.

    ## Why is this bad?
    `ALL` includes `TRUNCATE`, `REFERENCES` and `TRIGGER`: the app can empty the audit log in one
    statement or attach a trigger that runs code on every write. Least privilege is `SELECT,
    INSERT, UPDATE, DELETE` where each is needed.

    ## Example
    ```sql
    GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
    ```

    ## Use instead
    ```sql
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app;
    REVOKE UPDATE, DELETE ON audit_log FROM app;
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-269; CIS PostgreSQL Benchmark 4.6.
    """
    model = sql_model(stack)
    logins = _login_roles(stack)
    for g in model.grants:
        if not g.is_grant or "all" not in g.privs or g.objtype != "table":
            continue
        targets = [r for r in g.grantees if r in logins]
        if not targets:
            continue
        if g.target == "object":
            tables = [model.table(o) for o in g.objects if isinstance(o, tuple)]
        elif g.target == "all_in_schema":
            tables = [t for t in model.tables.values() if t.schema in g.objects and t.order < g.order]
        else:
            tables = []
        for role in targets:
            if tables and all(t is not None and table_owner(stack, t) == role for t in tables):
                continue
            what = _grant_what(g)
            yield hit(g.loc, f"GRANT ALL on {what} to login role '{role}', which does not own them: includes TRUNCATE, TRIGGER and REFERENCES",
                      snippet_key=f"{role}:{what}")


def _revoked_execute(stack: Stack, f) -> bool:
    model = sql_model(stack)
    creator = f.owner or init_user(stack)
    for g in model.grants:
        if g.is_grant or "public" not in g.grantees or not ({"execute", "all"} & g.privs):
            continue
        if g.objtype not in ("function", "procedure", "routine"):
            continue
        if g.target == "object" and g.order > f.order and f.name in g.objects:
            return True
        if g.target == "all_in_schema" and g.order > f.order and f.schema in g.objects:
            return True
        if g.target == "defaults" and g.order < f.order and not g.default_schemas:
            if not g.default_roles or creator in g.default_roles:
                return True
    return False


@rule("DATA053", "definer-public-execute", "medium", files="sql", refs="CWE-732; CIS-PG 4.5", fix="safe")
def definer_public_execute(stack: Stack):
    """A SECURITY DEFINER function stays executable by every role.

    ## What it does
    Flags a `SECURITY DEFINER` function or procedure with no later `REVOKE EXECUTE … FROM PUBLIC`
    (on it, or on `ALL FUNCTIONS IN SCHEMA`) and no earlier `ALTER DEFAULT PRIVILEGES REVOKE
    EXECUTE ON FUNCTIONS FROM PUBLIC` (schema-wide defaults cannot revoke the global grant, so
    `… IN SCHEMA …` does not count).

    ## Why is this bad?
    PostgreSQL grants `EXECUTE` on new functions to `PUBLIC`. A definer function runs with its
    owner's rights — usually the superuser that ran the init scripts — so every role can call the
    privileged code path.

    ## Example
    ```sql
    CREATE FUNCTION purge_user(uid bigint) RETURNS void LANGUAGE sql SECURITY DEFINER
      SET search_path = public, pg_temp AS $$ DELETE FROM users WHERE id = uid $$;
    ```

    ## Use instead
    ```sql
    REVOKE EXECUTE ON FUNCTION purge_user(bigint) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION purge_user(bigint) TO admin_api;
    ```

    ## Fix safety
    Safe: the function keeps working for its owner and for roles granted `EXECUTE` explicitly.

    ## References
    CWE-732; CIS PostgreSQL Benchmark 4.5; PostgreSQL documentation, Writing SECURITY DEFINER
    Functions Safely.
    """
    model = sql_model(stack)
    for f in model.functions:
        if f.is_do or not f.definer or _revoked_execute(stack, f):
            continue
        kind = "PROCEDURE" if getattr(f.stmt.node, "is_procedure", False) else "FUNCTION"
        name = quote_ident(f.name) if f.schema in ("public", "") else f"{quote_ident(f.schema)}.{quote_ident(f.name)}"
        fix = fix_after("revoke EXECUTE from PUBLIC", f.doc, f.stmt, f"REVOKE EXECUTE ON {kind} {name}({', '.join(f.argtypes)}) FROM PUBLIC;")
        yield hit(f.loc, f"SECURITY DEFINER {kind.lower()} {f.label} is executable by PUBLIC (no REVOKE EXECUTE … FROM PUBLIC)",
                  fix=fix, snippet_key=f.label)

"""Data: PostgreSQL init scripts — row-level security, roles and grants, password storage, audit
tables — and the compose/env settings around the database (superuser app, SCRAM, TLS)."""

from __future__ import annotations

import re

from scanner.model import UNSAFE, Edit, Fix, Location, hit
from scanner.registry import rule

from . import _sql
from ._sql import (
    OWNER_COLUMNS,
    STRING_TYPES,
    app_role_names,
    app_users,
    column_names,
    const_value,
    deparse,
    ename,
    find_literal,
    fix_after,
    func_name,
    lines_of,
    loc_at,
    pg_ast,
    pg_major,
    pg_settings,
    postgres_service,
    postgres_user,
    quote_ident,
    sql_model,
    stmt_loc,
    superusers,
    tokens,
    unit_loc,
    walk,
)
from ._util import LazyRe

# ---------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------

AUDIT_RE = re.compile(r"(^|_)audits?($|_)")
PASSWORD_RE = LazyRe(r"(password|passwd|passphrase|pwd|(^|_)pass($|_)|(^|_)pw($|_))")
ADMIN_TABLE_RE = re.compile(r"^(\w+_)?(users?|admins?|accounts?|administrators?)$")
ADMIN_ROLE_COLS = {"role", "user_role", "role_name", "account_type", "user_type", "type", "level"}
ADMIN_FLAG_COLS = {"is_admin", "admin", "is_superuser", "is_superadmin", "superuser", "is_super_admin", "is_root"}
ADMIN_VALUES = {"admin", "superadmin", "super_admin", "super-admin", "administrator", "root", "superuser"}
TOKEN_TABLE_RE = re.compile(r"^(\w+_)?(api_?keys?|apikeys|sessions?|tokens?|password_resets?|password_reset_tokens?|\w+_tokens?)$")
TOKEN_COL_RE = re.compile(r"^(key|token|secret|api_key|apikey|\w+_token|\w+_secret|\w+_key)$")
TOKEN_COL_EXEMPT = re.compile(r"(_hash|_digest|_id|_prefix|_type|_name|_hint|_last4|_preview|public_key|_url)$")
SECRET_COL_RE = re.compile(
    r"^(totp_secret|mfa_secret|otp_secret|two_factor_secret|2fa_secret|tfa_secret|webhook_secret|\w+_webhook_secret|"
    r"ssn|social_security(_number)?|card_number|credit_card(_number)?|cc_number|cvv|cvc|iban|bank_account(_number)?|"
    r"tax_id|national_id|passport_number|\w+_secret)$")
SECRET_COL_EXEMPT = re.compile(r"(_enc|_encrypted|_hash|_digest|_ciphertext|_id)$")
BCRYPT_RE = re.compile(r"^\$2[abxy]?\$(\d\d)\$")
ENCRYPT_FUNCS = {"pgp_sym_encrypt", "pgp_pub_encrypt", "pgp_sym_encrypt_bytea", "pgp_pub_encrypt_bytea", "encrypt", "encrypt_iv"}
ALL_TABLE_PRIVS = {"select", "insert", "update", "delete", "truncate", "references", "trigger"}


def _init_user(stack) -> str:
    return postgres_user(stack)[0]


def _owner(stack, t) -> str:
    return t.owner or _init_user(stack)


def _related_pg(stack) -> list[Location]:
    svc = postgres_service(stack)
    return [Location(svc.doc.path, svc.key.line, svc.key.col)] if svc is not None else []


def _tables_named(model, pattern) -> list:
    return [t for t in model.tables.values() if pattern.search(t.name)]


def _expand(privs: set[str]) -> set[str]:
    return set(ALL_TABLE_PRIVS) if "all" in privs else set(privs)


def table_privileges(stack, t, grantee: str) -> dict[str, object]:
    """Table privileges ``grantee`` holds on ``t`` after the init scripts: priv -> the Grant that
    gave it. Replays GRANT/REVOKE on the table, ``ALL TABLES IN SCHEMA`` (tables existing then) and
    ``ALTER DEFAULT PRIVILEGES`` (tables created later by the role it is for)."""
    model = sql_model(stack)
    held: dict[str, object] = {}
    creator = t.owner if not t.owner_explicit else None
    creator = creator or _init_user(stack)
    for g in model.grants:
        if g.objtype != "table" or grantee not in g.grantees:
            continue
        applies = False
        if g.target == "object":
            applies = t.key in g.objects or any(o == t.key[1] for o in g.objects if isinstance(o, str))
            applies = applies and g.order > t.order
        elif g.target == "all_in_schema":
            applies = t.schema in g.objects and g.order > t.order
        elif g.target == "defaults":
            schemas_ok = not g.default_schemas or t.schema in g.default_schemas
            roles_ok = not g.default_roles or creator in g.default_roles
            applies = schemas_ok and roles_ok and g.order < t.order
        if not applies:
            continue
        for p in _expand(g.privs):
            if g.is_grant:
                held[p] = g
            else:
                held.pop(p, None)
    return held


def _in_stmt(loc: Location, doc, stmt) -> bool:
    return loc.path == doc.path and stmt.line <= loc.start_line <= stmt.end_line


# ---------------------------------------------------------------------------------------------
# DATA040 - DATA046: row-level security
# ---------------------------------------------------------------------------------------------


@rule("DATA040", "table-without-rls", "medium", files="sql", refs="CWE-862; CIS-PG 4.7", fix="unsafe")
def table_without_rls(stack):
    """A table with a tenant or owner column never gets row-level security.

    ## What it does
    Flags a table with a `user_id`, `tenant_id`, `owner_id`, `org_id` or `account_id` column whose
    row-level security is never enabled (or is disabled again), when the init SQL enables RLS on
    some other table (the schema relies on RLS for isolation) or the policy key `data.require_rls`
    is true. The finding points at the `CREATE TABLE`.

    ## Why is this bad?
    Where isolation between users or tenants is done by RLS, a table left out of it is readable
    and writable across tenants by the very role the policies restrict: one forgotten `WHERE`
    in the application leaks every tenant's rows.

    ## Example
    ```sql
    CREATE TABLE invoices (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, total numeric);
    -- documents has RLS, invoices has none
    ```

    ## Use instead
    ```sql
    ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
    ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
    CREATE POLICY invoices_tenant ON invoices
      USING (tenant_id = current_setting('app.tenant_id')::uuid);
    ```

    ## Fix safety
    Unsafe: with RLS enabled and no policy the table denies every row to non-owners until a policy
    is written (default deny).

    ## References
    CWE-862; CIS PostgreSQL Benchmark 4.7; PostgreSQL documentation, Row Security Policies.
    """
    model = sql_model(stack)
    required = bool(stack.policy.get("data.require_rls", False))
    if not (required or model.rls_used):
        return
    for t in model.tables.values():
        if t.external or t.rls:
            continue
        cols = t.owner_columns()
        if not cols:
            continue
        disabled = t.last_event("DISABLE")
        why = "RLS is disabled again" if disabled else "RLS is never enabled"
        reason = "data.require_rls is set" if required and not model.rls_used else "the script uses RLS on other tables"
        name = quote_ident(t.name) if t.schema == "public" else f"{quote_ident(t.schema)}.{quote_ident(t.name)}"
        after = (disabled[1], disabled[2]) if disabled else (t.doc, t.stmt)
        fix = fix_after("enable and force row-level security", *after,
                        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {name} FORCE ROW LEVEL SECURITY;", UNSAFE)
        yield hit(t.loc, f"table '{t.qname}' has {', '.join(cols)} but {why} ({reason}): rows are shared across tenants",
                  fix=fix, snippet_key=f"{t.qname}")


def _owner_nologin(model, owner: str) -> bool:
    r = model.roles.get(owner)
    return r is not None and r.created and not r.login


def _rls_owner_bypass(stack):
    """(table, event, owner, is_app) for tables with RLS enabled and not forced."""
    model = sql_model(stack)
    apps = {u.name for u in app_users(stack)}
    supers = superusers(stack)
    out = []
    for t in model.tables.values():
        if not t.rls or t.forced:
            continue
        ev = t.last_event("NOFORCE", "ENABLE")
        if ev is None:
            continue
        owner = _owner(stack, t)
        is_app = owner in apps and owner not in supers
        out.append((t, ev, owner, is_app))
    return out


def _force_fix(t, ev) -> Fix:
    name = quote_ident(t.name) if t.schema == "public" else f"{quote_ident(t.schema)}.{quote_ident(t.name)}"
    return fix_after("force row-level security for the table owner", ev[1], ev[2], f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY;")


@rule("DATA041", "rls-not-forced", "low", files="sql", refs="CWE-862", fix="safe")
def rls_not_forced(stack):
    """Row-level security is enabled but not forced: the table owner bypasses the policies.

    ## What it does
    Flags `ALTER TABLE … ENABLE ROW LEVEL SECURITY` without `FORCE ROW LEVEL SECURITY` (or a later
    `NO FORCE`). Silent where DATA042 reports the same table (the owner is the app) and where the
    owner is a `NOLOGIN` role nobody connects as.

    ## Why is this bad?
    Policies do not apply to the table's owner unless RLS is forced. Whoever connects as the owner
    — a migration tool, a maintenance script, tomorrow's app configuration — sees every tenant.

    ## Example
    ```sql
    ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
    ```

    ## Use instead
    ```sql
    ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
    ALTER TABLE documents FORCE ROW LEVEL SECURITY;
    ```

    ## Fix safety
    Safe: only the owner's access changes, and it now follows the same policies.

    ## References
    CWE-862; PostgreSQL documentation, ALTER TABLE … FORCE ROW LEVEL SECURITY.
    """
    model = sql_model(stack)
    for t, ev, owner, is_app in _rls_owner_bypass(stack):
        if is_app or _owner_nologin(model, owner):
            continue
        what = "NO FORCE" if ev[0] == "NOFORCE" else "ENABLE without FORCE"
        yield hit(stmt_loc(ev[1], ev[2]),
                  f"table '{t.qname}': row-level security {what}: its owner '{owner}' bypasses the policies",
                  fix=_force_fix(t, ev), snippet_key=t.qname)


@rule("DATA042", "rls-bypassed-by-owner-app", "high", files="sql+env+compose", refs="CWE-862", fix="safe")
def rls_bypassed_by_owner_app(stack):
    """The app connects as the owner of an RLS table that is not forced: its policies never apply.

    ## What it does
    DATA041 on a table owned by the app's DB user (from `DATABASE_URL`, `DB_USER` or `PGUSER` in
    the app's environment) when that user is not a superuser: RLS is enabled but not forced, so the
    owner — the app itself — bypasses every policy. Replaces DATA041 for that table.

    ## Why is this bad?
    The tenant isolation the policies describe does not exist at runtime: every query the app
    makes sees and changes every tenant's rows.

    ## Example
    ```sql
    CREATE TABLE documents (…, tenant_id uuid);
    ALTER TABLE documents OWNER TO app;       -- DATABASE_URL=postgres://app:…@db/app
    ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
    ```

    ## Use instead
    Force RLS (`ALTER TABLE documents FORCE ROW LEVEL SECURITY;`), and better, let a `NOLOGIN` role
    own the tables while the app logs in as a role that only has grants.

    ## Fix safety
    Safe: the app's queries now follow the policies it was written for.

    ## References
    CWE-862; PostgreSQL documentation, Row Security Policies.
    """
    for t, ev, owner, is_app in _rls_owner_bypass(stack):
        if not is_app:
            continue
        user = next((u for u in app_users(stack) if u.name == owner), None)
        related = [user.loc] if user else []
        yield hit(stmt_loc(ev[1], ev[2]),
                  f"table '{t.qname}' is owned by the app's DB user '{owner}' and RLS is not forced: the app bypasses its policies",
                  fix=_force_fix(t, ev), related=related, snippet_key=t.qname)


@rule("DATA043", "app-db-superuser", "high", files="env+compose+sql", refs="CWE-250; CIS-PG 4.3")
def app_db_superuser(stack):
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


def _enable_fix(model, p) -> Fix | None:
    t = model.table(p.table)
    schema, name = p.table
    q = quote_ident(name) if schema == "public" else f"{quote_ident(schema)}.{quote_ident(name)}"
    del t
    return fix_after("enable row-level security", p.doc, p.stmt, f"ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;", UNSAFE)


@rule("DATA044", "policy-without-rls", "high", files="sql", refs="CWE-862", fix="unsafe")
def policy_without_rls(stack):
    """A policy is created on a table whose row-level security is off: it does nothing.

    ## What it does
    Flags `CREATE POLICY` on a table that never gets `ENABLE ROW LEVEL SECURITY` (at the policy), or
    whose RLS is disabled again later (at the `DISABLE`).

    ## Why is this bad?
    Policies are only consulted when RLS is enabled on the table. The script reads as if rows were
    isolated; at runtime every role with a grant sees every row.

    ## Example
    ```sql
    CREATE POLICY own_rows ON documents USING (owner_id = current_setting('app.user_id')::int);
    -- no ALTER TABLE documents ENABLE ROW LEVEL SECURITY
    ```

    ## Use instead
    ```sql
    ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
    ALTER TABLE documents FORCE ROW LEVEL SECURITY;
    ```

    ## Fix safety
    Unsafe: enabling RLS applies every policy of the table at once, and denies rows to roles no
    policy covers.

    ## References
    CWE-862; PostgreSQL documentation, CREATE POLICY.
    """
    model = sql_model(stack)
    fixed: set = set()
    reported_disable: set = set()
    for p in model.policies:
        t = model.table(p.table)
        if t is not None and t.rls:
            continue
        disabled = t.last_event("DISABLE") if t is not None else None
        if disabled is not None:
            if t.key in reported_disable:
                continue
            reported_disable.add(t.key)
            yield hit(stmt_loc(disabled[1], disabled[2]),
                      f"row-level security on '{t.qname}' is disabled after its policies were written: policy '{p.name}' and the others do nothing",
                      fix=fix_after("enable row-level security again", disabled[1], disabled[2],
                                    f"ALTER TABLE {quote_ident(t.name)} ENABLE ROW LEVEL SECURITY;", UNSAFE),
                      snippet_key=f"{t.qname}:disable")
            continue
        fix = None
        if p.table not in fixed:
            fixed.add(p.table)
            fix = _enable_fix(model, p)
        yield hit(p.loc, f"policy '{p.name}' on '{p.table[1]}', but row-level security is never enabled on that table: the policy does nothing",
                  fix=fix, snippet_key=f"{p.table[1]}:{p.name}")


def always_true(node) -> bool:
    """A constant-true expression: ``true``, ``'t'::bool``, ``1 = 1``, ``NOT false``, ``x OR true``."""
    ast = pg_ast()
    if node is None:
        return False
    if isinstance(node, (ast.A_Const, ast.TypeCast)):
        return const_value(node) is True
    if isinstance(node, ast.A_Expr) and ename(node.kind) == "AEXPR_OP":
        op = (_sql.name_parts(node.name) or [""])[-1]
        if op == "=" and _sql.is_const(node.lexpr) and _sql.is_const(node.rexpr):
            return const_value(node.lexpr) == const_value(node.rexpr)
        return False
    if isinstance(node, ast.BoolExpr):
        kind = ename(node.boolop)
        args = list(node.args or ())
        if kind == "OR_EXPR":
            return any(always_true(a) for a in args)
        if kind == "AND_EXPR":
            return bool(args) and all(always_true(a) for a in args)
        if kind == "NOT_EXPR" and args:
            a = args[0]
            return _sql.is_const(a) and const_value(a) is False
    return False


@rule("DATA045", "policy-always-true", "high", files="sql", refs="CWE-863")
def policy_always_true(stack):
    """A permissive policy lets everyone (or the app) see or write every row.

    ## What it does
    Flags a permissive policy whose `USING` or `WITH CHECK` is constant true (`true`, `1 = 1`,
    `'t'::bool`, `… OR true`) and whose roles are `PUBLIC` (no `TO` clause) or the app's role.
    `FOR SELECT` policies on tables without owner/tenant columns (public catalogues) are exempt.

    ## Why is this bad?
    Permissive policies are OR-ed together: one that is always true cancels every other policy of
    the table for the commands it covers.

    ## Example
    ```sql
    CREATE POLICY tenant_rows ON documents USING (tenant_id = current_setting('app.tenant_id')::uuid);
    CREATE POLICY allow_all ON documents USING (true);
    ```

    ## Use instead
    Filter on the owner/tenant column in every permissive policy, or make the extra policy
    `AS RESTRICTIVE` / limit it `TO` an administrative role.

    ## Fix safety
    Manual.

    ## References
    CWE-863; PostgreSQL documentation, CREATE POLICY.
    """
    model = sql_model(stack)
    apps = app_role_names(stack)
    for p in model.policies:
        if not p.permissive:
            continue
        if not (p.public or any(r in apps for r in p.roles)):
            continue
        parts = [f"{name} ({deparse(expr, 60)})" for name, expr in (("USING", p.using), ("WITH CHECK", p.check)) if always_true(expr)]
        if not parts:
            continue
        t = model.table(p.table)
        if p.cmd == "select" and t is not None and not t.owner_columns():
            continue
        who = "PUBLIC" if p.public else ", ".join(r for r in p.roles if r in apps)
        yield hit(p.loc, f"policy '{p.name}' on '{p.table[1]}' (FOR {p.cmd.upper()}, TO {who}): {' and '.join(parts)} is always true, so every row passes",
                  snippet_key=f"{p.table[1]}:{p.name}")


@rule("DATA046", "policy-check-unscoped", "medium", files="sql", refs="CWE-863")
def policy_check_unscoped(stack):
    """A write policy's check ignores the tenant column its read policy filters on.

    ## What it does
    For a table whose `SELECT`/`ALL` policy filters on an owner/tenant column (`tenant_id`,
    `user_id`, …), flags each permissive `INSERT`/`UPDATE`/`ALL` policy whose effective check —
    `WITH CHECK`, else `USING` (PostgreSQL reuses it for `ALL`/`UPDATE`) — does not mention that
    column.

    ## Why is this bad?
    The app can then insert rows into another tenant, or move a row to another tenant with an
    `UPDATE`: the read side is isolated, the write side is not.

    ## Example
    ```sql
    CREATE POLICY read_own ON documents FOR SELECT USING (tenant_id = current_setting('app.tenant_id')::uuid);
    CREATE POLICY write_any ON documents FOR INSERT WITH CHECK (created_at <= now());
    ```

    ## Use instead
    ```sql
    CREATE POLICY write_own ON documents FOR INSERT
      WITH CHECK (tenant_id = current_setting('app.tenant_id')::uuid);
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-863; PostgreSQL documentation, Policies Applied by Command Type.
    """
    model = sql_model(stack)
    by_table: dict = {}
    for p in model.policies:
        by_table.setdefault(p.table, []).append(p)
    for key, pols in by_table.items():
        scoped: set[str] = set()
        for p in pols:
            if p.permissive and p.cmd in ("select", "all") and p.using is not None:
                scoped |= column_names(p.using) & set(OWNER_COLUMNS)
        if not scoped:
            continue
        for p in pols:
            if not p.permissive or p.cmd not in ("insert", "update", "all"):
                continue
            check = p.effective_check
            cols = column_names(check) if check is not None else set()
            if cols & scoped:
                continue
            what = (f"WITH CHECK ({deparse(p.check, 80)})" if p.check is not None
                    else f"USING ({deparse(check, 80)}), reused as the check," if check is not None else "no WITH CHECK")
            yield hit(p.loc, f"policy '{p.name}' on '{key[1]}' (FOR {p.cmd.upper()}): {what} ignores {', '.join(sorted(scoped))}, which the read policy filters on: rows can be written into another tenant",
                      snippet_key=f"{key[1]}:{p.name}")


# ---------------------------------------------------------------------------------------------
# DATA048 - DATA053: roles and privileges
# ---------------------------------------------------------------------------------------------


@rule("DATA048", "bypassrls-role", "high", files="sql", refs="CWE-269; CIS-PG 4.7")
def bypassrls_role(stack):
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
def privileged_login_role(stack):
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
def grant_to_public(stack):
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
            fix = Fix(f"grant to '{apps[0]}' instead of PUBLIC", (Edit(span, quote_ident(apps[0])),), UNSAFE)
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
def public_schema_create(stack):
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
            fix = None if getattr(g.stmt, "replayed", False) else Fix("delete the GRANT", (_delete_stmt_edit(g.doc, g.stmt),), UNSAFE)
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


def _login_roles(stack) -> set[str]:
    model = sql_model(stack)
    out = {u.name for u in app_users(stack)}
    out |= {r.name for r in model.roles.values() if r.login}
    return out


@rule("DATA052", "grant-all-app-role", "medium", files="sql", refs="CWE-269; CIS-PG 4.6")
def grant_all_app_role(stack):
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
            if tables and all(t is not None and _owner(stack, t) == role for t in tables):
                continue
            what = _grant_what(g)
            yield hit(g.loc, f"GRANT ALL on {what} to login role '{role}', which does not own them: includes TRUNCATE, TRIGGER and REFERENCES",
                      snippet_key=f"{role}:{what}")


def _revoked_execute(stack, f) -> bool:
    model = sql_model(stack)
    creator = f.owner or _init_user(stack)
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
def definer_public_execute(stack):
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


# ---------------------------------------------------------------------------------------------
# DATA055: authentication method and password storage
# ---------------------------------------------------------------------------------------------


def _md5_storage(stack, svc) -> tuple[bool, str]:
    settings = pg_settings(stack, svc)
    pe = settings.get("password_encryption")
    if pe is not None:
        v = pe.value.strip().lower()
        return v in ("md5", "on", "true"), f"password_encryption={pe.value}"
    major = pg_major(stack, svc)
    if major is not None and major < 14:
        return True, f"postgres {major} stores md5 by default"
    model = sql_model(stack)
    if any(kind == "hash" for _r, kind, *_ in model.passwords):
        for _r, kind, doc, stmt, _o, _l in model.passwords:
            if kind == "hash" and "md5" in doc.text[stmt.offset: stmt.offset + len(stmt.text)].lower():
                return True, "role passwords are given as md5 hashes"
    return False, ""


@rule("DATA055", "pg-auth-not-scram", "medium", files="compose/env/sql", refs="CWE-328; CIS-PG 5.4, 5.12", fix="unsafe")
def pg_auth_not_scram(stack):
    """PostgreSQL stores or checks passwords with md5 or in clear text instead of SCRAM.

    ## What it does
    Flags `password_encryption` other than `scram-sha-256` (`-c` in the command,
    `postgresql.conf`, `ALTER SYSTEM`, or a `SET` in the init SQL; PostgreSQL < 14 defaults to md5);
    the `password` authentication method (`POSTGRES_HOST_AUTH_METHOD`, `POSTGRES_INITDB_ARGS
    --auth…`, `pg_hba.conf`); and the `md5` method only where passwords are stored as md5 (the md5
    method uses SCRAM for SCRAM-stored passwords).

    ## Why is this bad?
    An md5 hash is password-equivalent (whoever reads it can log in) and is salted only with the
    user name; `password` sends the password in clear text to the server.

    ## Example
    ```yaml
    command: ["postgres", "-c", "password_encryption=md5"]
    environment:
      POSTGRES_HOST_AUTH_METHOD: password
    ```

    ## Use instead
    `password_encryption=scram-sha-256` (the default since PostgreSQL 14) and
    `POSTGRES_HOST_AUTH_METHOD=scram-sha-256`; reset existing passwords so they are stored as SCRAM.

    ## Fix safety
    Unsafe: clients too old for SCRAM (libpq < 10) can no longer log in, and passwords stored as md5
    keep working only with the `md5` method until they are reset.

    ## References
    CWE-328; CIS PostgreSQL Benchmark 5.4, 5.12; PostgreSQL documentation, Password
    Authentication.
    """
    for svc in stack.services_by_role("postgres"):
        yield from _auth_settings(stack, svc)
    # SET password_encryption in the init SQL (session: the roles created after it store md5)
    model = sql_model(stack)
    ast = pg_ast()
    for doc, stmt, _o in model.stmts:
        node = stmt.node
        setstmt = node if isinstance(node, ast.VariableSetStmt) else getattr(node, "setstmt", None) if isinstance(node, (ast.AlterRoleSetStmt, ast.AlterDatabaseSetStmt)) else None
        if isinstance(setstmt, ast.VariableSetStmt) and setstmt.name == "password_encryption" and setstmt.args:
            v = str(const_value(setstmt.args[0]) or "")
            if v.lower() != "scram-sha-256":
                yield hit(stmt_loc(doc, stmt), f"SET password_encryption = {v}: passwords set after it are stored as md5",
                          snippet_key=f"set-password_encryption:{v}")
    for sf in stack.sources("pg_hba"):
        pg = _sql.sql_server(stack, sf.rel)
        md5, why = _md5_storage(stack, pg) if pg is not None else (False, "")
        for no, line in enumerate(sf.doc.text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if len(words) < 4 or words[0] not in ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"):
                continue
            idx = 3 if words[0] == "local" else 4
            if idx >= len(words):
                continue
            meth = words[idx]
            if meth == "password" or (meth == "md5" and md5):
                col = line.find(meth, line.find(words[idx - 1]) + len(words[idx - 1])) + 1
                yield hit(Location(sf.rel, no, max(col, 1), no, max(col, 1) + len(meth)),
                          f"pg_hba.conf method '{meth}': {'clear-text passwords' if meth == 'password' else 'md5-stored passwords (' + why + ')'}",
                          fix=Fix("use scram-sha-256", (Edit(Location(sf.rel, no, max(col, 1), no, max(col, 1) + len(meth)), "scram-sha-256"),), UNSAFE),
                          snippet_key=f"pg_hba:{' '.join(words[:idx])}")


def _auth_settings(stack, svc):
    md5, why = _md5_storage(stack, svc)
    settings = pg_settings(stack, svc)
    pe = settings.get("password_encryption")
    major = pg_major(stack, svc)
    if pe is not None and pe.value.strip().lower() not in ("scram-sha-256",):
        fix = Fix("set password_encryption to scram-sha-256", (Edit(pe.edit_span, "scram-sha-256"),), UNSAFE) if pe.edit_span else None
        yield hit(pe.edit_span or pe.loc, f"password_encryption={pe.value} ({pe.source}): new passwords are stored as md5, a password-equivalent hash",
                  fix=fix, snippet_key=f"{svc.name}:password_encryption")
    elif pe is None and md5 and major is not None and major < 14:
        flags = _sql.add_command_flags(svc, ["password_encryption=scram-sha-256"])
        yield hit(Location(svc.doc.path, svc.key.line, svc.key.col),
                  f"{why} and password_encryption is not set to scram-sha-256",
                  fix=Fix("add -c password_encryption=scram-sha-256", flags, UNSAFE) if flags else None,
                  snippet_key=f"{svc.name}:password_encryption-default")
    # authentication methods
    env = stack.service_env(svc)
    method = (env.get("POSTGRES_HOST_AUTH_METHOD") or ("",))[0].strip().lower()
    if method == "password" or (method == "md5" and md5):
        loc = _sql.env_key_loc(stack, svc, "POSTGRES_HOST_AUTH_METHOD")
        reason = "sends passwords in clear text" if method == "password" else f"checks md5-stored passwords ({why})"
        fix = _env_value_fix(stack, svc, "POSTGRES_HOST_AUTH_METHOD", "scram-sha-256")
        yield hit(loc, f"POSTGRES_HOST_AUTH_METHOD={method}: pg_hba 'host all all all {method}' {reason}",
                  fix=fix, snippet_key=f"{svc.name}:POSTGRES_HOST_AUTH_METHOD")
    args = (env.get("POSTGRES_INITDB_ARGS") or ("",))[0]
    for m in re.finditer(r"--auth(?:-host|-local)?[= ](\S+)", args):
        if m.group(1) == "password" or (m.group(1) == "md5" and md5):
            yield hit(_sql.env_key_loc(stack, svc, "POSTGRES_INITDB_ARGS"),
                      f"POSTGRES_INITDB_ARGS {m.group(0)}: {'clear-text' if m.group(1) == 'password' else 'md5'} password authentication",
                      snippet_key=f"POSTGRES_INITDB_ARGS:{m.group(0)}")


def _env_value_fix(stack, svc, key: str, value: str) -> Fix | None:
    var = svc.env(key)
    if var is not None and var.value_node is not None and var.value_node is not var.key_node and var.value_node.line == var.value_node.end_line:
        n = var.value_node
        return Fix(f"set {key}={value}", (Edit(Location(svc.doc.path, n.line, n.col, n.end_line, n.end_col), value),), UNSAFE)
    for d in reversed(stack.service_dotenvs(svc)):
        e = d.get(key)
        if e is not None:
            return Fix(f"set {key}={value}", (Edit(Location(d.path, e.value_line, e.value_col, e.end_line, e.end_col), value),), UNSAFE)
    return None


# ---------------------------------------------------------------------------------------------
# DATA056 - DATA060: seeded admins, passwords and tokens
# ---------------------------------------------------------------------------------------------

_HARDCODED: dict[int, tuple] = {}


def hardcoded_passwords(stack) -> list[tuple[Location, str, str, object, object]]:
    """(location, message, snippet, doc, stmt) of every DATA057 hit, computed once per stack."""
    cached = _HARDCODED.get(id(stack))
    if cached is not None and cached[0] is stack:
        return cached[1]
    ast = pg_ast()
    out: list = []
    seen: set = set()
    model = sql_model(stack)

    def add(doc, stmt, start, end, message, snippet):
        if (doc.path, start) in seen:
            return
        seen.add((doc.path, start))
        out.append((loc_at(doc, start, end), message, snippet, doc, stmt))

    for unit, node, _ctx in model.nodes_of(ast.FuncCall):
        if func_name(node) in ("crypt", "digest", "md5", "hmac") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.A_Const) and isinstance(const_value(arg), str) and const_value(arg):
                start = unit.base + (node.location if node.location is not None and node.location >= 0 else 0)
                span = find_literal(unit.doc, start, const_value(arg), limit=400)
                if span and not unit.doc.is_masked(*span):
                    add(unit.doc, unit.stmt, span[0], span[1], f"a literal password is passed to {func_name(node)}(): the plain text sits in the script", f"{func_name(node)}-literal")
    literal_vars = {id(doc): _literal_psql_vars(doc) for doc in model.docs}
    for role, kind, doc, stmt, _o, ploc in model.passwords:
        if kind == "var":
            lines = lines_of(doc)
            start = lines.line_start(ploc.start_line) + ploc.start_col - 1
            name = doc.text[start:start + 200].lstrip(":").strip("'\"").split("'")[0].split('"')[0]
            span = literal_vars.get(id(doc), {}).get(name)
            if span is not None:
                add(doc, stmt, span[0], span[1], f"role '{role}' gets its password from psql variable '{name}', which the script sets to a literal (\\set); read it from the environment or a secret file instead", f"psql-var-password:{role}")
            continue
        if kind in ("literal", "hash"):
            what = "an md5/SCRAM hash (password-equivalent)" if kind == "hash" else "a literal password"
            lines = lines_of(doc)
            start = lines.line_start(ploc.start_line) + ploc.start_col - 1
            add(doc, stmt, start, start + 1, f"role '{role}' gets {what} in the script; pass it as a psql variable (PASSWORD :'pw')", f"role-password:{role}")
    stmts_by_doc: dict = {}
    for doc, stmt, _o in model.stmts:
        stmts_by_doc.setdefault(id(doc), []).append(stmt)
    for doc in model.docs:
        stmts = stmts_by_doc.get(id(doc), [])
        for s, e, value in _sql.string_literals(doc):
            v = value.strip()
            if not _sql.HASH_RE.match(v):
                continue
            stmt = next((st for st in stmts if st.offset <= s < st.offset + len(st.text)), None)
            if stmt is None:
                continue
            kind = "bcrypt" if v.startswith("$2") else "argon2" if v.startswith("$argon2") else "SCRAM" if v.startswith("SCRAM") else "md5" if v.startswith("md5") else "crypt"
            add(doc, stmt, s, e, f"a {kind} password hash is hard-coded: every deployment shares the credential, and whoever reads the script can crack it offline", f"hash:{kind}")
    _HARDCODED.clear()
    _HARDCODED[id(stack)] = (stack, out)
    return out


_SET_META = LazyRe(r"\\set\s+(\w+)\s+(\S.*)$")


def _literal_psql_vars(doc) -> dict[str, tuple[int, int]]:
    """psql variables a script sets to a literal (``\\set pw 'x'``, not a backtick command):
    name -> file span of the value."""
    out: dict[str, tuple[int, int]] = {}
    for s, e, kind in doc.masked_spans:
        if kind != "meta":
            continue
        text = doc.text[s:e]
        m = _SET_META.match(text)
        if not m:
            continue
        value = m.group(2).strip()
        if value.startswith("`") or not value:
            out.pop(m.group(1), None)
            continue
        out[m.group(1)] = (s + m.start(2), s + m.start(2) + len(value))
    return out


@rule("DATA056", "default-admin-seeded", "high", files="sql", refs="CWE-1392")
def default_admin_seeded(stack):
    """The init SQL seeds an administrator account.

    ## What it does
    Flags an `INSERT` into a users/admins/accounts table whose `role` (or `is_admin`, …) value is
    `admin`, `superadmin` or `true`. Silent where DATA057 already reports a hard-coded password in
    the same `INSERT`.

    ## Why is this bad?
    A seeded admin exists in every deployment with the same e-mail and (usually) a known or
    guessable password, and it is rarely rotated: a default credential with full application
    rights.

    ## Example
    ```sql
    INSERT INTO users (email, password_hash, role) VALUES ('admin@example.com', :'admin_hash', 'admin');
    ```

    ## Use instead
    Create the first administrator at deploy time through the application (an invite link or a
    one-time CLI command reading the password from a secret), not in the schema script.

    ## Fix safety
    Manual.

    ## References
    CWE-1392.
    """
    ast = pg_ast()
    model = sql_model(stack)
    dup = hardcoded_passwords(stack)
    for doc, stmt, _o in model.stmts:
        node = stmt.node
        if not isinstance(node, ast.InsertStmt) or not ADMIN_TABLE_RE.match(node.relation.relname or ""):
            continue
        cols = [(c.name or "").lower() for c in node.cols or ()]
        sel = node.selectStmt
        rows = [tuple(r) for r in (sel.valuesLists or ())] if isinstance(sel, ast.SelectStmt) else []
        found = None
        for row in rows:
            for i, expr in enumerate(row):
                if i >= len(cols):
                    continue
                v = const_value(expr)
                if cols[i] in ADMIN_ROLE_COLS and isinstance(v, str) and v.strip().lower() in ADMIN_VALUES:
                    found = (cols[i], f"'{v.strip().lower()}'")
                elif cols[i] in ADMIN_FLAG_COLS and (v is True or (isinstance(v, str) and v.lower() in ("t", "true", "1", "yes"))):
                    found = (cols[i], "true")
                if found:
                    break
            if found:
                break
        if not found:
            continue
        if any(_in_stmt(h[0], doc, stmt) for h in dup):
            continue
        yield hit(stmt_loc(doc, stmt), f"INSERT INTO {node.relation.relname} seeds an account with {found[0]} = {found[1]}: a default administrator in every deployment",
                  snippet_key=f"{node.relation.relname}:{found[0]}")


@rule("DATA057", "hardcoded-password-sql", "critical", files="sql", refs="CWE-798; CWE-259; CWE-328; CIS-PG 5.12")
def hardcoded_password_sql(stack):
    """A password or password hash is written into the SQL.

    ## What it does
    Flags a literal passed to `crypt()`, `digest()`, `md5()`; a role `PASSWORD '…'` written as a
    literal (a psql variable `PASSWORD :'pw'` is fine, unless the script itself sets it with
    `\\set pw 'literal'`); and any bcrypt (`$2a$`, `$2b$`, `$2y$`),
    argon2, `SCRAM-SHA-256$…` or `md5…` (32 hex) literal — md5 role passwords included, since an md5
    hash is password-equivalent.

    ## Why is this bad?
    The script is committed and copied everywhere: the credential is shared by every deployment
    and known to everyone who read the repository. A hash is no better: md5 logs in as is, bcrypt
    of a guessable seed password falls to a dictionary.

    ## Example
    ```sql
    CREATE ROLE app LOGIN PASSWORD 'S3cret!';
    INSERT INTO users (email, password_hash) VALUES ('admin@x', crypt('admin123', gen_salt('bf', 12)));
    ```

    ## Use instead
    ```sql
    \\set app_password `echo "$APP_DB_PASSWORD"`
    CREATE ROLE app LOGIN PASSWORD :'app_password';
    ```

    ## Fix safety
    Manual: rotate the credential, then pass it in from the environment.

    ## References
    CWE-798; CWE-259; CWE-328; CIS PostgreSQL Benchmark 5.12.
    """
    for loc, message, snippet, _doc, _stmt in hardcoded_passwords(stack):
        yield hit(loc, message, snippet_key=snippet)


def _gen_salt_calls(stack):
    ast = pg_ast()
    model = sql_model(stack)
    for unit, node, _ctx in model.nodes_of(ast.FuncCall):
        if func_name(node) == "gen_salt" and node.args:
            yield unit, node


def _call_span(unit, node):
    start = unit.base + (node.location if node.location is not None and node.location >= 0 else 0)
    return start


@rule("DATA058", "weak-bcrypt-cost", "medium", files="sql/env", refs="CWE-916; OWASP Password Storage CS; pgcrypto docs", fix="safe")
def weak_bcrypt_cost(stack):
    """bcrypt is used with a cost below the policy's minimum.

    ## What it does
    Flags `gen_salt('bf')` (pgcrypto's default cost is 6) and `gen_salt('bf', N)` with N below
    `data.bcrypt_min_cost` (12); bcrypt hash literals (`$2b$10$…`) with a lower cost; and env keys
    `BCRYPT_COST`, `BCRYPT_ROUNDS`, `*_HASH_COST` below it.

    ## Why is this bad?
    Each step of cost halves the attacker's guessing speed. At cost 6 a single GPU tests millions
    of candidate passwords per second against a leaked hash; OWASP's floor is 10, the seed asks 12.

    ## Example
    ```sql
    UPDATE users SET password_hash = crypt(p_password, gen_salt('bf'));
    ```

    ## Use instead
    ```sql
    UPDATE users SET password_hash = crypt(p_password, gen_salt('bf', 12));
    ```

    ## Fix safety
    Safe: existing hashes keep verifying (the cost is stored in each hash); new ones are stronger.

    ## References
    CWE-916; OWASP Password Storage Cheat Sheet; pgcrypto documentation (gen_salt).
    """
    min_cost = int(stack.policy.get("data.bcrypt_min_cost", 12) or 12)
    for unit, node in _gen_salt_calls(stack):
        algo = const_value(node.args[0])
        if not isinstance(algo, str) or algo.lower() != "bf":
            continue
        start = _call_span(unit, node)
        lit = find_literal(unit.doc, start, algo, limit=300)
        if lit is None:
            continue
        if len(node.args) == 1:
            close = _sql.near_token(unit.doc, lit[1], lambda t: t in (")", ","), limit=100)
            fix = Fix(f"use cost {min_cost}", (Edit(loc_at(unit.doc, lit[1]), f", {min_cost}"),)) if close and unit.doc.text[close[0]] == ")" else None
            yield hit(loc_at(unit.doc, start, close[1] if close else lit[1]), f"gen_salt('bf') uses pgcrypto's default cost 6 < {min_cost}",
                      fix=fix, snippet_key="gen_salt-bf-default")
            continue
        cost = const_value(node.args[1])
        if isinstance(cost, int) and cost < min_cost:
            num = _sql.near_token(unit.doc, lit[1], lambda t: t == str(cost), limit=100)
            fix = Fix(f"use cost {min_cost}", (Edit(loc_at(unit.doc, num[0], num[1]), str(min_cost)),)) if num else None
            yield hit(loc_at(unit.doc, num[0], num[1]) if num else loc_at(unit.doc, start), f"gen_salt('bf', {cost}): bcrypt cost {cost} < {min_cost}",
                      fix=fix, snippet_key=f"gen_salt-bf-{cost}")
    for doc in sql_model(stack).docs:
        for s, e, value in _sql.string_literals(doc):
            m = BCRYPT_RE.match(value.strip())
            if m and int(m.group(1)) < min_cost:
                yield hit(loc_at(doc, s, e), f"bcrypt hash literal with cost {int(m.group(1))} < {min_cost}", snippet_key=f"bcrypt-literal-{m.group(1)}")
    # env
    key_re = re.compile(r"^(BCRYPT_(COST|ROUNDS|SALT_ROUNDS|WORK_FACTOR)|\w*_BCRYPT_(COST|ROUNDS)|\w*_HASH_COST|HASH_COST)$", re.I)
    seen: set = set()
    for sf in stack.sources("env"):
        if sf.template and not any(sf.rel in str(p) for s in stack.services for p, _r, _n in s.env_files):
            continue
        for e in sf.doc.entries:
            if key_re.match(e.key) and e.value.strip().isdigit() and int(e.value) < min_cost:
                seen.add((sf.rel, e.key))
                loc = Location(sf.rel, e.value_line, e.value_col, e.end_line, e.end_col)
                yield hit(loc, f"{e.key}={e.value.strip()} < {min_cost}", fix=Fix(f"set {e.key}={min_cost}", (Edit(loc, str(min_cost)),)),
                          snippet_key=e.key)
    for svc in stack.services:
        for var in svc.environment:
            if key_re.match(var.key) and var.value and var.value.strip().isdigit() and int(var.value) < min_cost and var.value_node is not None:
                n = var.value_node
                if n is var.key_node:
                    continue
                loc = Location(svc.doc.path, n.line, n.col, n.end_line, n.end_col)
                yield hit(loc, f"service '{svc.name}': {var.key}={var.value.strip()} < {min_cost}",
                          fix=Fix(f"set {var.key}={min_cost}", (Edit(loc, str(min_cost)),)) if n.line == n.end_line else None,
                          snippet_key=f"{svc.name}:{var.key}")


def _password_ish(name: str | None) -> bool:
    return bool(name) and bool(PASSWORD_RE.search(name.lower())) and "passport" not in name.lower()


@rule("DATA059", "fast-password-hash", "high", files="sql", refs="CWE-916")
def fast_password_hash(stack):
    """Passwords are hashed with a fast hash (md5, sha1, sha256) instead of a slow one.

    ## What it does
    Flags `md5(…)` and `digest(…, 'md5'|'sha1'|'sha224'|'sha256'|'sha384'|'sha512')` applied to
    password data (an argument or the target column/variable named like a password), and
    `gen_salt('md5'|'des'|'xdes')`, in statements and in function bodies.

    ## Why is this bad?
    General-purpose hashes are built to be fast: a GPU computes billions of md5 or sha256 per
    second, so a leaked table of such hashes gives up most real passwords in hours.

    ## Example
    ```sql
    UPDATE users SET password_hash = md5(p_password) WHERE id = p_id;
    ```

    ## Use instead
    ```sql
    UPDATE users SET password_hash = crypt(p_password, gen_salt('bf', 12)) WHERE id = p_id;
    ```
    (or hash in the application with argon2id). Hashing a random API token with sha256 is fine
    and is not flagged.

    ## Fix safety
    Manual: existing hashes must be upgraded at the users' next login.

    ## References
    CWE-916; OWASP Password Storage Cheat Sheet.
    """
    ast = pg_ast()
    model = sql_model(stack)
    for unit, node, ctx in model.nodes_of(ast.FuncCall):
        if not node.args:
            continue
        name = func_name(node)
        what = None
        if name == "gen_salt":
            algo = const_value(node.args[0])
            if isinstance(algo, str) and algo.lower() in ("md5", "des", "xdes"):
                what = f"gen_salt('{algo.lower()}')"
        elif name in ("md5", "digest"):
            if name == "digest":
                algo = const_value(node.args[1]) if len(node.args) > 1 else None
                if not (isinstance(algo, str) and algo.lower() in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")):
                    continue
                label = f"digest(…, '{algo.lower()}')"
            else:
                label = "md5()"
            refs = column_names(node.args[0])
            if _password_ish(ctx) or any(_password_ish(r) for r in refs):
                what = label
        if what:
            target = f" into '{ctx}'" if ctx else ""
            yield hit(unit_loc(unit, node), f"{what} hashes password data{target}: a fast hash, crackable at billions of guesses per second",
                      snippet_key=f"{what}:{ctx or ''}")


@rule("DATA060", "plaintext-bearer-token", "high", files="sql", refs="CWE-312")
def plaintext_bearer_token(stack):
    """API keys, session tokens or reset tokens are stored in clear text.

    ## What it does
    Flags a text column named `key`, `token`, `secret` or `*_token`/`*_key`/`*_secret` in an
    api_keys, sessions, `*_tokens` or password_resets table that has no `*_hash`/`*_digest`
    column.

    ## Why is this bad?
    Whoever reads the table — a backup, a replica, a SQL injection, a support screenshot — can use
    every token as is: log in as any user, reset any password, call the API as any customer.

    ## Example
    ```sql
    CREATE TABLE api_keys (id bigserial, user_id bigint, key text NOT NULL UNIQUE);
    ```

    ## Use instead
    ```sql
    CREATE TABLE api_keys (id bigserial, user_id bigint, key_prefix text, key_hash bytea NOT NULL UNIQUE);
    -- store sha256(token) and a short prefix to find it; show the token once at creation
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-312; OWASP Session Management and Forgot Password Cheat Sheets.
    """
    model = sql_model(stack)
    for t in model.tables.values():
        if not TOKEN_TABLE_RE.match(t.name):
            continue
        if any(re.search(r"(^|_)(hash|digest)$", c) for c in t.columns):
            continue
        cols = [c for c in t.columns.values()
                if c.type in STRING_TYPES and TOKEN_COL_RE.match(c.name) and not TOKEN_COL_EXEMPT.search(c.name)]
        if not cols:
            continue
        names = ", ".join(f"{c.name} ({c.type})" for c in cols)
        yield hit(t.loc, f"table '{t.qname}' stores bearer credentials in clear text: {names}, and has no *_hash column",
                  related=[c.loc for c in cols], snippet_key=t.qname)


# ---------------------------------------------------------------------------------------------
# DATA061 - DATA064: audit tables and sensitive columns
# ---------------------------------------------------------------------------------------------


def _audit_writers(stack) -> dict:
    """audit table key -> [(grantee, privs, Grant)] for PUBLIC and the app roles."""
    model = sql_model(stack)
    grantees = {"public"} | app_role_names(stack)
    out: dict = {}
    for t in _tables_named(model, AUDIT_RE):
        for who in sorted(grantees):
            held = table_privileges(stack, t, who)
            bad = {p: g for p, g in held.items() if p in ("update", "delete", "truncate")}
            if bad:
                out.setdefault(t.key, []).append((who, bad))
    return out


@rule("DATA061", "audit-log-writable", "high", files="sql", refs="CWE-284; OWASP A09:2021")
def audit_log_writable(stack):
    """The app (or PUBLIC) may update, delete or truncate audit rows.

    ## What it does
    Replays the script's `GRANT`/`REVOKE`s (on the table, `ALL TABLES IN SCHEMA`, `ALTER DEFAULT
    PRIVILEGES`) and flags `UPDATE`, `DELETE`, `TRUNCATE` (or `ALL`) on an `audit*` table held by
    the app's role or `PUBLIC` at the end; the finding points at the `GRANT`.

    ## Why is this bad?
    An attacker who gets the app's database access — the usual outcome of an injection — can erase
    or rewrite the trail of what they did. Audit logs are only evidence if the writer cannot edit
    them.

    ## Example
    ```sql
    GRANT ALL ON ALL TABLES IN SCHEMA public TO app;   -- audit_log included
    ```

    ## Use instead
    ```sql
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app;
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM app;
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-284; OWASP Top 10 A09:2021 (Security Logging and Monitoring Failures).
    """
    model = sql_model(stack)
    for key, entries in _audit_writers(stack).items():
        t = model.tables[key]
        for who, bad in entries:
            grants = {}
            for p, g in bad.items():
                grants.setdefault(id(g), (g, []))[1].append(p)
            for g, privs in grants.values():
                yield hit(g.loc, f"{'PUBLIC' if who == 'public' else repr(who)} can {', '.join(p.upper() for p in sorted(privs))} rows of audit table '{t.qname}'",
                          snippet_key=f"{t.qname}:{who}")


def _raising_trigger(model, t) -> bool:
    events: set = set()
    for trg in model.triggers:
        if trg.table != t.key or not trg.before:
            continue
        f = next((f for f in reversed(model.functions) if f.name == trg.func), None)
        if trg.rule or (f is not None and _raises(f)):
            events |= trg.events
    return {"update", "delete"} <= events


def _raises(f) -> bool:
    fn, _err = f.plpgsql()
    if not fn:
        return False
    for kind, sd in _sql.plpgsql_statements(fn.get("action")):
        if kind == "raise" and (sd.get("elog_level") is None or sd.get("elog_level", 0) >= 21):
            return True
    return False


def _revoked_writes(model, t) -> bool:
    for g in model.grants:
        if g.is_grant or g.objtype != "table":
            continue
        if ({"update", "delete", "truncate", "all"} & g.privs) and (
                (g.target == "object" and (t.key in g.objects)) or (g.target == "all_in_schema" and t.schema in g.objects)):
            return True
    return False


@rule("DATA062", "audit-log-not-append-only", "medium", files="sql+env", refs="CWE-284; OWASP Logging CS", fix="unsafe")
def audit_log_not_append_only(stack):
    """An audit table owned by the app is not protected against updates and deletes.

    ## What it does
    Flags an `audit*` table owned by the app's DB user (when the env does not name the user: a table
    with no `REVOKE UPDATE, DELETE, TRUNCATE`) that has no `BEFORE UPDATE OR DELETE` trigger
    raising an exception. Silent where DATA061 (a grant lets the app write) or DATA043 (the app is
    the superuser) already reports it.

    ## Why is this bad?
    An owner can always update and delete its own rows, whatever the grants say; only a raising
    trigger (or a different owner) makes the log append-only.

    ## Example
    ```sql
    CREATE TABLE audit_log (id bigserial, actor bigint, action text, at timestamptz DEFAULT now());
    ALTER TABLE audit_log OWNER TO app;
    ```

    ## Use instead
    ```sql
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    ```

    ## Fix safety
    Unsafe: retention jobs that delete old audit rows as that role stop working.

    ## References
    CWE-284; OWASP Logging Cheat Sheet.
    """
    model = sql_model(stack)
    users = app_users(stack)
    su = postgres_user(stack)[0]
    if any(u.name == su or u.via_superuser_ref for u in users):
        return  # DATA043
    writers = _audit_writers(stack)
    apps = {u.name for u in users}
    for t in _tables_named(model, AUDIT_RE):
        if t.external or t.key in writers:
            continue
        owner = _owner(stack, t)
        if apps:
            if owner not in apps:
                continue
            why = f"owned by the app's DB user '{owner}'"
        else:
            if _revoked_writes(model, t):
                continue
            why = "no REVOKE UPDATE, DELETE, TRUNCATE on it"
        if _raising_trigger(model, t):
            continue
        fname = f"{t.name}_append_only"
        tq = quote_ident(t.name) if t.schema == "public" else f"{quote_ident(t.schema)}.{quote_ident(t.name)}"
        sql = (f"CREATE FUNCTION {quote_ident(fname)}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
               f"BEGIN\n  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;\nEND\n$$;\n"
               f"CREATE TRIGGER {quote_ident(fname)} BEFORE UPDATE OR DELETE ON {tq}\n"
               f"  FOR EACH ROW EXECUTE FUNCTION {quote_ident(fname)}();\n"
               f"CREATE TRIGGER {quote_ident(fname + '_truncate')} BEFORE TRUNCATE ON {tq}\n"
               f"  FOR EACH STATEMENT EXECUTE FUNCTION {quote_ident(fname)}();")
        yield hit(t.loc, f"audit table '{t.qname}' ({why}) has no raising BEFORE UPDATE OR DELETE trigger: its rows can be rewritten",
                  fix=fix_after("add a raising trigger", t.doc, t.stmt, sql, UNSAFE), snippet_key=t.qname)


def _age_predicate(where) -> bool:
    ast = pg_ast()
    if where is None:
        return False
    for n in walk(where):
        if isinstance(n, ast.FuncCall) and func_name(n) in ("now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "age", "date_trunc"):
            return True
        if isinstance(n, ast.SQLValueFunction):
            return True
        if isinstance(n, ast.TypeCast) and _sql.type_name(n.typeName) in ("interval", "timestamptz", "timestamp", "date"):
            return True
        if isinstance(n, ast.ColumnRef):
            col = (_sql.name_parts(n.fields) or [""])[-1].lower()
            if re.search(r"(_at|_on|time|date|timestamp)$", col) or col in ("created", "ts"):
                return True
    return False


@rule("DATA063", "audit-rows-deletable", "medium", files="sql", refs="CWE-284")
def audit_rows_deletable(stack):
    """Audit rows disappear with the rows they describe, or a function wipes them.

    ## What it does
    Flags a foreign key of an `audit*` table with `ON DELETE CASCADE`, and a function (a definer
    cleanup job above all) that `TRUNCATE`s an audit table or `DELETE`s from it without an age
    predicate (`created_at < now() - interval '…'`).

    ## Why is this bad?
    Deleting a user — or calling the cleanup function — silently erases the evidence of what that
    user did, which is exactly what an intruder wants.

    ## Example
    ```sql
    CREATE TABLE audit_log (id bigserial, user_id bigint REFERENCES users(id) ON DELETE CASCADE, …);
    ```

    ## Use instead
    `ON DELETE SET NULL` (keep the row, lose the link) or no foreign key at all, and retention
    deletes bounded by age, run by a dedicated role.

    ## Fix safety
    Manual.

    ## References
    CWE-284; OWASP Logging Cheat Sheet.
    """
    ast = pg_ast()
    model = sql_model(stack)
    audit = {t.key: t for t in _tables_named(model, AUDIT_RE)}
    audit_names = {k[1] for k in audit}
    for t in audit.values():
        for con, loc, pk, colname in t.fks:
            if getattr(con, "fk_del_action", "") == "c":
                cols = ", ".join(_sql.name_parts(con.fk_attrs)) or colname
                yield hit(loc, f"audit table '{t.qname}': foreign key ({cols}) to '{pk}' is ON DELETE CASCADE: deleting the {pk} row deletes its audit trail",
                          snippet_key=f"{t.qname}:fk:{pk}")
    for unit in model.units():
        f = unit.func
        if f is None or f.is_do:
            continue
        node = unit.node
        if isinstance(node, ast.TruncateStmt):
            names = [r.relname for r in node.relations or () if isinstance(r, ast.RangeVar) and r.relname in audit_names]
            if names:
                yield hit(unit_loc(unit), f"{'SECURITY DEFINER ' if f.definer else ''}function {f.label} truncates audit table {', '.join(names)}",
                          snippet_key=f"{f.label}:truncate:{names[0]}")
        elif isinstance(node, ast.DeleteStmt) and node.relation is not None and node.relation.relname in audit_names:
            if not _age_predicate(node.whereClause):
                yield hit(unit_loc(unit), f"{'SECURITY DEFINER ' if f.definer else ''}function {f.label} deletes from audit table {node.relation.relname} without an age predicate",
                          snippet_key=f"{f.label}:delete:{node.relation.relname}")


@rule("DATA064", "secret-column-unencrypted", "medium", files="sql", refs="CWE-311; CIS-PG 6.9")
def secret_column_unencrypted(stack):
    """A column for a recoverable secret or sensitive number is plain text.

    ## What it does
    Flags `text`/`varchar` columns named like `totp_secret`, `mfa_secret`, `webhook_secret`,
    `*_secret`, `ssn`, `card_number`, `iban`, `tax_id`… (no `_enc`/`_encrypted`/`_hash` suffix)
    that no `INSERT`/`UPDATE`/assignment in the SQL fills through `pgp_sym_encrypt()` (or
    `pgp_pub_encrypt()`).

    ## Why is this bad?
    These values must be readable by the app (to verify a TOTP, to sign a webhook) so they cannot be
    hashed; stored in clear they leak with every backup, replica and injection. A stolen TOTP
    secret defeats the second factor for good.

    ## Example
    ```sql
    CREATE TABLE users (…, totp_secret text);
    ```

    ## Use instead
    Encrypt in the application (envelope encryption with a key outside the database), or with
    pgcrypto: `totp_secret_enc bytea` written as `pgp_sym_encrypt(secret, current_setting('app.key'))`.

    ## Fix safety
    Manual.

    ## References
    CWE-311; CIS PostgreSQL Benchmark 6.9; pgcrypto documentation.
    """
    ast = pg_ast()
    model = sql_model(stack)
    encrypted: set[str] = set()
    for _unit, node, ctx in model.nodes_of(ast.FuncCall):
        if ctx and func_name(node) in ENCRYPT_FUNCS:
            encrypted.add(ctx)
    for t in model.tables.values():
        if TOKEN_TABLE_RE.match(t.name):
            continue  # bearer tokens: DATA060
        for c in t.columns.values():
            if c.type not in STRING_TYPES or not SECRET_COL_RE.match(c.name) or SECRET_COL_EXEMPT.search(c.name):
                continue
            if c.name in encrypted:
                continue
            yield hit(c.loc, f"'{t.qname}.{c.name}' holds a sensitive value as plain {c.type} and nothing encrypts it (pgp_sym_encrypt)",
                      snippet_key=f"{t.qname}.{c.name}")


# ---------------------------------------------------------------------------------------------
# DATA065, DATA067
# ---------------------------------------------------------------------------------------------

_LOOPBACK = LazyRe(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")


@rule("DATA065", "pg-no-tls-off-host", "medium", files="compose", refs="CWE-319; CIS-PG 5.8, 6.8")
def pg_no_tls_off_host(stack):
    """PostgreSQL is published beyond the host without TLS.

    ## What it does
    Flags a postgres service that publishes its port (5432, or `-c port=`) on a non-loopback
    interface while `ssl` is not `on` (`-c ssl=on`, `postgresql.conf`, `ALTER SYSTEM`). The finding
    points at the service (what lacks `ssl=on`) and names the port entry. Client DSNs to other hosts
    are DATA088.

    ## Why is this bad?
    Without TLS, passwords exchanged with `password`/`md5`, every query and every row cross the
    network in clear text, and a man in the middle can impersonate the server.

    ## Example
    ```yaml
    db:
      image: postgres:16
      ports: ["5432:5432"]
    ```

    ## Use instead
    Do not publish the port (the app reaches `db:5432` on the compose network); if remote access is
    needed, bind it to a VPN/loopback address and run with `-c ssl=on -c ssl_cert_file=… -c
    ssl_key_file=…` and `hostssl` rules.

    ## Fix safety
    Manual.

    ## References
    CWE-319; CIS PostgreSQL Benchmark 5.8, 6.8.
    """
    for svc in stack.services_by_role("postgres"):
        settings = pg_settings(stack, svc)
        ssl = settings.get("ssl")
        if ssl is not None and _sql.setting_on(ssl.value):
            continue
        port = 5432
        if settings.get("port") is not None and settings["port"].value.isdigit():
            port = int(settings["port"].value)
        for p in svc.ports:
            if port not in p.container_ports:
                continue
            if p.host_ip and _LOOPBACK.match(p.host_ip):
                continue
            where = f"{p.host_ip}:" if p.host_ip else ""
            yield hit(Location(svc.doc.path, svc.key.line, svc.key.col),
                      f"service '{svc.name}' publishes PostgreSQL ({where}{p.host or 'random port'} -> {port}) and ssl is not on: credentials and data cross the network in clear text",
                      related=[Location(svc.doc.path, p.node.line, p.node.col, p.node.end_line, p.node.end_col)],
                      snippet_key=f"{svc.name}:{port}")
            break


def _view_fix(stack, v) -> Fix | None:
    major = pg_major(stack)
    if major is not None and major < 15 or getattr(v.stmt, "replayed", False):
        return None
    doc, stmt = v.doc, v.stmt
    depth = 0
    with_open = None
    name_loc = getattr(stmt.node.view, "location", None)
    start = stmt.base + name_loc if isinstance(name_loc, int) and name_loc >= 0 else stmt.offset
    end = stmt.offset + len(stmt.text)
    prev = None
    for s, e, name, text in tokens(doc):
        if s < start:
            continue
        if s >= end:
            break
        if text == "(":
            depth += 1
            if prev == "WITH" and depth == 1:
                with_open = e
        elif text == ")":
            depth -= 1
        elif name == "AS" and depth == 0:
            if with_open is not None:
                return Fix("add security_invoker = true", (Edit(loc_at(doc, with_open), "security_invoker = true, "),))
            return Fix("add WITH (security_invoker = true)", (Edit(loc_at(doc, s), "WITH (security_invoker = true) "),))
        prev = name
    return None


@rule("DATA067", "view-bypasses-rls", "medium", files="sql", refs="CWE-862", fix="safe")
def view_bypasses_rls(stack):
    """A view over a row-level-security table runs with its owner's rights.

    ## What it does
    Flags a view that selects from a table with RLS enabled and lacks `security_invoker = true`
    (`CREATE VIEW … WITH (security_invoker = true)` or `ALTER VIEW … SET (security_invoker = on)`,
    PostgreSQL 15+).

    ## Why is this bad?
    A view checks permissions and RLS as its owner — usually the superuser or table owner that ran
    the init scripts, to whom the policies do not apply. Querying the view returns every tenant's
    rows to anyone allowed to select from it.

    ## Example
    ```sql
    CREATE VIEW active_documents AS SELECT * FROM documents WHERE deleted_at IS NULL;
    ```

    ## Use instead
    ```sql
    CREATE VIEW active_documents WITH (security_invoker = true) AS
      SELECT * FROM documents WHERE deleted_at IS NULL;
    ```

    ## Fix safety
    Safe on PostgreSQL 15+: the view now applies the caller's policies, which is what a view over
    tenant data is expected to do (no fix is offered for older images).

    ## References
    CWE-862; PostgreSQL documentation, CREATE VIEW (security_invoker).
    """
    model = sql_model(stack)
    for v in model.views:
        if v.invoker or v.materialized:
            continue
        rls = []
        for rv in v.relations:
            t = model.table(rv)
            if t is not None and t.rls and t.name not in rls:
                rls.append(t.name)
        if not rls:
            continue
        yield hit(v.loc, f"view '{v.name}' reads RLS table{'s' if len(rls) > 1 else ''} {', '.join(rls)} without security_invoker: it sees every row as its owner",
                  fix=_view_fix(stack, v), snippet_key=v.name)

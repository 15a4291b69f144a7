"""Data, PostgreSQL row-level security family: RLS enabled, forced, its policies and views."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers import sql as _sql
from rules.helpers.sql import (
    OWNER_COLUMNS,
    app_role_names,
    app_users,
    column_names,
    const_value,
    deparse,
    ename,
    fix_after,
    loc_at,
    pg_ast,
    pg_major,
    quote_ident,
    sql_model,
    stmt_loc,
    superusers,
    table_owner,
    tokens,
)
from scanner.model import UNSAFE, Edit, Fix, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

# ---------------------------------------------------------------------------------------------
# DATA040 - DATA046: row-level security
# ---------------------------------------------------------------------------------------------


@rule("DATA040", "table-without-rls", "medium", files="sql", refs="CWE-862; CIS-PG 4.7", fix="unsafe")
def table_without_rls(stack: Stack):
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


def _rls_owner_bypass(stack: Stack):
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
        owner = table_owner(stack, t)
        is_app = owner in apps and owner not in supers
        out.append((t, ev, owner, is_app))
    return out


def _force_fix(t, ev) -> Fix:
    name = quote_ident(t.name) if t.schema == "public" else f"{quote_ident(t.schema)}.{quote_ident(t.name)}"
    return fix_after("force row-level security for the table owner", ev[1], ev[2], f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY;")


@rule("DATA041", "rls-not-forced", "low", files="sql", refs="CWE-862", fix="safe")
def rls_not_forced(stack: Stack):
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
def rls_bypassed_by_owner_app(stack: Stack):
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


def _enable_fix(model, p) -> Fix | None:
    t = model.table(p.table)
    schema, name = p.table
    q = quote_ident(name) if schema == "public" else f"{quote_ident(schema)}.{quote_ident(name)}"
    del t
    return fix_after("enable row-level security", p.doc, p.stmt, f"ALTER TABLE {q} ENABLE ROW LEVEL SECURITY;", UNSAFE)


@rule("DATA044", "policy-without-rls", "high", files="sql", refs="CWE-862", fix="unsafe")
def policy_without_rls(stack: Stack):
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
def policy_always_true(stack: Stack):
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
        first = "using" if always_true(p.using) else "check"
        yield hit(p.clause_loc(first), f"policy '{p.name}' on '{p.table[1]}' (FOR {p.cmd.upper()}, TO {who}): {' and '.join(parts)} is always true, so every row passes",
                  snippet_key=f"{p.table[1]}:{p.name}")


@rule("DATA046", "policy-check-unscoped", "medium", files="sql", refs="CWE-863")
def policy_check_unscoped(stack: Stack):
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
            yield hit(p.clause_loc("check" if p.check is not None else "using") if check is not None else p.loc,
                      f"policy '{p.name}' on '{key[1]}' (FOR {p.cmd.upper()}): {what} ignores {', '.join(sorted(scoped))}, which the read policy filters on: rows can be written into another tenant",
                      snippet_key=f"{key[1]}:{p.name}")


def _view_fix(stack: Stack, v) -> Fix | None:
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
def view_bypasses_rls(stack: Stack):
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

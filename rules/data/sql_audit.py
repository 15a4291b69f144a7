"""Data, PostgreSQL audit family: who may rewrite audit rows, and whether they outlive what they describe."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers import sql as _sql
from rules.helpers.sql import (
    app_role_names,
    app_users,
    fix_after,
    func_name,
    init_user,
    pg_ast,
    postgres_user,
    quote_ident,
    sql_model,
    table_owner,
    unit_loc,
    walk,
)
from scanner.model import UNSAFE, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

# ---------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------

AUDIT_RE = re.compile(r"(^|_)audits?($|_)")
ALL_TABLE_PRIVS = {"select", "insert", "update", "delete", "truncate", "references", "trigger"}


def _tables_named(model, pattern) -> list:
    return [t for t in model.tables.values() if pattern.search(t.name)]


def _expand(privs: set[str]) -> set[str]:
    return set(ALL_TABLE_PRIVS) if "all" in privs else set(privs)


def table_privileges(stack: Stack, t, grantee: str) -> dict[str, object]:
    """Table privileges ``grantee`` holds on ``t`` after the init scripts: priv -> the Grant that
    gave it. Replays GRANT/REVOKE on the table, ``ALL TABLES IN SCHEMA`` (tables existing then) and
    ``ALTER DEFAULT PRIVILEGES`` (tables created later by the role it is for)."""
    model = sql_model(stack)
    held: dict[str, object] = {}
    creator = t.owner if not t.owner_explicit else None
    creator = creator or init_user(stack)
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


# ---------------------------------------------------------------------------------------------
# DATA061 - DATA064: audit tables and sensitive columns
# ---------------------------------------------------------------------------------------------


def _audit_writers(stack: Stack) -> dict:
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
def audit_log_writable(stack: Stack):
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
                          # the rights on the table are the cause: a grant moved from PUBLIC to
                          # one role (DATA050's fix) is the same finding, narrower
                          snippet_key=f"{t.qname}:{'+'.join(sorted(privs))}")


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
def audit_log_not_append_only(stack: Stack):
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
        owner = table_owner(stack, t)
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
def audit_rows_deletable(stack: Stack):
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

"""Operational: PostgreSQL logging settings (compose command, postgresql.conf, ALTER SYSTEM) and
what the init scripts expose to the server log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.sql import add_command_flags, const_value, pg_ast, pg_settings, setting_on, sql_model, sql_server
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

# escapes OPS003 wants in log_line_prefix, with the ones that carry the same information
PREFIX_ESCAPES = (("%m", ("%m", "%t", "%n")), ("%p", ("%p", "%c")), ("%d", ("%d",)), ("%u", ("%u",)),
                  ("%a", ("%a",)), ("%h", ("%h", "%r")))


def _svc_loc(svc) -> Location:
    return Location(svc.doc.path, svc.key.line, svc.key.col)


@rule("OPS003", "pg-connection-logging-off", "low", files="compose/sql", refs="CWE-778; CIS-PG 3.1.20–3.1.24", fix="safe")
def pg_connection_logging_off(stack: Stack):
    """PostgreSQL does not log connections, or logs lines that do not say who connected.

    ## What it does
    For the postgres service, flags `log_connections` or `log_disconnections` not `on` (the default
    is off) and a `log_line_prefix` lacking the time (`%m`), process (`%p`), database (`%d`), user
    (`%u`), application (`%a`) and client host (`%h`). Settings are read from `-c` in the command, a
    mounted `postgresql.conf` and `ALTER SYSTEM` in the init SQL. The finding points at the wrong
    value, else at the service.

    ## Why is this bad?
    After an incident, the server log is where you learn which role logged in from where and when.
    With PostgreSQL's defaults (`log_line_prefix = '%m [%p] '`, no connection logging) a brute force
    or a stolen app password leaves no trace.

    ## Example
    ```yaml
    db:
      image: postgres:16
      command: ["postgres"]
    ```

    ## Use instead
    ```yaml
    command: ["postgres", "-c", "log_connections=on", "-c", "log_disconnections=on",
              "-c", "log_line_prefix=%m [%p] %q%u@%d app=%a host=%h "]
    ```

    ## Fix safety
    Safe: more log lines, nothing else changes.

    ## References
    CWE-778; CIS PostgreSQL Benchmark 3.1.20–3.1.24.
    """
    for svc in stack.services_by_role("postgres"):
        yield from _connection_logging(stack, svc)


def _connection_logging(stack: Stack, svc):
    settings = pg_settings(stack, svc)
    problems, edits, missing, anchor = [], [], [], None
    for name in ("log_connections", "log_disconnections"):
        s = settings.get(name)
        if s is None:
            problems.append(f"{name} is not set (off)")
            missing.append(f"{name}=on")
        elif not setting_on(s.value):
            problems.append(f"{name}={s.value} ({s.source})")
            anchor = anchor or s
            if s.edit_span is not None:
                edits.append(Edit(s.edit_span, "on"))
    if problems:
        added = add_command_flags(svc, missing) if missing else ()
        fix = Fix("turn connection logging on", tuple(edits) + tuple(added)) if (added or not missing) and (edits or added) else None
        yield hit(anchor.edit_span or anchor.loc if anchor is not None else _svc_loc(svc),
                  f"service '{svc.name}': {'; '.join(problems)}: logins and logouts leave no trace", fix=fix,
                  snippet_key=f"{svc.name}:log_connections")
    prefix = settings.get("log_line_prefix")
    text = prefix.value if prefix is not None else "%m [%p] "
    lacking = [want for want, accepted in PREFIX_ESCAPES if not any(a in text for a in accepted)]
    if lacking:
        where = f"log_line_prefix ({prefix.source})" if prefix is not None else "the default log_line_prefix '%m [%p] '"
        yield hit(prefix.loc if prefix is not None else _svc_loc(svc),
                  f"service '{svc.name}': {where} lacks {' '.join(lacking)}: log lines do not say who connected from where",
                  snippet_key=f"{svc.name}:log_line_prefix")


@rule("OPS004", "pg-statement-logging-none", "low", files="compose/sql", refs="CIS-PG 3.1.25", fix="safe")
def pg_statement_logging_none(stack: Stack):
    """PostgreSQL logs no statements, not even schema changes.

    ## What it does
    Flags a postgres service whose `log_statement` is unset or `none` (command `-c`, mounted
    `postgresql.conf`, `ALTER SYSTEM`).

    ## Why is this bad?
    `DROP TABLE`, `ALTER ROLE … SUPERUSER`, `CREATE FUNCTION` run by an intruder or a mistaken
    migration leave no record. `ddl` logs exactly these at negligible cost.

    ## Example
    ```yaml
    command: ["postgres", "-c", "log_statement=none"]
    ```

    ## Use instead
    ```yaml
    command: ["postgres", "-c", "log_statement=ddl"]
    ```
    (`mod` adds data changes; `all` also logs queries and is rarely worth its volume.)

    ## Fix safety
    Safe: more log lines. Not offered when the init scripts set role passwords that `ddl` would
    log (`CREATE/ALTER ROLE … PASSWORD`, OPS005): silence them first (`SET log_statement = 'none'`).

    ## References
    CIS PostgreSQL Benchmark 3.1.25.
    """
    for svc in stack.services_by_role("postgres"):
        yield from _statement_logging(stack, svc)


def _statement_logging(stack: Stack, svc):
    s = pg_settings(stack, svc).get("log_statement")
    if s is not None and s.value.strip().lower() != "none":
        return
    # `ddl` would log the init scripts' role passwords (OPS005): then the choice is a human's
    offer = not _logged_passwords(stack, sql_model(stack), svc, s)
    if s is not None:
        fix = Fix("log_statement=ddl", (Edit(s.edit_span, "ddl"),)) if offer and s.edit_span is not None else None
        yield hit(s.edit_span or s.loc, f"service '{svc.name}': log_statement=none ({s.source}): schema and role changes leave no record",
                  fix=fix, snippet_key=f"{svc.name}:log_statement")
        return
    added = add_command_flags(svc, ["log_statement=ddl"])
    yield hit(_svc_loc(svc), f"service '{svc.name}': log_statement is not set (none): schema and role changes leave no record",
              fix=Fix("add -c log_statement=ddl", added) if added and offer else None, snippet_key=f"{svc.name}:log_statement")


@rule("OPS005", "pg-role-password-logged", "medium", files="sql+compose", refs="CWE-532")
def pg_role_password_logged(stack: Stack):
    """Statement logging writes the init script's role passwords into the server log.

    ## What it does
    Flags `log_statement` `ddl` or `all` when the init SQL sets a role `PASSWORD` — a literal or a
    psql variable, which psql substitutes before sending, so the server logs the clear text. The
    finding points at `log_statement`. An `ALTER SYSTEM` setting only counts for statements after a
    `pg_reload_conf()`.

    ## Why is this bad?
    The log is read by more people and tools than the database (log shippers, `docker logs`, support
    bundles), and it keeps the password long after it is rotated.

    ## Example
    ```yaml
    command: ["postgres", "-c", "log_statement=ddl"]
    ```
    ```sql
    CREATE ROLE app LOGIN PASSWORD :'app_password';
    ```

    ## Use instead
    Set the password in a way that is not a logged statement: `\\password app` in psql (sends a
    SCRAM verifier), `SET log_statement = 'none'` around the role statements in the init script
    (allowed for the superuser running it), or pass a pre-computed `SCRAM-SHA-256$…` verifier.

    ## Fix safety
    Manual.

    ## References
    CWE-532; PostgreSQL documentation, CREATE ROLE (notes on passwords in logs).
    """
    model = sql_model(stack)
    if not model.passwords:
        return
    for svc in stack.services_by_role("postgres"):
        yield from _passwords_logged(stack, model, svc)


def _passwords_logged(stack: Stack, model, svc):
    s = pg_settings(stack, svc).get("log_statement")
    if s is None or s.value.strip().lower() not in ("ddl", "all"):
        return
    logged = _logged_passwords(stack, model, svc, s)
    if not logged:
        return
    roles = sorted({r for r, _k, _l in logged})
    how = "psql variables are substituted before sending" if all(k == "var" for _r, k, _l in logged) else "the statements carry the passwords"
    related = [ploc for _r, _k, ploc in logged[:5]]
    yield hit(s.edit_span or s.loc,
              f"log_statement={s.value} ({s.source}) logs the CREATE/ALTER ROLE … PASSWORD of {', '.join(roles)} in clear text ({how})",
              related=related, snippet_key=f"{svc.name}:log_statement-passwords")


def _logged_passwords(stack: Stack, model, svc, s=None) -> list:
    """(role, kind, location) of the role passwords of ``svc``'s init scripts that statement logging
    at ``s`` (a ``pg_settings`` entry; None: a ``-c`` flag a fix would add) writes to the log."""
    # a session-level SET log_statement = 'none' before the statement hides it
    quiet = _quiet_spans(model)
    logged = []
    for role, kind, doc, stmt, order, ploc in model.passwords:
        if sql_server(stack, doc.path) is not svc:
            continue
        if s is not None and s.source == "alter system" and not any(s.order < r < order for r in model.reloads):
            continue
        if any(q_doc is doc and a < order < b for q_doc, a, b in quiet):
            continue
        logged.append((role, kind, ploc))
    return logged


def _quiet_spans(model) -> list[tuple[object, int, int]]:
    """(doc, from order, to order) where the script turned log_statement off for its session."""
    ast = pg_ast()

    out = []
    start = None
    cur_doc = None
    for doc, stmt, order in model.stmts:
        if doc is not cur_doc:
            if start is not None:
                out.append((cur_doc, start, 10**9))
            start, cur_doc = None, doc
        node = stmt.node
        if isinstance(node, ast.VariableSetStmt) and node.name == "log_statement" and not node.is_local:
            value = ""
            if node.args:
                value = str(const_value(node.args[0]) or "").lower()
            if value == "none" and start is None:
                start = order
            elif value != "none" and start is not None:
                out.append((doc, start, order))
                start = None
    if start is not None:
        out.append((cur_doc, start, 10**9))
    return out

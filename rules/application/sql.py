"""Application: SQL code safety in the init scripts — SECURITY DEFINER functions, dynamic SQL in
PL/pgSQL, search_path settings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers import sql as _sql
from rules.helpers.sql import (
    const_value,
    ename,
    find_literal,
    func_name,
    loc_at,
    pg_ast,
    pg_major,
    quote_ident,
    sql_model,
    tokens,
    unsafe_parts,
)
from scanner.model import Edit, Fix, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


@rule("APP060", "definer-without-search-path", "high", files="sql", refs="CWE-426; PS003", fix="unsafe")
def definer_without_search_path(stack: Stack):
    """A SECURITY DEFINER function does not pin its search_path.

    ## What it does
    Flags a `SECURITY DEFINER` function or procedure with no `SET search_path` clause (in its
    `CREATE` or a later `ALTER FUNCTION`).

    ## Why is this bad?
    The function runs with its owner's privileges but resolves unqualified names (tables, functions,
    operators such as `=`) through the caller's `search_path`. A caller who can create objects in
    any schema — or temporary ones in `pg_temp` — can make the function call their code as the
    owner, often the superuser.

    ## Example
    ```sql
    CREATE FUNCTION delete_user(uid bigint) RETURNS void LANGUAGE sql SECURITY DEFINER
      AS $$ DELETE FROM users WHERE id = uid $$;
    ```

    ## Use instead
    ```sql
    CREATE FUNCTION delete_user(uid bigint) RETURNS void LANGUAGE sql SECURITY DEFINER
      SET search_path = public, pg_temp
      AS $$ DELETE FROM users WHERE id = uid $$;
    ```

    ## Fix safety
    Unsafe: names the body resolved through other schemas of the caller's path must then be
    schema-qualified.

    ## References
    CWE-426; pgspot PS003; PostgreSQL documentation, Writing SECURITY DEFINER Functions Safely.
    """
    model = sql_model(stack)
    for f in model.functions:
        if f.is_do or not f.definer or f.search_path is not None:
            continue
        fix = None
        tok = None if getattr(f.stmt, "replayed", False) else _definer_token(f)
        if tok is not None:
            schema = f.schema or "public"
            fix = Fix(f"SET search_path = {schema}, pg_temp",
                      (Edit(loc_at(f.doc, tok), f" SET search_path = {quote_ident(schema)}, pg_temp"),))
        yield hit(f.loc, f"SECURITY DEFINER {f.label} has no SET search_path: callers choose which objects it resolves",
                  fix=fix, snippet_key=f.label)


def _definer_token(f) -> int | None:
    """File offset just after the ``DEFINER`` keyword of the function's CREATE statement."""
    start = f.stmt.offset
    end = f.body_offset if f.body_offset is not None and f.body_offset > start else start + len(f.stmt.text)
    prev = None
    for s, e, name, text in tokens(f.doc):
        if s < start:
            continue
        if s >= end:
            break
        if name == "DEFINER" and prev == "SECURITY":
            return e
        prev = name
    return None


def _creatable_schemas(stack: Stack) -> set[str]:
    """Schemas every role may create in: public before PostgreSQL 15, and any schema the script
    grants CREATE on to PUBLIC (and does not revoke later)."""
    model = sql_model(stack)
    out: set[str] = set()
    major = pg_major(stack)
    if major is not None and major < 15:
        out.add("public")
    for g in model.grants:
        if g.objtype != "schema" or "public" not in g.grantees or not ({"create", "all"} & g.privs):
            continue
        for s in g.objects:
            if g.is_grant:
                out.add(s)
            else:
                out.discard(s)
    return out


@rule("APP061", "definer-unsafe-search-path", "high", files="sql", refs="CWE-426; PS004")
def definer_unsafe_search_path(stack: Stack):
    """A SECURITY DEFINER function's search_path can still be hijacked.

    ## What it does
    Checks the `SET search_path` of `SECURITY DEFINER` functions and flags `$user`, a schema every
    role may create in (`public` on PostgreSQL < 15, or after `GRANT CREATE ON SCHEMA … TO
    PUBLIC`), and a list where `pg_temp` is absent (PostgreSQL then searches it first) or not last.

    ## Why is this bad?
    Any of these lets a caller put an object earlier in the path than the one the function meant:
    their `users` table, their `lower()` function, their temporary `=` operator — run with the
    definer's privileges.

    ## Example
    ```sql
    CREATE FUNCTION f() RETURNS void LANGUAGE sql SECURITY DEFINER
      SET search_path = "$user", public AS $$ … $$;
    ```

    ## Use instead
    ```sql
    SET search_path = app, pg_temp   -- a schema only the owner can create in, pg_temp last
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-426; pgspot PS004; PostgreSQL documentation, Writing SECURITY DEFINER Functions Safely.
    """
    model = sql_model(stack)
    creatable = _creatable_schemas(stack)
    for f in model.functions:
        if f.is_do or not f.definer or f.search_path is None:
            continue
        path = [p.strip().strip('"') for p in f.search_path if p is not None]
        if len(path) == 1 and "," in path[0]:
            path = [p.strip().strip('"') for p in path[0].split(",")]
        path = [p for p in path if p != ""]
        problems = []
        if "$user" in path:
            problems.append("$user (a schema named after the caller)")
        open_schemas = [p for p in path if p in creatable]
        if open_schemas:
            why = "postgres < 15" if "public" in open_schemas and pg_major(stack) is not None and pg_major(stack) < 15 else "GRANT CREATE … TO PUBLIC"
            problems.append(f"{', '.join(open_schemas)} (every role can create there: {why})")
        if "pg_temp" not in path:
            problems.append("no pg_temp (so it is searched first)")
        elif path[-1] != "pg_temp":
            problems.append("pg_temp not last")
        if not problems:
            continue
        shown = ", ".join(path) if path else "''"
        yield hit(f.search_path_loc or f.loc, f"SECURITY DEFINER {f.label} search_path = {shown}: {'; '.join(problems)}",
                  snippet_key=f.label)


def _exec_exprs(sd: dict, kind: str) -> list[dict]:
    keys = {"dynexecute": ("query",), "return_query": ("dynquery",), "dynfors": ("query",), "open": ("dynquery",)}.get(kind, ())
    out = []
    for k in keys:
        v = sd.get(k)
        if isinstance(v, dict) and "PLpgSQL_expr" in v:
            out.append(v["PLpgSQL_expr"])
    return out


@rule("APP062", "dynamic-sql-concatenation", "high", files="sql", refs="CWE-89")
def dynamic_sql_concatenation(stack: Stack):
    """PL/pgSQL builds dynamic SQL by pasting variables into the text.

    ## What it does
    In functions, procedures and `DO` blocks written in PL/pgSQL, flags `EXECUTE`, `RETURN QUERY
    EXECUTE`, `FOR … IN EXECUTE` and `OPEN … FOR EXECUTE` whose query text is built with `||`,
    `concat()` or `format('%s')` from variables (directly, or through a variable assigned that way)
    that are not wrapped in `quote_ident()`/`quote_literal()`/`quote_nullable()` nor passed with
    `%I`/`%L`. Variables of numeric, boolean, uuid and date/time types are not injectable and are
    ignored; values passed with `USING` never reach the text.

    ## Why is this bad?
    A value containing a quote ends the literal or identifier and appends SQL of the caller's
    choosing, run with the function's privileges — the owner's, for a `SECURITY DEFINER` function.

    ## Example
    ```sql
    EXECUTE 'SELECT count(*) FROM ' || tbl || ' WHERE owner = ''' || who || '''';
    ```

    ## Use instead
    ```sql
    EXECUTE format('SELECT count(*) FROM %I WHERE owner = $1', tbl) USING who;
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-89; PostgreSQL documentation, PL/pgSQL Executing Dynamic Commands.
    """
    ast = pg_ast()
    model = sql_model(stack)
    for f in model.functions:
        if f.language != "plpgsql" or f.body is None:
            continue
        fn, _err = f.plpgsql()
        if not fn:
            continue
        types = _sql.plpgsql_var_types(fn)
        assigned = {m.group(1).lower() for _k, sd in _sql.plpgsql_statements(fn.get("action")) if _k == "assign"
                    for m in [re.match(r"\s*([A-Za-z_][\w$]*)", ((sd.get("expr") or {}).get("PLpgSQL_expr") or {}).get("query") or "")] if m}
        for name, default in _sql.plpgsql_var_defaults(fn).items():
            if name not in assigned and default is not None and re.fullmatch(r"\s*'(?:[^']|'')*'\s*(::\s*\w+\s*)?", default):
                types[name] = "int4"  # a constant: nothing from outside reaches it
        tainted: dict[str, list[str]] = {}
        first_line, _ = _sql.lines_of(f.doc).pos(f.body_offset or f.stmt.offset)
        for kind, sd in _sql.plpgsql_statements(fn.get("action")):
            lineno = sd.get("lineno") or 1
            if kind == "assign":
                expr = (sd.get("expr") or {}).get("PLpgSQL_expr") or {}
                text = expr.get("query") or ""
                parsed = _sql.parse_expr(text, expr.get("parseMode", 3))
                m = re.match(r"\s*([A-Za-z_][\w$]*)", text)
                if parsed is not None and m:
                    var = m.group(1).lower()
                    parts = unsafe_parts(parsed[0], types, tainted)
                    if parts and _is_string_building(parsed[0]):
                        tainted[var] = sorted(set(parts))
                    else:
                        tainted[var] = []  # built from constants, quoted values or numbers
                continue
            for expr in _exec_exprs(sd, kind):
                text = expr.get("query") or ""
                parsed = _sql.parse_expr(text, expr.get("parseMode", 2))
                if parsed is None:
                    continue
                root = parsed[0]
                if isinstance(root, ast.ColumnRef) and ".".join(_sql.name_parts(root.fields)).lower() not in tainted:
                    continue  # EXECUTE of a whole parameter: not text built here
                parts = sorted(set(unsafe_parts(root, types, tainted)))
                if not parts:
                    continue
                line = first_line + lineno - 1
                src = f.doc.line_text(line)
                loc = _sql.Location(f.doc.path, line, len(src) - len(src.lstrip()) + 1)
                what = {"dynexecute": "EXECUTE", "return_query": "RETURN QUERY EXECUTE", "dynfors": "FOR … IN EXECUTE", "open": "OPEN … FOR EXECUTE"}[kind]
                where = f.label if not f.is_do else "DO block"
                yield hit(loc, f"{what} in {where} pastes {', '.join(parts)} into the SQL text unquoted: use format('%I'/'%L') or USING",
                          snippet_key=f"{where}:{what}:{','.join(parts)}")


def _is_string_building(node) -> bool:
    ast = pg_ast()
    if isinstance(node, ast.A_Expr):
        return (_sql.name_parts(node.name) or [""])[-1] == "||"
    if isinstance(node, ast.FuncCall):
        return func_name(node) in ("format", "concat", "concat_ws")
    return False


# ---------------------------------------------------------------------------------------------
# APP063
# ---------------------------------------------------------------------------------------------


def _unquoted_list(value: str) -> str:
    out = []
    for part in value.split(","):
        p = part.strip()
        if not p:
            continue
        if p.startswith('"') and p.endswith('"'):
            out.append(p)
        elif p == "$user":
            out.append('"$user"')
        else:
            out.append(quote_ident(p))
    return ", ".join(out)


@rule("APP063", "quoted-search-path", "medium", files="sql", refs="PS018", fix="safe")
def quoted_search_path(stack: Stack):
    """search_path is set to one quoted string holding a comma-separated list.

    ## What it does
    Flags `SET search_path TO 'a, b'` — in `SET`, `ALTER ROLE/DATABASE … SET`, `ALTER SYSTEM` or a
    function's `SET` clause — where a single quoted literal contains a comma.

    ## Why is this bad?
    The quotes make it one schema name, literally `a, b`, which does not exist: the path is
    effectively empty (plus `pg_catalog` and `pg_temp`), unqualified names stop resolving or
    resolve somewhere unexpected, and a function meant to be pinned is not.

    ## Example
    ```sql
    SET search_path TO 'app, public';
    ```

    ## Use instead
    ```sql
    SET search_path TO app, public;
    ```
    (`set_config('search_path', 'app, public', false)` takes the list as one string and is fine.)

    ## Fix safety
    Safe: the statement then does what it was written for.

    ## References
    pgspot PS018; PostgreSQL documentation, SET.
    """
    ast = pg_ast()
    model = sql_model(stack)
    for unit, node, _ctx in model.nodes_of(ast.VariableSetStmt):
        if node.name != "search_path" or ename(node.kind) != "VAR_SET_VALUE" or len(node.args or ()) != 1:
            continue
        value = const_value(node.args[0])
        if not isinstance(value, str) or "," not in value:
            continue
        loc_ = getattr(node, "location", None)
        start = unit.base + loc_ if isinstance(loc_, int) and loc_ > 0 else (unit.base if unit.func else unit.stmt.offset)
        span = find_literal(unit.doc, start, value)
        if span is None:
            continue
        loc = loc_at(unit.doc, span[0], span[1])
        fix = Fix("unquote into a list", (Edit(loc, _unquoted_list(value)),))
        yield hit(loc, f"search_path is set to one quoted name containing a comma ('{_unquoted_list(value)}' as a single schema): write the schemas unquoted",
                  fix=fix, snippet_key=f"search_path:{value}")

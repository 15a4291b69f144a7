"""Data, PostgreSQL credentials family: password storage and authentication (SCRAM, TLS),
seeded admin accounts, hashes, tokens and sensitive columns."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers import sql as _sql
from rules.helpers.locations import LazyRe
from rules.helpers.sql import (
    is_token_table,
    STRING_TYPES,
    column_names,
    const_value,
    find_literal,
    func_name,
    lines_of,
    loc_at,
    pg_ast,
    pg_major,
    pg_settings,
    sql_model,
    stmt_loc,
    unit_loc,
)
from scanner.caches import per_stack
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

PASSWORD_RE = LazyRe(r"(password|passwd|passphrase|pwd|(^|_)pass($|_)|(^|_)pw($|_))")
ADMIN_TABLE_RE = LazyRe(r"^(\w+_)?(users?|admins?|accounts?|administrators?)$")
ADMIN_ROLE_COLS = {"role", "user_role", "role_name", "account_type", "user_type", "type", "level"}
ADMIN_FLAG_COLS = {"is_admin", "admin", "is_superuser", "is_superadmin", "superuser", "is_super_admin", "is_root"}
ADMIN_VALUES = {"admin", "superadmin", "super_admin", "super-admin", "administrator", "root", "superuser"}
TOKEN_COL_RE = LazyRe(r"^(key|token|secret|api_key|apikey|\w+_token|\w+_secret|\w+_key)$")
TOKEN_COL_EXEMPT = LazyRe(r"(_hash|_digest|_id|_prefix|_type|_name|_hint|_last4|_preview|public_key|_url)$")
SECRET_COL_RE = LazyRe(
    r"^(totp_secret|mfa_secret|otp_secret|two_factor_secret|2fa_secret|tfa_secret|webhook_secret|\w+_webhook_secret|"
    r"ssn|social_security(_number)?|card_number|credit_card(_number)?|cc_number|cvv|cvc|iban|bank_account(_number)?|"
    r"tax_id|national_id|passport_number|\w+_secret)$")
SECRET_COL_EXEMPT = LazyRe(r"(_enc|_encrypted|_hash|_digest|_ciphertext|_id)$")
BCRYPT_RE = LazyRe(r"^\$2[abxy]?\$(\d\d)\$")
ENCRYPT_FUNCS = {"pgp_sym_encrypt", "pgp_pub_encrypt", "pgp_sym_encrypt_bytea", "pgp_pub_encrypt_bytea", "encrypt", "encrypt_iv"}


def _in_stmt(loc: Location, doc, stmt) -> bool:
    return loc.path == doc.path and stmt.line <= loc.start_line <= stmt.end_line


# ---------------------------------------------------------------------------------------------
# DATA055: authentication method and password storage
# ---------------------------------------------------------------------------------------------


def _md5_storage(stack: Stack, svc) -> tuple[bool, str]:
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
def pg_auth_not_scram(stack: Stack):
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
                          fix=Fix("use scram-sha-256", (Edit(Location(sf.rel, no, max(col, 1), no, max(col, 1) + len(meth)), "scram-sha-256"),)),
                          snippet_key=f"pg_hba:{' '.join(words[:idx])}")


def _auth_settings(stack: Stack, svc):
    md5, why = _md5_storage(stack, svc)
    settings = pg_settings(stack, svc)
    pe = settings.get("password_encryption")
    major = pg_major(stack, svc)
    if pe is not None and pe.value.strip().lower() not in ("scram-sha-256",):
        fix = Fix("set password_encryption to scram-sha-256", (Edit(pe.edit_span, "scram-sha-256"),)) if pe.edit_span else None
        yield hit(pe.edit_span or pe.loc, f"password_encryption={pe.value} ({pe.source}): new passwords are stored as md5, a password-equivalent hash",
                  fix=fix, snippet_key=f"{svc.name}:password_encryption")
    elif pe is None and md5 and major is not None and major < 14:
        flags = _sql.add_command_flags(svc, ["password_encryption=scram-sha-256"])
        yield hit(Location(svc.doc.path, svc.key.line, svc.key.col),
                  f"{why} and password_encryption is not set to scram-sha-256",
                  fix=Fix("add -c password_encryption=scram-sha-256", flags) if flags else None,
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


def _env_value_fix(stack: Stack, svc, key: str, value: str) -> Fix | None:
    var = svc.env(key)
    if var is not None and var.value_node is not None and var.value_node is not var.key_node and var.value_node.line == var.value_node.end_line:
        n = var.value_node
        return Fix(f"set {key}={value}", (Edit(Location(svc.doc.path, n.line, n.col, n.end_line, n.end_col), value),))
    for d in reversed(stack.service_dotenvs(svc)):
        e = d.get(key)
        if e is not None:
            return Fix(f"set {key}={value}", (Edit(Location(d.path, e.value_line, e.value_col, e.end_line, e.end_col), value),))
    return None


# ---------------------------------------------------------------------------------------------
# DATA056 - DATA060: seeded admins, passwords and tokens
# ---------------------------------------------------------------------------------------------

_HARDCODED: dict[int, tuple] = per_stack()


def hardcoded_passwords(stack: Stack) -> list[tuple[Location, str, str, object, object]]:
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
def default_admin_seeded(stack: Stack):
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
def hardcoded_password_sql(stack: Stack):
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


def _gen_salt_calls(stack: Stack):
    ast = pg_ast()
    model = sql_model(stack)
    for unit, node, _ctx in model.nodes_of(ast.FuncCall):
        if func_name(node) == "gen_salt" and node.args:
            yield unit, node


def _call_span(unit, node):
    start = unit.base + (node.location if node.location is not None and node.location >= 0 else 0)
    return start


@rule("DATA058", "weak-bcrypt-cost", "medium", files="sql/env", refs="CWE-916; OWASP Password Storage CS; pgcrypto docs", fix="safe")
def weak_bcrypt_cost(stack: Stack):
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
            if key_re.match(e.key) and small_int(e.value.strip()) is not None and small_int(e.value.strip()) < min_cost:
                seen.add((sf.rel, e.key))
                loc = Location(sf.rel, e.value_line, e.value_col, e.end_line, e.end_col)
                yield hit(loc, f"{e.key}={e.value.strip()} < {min_cost}", fix=Fix(f"set {e.key}={min_cost}", (Edit(loc, str(min_cost)),)),
                          snippet_key=e.key)
    for svc in stack.services:
        for var in svc.environment:
            if key_re.match(var.key) and var.value and small_int(var.value.strip()) is not None and small_int(var.value.strip()) < min_cost and var.value_node is not None:
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
def fast_password_hash(stack: Stack):
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
def plaintext_bearer_token(stack: Stack):
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
        if not is_token_table(t.name):
            continue
        if any(re.search(r"(^|_)(hash|digest)$", c) for c in t.columns):
            continue
        cols = [c for c in t.columns.values()
                if c.type in STRING_TYPES and TOKEN_COL_RE.match(c.name) and not TOKEN_COL_EXEMPT.search(c.name)]
        if not cols:
            continue
        names = ", ".join(f"{c.name} ({c.type})" for c in cols)
        # at the column to change (the first; the table and the others related)
        yield hit(cols[0].loc, f"table '{t.qname}' stores bearer credentials in clear text: {names}, and has no *_hash column",
                  related=[t.loc, *(c.loc for c in cols[1:])], snippet_key=t.qname)


@rule("DATA064", "secret-column-unencrypted", "medium", files="sql", refs="CWE-311; CIS-PG 6.9")
def secret_column_unencrypted(stack: Stack):
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
        if is_token_table(t.name):
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
def pg_no_tls_off_host(stack: Stack):
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
        if settings.get("port") is not None and small_int(settings["port"].value) is not None:
            port = small_int(settings["port"].value)
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

"""What the PostgreSQL rules share: one model of the init scripts, and the compose/env facts around them.

``sql_model(stack)`` replays every init script the way ``docker-entrypoint-initdb.d`` runs them (files
in name order, statements in order) and records what the database ends up with: tables and their
columns, owners and row-level-security state, policies, roles, grants, functions (with their bodies:
``LANGUAGE sql`` parsed with pglast, PL/pgSQL with ``parse_plpgsql``), views, triggers and
``ALTER SYSTEM`` settings. It is computed once per stack.

Every SQL tree the model knows is also available as a ``Unit`` (a parsed statement with the file
offset its ``location`` attributes count from), so a rule can walk top-level statements, SQL function
bodies and the SQL expressions inside PL/pgSQL alike, and still point at the right line.

The compose side: the postgres service, its image's major version, ``POSTGRES_USER`` (the image's
superuser, ``postgres`` by default), the app's DB user (``DATABASE_URL``, ``DB_USER``, ``PGUSER`` in
the app's environment) and the server settings (``-c key=value`` in the command, a mounted
``postgresql.conf``, ``ALTER SYSTEM``)."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import unquote, urlsplit

from rules.helpers.compose import image_ref
from rules.helpers.locations import LazyRe
from scanner.caches import per_stack
from scanner.model import Edit, Fix, Location
from scanner.parsers import pgtree as _pgtree
from scanner.parsers.sql import _skip_space as _skip_blank

if TYPE_CHECKING:
    from scanner.stack import Stack

# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

OWNER_COLUMNS = ("user_id", "tenant_id", "owner_id", "org_id", "account_id")
STRING_TYPES = {"text", "varchar", "bpchar", "char", "character", "character varying", "citext", "name"}


def ename(value: Any) -> str:
    """An enum member's name (pglast 7 and 8 differ in values; names are stable)."""
    return getattr(value, "name", str(value))


def sval(node: Any) -> str | None:
    """The Python value of a pglast ``String``/``A_Const`` string node."""
    ast = pg_ast()
    if isinstance(node, ast.A_Const):
        node = node.val
    if isinstance(node, ast.String):
        return node.sval
    return None


def const_value(node: Any) -> Any:
    """Value of a constant (A_Const, or a cast of one); ``None`` when not a constant."""
    ast = pg_ast()
    if isinstance(node, ast.TypeCast):
        inner = const_value(node.arg)
        tname = type_name(node.typeName)
        if tname == "bool" and isinstance(inner, str):
            low = inner.strip().lower()
            if low in ("t", "true", "y", "yes", "on", "1"):
                return True
            if low in ("f", "false", "n", "no", "off", "0"):
                return False
        return inner
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return None
        v = node.val
        if isinstance(v, ast.Boolean):
            return bool(v.boolval)
        if isinstance(v, ast.Integer):
            return v.ival
        if isinstance(v, ast.Float):
            return v.fval
        if isinstance(v, ast.String):
            return v.sval
    return None


def is_const(node: Any) -> bool:
    ast = pg_ast()
    if isinstance(node, ast.TypeCast):
        return is_const(node.arg)
    return isinstance(node, ast.A_Const)


def type_name(tn: Any) -> str:
    """Last part of a TypeName, lower case (``pg_catalog.int4`` -> ``int4``)."""
    names = getattr(tn, "names", None) or ()
    parts = [n.sval for n in names if hasattr(n, "sval")]
    return parts[-1].lower() if parts else ""


def name_parts(items: Any) -> list[str]:
    return [i.sval for i in (items or ()) if hasattr(i, "sval")]


def func_name(call: Any) -> str:
    """Unqualified, lower-case name of a FuncCall."""
    parts = name_parts(getattr(call, "funcname", None))
    return parts[-1].lower() if parts else ""


def role_name(spec: Any) -> str:
    """``public`` for PUBLIC, else the role name (CURRENT_USER & co. as ``current_user``)."""
    kind = ename(getattr(spec, "roletype", ""))
    if kind == "ROLESPEC_PUBLIC":
        return "public"
    if kind == "ROLESPEC_CSTRING":
        return spec.rolename or ""
    return kind.replace("ROLESPEC_", "").lower()


def pg_ast():
    """The parse node classes (``scanner.parsers.pgtree.ast``, named and shaped as ``pglast.ast``'s:
    ``isinstance(node, pg_ast().A_Const)``) without importing pglast's AST."""
    return _pgtree.ast


def _node_slots(cls: type) -> tuple[str, ...]:
    """The fields of a node class that can hold a node or a tuple of them (an ``int``/``str``/``bool``/
    enum field never does): walking the model visits every node of every script."""
    return cls._children


def children(node: Any) -> Iterator[tuple[str, Any]]:
    """(slot, child node) of a parse node, tuples flattened."""
    node_cls = _pgtree.Node
    for slot in node._children:
        value = getattr(node, slot)
        if isinstance(value, node_cls):
            yield slot, value
        elif isinstance(value, tuple):
            stack = list(reversed(value))
            while stack:
                item = stack.pop()
                if isinstance(item, node_cls):
                    yield slot, item
                elif isinstance(item, tuple):
                    stack.extend(reversed(item))


def child_nodes(node: Any) -> list:
    """The child nodes of a parse node, in :func:`children`'s order, as a list: the walks below
    visit every node of every script, and a plain loop costs half a generator's resumptions."""
    node_cls = _pgtree.Node
    out = []
    for slot in node._children:
        value = getattr(node, slot)
        if isinstance(value, node_cls):
            out.append(value)
        elif isinstance(value, tuple):
            stack = list(reversed(value))
            while stack:
                item = stack.pop()
                if isinstance(item, node_cls):
                    out.append(item)
                elif isinstance(item, tuple):
                    stack.extend(reversed(item))
    return out


def walk(node: Any) -> Iterator[Any]:
    """Every pglast node under ``node`` (itself included), depth first."""
    ast = pg_ast()
    todo = [node]
    while todo:
        cur = todo.pop()
        if isinstance(cur, tuple):
            todo.extend(reversed(cur))
            continue
        if not isinstance(cur, ast.Node):
            continue
        yield cur
        todo.extend(reversed(child_nodes(cur)))


def column_names(node: Any) -> set[str]:
    """Names of the columns an expression references (last field of each ColumnRef)."""
    ast = pg_ast()
    out = set()
    for n in walk(node):
        if isinstance(n, ast.ColumnRef):
            parts = name_parts(n.fields)
            if parts:
                out.add(parts[-1].lower())
    return out


def parse_errors() -> tuple[type[Exception], ...]:
    """What pglast raises on text it cannot read: its ParseError (a ``pglast.Error``) and ValueError
    (text the C parser cannot take: lone surrogates). Anything else is a bug, which the engine reports
    (OPS082) instead of a silently wrong answer. A function: pglast is imported when first needed."""
    _pgtree.pglast_parser()
    from pglast import Error

    return (Error, ValueError)


def printer_errors() -> tuple[type[Exception], ...]:
    """What pglast's printers (``RawStream``) raise on a node they cannot print: those of
    :func:`parse_errors`, NotImplementedError (no printer), RuntimeError and TypeError (shapes refused)."""
    return parse_errors() + (NotImplementedError, RuntimeError, TypeError)

_STRING_LIT = re.compile(r"(?:[EeNn]|[Uu]&)?'(?:[^']|'')*'")


def deparse(node: Any, limit: int = 120) -> str:
    """SQL text of a node for a message, every string literal shown as ``'***'`` (pglast's printer,
    over the node rebuilt as pglast's AST)."""
    try:
        text = _print(node)
    except printer_errors():  # a node pglast cannot print: the message says "…"
        return "…"
    text = _STRING_LIT.sub("'***'", text)
    text = re.sub(r"\$([A-Za-z_]*)\$.*?\$\1\$", "$$***$$", text, flags=re.S)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print(node: Any) -> str:
    """``RawStream()(node)``: the simplest nodes printed here (type names, constants...), the others
    by pglast's printer (imported, with pglast's AST, when first needed)."""
    text = _pgtree.print_simple(node)
    if text is not None:
        return text
    from pglast.stream import RawStream

    return RawStream()(_pgtree.to_pglast(node))


def quote_ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# positions
# ---------------------------------------------------------------------------------------------


class Lines:
    """Offset -> (line, col) for one document, by bisection."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def pos(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, max(0, offset)) - 1
        return i + 1, offset - self.starts[i] + 1

    def line_start(self, line: int) -> int:
        return self.starts[min(max(line, 1), len(self.starts)) - 1]


_LINES: dict[int, tuple[Any, Lines]] = per_stack()


def lines_of(doc) -> Lines:
    cached = _LINES.get(id(doc))
    if cached is None or cached[0] is not doc:
        cached = (doc, Lines(doc.text))
        if len(_LINES) > 16:  # each entry keeps a parsed script alive: a monorepo worker audits hundreds
            _LINES.clear()
        _LINES[id(doc)] = cached
    return cached[1]


def loc_at(doc, offset: int, end: int | None = None) -> Location:
    lines = lines_of(doc)
    line, col = lines.pos(offset)
    if end is None:
        return Location(doc.path, line, col)
    eline, ecol = lines.pos(end)
    return Location(doc.path, line, col, eline, ecol)


def stmt_loc(doc, stmt) -> Location:
    return Location(doc.path, stmt.line, stmt.col)


def stmt_end(doc, stmt) -> int:
    """File offset just after a statement's terminating ``;`` (or its last character)."""
    end = stmt.offset + len(stmt.text)
    text = doc.masked or doc.text
    j = end
    while j < len(text) and text[j] in " \t":
        j += 1
    if j < len(text) and text[j] == ";":
        return j + 1
    return end


def append_after(doc, stmt, sql: str) -> Edit:
    """An insertion of ``sql`` on new lines after the statement: at the start of the next line
    when only blanks or a ``--`` comment follow its ``;``, else right after the ``;``."""
    end = stmt_end(doc, stmt)
    line, col = lines_of(doc).pos(end)
    indent = re.match(r"[ \t]*", doc.line_text(stmt.line)).group(0)
    rest = doc.line_text(line)[col - 1:]
    body = [indent + s for s in sql.splitlines()]
    if rest.strip() == "" or rest.strip().startswith("--"):
        if line < len(lines_of(doc).starts):  # the line ends with a newline
            return Edit(Location(doc.path, line + 1, 1), "".join(b + "\n" for b in body))
        return Edit(Location(doc.path, line, len(doc.line_text(line)) + 1), "".join("\n" + b for b in body))
    return Edit(Location(doc.path, line, col), "".join("\n" + b for b in body))


def fix_after(description: str, doc, stmt, sql: str, applicability: str = "safe"):
    """A Fix appending ``sql`` after a statement; None for statements replayed from a DO block
    (their text lives inside the block's body)."""
    if getattr(stmt, "replayed", False):
        return None
    return Fix(description, (append_after(doc, stmt, sql),), applicability)


def near_token(doc, start: int, pred, limit: int = 4000) -> tuple[int, int] | None:
    """(start, end) file offsets of the first token at/after ``start`` satisfying ``pred(text)``."""
    for s, e, _name, text in tokens(doc):
        if s < start:
            continue
        if s > start + limit:
            break
        if pred(text):
            return s, e
    return None


# ---------------------------------------------------------------------------------------------
# tokens (string literals, including those inside $$ bodies)
# ---------------------------------------------------------------------------------------------

_TOKENS: dict[int, tuple[Any, list]] = per_stack()
# ``$tag$``: a tag is [A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*, written as the complement of that
# set, which compiles in a tenth of the time (a 64K-character range costs `re` ~8 ms at every start)
_DOLLAR = re.compile(r"\$([^\x00-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff]"
                     r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff]*)?\$")


def _scan(text: str, base: int, out: list, depth: int) -> None:
    parser = _pgtree.pglast_parser()

    try:
        toks = list(parser.scan(text))
    except parse_errors():  # unterminated literal: nothing to report from here
        return
    # one comprehension for every token (thousands in a script), then the few dollar-quoted bodies
    out.extend([(base + s, base + end + 1, name, text[s:end + 1]) for s, end, name, _kind in toks])
    if depth >= 3:
        return
    for s, end, name, _kind in toks:
        if name == "SCONST" and text.startswith("$", s):
            piece = text[s:end + 1]
            m = _DOLLAR.match(piece)
            if m and len(piece) >= 2 * len(m.group(0)):
                inner = piece[len(m.group(0)) : len(piece) - len(m.group(0))]
                _scan(inner, base + s + len(m.group(0)), out, depth + 1)


def tokens(doc) -> list[tuple[int, int, str, str]]:
    """(start, end, name, text) of every token of the masked script, ``$$`` bodies scanned too,
    in file order."""
    cached = _TOKENS.get(id(doc))
    if cached is None or cached[0] is not doc:
        out: list = []
        _scan(doc.masked or doc.text, 0, out, 0)
        out.sort(key=lambda t: t[0])
        cached = (doc, out)
        if len(_TOKENS) > 16:  # each entry keeps a parsed script alive: a monorepo worker audits hundreds
            _TOKENS.clear()
        _TOKENS[id(doc)] = cached
    return cached[1]


def literal_value(piece: str) -> str | None:
    """Value of a string-literal token."""
    if piece.startswith("$"):
        m = _DOLLAR.match(piece)
        if m:
            return piece[len(m.group(0)) : len(piece) - len(m.group(0))]
        return None
    if piece[:1] in "eE" and piece[1:2] == "'":
        return piece[2:-1].replace("''", "'").replace("\\'", "'").replace("\\\\", "\\")
    if piece.startswith("'"):
        return piece[1:-1].replace("''", "'")
    return None


def string_literals(doc) -> Iterator[tuple[int, int, str]]:
    """(start, end, value) of every string literal not produced by psql masking."""
    for s, e, name, piece in tokens(doc):
        if name != "SCONST" or piece.startswith("$"):
            continue
        if doc.is_masked(s, e):
            continue
        value = literal_value(piece)
        if value is not None:
            yield s, e, value


def find_literal(doc, start: int, value: str, limit: int = 20000) -> tuple[int, int] | None:
    """File span of the first string literal at/after ``start`` whose value is ``value``."""
    for s, e, name, piece in tokens(doc):
        if s < start or name != "SCONST":
            continue
        if s > start + limit:
            break
        if literal_value(piece) == value:
            return s, e
    return None


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------


@dataclass(repr=False, eq=False)
class Column:
    """A column of a table."""

    name: str
    type: str
    loc: Location
    node: Any = None


@dataclass(repr=False, eq=False)
class Table:
    """A table the scripts create (or only alter), with its columns, owner and RLS state."""

    schema: str
    name: str
    doc: Any
    stmt: Any
    order: int
    columns: dict[str, Column] = field(default_factory=dict)
    owner: str | None = None  # None: the role running the init scripts (POSTGRES_USER)
    owner_explicit: bool = False
    rls: bool = False
    forced: bool = False
    rls_events: list = field(default_factory=list)  # (kind, doc, stmt, order): ENABLE/DISABLE/FORCE/NOFORCE
    fks: list = field(default_factory=list)  # (Constraint, Location, pktable name, column names)
    external: bool = False  # only ALTERed here (created by migrations elsewhere)

    @property
    def key(self) -> tuple[str, str]:
        return self.schema, self.name

    @property
    def qname(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    @property
    def loc(self) -> Location:
        return stmt_loc(self.doc, self.stmt)

    def owner_columns(self) -> list[str]:
        return [c for c in self.columns if c in OWNER_COLUMNS]

    def last_event(self, *kinds: str):
        for ev in reversed(self.rls_events):
            if ev[0] in kinds:
                return ev
        return None


@dataclass(repr=False, eq=False)
class Role:
    """A role the scripts create or alter, with its attributes."""

    name: str
    login: bool = False
    created: bool = False
    attrs: dict[str, bool] = field(default_factory=dict)  # superuser, createrole, createdb, isreplication, bypassrls
    attr_locs: dict[str, Location] = field(default_factory=dict)
    stmts: list = field(default_factory=list)  # (doc, stmt)

    def has(self, attr: str) -> bool:
        return bool(self.attrs.get(attr))


@dataclass(repr=False, eq=False)
class Grant:
    """One GRANT or REVOKE (or ALTER DEFAULT PRIVILEGES) statement."""

    is_grant: bool
    privs: set[str]  # lower case; "all" for ALL [PRIVILEGES]
    target: str  # "object", "all_in_schema", "defaults"
    objtype: str  # "table", "sequence", "function", "schema", "database", ...
    objects: list  # table keys / schema names / function names
    grantees: list[str]
    doc: Any
    stmt: Any
    order: int
    node: Any = None
    default_schemas: list[str] = field(default_factory=list)
    default_roles: list[str] = field(default_factory=list)

    @property
    def loc(self) -> Location:
        return stmt_loc(self.doc, self.stmt)


@dataclass(repr=False, eq=False)
class Policy:
    """A row-level security policy."""

    name: str
    table: tuple[str, str]
    cmd: str  # all, select, insert, update, delete
    permissive: bool
    roles: list[str]  # [] = PUBLIC (no TO clause)
    using: Any
    check: Any
    doc: Any
    stmt: Any
    order: int

    @property
    def loc(self) -> Location:
        return stmt_loc(self.doc, self.stmt)

    def clause_loc(self, clause: str) -> Location:
        """Where the policy's ``USING`` or ``WITH CHECK`` clause starts: the line to change (the
        statement's start when the keyword is not found in its masked text)."""
        pattern = r"(?i)\bWITH\s+CHECK\b" if clause == "check" else r"(?i)\bUSING\b"
        m = re.search(pattern, self.stmt.masked or "")
        if m is None or len(self.stmt.masked) != len(self.stmt.text):
            return self.loc
        return loc_at(self.doc, self.stmt.offset + m.start())

    @property
    def effective_check(self) -> Any:
        """WITH CHECK, else USING for ALL/UPDATE (PostgreSQL reuses it)."""
        if self.check is not None:
            return self.check
        return self.using if self.cmd in ("all", "update") else None

    @property
    def public(self) -> bool:
        return not self.roles or "public" in self.roles


@dataclass(repr=False, eq=False)
class Function:
    """A function, procedure or DO block, with its body and security settings."""

    schema: str
    name: str | None  # None for a DO block
    doc: Any
    stmt: Any
    order: int
    language: str = "sql"
    definer: bool = False
    definer_loc: Location | None = None
    search_path: list[str] | None = None
    search_path_loc: Location | None = None
    argtypes: list[str] = field(default_factory=list)
    returns: str = ""
    body: str | None = None
    body_offset: int | None = None  # file offset of the body's first character
    owner: str | None = None

    @property
    def is_do(self) -> bool:
        return self.name is None

    @property
    def loc(self) -> Location:
        return stmt_loc(self.doc, self.stmt)

    @property
    def label(self) -> str:
        if self.name is None:
            return "DO block"
        q = self.name if self.schema in ("public", "") else f"{self.schema}.{self.name}"
        return f"{q}({', '.join(self.argtypes)})"

    def plpgsql(self) -> tuple[dict | None, str | None]:
        if self.language != "plpgsql":
            return None, None
        data, err = self.stmt.plpgsql()
        if data and isinstance(data, list) and data and isinstance(data[0], dict):
            return data[0].get("PLpgSQL_function"), err
        return None, err

    def body_line_offset(self, lineno: int) -> int:
        """File offset of line ``lineno`` (1 = the line the body starts on) of the body."""
        if self.body_offset is None:
            return self.stmt.offset
        lines = lines_of(self.doc)
        first, _ = lines.pos(self.body_offset)
        line = first + max(lineno, 1) - 1
        return self.body_offset if line == first else lines.line_start(line)


@dataclass(repr=False, eq=False)
class View:
    """A view or materialized view and the relations it reads."""

    schema: str
    name: str
    doc: Any
    stmt: Any
    order: int
    relations: list  # RangeVar nodes
    invoker: bool = False
    materialized: bool = False

    @property
    def loc(self) -> Location:
        return stmt_loc(self.doc, self.stmt)


@dataclass(repr=False, eq=False)
class Trigger:
    """A trigger, or a DO INSTEAD NOTHING rule, on a table."""

    name: str
    table: tuple[str, str]
    func: str
    before: bool
    events: set[str]
    row: bool
    doc: Any
    stmt: Any
    rule: bool = False  # a DO INSTEAD NOTHING rule rather than a trigger


@dataclass(repr=False, eq=False)
class Unit:
    """A parsed SQL tree and where its text lives: ``base`` is the file offset its node locations
    count from; ``func`` the function or DO block whose body it comes from (None at top level)."""

    doc: Any
    stmt: Any  # the top-level Statement
    node: Any
    base: int
    func: Function | None = None
    plstmt: dict | None = None  # the PL/pgSQL statement it comes from
    line: int | None = None  # line of the PL/pgSQL statement
    text: str = ""  # the PL/pgSQL expression text (``v := …`` for an assignment)

    @property
    def assign_target(self) -> str | None:
        """The variable (last part, lower case) a PL/pgSQL assignment writes."""
        if not self.plstmt or self.plstmt.get("kind") != "assign":
            return None
        m = re.match(r"\s*([A-Za-z_][\w$]*(?:\s*\.\s*[A-Za-z_][\w$]*)*)\s*(?:\[[^\]]*\]\s*)?:?=", self.text)
        return m.group(1).split(".")[-1].strip().lower() if m else None


@dataclass(repr=False, eq=False)
class SettingRef:
    """A PostgreSQL setting and where it is set (command line, config file, ALTER SYSTEM)."""

    name: str
    value: str
    source: str  # "command", "conf", "alter system"
    loc: Location
    order: int = 0  # for ALTER SYSTEM: statement order
    edit_span: Location | None = None  # the value's text, when it can be edited in place


@dataclass(repr=False, eq=False)
class SqlModel:
    """What the stack's SQL scripts define, in order: tables, roles, grants, policies, functions..."""

    docs: list = field(default_factory=list)
    stmts: list = field(default_factory=list)  # (doc, stmt, order)
    tables: dict = field(default_factory=dict)  # (schema, name) -> Table
    roles: dict = field(default_factory=dict)  # name -> Role
    grants: list = field(default_factory=list)
    policies: list = field(default_factory=list)
    functions: list = field(default_factory=list)
    views: list = field(default_factory=list)
    triggers: list = field(default_factory=list)
    settings: list = field(default_factory=list)  # ALTER SYSTEM SettingRef
    reloads: list = field(default_factory=list)  # orders of pg_reload_conf() calls
    passwords: list = field(default_factory=list)  # (role, kind literal|var|hash, doc, stmt, order, Location)
    units_cache: list | None = None
    cache: dict = field(default_factory=dict)

    # -- lookups --------------------------------------------------------------------------
    def table(self, rv: Any, search: tuple[str, ...] = ("public",)) -> Table | None:
        """The table a RangeVar (or (schema, name)) names."""
        if isinstance(rv, tuple):
            schema, name = rv
        else:
            schema, name = getattr(rv, "schemaname", None), getattr(rv, "relname", None)
        if not name:
            return None
        if schema:
            return self.tables.get((schema, name))
        for s in search:
            t = self.tables.get((s, name))
            if t is not None:
                return t
        for (s, n), t in self.tables.items():
            if n == name:
                return t
        return None

    def role(self, name: str | None) -> Role | None:
        return self.roles.get(name) if name else None

    @property
    def rls_used(self) -> bool:
        return any(t.rls_events for t in self.tables.values()) or any(
            True for (_d, s, _o) in self.stmts if _is_rls_alter(s.node))

    def units(self) -> list[Unit]:
        if self.units_cache is None:
            self.units_cache = list(_units(self))
        return self.units_cache

    def nodes(self) -> list[tuple[Unit, Any, str | None]]:
        """(unit, node, target column) for every node of every unit, computed once."""
        cached = self.cache.get("nodes")
        if cached is None:
            cached = self.cache["nodes"] = [(u, n, ctx) for u in self.units() for n, ctx in walk_targets(u)]
        return cached

    def nodes_of(self, *types) -> list[tuple[Unit, Any, str | None]]:
        cached = self.cache.get(types)
        if cached is None:
            cached = self.cache[types] = [t for t in self.nodes() if isinstance(t[1], types)]
        return cached


def _is_rls_alter(node: Any) -> bool:
    ast = pg_ast()
    if not isinstance(node, ast.AlterTableStmt):
        return False
    return any(ename(getattr(c, "subtype", "")) == "AT_EnableRowSecurity" for c in node.cmds or ())


def sql_model(stack: Stack) -> SqlModel:
    """The database the init scripts leave behind, built once per stack."""
    def compute() -> SqlModel:
        model = SqlModel()
        _build(stack, model)
        return model

    return stack.memo("sql_model", compute)


def init_order(stack: Stack) -> list:
    """SQL documents in the order the entrypoint runs them (mount target, else path)."""
    def key(sf):
        targets = [t for _s, t in sf.mounted_by if "docker-entrypoint-initdb.d" in t]
        return (targets[0].rsplit("/", 1)[-1] if targets else sf.rel.rsplit("/", 1)[-1], sf.rel)

    return [sf.doc for sf in sorted(stack.sources("sql"), key=key)]


class _State:
    def __init__(self):
        self.role: str | None = None  # current role; None = the init user
        self.search: tuple[str, ...] = ("public",)


_META_CONNECT = LazyRe(r"\\c(?:onnect)?\s+(?:(\S+)(?:\s+(\S+))?)?")


def _build(stack: Stack, model: SqlModel) -> None:
    ast = pg_ast()
    order = 0
    for doc in init_order(stack):
        model.docs.append(doc)
        st = _State()
        metas = [(s, e) for s, e, kind in doc.masked_spans if kind == "meta"]
        mi = 0
        for stmt in doc.statements:
            while mi < len(metas) and metas[mi][0] < stmt.offset:
                m = _META_CONNECT.match(doc.text[metas[mi][0] : metas[mi][1]])
                if m and m.group(2) and m.group(2) != "-":
                    st.role = m.group(2).strip("'\"")
                mi += 1
            order += 1
            if stmt.node is None:
                continue
            model.stmts.append((doc, stmt, order))
            _statement(model, st, doc, stmt, stmt.node, order)
            if isinstance(stmt.node, ast.DoStmt) and model.functions and model.functions[-1].stmt is stmt:
                order = _replay_do(model, st, doc, model.functions[-1], order)


def _replay_do(model: SqlModel, st: _State, doc, f: Function, order: int) -> int:
    """A DO block runs at init time: the SQL it runs (statements, ``EXECUTE '<constant>'``)
    changes the database like top-level statements do (``IF NOT EXISTS … CREATE ROLE`` idioms)."""
    ast = pg_ast()
    from scanner.parsers.sql import Statement

    if f.language != "plpgsql":
        return order
    pseudo = model.cache.setdefault("pseudo", set())
    for unit in plpgsql_units(f):
        kind = (unit.plstmt or {}).get("kind")
        nodes: list[tuple[Any, int]] = []
        if kind == "execsql" and not isinstance(unit.node, (ast.SelectStmt,)):
            nodes.append((unit.node, unit.base))
        elif kind == "dynexecute" and is_const(unit.node) and isinstance(const_value(unit.node), str):
            try:
                raws = _pgtree.parse_sql(const_value(unit.node))
            except parse_errors():
                continue
            nodes.extend((r.stmt, unit.base + 8) for r in raws)  # past "SELECT '" (parse_expr's prefix and the quote)
        for node, base in nodes:
            line = unit.line or f.stmt.line
            text = doc.line_text(line)
            col = len(text) - len(text.lstrip()) + 1
            offset = lines_of(doc).line_start(line) + col - 1
            fake = Statement(unit.text, unit.text, offset, line, col, line, node, base=base)
            fake.replayed = True  # type: ignore[attr-defined]
            pseudo.add(id(fake))
            order += 1
            model.stmts.append((doc, fake, order))
            _statement(model, st, doc, fake, node, order)
    return order


def _role(model: SqlModel, name: str) -> Role:
    r = model.roles.get(name)
    if r is None:
        r = model.roles[name] = Role(name)
    return r


def _statement(model: SqlModel, st: _State, doc, stmt, node, order: int) -> None:
    ast = pg_ast()
    if isinstance(node, ast.VariableSetStmt):
        kind = ename(node.kind)
        if node.name in ("role", "session_authorization"):
            if kind == "VAR_SET_VALUE" and node.args:
                v = sval(node.args[0])
                st.role = None if v in (None, "none") else v
            else:
                st.role = None
        elif node.name == "search_path" and kind == "VAR_SET_VALUE" and not node.is_local:
            vals = [v for v in (sval(a) for a in node.args or ()) if v]
            st.search = tuple(v for v in vals if v not in ("$user", "pg_temp", "pg_catalog")) or ("public",)
        return
    if isinstance(node, ast.CreateStmt):
        rv = node.relation
        if getattr(rv, "relpersistence", "p") == "t":
            return
        schema, name = (rv.schemaname or (st.search[0] if st.search else "public")), rv.relname
        if (schema, name) in model.tables and node.if_not_exists:
            return
        t = Table(schema, name, doc, stmt, order, owner=st.role)
        for elt in node.tableElts or ():
            _table_element(model, t, elt, doc, stmt)
        model.tables[(schema, name)] = t
        return
    if isinstance(node, ast.AlterTableStmt):
        objtype = ename(node.objtype)
        if objtype == "OBJECT_VIEW":
            for v in model.views:
                if v.name == node.relation.relname:
                    for cmd in node.cmds or ():
                        for de in (cmd.def_ or ()) if isinstance(cmd.def_, tuple) else ():
                            if getattr(de, "defname", "") == "security_invoker":
                                v.invoker = _truthy(de.arg)
            return
        t = model.table(node.relation, st.search)
        if t is None:
            # ALTER TABLE on a table created elsewhere (migrations): keep its RLS events anyway
            if not any(ename(getattr(c, "subtype", "")).endswith("RowSecurity") for c in node.cmds or ()):
                return
            rv = node.relation
            t = Table(rv.schemaname or st.search[0], rv.relname, doc, stmt, order, external=True)
            model.tables[t.key] = t
        for cmd in node.cmds or ():
            sub = ename(cmd.subtype)
            if sub == "AT_EnableRowSecurity":
                t.rls = True
                t.rls_events.append(("ENABLE", doc, stmt, order))
            elif sub == "AT_DisableRowSecurity":
                t.rls = False
                t.rls_events.append(("DISABLE", doc, stmt, order))
            elif sub == "AT_ForceRowSecurity":
                t.forced = True
                t.rls_events.append(("FORCE", doc, stmt, order))
            elif sub == "AT_NoForceRowSecurity":
                t.forced = False
                t.rls_events.append(("NOFORCE", doc, stmt, order))
            elif sub == "AT_ChangeOwner" and cmd.newowner is not None:
                t.owner = role_name(cmd.newowner)
                t.owner_explicit = True
            elif sub == "AT_AddColumn" and isinstance(cmd.def_, ast.ColumnDef):
                _table_element(model, t, cmd.def_, doc, stmt)
            elif sub == "AT_AddConstraint" and isinstance(cmd.def_, ast.Constraint):
                _table_element(model, t, cmd.def_, doc, stmt)
        return
    if isinstance(node, ast.CreatePolicyStmt):
        t = model.table(node.table, st.search)
        key = t.key if t else (node.table.schemaname or st.search[0], node.table.relname)
        model.policies.append(Policy(node.policy_name, key, (node.cmd_name or "all").lower(), bool(node.permissive),
                                     [role_name(r) for r in node.roles or ()], node.qual, node.with_check, doc, stmt, order))
        return
    if isinstance(node, ast.AlterPolicyStmt):
        for p in model.policies:
            if p.name == node.policy_name and p.table[1] == node.table.relname:
                if node.roles:
                    p.roles = [role_name(r) for r in node.roles]
                if node.qual is not None:
                    p.using = node.qual
                if node.with_check is not None:
                    p.check = node.with_check
        return
    if isinstance(node, ast.CreateRoleStmt):
        r = _role(model, node.role)
        r.created = True
        r.login = ename(node.stmt_type) == "ROLESTMT_USER"
        r.stmts.append((doc, stmt))
        _role_options(model, r, node.options, doc, stmt, order)
        return
    if isinstance(node, ast.AlterRoleStmt):
        if node.role is None:
            return
        r = _role(model, role_name(node.role))
        r.stmts.append((doc, stmt))
        _role_options(model, r, node.options, doc, stmt, order)
        return
    if isinstance(node, ast.GrantStmt):
        model.grants.append(_grant(node, doc, stmt, order, st))
        return
    if isinstance(node, ast.AlterDefaultPrivilegesStmt):
        g = _grant(node.action, doc, stmt, order, st)
        for opt in node.options or ():
            if opt.defname == "schemas":
                g.default_schemas = [s.sval for s in opt.arg or () if hasattr(s, "sval")]
            elif opt.defname == "roles":
                g.default_roles = [role_name(r) for r in opt.arg or ()]
        g.node = node
        model.grants.append(g)
        return
    if isinstance(node, ast.CreateFunctionStmt):
        model.functions.append(_function(node, doc, stmt, order, st))
        return
    if isinstance(node, ast.AlterFunctionStmt):
        names = name_parts(node.func.objname) if node.func else []
        target = names[-1] if names else None
        for f in model.functions:
            if f.name == target:
                _function_options(f, node.actions or (), doc, stmt)
        return
    if isinstance(node, ast.DoStmt):
        f = Function("", None, doc, stmt, order, language="plpgsql", owner=st.role)
        for de in node.args or ():
            if de.defname == "language":
                f.language = (sval(de.arg) or "plpgsql").lower()
            elif de.defname == "as":
                f.body = sval(de.arg)
                f.body_offset = _body_offset(doc, stmt, de)
        model.functions.append(f)
        return
    if isinstance(node, ast.ViewStmt):
        rels = [n for n in walk(node.query) if isinstance(n, ast.RangeVar)]
        v = View(node.view.schemaname or st.search[0], node.view.relname, doc, stmt, order, rels)
        for de in node.options or ():
            if getattr(de, "defname", "") == "security_invoker":
                v.invoker = _truthy(de.arg)
        model.views.append(v)
        return
    if isinstance(node, ast.CreateTrigStmt):
        t = model.table(node.relation, st.search)
        key = t.key if t else (node.relation.schemaname or st.search[0], node.relation.relname)
        ev = node.events or 0
        events = {n for bit, n in ((4, "insert"), (8, "delete"), (16, "update"), (32, "truncate")) if ev & bit}
        model.triggers.append(Trigger(node.trigname, key, (name_parts(node.funcname) or [""])[-1], bool((node.timing or 0) & 2),
                                      events, bool(node.row), doc, stmt))
        return
    if isinstance(node, ast.RuleStmt):
        # CREATE RULE … AS ON UPDATE TO audit_log DO INSTEAD NOTHING: rows cannot change
        if node.instead and not node.actions and node.relation is not None:
            t = model.table(node.relation, st.search)
            key = t.key if t else (node.relation.schemaname or st.search[0], node.relation.relname)
            event = ename(node.event).replace("CMD_", "").lower()
            model.triggers.append(Trigger(node.rulename, key, "", True, {event}, True, doc, stmt, rule=True))
        return
    if isinstance(node, ast.AlterSystemStmt):
        ss = node.setstmt
        if ss is not None and ename(ss.kind) == "VAR_RESET_ALL":
            model.settings.append(SettingRef("all", "", "alter system", stmt_loc(doc, stmt), order))
        elif ss is not None and ss.name:
            vals = [str(const_value(a)) for a in ss.args or () if const_value(a) is not None]
            value = ", ".join(vals) if ename(ss.kind) == "VAR_SET_VALUE" else ""
            span = None
            if len(ss.args or ()) == 1:
                lit = find_literal(doc, stmt.offset, vals[0]) if vals and isinstance(const_value(ss.args[0]), str) else None
                if lit and lit[0] < stmt.offset + len(stmt.text):
                    span = loc_at(doc, lit[0], lit[1])
            model.settings.append(SettingRef(ss.name.lower(), value, "alter system", stmt_loc(doc, stmt), order, span))
        return
    if isinstance(node, ast.SelectStmt):
        if any(isinstance(n, ast.FuncCall) and func_name(n) == "pg_reload_conf" for n in walk(node)):
            model.reloads.append(order)
        return
    if isinstance(node, ast.AlterOwnerStmt):
        if ename(node.objectType) in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE") and node.newowner is not None:
            names = name_parts(getattr(node.object, "objname", None))
            for f in model.functions:
                if names and f.name == names[-1]:
                    f.owner = role_name(node.newowner)
        return


def _truthy(arg: Any) -> bool:
    v = sval(arg)
    if v is None:
        v = const_value(arg) if arg is not None else True
        if arg is not None and hasattr(arg, "boolval"):
            v = arg.boolval
        if arg is not None and hasattr(arg, "ival"):
            v = arg.ival
    if isinstance(v, str):
        return v.strip().lower() in ("true", "on", "1", "yes", "t", "y")
    return bool(v) if v is not None else True


def _table_element(model: SqlModel, t: Table, elt: Any, doc, stmt) -> None:
    ast = pg_ast()
    if isinstance(elt, ast.ColumnDef):
        loc = loc_at(doc, stmt.base + elt.location) if getattr(elt, "location", None) is not None and elt.location >= 0 else stmt_loc(doc, stmt)
        t.columns[elt.colname.lower()] = Column(elt.colname.lower(), type_name(elt.typeName), loc, elt)
        for c in elt.constraints or ():
            if ename(c.contype) == "CONSTR_FOREIGN":
                cl = loc_at(doc, stmt.base + c.location) if getattr(c, "location", -1) >= 0 else loc
                t.fks.append((c, cl, c.pktable.relname if c.pktable else "", elt.colname.lower()))
    elif isinstance(elt, ast.Constraint) and ename(elt.contype) == "CONSTR_FOREIGN":
        cl = loc_at(doc, stmt.base + elt.location) if getattr(elt, "location", -1) >= 0 else stmt_loc(doc, stmt)
        t.fks.append((elt, cl, elt.pktable.relname if elt.pktable else "", ", ".join(name_parts(elt.fk_attrs))))


def _role_options(model: SqlModel, r: Role, options, doc, stmt, order: int) -> None:
    ast = pg_ast()
    for de in options or ():
        name = de.defname
        where = loc_at(doc, stmt.base + de.location) if getattr(de, "location", -1) is not None and de.location >= 0 else stmt_loc(doc, stmt)
        if name == "canlogin":
            r.login = bool(getattr(de.arg, "boolval", True))
            r.attr_locs["login"] = where
        elif name in ("superuser", "createrole", "createdb", "isreplication", "bypassrls"):
            r.attrs[name] = bool(getattr(de.arg, "boolval", True))
            r.attr_locs[name] = where
        elif name == "password" and de.arg is not None:
            value = de.arg.sval if isinstance(de.arg, ast.String) else None
            if value is None:
                continue
            start = stmt.base + (de.arg_location if getattr(de, "arg_location", None) is not None else de.location)
            span = find_literal_or_mask(doc, start)
            masked = span is not None and doc.is_masked(span[0], span[1])
            ploc = loc_at(doc, span[0], span[1]) if span else where
            kind = "var" if masked else ("hash" if _looks_like_hash(value) else "literal")
            model.passwords.append((r.name, kind, doc, stmt, order, ploc))


def find_literal_or_mask(doc, start: int) -> tuple[int, int] | None:
    for s, e, name, _piece in tokens(doc):
        if s < start:
            continue
        if name == "SCONST" or doc.is_masked(s, e):
            return s, e
        if s > start + 200:
            break
    return None


HASH_RE = re.compile(r"^(\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}|\$argon2(id|i|d)\$.+|SCRAM-SHA-256\$\d+:.+|md5[0-9a-f]{32}|\$[156]\$.+\$.+)$")


def _looks_like_hash(value: str) -> bool:
    return bool(HASH_RE.match(value.strip()))


def _grant(node, doc, stmt, order: int, st: _State) -> Grant:
    ast = pg_ast()
    privs = {(p.priv_name or "").lower() for p in node.privileges or ()} or {"all"}
    target = {"ACL_TARGET_OBJECT": "object", "ACL_TARGET_ALL_IN_SCHEMA": "all_in_schema",
              "ACL_TARGET_DEFAULTS": "defaults"}.get(ename(node.targtype), "object")
    objtype = ename(node.objtype).replace("OBJECT_", "").lower()
    objects: list = []
    for o in node.objects or ():
        if isinstance(o, ast.RangeVar):
            objects.append((o.schemaname or st.search[0], o.relname))
        elif isinstance(o, ast.ObjectWithArgs):
            objects.append(name_parts(o.objname)[-1] if o.objname else "")
        elif isinstance(o, ast.String):
            objects.append(o.sval)
    grantees = [role_name(g) for g in node.grantees or ()]
    return Grant(bool(node.is_grant), privs, target, objtype, objects, grantees, doc, stmt, order, node)


def _body_offset(doc, stmt, de) -> int | None:
    start = getattr(de, "arg_location", None)
    if start is None or start < 0:
        start = getattr(de, "location", None)
    if start is None or start < 0:
        return None
    off = stmt.base + start
    # arg_location may point at AS or the literal: go to the literal
    for s, e, name, piece in tokens(doc):
        if s < off:
            continue
        if name == "SCONST":
            if piece.startswith("$"):
                m = _DOLLAR.match(piece)
                return s + (len(m.group(0)) if m else 0)
            if piece[:1] in "eE":
                return s + 2
            return s + 1
        if s > off + 200:
            break
    return None


def _function(node, doc, stmt, order: int, st: _State) -> Function:
    ast = pg_ast()
    names = name_parts(node.funcname)
    schema = names[-2] if len(names) >= 2 else (st.search[0] if st.search else "public")
    f = Function(schema, names[-1] if names else "?", doc, stmt, order, owner=st.role)
    f.returns = type_name(node.returnType) if node.returnType is not None else ""
    for p in node.parameters or ():
        mode = ename(getattr(p, "mode", ""))
        if mode in ("FUNC_PARAM_OUT", "FUNC_PARAM_TABLE"):
            continue
        try:
            f.argtypes.append(_print(p.argType))
        except printer_errors():
            f.argtypes.append(type_name(p.argType))
    f.language = "sql" if node.sql_body is not None else ""
    for de in node.options or ():
        if de.defname == "language":
            f.language = (sval(de.arg) or "").lower()
        elif de.defname == "as":
            arg = de.arg
            if isinstance(arg, tuple) and len(arg) == 1:
                f.body = sval(arg[0])
            elif isinstance(arg, ast.String):
                f.body = arg.sval
            if f.body is not None:
                f.body_offset = _body_offset(doc, stmt, de)
    _function_options(f, node.options or (), doc, stmt)
    return f


def _function_options(f: Function, options, doc, stmt) -> None:
    ast = pg_ast()
    for de in options:
        where = loc_at(doc, stmt.base + de.location) if getattr(de, "location", -1) is not None and de.location >= 0 else stmt_loc(doc, stmt)
        if de.defname == "security":
            f.definer = bool(getattr(de.arg, "boolval", False))
            f.definer_loc = where
        elif de.defname == "set" and isinstance(de.arg, ast.VariableSetStmt) and de.arg.name == "search_path":
            if ename(de.arg.kind) == "VAR_SET_VALUE":
                vals = [sval(a) if sval(a) is not None else str(const_value(a)) for a in de.arg.args or ()]
                f.search_path = [v for v in vals if v is not None]
            else:
                f.search_path = None
            f.search_path_loc = where


# ---------------------------------------------------------------------------------------------
# units: every SQL tree, top level and inside bodies
# ---------------------------------------------------------------------------------------------


def _units(model: SqlModel) -> Iterator[Unit]:
    funcs = {id(f.stmt): f for f in model.functions}
    pseudo = model.cache.get("pseudo", set())
    for doc, stmt, _order in model.stmts:
        if id(stmt) in pseudo:
            continue  # replayed from a DO block: walked as part of its body
        yield Unit(doc, stmt, stmt.node, stmt.base)
        f = funcs.get(id(stmt))
        if f is None or f.body is None or f.body_offset is None:
            continue
        if f.language == "sql":
            yield from _sql_body_units(f)
        elif f.language == "plpgsql":
            yield from plpgsql_units(f)


def _sql_body_units(f: Function) -> Iterator[Unit]:
    try:
        raws = _pgtree.parse_sql(f.body)
    except parse_errors():
        return
    for raw in raws:
        start = _skip_blank(f.doc.text, f.body_offset + (raw.stmt_location or 0))
        yield Unit(f.doc, f.stmt, raw.stmt, f.body_offset, func=f, line=lines_of(f.doc).pos(start)[0])


def plpgsql_statements(node: Any) -> Iterator[tuple[str, dict]]:
    """(type, dict) of every PL/pgSQL statement in a parse_plpgsql tree, in source order."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k.startswith("PLpgSQL_stmt_") and isinstance(v, dict):
                yield k[len("PLpgSQL_stmt_"):], v
            yield from plpgsql_statements(v)
    elif isinstance(node, list):
        for item in node:
            yield from plpgsql_statements(item)


def plpgsql_var_types(fn: dict | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in (fn or {}).get("datums", []) or []:
        for kind, body in d.items():
            if not isinstance(body, dict):
                continue
            name = (body.get("refname") or "").lower()
            if kind == "PLpgSQL_var":
                out[name] = ((body.get("datatype") or {}).get("PLpgSQL_type") or {}).get("typname", "").lower()
            elif name:
                out[name] = "record"
    return out


def plpgsql_var_defaults(fn: dict | None) -> dict[str, str | None]:
    """Declared variables' default expressions (text), by name."""
    out: dict[str, str | None] = {}
    for d in (fn or {}).get("datums", []) or []:
        body = d.get("PLpgSQL_var")
        if isinstance(body, dict) and body.get("refname"):
            dv = body.get("default_val")
            out[body["refname"].lower()] = ((dv or {}).get("PLpgSQL_expr") or {}).get("query") if isinstance(dv, dict) else None
    return out


_EXPR_KEYS = ("expr", "cond", "query", "sqlstmt", "dynquery", "params", "lower", "upper", "step", "retexpr", "expr_list")


def _plpgsql_exprs(sd: dict) -> Iterator[tuple[str, dict]]:
    for key in _EXPR_KEYS:
        v = sd.get(key)
        items = v if isinstance(v, list) else [v]
        for item in items:
            if isinstance(item, dict) and "PLpgSQL_expr" in item:
                yield key, item["PLpgSQL_expr"]


def expr_offset(f: Function, lineno: int, text: str) -> int | None:
    """File offset of a PL/pgSQL expression's text, searched from its statement's line."""
    if f.body is None or f.body_offset is None:
        return None
    start = f.body_line_offset(lineno) - f.body_offset
    idx = f.body.find(text, max(0, start))
    if idx < 0:
        idx = f.body.find(text)
    return None if idx < 0 else f.body_offset + idx


_LEADING_SPACE = re.compile(r"\s*")


def _assignment_rhs(text: str) -> int:
    r"""Where the right-hand side of ``target := expr`` (or ``target = expr``) starts, 0 when the text
    is no assignment — ``re.match(r"\s*[^:=]+?\s*:?=\s*", text).end()`` decided at the first ``=``
    (that regex backtracks cubically on a long run of blanks)."""
    i = text.find("=")
    if i < 0:
        return 0
    target = text[:i - 1] if i and text[i - 1] == ":" else text[:i]
    if not target or ":" in target:
        return 0
    return _LEADING_SPACE.match(text, i + 1).end()


def parse_expr(text: str, mode: int) -> tuple[Any, int] | None:
    """Parse the text of a PL/pgSQL expression (``parseMode`` 0: a statement, 2: an expression,
    3+: an assignment ``target := expr``). Returns (node, shift): a node location plus the
    expression text's file offset plus ``shift`` is the node's file offset."""
    ast = pg_ast()
    if mode == 0:
        sql, shift = text, 0
    elif mode >= 3:
        rhs_at = _assignment_rhs(text)
        sql, shift = "SELECT " + text[rhs_at:], rhs_at - 7
    else:
        sql, shift = "SELECT " + text, -7
    try:
        raws = _pgtree.parse_sql(sql)
    except parse_errors():
        return None
    if not raws:
        return None
    stmt = raws[0].stmt
    if mode != 0 and isinstance(stmt, ast.SelectStmt) and stmt.targetList:
        return stmt.targetList[0].val, shift
    return stmt, shift


def plpgsql_units(f: Function) -> Iterator[Unit]:
    fn, _err = f.plpgsql()
    if not fn:
        return
    first_line, _ = lines_of(f.doc).pos(f.body_offset or f.stmt.offset)
    for kind, sd in plpgsql_statements(fn.get("action")):
        lineno = sd.get("lineno") or 1
        for _key, expr in _plpgsql_exprs(sd):
            text = expr.get("query") or ""
            parsed = parse_expr(text, expr.get("parseMode", 2))
            if parsed is None:
                continue
            node, shift = parsed
            off = expr_offset(f, lineno, text)
            base = (off if off is not None else f.body_line_offset(lineno)) + shift
            yield Unit(f.doc, f.stmt, node, base, func=f, plstmt={"kind": kind, **sd}, line=first_line + lineno - 1, text=text)


def unit_loc(unit: Unit, node: Any = None) -> Location:
    loc = getattr(node, "location", None) if node is not None else None
    if isinstance(loc, int) and loc >= 0:
        return loc_at(unit.doc, unit.base + loc)
    if unit.line is not None:
        text = unit.doc.line_text(unit.line)
        return Location(unit.doc.path, unit.line, len(text) - len(text.lstrip()) + 1)
    return stmt_loc(unit.doc, unit.stmt)


# ---------------------------------------------------------------------------------------------
# compose / env side
# ---------------------------------------------------------------------------------------------


def postgres_service(stack: Stack):
    pg = stack.services_by_role("postgres")
    return pg[0] if pg else None


def pg_major(stack: Stack, svc=None) -> int | None:
    """Major version from the postgres image tag (``postgres:16-alpine`` -> 16; ``latest`` -> 18)."""
    svc = svc if svc is not None else postgres_service(stack)
    if svc is None:
        return None
    image = image_ref(stack, svc).split("@")[0]
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        tag = "latest"
    m = re.search(r"pg([0-9]{2})", tag) or re.match(r"([0-9]{1,9})(?![0-9])(?:\.[0-9]+)?", tag)
    if m:
        return int(m.group(1))
    if tag in ("latest", "alpine", "bookworm", "trixie", "bullseye") or tag.startswith(("alpine", "bookworm", "trixie")):
        return 18
    return None


def env_key_loc(stack: Stack, svc, key: str) -> Location:
    """Where a service's environment variable is defined (compose ``environment:`` wins)."""
    var = svc.env(key)
    if var is not None:
        return Location(svc.doc.path, var.key_node.line, var.key_node.col)
    for d in reversed(stack.service_dotenvs(svc)):
        e = d.get(key)
        if e is not None:
            return Location(d.path, e.line, e.col)
    return Location(svc.doc.path, svc.key.line, svc.key.col)


def postgres_user(stack: Stack, svc=None) -> tuple[str, Location | None]:
    """POSTGRES_USER of a postgres service (default: the first) and where it is set."""
    svc = svc if svc is not None else postgres_service(stack)
    if svc is None:
        return "postgres", None
    env = stack.service_env(svc)
    if "POSTGRES_USER" in env and env["POSTGRES_USER"][0]:
        return _resolve(env["POSTGRES_USER"][0], env), env_key_loc(stack, svc, "POSTGRES_USER")
    return "postgres", Location(svc.doc.path, svc.key.line, svc.key.col)


def _resolve(value: str, env: dict) -> str:
    m = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?", value.strip())
    if m:
        ref = env.get(m.group(1))
        if ref and ref[0] and not ref[0].startswith("$"):
            return ref[0]
        if m.group(2):
            return m.group(2)
    return value


@dataclass(repr=False, eq=False)
class AppUser:
    """The database user an application service connects as, and where that is set."""

    name: str
    svc: Any
    key: str
    loc: Location
    via_superuser_ref: bool = False  # written as ${POSTGRES_USER}
    host: str | None = None  # the DSN's host, when the user comes from a DSN


def user_server(stack: Stack, user: AppUser):
    """The postgres service an app user connects to: the DSN's host, else the first."""
    if user.host:
        svc = stack.service(user.host, near=user.svc)
        if svc is not None and svc.role == "postgres":
            return svc
        for s in stack.services_by_role("postgres"):
            if s.str("container_name") == user.host or s.str("hostname") == user.host:
                return s
    return postgres_service(stack)


USER_KEYS = ("DB_USER", "DB_USERNAME", "DATABASE_USER", "DATABASE_USERNAME", "PGUSER", "POSTGRES_USERNAME", "SQL_USER")
DSN_PREFIX = re.compile(r"^postgres(?:ql)?(?:\+[a-z0-9]+)?://", re.I)


def _dsn_user(value: str) -> str | None:
    if DSN_PREFIX.match(value):
        try:
            user = urlsplit(value).username
        except ValueError:
            m = re.match(r"^[^:]+://([^:@/]+)", value)
            user = m.group(1) if m else None
        return unquote(user) if user else None
    m = re.search(r"(?:^|\s)user\s*=\s*'?([^'\s]+)", value)
    if m and re.search(r"(?:^|\s)(host|dbname)\s*=", value):
        return m.group(1)
    return None


def _dsn_host(value: str) -> str | None:
    try:
        return urlsplit(value).hostname if "://" in value else None
    except ValueError:
        return None


def app_users(stack: Stack) -> list[AppUser]:
    """The DB user of each app service: a PostgreSQL DSN, else DB_USER/PGUSER & co., else the
    POSTGRES_USER its environment shares with the database."""
    out: list[AppUser] = []
    pg_env = stack.service_env(postgres_service(stack)) if postgres_service(stack) is not None else {}
    for svc in stack.services_by_role("app"):
        env = stack.service_env(svc)
        found = None
        host = None
        keys = sorted(env, key=lambda k: (0 if k in ("DATABASE_URL",) else 1, k))
        for key in keys:
            value = env[key][0] or ""
            user = _dsn_user(value) if ("://" in value or "host=" in value) else None
            if user:
                found = (user, key)
                host = _dsn_host(value)
                break
        if found is None:
            for key in USER_KEYS + ("POSTGRES_USER",):
                if key in env and env[key][0]:
                    found = (env[key][0], key)
                    break
        if found is None:
            continue
        raw, key = found
        ref = bool(re.fullmatch(r"\$\{?POSTGRES_USER(?::?-[^}]*)?\}?", raw.strip()))
        name = _resolve(raw, {**pg_env, **env})
        if ref and name == raw:
            name = postgres_user(stack)[0]
        if host is None:
            host = (env.get("DB_HOST") or env.get("PGHOST") or env.get("DATABASE_HOST") or env.get("POSTGRES_HOST") or (None,))[0]
        out.append(AppUser(name, svc, key, env_key_loc(stack, svc, key), ref, host))
    return out


def app_role_names(stack: Stack) -> set[str]:
    """The app's DB users, and the LOGIN roles the SQL creates that are not superusers or
    replication roles (the roles an app logs in as, whatever the env says today)."""
    names = {u.name for u in app_users(stack)}
    model = sql_model(stack)
    names |= {r.name for r in model.roles.values()
              if r.created and r.login and not r.has("superuser") and not r.has("isreplication")}
    return names


def superusers(stack: Stack) -> set[str]:
    model = sql_model(stack)
    out = {postgres_user(stack)[0], "postgres"}
    out.update(r.name for r in model.roles.values() if r.has("superuser"))
    return out


# -- server settings ------------------------------------------------------------------------


def _command_settings(svc) -> list[SettingRef]:
    from scanner.parsers.yamlnodes import YScalar, YSeq

    out: list[SettingRef] = []
    node = svc.get("command")
    path = svc.doc.path
    # -c key=value, -c 'key=some value', --key=value, -c key='some value'
    # (a setting's name is bounded: a run of dashes is not searched again from each `--` to its end)
    pat = re.compile(r"(?:-c\s*|--)(?:(['\"])([A-Za-z_.\-]{1,128})=(.*?)\1|([A-Za-z_.\-]{1,128})\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"',\]]+))")
    if isinstance(node, YSeq):
        items = [i for i in node if isinstance(i, YScalar)]
        for idx, item in enumerate(items):
            text = str(item)
            prev = str(items[idx - 1]) if idx else ""
            cand = None
            if prev == "-c" and "=" in text:
                cand = text
            elif text.startswith("-c") and "=" in text and text != "-c":
                cand = text[2:].lstrip()
            elif text.startswith("--") and "=" in text:
                cand = text[2:]
            if cand is None:
                continue
            k, _, v = cand.partition("=")
            raw_line = svc.doc.line_text(item.line)
            vstart = _find_value_col(raw_line, item.col, k.strip(), v.strip())
            span = Location(path, item.line, vstart, item.line, vstart + len(v.strip())) if vstart else None
            out.append(SettingRef(k.strip().replace("-", "_").lower(), v.strip().strip("'\""), "command",
                                  Location(path, item.line, item.col), edit_span=span))
    elif isinstance(node, YScalar) and node.value is not None:
        for line_no in range(node.line, (node.end_line or node.line) + 1):
            raw_line = svc.doc.line_text(line_no)
            start_col = node.col if line_no == node.line else 1
            for m in pat.finditer(raw_line, start_col - 1):
                g = 3 if m.group(2) else 5
                key, v = (m.group(2) or m.group(4)), m.group(g)
                out.append(SettingRef(key.replace("-", "_").lower(), v.strip("'\""), "command",
                                      Location(path, line_no, m.start() + 1),
                                      edit_span=Location(path, line_no, m.start(g) + 1, line_no, m.end(g) + 1)))
    return out


def _find_value_col(line: str, col: int, key: str, value: str) -> int | None:
    idx = line.find(key + "=" + value, max(0, col - 1))
    if idx < 0:
        idx = line.find(key + "=", max(0, col - 1))
        if idx < 0:
            return None
    return idx + len(key) + 2


def _conf_settings(stack: Stack, svc) -> list[SettingRef]:
    out: list[SettingRef] = []
    for sf in stack.sources("pgconf"):
        if sf.mounted_by and not any(s is svc for s, _t in sf.mounted_by):
            continue
        for no, line in enumerate(sf.doc.text.splitlines(), 1):
            m = re.match(r"\s*([A-Za-z_.]+)\s*(?:=\s*|\s+)('(?:[^']|'')*'|[^#\s]+)", line)
            if m:
                out.append(SettingRef(m.group(1).lower(), m.group(2).strip("'"), "conf", Location(sf.rel, no, m.start(1) + 1),
                                      edit_span=Location(sf.rel, no, m.start(2) + 1, no, m.end(2) + 1)))
    return out


def sql_server(stack: Stack, path: str):
    """The postgres service that runs an init script: the one mounting it, else the first."""
    sf = stack.files.get(path)
    for svc, _target in (sf.mounted_by if sf is not None else ()):
        if svc.role == "postgres":
            return svc
    return postgres_service(stack)


def pg_settings(stack: Stack, svc=None) -> dict[str, SettingRef]:
    """Effective server settings of a postgres service (default: the first): ``-c`` in the command
    beats ALTER SYSTEM in its init scripts beats a mounted postgresql.conf."""
    svc = svc if svc is not None else postgres_service(stack)
    out: dict[str, SettingRef] = {}
    if svc is not None:
        for s in _conf_settings(stack, svc):
            out[s.name] = s
    for s in sql_model(stack).settings:
        if svc is None or sql_server(stack, s.loc.path) is svc:
            if s.value:
                out[s.name] = s
            elif s.name == "all":  # ALTER SYSTEM RESET ALL
                out = {k: v for k, v in out.items() if v.source != "alter system"}
            elif out.get(s.name) is not None and out[s.name].source == "alter system":  # SET … TO DEFAULT / RESET
                del out[s.name]
    if svc is not None:
        for s in _command_settings(svc):
            out[s.name] = s
    return out


def setting_on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("on", "true", "yes", "1", "t", "y")


def add_command_flags(svc, flags: list[str]) -> tuple[Edit, ...] | None:
    """Edits adding ``-c key=value`` flags to the postgres service's command (or a new command)."""
    from scanner.parsers.yamlnodes import YScalar, YSeq

    path = svc.doc.path
    node = svc.get("command")
    words = []
    for f in flags:
        words += ["-c", f]
    if node is None:
        key = svc.key
        child_indent = None
        for k, _v in svc.node.pairs():
            child_indent = k.col - 1
            break
        if child_indent is None:
            return None
        items = ", ".join(f'"{w}"' for w in ["postgres"] + words)
        return (Edit(Location(path, key.line + 1, 1), " " * child_indent + f"command: [{items}]\n"),)
    if isinstance(node, YScalar) and node.value is not None:
        if node.line != node.end_line and node.style not in ("", '"', "'"):
            return None
        text = svc.doc.line_text(node.line)
        if node.style in ('"', "'"):
            end = text.rfind(node.style)
            if end < node.col:
                return None
            return (Edit(Location(path, node.line, end + 1), " " + " ".join(words)),)
        end_col = len(text.split(" #")[0].rstrip()) + 1
        return (Edit(Location(path, node.line, end_col), " " + " ".join(words)),)
    if isinstance(node, YSeq):
        items = [i for i in node if isinstance(i, YScalar)]
        if not items:
            return None
        last = items[-1]
        text = svc.doc.line_text(last.line)
        if node.line == last.line and "[" in svc.doc.line_text(node.line):  # flow sequence
            if last.end_line != last.line:
                return None
            return (Edit(Location(path, last.line, last.end_col), "".join(f', "{w}"' for w in words)),)
        indent = text[: last.col - 1]
        dash = indent.rstrip()[:-1] if indent.rstrip().endswith("-") else None
        if dash is None:
            return None
        prefix = indent[: len(indent.rstrip()) - 1]
        lines = "".join(f"{prefix}- {w}\n" for w in words)
        return (Edit(Location(path, (last.end_line or last.line) + 1, 1), lines),)
    return None


def walk_targets(unit: Unit) -> Iterator[tuple[Any, str | None]]:
    """(node, column) for every node of a unit: ``column`` is the column (or variable) the
    node's value is written to or compared with, when the statement says (INSERT column list,
    UPDATE SET, ``col = expr``, a PL/pgSQL assignment)."""
    ast = pg_ast()
    todo: list[tuple[Any, str | None]] = [(unit.node, unit.assign_target)]
    while todo:
        node, ctx = todo.pop()
        if isinstance(node, tuple):
            todo.extend((n, ctx) for n in reversed(node))
            continue
        if not isinstance(node, ast.Node):
            continue
        yield node, ctx
        if isinstance(node, ast.InsertStmt):
            cols = [(c.name or "").lower() for c in node.cols or ()]
            sel = node.selectStmt
            rows = []
            if isinstance(sel, ast.SelectStmt):
                if sel.valuesLists:
                    rows = [tuple(r) for r in sel.valuesLists]
                elif sel.targetList:
                    rows = [tuple(t.val for t in sel.targetList)]
                    for slot, child in children(sel):
                        if slot != "targetList":
                            todo.append((child, None))
            for row in rows:
                for i, expr in enumerate(row):
                    todo.append((expr, cols[i] if i < len(cols) else None))
            for slot, child in children(node):
                if slot not in ("selectStmt", "cols"):
                    todo.append((child, None))
            continue
        if isinstance(node, ast.ResTarget) and node.name and node.val is not None:
            todo.append((node.val, node.name.lower()))
            continue
        if isinstance(node, ast.A_Expr) and ename(node.kind) == "AEXPR_OP":
            lcol = column_of(node.lexpr)
            rcol = column_of(node.rexpr)
            if node.rexpr is not None:
                todo.append((node.rexpr, lcol or ctx))
            if node.lexpr is not None:
                todo.append((node.lexpr, rcol or ctx))
            continue
        todo.extend((child, ctx) for child in child_nodes(node))


def column_of(node: Any) -> str | None:
    ast = pg_ast()
    if isinstance(node, ast.ColumnRef):
        parts = name_parts(node.fields)
        return parts[-1].lower() if parts else None
    return None


# ---------------------------------------------------------------------------------------------
# APP062: dynamic SQL
# ---------------------------------------------------------------------------------------------

SAFE_TYPES = {"int2", "int4", "int8", "smallint", "integer", "bigint", "int", "numeric", "float4", "float8", "real",
              "double precision", "bool", "boolean", "uuid", "date", "timestamp", "timestamptz", "interval", "time",
              "timetz", "oid", "regclass", "money", "serial", "bigserial", "inet", "cidr", "macaddr"}
QUOTE_FUNCS = {"quote_ident", "quote_literal", "quote_nullable"}
PASS_THROUGH = {"lower", "upper", "trim", "btrim", "ltrim", "rtrim", "replace", "substr", "substring", "left", "right",
                "coalesce", "concat", "concat_ws", "array_to_string", "string_agg", "nullif", "initcap", "lpad", "rpad",
                "regexp_replace", "translate", "repeat", "reverse", "split_part"}
_SPEC = LazyRe(r"%(?:(\d+)\$)?(-)?(\d+|\*(?:\d+\$)?)?([sIL%])")


def unsafe_parts(node, types: dict[str, str], tainted: dict[str, list[str]]) -> list[str]:
    """Variables that reach the SQL text unquoted."""
    ast = pg_ast()
    if node is None:
        return []
    if isinstance(node, ast.A_Const):
        return []
    if isinstance(node, ast.ColumnRef):
        parts = name_parts(node.fields)
        name = ".".join(parts).lower()
        base = parts[0].lower() if parts else ""
        if name in tainted:
            return tainted[name]
        t = types.get(name) or (types.get(base) if len(parts) == 1 else None)
        if t in SAFE_TYPES:
            return []
        return [name or "?"]
    if isinstance(node, ast.ParamRef):
        return [f"${node.number}"] if types.get(f"${node.number}", "text") not in SAFE_TYPES else []
    if isinstance(node, ast.TypeCast):
        if type_name(node.typeName) in SAFE_TYPES:
            return []
        return unsafe_parts(node.arg, types, tainted)
    if isinstance(node, ast.A_Expr):
        op = (name_parts(node.name) or [""])[-1]
        if op == "||":
            return unsafe_parts(node.lexpr, types, tainted) + unsafe_parts(node.rexpr, types, tainted)
        return []
    if isinstance(node, ast.FuncCall):
        name = func_name(node)
        if name in QUOTE_FUNCS:
            return []
        if name == "format":
            return _format_parts(node, types, tainted)
        if name in PASS_THROUGH:
            out: list[str] = []
            for a in node.args or ():
                out += unsafe_parts(a, types, tainted)
            return out
        return []
    if isinstance(node, ast.CoalesceExpr):
        out = []
        for a in node.args or ():
            out += unsafe_parts(a, types, tainted)
        return out
    if isinstance(node, ast.CaseExpr):
        out = []
        for w in node.args or ():
            out += unsafe_parts(getattr(w, "result", None), types, tainted)
        return out + unsafe_parts(node.defresult, types, tainted)
    return []


def _format_parts(node, types, tainted) -> list[str]:
    args = list(node.args or ())
    if not args:
        return []
    fmt = const_value(args[0])
    if not isinstance(fmt, str):
        return unsafe_parts(args[0], types, tainted)
    out: list[str] = []
    pos = 1
    for m in _SPEC.finditer(fmt):
        kind = m.group(4)
        if kind == "%":
            continue
        if m.group(3) and m.group(3).startswith("*"):
            pos += 1
        idx = int(m.group(1)) if m.group(1) else pos
        pos = idx + 1
        if kind == "s" and idx < len(args):
            out += unsafe_parts(args[idx], types, tainted)
    return out


def init_user(stack: Stack) -> str:
    return postgres_user(stack)[0]


def table_owner(stack: Stack, t) -> str:
    return t.owner or init_user(stack)


_TOKEN_TABLE_CORES = ("api_key", "api_keys", "apikey", "apikeys", "session", "sessions", "token", "tokens",
                      "password_reset", "password_resets", "password_reset_token", "password_reset_tokens")
_WORD_RUN = re.compile(r"\w+")


def is_token_table(name: str) -> bool:
    """A table that holds credentials by its name: ``[prefix_]api_keys``, ``sessions``, ``tokens``,
    ``password_resets``, ``*_tokens``. The same names as
    ``^(\\w+_)?(api_?keys?|apikeys|sessions?|tokens?|password_resets?|password_reset_tokens?|\\w+_tokens?)$``,
    decided on the name's suffix in linear time (that regex backtracks quadratically on ``____…``)."""
    n = name[:-1] if name.endswith("\n") else name
    if not n or not _WORD_RUN.fullmatch(n):
        return False
    for core in _TOKEN_TABLE_CORES:
        if n == core or (n.endswith(core) and len(n) - len(core) >= 2 and n[-len(core) - 1] == "_"):
            return True
    return any(n.endswith(s) and len(n) > len(s) for s in ("_token", "_tokens"))

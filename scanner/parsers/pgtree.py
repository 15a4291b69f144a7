"""PostgreSQL parse trees from libpg_query's JSON, shaped like pglast's AST without its classes.

Why by hand: pglast's ``parse_sql`` builds its ``pglast.ast`` objects in Python (every attribute
validated by ``Node.__setattr__``, every enum converted), ~10x the cost of libpg_query's own parse to
JSON, and importing ``pglast`` imports ``pglast.ast`` and ``pglast.enums`` (~30 ms per process) even
to scan tokens or parse to JSON. No library offers a light tree over that JSON; this module is one,
small because the JSON already names every field as pglast does:

- :func:`parse_sql` is ``pglast.parse_sql`` over ``pglast.parser.parse_sql_json``: the same
  ``RawStmt`` nodes (``stmt``, ``stmt_location``, ``stmt_len``), the same node class names, field names
  and values: lists are tuples, a ``List`` node is a tuple, ``A_Const.val`` is an ``Integer``/``Float``/
  ``Boolean``/``String``/``BitString`` node (``None`` when ``isnull``), a field the JSON omits has the
  value pglast gives it (``None``, ``False``, ``0``, ``'\\x00'`` for a ``char``), ``location``
  attributes are character indices (pglast's ``Displacements``: libpg_query counts UTF-8 bytes) or
  ``None`` out of range. Enums are their member names (``ename()`` of a pglast enum is the same
  string). :data:`FIELDS` (generated from ``pglast.ast``, checked against it by tests/test_pgtree.py)
  gives each node type's fields, in pglast's order, and which are typed structs (written untagged).
- :data:`ast` stands for ``pglast.ast``: ``ast.A_Const`` is the class of this module's ``A_Const``
  nodes (created on first use), so ``isinstance(node, ast.A_Const)`` reads as before; ``ast.Node``
  is their base.
- :func:`to_pglast` turns a node into pglast's own AST (importing ``pglast.ast``) for what needs
  pglast's printer (``RawStream``): a message or a fix that prints SQL.
- :func:`pglast_parser` imports ``pglast.parser`` with ``pglast.ast`` and ``pglast.enums`` deferred
  until an attribute of theirs is first used (pglast's package and its C parser import both), so the
  scanner, the JSON parser and PL/pgSQL never pay for them.
"""

from __future__ import annotations

import bisect
import json
import keyword
import sys
import types
from typing import Any

from .pgtree_fields import FIELDS, SYSTEM_TYPES

_DEFERRED = ("pglast.enums", "pglast.ast")
_SIMPLE_NAME = __import__("re").compile(r"[a-z_][a-z0-9_]*$").match  # pglast.stream.is_simple_name


class _Deferred(types.ModuleType):
    """A module executed when an attribute it does not have yet is first read."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self.__class__ = types.ModuleType
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def pglast_parser():
    """``pglast.parser`` (libpg_query: ``scan``, ``parse_sql_json``, ``parse_plpgsql_json``...),
    imported without executing ``pglast.ast`` and ``pglast.enums`` until they are used."""
    mod = sys.modules.get("pglast.parser")
    if mod is not None:
        return mod
    if "pglast" not in sys.modules:
        import importlib.machinery
        import importlib.util

        top = importlib.util.find_spec("pglast")
        if top is not None and top.submodule_search_locations:
            for name in _DEFERRED:
                spec = importlib.machinery.PathFinder.find_spec(name, top.submodule_search_locations)
                if spec is None or name in sys.modules:
                    continue
                deferred = importlib.util.module_from_spec(spec)
                deferred.__class__ = _Deferred
                sys.modules[name] = deferred
    from pglast import parser

    return parser


# ------------------------------------------------------------------------------------------------
# node classes
# ------------------------------------------------------------------------------------------------


class Node:
    """Base of every parse node: attributes in ``__dict__`` (the JSON object, converted in place),
    defaults of omitted fields as class attributes."""

    _fields: tuple[str, ...] = ()
    _fieldset: frozenset = frozenset()
    _untagged: dict[str, str] = {}
    _locs: frozenset = frozenset()
    _sets: frozenset = frozenset()
    _renamed: dict[str, str] = {}
    _children: tuple[str, ...] = ()  # the fields that can hold a node or a tuple of them

    def __repr__(self) -> str:
        attrs = " ".join(f"{f}={getattr(self, f)!r}" for f in self._fields
                         if f != "location" and getattr(self, f) is not None)
        return f"<{type(self).__name__}{' ' + attrs if attrs else ''}>"


_DEFAULTS = {"s": None, "b": False, "c": "\x00", "i": 0, "f": 0.0, "L": 0, "n": None, "S": None}
_CLASSES: dict[str, type] = {}


def node_class(tag: str) -> type:
    """The class of ``tag`` nodes (``KeyError`` for a name that is no node type)."""
    cls = _CLASSES.get(tag)
    if cls is not None:
        return cls
    spec = FIELDS[tag]
    ns: dict[str, Any] = {}
    fields, untagged, locs, sets, children = [], {}, [], [], []
    for item in spec.split():
        name, code = item.split(":", 1)
        fields.append(name)
        kind = code[0]
        if kind == "e":
            ns[name] = code[1:] or None
        elif kind == "@":
            ns[name] = None
            untagged[name] = code[1:]
            children.append(name)
        else:
            if kind == "n":
                children.append(name)
            ns[name] = _DEFAULTS[kind]
            if kind == "L":
                locs.append(name)
            elif kind == "S":
                sets.append(name)
    # pglast's name of a field named by a Python keyword ends with "_" (``AlterTableCmd.def_``)
    renamed = {f[:-1]: f for f in fields if f.endswith("_") and keyword.iskeyword(f[:-1])}
    ns.update(_fields=tuple(fields), _fieldset=frozenset(fields), _untagged=untagged, _locs=frozenset(locs),
              _sets=frozenset(sets), _renamed=renamed, _children=tuple(children), __module__=__name__, __qualname__=tag)
    cls = _CLASSES[tag] = type(tag, (Node,), ns)
    return cls


class _Namespace:
    """``ast.X``: the node class named X; ``ast.Node``: their base."""

    Node = Node

    def __getattr__(self, name: str) -> type:
        try:
            cls = node_class(name)
        except KeyError:
            raise AttributeError(name) from None
        setattr(self, name, cls)
        return cls


ast = _Namespace()

# ------------------------------------------------------------------------------------------------
# JSON -> nodes
# ------------------------------------------------------------------------------------------------

_VALUES = {"ival": "Integer", "fval": "Float", "boolval": "Boolean", "sval": "String", "bsval": "BitString"}


class _Offsets:
    """libpg_query's UTF-8 byte offsets as character indices, as pglast's ``Displacements``:
    ``None`` out of the text's bytes."""

    def __init__(self, text: str):
        raw = text.encode("utf-8")
        self.max = len(raw) - 1 if raw else sys.maxsize
        self.ascii = len(raw) == len(text)
        if not self.ascii:
            # offset -> offset minus the UTF-8 continuation bytes at or before it
            import re

            self.ends: list[int] = []
            self.counts: list[int] = []
            total = 0
            for m in re.finditer(rb"[\x80-\xbf]+", raw):
                for k in range(m.start(), m.end()):
                    total += 1
                    self.ends.append(k)
                    self.counts.append(total)

    def __call__(self, offset: int) -> int | None:
        if not 0 <= offset <= self.max:
            return None
        if self.ascii:
            return offset
        i = bisect.bisect_right(self.ends, offset)
        return offset - (self.counts[i - 1] if i else 0)


_new = object.__new__
_ACTIONS: dict[type, dict[str, Any]] = {}


def _actions(cls: type) -> dict[str, Any]:
    """What converting a JSON field of ``cls`` takes, by JSON key: None (a scalar, kept), 1 (a node or
    list: tagged), a class name (a typed struct: untagged), 2 (a location), 3 (a set), 4 (a field
    pglast renames); a key not there is no field of pglast's (dropped)."""
    acts: dict[str, Any] = dict.fromkeys(cls._fields)
    acts.update(dict.fromkeys(cls._children, 1))
    acts.update(cls._untagged)
    acts.update(dict.fromkeys(cls._locs, 2))
    acts.update(dict.fromkeys(cls._sets, 3))
    acts.update(dict.fromkeys(cls._renamed, 4))
    _ACTIONS[cls] = acts
    return acts


def _tagged(value: Any, conv: _Offsets) -> Any:
    """A node-holding field's JSON value: a list (a tuple of nodes), ``{Tag: {...}}``, ``{}`` (NULL)."""
    if type(value) is list:
        return tuple([_node(*x.popitem(), conv) if x else None for x in value])
    if type(value) is dict:
        return _node(*value.popitem(), conv) if value else None
    return value


def _node(tag: str, d: dict, conv: _Offsets) -> Any:
    if tag == "List":
        items = d.get("items")
        return tuple([_node(*x.popitem(), conv) if x else None for x in items]) if items else ()
    if tag == "A_Const":
        val = None
        if not d.get("isnull"):
            for key, vtag in _VALUES.items():
                if key in d:
                    val = _node(vtag, d[key], conv)
                    break
        obj = _new(_CONST)
        obj.__dict__ = {"isnull": bool(d.get("isnull", False)), "val": val}
        return obj
    cls = _CLASSES.get(tag) or node_class(tag)
    acts = _ACTIONS.get(cls) or _actions(cls)
    odd = False
    for k, v in d.items():  # values replaced in place: the JSON object becomes the node's __dict__
        a = acts.get(k, 0)
        if a is None:
            continue
        if a == 1:
            d[k] = _tagged(v, conv)
        elif a == 2:
            d[k] = conv(v)
        elif type(a) is str:
            d[k] = _node(a, v, conv) if type(v) is dict else v
        else:
            odd = True
    obj = _new(cls)
    obj.__dict__ = _odd(cls, d, acts, conv) if odd else d
    return obj


def _odd(cls: type, d: dict, acts: dict, conv: _Offsets) -> dict:
    """``d`` with its sets, pglast's renamed fields (in their place) and no key pglast has not."""
    out = {}
    for k, v in d.items():
        a = acts.get(k, 0)
        if a == 3:
            out[k] = set(v) if type(v) is list else v
        elif a == 4:
            k = cls._renamed[k]
            out[k] = _tagged(v, conv) if acts.get(k) == 1 else v
        elif a != 0:
            out[k] = v
    return out


_CONST = node_class("A_Const")


def parse_sql(text: str) -> tuple:
    """``pglast.parse_sql(text)`` as this module's nodes (raises pglast's ``ParseError``)."""
    parser = pglast_parser()
    data = json.loads(parser.parse_sql_json(text))
    conv = _Offsets(text)
    out = []
    raw_cls = node_class("RawStmt")
    for raw in data.get("stmts", ()):
        loc = raw.get("stmt_location", 0)
        obj = _new(raw_cls)
        obj.__dict__ = {"stmt": _tagged(raw.get("stmt") or {}, conv), "stmt_location": conv(loc),
                        "stmt_len": conv(loc + raw.get("stmt_len", 0)) - conv(loc)}
        out.append(obj)
    return tuple(out)


# ------------------------------------------------------------------------------------------------
# nodes -> pglast's AST (for its printer)
# ------------------------------------------------------------------------------------------------


def to_pglast(value: Any) -> Any:
    """``value`` (a node, a tuple of them, a scalar) as pglast's own AST, for ``RawStream``."""
    if isinstance(value, tuple):
        return tuple(to_pglast(v) for v in value)
    if not isinstance(value, Node):
        return value
    pglast_parser()
    from pglast import ast as real

    cls = getattr(real, type(value).__name__)
    return cls(**{f: to_pglast(getattr(value, f)) for f in value._fields})


# ------------------------------------------------------------------------------------------------
# printing the simplest nodes as pglast's RawStream does, without pglast's AST and printers
# ------------------------------------------------------------------------------------------------


class _Unsupported(Exception):
    """A node outside what :func:`print_simple` prints: pglast's printer prints it."""


class _Out:
    """pglast's ``OutputStream`` spacing rules (``write``, ``separator``, ``maybe_write_space``)."""

    _SPECIAL = frozenset("_*+/-\"'=<>$@")

    def __init__(self):
        self.parts: list[str] = []
        self.pending = False
        self.last = " "

    def separator(self) -> None:
        if not self.last.isspace():
            self.pending = True

    def maybe_space(self, nextc: str) -> None:
        if not self.last.isspace() and self.last != "(" and (nextc.isalnum() or nextc in self._SPECIAL):
            self.write(" ")

    def write(self, s: str) -> None:
        if s:
            if self.pending:
                if s != " ":
                    self.maybe_space(s[0])
                self.pending = False
            self.parts.append(s)
            self.last = s[-1]


def _name(out: _Out, value: str) -> None:
    from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

    if not _SIMPLE_NAME(value) or value in RESERVED_KEYWORDS or value in TYPE_FUNC_NAME_KEYWORDS:
        value = '"%s"' % value.replace('"', '""')
    out.write(value)


def _names(out: _Out, items: Any) -> None:
    """``RawStream.print_name``: dotted names, each double-quoted when it must be."""
    if not isinstance(items, tuple) or not items:
        raise _Unsupported
    for i, item in enumerate(items):
        if i:
            out.write(".")
        if type(item).__name__ == "String" and isinstance(item.sval, str):
            _name(out, item.sval)
        elif type(item).__name__ == "A_Star":
            out.write("*")
        else:
            raise _Unsupported
    out.separator()


def _print(out: _Out, node: Any) -> None:
    kind = type(node).__name__
    if kind == "A_Const":
        if node.isnull:
            out.write("NULL")
            return
        node, kind = node.val, type(node.val).__name__
    if kind == "Integer":
        out.write(str(node.ival))
    elif kind == "Float":
        out.write(node.fval)
    elif kind == "Boolean":
        out.write("TRUE" if node.boolval else "FALSE")
    elif kind == "String":
        out.write("'%s'" % node.sval.replace("'", "''"))
    elif kind == "ColumnRef":
        _names(out, node.fields)
    elif kind == "NullTest" and type(node.arg).__name__ in ("A_Const", "ColumnRef", "FuncCall"):
        _print(out, node.arg)  # an atom: no parentheses as the operand of IS
        out.write(" IS")
        if node.nulltesttype == "IS_NOT_NULL":
            out.write(" NOT")
        out.write(" NULL")
    elif kind == "FuncCall":
        from pglast.keywords import COL_NAME_KEYWORDS

        names = node.funcname or ()
        if (node.agg_order or node.agg_filter or node.over or node.agg_within_group or node.agg_star
                or node.agg_distinct or node.func_variadic or node.funcformat != "COERCE_EXPLICIT_CALL"
                or len(names) != 1 or type(names[0]).__name__ != "String" or names[0].sval in COL_NAME_KEYWORDS):
            raise _Unsupported  # special syntax, decorations, qualified names: pglast's printer
        _names(out, names)
        out.write("(")
        for i, arg in enumerate(node.args or ()):
            if i:
                out.write(",")
                out.write(" ")
            _print(out, arg)
        out.write(")")
    elif kind == "TypeName":
        _type_name(out, node)
    else:
        raise _Unsupported


def _type_name(out: _Out, node: Any) -> None:
    """pglast's ``type_name`` printer, intervals' typmods and non-constant typmods left to it."""
    if node.setof:
        out.write("SETOF")
        out.separator()
    if not node.names or any(type(n).__name__ != "String" for n in node.names):
        raise _Unsupported
    name = ".".join(n.sval for n in node.names)
    suffix = ""
    if name in SYSTEM_TYPES:
        prefix, suffix = SYSTEM_TYPES[name]
        out.write(prefix)
    elif name == "char":
        out.write('"char"')
    else:
        _names(out, node.names)
    if node.pct_type:
        out.write("%TYPE")
        return
    if node.typmods:
        if name == "pg_catalog.interval":
            raise _Unsupported
        mods = node.typmods
        if any(type(m).__name__ != "A_Const" or type(m.val).__name__ != "Integer" for m in mods):
            raise _Unsupported
        if name != "pg_catalog.bpchar" or len(mods) > 1 or mods[0].val.ival != 1:
            out.write("(")
            for i, m in enumerate(mods):
                if i:
                    out.write(",")
                    out.write(" ")
                out.write(str(m.val.ival))
            out.write(")")
    out.write(suffix)
    for ab in node.arrayBounds or ():
        if type(ab).__name__ != "Integer":
            raise _Unsupported
        out.write("[")
        if ab.ival >= 0:
            out.write(str(ab.ival))
        out.write("]")


def print_simple(node: Any) -> str | None:
    """``pglast.stream.RawStream()(node)`` for the simplest nodes (constants, column references,
    plain function calls, ``IS [NOT] NULL`` of those, type names): None for any other node, which
    pglast's printer prints (:func:`to_pglast`). tests/test_pgtree.py compares both."""
    out = _Out()
    try:
        _print(out, node)
    except _Unsupported:
        return None
    return "".join(out.parts)


# ------------------------------------------------------------------------------------------------
# the field table, generated from pglast (development time)
# ------------------------------------------------------------------------------------------------


def _field_code(real_ast: Any, enums: Any, ctype: str, ptype: Any) -> str:
    """A field's kind in :data:`FIELDS` from pglast's slot type: ``s`` string, ``b`` bool, ``c`` char,
    ``i``/``f`` number, ``L`` location, ``eNAME`` enum (NAME: its member 0, the default), ``n`` node
    or list, ``@Class`` a typed struct (untagged in the JSON), ``S`` a set (Bitmapset)."""
    if ctype == "char*":
        return "s"
    if ctype == "bool":
        return "b"
    if ctype == "char":
        return "c"
    if ctype == "ParseLoc":
        return "L"
    if ctype in ("Cost", "Cardinality"):
        return "f"
    if ctype in ("ValUnion", "List*", "Node*"):
        return "n"
    if hasattr(enums, ctype):
        try:
            return "e" + getattr(enums, ctype)(0).name
        except ValueError:  # no member 0 (a char enum): always written
            return "e"
    types_ = ptype if isinstance(ptype, tuple) else (ptype,)
    if set in types_:
        return "S"
    name = ctype.rstrip("*")
    cls = getattr(real_ast, name, None)
    if ctype.endswith("*") or isinstance(cls, type):
        if isinstance(cls, type) and issubclass(cls, real_ast.Node) and dict in types_ and len(types_) == 2:
            return "@" + name
        return "n"
    if int in types_:
        return "i"
    if float in types_:
        return "f"
    raise ValueError(f"unknown pglast slot type {ctype!r}")


def generate_fields() -> str:
    """The text of ``pgtree_fields.py`` for the installed pglast."""
    import pglast
    from pglast import ast as real_ast
    from pglast import enums
    from pglast.printers.dml import system_types

    lines = []
    for name in sorted(vars(real_ast)):
        cls = getattr(real_ast, name)
        if not (isinstance(cls, type) and issubclass(cls, real_ast.Node) and isinstance(cls.__slots__, dict)):
            continue
        if name == "ValUnion":
            continue
        parts = [f"{f}:{_field_code(real_ast, enums, info[0], info[1])}" for f, info in cls.__slots__.items()]
        lines.append(f"    {name!r}: {' '.join(parts)!r},")
    out = ['"""Generated by ``python -m scanner.parsers.pgtree --generate`` from pglast %s\'s ``pglast.ast``: the fields of'
           % pglast.__version__,
           "every PostgreSQL parse node, in pglast's order, each with its kind (see ``scanner.parsers.pgtree``).",
           'tests/test_pgtree.py checks it against the installed pglast. Do not edit."""',
           "", f"PGLAST = {pglast.__version__!r}", "", "FIELDS = {", *lines, "}",
           "# pglast.printers.dml.system_types: the SQL names pglast prints for pg_catalog's types",
           "SYSTEM_TYPES = {", *(f"    {k!r}: {v!r}," for k, v in system_types.items()), "}", ""]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - development tool
    if sys.argv[1:] == ["--generate"]:
        import pathlib

        pathlib.Path(__file__).with_name("pgtree_fields.py").write_text(generate_fields(), encoding="utf-8")

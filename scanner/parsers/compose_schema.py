"""Compose files checked against the Compose Specification JSON schema (OPS086).

The schema is compose-spec/compose-spec's ``schema/compose-spec.json``, shipped unmodified in
``scanner/data/compose-spec/`` with its licence (Apache-2.0, see the NOTICE there); jsonschema's
``Draft7Validator`` (the draft the file declares) is compiled once per process. Each compose file is
validated on its own, after interpolation and before the project's files are merged, as compose
does. Every error is mapped back to the YAML node it is about (the offending key of an unknown key),
so that the finding points where the file breaks and the engine can stand down the rule findings
built on a broken node (``broken`` spans).

Two checks the schema leaves to compose's loader are added by hand (the schema types both as a bare
string): the short syntax of ``ports`` (``[IP:][HOST:]CONTAINER[/PROTO]``) and of ``volumes``
(``[SOURCE:]TARGET[:MODE]``, an absolute target).
Messages never quote a value of the file (it may be a secret): they name the key path, the
expected type or form, and the type found.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from ..encode import terminal
from .yamlnodes import YMap, YNode, YScalar, YSeq
from ..plain import frozen_error as _frozen, recursive_repr as _recursive_repr
from ..lazyre import LazyRe

__all__ = ["SchemaError", "TooLarge", "validate", "validator", "MAX_VALUES"]

MAX_VALUES = 200_000  # values of the file with its YAML aliases expanded: an alias bomb is not validated


class TooLarge(ValueError):
    """The file expands (through YAML aliases) to more values than MAX_VALUES: it is not validated."""


class SchemaError:
    """One place where a compose file breaks the specification."""

    line: int
    col: int
    message: str
    # the broken node's span (findings of other rules inside it stand down)
    end_line: int
    end_col: int

    __match_args__ = ("line", "col", "message", "end_line", "end_col")

    def __init__(self, line, col, message, end_line, end_col):
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "col", col)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "end_line", end_line)
        object.__setattr__(self, "end_col", end_col)

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(line={self.line!r}, col={self.col!r}, message={self.message!r}, end_line={self.end_line!r}, end_col={self.end_col!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.line, self.col, self.message, self.end_line, self.end_col) == (other.line, other.col, other.message, other.end_line, other.end_col)
        return NotImplemented

    def __hash__(self):
        return hash((self.line, self.col, self.message, self.end_line, self.end_col))

    def __setattr__(self, name, value):
        if type(self) is SchemaError or name in ("line", "col", "message", "end_line", "end_col"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(SchemaError, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is SchemaError or name in ("line", "col", "message", "end_line", "end_col"):
            raise _frozen(f"cannot delete field {name!r}")
        super(SchemaError, self).__delattr__(name)


@lru_cache(maxsize=1)
def validator():
    """The compiled Draft 7 validator of the shipped schema (once per process)."""
    import jsonschema

    from ..fsutil import shipped

    schema = json.loads(shipped("compose-spec", "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


_RESOLVE = {"true": True, "false": False, "null": None, "~": None}
_INT = LazyRe(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = LazyRe(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _scalar(node: YScalar) -> Any:
    """The value compose validates: an interpolated plain scalar is typed again, as compose-go casts it."""
    if node.vars and not node.style and isinstance(node.value, str):
        text = node.value
        low = text.lower()
        if low in _RESOLVE:
            return _RESOLVE[low]
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        return text
    return node.value


def _reset(node: YNode) -> bool:
    return getattr(node, "tag", None) == "!reset"


def plain(node: YNode | None) -> Any:
    """The instance compose validates (``!reset`` entries dropped, interpolated scalars typed)."""
    if isinstance(node, YMap):
        return {k: plain(v) for k, (_key, v) in node.items.items() if not _reset(v)}
    if isinstance(node, YSeq):
        return [plain(v) for v in node.items if not _reset(v)]
    if isinstance(node, YScalar):
        return _scalar(node)
    return None


def _seq_items(node: YSeq) -> list:
    return [v for v in node.items if not _reset(v)]


def _node_at(root: YNode, path) -> tuple[YNode, YScalar | None]:
    """The node at a jsonschema path and, when it is a mapping's value, its key."""
    node, key = root, None
    for part in path:
        if isinstance(node, YMap) and isinstance(part, str) and part in node.items:
            key, node = node.items[part]
        elif isinstance(node, YSeq) and isinstance(part, int) and part < len(_seq_items(node)):
            node, key = _seq_items(node)[part], None
        else:
            break
    return node, key


def _where(path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            text = text if len(text) <= 60 else text[:59] + "…"
            out += f".{text}" if out else text
    return out or "the file"


_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               type(None): "null"}


def _type_of(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _want(types) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer", "number": "a number",
             "boolean": "a boolean", "null": "null"}
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join(names.get(t, t) for t in types)


def _best(err):
    """The most useful error of a oneOf/anyOf: the first branch whose type matches the value (a
    long-syntax volume without ``type`` lacks ``type``; it is not "not a string"). When no branch's
    type matches, the oneOf itself (its message lists the types of every branch)."""
    cur = err
    while cur.validator in ("oneOf", "anyOf") and cur.context:
        branches: dict[int, list] = {}
        for sub in cur.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        matching = [errs for _i, errs in sorted(branches.items())
                    if not any(e.validator == "type" and not e.relative_path for e in errs)]
        if not matching:
            break
        errs = matching[0]
        cur = max(errs, key=lambda e: (len(e.relative_path), e.validator not in ("oneOf", "anyOf")))
    return cur


def _branch_types(err) -> list[str]:
    out = []
    for sub in err.context or ():
        if sub.validator == "type" and not sub.relative_path:
            t = sub.validator_value
            for x in ([t] if isinstance(t, str) else t or []):
                if x not in out:
                    out.append(x)
    return out


def _errors_of(err, root: YNode) -> list[SchemaError]:
    err = _best(err)
    path = list(err.absolute_path)
    node, key = _node_at(root, path)
    if isinstance(node, YScalar) and _unknown_var(node):
        return []  # a ${VAR} the deploy's environment gives: its value is unknown here (OPS0xx names it)
    where = _where(path)
    v = err.validator
    out = []
    if v == "additionalProperties" and isinstance(err.instance, dict) and isinstance(node, YMap):
        allowed = set(err.schema.get("properties", {}))
        patterns = [re.compile(p) for p in err.schema.get("patternProperties", {})]
        for name in err.instance:
            if name in allowed or any(p.search(name) for p in patterns):
                continue
            k, value = node.items.get(name, (None, None))
            if k is None:
                continue
            shown = name if len(name) <= 60 else name[:59] + "…"
            hint = " (custom keys start with x-)" if patterns else ""
            end = value if value is not None else k
            place = f"top-level key '{shown}'" if not path else f"key '{shown}' in {where}"
            out.append(SchemaError(k.line, k.col, f"unknown {place}{hint}", end.end_line or k.line, end.end_col or k.col))
        return out
    if v == "type":
        msg = f"{where} must be {_want(err.validator_value)}, not {_type_of(err.instance)}"
    elif v == "required":
        missing = [r for r in err.validator_value if isinstance(err.instance, dict) and r not in err.instance]
        if missing == ["condition"] and len(path) >= 2 and path[-2] == "depends_on":
            return []  # compose's loader fills in `condition: service_started` (the spec's default)
        msg = f"{where} lacks the required key{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}"
    elif v == "enum":
        allowed = ", ".join(str(x) for x in err.validator_value[:12])
        msg = f"{where} must be one of: {allowed}"
    elif v == "const":
        msg = f"{where} must be {err.validator_value!r}"
    elif v == "pattern":
        msg = f"{where} does not match the form {err.validator_value}"
    elif v in ("oneOf", "anyOf"):
        types = _branch_types(err)
        msg = (f"{where} must be {_want(types)}, not {_type_of(err.instance)}" if types
               else f"{where} matches none of the forms the specification allows")
    elif v == "not":
        msg = f"{where} is not allowed in this form"
    elif v == "uniqueItems":
        msg = f"{where} has duplicate entries"
    elif v in ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "minProperties", "maxProperties"):
        msg = f"{where} breaks {v} {err.validator_value}"
    elif v == "propertyNames":
        msg = f"{where} has a key of the wrong form"
    else:
        msg = f"{where} is invalid ({v})"
    anchor = key if key is not None else node
    out.append(SchemaError(anchor.line, anchor.col, msg, node.end_line or node.line, node.end_col or node.col))
    return out


# -- short syntax compose's loader parses -----------------------------------------------------------

_PORT = r"\d{1,5}(?:-\d{1,5})?"
_PORT_SPEC = LazyRe(rf"(?:(?P<ip>\[[0-9A-Fa-f:.%a-z]*\]|\d{{1,3}}(?:\.\d{{1,3}}){{3}}|[0-9A-Fa-f]*::[0-9A-Fa-f:]*):)?(?:(?P<host>(?:{_PORT})?):)?"
                        rf"(?P<container>{_PORT})(?:/(?P<proto>[A-Za-z]+))?")
_MODES = {"rw", "ro", "z", "Z", "consistent", "cached", "delegated", "nocopy", "shared", "slave", "private",
          "rshared", "rslave", "rprivate", "copy"}


def _bad_port(text: str) -> str | None:
    m = _PORT_SPEC.fullmatch(text.strip())
    if m is None:
        return "is not a port mapping ([IP:][HOST:]CONTAINER[/PROTOCOL])"
    if m.group("proto") and m.group("proto").lower() not in ("tcp", "udp", "sctp"):
        return "names a protocol other than tcp, udp or sctp"
    for part in (m.group("host"), m.group("container")):
        for num in re.findall(r"\d+", part or ""):
            if not 0 < int(num) <= 65535 and not (part is m.group("host") and int(num) == 0):
                return "has a port outside 1-65535"
    return None


def _bad_volume(text: str) -> str | None:
    if re.match(r"^[A-Za-z]:[\\/]|\\\\", text) or "\\" in text:
        return None  # Windows paths: compose's own rules, not judged here
    parts = text.split(":")
    if len(parts) > 3 or any(p == "" for p in parts[:2]) or not text:
        return "is not a volume ([SOURCE:]TARGET[:MODE])"
    target = parts[1] if len(parts) >= 2 else parts[0]
    if not target.startswith("/"):
        return "has a container path that is not absolute"
    if len(parts) == 3 and not set(parts[2].split(",")) <= _MODES:
        return "has an unknown mode (rw, ro, z, Z, nocopy, consistent, cached, delegated, rshared...)"
    return None


def _unknown_var(node: YScalar) -> bool:
    return any(not r.defined and not r.has_default for r in node.vars or ())


def _short_syntax(root: YMap) -> list[SchemaError]:
    out: list[SchemaError] = []
    services = root.get("services")
    if not isinstance(services, YMap):
        return out
    for name, (_k, svc) in services.items.items():
        if not isinstance(svc, YMap):
            continue
        for key, check in (("ports", _bad_port), ("volumes", _bad_volume)):
            seq = svc.get(key)
            if not isinstance(seq, YSeq):
                continue
            for i, item in enumerate(_seq_items(seq)):
                if not isinstance(item, YScalar) or not isinstance(item.value, str) or _unknown_var(item):
                    continue
                why = check(item.value)
                if why:
                    out.append(SchemaError(item.line, item.col, f"services.{name}.{key}[{i}] {why}", item.end_line or item.line,
                                           item.end_col or item.col))
    return out


def expanded_size(root: YNode) -> int:
    """How many values the tree holds with its aliases expanded (each shared node counted once per
    use), computed in time linear in the distinct nodes."""
    sizes: dict[int, int] = {}
    stack: list[tuple[YNode, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        kids = list(node.items.values()) if isinstance(node, YMap) else list(node.items) if isinstance(node, YSeq) else []
        kids = [v for k in kids for v in (k if isinstance(k, tuple) else (k,))]
        if not done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        sizes[id(node)] = min(1 + sum(sizes.get(id(k), 1) for k in kids), 10**12)
    return sizes.get(id(root), 1)


def validate(root: YNode | None) -> list[SchemaError]:
    """Every place the compose file whose tree is ``root`` breaks the specification, in file order.
    Raises TooLarge for a file whose aliases expand past MAX_VALUES (compose would expand them too)."""
    if not isinstance(root, YMap):
        return []
    if expanded_size(root) > MAX_VALUES:
        raise TooLarge(f"its YAML aliases expand to more than {MAX_VALUES} values")
    instance = plain(root)
    out: list[SchemaError] = []
    try:
        for err in validator().iter_errors(instance):
            out.extend(_errors_of(err, root))
    except RecursionError:
        return [SchemaError(root.line, root.col, "the file is nested too deeply to validate", root.line, root.col)]
    out.extend(_short_syntax(root))
    seen = set()
    unique = []
    for e in sorted(out, key=lambda e: (e.line, e.col, e.message)):
        if (e.line, e.col, e.message) not in seen:
            seen.add((e.line, e.col, e.message))
            # a message quotes the file's own keys: one line, whatever they hold (``encode.terminal``)
            unique.append(e if terminal(e.message) == e.message else SchemaError(e.line, e.col, terminal(e.message), e.end_line, e.end_col))
    return unique

"""YAML as a tree of positioned nodes, built from pyyaml's composer (libyaml when present).

Anchors and aliases are resolved (an alias is the anchored node itself, so an alias bomb costs no
memory), ``<<`` merge keys are applied, and unknown tags such as Compose's ``!reset`` and
``!override`` are kept as ``tag`` instead of breaking the parse.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import yaml

from .base import ParseError, line_col

try:  # the C loader composes ~10x faster
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

MAX_NODES = 200_000
MAX_DEPTH = 400
_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}


class YNode:
    __slots__ = ("line", "col", "end_line", "end_col", "tag", "anchor_of")

    def __init__(self, node: yaml.Node | None = None):
        if node is not None:
            self.line = node.start_mark.line + 1
            self.col = node.start_mark.column + 1
            self.end_line = node.end_mark.line + 1
            self.end_col = node.end_mark.column + 1
            self.tag = node.tag
        else:
            self.line = self.col = self.end_line = self.end_col = 1
            self.tag = ""

    @property
    def pos(self) -> tuple[int, int, int, int]:
        return self.line, self.col, self.end_line, self.end_col

    def plain(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class YScalar(YNode):
    __slots__ = ("value", "raw", "style", "text", "vars")

    def __init__(self, node: yaml.ScalarNode | None = None, value: Any = None):
        super().__init__(node)
        self.raw = node.value if node is not None else ("" if value is None else str(value))
        self.style = (node.style or "") if node is not None else ""
        self.value = _resolve(node) if node is not None else value
        self.text = self.raw  # after interpolation (compose fills this in)
        self.vars: list = []  # interpolation references found in the raw text

    def plain(self) -> Any:
        return self.value

    def __str__(self) -> str:
        return "" if self.value is None else (str(self.value).lower() if isinstance(self.value, bool) else str(self.value))

    def __repr__(self) -> str:
        return f"YScalar({self.value!r}@{self.line}:{self.col})"


class YMap(YNode):
    __slots__ = ("items",)

    def __init__(self, node: yaml.MappingNode | None = None):
        super().__init__(node)
        self.items: dict[str, tuple[YScalar, YNode]] = {}

    def get(self, key: str, default: Any = None) -> Any:
        pair = self.items.get(key)
        return pair[1] if pair else default

    def key(self, key: str) -> YScalar | None:
        pair = self.items.get(key)
        return pair[0] if pair else None

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def __iter__(self) -> Iterator[str]:
        return iter(self.items)

    def pairs(self) -> Iterator[tuple[YScalar, YNode]]:
        return iter(self.items.values())

    def scalar(self, key: str) -> YScalar | None:
        v = self.get(key)
        return v if isinstance(v, YScalar) else None

    def str(self, key: str, default: str | None = None) -> str | None:
        v = self.get(key)
        return str(v) if isinstance(v, YScalar) and v.value is not None else default

    def plain(self) -> Any:
        return {k: v.plain() for k, (_, v) in self.items.items()}

    def __repr__(self) -> str:
        return f"YMap({list(self.items)}@{self.line})"


class YSeq(YNode):
    __slots__ = ("items",)

    def __init__(self, node: yaml.SequenceNode | None = None):
        super().__init__(node)
        self.items: list[YNode] = []

    def __iter__(self) -> Iterator[YNode]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def plain(self) -> Any:
        return [v.plain() for v in self.items]

    def __repr__(self) -> str:
        return f"YSeq({len(self.items)}@{self.line})"


def _resolve(node: yaml.ScalarNode) -> Any:
    tag, value = node.tag, node.value
    if node.style:  # quoted or block scalar: always a string
        return value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        low = value.lower()
        return True if low in _TRUE else False if low in _FALSE else value
    if tag.endswith(":int"):
        try:
            v = value.replace("_", "")
            if v.lower().startswith(("0x", "-0x", "+0x")):
                return int(v, 16)
            if v.lower().startswith("0o"):
                return int(v[2:], 8)
            return int(v)
        except ValueError:
            return value
    if tag.endswith(":float"):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return value
    return value


class _Builder:
    def __init__(self) -> None:
        self.count = 0
        self.memo: dict[int, YNode] = {}
        self.errors: list[ParseError] = []

    def build(self, node: yaml.Node, depth: int = 0) -> YNode:
        cached = self.memo.get(id(node))
        if cached is not None:
            return cached
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} YAML nodes", node)
        if depth > MAX_DEPTH:
            raise _TooBig(f"YAML nested deeper than {MAX_DEPTH} levels", node)
        if isinstance(node, yaml.ScalarNode):
            out: YNode = YScalar(node)
        elif isinstance(node, yaml.SequenceNode):
            out = YSeq(node)
            self.memo[id(node)] = out
            out.items = [self.build(child, depth + 1) for child in node.value]
        elif isinstance(node, yaml.MappingNode):
            out = YMap(node)
            self.memo[id(node)] = out
            merged: dict[str, tuple[YScalar, YNode]] = {}
            own: dict[str, tuple[YScalar, YNode]] = {}
            merge_key = None
            for knode, vnode in node.value:
                if knode.tag == "tag:yaml.org,2002:merge" or (isinstance(knode, yaml.ScalarNode) and knode.value == "<<" and not knode.style):
                    mark = knode.start_mark
                    if merge_key is not None:
                        self.errors.append(ParseError(_duplicate("<<", merge_key), mark.line + 1, mark.column + 1))
                    merge_key = mark.line + 1
                    sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                    for src in sources:
                        built = self.build(src, depth + 1)
                        if isinstance(built, YMap):
                            for k, pair in built.items.items():
                                merged.setdefault(k, pair)
                    continue
                key = self.build(knode, depth + 1)
                if not isinstance(key, YScalar):
                    self.errors.append(ParseError("mapping key is not a scalar", key.line, key.col))
                    continue
                name = str(key.raw)
                if name in own:
                    self.errors.append(ParseError(_duplicate(name, own[name][0].line), key.line, key.col))
                own[name] = (key, self.build(vnode, depth + 1))
            out.items = {**merged, **own}
            # keep insertion order: merged keys first unless overridden
        else:  # pragma: no cover
            out = YScalar(None, None)
        self.memo[id(node)] = out
        return out


def _duplicate(name: str, first_line: int) -> str:
    """A mapping key written twice: docker compose (compose-go's YAML reader) refuses the file with
    "mapping key ... already defined at line N"; pyyaml, and dkscan's reading of it, keep the last."""
    tail = "dkscan merges every one" if name == "<<" else "dkscan audits the last value"
    return f"duplicate key '{name}' (already defined at line {first_line}): docker compose refuses the file; {tail}"


class _TooBig(Exception):
    def __init__(self, message: str, node: yaml.Node):
        super().__init__(message)
        self.node = node


_BRACKETS = re.compile(r"[\[\]{}]")


def _flow_depth_exceeded(text: str, limit: int) -> int | None:
    """Offset where flow nesting ([ and {) passes ``limit``: libyaml's composer recurses in C and
    crashes the process on ~100k levels, so such input is refused before it gets there."""
    depth = 0
    for m in _BRACKETS.finditer(text):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return m.start()
        else:
            depth = max(0, depth - 1)
    return None


def parse_yaml(text: str) -> tuple[YNode | None, list[ParseError]]:
    """Compose the first document of ``text`` into a YNode tree. Never raises."""
    too_deep = _flow_depth_exceeded(text, MAX_DEPTH)
    if too_deep is not None:
        line = line_col(text, too_deep)[0]
        return None, [ParseError(f"YAML nested deeper than {MAX_DEPTH} levels", line, 1)]
    try:
        docs = yaml.compose_all(text, Loader=_Loader)
        root = None
        for i, doc in enumerate(docs):
            if i == 0:
                root = doc
            else:
                break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [ParseError(f"YAML: {problem}", line, col)]
    except yaml.YAMLError as exc:
        return None, [ParseError(f"YAML: {exc.__class__.__name__}", 1, 1)]
    except RecursionError:
        return None, [ParseError("YAML nested too deeply", 1, 1)]
    if root is None:
        return None, []
    builder = _Builder()
    try:
        tree = builder.build(root)
    except _TooBig as exc:
        return None, [ParseError(str(exc), exc.node.start_mark.line + 1, exc.node.start_mark.column + 1)]
    except RecursionError:
        return None, [ParseError("YAML nested too deeply", 1, 1)]
    return tree, builder.errors


def walk(node: YNode, budget: int = MAX_NODES) -> Iterator[YNode]:
    """Every node below ``node`` (each shared node once)."""
    seen: set[int] = set()
    stack = [node]
    while stack and budget > 0:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        budget -= 1
        yield cur
        if isinstance(cur, YMap):
            for k, v in reversed(list(cur.items.values())):
                stack.append(v)
                stack.append(k)
        elif isinstance(cur, YSeq):
            stack.extend(reversed(cur.items))

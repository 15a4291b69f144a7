"""YAML as a tree of positioned nodes, built from pyyaml's composer (libyaml when present).

Anchors and aliases are resolved (an alias is the anchored node itself, so an alias bomb costs no
memory), ``<<`` merge keys are applied, and unknown tags such as Compose's ``!reset`` and
``!override`` are kept as ``tag`` instead of breaking the parse.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from .base import ParseError, line_col
from ..lazyre import LazyRe


class _LazyYaml:
    """PyYAML, imported when a YAML file is first composed (``yaml`` then names the module itself):
    the node classes below serve the rules of an audit that has no YAML file, without the import."""

    def __getattr__(self, name: str):
        global yaml, _Loader
        import yaml as module

        try:  # the C loader composes ~10x faster
            _Loader = module.CSafeLoader
        except AttributeError:  # pragma: no cover - libyaml missing
            _Loader = module.SafeLoader
        yaml = module
        return getattr(module, name)


yaml = _LazyYaml()
_Loader = None  # yaml.CSafeLoader, set with the import

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


_BRACKETS = LazyRe(r"[\[\]{}]")


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
        compose_all = yaml.compose_all  # imports PyYAML (and sets _Loader) on first use
        docs = compose_all(text, Loader=_Loader)
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


# ---------------------------------------------------------------------------------------------
# secret marks: where a YAML text writes its secrets, in the form it writes them
# ---------------------------------------------------------------------------------------------


def secret_marks(text: str, root: YNode | None | bool = False) -> list[tuple[int, int]]:
    """The source spans (start, end offsets) of the secret-bearing values of a YAML text, as written:
    values of secret keys (``scanner.spans.is_secret_position_key``, the one definition) in every
    scalar style -- plain, quoted, escaped (``"CAN\\x41..."``, ``'it''s'``), block and folded, plain
    continued over lines -- ``- KEY=value`` items, command arrays read as one command line, and the
    secrets any scalar holds in its decoded form (a URL password, ``--password=``, a token) located
    in its source (the whole scalar when its source does not show the piece: an escape, a fold).
    Lines are also read by indentation, for what the tree cannot show (a file that does not parse, a
    duplicated key: the tree keeps the last). ``root``: the tree ``parse_yaml(text)`` built, if the
    caller has it (a parser marks while it parses)."""
    if root is False:
        root, _errors = parse_yaml(text)
    return [*_tree_marks(text, root), *_line_marks(text)]


_YAML_BREAK = LazyRe("\r\n|[\n\r\x85\u2028\u2029]")
# secret keys whose collection holds names, not values (compose's `secrets: [db_password]` and
# top-level definitions, Kubernetes' `secretKeyRef: {name: db, key: password}`, `secretNames`)
_NAMES_OF_SECRETS = LazyRe(r"(?i)^(x-)?secrets$|(ref|refs|name|names|file|files)$")
# fields of a mapping that say where a secret comes from, not what it is (compose's top-level
# `secrets: {db-password: {file: db/password.txt}}`, `{environment: DB_PASSWORD}`, `{external: true}`)
_SOURCE_FIELDS = frozenset({"file", "name", "environment", "external", "driver", "driver_opts", "template_driver",
                            "labels", "source", "target", "uid", "gid", "mode", "path"})


def secret_collection(key: str) -> bool:
    """Whether every scalar of a sequence or mapping written under ``key`` is a secret: the key is a
    secret key (``scanner.spans.is_secret_position_key``) that does not list names of secrets."""
    from ..spans import is_secret_position_key

    return is_secret_position_key(key) and not _NAMES_OF_SECRETS.search(key.strip().strip("\"'"))


def _tree_marks(text: str, root: YNode | None) -> list[tuple[int, int]]:
    """The values of secret keys and the secrets any scalar holds, located by pyyaml's node marks."""
    from ..spans import is_secret_flag, is_secret_position_key, merge, secret_value_spans, text_spans, worth_masking

    if root is None:
        return []
    starts = [0] + [m.end() for m in _YAML_BREAK.finditer(text)]

    def off(line: int, col: int) -> int:
        if line - 1 >= len(starts):
            return len(text)
        return min(len(text), starts[line - 1] + col - 1)

    def node_span(n) -> tuple[int, int]:
        a, b = off(n.line, n.col), off(n.end_line, n.end_col)
        while b > a and text[b - 1] in " \t\r\n":
            b -= 1
        style = getattr(n, "style", "")
        if style in ("'", '"') and b - a >= 2:
            return a + 1, b - 1
        if style in ("|", ">"):  # a block scalar's value starts below its header (`|`, `>-`, `|2`)
            brk = _YAML_BREAK.search(text, a, b)
            if brk is not None:
                return brk.end(), b
        return a, b

    def inner(n, decoded: str, pieces: Iterable[tuple[int, int]]) -> Iterable[tuple[int, int]]:
        """Spans found in a scalar's decoded value, located in its source (else the whole scalar)."""
        a, b = node_span(n)
        src = text[a:b]
        for x, y in pieces:
            piece = decoded[x:y]
            if src == decoded:
                yield a + x, a + y
                continue
            i = src.find(piece)
            if piece and i >= 0 and src.find(piece, i + 1) < 0:
                yield a + i, a + i + len(piece)
            else:
                yield a, b

    def scalar_marks(v) -> list[tuple[int, int]]:
        raw = v.raw if isinstance(v.raw, str) else str(v.value)
        x, y = node_span(v)
        return secret_value_spans(x, y, text) if text[x:y] == raw else ([(x, y)] if worth_masking(raw) else [])

    def collection_marks(c) -> Iterable[tuple[int, int]]:
        """Every scalar of a collection written under a secret key (`API_TOKEN: [a, b]`,
        `db_password: {x: [a]}`): values in every style, each at its own span (mapping keys are
        names, not values)."""
        stack, seen_here, left = [c], set(), 200_000
        while stack and left > 0:
            n = stack.pop()
            left -= 1
            if id(n) in seen_here:
                continue
            seen_here.add(id(n))
            if isinstance(n, YScalar):
                if n.value is not None:
                    yield from scalar_marks(n)
            elif isinstance(n, YMap):
                stack.extend(v for k, (_kn, v) in n.items.items() if str(k).lower() not in _SOURCE_FIELDS)
            elif isinstance(n, YSeq):
                stack.extend(n.items)

    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    todo = [root]
    budget = 200_000
    while todo and budget > 0:
        node = todo.pop()
        budget -= 1
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, YMap):
            for k, (_kn, v) in node.items.items():
                if isinstance(v, YScalar):
                    if v.value is None:
                        continue
                    raw = v.raw if isinstance(v.raw, str) else str(v.value)
                    if is_secret_position_key(str(k)):
                        found = scalar_marks(v)
                        out.extend(found)
                        if found:
                            continue
                    todo.append(v)
                else:
                    if secret_collection(str(k)):
                        out.extend(collection_marks(v))
                    todo.append(v)
        elif isinstance(node, YSeq):
            # a command array: the words joined as one command line, its spans mapped to the items
            items = list(node)
            bounds: list[tuple[int, int, object]] = []
            line = ""
            for item in items:
                if not isinstance(item, YScalar):
                    todo.append(item)
                    continue
                if item.value is None:
                    continue
                w = item.raw if isinstance(item.raw, str) else str(item.value)
                key, eq, value = w.partition("=")
                if eq and re.fullmatch(r"-{0,2}[A-Za-z_][\w.\-]*", key) and (
                        is_secret_position_key(key) or is_secret_flag(key)) and worth_masking(value):
                    out.extend(inner(item, w, [(len(key) + 1, len(w))]))  # - KEY=value: the rest of the item
                if line:
                    line += " "
                bounds.append((len(line), len(line) + len(w), item))
                line += w
                todo.append(item)
            if len(bounds) > 1:
                for x, y in merge(text_spans(line)):
                    for lo, hi, item in bounds:
                        if x < hi and y > lo:
                            w = line[lo:hi]
                            out.extend(inner(item, w, [(max(x, lo) - lo, min(y, hi) - lo)]))
        elif isinstance(node, YScalar):
            raw = node.raw if isinstance(node.raw, str) else ""
            if not raw or node.value is None:
                continue
            a, b = node_span(node)
            if text[a:b] != raw:  # escaped, folded, block: the text finders cannot see the decoded form
                out.extend(inner(node, raw, text_spans(raw)))
    return out


_YAML_KEY_LINE = LazyRe(r"""^(?P<ind>[ \t]*)(?:-[ \t]+)?(?P<q>["']?)(?P<key>[A-Za-z_][\w.\-]*)(?P=q)[ \t]*:(?:[ \t]+(?P<val>\S.*))?[ \t]*$""")  # val's blanks stripped in code


_FLOW_TOKEN = LazyRe(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|(?:\$\{[^{}\n]*\}|[^\s\[\]{},"'#])(?:\$\{[^{}\n]*\}|[^\[\]{},:\n]|:(?![ \t]|$))*""")


def _flow_scalars(text: str, a: int, b: int) -> Iterable[tuple[int, int]]:
    """The value scalars of a flow collection written on text[a:b] (mapping keys, written before a
    ``:``, are names): each at its own span, quotes excluded, references by their defaults."""
    from ..spans import secret_value_spans, strip_quotes

    pos = a
    key = ""
    while pos < b:
        c = text[pos]
        if c in " \t[]{}," or (c == ":" and text[pos + 1:pos + 2] in ("", " ", "\t")):
            pos += 1
            continue
        if c == "#" and text[pos - 1] in " \t":
            break  # a comment ends the line
        m = _FLOW_TOKEN.match(text, pos, b)
        if m is None or m.end() == pos:
            pos += 1
            continue
        x, y = m.start(), m.end()
        while y > x and text[y - 1] in " \t":
            y -= 1
        after = text[m.end():b].lstrip(" \t")
        if after.startswith(":") and after[1:2] in ("", " ", "\t"):  # a mapping key is a name
            key = text[x:y].strip("\"'").lower()
        else:
            if key not in _SOURCE_FIELDS:  # `{file: ./x}` says where the secret is
                yield from secret_value_spans(*strip_quotes(x, y, text), text)
            key = ""
        pos = m.end()


def _line_marks(text: str) -> list[tuple[int, int]]:
    """YAML read by indentation, for what the node tree cannot show: a file that does not parse, a
    duplicated key (the tree keeps the last). The value of a secret key and every line indented
    deeper than the key after it (block, folded and plain multi-line scalars)."""
    from ..spans import is_secret_position_key, line_offsets, secret_value_spans, strip_quotes

    out: list[tuple[int, int]] = []
    starts = line_offsets(text)
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _YAML_KEY_LINE.match(lines[i])
        if not m or not is_secret_position_key(m.group("key")):
            i += 1
            continue
        indent = len(m.group("ind"))
        val = (m.group("val") or "").rstrip(" \t")
        if val[:1] in ("[", "{") and secret_collection(m.group("key")):  # a flow collection: each scalar on the line
            out.extend(_flow_scalars(text, starts[i] + m.start("val"), starts[i] + m.end("val")))
        if val and not val.startswith(("#", "{", "[", "&", "*", "|", ">")):  # not a block header (`|`, `>-`)
            a = starts[i] + m.start("val")
            out.extend(secret_value_spans(*(strip_quotes(a, a + len(val), text) if val[0] in "'\""
                                             else (a, a + len(val.split(" #")[0]))), text))
        j = i + 1
        while j < len(lines):
            line = lines[j]
            stripped = line.lstrip(" \t")
            if stripped and len(line) - len(stripped) <= indent:
                break
            if stripped and not (val == "" and stripped.startswith(("-", "#"))) and ":" not in stripped.split(" ")[0]:
                out.append((starts[j] + len(line) - len(stripped), starts[j] + len(line.rstrip())))
            j += 1
        i = j
    return out

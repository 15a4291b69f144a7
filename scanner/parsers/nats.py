"""nats-server configuration files (the ``conf`` package of nats-server).

The format: ``key: value``, ``key = value`` or ``key value``; maps ``name { ... }`` or
``name: { ... }``; arrays ``[a, b]`` (commas or new lines between items); ``#`` and ``//``
comments; ``"double"`` strings with ``\\t \\n \\r \\" \\\\ \\xHH`` escapes, ``'single'`` raw
strings; unquoted tokens end at a blank, a new line, ``, ; ] }``.

Unquoted tokens are typed as nats-server types them: ``true/false/yes/no/on/off`` are booleans;
integers may carry a size suffix (``1k`` = 1000, ``1kb``/``1ki`` = 1024, ``m``/``mb``, ``g``/``gb``,
...; so an unquoted ``2m`` is the integer 2000000, as in nats-server, while ``"2m"`` or ``10s`` stay
strings); ``1.5`` is a float; ``$NAME`` is a variable reference (``is_ref``, value kept as
``"$NAME"``); ``include path`` pulls in another file. Everything else is a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .base import Document, LineIndex, ParseError
from ..plain import FACTORY as _FACTORY
from ..lazyre import LazyRe

__all__ = ["NatsEntry", "NatsBlock", "NatsDocument", "parse"]

_WS = " \t"
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_INT_RE = LazyRe(r"-?[0-9]+([kKmMgGtTpPeE]([bB]|[iI][bB]?)?)?")
_FLOAT_RE = LazyRe(r"-?[0-9]+\.[0-9]+")
_SCALE = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5, "e": 1000**6}
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}
MAX_DEPTH = 200


class NatsEntry:
    """One ``key: value`` entry of a nats-server configuration."""

    key: str
    value: object  # str | int | float | bool | NatsBlock | list
    line: int
    col: int  # of the key
    value_line: int
    value_col: int
    end_line: int
    end_col: int  # end exclusive
    raw: str  # value token as written ('' for blocks; the source text for arrays)
    quoted: bool
    is_ref: bool  # value is a $VAR reference

    __match_args__ = ("key", "value", "line", "col", "value_line", "value_col", "end_line", "end_col", "raw", "quoted", "is_ref")

    def __init__(self, key, value, line, col, value_line, value_col, end_line, end_col, raw, quoted, is_ref):
        self.key = key
        self.value = value
        self.line = line
        self.col = col
        self.value_line = value_line
        self.value_col = value_col
        self.end_line = end_line
        self.end_col = end_col
        self.raw = raw
        self.quoted = quoted
        self.is_ref = is_ref

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.key, self.value, self.line, self.col, self.value_line, self.value_col, self.end_line, self.end_col, self.raw, self.quoted, self.is_ref) == (other.key, other.value, other.line, other.col, other.value_line, other.value_col, other.end_line, other.end_col, other.raw, other.quoted, other.is_ref)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    @property
    def ref_name(self) -> str | None:
        """``NAME`` for a ``$NAME`` reference."""
        return self.raw[1:] if self.is_ref else None


class NatsBlock:
    """A ``{ ... }`` block (or the top level) of a nats-server configuration."""

    entries: list[NatsEntry]
    line: int = 1
    col: int = 1

    __match_args__ = ("entries", "line", "col")

    def __init__(self, entries=_FACTORY, line=1, col=1):
        self.entries = list() if entries is _FACTORY else entries
        self.line = line
        self.col = col

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.entries, self.line, self.col) == (other.entries, other.line, other.col)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    def get(self, key: str) -> NatsEntry | None:
        """The last entry named ``key`` (case-insensitive, as nats-server matches option names)."""
        lowered = key.lower()
        for entry in reversed(self.entries):
            if entry.key.lower() == lowered:
                return entry
        return None

    def all(self, key: str) -> list[NatsEntry]:
        lowered = key.lower()
        return [entry for entry in self.entries if entry.key.lower() == lowered]


@dataclass(repr=False)
class NatsDocument(Document):
    """A parsed nats-server configuration."""

    root: NatsBlock = field(default_factory=NatsBlock)
    includes: list[NatsEntry] = field(default_factory=list)  # also present in their block's entries
    references: list[NatsEntry] = field(default_factory=list)  # every $VAR use, array items included
    comments: list[tuple[int, str]] = field(default_factory=list)  # (line, text after '#'/'//', stripped)

    def variable(self, name: str) -> NatsEntry | None:
        """The top-level definition a ``$name`` reference resolves to (nats-server looks the name up
        in the enclosing blocks, innermost first, then in the environment; this only looks at the
        top level). Case-sensitive, last definition wins."""
        for entry in reversed(self.root.entries):
            if entry.key == name and entry.key != "include":
                return entry
        return None


def is_secret_entry(key: str) -> bool:
    """A NATS entry whose value is a secret (authorization, accounts, leafnode, cluster and gateway
    blocks: ``password``, ``token``, ``nkey_seed``, ``backend_password``...): the one definition of a
    secret key (``scanner.spans.is_secret_position_key``), matched case-insensitively as
    nats-server matches option names."""
    from ..spans import is_secret_position_key

    return is_secret_position_key(key)


class _Stop(Exception):
    """Unrecoverable (e.g. nesting too deep): keep what parsed."""


class _Parser:
    def __init__(self, text: str, doc: NatsDocument):
        self.s = text
        self.n = len(text)
        self.i = 0
        self.doc = doc
        self.depth = 0
        self.index = LineIndex(text)  # positions in Document.lines' lines

    # -- positions and errors -------------------------------------------------------------------
    def pos(self, offset: int) -> tuple[int, int]:
        return self.index.line_col(offset)

    def error(self, message: str, offset: int) -> None:
        line, col = self.pos(offset)
        self.doc.errors.append(ParseError(message, line, col))

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < self.n else ""

    # -- skipping -------------------------------------------------------------------------------
    def at_comment(self) -> bool:
        c = self.peek()
        return c == "#" or (c == "/" and self.peek(1) == "/")

    def read_comment(self) -> None:
        start = self.i
        self.i += 1 if self.s[self.i] == "#" else 2
        end = self.s.find("\n", self.i)
        end = self.n if end < 0 else end
        self.doc.comments.append((self.pos(start)[0], self.s[self.i : end].strip()))
        self.i = end

    def skip_ws(self) -> None:
        while self.i < self.n and self.s[self.i] in _WS:
            self.i += 1

    def skip_all(self, extra: str = "") -> None:
        """Blanks, new lines, comments and the characters in ``extra``."""
        while self.i < self.n:
            c = self.s[self.i]
            if c.isspace() or c in extra:
                self.i += 1
            elif self.at_comment():
                self.read_comment()
            else:
                break

    def skip_line(self) -> None:
        end = self.s.find("\n", self.i)
        self.i = self.n if end < 0 else end

    # -- structure ------------------------------------------------------------------------------
    def parse_document(self) -> None:
        root = self.doc.root
        self.skip_all()
        wrapped = -1
        if self.peek() == "{":  # nats-server accepts a whole file wrapped in braces
            wrapped = self.i
            self.i += 1
        self.block_body(root, wrapped)
        if wrapped >= 0:
            self.block_body(root, -1)  # anything after the closing brace

    def block_body(self, block: NatsBlock, open_offset: int) -> None:
        """Entries up to the matching ``}`` (or EOF at the top level). ``open_offset`` is the
        offset of the opening brace, -1 for the unwrapped top level."""
        while True:
            self.skip_all(";,")
            if self.i >= self.n:
                if open_offset >= 0:
                    self.error("unclosed '{' (missing '}')", open_offset)
                return
            c = self.s[self.i]
            if c == "}":
                self.i += 1
                if open_offset >= 0:
                    return
                self.error("unexpected '}'", self.i - 1)
                continue
            if c in "]=:[{":
                self.error(f"unexpected {c!r} where a key was expected", self.i)
                self.i += 1
                self.skip_line()
                continue
            entry = self.entry()
            if entry is not None:
                block.entries.append(entry)
            # after a value: blanks, then a comment, a new line, ';', ',', '}' or EOF
            self.skip_ws()
            if self.i >= self.n:
                continue
            c = self.s[self.i]
            if c in "\r\n;,}" or self.at_comment():
                continue
            self.error(f"expected the value to end with a new line, ',' or ';' but found {c!r}", self.i)
            self.skip_line()

    def entry(self) -> NatsEntry | None:
        s = self.s
        kstart = self.i
        kline, kcol = self.pos(kstart)
        if s[self.i] in "\"'":
            q = s[self.i]
            end = s.find(q, self.i + 1)
            nl = s.find("\n", self.i + 1)
            if end < 0 or (0 <= nl < end):
                self.error(f"unterminated quoted key (missing {q})", kstart)
                self.skip_line()
                return None
            key = s[self.i + 1 : end]
            self.i = end + 1
        else:
            while self.i < self.n and not (s[self.i].isspace() or s[self.i] in "=:{}[]"):
                self.i += 1
            key = s[kstart : self.i]
            if key.lower() == "include" and self.peek() in _WS:
                return self.include(key, kline, kcol)
        # separator: blanks and new lines may come before it (as in nats-server)
        while self.i < self.n and s[self.i].isspace():
            self.i += 1
        if self.peek() in ("=", ":"):
            self.i += 1
        self.skip_ws()
        c = self.peek()
        if c == "" or c in "\r\n" or c in "};,":
            self.error(f"expected a value for {key!r}", self.i)
            return None
        if self.at_comment():
            self.error(f"expected a value for {key!r}", self.i)
            return None
        at = self.i
        value = self.value(key)
        if value is None:
            if is_secret_entry(key) and at < self.n:  # an unterminated string: the rest of its line was meant
                eol = s.find("\n", at)
                eol = self.n if eol < 0 else eol
                first = at + 1 if s[at] in "\"'" else at
                if eol > first:
                    self.doc.secret_marks.append((first, eol))
            return None
        val, raw, quoted, is_ref, vstart, vend = value
        vline, vcol = self.pos(vstart)
        eline, ecol = self.pos(vend)
        entry = NatsEntry(key, val, kline, kcol, vline, vcol, eline, ecol, raw, quoted, is_ref)
        if is_ref:
            self.doc.references.append(entry)
        elif is_secret_entry(key) and isinstance(val, (str, int, float)) and not isinstance(val, bool):
            # the value as written (a quoted one's inside): password, token, nkey seed...
            if quoted and vend - vstart >= 2 and s[vstart] in "\"'" and s[vend - 1] == s[vstart]:
                vstart, vend = vstart + 1, vend - 1
            if vend > vstart:
                self.doc.secret_marks.append((vstart, vend))
        return entry

    def include(self, key: str, kline: int, kcol: int) -> NatsEntry | None:
        self.skip_ws()
        start = self.i
        c = self.peek()
        if c in ("'", '"'):
            end = self.s.find(c, self.i + 1)
            nl = self.s.find("\n", self.i + 1)
            if end < 0 or (0 <= nl < end):
                self.error(f"unterminated quoted include path (missing {c})", start)
                self.skip_line()
                return None
            path = self.s[self.i + 1 : end]
            self.i = end + 1
            quoted = True
        else:
            while self.i < self.n and not (self.s[self.i].isspace() or self.s[self.i] in ";}"):
                self.i += 1
            path = self.s[start : self.i]
            quoted = False
            if not path:
                self.error("expected a path after include", start)
                return None
        vline, vcol = self.pos(start)
        eline, ecol = self.pos(self.i)
        entry = NatsEntry(key, path, kline, kcol, vline, vcol, eline, ecol, self.s[start : self.i], quoted, False)
        self.doc.includes.append(entry)
        return entry

    def value(self, key: str):
        """Returns (value, raw, quoted, is_ref, start, end) or None after an error."""
        s = self.s
        start = self.i
        c = s[self.i]
        if c == "{":
            block = NatsBlock([], *self.pos(start))
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.error("nesting too deep", start)
                raise _Stop
            self.block_body(block, start)
            self.depth -= 1
            return block, "", False, False, start, self.i
        if c == "[":
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.error("nesting too deep", start)
                raise _Stop
            items = self.array(key, start)
            self.depth -= 1
            return items, s[start : self.i], False, False, start, self.i
        if c == '"':
            text = self.double_quoted()
            if text is None:
                return None
            return text, s[start : self.i], True, False, start, self.i
        if c == "'":
            end = s.find("'", self.i + 1)
            if end < 0:
                self.error("unterminated string (missing ')", start)
                self.i = self.n
                return None
            self.i = end + 1
            return s[start + 1 : end], s[start : self.i], True, False, start, self.i
        if c == "(":
            return self.paren_block(start)
        # an unquoted token
        parts: list[str] = []
        escaped = False
        while self.i < self.n:
            ch = s[self.i]
            if ch.isspace() or ch in ",;]}'":
                break
            if ch == "\\" and self.i + 1 < self.n:
                escaped = True
                parts.append(_ESCAPES.get(s[self.i + 1], s[self.i + 1]))
                self.i += 2
                continue
            parts.append(ch)
            self.i += 1
        raw = s[start : self.i]
        token = "".join(parts)
        if not raw:
            self.error(f"expected a value for {key!r}", start)
            self.i += 1
            return None
        if escaped:
            return token, raw, False, False, start, self.i
        if token.startswith("$"):
            return token, raw, False, True, start, self.i
        return _typed(token), raw, False, False, start, self.i

    def double_quoted(self) -> str | None:
        s = self.s
        start = self.i
        self.i += 1
        out: list[str] = []
        while self.i < self.n:
            ch = s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "\\" and self.i + 1 < self.n:
                nxt = s[self.i + 1]
                if nxt == "x":
                    hexdigits = s[self.i + 2 : self.i + 4]
                    try:
                        out.append(chr(int(hexdigits, 16)) if len(hexdigits) == 2 else "")
                    except ValueError:
                        self.error("expected two hexadecimal digits after '\\x'", self.i)
                    self.i += 4
                    continue
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                else:
                    self.error(f"invalid escape character {nxt!r}", self.i)
                    out.append(nxt)
                self.i += 2
                continue
            out.append(ch)
            self.i += 1
        self.error('unterminated string (missing ")', start)
        return None

    def paren_block(self, start: int):
        """``( ... )`` raw block: runs up to a ``)`` alone on its line."""
        m = re.compile(r"\n[ \t]*\)[ \t]*(?=\r?\n|$)").search(self.s, start)
        if not m:
            self.error("unterminated '(' block (missing ')' on a line of its own)", start)
            self.i = self.n
            return None
        body = self.s[start + 1 : m.start()].strip("\r\n")
        self.i = m.end()
        return body, self.s[start : self.i], True, False, start, self.i

    def array(self, key: str, open_offset: int) -> list:
        items: list = []
        s = self.s
        while True:
            self.skip_all(",")
            if self.i >= self.n:
                self.error("unclosed '[' (missing ']')", open_offset)
                return items
            c = s[self.i]
            if c == "]":
                self.i += 1
                return items
            if c == "}":
                # a stray '}' closes nothing here: report and stop the array
                self.error("unexpected '}' inside an array (missing ']')", self.i)
                return items
            if c in ";=:":
                self.error(f"unexpected {c!r} in an array", self.i)
                self.i += 1
                continue
            result = self.value(key)
            if result is None:
                self.skip_line()
                continue
            val, raw, quoted, is_ref, vstart, vend = result
            items.append(val)
            if is_ref:
                line, col = self.pos(vstart)
                eline, ecol = self.pos(vend)
                self.doc.references.append(NatsEntry(key, val, line, col, line, col, eline, ecol, raw, False, True))
            self.skip_ws()
            if self.i < self.n and not (s[self.i] in "\r\n,]" or self.at_comment()):
                self.error(f"expected ',' or ']' after an array item, found {s[self.i]!r}", self.i)
                self.skip_line()


def _typed(token: str) -> object:
    lowered = token.lower()
    if lowered in _BOOLS:
        return _BOOLS[lowered]
    if _INT_RE.fullmatch(token):
        digits = token.rstrip("kKmMgGtTpPeEbBiI")
        suffix = lowered[len(digits) :]
        number = int(digits)
        if not suffix:
            return number
        unit = suffix[0]
        binary = len(suffix) > 1  # kb, ki, kib
        return number * (1024 ** (" kmgtpe".index(unit)) if binary else _SCALE[unit])
    if _FLOAT_RE.fullmatch(token):
        return float(token)
    return token


def parse(text: str, path: str) -> NatsDocument:
    """Parse a nats-server configuration file. Never raises: problems land in ``errors``."""
    doc = NatsDocument(path=path, text=text if isinstance(text, str) else "")
    parser = _Parser(doc.text, doc)
    try:
        parser.parse_document()
    except _Stop:
        pass
    except Exception as exc:  # noqa: BLE001 - a parser must never stop the scan
        doc.errors.append(ParseError(f"internal parser error: {type(exc).__name__}: {exc}", 1, 1))
    return doc


def secret_marks(text: str) -> list[tuple[int, int]]:
    """The source spans of the passwords, tokens and seeds a nats-server configuration writes."""
    return parse(text, "").secret_marks

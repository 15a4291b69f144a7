"""``.env`` files, read the way docker compose reads them (compose-go's ``dotenv`` package).

What compose accepts, and so what this parser accepts:

- ``KEY=value``, ``KEY: value`` (compose-go's yaml-style separator), ``export KEY=value``;
  blanks around the separator are ignored; a key is letters, digits, ``_ . - [ ]`` (a leading digit
  is allowed by compose);
- unquoted values run to the end of the line, are cut at the first `` #`` (space, hash: the rest is
  an inline comment) and right-trimmed. Leading blanks are trimmed *before* that cut, so
  ``KEY= # x`` has the value ``# x`` (as in compose);
- ``'single'`` quotes are literal and may span lines (``\\'`` does not close them, as in compose);
- ``"double"`` quotes may span lines and understand ``\\n \\r \\t \\a \\b \\f \\v \\\\ \\"``; any
  other ``\\c`` is ``c``; ``\\$`` becomes ``$$`` (compose's escaped dollar, so the value stays
  un-interpolated text);
- ``KEY`` alone on a line (no ``=``) takes its value from the environment: ``has_equals`` is False;
- ``#`` comment lines and blank lines; CRLF line ends.

Values are not interpolated: ``${X}`` stays as written. Where compose would stop at the first bad
line, this parser records a ``ParseError`` and goes on with the next line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Document, LineIndex, ParseError
from ..plain import frozen_error as _frozen

__all__ = ["EnvEntry", "DotenvDocument", "parse", "secret_marks"]

_SPACE = "\t\v\f\r \x85\xa0\ufeff"  # compose-go's isSpace (no newline) plus a stray BOM
_KEY_PUNCT = "_.-[]"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


class EnvEntry:
    """One ``KEY=value`` line of a dotenv file."""

    key: str
    value: str
    line: int
    col: int  # of the key
    value_line: int
    value_col: int
    end_line: int
    end_col: int  # span of the value as written, quotes included; end exclusive
    quote: str  # '', "'" or '"'
    raw_value: str  # the value as written, quotes included
    export: bool
    has_equals: bool  # False for a bare ``KEY`` line (value inherited from the environment)
    comment: str  # inline comment text (after ``#``, stripped), or ''

    __match_args__ = ("key", "value", "line", "col", "value_line", "value_col", "end_line", "end_col", "quote", "raw_value", "export", "has_equals", "comment")

    def __init__(self, key, value, line, col, value_line, value_col, end_line, end_col, quote, raw_value, export, has_equals, comment):
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "col", col)
        object.__setattr__(self, "value_line", value_line)
        object.__setattr__(self, "value_col", value_col)
        object.__setattr__(self, "end_line", end_line)
        object.__setattr__(self, "end_col", end_col)
        object.__setattr__(self, "quote", quote)
        object.__setattr__(self, "raw_value", raw_value)
        object.__setattr__(self, "export", export)
        object.__setattr__(self, "has_equals", has_equals)
        object.__setattr__(self, "comment", comment)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.key, self.value, self.line, self.col, self.value_line, self.value_col, self.end_line, self.end_col, self.quote, self.raw_value, self.export, self.has_equals, self.comment) == (other.key, other.value, other.line, other.col, other.value_line, other.value_col, other.end_line, other.end_col, other.quote, other.raw_value, other.export, other.has_equals, other.comment)
        return NotImplemented

    def __hash__(self):
        return hash((self.key, self.value, self.line, self.col, self.value_line, self.value_col, self.end_line, self.end_col, self.quote, self.raw_value, self.export, self.has_equals, self.comment))

    def __setattr__(self, name, value):
        if type(self) is EnvEntry or name in ("key", "value", "line", "col", "value_line", "value_col", "end_line", "end_col", "quote", "raw_value", "export", "has_equals", "comment"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(EnvEntry, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is EnvEntry or name in ("key", "value", "line", "col", "value_line", "value_col", "end_line", "end_col", "quote", "raw_value", "export", "has_equals", "comment"):
            raise _frozen(f"cannot delete field {name!r}")
        super(EnvEntry, self).__delattr__(name)


@dataclass(repr=False)
class DotenvDocument(Document):
    """A parsed dotenv file."""

    entries: list[EnvEntry] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)  # (line, text after '#', stripped)
    duplicates: list[tuple[EnvEntry, EnvEntry]] = field(default_factory=list)  # (earlier, later)

    def get(self, key: str) -> EnvEntry | None:
        """The definition compose uses: the last one."""
        for entry in reversed(self.entries):
            if entry.key == key:
                return entry
        return None

    def values(self) -> dict[str, str]:
        """key -> value, last definition wins. Bare ``KEY`` lines give ''."""
        return {entry.key: entry.value for entry in self.entries}


def _unescape_double(inner: str) -> str:
    out: list[str] = []
    i, n = 0, len(inner)
    while i < n:
        ch = inner[i]
        if ch == "\\" and i + 1 < n:
            nxt = inner[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt == "$":
                out.append("$$")
            else:
                out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str, doc: DotenvDocument):
        self.text = text
        self.doc = doc
        self.n = len(text)
        self.last: dict[str, EnvEntry] = {}
        # positions are numbered as Document.lines numbers lines (LineIndex); the syntax itself is
        # compose-go's, where only a newline ends a line
        self.index = LineIndex(text)

    def pos(self, offset: int) -> tuple[int, int]:
        return self.index.line_col(offset)

    def error(self, message: str, offset: int) -> None:
        line, col = self.pos(offset)
        self.doc.errors.append(ParseError(message, line, col))

    def line_end(self, offset: int) -> int:
        end = self.text.find("\n", offset)
        return self.n if end < 0 else end

    def content_end(self, offset: int) -> int:
        """End of the line holding ``offset``, without a trailing CR."""
        end = self.line_end(offset)
        while end > offset and self.text[end - 1] == "\r":
            end -= 1
        return end

    def comment(self, hash_offset: int, end: int) -> str:
        body = self.text[hash_offset + 1 : end].strip()
        self.doc.comments.append((self.pos(hash_offset)[0], body))
        return body

    def run(self) -> None:
        text, pos = self.text, 0
        while pos < self.n:
            eol = self.line_end(pos)
            j = pos
            while j < eol and text[j] in _SPACE:
                j += 1
            if j >= eol:
                pos = eol + 1
                continue
            if text[j] == "#":
                self.comment(j, self.content_end(j))
                pos = eol + 1
                continue
            pos = self.statement(j, eol)

    def statement(self, start: int, eol: int) -> int:
        """Parse one ``KEY=value`` starting at ``start``; return where the next line starts."""
        text = self.text
        export = False
        if text.startswith("export", start) and start + 6 < eol and text[start + 6] in _SPACE:
            k = start + 6
            while k < eol and text[k] in _SPACE:
                k += 1
            if k < eol and text[k] != "#":
                export = True
                start = k
        # the key: up to '=', ':' or the end of the line
        k = start
        while k < eol and text[k] not in "=:":
            k += 1
        has_sep = k < eol
        raw_key = text[start:k]
        key = raw_key.rstrip(_SPACE + " ")
        for idx, ch in enumerate(key):
            if ch in _SPACE:
                self.error("variable name cannot contain a space", start + idx)
                return eol + 1
            if not (ch.isalpha() or ch.isnumeric() or ch in _KEY_PUNCT):
                self.error(f"unexpected character {ch!r} in variable name", start + idx)
                return eol + 1
        if not key:
            self.error("empty variable name", start)
            return eol + 1
        kline, kcol = self.pos(start)
        if not has_sep:
            vline, vcol = self.pos(self.content_end(start))
            self.add(EnvEntry(key, "", kline, kcol, vline, vcol, vline, vcol, "", "", export, False, ""))
            return eol + 1
        # the value
        v = k + 1
        while v < eol and text[v] in _SPACE:
            v += 1
        cend = self.content_end(start)
        if v >= cend:
            vline, vcol = self.pos(cend)
            self.add(EnvEntry(key, "", kline, kcol, vline, vcol, vline, vcol, "", "", export, True, ""))
            return eol + 1
        quote = text[v]
        if quote not in "'\"":
            segment = text[v:cend]
            value, sep, rest = segment.partition(" #")
            value = value.rstrip()
            comment = ""
            if sep:
                comment = self.comment(v + len(segment) - len(rest) - 1, cend)
            vline, vcol = self.pos(v)
            eline, ecol = self.pos(v + len(value))
            self.add(EnvEntry(key, value, kline, kcol, vline, vcol, eline, ecol, "", value, export, True, comment))
            self.mark(key, v, v + len(value), value)
            return eol + 1
        # quoted: find the closing quote (may be on a later line)
        i = v + 1
        close = -1
        while i < self.n:
            ch = text[i]
            if quote == '"' and ch == "\\":
                i += 2
                continue
            if ch == quote and not (quote == "'" and text[i - 1] == "\\"):
                close = i
                break
            i += 1
        if close < 0:
            self.error(f"unterminated quoted value (missing closing {quote})", v)
            self.mark(key, v + 1, cend, text[v + 1:cend])  # what follows the quote on its line was meant
            return eol + 1
        inner = text[v + 1 : close].replace("\r\n", "\n")
        value = _unescape_double(inner) if quote == '"' else inner
        raw = text[v : close + 1]
        vline, vcol = self.pos(v)
        eline, ecol = self.pos(close + 1)
        # after the closing quote: blanks, then nothing or a comment
        after_eol = self.line_end(close)
        after_end = self.content_end(close + 1) if close + 1 <= after_eol else after_eol
        t = close + 1
        while t < after_end and text[t] in _SPACE:
            t += 1
        comment = ""
        tail = close + 1
        if t < after_end:
            if text[t] == "#":
                comment = self.comment(t, after_end)
            else:
                self.error("unexpected text after the closing quote", t)
                # what follows the closing quote is part of what was meant (``'it''s'``): marked too
                tail = after_end
                while tail > t and text[tail - 1] in _SPACE:
                    tail -= 1
        self.add(EnvEntry(key, value, kline, kcol, vline, vcol, eline, ecol, quote, raw, export, True, comment))
        self.mark(key, v, close + 1, value, tail)
        return after_eol + 1

    def mark(self, key: str, a: int, b: int, value: str, tail: int | None = None) -> None:
        """Record the source span of a secret key's value (``scanner.spans.is_secret_position_key``,
        the one definition), as written between ``a`` and ``b`` (quotes excluded; ``tail``: where
        the text after a closing quote ends). A reference (``${VAR}``) marks only the literal
        defaults it falls back to."""
        from ..spans import is_secret_position_key, secret_value_spans, strip_quotes, worth_masking

        text = self.text
        if b <= a or not is_secret_position_key(key):
            return
        x, y = strip_quotes(a, b, text)
        if worth_masking(value if value else text[a:b]):
            self.doc.secret_marks.append((x, max(y, tail or 0)))
            return
        self.doc.secret_marks.extend(secret_value_spans(x, y, text))
        if tail and tail > b:  # `'<generated>'rest`: the rest is still what was meant
            self.doc.secret_marks.append((b, tail))

    def add(self, entry: EnvEntry) -> None:
        earlier = self.last.get(entry.key)
        if earlier is not None:
            self.doc.duplicates.append((earlier, entry))
        self.last[entry.key] = entry
        self.doc.entries.append(entry)


def secret_marks(text: str) -> list[tuple[int, int]]:
    """The source spans of the values of secret keys a dotenv text writes (``DotenvDocument.secret_marks``)."""
    return parse(text, "").secret_marks


def parse(text: str, path: str) -> DotenvDocument:
    """Parse a dotenv file. Never raises: problems land in ``errors``."""
    doc = DotenvDocument(path=path, text=text if isinstance(text, str) else "")
    try:
        _Parser(doc.text, doc).run()
    except Exception as exc:  # noqa: BLE001 - a parser must never stop the scan
        doc.errors.append(ParseError(f"internal parser error: {type(exc).__name__}: {exc}", 1, 1))
    return doc

"""What every parser shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from bisect import bisect_right
from functools import lru_cache

from ..plain import frozen_error as _frozen
from ..lazyre import LazyRe


# The line boundaries of ``str.splitlines()``, which numbers a Document's lines: offsets and line
# numbers computed with this pattern agree with ``Document.lines``.
LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class LineIndex:
    """The one line numbering of dkscan: where each line of a text starts and ends, at
    ``str.splitlines()``'s boundaries (``LINE_BREAK``). ``Document.lines``, the parsers' positions
    (``line_col``), the fixer's edits and the reports' snippets all count lines with it, so a form
    feed or a lone CR ends a line for every one of them alike. After a final line break ``starts``
    holds one more, empty line (where an edit appends to the file)."""

    __slots__ = ("text", "starts", "ends")

    def __init__(self, text: str):
        self.text = text
        starts, ends = [0], []
        for m in LINE_BREAK.finditer(text):
            ends.append(m.start())
            starts.append(m.end())
        ends.append(len(text))
        self.starts, self.ends = starts, ends

    def __len__(self) -> int:
        """The number of lines ``str.splitlines()`` gives."""
        return len(self.starts) - (1 if self.starts[-1] == len(self.text) else 0)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        i = bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1

    def line_start(self, line: int) -> int:
        """Offset where 1-based ``line`` starts (clamped to the text)."""
        return self.starts[max(1, min(line, len(self.starts))) - 1]

    def line_text(self, line: int) -> str:
        """The text of 1-based ``line`` without its line break ('' outside the text)."""
        return self.text[self.starts[line - 1]:self.ends[line - 1]] if 0 < line <= len(self) else ""

    def lines(self) -> list[str]:
        """Every line, and the empty one after a final line break (``text.split('\\n')`` for a
        text of ``\\n`` breaks)."""
        return [self.text[a:b] for a, b in zip(self.starts, self.ends)]


_OTHER_BREAK = LazyRe("\r(?!\n)|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class NewlinePositions:
    """For a syntax whose own lines end only at ``\\n`` (nginx, Dockerfile, nats-server.conf): turns a
    position counted in those lines into the ``LineIndex`` position every other part of dkscan uses.
    :func:`newline_positions` gives None when the text has no other line break (then both agree)."""

    __slots__ = ("text", "starts", "index")

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.index = LineIndex(text)

    def offset(self, line: int, col: int = 1) -> int:
        """Offset of (line, col) counted in ``\\n`` lines."""
        start = self.starts[max(1, min(line, len(self.starts))) - 1]
        return min(start + max(col, 1) - 1, len(self.text))

    def find(self, line: int, token: str) -> tuple[int, int]:
        """The ``LineIndex`` position of ``token``'s first occurrence on ``\\n`` line ``line`` (its
        start when the token is not found there)."""
        start = self.offset(line)
        end = self.text.find("\n", start)
        at = self.text.find(token, start, len(self.text) if end < 0 else end) if token else -1
        return self.index.line_col(at if at >= 0 else start)

    def line_col(self, line: int, col: int = 1) -> tuple[int, int]:
        return self.index.line_col(self.offset(line, col))


def newline_positions(text: str) -> NewlinePositions | None:
    """A :class:`NewlinePositions` for ``text``, or None when ``\\n`` lines are ``LineIndex`` lines."""
    return NewlinePositions(text) if _OTHER_BREAK.search(text) else None


class ParseError:
    """A parse error at a position of a file."""

    message: str
    line: int = 1
    col: int = 1

    __match_args__ = ("message", "line", "col")

    def __init__(self, message, line=1, col=1):
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "col", col)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.message, self.line, self.col) == (other.message, other.line, other.col)
        return NotImplemented

    def __hash__(self):
        return hash((self.message, self.line, self.col))

    def __setattr__(self, name, value):
        if type(self) is ParseError or name in ("message", "line", "col"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(ParseError, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is ParseError or name in ("message", "line", "col"):
            raise _frozen(f"cannot delete field {name!r}")
        super(ParseError, self).__delattr__(name)


@dataclass(repr=False)
class Document:
    """Base of every parsed document: the file's path (relative to the scanned root), its text and
    the errors found while parsing it."""

    path: str
    text: str
    errors: list[ParseError] = field(default_factory=list)
    # the source (start, end) offsets of the secret-bearing values the parser read, in the form they
    # are written (a SQL PASSWORD literal's inside, an nginx Authorization header's value, a redis
    # requirepass argument); scanner.spans adds the positions any text can hold
    secret_marks: list[tuple[int, int]] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        cached = self.__dict__.get("_lines")
        if cached is None:
            cached = self.text.splitlines()
            self.__dict__["_lines"] = cached
        return cached

    def line_text(self, line: int) -> str:
        lines = self.lines
        return lines[line - 1] if 0 < line <= len(lines) else ""

    @property
    def line_index(self) -> LineIndex:
        """The text's ``LineIndex`` (built once): offsets to lines and back, as ``lines`` counts them."""
        cached = self.__dict__.get("_line_index")
        if cached is None:
            cached = self.__dict__["_line_index"] = LineIndex(self.text)
        return cached

    @property
    def kind(self) -> str:
        """The kind of file (``env``, ``compose``, ``sql``...): the stack records it on every document
        it parses; a parser's own document class knows its own."""
        return self.__dict__.get("_kind") or _KINDS.get(type(self).__name__, "")

    @kind.setter
    def kind(self, value: str) -> None:
        self.__dict__["_kind"] = value

    @property
    def secret_spans(self) -> tuple[tuple[int, int], ...]:
        """The source span (start, end offsets into ``text``) of every secret this document holds,
        in the form it is written (``scanner.spans``: one definition of a secret position for every
        parser, the redactor, the reports and the fixer): the spans its parser marked, and those
        ``scanner.spans`` finds in any text. Computed once per text."""
        from ..spans import spans_of

        return spans_of(self.kind, self.text, doc=self)


_KINDS = {"DotenvDocument": "env", "ComposeDocument": "compose", "SqlDocument": "sql", "NginxDocument": "nginx",
          "NatsDocument": "nats", "DockerfileDocument": "dockerfile", "PrometheusDocument": "prometheus", "RedisDocument": "redis",
          "HtpasswdDocument": "htpasswd"}


def decode(data: bytes) -> tuple[str | None, str | None]:
    """Decode file bytes as UTF-8 (BOM stripped). Returns (text, error)."""
    if b"\x00" in data[:8192]:
        return None, "binary file (NUL byte)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # position -> line number for the message
        line = data[: exc.start].count(b"\n") + 1
        return None, f"not valid UTF-8 (line {line}, byte {exc.start})"
    return text, None


_SHELL_SPECIAL = ("'", '"', "\\")
_SHELL_WORD = LazyRe(r"[^ \t\r\n]+")


def shell_split(text: str) -> list[str]:
    """``shlex.split(text)`` (POSIX, no comments), falling back to ``text.split()`` on unbalanced
    quotes. Commands repeat within a stack and across a monorepo's stacks: the answer is cached, and
    text without quotes or backslashes is split on shlex's whitespace directly (same words)."""
    if not isinstance(text, str):  # not cacheable: shlex's own behaviour
        import shlex

        try:
            return shlex.split(text)
        except ValueError:
            return text.split()
    return list(_shell_split_cached(text))


@lru_cache(maxsize=4096)
def _shell_split_cached(text: str) -> tuple[str, ...]:
    if not any(c in text for c in _SHELL_SPECIAL):
        return tuple(_SHELL_WORD.findall(text))
    import shlex

    try:
        return tuple(shlex.split(text))
    except ValueError:
        return tuple(text.split())


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset (``LineIndex`` boundaries)."""
    return LineIndex(text).line_col(offset)


def small_int(text) -> int | None:
    """``text`` as a non-negative integer when it is 1 to 18 ASCII digits (no sign, no blank), else
    None: the one reading of a number a scanned file writes. ``str.isdigit()`` is true for ``²`` (which
    ``int()`` rejects) and for ``٣`` (which it reads as 3, where nginx or sshd would refuse it), and
    ``int()`` raises on more than 4,300 digits."""
    if not isinstance(text, str) or not 0 < len(text) <= 18 or not text.isascii() or not text.isdigit():
        return None
    return int(text)

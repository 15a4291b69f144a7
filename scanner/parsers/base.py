"""What every parser shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache


# The line boundaries of ``str.splitlines()``, which numbers a Document's lines: offsets and line
# numbers computed with this pattern agree with ``Document.lines``.
LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(repr=False, frozen=True)
class ParseError:
    """A parse error at a position of a file."""

    message: str
    line: int = 1
    col: int = 1


@dataclass(repr=False)
class Document:
    """Base of every parsed document: the file's path (relative to the scanned root), its text and
    the errors found while parsing it."""

    path: str
    text: str
    errors: list[ParseError] = field(default_factory=list)

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
        parser, the redactor, the reports and the fixer). Computed once per text."""
        from ..spans import spans_of

        return spans_of(self.kind, self.text)


_KINDS = {"DotenvDocument": "env", "ComposeDocument": "compose", "SqlDocument": "sql", "NginxDocument": "nginx",
          "NatsDocument": "nats", "DockerfileDocument": "dockerfile", "PrometheusDocument": "prometheus"}


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
_SHELL_WORD = re.compile(r"[^ \t\r\n]+")


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
    """1-based line and column of a character offset."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1

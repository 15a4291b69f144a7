"""redis.conf (and valkey/keydb's), read the way redis reads it, with every argument's position.

Each line is trimmed; an empty line or one starting with ``#`` is skipped; the rest is split by
redis's own ``sdssplitargs`` rules: words separated by blanks, ``"..."`` with the escapes ``\\n \\r
\\t \\b \\a \\\\ \\" \\xHH``, ``'...'`` where only ``\\'`` is an escape, and a closing quote that must be
followed by a blank or the end of the line (else redis refuses the line: "Unbalanced quotes").

Written by hand: no maintained Python library parses redis.conf, and the secret spans of a file
(``requirepass``, ``masterauth``, ACL ``>password`` / ``#hash``, ``tls-*-key-file-pass``) need the
source offsets of each argument as it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Document, ParseError

# directives whose arguments are secrets (all of them)
SECRET_DIRECTIVES = frozenset({"requirepass", "masterauth", "tls-key-file-pass", "tls-client-key-file-pass",
                               "sentinel-pass", "primaryauth"})
_HEX = "0123456789abcdefABCDEF"
_ESC = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}


@dataclass(repr=False, eq=False)
class RedisDirective:
    """One configuration line: its name (lower-cased, as redis matches it) and decoded arguments."""

    name: str
    args: list[str]
    line: int
    col: int  # of the name
    spans: list[tuple[int, int]] = field(default_factory=list)  # source (start, end) of each argument, quotes excluded


@dataclass(repr=False)
class RedisDocument(Document):
    """A parsed redis.conf."""

    directives: list[RedisDirective] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)

    def all(self, name: str) -> list[RedisDirective]:
        name = name.lower()
        return [d for d in self.directives if d.name == name]


def split_args(line: str) -> tuple[list[tuple[str, int, int]], str | None]:
    """redis's ``sdssplitargs``: ([(word, start, end)], error). Quoted words span their inside."""
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t\r\n\v\f":
            i += 1
        if i >= n:
            return out, None
        start = i
        word: list[str] = []
        if line[i] == '"':
            i += 1
            inner = i
            while True:
                if i >= n:
                    return out, "unbalanced quotes"
                c = line[i]
                if c == "\\" and i + 3 < n and line[i + 1] == "x" and line[i + 2] in _HEX and line[i + 3] in _HEX:
                    word.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 4
                elif c == "\\" and i + 1 < n:
                    word.append(_ESC.get(line[i + 1], line[i + 1]))
                    i += 2
                elif c == '"':
                    if i + 1 < n and line[i + 1] not in " \t\r\n\v\f":
                        return out, "closing quote must be followed by a space"
                    out.append(("".join(word), inner, i))
                    i += 1
                    break
                else:
                    word.append(c)
                    i += 1
        elif line[i] == "'":
            i += 1
            inner = i
            while True:
                if i >= n:
                    return out, "unbalanced quotes"
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    word.append("'")
                    i += 2
                elif c == "'":
                    if i + 1 < n and line[i + 1] not in " \t\r\n\v\f":
                        return out, "closing quote must be followed by a space"
                    out.append(("".join(word), inner, i))
                    i += 1
                    break
                else:
                    word.append(c)
                    i += 1
        else:
            while i < n and line[i] not in " \t\r\n\v\f":
                i += 1
            out.append((line[start:i], start, i))


def parse(text: str, path: str) -> RedisDocument:
    """Parse a redis.conf. Never raises: a line redis would refuse is an error at its line."""
    doc = RedisDocument(path=path, text=text if isinstance(text, str) else "")
    try:
        _parse(doc)
    except Exception as exc:  # noqa: BLE001 - a parser must never stop the scan
        doc.errors.append(ParseError(f"internal parser error: {type(exc).__name__}", 1, 1))
    return doc


def secret_marks(text: str) -> list[tuple[int, int]]:
    """The source spans of the passwords a redis.conf writes."""
    return parse(text, "").secret_marks


def _parse(doc: RedisDocument) -> None:
    pos = 0
    for line_no, raw in enumerate(doc.text.splitlines(keepends=True), 1):
        base = pos
        pos += len(raw)
        line = raw.rstrip("\r\n")
        lead = len(line) - len(line.lstrip(" \t"))
        body = line.strip(" \t")
        if not body:
            continue
        if body.startswith("#"):
            doc.comments.append((line_no, body[1:].strip()))
            continue
        words, error = split_args(line)
        if error:
            doc.errors.append(ParseError(f"redis would refuse this line: {error}", line_no, lead + 1))
            # what can be told of it is still a secret: the rest of the line after the directive
            if words and words[0][0].lower() in SECRET_DIRECTIVES | {"user"}:
                start = words[1][1] if len(words) > 1 else words[0][2] + 1
                doc.secret_marks.append((base + min(start, len(line)), base + len(line)))
            continue
        if not words:
            continue
        name = words[0][0].lower()
        d = RedisDirective(name, [w for w, _a, _b in words[1:]], line_no, words[0][1] + 1,
                           [(base + a, base + b) for _w, a, b in words[1:]])
        doc.directives.append(d)
        doc.secret_marks.extend(_secret_args(d))


def _secret_args(d: RedisDirective):
    """The spans of ``d``'s secret arguments: every argument of a secret directive; of an ACL
    ``user`` line, each ``>password`` / ``<password`` (after the sign) and ``#hash``."""
    if d.name in SECRET_DIRECTIVES:
        yield from d.spans
    elif d.name == "user":
        for arg, (a, b) in zip(d.args[1:], d.spans[1:]):
            if arg[:1] in (">", "<", "#", "!") and len(arg) > 1:
                yield a + 1, b
    elif d.name == "sentinel" and len(d.args) >= 3 and d.args[0].lower() == "auth-pass":
        yield d.spans[-1]

"""htpasswd files (nginx ``auth_basic_user_file``, Apache): one ``user:password[:comment]`` a line.

nginx reads each line as a user name, a colon, and the password field (a crypt/apr1/SHA/bcrypt hash
or a plain password) up to the next colon; ``#`` lines are comments. The password field of every
line is a secret, marked with its source offsets.

Written by hand: the format is one split per line, and no maintained library keeps the positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Document, LINE_BREAK, ParseError


@dataclass(repr=False)
class HtpasswdDocument(Document):
    """A parsed htpasswd file: (user, line) of each entry; the password fields are its secret marks."""

    users: list[tuple[str, int]] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)


def parse(text: str, path: str) -> HtpasswdDocument:
    doc = HtpasswdDocument(path=path, text=text if isinstance(text, str) else "")
    pos = 0
    for line_no, line in enumerate(doc.text.splitlines(keepends=True), 1):
        base = pos
        pos += len(line)
        body = LINE_BREAK.split(line, 1)[0]
        if not body.strip():
            continue
        if body.lstrip().startswith("#"):
            doc.comments.append((line_no, body.lstrip()[1:].strip()))
            continue
        colon = body.find(":")
        if colon < 0:
            # the whole line may be a password pasted without its user: a secret, never quoted
            doc.secret_marks.append((base, base + len(body)))
            doc.errors.append(ParseError("not a `user:password` line (no colon)", line_no, 1))
            continue
        end = body.find(":", colon + 1)
        end = len(body) if end < 0 else end
        if end > colon + 1:
            doc.secret_marks.append((base + colon + 1, base + end))
        doc.users.append((body[:colon].strip(), line_no))
    return doc


def secret_marks(text: str) -> list[tuple[int, int]]:
    """The source spans of the password fields of an htpasswd text."""
    return parse(text, "").secret_marks

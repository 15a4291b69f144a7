"""What every parser shares."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ParseError:
    message: str
    line: int = 1
    col: int = 1


@dataclass
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


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1

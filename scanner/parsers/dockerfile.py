"""Dockerfiles, split the way BuildKit's parser splits them.

- parser directives (``# syntax=``, ``# escape=``, ``# check=``) only at the very top, before any
  other line (comment, blank line or instruction);
- ``#`` comment lines (leading blanks allowed); inside a continued instruction, comment lines and
  blank lines are skipped, as BuildKit does;
- a line ending with the escape character (``\\``, or `````` ` `````` after ``# escape=```)
  followed only by blanks continues on the next line;
- heredocs (``<<EOF``, ``<<-EOF``, ``<<"EOF"``) in RUN, COPY and ADD: the body lines follow the
  instruction and belong to it;
- ``--flag=value`` words at the start of the arguments become ``flags``;
- exec form: arguments that are a JSON array of strings fill ``json``; text starting with ``[`` that
  is not valid JSON is shell form, as in BuildKit (no error).
"""

from __future__ import annotations

import json as _json
import re
from dataclasses import dataclass, field

from .base import Document, ParseError, newline_positions
from ..plain import FACTORY as _FACTORY
from ..lazyre import LazyRe
from .base import small_int

__all__ = ["Instruction", "Stage", "DockerfileDocument", "parse", "KNOWN_INSTRUCTIONS"]

KNOWN_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL "
    "STOPSIGNAL USER VOLUME WORKDIR".split()
)
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_JSON_INSTRUCTIONS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD"})
_DIRECTIVE_RE = LazyRe(r"#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(.*)")  # value's blanks stripped in code
_HEREDOC_RE = LazyRe(r"(?<!<)<<(-?)([\"']?)([A-Za-z0-9_.\-]+)\2")
_BLANK = " \t\ufeff"


class Instruction:
    """One Dockerfile instruction."""

    cmd: str  # upper case
    line: int
    end_line: int  # last physical line, heredoc terminator included
    col: int  # of the keyword
    original: str  # the physical lines ``line``..``end_line`` as written
    args: str  # arguments after the flags; continuation lines joined with one space
    flags: dict[str, str]  # a repeated flag's values are joined by ' '
    json: list[str] | None = None  # exec form
    heredocs: list[str]  # bodies, one '\n'-terminated line each
    # (line, col) of every character of ``args``; for env_pairs and precise locations
    arg_positions: list[tuple[int, int]]
    escape: str

    __match_args__ = ("cmd", "line", "end_line", "col", "original", "args", "flags", "json", "heredocs", "arg_positions", "escape")

    def __init__(self, cmd, line, end_line, col, original, args, flags=_FACTORY, json=None, heredocs=_FACTORY, arg_positions=_FACTORY, escape="\\"):
        self.cmd = cmd
        self.line = line
        self.end_line = end_line
        self.col = col
        self.original = original
        self.args = args
        self.flags = dict() if flags is _FACTORY else flags
        self.json = json
        self.heredocs = list() if heredocs is _FACTORY else heredocs
        self.arg_positions = list() if arg_positions is _FACTORY else arg_positions
        self.escape = escape

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.cmd, self.line, self.end_line, self.col, self.original, self.args, self.flags, self.json, self.heredocs) == (other.cmd, other.line, other.end_line, other.col, other.original, other.args, other.flags, other.json, other.heredocs)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    def arg_pos(self, index: int) -> tuple[int, int]:
        """(line, col) of ``args[index]`` in the file."""
        if 0 <= index < len(self.arg_positions):
            return self.arg_positions[index]
        if self.arg_positions:
            line, col = self.arg_positions[-1]
            return line, col + 1
        return self.line, self.col + len(self.cmd)

    def words(self) -> list[tuple[str, int]]:
        """Arguments split into shell words (quotes and escapes removed) with their offsets in
        ``args``."""
        return _split_words(self.args, self.escape)

    def env_pairs(self) -> list[tuple[str, str, int, int]]:
        """For ENV, ARG and LABEL: (key, value or '', line, col of the key).

        ``ENV A=1 B="x y"``, legacy ``ENV A 1 2`` (one pair: ``A`` = ``1 2``), ``ARG NAME``,
        ``ARG NAME=default``, ``LABEL a=b "c d"=e``."""
        if self.cmd not in ("ENV", "ARG", "LABEL"):
            return []
        words = self.words()
        if not words:
            return []
        pairs: list[tuple[str, str, int, int]] = []
        first_word, first_offset = words[0]
        if self.cmd != "ARG" and "=" not in _raw_word(self.args, first_offset, self.escape):
            # legacy form: KEY value with spaces
            rest_start = first_offset + len(_raw_word(self.args, first_offset, self.escape))
            rest = self.args[rest_start:].strip()
            value = "".join(w for w in _unquote(rest, self.escape))
            line, col = self.arg_pos(first_offset)
            return [(first_word, value, line, col)]
        for word, offset in words:
            raw = _raw_word(self.args, offset, self.escape)
            eq = _unquoted_eq(raw, self.escape)
            line, col = self.arg_pos(offset)
            if eq < 0:
                pairs.append((word, "", line, col))
            else:
                key = "".join(_unquote(raw[:eq], self.escape))
                value = "".join(_unquote(raw[eq + 1 :], self.escape))
                pairs.append((key, value, line, col))
        return pairs


class Stage:
    """One build stage (``FROM`` and the instructions up to the next one)."""

    index: int
    image: str  # as written: "rust:1.75-alpine", "builder", "scratch", "${BASE}"
    name: str | None  # the ``AS`` name as written
    line: int
    instructions: list[Instruction]  # FROM included
    platform: str | None = None

    __match_args__ = ("index", "image", "name", "line", "instructions", "platform")

    def __init__(self, index, image, name, line, instructions=_FACTORY, platform=None):
        self.index = index
        self.image = image
        self.name = name
        self.line = line
        self.instructions = list() if instructions is _FACTORY else instructions
        self.platform = platform

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.index, self.image, self.name, self.line, self.instructions, self.platform) == (other.index, other.image, other.name, other.line, other.instructions, other.platform)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    @property
    def from_instruction(self) -> Instruction:
        return self.instructions[0]


@dataclass(repr=False)
class DockerfileDocument(Document):
    """A parsed Dockerfile."""

    instructions: list[Instruction] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)  # (line, text after '#', stripped)
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)  # parser directives, lower-case names
    # the stage compose builds (``build.target`` of the services that build this file), set by the
    # Stack when it links services to Dockerfiles; None: the last stage
    build_target: str | None = None

    @property
    def final_stage(self) -> Stage | None:
        """The stage that runs: the ``build.target`` compose builds when it names a stage, else the
        last stage. The one answer to "which stage runs" for every rule."""
        if self.build_target:
            wanted = self.build_target.lower()
            for stage in self.stages:
                if stage.name is not None and stage.name.lower() == wanted:
                    return stage
        return self.last_stage

    @property
    def last_stage(self) -> Stage | None:
        """The last stage of the file (what ``docker build`` builds without ``--target``)."""
        return self.stages[-1] if self.stages else None

    def stage(self, name_or_index: str) -> Stage | None:
        """The stage ``COPY --from=`` names: by ``AS`` name (case-insensitive) or by index."""
        wanted = name_or_index.lower()
        for stage in self.stages:
            if stage.name is not None and stage.name.lower() == wanted:
                return stage
        if (index := small_int(name_or_index)) is not None and index < len(self.stages):
            return self.stages[index]
        return None


# -- word handling ---------------------------------------------------------------------------------


def _split_words(text: str, escape: str) -> list[tuple[str, int]]:
    """Shell-like words with quotes/escapes removed, and each word's start offset."""
    words: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        start = i
        i = _word_end(text, i, escape)
        words.append(("".join(_unquote(text[start:i], escape)), start))
    return words


def _word_end(text: str, i: int, escape: str) -> int:
    n = len(text)
    quote = ""
    while i < n:
        ch = text[i]
        if quote:
            if ch == escape and quote == '"' and i + 1 < n:
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch == escape and i + 1 < n:
            i += 2
            continue
        elif ch in "'\"":
            quote = ch
        elif ch in " \t\r\n":
            break
        i += 1
    return i


def _raw_word(text: str, offset: int, escape: str) -> str:
    return text[offset : _word_end(text, offset, escape)]


def _unquoted_eq(raw: str, escape: str) -> int:
    """Offset of the first '=' outside quotes, or -1."""
    quote = ""
    i = 0
    while i < len(raw):
        ch = raw[i]
        if quote:
            if ch == escape and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch == escape:
            i += 2
            continue
        elif ch in "'\"":
            quote = ch
        elif ch == "=":
            return i
        i += 1
    return -1


def _unquote(raw: str, escape: str) -> list[str]:
    """Remove quotes and escapes the way the Dockerfile shell lexer does (no variable expansion)."""
    out: list[str] = []
    quote = ""
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                out.append(ch)
        elif quote == '"':
            if ch == '"':
                quote = ""
            elif ch == escape and i + 1 < n and raw[i + 1] in '"$`' + escape:
                out.append(raw[i + 1])
                i += 1
            else:
                out.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch == escape and i + 1 < n:
            out.append(raw[i + 1])
            i += 1
        else:
            out.append(ch)
        i += 1
    return out


# -- the parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, doc: DockerfileDocument):
        self.doc = doc
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the text ended with a new line
        self.lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        self.starts = [0]  # offset of each "\n" line: the source of every (line, col) the parser keeps
        for line in lines:
            self.starts.append(self.starts[-1] + len(line) + 1)
        if self.lines and self.lines[0].startswith("\ufeff"):
            self.lines[0] = " " + self.lines[0][1:]  # keep columns
        self.escape = "\\"

    def error(self, message: str, line: int, col: int = 1) -> None:
        self.doc.errors.append(ParseError(message, line, col))

    def continues(self, text: str) -> bool:
        stripped = text.rstrip(" \t")
        return stripped.endswith(self.escape)

    def run(self) -> None:
        lines = self.lines
        n = len(lines)
        i = self.directives()
        while i < n:
            text = lines[i]
            stripped = text.lstrip(_BLANK)
            if not stripped:
                i += 1
                continue
            if stripped.startswith("#"):
                self.doc.comments.append((i + 1, stripped[1:].strip()))
                i += 1
                continue
            i = self.instruction(i)
        self.structure()

    def directives(self) -> int:
        i = 0
        while i < len(self.lines):
            m = _DIRECTIVE_RE.fullmatch(self.lines[i].lstrip(_BLANK))
            if not m:
                break
            name, value = m.group(1).lower(), m.group(2).rstrip(" \t")
            if name not in ("syntax", "escape", "check") or name in self.doc.directives:
                break  # a repeated directive is a comment (BuildKit)
            self.doc.directives[name] = value
            self.doc.comments.append((i + 1, self.lines[i].lstrip(_BLANK)[1:].strip()))
            if name == "escape":
                if value in ("\\", "`"):
                    self.escape = value
                else:
                    self.error(f"invalid escape character {value!r} (use \\ or `)", i + 1)
            i += 1
        self.doc.escape = self.escape
        return i

    def instruction(self, i: int) -> int:
        lines = self.lines
        first = lines[i]
        lead = len(first) - len(first.lstrip(_BLANK))
        m = re.match(r"\S+", first[lead:])
        keyword = m.group(0) if m else ""
        # the keyword may itself end with the escape char: "RUN\" (rare); keep it simple
        if keyword.endswith(self.escape) and len(keyword) > 1 and i + 1 < len(lines):
            keyword = keyword[: -len(self.escape)]
        cmd = keyword.upper()
        start_line = i + 1
        col = lead + 1
        # gather the logical line: (text, positions)
        chars: list[str] = []
        positions: list[tuple[int, int]] = []
        glued: list[int] = []  # joining spaces where BuildKit glues the lines (`KEY=a\` then `bc`: `KEY=abc`)
        trail = [True]  # whether the piece before ended with a blank

        def add_piece(piece: str, line_no: int, start_col: int) -> None:
            # trim, then join to what we have with one space
            left = len(piece) - len(piece.lstrip(" \t"))
            piece_stripped = piece.strip(" \t")
            if not piece_stripped:
                return
            if chars:
                if left == 0 and not trail[0]:
                    glued.append(len(chars))
                chars.append(" ")
                positions.append(positions[-1])
            trail[0] = piece[-1:] in (" ", "\t")
            for k, ch in enumerate(piece_stripped):
                chars.append(ch)
                positions.append((line_no, start_col + left + k))

        def body(text: str) -> tuple[str, bool]:
            if self.continues(text):
                t = text.rstrip(" \t")
                return t[: -len(self.escape)], True
            return text, False

        rest_offset = lead + len(keyword)
        piece, cont = body(first[rest_offset:]) if len(first) > rest_offset else ("", self.continues(first))
        add_piece(piece, start_line, rest_offset + 1)
        j = i + 1
        last_line = start_line  # last physical line that belongs to the instruction
        while cont and j < len(lines):
            text = lines[j]
            stripped = text.lstrip(_BLANK)
            if not stripped:
                j += 1
                continue
            if stripped.startswith("#"):
                self.doc.comments.append((j + 1, stripped[1:].strip()))
                j += 1
                continue
            piece, cont = body(text)
            add_piece(piece, j + 1, 1)
            j += 1
            last_line = j
        logical = "".join(chars)
        self.mark(keyword, start_line, col, logical, positions, glued)
        # flags
        flags: dict[str, str] = {}
        k = 0
        while True:
            while k < len(logical) and logical[k] in " \t":
                k += 1
            if not logical.startswith("--", k):
                break
            end = _word_end(logical, k, self.escape)
            word = logical[k + 2 : end]
            if not word:  # a bare "--" ends the flags
                k = end
                break
            name, _, value = word.partition("=")
            value = "".join(_unquote(value, self.escape))
            flags[name] = f"{flags[name]} {value}" if name in flags else value
            k = end
        while k < len(logical) and logical[k] in " \t":
            k += 1
        args = logical[k:]
        arg_positions = positions[k:]
        # heredocs
        heredocs: list[str] = []
        if cmd in _HEREDOC_INSTRUCTIONS:
            for hm in self.heredoc_markers(args):
                strip_tabs, word = hm.group(1) == "-", hm.group(3)
                collected: list[str] = []
                terminated = False
                while j < len(lines):
                    text = lines[j]
                    j += 1
                    candidate = text.lstrip("\t") if strip_tabs else text
                    last_line = j
                    if candidate == word:
                        terminated = True
                        break
                    collected.append(candidate)
                if not terminated:
                    self.error(f"unterminated heredoc <<{word} (missing a line '{word}')", start_line, col)
                heredocs.append("".join(line + "\n" for line in collected))
        end_line = last_line
        original = "\n".join(lines[i:end_line])
        # exec form
        parsed_json: list[str] | None = None
        json_text = args
        if cmd == "HEALTHCHECK" and args[:3].upper() == "CMD" and args[3:4] in (" ", "\t"):
            json_text = args[4:]
        if json_text.startswith("[") and (cmd in _JSON_INSTRUCTIONS or cmd == "HEALTHCHECK"):
            try:
                loaded = _json.loads(json_text)
            except (ValueError, RecursionError):
                loaded = None
            if isinstance(loaded, list) and all(isinstance(x, str) for x in loaded):
                parsed_json = loaded
        ins = Instruction(
            cmd=cmd,
            line=start_line,
            end_line=end_line,
            col=col,
            original=original,
            args=args,
            flags=flags,
            json=parsed_json,
            heredocs=heredocs,
            arg_positions=arg_positions,
            escape=self.escape,
        )
        if cmd not in KNOWN_INSTRUCTIONS:
            self.error(f"unknown instruction: {keyword}", start_line, col)
        self.doc.instructions.append(ins)
        return j

    def mark(self, keyword: str, line: int, col: int, logical: str, positions: list[tuple[int, int]],
             glued: list[int] = ()) -> None:
        """Record the source spans of the secrets an instruction writes, read as BuildKit reads it:
        its continued lines joined (``ENV DB_PASSWORD=\\`` then the value on the next line,
        ``RUN curl -u \\`` then ``admin:pw``) and searched for every secret-bearing position
        (``scanner.spans.text_spans``: values of secret keys, ``ENV KEY value``, ``--password=``,
        ``-u user:pw``, URL passwords, tokens); each found span is mapped back to the characters
        it was joined from. Heredoc bodies are lines of their own (found in the whole text). Lines
        continued with no blank on either side of the break (``ENV API_KEY=a\\`` then ``bc``) are
        read both ways: BuildKit glues them (the value is ``abc``), this parser joins with a space."""
        from ..spans import text_spans

        if not logical:
            return
        whole = keyword + " " + logical
        where = [(line, col + k) for k in range(len(keyword))] + [positions[0]] + positions
        starts = self.starts

        def offset(pos: tuple[int, int]) -> int:
            return starts[min(pos[0], len(starts)) - 1] + pos[1] - 1

        readings = [(whole, where)]
        if glued:
            drop = {len(keyword) + 1 + g for g in glued}
            readings.append(("".join(c for k, c in enumerate(whole) if k not in drop),
                             [w for k, w in enumerate(where) if k not in drop]))
        for text, at in readings:
            for a, b in text_spans(text):
                if a < b <= len(at):
                    self.doc.secret_marks.append((offset(at[a]), offset(at[b - 1]) + 1))

    def heredoc_markers(self, args: str) -> list[re.Match[str]]:
        """``<<WORD`` markers in unquoted words (``<<<`` here-strings excluded)."""
        found = []
        k = 0
        while k < len(args):
            if args[k] in " \t":
                k += 1
                continue
            end = _word_end(args, k, self.escape)
            raw = args[k:end]
            if raw[:1] not in ("'", '"'):
                found.extend(_HEREDOC_RE.finditer(raw))
            k = max(end, k + 1)
        return found

    def structure(self) -> None:
        doc = self.doc
        stage: Stage | None = None
        for ins in doc.instructions:
            if ins.cmd == "FROM":
                words = ins.words()
                image = words[0][0] if words else ""
                if not image:
                    self.error("FROM requires an image", ins.line, ins.col)
                name = None
                if len(words) >= 3 and words[1][0].lower() == "as":
                    name = words[2][0]
                elif len(words) > 1:
                    self.error("FROM takes an image and optionally 'AS name'", ins.line, ins.col)
                stage = Stage(len(doc.stages), image, name, ins.line, [ins], ins.flags.get("platform"))
                doc.stages.append(stage)
            elif stage is None:
                if ins.cmd != "ARG":
                    self.error(f"{ins.cmd} before the first FROM (only ARG may come first)", ins.line, ins.col)
            else:
                stage.instructions.append(ins)
        if not doc.stages:
            self.error("no FROM instruction", 1, 1)


def secret_marks(text: str) -> list[tuple[int, int]]:
    """The source spans of the secrets a Dockerfile's instructions write (``DockerfileDocument.secret_marks``)."""
    return parse(text, "").secret_marks


def parse(text: str, path: str) -> DockerfileDocument:
    """Parse a Dockerfile. Never raises: problems land in ``errors``."""
    doc = DockerfileDocument(path=path, text=text if isinstance(text, str) else "")
    try:
        _Parser(doc.text, doc).run()
    except Exception as exc:  # noqa: BLE001 - a parser must never stop the scan
        doc.errors.append(ParseError(f"internal parser error: {type(exc).__name__}: {exc}", 1, 1))
    _renumber(doc)
    return doc


def _renumber(doc: DockerfileDocument) -> None:
    """Give every position in ``LineIndex`` lines (``Document.lines``): the parser reads the
    Dockerfile's own lines, which end only at a newline; they differ only when the text holds another
    line break (a form feed, a lone CR)."""
    remap = newline_positions(doc.text)
    if remap is None:
        return
    for ins in doc.instructions:
        ins.line, ins.col = remap.line_col(ins.line, ins.col)
        ins.end_line = remap.line_col(ins.end_line + 1, 1)[0] - 1 if ins.end_line < len(remap.starts) else len(doc.lines)
        ins.arg_positions = [remap.line_col(line, col) for line, col in ins.arg_positions]
    doc.comments = [(remap.find(line, "#")[0], text) for line, text in doc.comments]
    doc.errors = [ParseError(e.message, *remap.line_col(e.line, e.col)) for e in doc.errors]

"""PostgreSQL init scripts: psql meta-commands masked, statements parsed by libpg_query (pglast).

1. Mask psql syntax with pglast's own scanner, at equal length so every offset (hence line) stays:
   a backslash token blanks to the end of its line (a statement-ending ``\\g``/``\\gexec`` becomes
   ``;``), ``:var``/``:'var'``/``:"var"`` become a same-length identifier or literal. Strings and
   ``$$`` bodies are single tokens, so a backslash inside them is never touched.
2. Parse the whole masked script with libpg_query (``scanner.parsers.pgtree.parse_sql``: pglast's
   JSON parse, as nodes shaped like ``pglast.ast``'s without importing it) (fast path). When PostgreSQL's grammar
   rejects it, split it into statements with sqlparse and parse each one, so every bad statement
   is reported at its own line and the good ones are still audited.
3. What PostgreSQL checks when it creates a function or runs a DO block is checked too: PL/pgSQL
   bodies compile (``parse_plpgsql_json``, cached on the statement), ``LANGUAGE sql`` bodies parse,
   a language is given. Such errors point at the statement's first line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .base import Document, ParseError, line_col
from .pgtree import pglast_parser


@dataclass(repr=False, eq=False)
class Statement:
    """One SQL statement of a script, parsed or not."""

    text: str  # original text of the statement (unmasked)
    masked: str  # masked text that was parsed
    offset: int  # character offset in the file
    line: int
    col: int
    end_line: int
    node: Any = None  # parse node (RawStmt.stmt, see scanner.parsers.pgtree), None when it failed to parse
    error: str | None = None
    _plpgsql: Any = field(default=None, repr=False)
    base: int = 0  # file offset that the node's ``location`` attributes count from

    @property
    def kind(self) -> str:
        return type(self.node).__name__ if self.node is not None else ""

    def plpgsql(self) -> tuple[list | None, str | None]:
        """(parsed PL/pgSQL JSON, error) for CREATE FUNCTION/PROCEDURE ... LANGUAGE plpgsql and DO."""
        if self._plpgsql is None:
            parser = pglast_parser()
            try:
                self._plpgsql = (json.loads(parser.parse_plpgsql_json(self.masked)), None)
            except Exception as exc:  # noqa: BLE001 - libpg_query errors come in several types
                msg = exc.args[0] if exc.args else exc.__class__.__name__
                self._plpgsql = (None, str(msg))
        return self._plpgsql


@dataclass(repr=False)
class SqlDocument(Document):
    """A parsed SQL script."""

    statements: list[Statement] = field(default_factory=list)
    masked: str = ""
    masked_spans: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kind) of psql syntax
    comments: list[tuple[int, str]] = field(default_factory=list)

    def is_masked(self, start: int, end: int) -> bool:
        return any(s < end and start < e for s, e, _ in self.masked_spans)


_G_ENDERS = {"g", "gexec", "gset", "gx", "gdesc"}


def _blank(s: str) -> str:
    """``s`` as ``x``s of equal length, its newlines kept (every later offset keeps its line)."""
    return "".join("\n" if c == "\n" else "x" for c in s)


_SCAN_FIRST = object()  # "scan the text yourself" (the parse scans once for the masking and the secrets)


def _scanned(text: str) -> list | None:
    """The scanner's tokens of ``text``, None when it refuses it (an unterminated literal...)."""
    try:
        return list(pglast_parser().scan(text))
    except Exception:  # noqa: BLE001 - libpg_query's scanner error
        return None


def mask_psql(text: str, tokens: Any = _SCAN_FIRST) -> tuple[str, list[tuple[int, int, str]], list[tuple[int, str]]]:
    """Return (masked text, masked spans, comments); ``tokens``: the scanner's tokens of ``text``
    when already read (None: it refused the text)."""
    chars = list(text)
    spans: list[tuple[int, int, str]] = []
    comments: list[tuple[int, str]] = []
    if tokens is _SCAN_FIRST:  # unterminated literal etc.: None, and masking falls back to lines
        tokens = _scanned(text)
    if tokens is None:
        pos = 0
        for line in text.splitlines(keepends=True):
            stripped = line.lstrip()
            if stripped.startswith("\\"):
                start = pos + (len(line) - len(stripped))
                end = pos + len(line.rstrip("\r\n"))
                for k in range(start, end):
                    chars[k] = " "
                spans.append((start, end, "meta"))
            pos += len(line)
        return "".join(chars), spans, comments
    i = 0
    n = len(tokens)
    blanked_upto = -1
    while i < n:
        tok = tokens[i]
        if tok.start <= blanked_upto:
            i += 1
            continue
        if tok.name == "ASCII_92":  # backslash: psql meta-command to end of line
            eol = text.find("\n", tok.start)
            eol = len(text) if eol < 0 else eol
            if eol > 0 and text[eol - 1] == "\r":
                eol -= 1
            word = ""
            if i + 1 < n and tokens[i + 1].start == tok.end + 1:
                word = text[tokens[i + 1].start : tokens[i + 1].end + 1]
            for k in range(tok.start, eol):
                chars[k] = " "
            if word in _G_ENDERS:
                chars[tok.start] = ";"
            spans.append((tok.start, eol, "meta"))
            blanked_upto = eol
        elif tok.name == "ASCII_58" and i + 1 < n and tokens[i + 1].start == tok.end + 1:
            nxt = tokens[i + 1]
            body = text[nxt.start : nxt.end + 1]
            if nxt.name == "SCONST" and body.startswith("'"):
                repl = "'" + _blank(text[tok.start + 1 : nxt.end]) + "'"  # colon + literal -> literal of equal length
                chars[tok.start : nxt.end + 1] = list(repl)
                spans.append((tok.start, nxt.end + 1, "var"))
                blanked_upto = nxt.end
            elif nxt.name == "IDENT" and body.startswith('"'):
                repl = '"' + _blank(text[tok.start + 1 : nxt.end]) + '"'
                chars[tok.start : nxt.end + 1] = list(repl)
                spans.append((tok.start, nxt.end + 1, "var"))
                blanked_upto = nxt.end
            elif nxt.name == "IDENT" or nxt.kind != "NO_KEYWORD":
                # ``:v`` -> `` v``; ``:limit`` -> ``xlimit`` (an identifier, not the keyword)
                chars[tok.start] = " " if nxt.name == "IDENT" else "x"
                spans.append((tok.start, nxt.end + 1, "var"))
                blanked_upto = nxt.end
        i += 1
    masked = "".join(chars)
    # comments, for suppressions
    for line_no, line in enumerate(text.splitlines(), 1):
        idx = line.find("--")
        if idx >= 0:
            comments.append((line_no, line[idx + 2 :]))
    return masked, spans, comments


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n:
        if text[pos].isspace():
            pos += 1
        elif text.startswith("--", pos):
            eol = text.find("\n", pos)
            pos = n if eol < 0 else eol + 1
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            pos = n if end < 0 else end + 2
        else:
            break
    return pos


def parse(text: str, path: str) -> SqlDocument:
    doc = SqlDocument(path=path, text=text)
    try:
        _parse(doc)
    except Exception as exc:  # noqa: BLE001
        doc.errors.append(ParseError(f"internal parser error: {exc.__class__.__name__}", 1, 1))
    return doc


def _line_col(doc: SqlDocument, offset: int) -> tuple[int, int]:
    """``line_col(doc.text, offset)`` from the document's ``LineIndex`` (built once per document: a
    file of many statements counted its newlines from the start for each one, quadratic)."""
    return doc.line_index.line_col(offset)


def _make_stmt(doc: SqlDocument, start: int, end: int, node: Any, error: str | None = None, base: int = 0) -> Statement:
    start = _skip_space(doc.masked, start)
    end = max(end, start)
    line, col = _line_col(doc, start)
    end_line, _ = _line_col(doc, max(start, end - 1))
    return Statement(doc.text[start:end], doc.masked[start:end], start, line, col, end_line, node, error, base=base)


def _parse(doc: SqlDocument) -> None:
    from .pgtree import parse_sql

    parser = pglast_parser()
    tokens = _scanned(doc.text)
    doc.secret_marks = secret_marks(doc.text, tokens=tokens)
    masked, spans, comments = mask_psql(doc.text, tokens)
    doc.masked, doc.masked_spans, doc.comments = masked, spans, comments
    try:
        raws = parse_sql(masked)
    except parser.ParseError:
        raws = None
    if raws is not None:
        for raw in raws:
            start = raw.stmt_location or 0
            length = raw.stmt_len or (len(masked) - start)
            doc.statements.append(_make_stmt(doc, start, start + length, raw.stmt))
        _check_bodies(doc)
        return
    # slow path: statement by statement
    import sqlparse

    pos = 0
    for piece in sqlparse.split(masked, strip_semicolon=False):
        if not piece.strip():
            continue
        idx = masked.find(piece, pos)
        if idx < 0:
            idx = pos
        end = idx + len(piece)
        pos = end
        try:
            parsed = parse_sql(piece)
        except parser.ParseError as exc:
            message = exc.args[0] if exc.args else "syntax error"
            where = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
            stmt = _make_stmt(doc, idx, end, None, str(message))
            doc.statements.append(stmt)
            line, col = line_col(doc.text, idx + max(0, where))
            doc.errors.append(ParseError(f"PostgreSQL would reject this statement: {message}", line, col))
            continue
        for raw in parsed:
            s = idx + (raw.stmt_location or 0)
            length = raw.stmt_len or (end - s)
            doc.statements.append(_make_stmt(doc, s, s + length, raw.stmt, base=idx))
    _check_bodies(doc)


# -- secrets ---------------------------------------------------------------------------------------

# functions whose string argument is a password or a key: crypt('pw', ...), pgp_sym_encrypt(data, 'key')
_SECRET_FUNCS = frozenset({"crypt", "digest", "md5", "pgp_sym_encrypt", "pgp_sym_decrypt", "encode", "hmac",
                           "pgp_sym_encrypt_bytea", "pgp_sym_decrypt_bytea"})
# what may follow an unquoted password in CREATE/ALTER ROLE|USER (role options end it)
_ROLE_OPTIONS = frozenset({"LOGIN", "NOLOGIN", "SUPERUSER", "NOSUPERUSER", "CREATEDB", "NOCREATEDB", "CREATEROLE",
                           "NOCREATEROLE", "INHERIT", "NOINHERIT", "REPLICATION", "NOREPLICATION", "BYPASSRLS",
                           "NOBYPASSRLS", "CONNECTION", "VALID", "IN", "ROLE", "ADMIN", "USER", "SYSID", "ENCRYPTED",
                           "UNENCRYPTED", "PASSWORD", "WITH", "GROUP"})
_HEAD_WORDS = frozenset({"CREATE", "ALTER", "ROLE", "USER", "GROUP_P"})
_STRING_TOKENS = ("SCONST", "USCONST", "XCONST", "BCONST")
_HASH = re.compile(r"\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}|md5[0-9a-f]{32}|SCRAM-SHA-256\$\S+|\$argon2\S+")


def _is_hash(body: str) -> bool:
    return bool(_HASH.fullmatch(body))


def _inside(text: str, a: int, b: int) -> tuple[int, int]:
    """The inside of a string token written at [a, b): without its quotes, ``E``/``U&`` prefix, ``$tag$``."""
    tok = text[a:b]
    if tok.startswith("$"):
        tag = tok.find("$", 1) + 1
        return (a + tag, b - tag) if 0 < tag <= len(tok) // 2 else (a, b)
    q = tok.find("'")
    if q < 0:
        q = tok.find('"')
    if q >= 0 and b - a - q >= 2:
        return a + q + 1, b - 1
    return a, b


_PASSWORD_VAR = re.compile(r"(?i)\bPASSWORD[ \t]*=?[ \t]*:['\"]?([A-Za-z_]\w*)")


def secret_marks(text: str, base: int = 0, depth: int = 0, tokens: Any = _SCAN_FIRST) -> list[tuple[int, int]]:
    """The source spans of the secrets an SQL script writes, read from PostgreSQL's own scanner
    (pglast): ``[ENCRYPTED] PASSWORD`` literals in every quoting (``'..''..'``, ``E'..\\'..'``,
    ``U&'..'``, ``$$..$$``, ``$tag$..$tag$``, ``"..."``, unquoted words in CREATE/ALTER ROLE|USER: the
    script is then unparseable, the word is still a password), string arguments of ``crypt``/
    ``pgp_sym_encrypt``/..., password hashes, psql ``\\set`` of a secret-named variable or of one a ``PASSWORD :'var'`` takes. Function
    bodies (``DO $$ ... $$``) are read too. A script the scanner cannot read (an unterminated
    literal) is read line by line; a line that still cannot be read is a secret from its PASSWORD on.
    ``tokens``: the scanner's tokens of ``text`` when already read (None: it refused the text)."""
    if tokens is _SCAN_FIRST:
        tokens = _scanned(text)
    if tokens is None:  # libpg_query's scanner error (unterminated literal...)
        if depth:
            return []
        return _marks_by_line(text, base)
    from ..spans import is_secret_position_key, strip_quotes

    out: list[tuple[int, int]] = []
    n = len(tokens)
    head: set[str] = set()  # the keywords of the statement so far (CREATE/ALTER, ROLE/USER/GROUP)
    # psql variables a PASSWORD takes (`PASSWORD :'pw'`): their `\set pw '...'` is a password too
    password_vars = set(_PASSWORD_VAR.findall(text)) if "\\" in text else set()
    for i, tok in enumerate(tokens):
        name = tok.name
        a, b = tok.start, tok.end + 1
        if name == "ASCII_59":
            head.clear()
            continue
        if name in _HEAD_WORDS:
            head.add(name)
        if name == "ASCII_92" and text[b:b + 3].lower() == "set":  # psql: \set name value
            eol = text.find("\n", b, b + 4096)  # bounded: `\set` repeated on one long line stays linear
            words = text[b + 3:min(len(text), b + 4096) if eol < 0 else eol].split(None, 1)
            if len(words) == 2 and (is_secret_position_key(words[0]) or words[0] in password_vars):
                v0 = text.find(words[1], b + 3)
                out.append(tuple(base + v for v in strip_quotes(v0, v0 + len(words[1].rstrip()), text)))
            continue
        if name in _STRING_TOKENS:
            x, y = _inside(text, a, b)
            body = text[x:y]
            if _is_hash(body):
                out.append((base + x, base + y))
            elif text[a] == "$" and depth < 4 and body.strip():
                out.extend(secret_marks(body, base + x, depth + 1))  # a function or DO body
            continue
        if name == "PASSWORD" and i + 1 < n:
            j = i + 1
            if tokens[j].name == "ASCII_61" and j + 1 < n:  # password = 'x'
                j += 1
            nxt = tokens[j]
            if nxt.name in _STRING_TOKENS or (nxt.name == "IDENT" and text[nxt.start] == '"'):
                out.append(tuple(base + v for v in _inside(text, nxt.start, nxt.end + 1)))
                continue
            if nxt.name in ("NULL_P", "ASCII_59", "ASCII_41", "ASCII_44", "PARAM") or text[nxt.start] == ":":
                continue
            if not ({"ROLE", "USER", "GROUP_P"} & head and head & {"CREATE", "ALTER"}):
                continue  # `password text` is a column; unquoted words are a password only for a role
            # the unquoted password: adjacent tokens (p@ss!w0rd), then words up to a role option
            end = nxt.end + 1
            k = j + 1
            while k < n and tokens[k].name != "ASCII_59":
                t = tokens[k]
                word = text[t.start:t.end + 1].upper()
                if t.start != end and (word in _ROLE_OPTIONS or "\n" in text[end:t.start]):
                    break
                end = t.end + 1
                k += 1
            out.append((base + nxt.start, base + end))
            continue
        if name == "IDENT" and text[a:b].lower() in _SECRET_FUNCS and i + 2 < n and tokens[i + 1].name == "ASCII_40":
            k = i + 2
            # crypt('pw', ...) or pgp_sym_encrypt(t.col, 'key'): the first string argument of the first two
            while k < n and tokens[k].name in ("IDENT", "ASCII_46"):
                k += 1
            if k < n and tokens[k].name == "ASCII_44" and k > i + 2:
                k += 1
            if k < n and tokens[k].name in _STRING_TOKENS:
                out.append(tuple(base + v for v in _inside(text, tokens[k].start, tokens[k].end + 1)))
    return [s for s in out if s[1] > s[0]]


def _marks_by_line(text: str, base: int) -> list[tuple[int, int]]:
    """The marks of a script PostgreSQL's scanner refuses as a whole: each line scanned alone; a
    line it still refuses (``PASSWORD 12ab`` is "trailing junk", an unterminated quote) holds a
    secret from its PASSWORD on, up to the ``;`` or the next role option."""
    parser = pglast_parser()

    out: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        try:
            parser.scan(line)
        except Exception:  # noqa: BLE001 - the same scanner error, on this line
            out.extend(_crude_marks(line, base + pos))
        else:
            out.extend(secret_marks(line, base + pos, depth=1))
        pos += len(line)
    return out


_CRUDE = re.compile(r"(?i)\bPASSWORD\b[ \t]*=?[ \t]*")
_CRUDE_WORD = re.compile(r"[^ \t;]+")


def _crude_marks(line: str, base: int) -> list[tuple[int, int]]:
    out = []
    for m in _CRUDE.finditer(line):
        start = m.end()
        end = len(line.rstrip("\r\n"))
        if line[start:start + 1] in ("'", '"', "$") or line[start:start + 2].upper() == "E'":
            out.append((base + start, base + end))  # a quote the scanner could not close: the rest of the line
            continue
        stop = start
        for w in _CRUDE_WORD.finditer(line, start, end):
            if w.group().upper() in _ROLE_OPTIONS and w.start() > start:
                break
            stop = w.end()
            if line[stop:stop + 1] == ";":
                break
        if stop > start:
            out.append((base + start, base + stop))
    return out


def body_language(node: Any) -> tuple[str | None, str | None]:
    """(language, body text) of a CREATE FUNCTION/PROCEDURE or DO statement; (None, None) otherwise."""
    kind = type(node).__name__
    if kind not in ("CreateFunctionStmt", "DoStmt"):
        return None, None
    opts = (node.args if kind == "DoStmt" else node.options) or ()
    lang = "plpgsql" if kind == "DoStmt" else None
    body = None
    for de in opts:
        if de.defname == "language":
            lang = (getattr(de.arg, "sval", None) or "").lower()
        elif de.defname == "as":
            arg = de.arg[0] if isinstance(de.arg, tuple) and len(de.arg) == 1 else de.arg
            body = getattr(arg, "sval", None)
    if kind == "CreateFunctionStmt" and getattr(node, "sql_body", None) is not None:
        lang, body = lang or "sql", None
    return lang, body


def _check_bodies(doc: SqlDocument) -> None:
    """What PostgreSQL checks when it creates a function (``check_function_bodies``) or runs a DO
    block: the PL/pgSQL body compiles, a ``LANGUAGE sql`` body parses, a language is given."""
    parser = pglast_parser()

    for stmt in doc.statements:
        if stmt.node is None:
            continue
        lang, body = body_language(stmt.node)
        if lang is None and type(stmt.node).__name__ != "CreateFunctionStmt":
            continue
        message = None
        if lang is None:
            if body is not None:
                message = "no language specified"
        elif lang == "plpgsql":
            _data, err = stmt.plpgsql()
            if err:
                message = f"PL/pgSQL body: {err}"
        elif lang == "sql" and body is not None:
            try:
                parser.parse_sql_json(body)  # the same parse and errors as pglast.parse_sql, no tree built
            except parser.ParseError as exc:
                message = f"SQL function body: {exc.args[0] if exc.args else 'syntax error'}"
        if message:
            stmt.error = message
            doc.errors.append(ParseError(f"PostgreSQL would reject this statement: {message}", stmt.line, stmt.col))

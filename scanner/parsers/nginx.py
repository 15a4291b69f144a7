"""nginx configuration files, lexed by crossplane, built into a positioned directive tree.

crossplane's lexer does the hard part (quotes, escapes, ``${}``, comments). We build the tree
ourselves so that one unbalanced brace becomes an error at its line while the rest still parses,
and so that fragments (conf.d files holding bare ``server`` or ``location`` blocks) need no context.
Includes are *not* followed here: the Stack resolves them through the gateway's mounts.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Iterator

from ..model import Location
from .base import Document, ParseError, newline_positions
from ..lazyre import LazyRe
from ..plain import FACTORY as _FACTORY

MAX_TOKENS = 2_000_000
MAX_DEPTH = 64  # nginx configs nest a handful of levels; deeper input is refused, not recursed into


class Directive:
    """One nginx directive as written in its file (a block holds its children)."""

    name: str
    args: list[str]
    line: int
    col: int
    path: str
    block: list["Directive"] | None = None
    parent: "Directive | None"
    end_line: int = 0  # line of the closing brace for blocks, else the directive's own line
    quoted: list[bool]
    spans: list[tuple[int, int]]  # source (start, end) of each argument

    __match_args__ = ("name", "args", "line", "col", "path", "block", "parent", "end_line", "quoted", "spans")

    def __init__(self, name, args, line, col, path, block=None, parent=None, end_line=0, quoted=_FACTORY, spans=_FACTORY):
        self.name = name
        self.args = args
        self.line = line
        self.col = col
        self.path = path
        self.block = block
        self.parent = parent
        self.end_line = end_line
        self.quoted = list() if quoted is _FACTORY else quoted
        self.spans = list() if spans is _FACTORY else spans

    @property
    def is_block(self) -> bool:
        return self.block is not None

    @property
    def location(self) -> Location:
        """Where the directive is written (its name)."""
        return Location(self.path, self.line, self.col)

    def children(self, name: str | None = None) -> Iterator["Directive"]:
        for d in self.block or ():
            if name is None or d.name == name:
                yield d

    def __repr__(self) -> str:
        return f"<{self.name} {' '.join(self.args)} @{self.path}:{self.line}>"


@dataclass(repr=False)
class NginxDocument(Document):
    """A parsed nginx configuration file."""

    directives: list[Directive] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)

    def walk(self) -> Iterator[Directive]:
        stack = list(reversed(self.directives))
        while stack:
            d = stack.pop()
            yield d
            if d.block:
                stack.extend(reversed(d.block))

    @property
    def is_main(self) -> bool:
        """A main configuration (has ``events`` or ``http`` at top level)."""
        return any(d.name in ("events", "http", "stream", "worker_processes") for d in self.directives)


def _lex_crossplane(text: str):
    """crossplane's own lexer: the reference ``_lex`` is proven identical to (tests/test_perf_nginx_lexer.py)."""
    from crossplane.lexer import _lex_file_object

    return _lex_file_object(io.StringIO(text))


# crossplane's lexer reads one character (or one backslash escape: two characters) at a time through
# four generators, which made it most of the cost of an nginx file. ``_lex`` is the same state machine
# over runs of characters matched by regular expressions, with crossplane's quirks kept: a token or
# comment cut off by the end of the file is dropped, a lone backslash at the end stops the lexer, a
# quoted string unescapes only its own quote, ``${...}`` is read up to its ``}`` or a space, and a
# line is counted at every newline (an escaped one too). ``\s`` is ``str.isspace()`` in a str pattern.
_WS_RUN = LazyRe(r"\s+")
_BARE_RUN = LazyRe(r"(?:\\[\s\S]|[^\s{};\\])+")
_COMMENT_RUN = LazyRe(r"#(?:\\[^\n]|[^\\\n])*")
_QUOTED = {'"': re.compile(r'"((?:\\[\s\S]|[^"\\])*)"'), "'": re.compile(r"'((?:\\[\s\S]|[^'\\])*)'")}
_ESCAPE = LazyRe(r"\\[\s\S]")


def _ignore(_span) -> None:
    return None


def _lex(text: str, offsets: list | None = None) -> Iterator[tuple[str, int, bool]]:
    """(token, line, quoted) for every token of ``text``, exactly as crossplane's lexer yields them.
    With ``offsets``, each token's source (start, end) is appended to it before the token is
    yielded (a quoted token's inside, without its quotes)."""
    rec = offsets.append if offsets is not None else _ignore
    n = len(text)
    pos = 0
    line = 1  # 1 + newlines in text[:counted]
    counted = 0
    count = text.count
    while pos < n:
        c = text[pos]
        if c.isspace():
            pos = _WS_RUN.match(text, pos).end()
            continue
        if c == "#":
            end = _COMMENT_RUN.match(text, pos).end()
            if end < n and text[end] == "\n":
                nxt = end + 1
            elif end + 1 < n and text[end] == "\\" and text[end + 1] == "\n":
                nxt = end + 2
            else:
                return  # the end of the file inside a comment: crossplane drops it and stops
            line += count("\n", counted, pos)
            counted = pos
            rec((pos, end))
            yield text[pos:end], line, False
            pos = nxt
            continue
        if c == '"' or c == "'":
            m = _QUOTED[c].match(text, pos)
            if m is None:
                return  # unterminated string
            tok = m.group(1)
            if "\\" in tok:
                tok = _ESCAPE.sub(lambda e: c if e.group()[1] == c else e.group(), tok)
            line += count("\n", counted, pos)
            counted = pos
            rec((pos + 1, m.end() - 1))
            yield tok, line, True
            pos = m.end()
            continue
        if c == "{" or c == "}" or c == ";":
            line += count("\n", counted, pos)
            counted = pos
            rec((pos, pos + 1))
            yield c, line, False
            pos += 1
            continue
        # a bare token; its line is its first character's (an escaped newline counts before it)
        if c == "\\":
            if pos + 1 >= n:
                return  # a lone backslash at the end of the file
            first_end = pos + 2
        else:
            first_end = pos + 1
        line += count("\n", counted, first_end)
        counted = first_end
        tok_line = line
        tok_start = pos
        tok = ""
        while True:
            m = _BARE_RUN.match(text, pos)
            if m is not None:
                tok += m.group()
                pos = m.end()
            if pos >= n:
                return  # the end of the file inside a token: dropped
            c = text[pos]
            if c == "\\":
                return  # a lone backslash at the end of the file
            if c.isspace():
                rec((tok_start, pos))
                yield tok, tok_line, False
                break
            if c == "{" and tok.endswith("$"):
                # parameter expansion: characters up to a "}" or a space, whatever they are
                unit = c
                while tok[-1] != "}" and not unit.isspace():
                    tok += unit
                    pos += len(unit)
                    if pos >= n:
                        return
                    if text[pos] == "\\":
                        if pos + 1 >= n:
                            return
                        unit = text[pos:pos + 2]
                    else:
                        unit = text[pos]
                if unit == "{" or unit == "}" or unit == ";":
                    rec((tok_start, pos))
                    yield tok, tok_line, False
                    line += count("\n", counted, pos)
                    counted = pos
                    rec((pos, pos + 1))
                    yield unit, line, False
                    pos += 1
                    break
                tok += unit  # a quote, a space or any other character joins the token
                pos += len(unit)
                continue
            # "{", "}" or ";" ends the token and is a token itself
            rec((tok_start, pos))
            yield tok, tok_line, False
            line += count("\n", counted, pos)
            counted = pos
            rec((pos, pos + 1))
            yield c, line, False
            pos += 1
            break


def parse(text: str, path: str) -> NginxDocument:
    doc = NginxDocument(path=path, text=text)
    try:
        _build(doc)
    except Exception as exc:  # crossplane or our builder failed: keep what we have
        doc.errors.append(ParseError(f"internal parser error: {exc.__class__.__name__}", 1, 1))
    return doc


# errors that are dkscan's own limits, not a syntax nginx refuses
_DKSCAN_LIMITS = ("more than ", "blocks nested deeper", "internal parser error")


def refused(doc: Document) -> bool:
    """Whether nginx would refuse to load this file (a syntax error; dkscan's size limits are not)."""
    return any(not e.message.startswith(_DKSCAN_LIMITS) for e in doc.errors)


_MAIN_HINT = LazyRe(r"^[ \t]*(?:events|http|stream|worker_processes)\b", re.M)


def _masks(name: str, parent, main: bool) -> tuple:
    """The forms nginx knows for directive ``name`` inside ``parent``'s block (crossplane's table,
    filtered by the block's context; empty when unknown there or at a file's top level, whose
    context -- main, http or server for an included fragment -- the parser does not know)."""
    from crossplane.analyzer import CONTEXTS, DIRECTIVES, enter_block_ctx

    if parent is None and not main:
        return ()
    names = []
    while parent is not None:
        names.append(parent.name)
        parent = parent.parent
    ctx: tuple = ()
    for n in reversed(names):
        ctx = enter_block_ctx({"directive": n}, ctx)
    where = CONTEXTS.get(ctx)
    if where is None or not (main or names[-1] in ("http", "events", "stream", "mail")):
        return ()
    return tuple(m for m in DIRECTIVES.get(name, ()) if m & where)


def _not_a_block(name: str, parent, main: bool) -> bool:
    """A directive nginx knows, in this context, never to take a block (``listen 80 {`` is refused)."""
    from crossplane.analyzer import NGX_CONF_BLOCK

    masks = _masks(name, parent, main)
    return bool(masks) and not any(m & NGX_CONF_BLOCK for m in masks)


def _only_a_block(name: str, parent, main: bool) -> bool:
    """A directive nginx knows, in this context, always to take a block (``location /;`` is refused)."""
    from crossplane.analyzer import NGX_CONF_BLOCK

    masks = _masks(name, parent, main)
    return bool(masks) and all(m & NGX_CONF_BLOCK for m in masks)


_TABLE_BLOCKS = frozenset({"map", "geo", "types", "split_clients", "charset_map", "match"})


def _table_block(parent) -> bool:
    """Whether ``parent``'s block holds table entries (``map``, ``types``...), not directives."""
    return parent is not None and parent.name in _TABLE_BLOCKS


def _build(doc: NginxDocument) -> None:
    # the lexer counts lines as nginx does (newlines only); positions are given in LineIndex lines
    # (Document.lines), which differ only when the text holds another line break (form feed, lone CR)
    # A token's column comes from its offset (the lexer's): never searched for on its line (a search
    # per token was quadratic on a long line, and gave every repeated token the first one's column).
    remap = newline_positions(doc.text)
    index = doc.line_index

    def at(line: int, offset: int) -> tuple[int, int]:
        if remap is None:
            start = index.line_start(line)
            return line, (offset - start + 1 if start <= offset <= index.ends[min(line, len(index.ends)) - 1] else 1)
        return index.line_col(offset)

    def at_line(line: int) -> tuple[int, int]:
        return (line, 1) if remap is None else remap.line_col(line)

    root: list[Directive] = []
    stack: list[tuple[Directive | None, list[Directive]]] = [(None, root)]
    main = _MAIN_HINT.search(doc.text) is not None  # a main file: its top level is nginx's main context
    offsets: list[tuple[int, int]] = []
    tokens = _lex(doc.text, offsets)
    current: Directive | None = None  # directive whose arguments are being read
    count = 0
    last_line = 1
    for token, line, quoted in tokens:
        off = offsets[-1][0] - (1 if quoted else 0)  # where the token starts (a quoted one: its quote)
        count += 1
        last_line = line
        if count > MAX_TOKENS:
            doc.errors.append(ParseError(f"more than {MAX_TOKENS} tokens; rest not parsed", at_line(line)[0], 1))
            break
        if not quoted and token.startswith("#"):
            doc.comments.append((at(line, off)[0], token[1:]))
            continue
        parent, siblings = stack[-1]
        if current is None:
            if not quoted and token == "}":
                if len(stack) == 1:
                    doc.errors.append(ParseError('unexpected "}"', *at(line, off)))
                else:
                    blk, _ = stack.pop()
                    if blk is not None:
                        blk.end_line = at(line, off)[0]
                continue
            if not quoted and token in ("{", ";"):
                doc.errors.append(ParseError(f'unexpected "{token}"', *at(line, off)))
                if token == "{":
                    tline = at(line, off)[0]
                    anon = Directive("", [], tline, 1, doc.path, [], parent, tline)
                    stack.append((anon, anon.block))
                continue
            dline, dcol = at(line, off)
            current = Directive(token, [], dline, dcol, doc.path, None, parent, dline)
            continue
        # reading arguments of `current`
        if not quoted and token == ";":
            if _only_a_block(current.name, parent, main) and not _table_block(parent):
                doc.errors.append(ParseError(f'directive "{current.name}" has no opening "{{"', *at(line, off)))
            siblings.append(current)
            current = None
        elif not quoted and token == "{":
            if _not_a_block(current.name, parent, main) and not _table_block(parent):
                doc.errors.append(ParseError(f'directive "{current.name}" is not terminated by ";"', *at(line, off)))
            current.block = []
            if len(stack) > MAX_DEPTH:
                if not any("nested deeper" in e.message for e in doc.errors):
                    doc.errors.append(ParseError(f"blocks nested deeper than {MAX_DEPTH} levels: the inner ones are not analysed", current.line, current.col))
                stack.append((current, []))  # parsed for balance, kept out of the tree
            else:
                siblings.append(current)
                stack.append((current, current.block))
            current = None
        elif not quoted and token == "}":
            # nginx reports the brace, where it found the statement unterminated
            doc.errors.append(ParseError(f'unexpected "}}": directive "{current.name}" (line {current.line}) is not '
                                         f'terminated by ";"', *at(line, off)))
            siblings.append(current)
            current = None
            if len(stack) > 1:
                blk, _ = stack.pop()
                if blk is not None:
                    blk.end_line = at(line, off)[0]
        else:
            current.args.append(token)
            current.quoted.append(bool(quoted))
            current.spans.append(offsets[-1])
    # nginx reports a file that ends too early once, at its end (the line after a final newline)
    eof = index.line_col(len(doc.text))
    if current is not None:
        doc.errors.append(ParseError(f'unexpected end of file, expecting ";" or "}}": directive "{current.name}" '
                                     f'(line {current.line}) is not terminated', *eof))
        stack[-1][1].append(current)
    elif len(stack) > 1 and stack[-1][0] is not None:
        blk = stack[-1][0]
        doc.errors.append(ParseError(f'unexpected end of file, expecting "}}": "{blk.name}" (line {blk.line}) is not closed',
                                     *eof))
    while len(stack) > 1:
        blk, _ = stack.pop()
        if blk is not None:
            blk.end_line = at_line(last_line)[0]
    # nginx stops at its first syntax error: later ones are mostly its consequences (dkscan's
    # recovery guesses the rest of the tree), so the file carries the one nginx reports
    refusals = [e for e in doc.errors if not e.message.startswith(_DKSCAN_LIMITS)]
    if len(refusals) > 1:
        first = min(refusals, key=lambda e: (e.line, e.col))
        doc.errors[:] = [e for e in doc.errors if e is first or e not in refusals]
    doc.directives = root
    doc.secret_marks = list(_secret_marks(doc))
    # `if (...)` arguments: strip parentheses like crossplane does
    for d in doc.walk():
        if d.name == "if" and d.args:
            if d.args[0].startswith("("):
                d.args[0] = d.args[0][1:].lstrip()
            if d.args[-1].endswith(")"):
                d.args[-1] = d.args[-1][:-1].rstrip()
            d.args[:] = [a for a in d.args if a != ""]


# directives that set a header, a parameter or a variable: (name, value); a credential-named one's
# value is a secret unless it only forwards a variable (`proxy_set_header Authorization $http_authorization`)
_SETTERS = frozenset({"proxy_set_header", "grpc_set_header", "add_header", "add_trailer", "fastcgi_param",
                      "uwsgi_param", "scgi_param", "set", "proxy_set_body"})
_MORE_HEADERS = frozenset({"more_set_headers", "more_set_input_headers"})
# directives whose every argument is a secret written inline
_SECRET_ARGS = frozenset({"secure_link_secret", "auth_jwt_key"})


def _credential(name: str) -> bool:
    from ..spans import is_credential_name  # the one definition of a secret-bearing name

    return is_credential_name(name)


def _forwarded(value: str) -> bool:
    return value.startswith("$") and " " not in value


def _directive_marks(text: str, name: str, args: list[str], spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The source spans of the secrets one directive writes: the value of a header, parameter or
    variable named like a credential (``proxy_set_header Authorization "Basic ..."``,
    ``more_set_headers "X-Api-Key: ..."``, ``set $api_token ...``) and inline keys
    (``secure_link_secret``). URL passwords (``proxy_pass http://u:pw@h``) are found in any text."""
    if not spans:
        return
    if name in _SETTERS and len(args) >= 2 and _credential(args[0]):
        for value, span in zip(args[1:], spans[1:]):
            if value and not _forwarded(value):
                yield span
    elif name in _MORE_HEADERS:
        for value, (a, b) in zip(args, spans):
            head, colon, rest = value.partition(":")
            if colon and _credential(head):
                rest_l = rest.lstrip()
                if rest_l and not _forwarded(rest_l):
                    k = text.find(rest_l[:16], a, b)
                    yield (k, b) if k >= 0 else (a, b)
    elif name in _SECRET_ARGS:
        yield from (span for value, span in zip(args, spans) if not _forwarded(value))


def _secret_marks(doc: NginxDocument) -> Iterator[tuple[int, int]]:
    for d in doc.walk():
        yield from _directive_marks(doc.text, d.name, d.args, d.spans)


def secret_marks(text: str) -> list[tuple[int, int]]:
    """The secret spans of an nginx text from its tokens alone (no tree: a fragment, a fix's window):
    what ``parse`` marks on the same text."""
    out: list[tuple[int, int]] = []
    offsets: list[tuple[int, int]] = []
    name, args, spans = None, [], []
    for count, (token, _line, quoted) in enumerate(_lex(text, offsets), 1):
        if count > MAX_TOKENS:
            break
        if not quoted and (token in ("{", "}", ";") or token.startswith("#")):
            if token.startswith("#"):
                continue
            if name is not None:
                out.extend(_directive_marks(text, name, args, spans))
            name, args, spans = None, [], []
        elif name is None:
            name = token
        else:
            args.append(token)
            spans.append(offsets[-1])
    if name is not None:
        out.extend(_directive_marks(text, name, args, spans))
    return out


def context_errors(doc: NginxDocument) -> list[ParseError]:
    """crossplane's context and argument-count analysis, for main configs only (fragments have no
    context of their own). Unknown directives are allowed (third-party modules)."""
    from crossplane.analyzer import analyze
    from crossplane.errors import NgxParserDirectiveError

    errors: list[ParseError] = []
    skip = {"add_header", "limit_req", "limit_conn", "include"}  # judged by their own rules

    def visit(directives: list[Directive], ctx: tuple) -> None:
        from crossplane.analyzer import enter_block_ctx

        for d in directives:
            if d.name == "" or d.name in skip:
                continue
            stmt = {"directive": d.name, "args": list(d.args), "line": d.line}
            term = "{" if d.is_block else ";"
            try:
                analyze(doc.path, stmt, term, ctx, strict=False, check_ctx=True, check_args=True)
            except NgxParserDirectiveError as exc:
                errors.append(ParseError(exc.strerror, d.line, d.col))
                continue
            if d.block is not None and d.name not in ("map", "geo", "types", "split_clients", "match", "charset_map"):
                visit(d.block, enter_block_ctx(stmt, ctx))

    visit(doc.directives, ())
    return errors

"""nginx configuration files, lexed as nginx lexes them, built into a positioned directive tree.

Written by hand because no library reads nginx as nginx does: crossplane's lexer (which dkscan
used) splits words nginx keeps whole (``add_header X c};`` sets "c}" for nginx) and counts any
Unicode space as a separator. ``_lex`` follows ngx_conf_read_token (src/core/ngx_conf_file.c);
the tree is built here so that one unbalanced brace becomes an error at its line while the rest
still parses (the secrets after it are still found), and so that fragments (conf.d files holding
bare ``server`` or ``location`` blocks) need no context. What nginx refuses is reported as nginx
does, once per file (the first error, where nginx stops): the lexer's and the tree's errors, and
for a main configuration a directive of nginx's own modules in a context that does not allow it,
with a block it does not take, the wrong number of arguments, or written twice where nginx
refuses that (``judge``, from ``scanner/data/nginx_directives.json``, probed from the real nginx).
A directive that table does not know (a third-party module's) is never judged: dkscan cannot know
which modules the gateway loads. Includes are *not* followed here: the Stack resolves them through
the gateway's mounts and judges an included file in the context of its ``include``.
"""

from __future__ import annotations

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
    term: tuple[int, int]  # (line, col) of the ";" or "{" that ended it: where nginx judges it

    __match_args__ = ("name", "args", "line", "col", "path", "block", "parent", "end_line", "quoted", "spans", "term")

    def __init__(self, name, args, line, col, path, block=None, parent=None, end_line=0, quoted=_FACTORY, spans=_FACTORY,
                 term=(0, 0)):
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
        self.term = term

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


# nginx's own lexer, ngx_conf_read_token (src/core/ngx_conf_file.c), over runs of characters:
# - whitespace is only space, tab, CR and LF (a form feed or a non-breaking space is part of a word);
#   lines are counted at LF;
# - a word that does not start with a quote ends only at whitespace, ";" or "{": a "}", "#" or quote
#   inside it is part of it (``add_header X c};`` sets "c}"), and "{" right after an unescaped "$"
#   (``${var}``) does not end it; a backslash escapes the next character, whatever it is;
# - "#" starts a comment only where a word could start; it ends at LF;
# - a quoted word ends at its unescaped quote, and must be followed by whitespace, ";", "{" or ")"
#   (``"ok"}`` is refused: unexpected "}");
# - ";" or "{" with no word before it, and "}" after words, are errors (found by the tree builder);
# - a word is unescaped as nginx does: \" \' \\ become the character, \t \r \n control characters,
#   any other backslash stays.
# Lexer errors are yielded as (message, line, LEX_ERROR).
LEX_ERROR = "error"
_NGX_WS_RUN = LazyRe(r"[ \t\r\n]+")
_NGX_WORD = LazyRe(r"(?:\\[\s\S]|\\\Z|\$\{*|[^ \t\r\n;{\\$])*")
_NGX_COMMENT = LazyRe(r"#[^\n]*")
_NGX_QUOTED = {'"': re.compile(r'"((?:\\[\s\S]|\\\Z|[^"\\])*)("?)'), "'": re.compile(r"'((?:\\[\s\S]|\\\Z|[^'\\])*)('?)")}
_NGX_ESCAPE = LazyRe(r"\\([\s\S])")
_NGX_UNESCAPE = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def _unescape(tok: str) -> str:
    if "\\" not in tok:
        return tok
    return _NGX_ESCAPE.sub(lambda m: _NGX_UNESCAPE.get(m.group(1), m.group()), tok)


def _ignore(_span) -> None:
    return None


# OpenResty's ``*_by_lua_block { ... }`` (lua-nginx-module, lua-stream-module): the module reads the
# block's contents itself, as Lua (ngx_http_lua_conf_lua_block_parse), not as nginx directives; a
# third-party module's syntax is never refused, so dkscan skips the Lua to the brace that closes it
# (Lua strings, long brackets ``[==[ ]==]`` and comments may hold braces)
_LUA_BLOCK = LazyRe(r"_by_lua_block$")
_LUA_LONG = LazyRe(r"\[(=*)\[")


def _lua_end(text: str, pos: int) -> int:
    """The offset of the ``}`` closing a Lua block whose ``{`` is at ``pos`` (len(text) if none)."""
    n = len(text)
    depth = 1
    i = pos + 1
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            i += 1
            while i < n and text[i] != c and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
        elif c == "-" and text.startswith("--", i):
            m = _LUA_LONG.match(text, i + 2)
            if m:
                end = text.find("]" + m.group(1) + "]", m.end())
                i = n if end < 0 else end + len(m.group(1)) + 1
            else:
                end = text.find("\n", i)
                i = n if end < 0 else end
        elif c == "[" and _LUA_LONG.match(text, i):
            m = _LUA_LONG.match(text, i)
            end = text.find("]" + m.group(1) + "]", m.end())
            i = n if end < 0 else end + len(m.group(1)) + 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _lex(text: str, offsets: list | None = None) -> Iterator[tuple[str, int, bool | str]]:
    """(token, line, quoted) for every token of ``text`` as nginx reads it (see above); a lexer
    error is (message, line, LEX_ERROR). With ``offsets``, each token's source (start, end) is
    appended to it before the token is yielded (a quoted token's inside, without its quotes; a
    lexer error's offending character)."""
    rec = offsets.append if offsets is not None else _ignore
    n = len(text)
    pos = 0
    line = 1  # 1 + LFs in text[:counted]
    counted = 0
    count = text.count
    name = None  # the statement's first word (its directive), once read
    while pos < n:
        c = text[pos]
        if c in " \t\r\n":
            pos = _NGX_WS_RUN.match(text, pos).end()
            continue
        line += count("\n", counted, pos)
        counted = pos
        if c == "#":
            end = _NGX_COMMENT.match(text, pos).end()
            rec((pos, end))
            yield text[pos:end], line, False
            pos = end
            continue
        if c == "{" or c == "}" or c == ";":
            rec((pos, pos + 1))
            yield c, line, False
            pos += 1
            if c == "{" and name is not None and _LUA_BLOCK.search(name):
                pos = _lua_end(text, pos - 1)  # the Lua module reads the block: on to its "}"
            name = None
            continue
        if c == '"' or c == "'":
            m = _NGX_QUOTED[c].match(text, pos)
            rec((pos + 1, m.end(1)))
            if name is None:
                name = m.group(1)
            yield _unescape(m.group(1)), line, True
            if not m.group(2):
                return  # unterminated: the end of the file, reported by the tree builder
            pos = m.end()
            if pos >= n:
                continue
            nxt = text[pos]
            if nxt in " \t\r\n;{)":
                continue  # ")" starts the next word (``if ($a = "b")``)
            line += count("\n", counted, pos)
            counted = pos
            rec((pos, pos + 1))
            yield f'unexpected "{nxt}"', line, LEX_ERROR
            continue  # nginx stops here; dkscan reads on as if a space separated them
        tok_line = line
        end = _NGX_WORD.match(text, pos).end()
        rec((pos, end))
        if name is None:
            name = text[pos:end]
        yield _unescape(text[pos:end]), tok_line, False
        pos = end


def parse(text: str, path: str) -> NginxDocument:
    doc = NginxDocument(path=path, text=text)
    try:
        _build(doc)
    except Exception as exc:  # our lexer or builder failed: keep what we have
        doc.errors.append(ParseError(f"internal parser error: {exc.__class__.__name__}", 1, 1))
    return doc


# errors that are dkscan's own limits, not a syntax nginx refuses
_DKSCAN_LIMITS = ("more than ", "blocks nested deeper", "internal parser error")


def refused(doc: Document) -> bool:
    """Whether nginx would refuse to load this file (a syntax error; dkscan's size limits are not)."""
    return any(not e.message.startswith(_DKSCAN_LIMITS) for e in doc.errors)


_MAIN_HINT = LazyRe(r"^[ \t]*(?:events|http|stream|worker_processes)\b", re.M)

# ---------------------------------------------------------------------------------------------
# where nginx's own modules allow a directive (scanner/data/nginx_directives.json)
# ---------------------------------------------------------------------------------------------

_TABLE: dict | None = None


def directive_table() -> dict[str, list[dict]]:
    """directive -> its forms ``{"ctx": [contexts], "args": spec, "block": bool}``: the directives of
    nginx's own modules (open source and NGINX Plus), from crossplane's table widened by probing
    the real ``nginx -t`` (``python -m scanner.nginx_directives_refresh`` regenerates it). A
    directive it does not hold is a third-party module's, or one the probed nginx lacks: dkscan
    never judges it (it cannot know which modules the gateway loads)."""
    global _TABLE
    if _TABLE is None:
        import json
        from pathlib import Path

        data = json.loads((Path(__file__).resolve().parent.parent / "data" / "nginx_directives.json").read_text("utf-8"))
        # only directives the real nginx was seen to know: crossplane's entries for modules the
        # probed build lacks (njs, NGINX Plus, perl...) are kept in the file but not trusted
        _TABLE = {k: v for k, v in data["directives"].items() if any(f.get("verified") for f in v)}
    return _TABLE


# the context a block opens, from the context it is written in (None: not nginx's own, or table
# entries -- ``map``, ``types``... -- whose contents are not directives)
_BLOCK_CONTEXT = {
    ("main", "events"): "events", ("main", "http"): "http", ("main", "stream"): "stream", ("main", "mail"): "mail",
    ("http", "server"): "server", ("http", "upstream"): "upstream",
    ("server", "location"): "location", ("server", "if"): "sif",
    ("location", "location"): "location", ("location", "if"): "lif", ("location", "limit_except"): "lmt",
    ("stream", "server"): "stream-server", ("stream", "upstream"): "stream-upstream",
    ("mail", "server"): "mail-server",
}
_TABLE_BLOCKS = frozenset({"map", "geo", "types", "split_clients", "charset_map", "match"})
# blocks whose contents nginx hands to the module's own handler (ngx_conf_parse's cf->handler)
_HANDLER_BLOCKS = frozenset({"map", "geo", "types", "split_clients", "charset_map"})


def block_context(ctx: str | None, name: str) -> str | None:
    """The context inside block ``name`` written in ``ctx`` (None: dkscan does not know it)."""
    return _BLOCK_CONTEXT.get((ctx, name)) if ctx is not None else None


def _takes(spec: str, n: int) -> bool:
    if spec == "any":
        return True
    if spec == "flag":
        return n == 1
    if spec.endswith("+"):
        return n >= int(spec[:-1])
    return n <= 7 and str(n) in spec


# argument counts not judged here: `if` (its parentheses are stripped from the tree), `add_header`
# (GW035 reports nginx's refusal of its arguments, with a fix that quotes the value)
_ARGS_JUDGED_ELSEWHERE = frozenset({"if", "add_header"})


def judge(name: str, nargs: int, is_block: bool, ctx: str | None) -> str | None:
    """What ``nginx -t`` says about directive ``name`` with ``nargs`` arguments (a block or not) in
    context ``ctx``, before its handler runs (ngx_conf_handler): ``"X" directive is not allowed
    here``, ``directive "X" is not terminated by ";"``, ``directive "X" has no opening "{"`` or
    ``invalid number of arguments in "X" directive`` (``judge_tree`` adds ``"X" directive is
    duplicate``, for the directives nginx refuses twice in one block); None when it passes, when the context is
    unknown, or when the directive is not one of nginx's own modules' (a third-party module
    dkscan cannot know is loaded: never a refusal)."""
    if ctx is None or not name:
        return None
    forms = directive_table().get(name)
    if not forms:
        return None
    here = [f for f in forms if ctx in f["ctx"]]
    if not here:
        return f'"{name}" directive is not allowed here'
    if is_block and not any(f["block"] for f in here):
        return f'directive "{name}" is not terminated by ";"'
    if not is_block and all(f["block"] for f in here):
        return f'directive "{name}" has no opening "{{"'
    if name not in _ARGS_JUDGED_ELSEWHERE and not any(_takes(f["args"], nargs) for f in here):
        return f'invalid number of arguments in "{name}" directive'
    return None


def judge_tree(items, ctx: str | None, children, directive=lambda x: x, judged=lambda x: True):
    """The first directive of a tree nginx refuses by its context, block or argument count, as
    (directive, message), walking in nginx's order; None when none is. ``children(item)`` gives a
    block's items, ``directive(item)`` its Directive; only items with ``judged(item)`` are judged
    (all are walked, for the contexts). A refused block is not entered."""
    stack = [(iter(items), ctx, set())]
    while stack:
        it, here, seen = stack[-1]
        item = next(it, None)
        if item is None:
            stack.pop()
            continue
        d = directive(item)
        if d is None or not d.name:
            continue
        if judged(item):
            msg = judge(d.name, len(d.args), d.block is not None, here)
            if msg is None and d.name in seen and _refused_twice(d.name, here):
                msg = f'"{d.name}" directive is duplicate'
            if msg is not None:
                return d, msg
        seen.add(d.name)
        if d.block is not None and d.name not in _TABLE_BLOCKS:
            inner = block_context(here, d.name)
            if inner is not None:
                stack.append((iter(children(item)), inner, set()))
    return None


def _refused_twice(name: str, ctx: str) -> bool:
    """nginx refuses ``name`` written twice in one block of ``ctx`` whatever its values (the
    table's ``dup``: probed with the real nginx)."""
    return any(f.get("dup") and ctx in f["ctx"] for f in directive_table().get(name, ()))


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
    offsets: list[tuple[int, int]] = []
    tokens = _lex(doc.text, offsets)
    current: Directive | None = None  # directive whose arguments are being read
    count = 0
    last_line = 1
    for token, line, quoted in tokens:
        count += 1
        last_line = line
        if count > MAX_TOKENS:
            doc.errors.append(ParseError(f"more than {MAX_TOKENS} tokens; rest not parsed", at_line(line)[0], 1))
            break
        if quoted is LEX_ERROR:  # a character nginx's lexer refuses (``"ok"}``); read on as if spaced
            doc.errors.append(ParseError(token, *at(line, offsets[-1][0])))
            continue
        off = offsets[-1][0] - (1 if quoted else 0)  # where the token starts (a quoted one: its quote)
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
            current.term = at(line, off)
            siblings.append(current)
            current = None
        elif not quoted and token == "{":
            current.term = at(line, off)
            if parent is not None and parent.name in _HANDLER_BLOCKS:
                # a table's entries are read by its module's handler: nginx refuses a block there
                # (`~^a{1,5}$ x;` in a `map`: the "{" ends the word)
                doc.errors.append(ParseError('unexpected "{"', *current.term))
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
    doc.directives = root
    misplaced = None
    if doc.is_main:
        # a main file's top level is nginx's main context: what nginx refuses by a directive's
        # context, block or argument count is known (the first, in nginx's order)
        bad = judge_tree(root, "main", lambda d: d.block or (), judged=lambda d: d.term[0] != 0)
        if bad is not None:
            d, msg = bad
            misplaced = ParseError(msg, *d.term)  # nginx names the line of its ";" or "{"
            doc.errors.append(misplaced)
    # nginx stops at its first error: later ones are mostly its consequences (dkscan's recovery
    # guesses the rest of the tree), so the file carries the one nginx reports
    refusals = [e for e in doc.errors if not e.message.startswith(_DKSCAN_LIMITS)]
    if len(refusals) > 1:
        first = min(refusals, key=lambda e: (e.line, e.col))
        doc.errors[:] = [e for e in doc.errors if e is first or e not in refusals]
    if misplaced is not None and misplaced.line == d.line:  # shown at the directive's name on that line
        doc.errors[:] = [ParseError(e.message, e.line, d.col) if e is misplaced else e for e in doc.errors]
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

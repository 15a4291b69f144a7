"""nginx routing knowledge the rules share: where a directive argument is in the text, where to
insert a line, the levels around a node, which compose service a ``*_pass`` reaches, whether a
location is protected, what a variable can contain (``set``, ``map``, regex captures) and what a
validation regex lets through."""

from __future__ import annotations

import functools
import ipaddress
import re
import re._constants as _C  # Python 3.11+ (pyproject: requires-python >= 3.11)
import re._parser as _P
import string
from typing import TYPE_CHECKING

from rules.helpers.locations import nloc
from rules.helpers.nginx import PASS_DIRECTIVES, file_doc
from rules.helpers.services import admin_ui, host_names, unauthenticated_reason
from scanner.model import Edit, Fix, Location
from scanner.lazyre import LazyRe
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# per-stack memo
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# text positions of directives and arguments
# --------------------------------------------------------------------------------------------


def line_text(stack: Stack, path: str, line: int) -> str:
    doc = file_doc(stack, path)
    return doc.line_text(line) if doc is not None else ""


def indent_of(stack: Stack, node) -> str:
    text = line_text(stack, node.path, node.line)
    return text[: len(text) - len(text.lstrip())]


def arg_spans(stack: Stack, node) -> list[Location] | None:
    """Locations of a directive's arguments as written (quotes included), or None when the text
    does not match the parsed directive (escapes, odd layouts)."""
    doc = file_doc(stack, node.path)
    if doc is None or node.d is None:
        return None
    lines = doc.lines
    ln, pos = node.line, node.col - 1 + len(node.name)
    out: list[Location] = []
    quoted = list(getattr(node.d, "quoted", []) or [])
    for i, arg in enumerate(node.args):
        found = False
        while ln <= len(lines) and ln < node.line + 50:
            text = lines[ln - 1]
            # skip blanks and comments
            m = re.compile(r"\s*(#[^\n]*)?").match(text, pos)
            pos = m.end() if m else pos
            if pos >= len(text) or text[pos] == "#":
                ln, pos = ln + 1, 0
                continue
            cands = []
            if i < len(quoted) and quoted[i]:
                cands = ['"' + arg + '"', "'" + arg + "'"]
            else:
                cands = [arg]
            for c in cands:
                if text.startswith(c, pos):
                    out.append(Location(node.path, ln, pos + 1, ln, pos + 1 + len(c)))
                    pos += len(c)
                    found = True
                    break
            break
        if not found:
            return None
    return out


def arg_loc(stack: Stack, node, idx: int) -> Location:
    spans = arg_spans(stack, node)
    if spans and 0 <= idx < len(spans):
        return spans[idx]
    return nloc(node)


def end_of_directive(stack: Stack, node) -> Location | None:
    """Position just after the ``;`` ending a simple directive."""
    doc = file_doc(stack, node.path)
    if doc is None:
        return None
    spans = arg_spans(stack, node)
    if spans is None:
        return None
    if spans:
        ln, pos = spans[-1].start_line, spans[-1].end_col - 1
    else:
        ln, pos = node.line, node.col - 1 + len(node.name)
    lines = doc.lines
    while ln <= len(lines) and ln < node.line + 60:
        text = lines[ln - 1]
        idx = text.find(";", pos)
        hash_idx = text.find("#", pos)
        if idx >= 0 and (hash_idx < 0 or idx < hash_idx):
            return Location(node.path, ln, idx + 2)
        ln, pos = ln + 1, 0
    return None


def insert_after(stack: Stack, node, lines: list[str]) -> Edit | None:
    """An insertion of ``lines`` (directives) after a simple directive, at its indentation."""
    at = end_of_directive(stack, node)
    if at is None:
        return None
    ind = indent_of(stack, node)
    return Edit(at, "".join("\n" + ind + t for t in lines))


def insert_in_block(stack: Stack, block, lines: list[str]) -> Edit | None:
    """An insertion of ``lines`` right after the ``{`` opening ``block`` (a server/location/http)."""
    doc = file_doc(stack, block.path)
    if doc is None or block.d is None or block.d.block is None:
        return None
    ln = block.line
    spans = arg_spans(stack, block)
    pos = (spans[-1].end_col - 1) if spans else block.col - 1 + len(block.name)
    if spans:
        ln = spans[-1].start_line
    lines_ = doc.lines
    while ln <= len(lines_) and ln < block.line + 20:
        text = lines_[ln - 1]
        idx = text.find("{", pos)
        if idx >= 0:
            first = next((c for c in block.children if c.path == block.path), None)
            if first is not None and first.line > ln:
                ind = indent_of(stack, first)
            else:
                ind = indent_of(stack, block) + "    "
            return Edit(Location(block.path, ln, idx + 2), "".join("\n" + ind + t for t in lines))
        ln, pos = ln + 1, 0
    return None


def fix_of(description: str, edits, applicability: str = "safe") -> Fix | None:
    edits = tuple(e for e in edits if e is not None)
    return Fix(description, edits, applicability) if edits else None


def directive_words(node) -> str:
    """The directive as nginx reads it, normalised: its name and arguments, one space apart (the text
    as written, quotes and line breaks included, is ``rules.helpers.nginx.directive_text``)."""
    return " ".join([node.name, *node.args])


# --------------------------------------------------------------------------------------------
# structure of the effective configuration
# --------------------------------------------------------------------------------------------


def enclosing(node, *names: str):
    for a in node.ancestors():
        if a.name in names and a.d is not None:
            return a
    return None


def location_modifier(loc) -> tuple[str, str]:
    """(modifier, path) of a ``location``: modifier in '', '=', '~', '~*', '^~', '@'."""
    args = loc.args
    if not args:
        return "", ""
    if args[0] in ("=", "~", "~*", "^~") and len(args) > 1:
        return args[0], args[1]
    if args[0].startswith("@"):
        return "@", args[0]
    for mod in ("~*", "^~", "~", "="):
        if args[0].startswith(mod) and len(args[0]) > len(mod):
            return mod, args[0][len(mod):]
    return "", args[0]


def levels(node):
    """The node, then its ancestors (the levels directive inheritance walks)."""
    cur = node
    while cur is not None:
        yield cur
        cur = cur.parent


def access_list(node) -> list:
    """``allow``/``deny`` in force at ``node`` (array inheritance: the nearest level with any)."""
    for level in levels(node):
        found = level.children_named("allow", "deny")
        if found:
            return found
    return []


def denies_all(node) -> bool:
    return any(c.name == "deny" and c.args[:1] == ["all"] for c in access_list(node))


def auth_on(node) -> bool:
    """Is this location authenticated: ``auth_basic``, ``auth_request`` or ``auth_jwt`` in force at
    ``node`` with a first argument other than ``off``. The one answer (the operational rules asked
    a copy that forgot ``auth_jwt``): ``auth_jwt "realm"`` (ngx_http_auth_jwt_module) rejects requests
    without a valid token just as ``auth_basic`` does without a password. nginx compares ``off``
    case-sensitively (``ngx_strcmp``): ``auth_basic OFF`` turns authentication on, with the realm "OFF"."""
    for name in ("auth_basic", "auth_request", "auth_jwt"):
        eff = node.effective(name)
        if eff is not None and eff.args and eff.args[0] != "off":
            return True
    return False


def is_internal(node) -> bool:
    return any(c.name == "internal" for lvl in levels(node) if lvl.name == "location" for c in lvl.children)


_IMAGE_INCLUDES = ("mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "proxy_params",
                   "koi-utf", "koi-win", "win-utf")


def opaque_include(block) -> bool:
    """``block`` includes a file dkscan could not read (other than the image's parameter files):
    it may hold the directive a rule looks for."""
    return block is not None and any(c.name == "include" and c.args and not c.args[0].endswith(_IMAGE_INCLUDES)
                                     and include_unresolved(c) for c in block.children)


def protected(node) -> bool:
    """Reachable only from allowed addresses, with credentials, or by internal redirects (or an
    unreadable include in its block may make it so)."""
    return denies_all(node) or auth_on(node) or is_internal(node) or opaque_include(node.parent if node.name != "location" else node)


_LOOPBACK_LISTEN = LazyRe(r"^(unix:|127\.|\[::1\]|localhost[:]?|::1)")


def server_public(server) -> bool:
    """A server some non-loopback address reaches (no ``listen`` = every interface, port 80)."""
    if server is None:
        return True
    listens = [c for c in server.children if c.name == "listen" and c.args]
    if not listens:
        return True
    return any(not _LOOPBACK_LISTEN.match(c.args[0]) for c in listens)


def include_unresolved(node) -> bool:
    """``node`` is an ``include`` nothing was spliced in for."""
    if node.name != "include" or node.parent is None:
        return False
    return not any(node.d in c.via for c in node.parent.children if c.via)


# --------------------------------------------------------------------------------------------
# regular expressions (PCRE as nginx uses it, read with Python's parser)
# --------------------------------------------------------------------------------------------


# The characters whose presence matters to the checks: line breaks, URL delimiters, dots.
UNIVERSE = frozenset("\n\r\t /.:?#@%&=!$'\",;~+*()[]-_" + string.ascii_letters + string.digits)
_CATS = {
    "CATEGORY_DIGIT": frozenset(string.digits),
    "CATEGORY_SPACE": frozenset(" \t\n\r\x0b\x0c") & UNIVERSE,
    "CATEGORY_WORD": frozenset(string.ascii_letters + string.digits + "_"),
}


def _cat(cat) -> frozenset:
    name = str(cat)
    for base, chars in _CATS.items():
        if name == base:
            return chars
        if name == base.replace("CATEGORY_", "CATEGORY_NOT_"):
            return UNIVERSE - chars
    return UNIVERSE


def pcre_to_py(regex: str) -> str:
    """Named groups in PCRE spellings to Python's, and nginx's quoting removed."""
    out = re.sub(r"\(\?<(?![=!])([A-Za-z_]\w*)>", r"(?P<\1>", regex)
    out = re.sub(r"\(\?'([A-Za-z_]\w*)'", r"(?P<\1>", out)
    return out


def parse_regex(regex: str, icase: bool = False):
    """The parsed pattern, or None when Python cannot read it (then no judgement is made)."""
    try:
        return _P.parse(pcre_to_py(regex), re.I if icase else 0)
    except (re.error, OverflowError, RecursionError):  # odd PCRE, a huge repeat, deep nesting: unknown
        return None


def _fold(chars: frozenset, icase: bool) -> frozenset:
    if not icase:
        return chars
    return frozenset(chars | {c.swapcase() for c in chars if c.isalpha()}) & UNIVERSE | chars


def item_chars(op, av, icase=False, dotall=False) -> frozenset | None:
    """Characters a single-character item matches (None: not a single-character item)."""
    name = str(op)
    if name == "LITERAL":
        return _fold(frozenset({chr(av)}), icase)
    if name == "NOT_LITERAL":
        return UNIVERSE - _fold(frozenset({chr(av)}), icase)
    if name == "ANY":
        return UNIVERSE if dotall else UNIVERSE - {"\n"}
    if name == "IN":
        acc: set = set()
        negate = False
        for sop, sav in av:
            sname = str(sop)
            if sname == "NEGATE":
                negate = True
            elif sname == "LITERAL":
                acc.add(chr(sav))
            elif sname == "RANGE":
                lo, hi = sav
                acc.update(c for c in UNIVERSE if lo <= ord(c) <= hi)
            elif sname == "CATEGORY":
                acc.update(_cat(sav))
            else:
                acc.update(UNIVERSE)
        chars = _fold(frozenset(acc), icase)
        return UNIVERSE - chars if negate else chars
    return None


def chars_of(items, icase=False) -> frozenset:
    """Every character the pattern (or a group of it) can match."""
    acc: set = set()
    for op, av in items:
        single = item_chars(op, av, icase)
        if single is not None:
            acc |= single
            continue
        name = str(op)
        if name == "SUBPATTERN":
            acc |= chars_of(av[-1], icase)
        elif name == "BRANCH":
            for b in av[1]:
                acc |= chars_of(b, icase)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            acc |= chars_of(av[2], icase)
        elif name == "ATOMIC_GROUP":
            acc |= chars_of(av, icase)
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        else:
            acc |= UNIVERSE
    return frozenset(acc)


def first_of(items, icase=False) -> tuple[frozenset, bool]:
    """(characters a match can start with, whether the match can be empty)."""
    acc: set = set()
    for op, av in items:
        f, empty = _first_item(op, av, icase)
        acc |= f
        if not empty:
            return frozenset(acc), False
    return frozenset(acc), True


def _first_item(op, av, icase):
    single = item_chars(op, av, icase)
    if single is not None:
        return single, False
    name = str(op)
    if name == "SUBPATTERN":
        return first_of(av[-1], icase)
    if name == "ATOMIC_GROUP":
        return first_of(av, icase)
    if name == "BRANCH":
        acc, empty = set(), False
        for b in av[1]:
            f, e = first_of(b, icase)
            acc |= f
            empty = empty or e
        return frozenset(acc), empty
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        f, e = first_of(av[2], icase)
        return f, e or av[0] == 0
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return frozenset(), True
    return UNIVERSE, True


def literal_alternatives(items) -> bool:
    """The pattern only matches a fixed set of literal strings (``(a|b)``, ``api``)."""
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            continue
        if name == "SUBPATTERN":
            if not literal_alternatives(av[-1]):
                return False
        elif name == "BRANCH":
            if not all(literal_alternatives(b) for b in av[1]):
                return False
        elif name == "IN" and all(str(s) == "LITERAL" for s, _ in av):
            continue
        elif name in ("MAX_REPEAT", "MIN_REPEAT") and av[1] != _C.MAXREPEAT and av[1] <= 1:
            if not literal_alternatives(av[2]):
                return False
        elif name == "AT":
            continue
        else:
            return False
    return True


class Group:
    """A capturing group of a regex: what it can contain and what stands right before it."""

    index: int
    name: str | None
    items: list
    icase: bool
    before: tuple  # the item just before the group in its sequence, or ()

    __match_args__ = ("index", "name", "items", "icase", "before")

    def __init__(self, index, name, items, icase, before):
        self.index = index
        self.name = name
        self.items = items
        self.icase = icase
        self.before = before

    @property
    def chars(self) -> frozenset:
        return chars_of(self.items, self.icase)

    @property
    def first(self) -> tuple[frozenset, bool]:
        return first_of(self.items, self.icase)

    @property
    def fixed(self) -> bool:
        return literal_alternatives(self.items)


def regex_groups(regex: str, icase: bool = False) -> dict | None:
    """Capturing groups by number and by name, or None when the regex cannot be read."""
    parsed = parse_regex(regex, icase)
    if parsed is None:
        return None
    names = {v: k for k, v in parsed.state.groupdict.items()}
    out: dict = {}

    def visit(items, inherited_before=()):
        prev = inherited_before
        for op, av in items:
            name = str(op)
            if name == "SUBPATTERN":
                gid = av[0]
                if gid is not None:
                    g = Group(gid, names.get(gid), list(av[-1]), icase, prev)
                    out[gid] = g
                    if g.name:
                        out[g.name] = g
                visit(av[-1], prev)
            elif name == "BRANCH":
                for b in av[1]:
                    visit(b, prev)
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                visit(av[2], prev)
            elif name == "ATOMIC_GROUP":
                visit(av, prev)
            prev = (op, av)

    visit(list(parsed))
    return out


# --------------------------------------------------------------------------------------------
# variables: what a `$var` can contain
# --------------------------------------------------------------------------------------------

VAR_RE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")

# request data an attacker chooses freely
_USER_PREFIXES = ("arg_", "http_", "cookie_", "sent_http_")
_USER_VARS = {"args", "query_string", "request_uri", "uri", "document_uri", "request", "request_body",
              "is_args", "content_type", "content_length", "request_method", "remote_user", "http_host"}
# always start with "/" (so they end a host)
_SLASH_VARS = {"uri", "document_uri", "request_uri", "fastcgi_script_name"}
# decoded by nginx: "%0A" becomes a line feed
_DECODED_VARS = {"uri", "document_uri"}


class Taint:
    """What a value built from nginx variables may contain."""

    user: bool = False  # attacker-controlled content
    lf: bool = False  # can contain a line feed
    cr: bool = False  # can contain a carriage return
    slash_start: bool = False  # always starts with "/"

    __match_args__ = ("user", "lf", "cr", "slash_start")

    def __init__(self, user=False, lf=False, cr=False, slash_start=False):
        self.user = user
        self.lf = lf
        self.cr = cr
        self.slash_start = slash_start

    def __or__(self, other: "Taint") -> "Taint":
        return Taint(self.user or other.user, self.lf or other.lf, self.cr or other.cr, False)


SAFE = Taint()


class VarScope:
    """``set`` and ``map`` definitions of one configuration, for resolving variables."""

    def __init__(self, cfg):
        self.sets: dict[str, list] = {}
        self.maps: dict[str, object] = {}
        for n in cfg.nodes("set", "map"):
            if n.name == "set" and len(n.args) >= 2:
                self.sets.setdefault(vname(n.args[0]), []).append(n)
            elif n.name == "map" and len(n.args) >= 2 and n.d is not None and n.d.block is not None:
                self.maps[vname(n.args[1])] = n

    def set_values(self, name: str, at) -> list:
        """``set $name`` directives that may run for a request reaching ``at``."""
        defs = self.sets.get(name, [])
        if not defs:
            return []
        scope = set()
        for lvl in levels(at):
            scope.add(id(lvl))
        near = [d for d in defs if id(d.parent) in scope or (d.parent is not None and d.parent.name == "if" and id(d.parent.parent) in scope)]
        return near or defs


def vname(token: str) -> str:
    t = token.strip()
    if t.startswith("${") and t.endswith("}"):
        return t[2:-1]
    return t[1:] if t.startswith("$") else t


def scope_of(stack: Stack, cfg) -> VarScope:
    return stack.memo(("varscope", id(cfg)), lambda: VarScope(cfg))


def active_regexes(node) -> list[tuple[str, bool, str]]:
    """Regexes whose captures ``$1``.. and named groups are in force at ``node``, nearest first:
    (regex, case-insensitive, source) with source 'uri' (decoded) or the tested variable."""
    out = []
    for lvl in levels(node):
        if lvl.name == "if" and lvl.d is not None and len(lvl.args) >= 3 and lvl.args[1] in ("~", "~*"):
            out.append((lvl.args[2], lvl.args[1] == "~*", vname(lvl.args[0])))
        elif lvl.name == "location" and lvl.d is not None:
            mod, path = location_modifier(lvl)
            if mod in ("~", "~*"):
                out.append((path, mod == "~*", "uri"))
    return out


def capture_taint(regex: str, icase: bool, source: str, ref: str) -> Taint | None:
    groups = regex_groups(regex, icase)
    if groups is None:
        return None
    key = small_int(ref) if small_int(ref) is not None else ref
    g = groups.get(key)
    if g is None:
        return None
    if g.fixed:
        return SAFE
    chars = g.chars
    decoded = source in _DECODED_VARS
    first, _ = g.first
    return Taint(user=True, lf=decoded and "\n" in chars, cr=decoded and "\r" in chars,
                 slash_start=first == frozenset({"/"}))


def var_taint(stack: Stack, cfg, name: str, at, depth: int = 0, rewrite=None) -> Taint:
    """What ``$name`` can contain at directive ``at``. ``rewrite``: (regex, icase, source) of a
    ``rewrite`` whose own captures nginx escapes in its replacement."""
    if depth > 6:
        return SAFE
    scope = scope_of(stack, cfg)
    if name in scope.sets:
        out = Taint()
        defs = scope.set_values(name, at)
        for d in defs:
            out = out | value_taint(stack, cfg, d.args[1], d, depth + 1)
        if len(defs) == 1:
            segs = value_segments(defs[0].args[1])
            if segs and segs[0][0] == "var":
                out.slash_start = var_taint(stack, cfg, segs[0][1], defs[0], depth + 1).slash_start
            elif segs and segs[0][1].startswith("/"):
                out.slash_start = True
        return out
    if name in scope.maps:
        return map_taint(stack, cfg, scope.maps[name], depth + 1)
    if name.isdigit() or not _builtin(name):
        regs = active_regexes(at)
        if rewrite is not None:
            regs = [rewrite] + regs
        for reg in regs:
            t = capture_taint(reg[0], reg[1], reg[2], name)
            if t is not None:
                return SAFE if reg is rewrite else t
        return SAFE
    return Taint(user=name in _USER_VARS or name.startswith(_USER_PREFIXES),
                 lf=name in _DECODED_VARS, cr=name in _DECODED_VARS, slash_start=name in _SLASH_VARS)


def _builtin(name: str) -> bool:
    return name in _USER_VARS or name.startswith(_USER_PREFIXES) or name in {
        "host", "remote_addr", "binary_remote_addr", "scheme", "server_name", "server_port", "request_id",
        "proxy_add_x_forwarded_for", "realpath_root", "document_root", "connection_upgrade", "server_addr",
        "hostname", "msec", "time_iso8601", "status", "upstream_addr", "request_time", "ssl_protocol",
        "remote_port", "proxy_host", "proxy_port", "nginx_version", "pid", "uri", "limit_rate"}


def value_segments(value: str) -> list[tuple[str, str]]:
    """A value string as ('lit', text) and ('var', name) segments."""
    out = []
    pos = 0
    for m in VAR_RE.finditer(value):
        if m.start() > pos:
            out.append(("lit", value[pos:m.start()]))
        out.append(("var", m.group(1) or m.group(2)))
        pos = m.end()
    if pos < len(value):
        out.append(("lit", value[pos:]))
    return out


def value_taint(stack: Stack, cfg, value: str, at, depth: int = 0, rewrite=None) -> Taint:
    out = Taint()
    for kind, text in value_segments(value):
        if kind == "var":
            out = out | var_taint(stack, cfg, text, at, depth, rewrite)
    return out


def map_taint(stack: Stack, cfg, mapnode, depth: int) -> Taint:
    key = ("maptaint", id(mapnode))
    return stack.memo(key, lambda: _map_taint(stack, cfg, mapnode, depth))


def _map_taint(stack: Stack, cfg, mapnode, depth) -> Taint:
    out = Taint()
    source = vname(mapnode.args[0]) if mapnode.args else ""
    for entry in mapnode.children:
        if entry.name in ("hostnames", "volatile", "include") or not entry.args:
            continue
        keytext = entry.name
        value = entry.args[-1]
        for kind, text in value_segments(value):
            if kind != "var":
                continue
            if (text.isdigit() or not _builtin(text)) and keytext.startswith("~"):
                icase = keytext.startswith("~*")
                t = capture_taint(keytext[2:] if icase else keytext[1:], icase, source, text)
                if t is not None:
                    out = out | t
                    continue
            out = out | var_taint(stack, cfg, text, mapnode, depth + 1)
    return out


# --------------------------------------------------------------------------------------------
# compose links: which service a proxy_pass reaches
# --------------------------------------------------------------------------------------------


def pass_target(url: str) -> tuple[str | None, int | None, str]:
    """(host, port, scheme) of a ``*_pass`` URL; host None for variables and unix sockets."""
    if url.startswith("unix:") or "://unix:" in url:
        return None, None, ""
    m = re.match(r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^/:$?#]+)(?::(?P<port>[0-9]{1,9}))?(?P<rest>.*)$", url, re.I)
    if not m or (m.group("rest") and m.group("rest")[0] not in "/?#" and not m.group("rest").startswith("$")):
        return None, None, ""
    if "$" in url.split("/")[2 if "://" in url else 0]:
        return None, None, ""
    scheme = (m.group("scheme") or "").lower()
    port = int(m.group("port")) if m.group("port") else ({"https": 443, "grpcs": 443}.get(scheme, 80) if scheme else None)
    return m.group("host"), port, scheme


def networks_external(stack: Stack) -> bool:
    from scanner.parsers.yamlnodes import YMap, YScalar

    for doc in stack.compose_docs:
        nets = doc.top("networks")
        if isinstance(nets, YMap):
            for _, n in nets.pairs():
                if isinstance(n, YMap):
                    ext = n.get("external")
                    if ext is not None and not (isinstance(ext, YScalar) and ext.value is False):
                        return True
    return False


_networks_external = networks_external


class PassTarget:
    """One address a ``*_pass`` directive sends requests to."""

    pass_node: object  # the proxy_pass (grpc_pass, ...) directive
    node: object  # where the address is written: the pass itself or an upstream `server`
    host: str
    port: int | None
    service: object | None  # the compose service of that name, if any

    __match_args__ = ("pass_node", "node", "host", "port", "service")

    def __init__(self, pass_node, node, host, port, service):
        self.pass_node = pass_node
        self.node = node
        self.host = host
        self.port = port
        self.service = service


def pass_targets(stack: Stack, cfg) -> list[PassTarget]:
    """Every address a ``*_pass`` of ``cfg`` sends to, through ``upstream`` blocks."""
    return stack.memo(("pass_targets", id(cfg)), lambda: list(_pass_targets(stack, cfg)))


def _pass_targets(stack: Stack, cfg):
    names = host_names(stack)
    upstreams = {n.args[0]: n for n in cfg.nodes("upstream") if n.args}
    for node in cfg.nodes(*PASS_DIRECTIVES):
        if not node.args:
            continue
        host, port, _ = pass_target(node.args[0])
        if host is None:
            continue
        if host in upstreams:
            for srv in upstreams[host].children_named("server"):
                if not srv.args or srv.args[0].startswith("unix:"):
                    continue
                h, _, p = srv.args[0].rpartition(":") if re.search(r":\d+$", srv.args[0]) else (srv.args[0], "", "")
                yield PassTarget(node, srv, h, small_int(p) if small_int(p) is not None else 80, names.get(h))
            continue
        yield PassTarget(node, node, host, port, names.get(host))


def upstream_names(cfg) -> set[str]:
    return {n.args[0] for n in cfg.nodes("upstream") if n.args}

# Admin and monitoring ports whose service answers without a login unless configured to.
ADMIN_PORTS = {9090: "Prometheus", 8222: "NATS monitoring", 9001: "MinIO console", 9093: "Alertmanager"}


def unauthenticated_admin_reason(stack: Stack, svc, port: int) -> str | None:
    """Why the service accepts clients without credentials at ``port``; None when authenticated or
    unknown (unknown counts as authenticated)."""
    reason = unauthenticated_reason(stack, svc, port=port)
    if reason:
        return reason
    image = (svc.image or "").split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    if port == 9093 and "alertmanager" in image and "--web.config.file" not in svc.command_text():
        return "Alertmanager runs without --web.config.file: anyone may silence alerts"
    return None


def proxied_ports(stack: Stack) -> list[tuple[object, int]]:
    """(service, container port) pairs some nginx ``*_pass`` of the stack sends to (PER001 leaves
    these ports to PER003). Services are not hashable: callers key them by ``id``."""
    def compute():
        out, seen = [], set()
        for cfg in stack.nginx_configs:
            for t in pass_targets(stack, cfg):
                if t.service is not None and t.port is not None and (id(t.service), t.port) not in seen:
                    seen.add((id(t.service), t.port))
                    out.append((t.service, t.port))
        return out

    return stack.memo("proxied_ports", compute)


def admin_ui_port(stack: Stack, svc, port: int | None) -> bool:
    """The port is a login-less UI's (PER043 reports it; PER001, PER003 and PER041 leave it)."""
    ui = admin_ui(stack, svc)
    return ui is not None and port is not None and ui[1] == port


def admin_ui_proxied(stack: Stack):
    """(location, pass target, UI name, reason) for each nginx ``*_pass`` of a public server that
    reaches a login-less UI (``rules.helpers.services.admin_ui``) without auth or allow/deny (PER043)."""
    def compute():
        out = []
        for cfg in stack.nginx_configs:
            seen = set()
            for t in pass_targets(stack, cfg):
                if t.service is None or id(t.pass_node) in seen or not admin_ui_port(stack, t.service, t.port):
                    continue
                seen.add(id(t.pass_node))
                p = t.pass_node
                if protected(p):
                    continue
                server = next((a for a in p.ancestors() if a.name == "server"), None)
                if not server_public(server):
                    continue
                loc = p.parent
                while loc is not None and loc.name == "if":
                    loc = loc.parent
                name, _port, reason = admin_ui(stack, t.service)
                out.append((loc, t, name, reason))
        return out
    return stack.memo("per043_proxied", compute)


def admin_exposures(stack: Stack):
    return stack.memo("per041", lambda: list(_compute_admin(stack)))


def _compute_admin(stack: Stack):
    for cfg in stack.nginx_configs:
        seen = set()
        for t in pass_targets(stack, cfg):
            if t.service is None or t.port not in ADMIN_PORTS or admin_ui_port(stack, t.service, t.port):
                continue  # a login-less UI's port is PER043's
            p = t.pass_node
            if id(p) in seen:
                continue
            seen.add(id(p))
            loc = p.parent
            while loc is not None and loc.name == "if":
                loc = loc.parent
            if protected(p):
                continue
            server = next((a for a in p.ancestors() if a.name == "server"), None)
            if not server_public(server):
                continue
            reason = unauthenticated_admin_reason(stack, t.service, t.port)
            if not reason:
                continue
            yield loc, t, reason, ADMIN_PORTS[t.port]


# Ports the official images listen on, for services whose compose file says nothing.
IMAGE_PORTS = {
    "postgres": {5432}, "redis": {6379}, "minio": {9000, 9001}, "nats": {4222, 6222, 8222},
    "prometheus": {9090}, "gateway": {80, 443},
}


def enclosing_location(node):
    return enclosing(node, "location")


def proxied_locations(cfg):
    """Locations (and fragment roots acting as one) with a direct ``proxy_pass`` (also inside ``if``)."""
    seen = set()
    for node in cfg.nodes("proxy_pass"):
        loc = node.parent
        if loc is not None and loc.name == "if" and loc.parent is not None:
            loc = loc.parent
        if loc is None or id(loc) in seen:
            continue
        seen.add(id(loc))
        yield loc, node


def extra_hosts(stack: Stack) -> set[str]:
    from scanner.parsers.yamlnodes import YMap, YSeq

    out = set()
    for svc in stack.services:
        eh = svc.get("extra_hosts")
        if isinstance(eh, YSeq):
            out.update(str(x).split(":")[0].split("=")[0] for x in eh)
        elif isinstance(eh, YMap):
            out.update(eh)
    return out


def listening_ports(stack: Stack, svc) -> set[int] | None:
    """Ports a service listens on, or None when nothing says."""
    ports: set[int] = set(svc.expose)
    for p in svc.ports:
        ports.update(p.container_ports)
    df = stack.service_dockerfile(svc)
    if df is not None:
        for ins in getattr(df, "instructions", []) or []:
            if getattr(ins, "cmd", "") == "EXPOSE":
                for w in str(getattr(ins, "args", "")).split():
                    try:
                        ports.add(int(w.split("/")[0]))
                    except ValueError:
                        pass
    env = stack.service_env(svc)
    for key in ("PORT", "APP_PORT", "SERVER_PORT", "HTTP_PORT", "API_PORT", "LISTEN_PORT"):
        if key in env:
            try:
                ports.add(int(env[key][0]))
            except (ValueError, TypeError):
                pass
    for key, (value, _, _) in env.items():
        if key.endswith(("_BIND", "_ADDR", "_ADDRESS", "_LISTEN")) and isinstance(value, str) and ":" in value:
            try:
                ports.add(int(value.rsplit(":", 1)[1]))
            except ValueError:
                pass
    ports |= IMAGE_PORTS.get(svc.role, set())
    return ports or None


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


# Names that never reach a public resolver, by suffix or reserved top-level domain.
_RESERVED_TLDS = {"test", "example", "invalid", "localhost", "local", "onion", "arpa", "internal", "lan",
                  "home", "corp", "intranet", "private", "localdomain", "svc", "docker", "consul", "vault",
                  "nomad", "mesos", "novalocal", "openstacklocal", "cluster", "pod", "office", "dcos"}
_INTERNAL_SUFFIXES = (".cluster.local", ".svc.cluster.local", ".docker.internal", ".service.consul",
                      ".ec2.internal", ".compute.internal", ".internal.cloudapp.net", ".home.arpa")
# Service-like first labels: `api.prod`, `db.staging` are internal names, not domains.
_SERVICE_WORDS = {"localhost", "backend", "frontend", "api", "web", "app", "service", "database", "db", "redis",
                  "memcached", "cache", "queue", "worker", "nginx", "proxy", "gateway", "lb", "master",
                  "primary", "replica", "node", "server", "elasticsearch", "kibana", "grafana", "prometheus",
                  "kafka", "rabbitmq", "nats", "postgres", "postgresql", "mysql", "mariadb", "mongo", "mongodb",
                  "vault", "consul", "etcd", "minio", "storage", "auth", "admin", "static", "media"}
CLOUD_PATTERNS = (
    (r"\.elb\.amazonaws\.com$", "AWS ELB"), (r"\.elb\.[a-z0-9-]+\.amazonaws\.com$", "AWS ELB"),
    (r"\.cloudfront\.net$", "CloudFront"), (r"\.execute-api\.[a-z0-9-]+\.amazonaws\.com$", "AWS API Gateway"),
    (r"\.elasticbeanstalk\.com$", "Elastic Beanstalk"), (r"\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com$", "AWS S3"),
    (r"\.lambda-url\.[a-z0-9-]+\.on\.aws$", "AWS Lambda URL"), (r"\.awsglobalaccelerator\.com$", "AWS Global Accelerator"),
    (r"\.amplifyapp\.com$", "AWS Amplify"),
    (r"\.azurewebsites\.net$", "Azure App Service"), (r"\.azure-api\.net$", "Azure API Management"),
    (r"\.azureedge\.net$", "Azure CDN"), (r"\.azurefd\.net$", "Azure Front Door"),
    (r"\.trafficmanager\.net$", "Azure Traffic Manager"), (r"\.cloudapp\.azure\.com$", "Azure"),
    (r"\.blob\.core\.windows\.net$", "Azure Blob"), (r"\.azurestaticapps\.net$", "Azure Static Web Apps"),
    (r"\.run\.app$", "Cloud Run"), (r"\.appspot\.com$", "App Engine"), (r"\.cloudfunctions\.net$", "Cloud Functions"),
    (r"\.web\.app$", "Firebase"), (r"\.firebaseapp\.com$", "Firebase"),
    (r"\.workers\.dev$", "Cloudflare Workers"), (r"\.pages\.dev$", "Cloudflare Pages"),
    (r"\.herokuapp\.com$", "Heroku"), (r"\.vercel\.app$", "Vercel"), (r"\.netlify\.app$", "Netlify"),
    (r"\.onrender\.com$", "Render"), (r"\.fly\.dev$", "Fly.io"), (r"\.railway\.app$", "Railway"),
    (r"\.ondigitalocean\.app$", "DigitalOcean App Platform"), (r"\.fastly\.net$", "Fastly"),
    (r"\.fastlylb\.net$", "Fastly"), (r"\.akamaized\.net$", "Akamai"), (r"\.akamaihd\.net$", "Akamai"),
    (r"\.edgekey\.net$", "Akamai"), (r"\.b-cdn\.net$", "BunnyCDN"),
)


@functools.cache
def _cloud_res() -> list[tuple[re.Pattern, str]]:
    """CLOUD_PATTERNS compiled, once, when a public upstream host is first classified."""
    return [(re.compile(p, re.I), n) for p, n in CLOUD_PATTERNS]


def cloud_provider(host: str) -> str | None:
    for rx, name in _cloud_res():
        if rx.search(host.strip(".")):
            return name
    return None


def internal_name(stack: Stack, host: str) -> bool:
    """A name only an internal resolver answers (compose service, reserved TLD, cluster suffix)."""
    h = host.lower().strip(".").strip("[]")
    if not h or is_ip(h) or "." not in h:
        return True
    if h in host_names(stack) or h in extra_hosts(stack):
        return True
    if h.rsplit(".", 1)[-1] in _RESERVED_TLDS or h.endswith(_INTERNAL_SUFFIXES):
        return True
    parts = h.split(".")
    if len(parts) == 2 and parts[0] in _SERVICE_WORDS and parts[1].isalpha() and len(parts[1]) <= 12 \
            and parts[1] not in {"com", "net", "org", "io", "dev", "app", "ai", "co", "me", "info", "biz", "cloud", "xyz", "tech", "site", "online"}:
        return True
    return bool(re.match(r"^\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3}\.", h))

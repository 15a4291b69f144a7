"""Gateway: proxying, upstream targets, access control and the gixy-ng family of pitfalls.

Besides the rules, this module holds the nginx helpers the other nginx rule modules of this family
(``perimeter_nginx``, ``api_nginx``, ``operational_nginx``) import: where a directive argument is in
the text, where to insert a line, which compose service a ``proxy_pass`` reaches, what a variable
can contain (``set``, ``map``, regex captures) and what a validation regex lets through.
"""

from __future__ import annotations

import functools
import ipaddress
import posixpath
import re
import string
import weakref
from dataclasses import dataclass

from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

from ._util import LazyRe, nloc

PASS_DIRECTIVES = ("proxy_pass", "grpc_pass", "uwsgi_pass", "fastcgi_pass", "scgi_pass")

# Ports the official images listen on, for services whose compose file says nothing.
IMAGE_PORTS = {
    "postgres": {5432}, "redis": {6379}, "minio": {9000, 9001}, "nats": {4222, 6222, 8222},
    "prometheus": {9090}, "gateway": {80, 443},
}

# --------------------------------------------------------------------------------------------
# per-stack memo
# --------------------------------------------------------------------------------------------

_MEMO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def memo(stack, key, compute):
    """Compute something once per stack (the stack is weakly referenced)."""
    try:
        cache = _MEMO.setdefault(stack, {})
    except TypeError:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


# --------------------------------------------------------------------------------------------
# text positions of directives and arguments
# --------------------------------------------------------------------------------------------


def _doc(stack, path: str):
    sf = stack.files.get(path)
    return sf.doc if sf is not None and sf.doc is not None else None


def line_text(stack, path: str, line: int) -> str:
    doc = _doc(stack, path)
    return doc.line_text(line) if doc is not None else ""


def indent_of(stack, node) -> str:
    text = line_text(stack, node.path, node.line)
    return text[: len(text) - len(text.lstrip())]


def arg_spans(stack, node) -> list[Location] | None:
    """Locations of a directive's arguments as written (quotes included), or None when the text
    does not match the parsed directive (escapes, odd layouts)."""
    doc = _doc(stack, node.path)
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


def arg_loc(stack, node, idx: int) -> Location:
    spans = arg_spans(stack, node)
    if spans and 0 <= idx < len(spans):
        return spans[idx]
    return nloc(node)


def end_of_directive(stack, node) -> Location | None:
    """Position just after the ``;`` ending a simple directive."""
    doc = _doc(stack, node.path)
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


def insert_after(stack, node, lines: list[str]) -> Edit | None:
    """An insertion of ``lines`` (directives) after a simple directive, at its indentation."""
    at = end_of_directive(stack, node)
    if at is None:
        return None
    ind = indent_of(stack, node)
    return Edit(at, "".join("\n" + ind + t for t in lines))


def insert_in_block(stack, block, lines: list[str]) -> Edit | None:
    """An insertion of ``lines`` right after the ``{`` opening ``block`` (a server/location/http)."""
    doc = _doc(stack, block.path)
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


def directive_text(node) -> str:
    return " ".join([node.name, *node.args])


# --------------------------------------------------------------------------------------------
# structure of the effective configuration
# --------------------------------------------------------------------------------------------


def enclosing(node, *names: str):
    for a in node.ancestors():
        if a.name in names and a.d is not None:
            return a
    return None


def enclosing_location(node):
    return enclosing(node, "location")


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
    """``auth_basic`` (not off), ``auth_request`` (not off) or ``auth_jwt`` in force."""
    for name in ("auth_basic", "auth_request", "auth_jwt"):
        eff = node.effective(name)
        if eff is not None and eff.args and eff.args[0].lower() != "off":
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


def blocks_all(loc) -> bool:
    """A location that answers every request with an error, a redirect or nothing."""
    for c in loc.children:
        if c.name == "return":
            return True
        if c.name == "deny" and c.args[:1] == ["all"] and not any(x.name == "allow" for x in loc.children):
            return True
    return False


_LOOPBACK_LISTEN = re.compile(r"^(unix:|127\.|\[::1\]|localhost[:]?|::1)")


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


# --------------------------------------------------------------------------------------------
# regular expressions (PCRE as nginx uses it, read with Python's parser)
# --------------------------------------------------------------------------------------------

try:  # Python 3.11+
    import re._constants as _C
    import re._parser as _P
except ImportError:  # pragma: no cover
    import sre_constants as _C  # type: ignore
    import sre_parse as _P  # type: ignore

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
    except Exception:  # noqa: BLE001 - odd PCRE: unknown, never an error
        return None


def _fold(chars: frozenset, icase: bool) -> frozenset:
    if not icase:
        return chars
    return frozenset(chars | {c.swapcase() for c in chars if c.isalpha()}) & UNIVERSE | chars


def _item_chars(op, av, icase=False, dotall=False) -> frozenset | None:
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
        single = _item_chars(op, av, icase)
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
    single = _item_chars(op, av, icase)
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


@dataclass(repr=False, eq=False)
class Group:
    """A capturing group of a regex: what it can contain and what stands right before it."""

    index: int
    name: str | None
    items: list
    icase: bool
    before: tuple  # the item just before the group in its sequence, or ()

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
# origin / referer allow-lists: which hosts does a regex accept?
# --------------------------------------------------------------------------------------------

_MAX_PATHS = 96
_MULTI_SUFFIXES = {"co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.jp", "ne.jp",
                   "com.br", "com.tr", "co.nz", "co.za", "com.cn", "com.mx", "co.in", "com.ar", "com.ua",
                   "co.kr", "com.sg", "com.hk", "co.il", "com.pl", "com.ru"}


@dataclass(repr=False, eq=False, frozen=True)
class _Wild:
    """A regex unit that matches a set of characters (once, or repeated)."""

    chars: frozenset
    can_empty: bool
    single: bool = False  # one character (`.`, `[a-z]`), not a repetition


def _expand(items, icase) -> list[list]:
    """The pattern as alternative sequences of units: a char, '^', '$' or a _Wild."""
    paths: list[list] = [[]]
    for op, av in items:
        name = str(op)
        alts: list[list]
        single = _item_chars(op, av, icase)
        if name == "LITERAL":
            alts = [[chr(av).lower()]]
        elif name == "IN" and single is not None and len({c.lower() for c in single}) == 1 and all(str(s) == "LITERAL" for s, _ in av):
            alts = [[next(iter(single)).lower()]]
        elif single is not None:
            alts = [[_Wild(single, False, True)]]
        elif name == "AT":
            at = str(av)
            if at in ("AT_BEGINNING", "AT_BEGINNING_STRING"):
                alts = [["^"]]
            elif at in ("AT_END", "AT_END_STRING"):
                alts = [["$"]]
            else:
                alts = [[]]
        elif name == "SUBPATTERN":
            alts = _expand(av[-1], icase)
        elif name == "ATOMIC_GROUP":
            alts = _expand(av, icase)
        elif name == "BRANCH":
            alts = []
            for b in av[1]:
                alts.extend(_expand(b, icase))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            if hi == 1 and lo in (0, 1):
                inner = _expand(sub, icase)
                alts = ([[]] if lo == 0 else []) + inner
            elif hi != _C.MAXREPEAT and lo == hi and hi <= 3 and literal_alternatives(sub):
                inner = _expand(sub, icase)
                alts = [sum([i] * hi, []) for i in inner]
            else:
                alts = [[_Wild(chars_of(sub, icase), lo == 0)]]
        elif name in ("ASSERT", "ASSERT_NOT"):
            alts = [[]]
        else:
            alts = [[_Wild(UNIVERSE, True)]]
        new = []
        for p in paths:
            for a in alts:
                new.append(p + a)
                if len(new) >= _MAX_PATHS:
                    break
            if len(new) >= _MAX_PATHS:
                break
        paths = new
    return paths


def _host_flaw(host: list, referer: bool) -> str | None:
    """Why the host part (units between the scheme and its terminator) admits a foreign host."""
    wild_idx = [i for i, u in enumerate(host) if isinstance(u, _Wild)]
    if not wild_idx:
        return None if host else "the host part is empty"
    if referer:
        first_lit = next((i for i, u in enumerate(host) if isinstance(u, str)), len(host))
        for i in wild_idx:
            if i < first_lit and "/" in host[i].chars:
                return "a wildcard before the domain can contain `/`, so `https://evil.example/x.<domain>/` matches"
    last = wild_idx[-1]
    suffix = "".join(host[last + 1:])
    if not suffix:
        return "a wildcard ends the host, so `<domain>.evil.example` matches"
    if suffix.startswith("."):
        rest = suffix[1:]
    elif "." in suffix:
        rest = suffix.split(".", 1)[1]
    else:
        rest = ""
    labels = [x for x in rest.split(".")]
    if len(labels) < 2 or rest in _MULTI_SUFFIXES:
        if any(not isinstance(u, _Wild) for u in host[:last]) and host[last].single and host[last].chars == UNIVERSE - {"\n"}:
            return "an unescaped `.` in the domain matches any character, so a look-alike domain matches"
        return f"a wildcard right before `{suffix}` lets a foreign domain such as `evil{suffix}` match"
    return None


def origin_regex_flaw(regex: str, icase: bool, referer: bool) -> str | None:
    """Why an allow-list regex on ``$http_origin`` (or ``$http_referer``) accepts a foreign
    site, or None when it accepts only the hosts it names (or cannot be read)."""
    parsed = parse_regex(regex, icase)
    if parsed is None:
        return None
    for path in _expand(list(parsed), icase):
        reason = _path_flaw(path, referer)
        if reason:
            return reason
    return None


def _path_flaw(units: list, referer: bool) -> str | None:
    if not units or units[0] != "^":
        return "not anchored with `^`, so the trusted URL may appear anywhere in a foreign one"
    n = len(units)
    sep = None
    for j in range(1, n - 2):
        if units[j] == ":" and units[j + 1] == "/" and units[j + 2] == "/":
            sep = j
            break
    if sep is not None:
        if any(isinstance(u, _Wild) for u in units[1:sep]):
            return "a wildcard before the scheme lets any text precede `https://`"
        start = sep + 3
    else:
        start = 1
    # a wildcard that may be empty: judge both ways
    host: list = []
    term = None
    k = start
    while k < n:
        u = units[k]
        if u == "$" or u in ("/", ":", "?", "#"):
            term = u
            break
        if u == "^":
            return "a `^` inside the pattern"
        host.append(u)
        k += 1
    if term is None:
        return "nothing ends the host (no `$`, `/` or port after it), so `<domain>.evil.example` matches"
    if not referer and "$" not in units[k:]:
        return "no `$` at the end: an Origin is only scheme, host and port"
    variants = [host]
    for i, u in enumerate(host):
        if isinstance(u, _Wild) and u.can_empty:
            variants.append(host[:i] + host[i + 1:])
    for h in variants[:8]:
        reason = _host_flaw(h, referer)
        if reason:
            return reason
    return None


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


@dataclass(repr=False, eq=False)
class Taint:
    """What a value built from nginx variables may contain."""

    user: bool = False  # attacker-controlled content
    lf: bool = False  # can contain a line feed
    cr: bool = False  # can contain a carriage return
    slash_start: bool = False  # always starts with "/"

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
                self.sets.setdefault(_vname(n.args[0]), []).append(n)
            elif n.name == "map" and len(n.args) >= 2 and n.d is not None and n.d.block is not None:
                self.maps[_vname(n.args[1])] = n

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


def _vname(token: str) -> str:
    t = token.strip()
    if t.startswith("${") and t.endswith("}"):
        return t[2:-1]
    return t[1:] if t.startswith("$") else t


def scope_of(stack, cfg) -> VarScope:
    return memo(stack, ("varscope", id(cfg)), lambda: VarScope(cfg))


def active_regexes(node) -> list[tuple[str, bool, str]]:
    """Regexes whose captures ``$1``.. and named groups are in force at ``node``, nearest first:
    (regex, case-insensitive, source) with source 'uri' (decoded) or the tested variable."""
    out = []
    for lvl in levels(node):
        if lvl.name == "if" and lvl.d is not None and len(lvl.args) >= 3 and lvl.args[1] in ("~", "~*"):
            out.append((lvl.args[2], lvl.args[1] == "~*", _vname(lvl.args[0])))
        elif lvl.name == "location" and lvl.d is not None:
            mod, path = location_modifier(lvl)
            if mod in ("~", "~*"):
                out.append((path, mod == "~*", "uri"))
    return out


def capture_taint(regex: str, icase: bool, source: str, ref: str) -> Taint | None:
    groups = regex_groups(regex, icase)
    if groups is None:
        return None
    key = int(ref) if ref.isdigit() else ref
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


def var_taint(stack, cfg, name: str, at, depth: int = 0, rewrite=None) -> Taint:
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


def value_taint(stack, cfg, value: str, at, depth: int = 0, rewrite=None) -> Taint:
    out = Taint()
    for kind, text in value_segments(value):
        if kind == "var":
            out = out | var_taint(stack, cfg, text, at, depth, rewrite)
    return out


def map_taint(stack, cfg, mapnode, depth: int) -> Taint:
    key = ("maptaint", id(mapnode))
    return memo(stack, key, lambda: _map_taint(stack, cfg, mapnode, depth))


def _map_taint(stack, cfg, mapnode, depth) -> Taint:
    out = Taint()
    source = _vname(mapnode.args[0]) if mapnode.args else ""
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
    m = re.match(r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^/:$?#]+)(?::(?P<port>\d+))?(?P<rest>.*)$", url, re.I)
    if not m or (m.group("rest") and m.group("rest")[0] not in "/?#" and not m.group("rest").startswith("$")):
        return None, None, ""
    if "$" in url.split("/")[2 if "://" in url else 0]:
        return None, None, ""
    scheme = (m.group("scheme") or "").lower()
    port = int(m.group("port")) if m.group("port") else ({"https": 443, "grpcs": 443}.get(scheme, 80) if scheme else None)
    return m.group("host"), port, scheme


_pass_target = pass_target  # older name


def service_names(stack) -> dict[str, object]:
    return memo(stack, "service_names", lambda: _service_names(stack))


def _service_names(stack) -> dict[str, object]:
    from scanner.parsers.yamlnodes import YMap, YSeq

    names: dict[str, object] = {}
    for svc in stack.services:
        names.setdefault(svc.name, svc)
    for svc in stack.services:
        for key in ("container_name", "hostname"):
            v = svc.str(key)
            if v:
                names.setdefault(v, svc)
        nets = svc.get("networks")
        if isinstance(nets, YMap):
            for _, net in nets.pairs():
                if isinstance(net, YMap) and isinstance(net.get("aliases"), YSeq):
                    for a in net.get("aliases"):
                        names.setdefault(str(a), svc)
        links = svc.get("links")
        if isinstance(links, YSeq):
            for link in links:
                alias = str(link).split(":")[-1]
                target = stack.service(str(link).split(":")[0])
                if target is not None:
                    names.setdefault(alias, target)
    return names


def extra_hosts(stack) -> set[str]:
    from scanner.parsers.yamlnodes import YMap, YSeq

    out = set()
    for svc in stack.services:
        eh = svc.get("extra_hosts")
        if isinstance(eh, YSeq):
            out.update(str(x).split(":")[0].split("=")[0] for x in eh)
        elif isinstance(eh, YMap):
            out.update(eh)
    return out


def listening_ports(stack, svc) -> set[int] | None:
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


def networks_external(stack) -> bool:
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


@dataclass(repr=False, eq=False)
class PassTarget:
    """One address a ``*_pass`` directive sends requests to."""

    pass_node: object  # the proxy_pass (grpc_pass, ...) directive
    node: object  # where the address is written: the pass itself or an upstream `server`
    host: str
    port: int | None
    service: object | None  # the compose service of that name, if any


def pass_targets(stack, cfg) -> list[PassTarget]:
    """Every address a ``*_pass`` of ``cfg`` sends to, through ``upstream`` blocks."""
    return memo(stack, ("pass_targets", id(cfg)), lambda: list(_pass_targets(stack, cfg)))


def _pass_targets(stack, cfg):
    names = service_names(stack)
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
                yield PassTarget(node, srv, h, int(p) if p.isdigit() else 80, names.get(h))
            continue
        yield PassTarget(node, node, host, port, names.get(host))


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


def internal_name(stack, host: str) -> bool:
    """A name only an internal resolver answers (compose service, reserved TLD, cluster suffix)."""
    h = host.lower().strip(".").strip("[]")
    if not h or is_ip(h) or "." not in h:
        return True
    if h in service_names(stack) or h in extra_hosts(stack):
        return True
    if h.rsplit(".", 1)[-1] in _RESERVED_TLDS or h.endswith(_INTERNAL_SUFFIXES):
        return True
    parts = h.split(".")
    if len(parts) == 2 and parts[0] in _SERVICE_WORDS and parts[1].isalpha() and len(parts[1]) <= 12 \
            and parts[1] not in {"com", "net", "org", "io", "dev", "app", "ai", "co", "me", "info", "biz", "cloud", "xyz", "tech", "site", "online"}:
        return True
    return bool(re.match(r"^\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3}\.", h))


def upstream_names(cfg) -> set[str]:
    return {n.args[0] for n in cfg.nodes("upstream") if n.args}


# --------------------------------------------------------------------------------------------
# GW060-GW071: proxying
# --------------------------------------------------------------------------------------------


def _minio_location(stack, node) -> bool:
    """A location (or server) proxying to MinIO, whose S3 signatures cover host:port."""
    loc = enclosing_location(node) or node.parent
    scope = loc if loc is not None else node
    passes = [c for c in scope.walk() if c.name in PASS_DIRECTIVES and c.args]
    names = service_names(stack)
    for p in passes:
        host, _, _ = pass_target(p.args[0])
        if host is None:
            continue
        svc = names.get(host)
        if (svc is not None and svc.role == "minio") or "minio" in host.lower() or "s3" == host.lower():
            return True
    return False


_SPOOF_VAR = re.compile(r"\$\{?(http_\w+|arg_\w+)\}?")


@rule("GW060", "host-header-spoofable", "medium", files="nginx",
      refs="CWE-20; gixy host_spoofing; sg request-host-used", fix="safe")
def host_header_spoofable(stack):
    """The upstream `Host` header (or a redirect) is taken from the client's raw `Host` header.

    ## What it does
    Flags `proxy_set_header Host` whose value uses `$http_host` (or another `$http_*` header or a
    `$arg_*` query argument), and `return`/`rewrite` redirects built on `$http_host`. Locations
    proxying to MinIO are exempt: S3 signatures cover the `host:port` the client used.

    ## Why is this bad?
    `$http_host` is whatever the client sent, unchecked: it may name another site or carry a port.
    The application then builds password-reset links, absolute redirects and cache keys from it
    (host header injection, cache poisoning). `$host` is the server name nginx matched, normalised
    and lower-cased (or the validated request host).

    ## Example
    ```nginx
    proxy_set_header Host $http_host;
    ```

    ## Use instead
    ```nginx
    proxy_set_header Host $host;
    ```

    ## Fix safety
    Safe: `$host` carries the same name without the client's port and spelling.

    ## References
    CWE-20; gixy-ng host_spoofing; semgrep request-host-used.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("proxy_set_header", "return", "rewrite"):
            if node.name == "proxy_set_header":
                if len(node.args) < 2 or node.args[0].lower() != "host":
                    continue
                value, idx = node.args[1], 1
                found = _SPOOF_VAR.findall(value)
            else:
                if not node.args:
                    continue
                idx = len(node.args) - 1 if node.name == "return" else (1 if len(node.args) > 1 else 0)
                value = node.args[idx]
                found = [v for v in _SPOOF_VAR.findall(value) if v == "http_host"]
            if not found:
                continue
            if _minio_location(stack, node):
                continue
            var = found[0]
            edits = []
            span = arg_loc(stack, node, idx)
            if var == "http_host" and span.end_col is not None:
                text = line_text(stack, span.path, span.start_line)[span.start_col - 1: span.end_col - 1]
                for m in re.finditer(r"\$\{?http_host\}?(?!\w)", text):
                    start = span.start_col + m.start()
                    edits.append(Edit(Location(span.path, span.start_line, start, span.start_line, start + len(m.group(0))), "$host"))
            what = "the upstream Host header" if node.name == "proxy_set_header" else "the redirect target"
            yield hit(span, f"`{directive_text(node)}`: {what} comes from the client's `${var}`, unchecked (host header injection); use `$host`",
                      fix=fix_of("use `$host`", edits), snippet_key=f"{node.name}:{node.args[0] if node.args else ''}:{var}")


def _url_flaw(stack, cfg, node, url: str) -> str | None:
    """Why the scheme or host of a ``*_pass`` URL comes from the request, or None."""
    # expand `set` variables holding the whole URL (or its start) so the host part is visible
    scope = scope_of(stack, cfg)
    for _ in range(4):
        m = re.match(r"^\$\{?(\w+)\}?", url)
        if not m or m.group(1) not in scope.sets:
            break
        defs = scope.set_values(m.group(1), node)
        if len(defs) != 1:
            break
        url = defs[0].args[1] + url[m.end():]
    segs = value_segments(url)
    text_so_far = ""
    part = "scheme"
    if "://" not in "".join(t for k, t in segs if k == "lit"):
        part = "host"  # `proxy_pass $target`: the variable holds scheme and host
    for kind, text in segs:
        if kind == "lit":
            text_so_far += text
            if part == "scheme" and "://" in text:
                part = "host"
                text = text.split("://", 1)[1]
            if part == "host" and re.search(r"[/?#]", text):
                return None
            continue
        t = var_taint(stack, cfg, text, node)
        if part == "host" and t.slash_start:
            return None
        if t.user:
            return f"the {part} comes from `${text}`, which the client controls"
        if text == "host" and part == "host" and text not in scope.sets and catch_all_server(enclosing(node, "server")):
            return "the host comes from `$host`, which in a catch-all server is whatever Host the client sent"
    return None


def catch_all_server(server) -> bool:
    """A server answering any Host: no ``server_name``, ``_``/``""``, a bare ``*``/regex catch-all,
    or ``default_server``."""
    if server is None:
        return False
    names = [a for c in server.children if c.name == "server_name" for a in c.args]
    if not names or any(n in ("_", '""', "", "~.*", "~^.*$", "*") for n in names):
        return True
    return any("default_server" in c.args or "default" in c.args for c in server.children if c.name == "listen")


@rule("GW061", "ssrf-dynamic-upstream", "high", files="nginx", refs="CWE-918; gixy ssrf; sg dynamic-proxy-host")
def ssrf_dynamic_upstream(stack):
    """nginx proxies to a scheme or host taken from the request (SSRF).

    ## What it does
    Follows the variables of every `proxy_pass` (and `grpc_pass`, `fastcgi_pass`, ...) through
    `set`, `map` and regex captures, and flags one whose scheme or host can come from request data:
    `$arg_*`, `$http_*`, `$cookie_*`, `$args`, a capture of the URI, or `$host` in a catch-all
    server (no `server_name`, `_`, or `default_server`: an open proxy). `$uri` and `$request_uri`
    always start with `/`, so they end the host; captures of a fixed alternation such as
    `(app1|app2)` are not attacker-chosen; `internal` locations are exempt.

    ## Why is this bad?
    The client picks where the gateway connects: cloud metadata (`169.254.169.254`), the database,
    the admin ports of every container on the compose network — with the gateway's network position.

    ## Example
    ```nginx
    location ~ ^/proxy/(?<target>.*) { proxy_pass http://$target; }
    ```

    ## Use instead
    Name the upstreams; map a fixed set of keys to them:
    ```nginx
    map $arg_svc $svc_backend { default backend:8000; reports reports:8000; }
    ```

    ## Fix safety
    Manual: the intended destinations are yours to list.

    ## References
    CWE-918; gixy-ng ssrf; semgrep dynamic-proxy-host.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes(*PASS_DIRECTIVES):
            if not node.args or "$" not in node.args[0] or is_internal(node):
                continue
            why = _url_flaw(stack, cfg, node, node.args[0])
            if why:
                yield hit(arg_loc(stack, node, 0), f"`{directive_text(node)}`: {why} (server-side request forgery)",
                          snippet_key=f"{node.name}:{node.args[0]}")


def _split_targets(node) -> list[tuple[int, bool]]:
    """Arguments of ``node`` that reach a response or request head: (index, CR counts)."""
    name, args = node.name, node.args
    if name == "add_header" and len(args) >= 2:
        return [(i, True) for i in range(1, len(args)) if not (i == len(args) - 1 and args[i] == "always" and i > 1)]
    if name in ("proxy_set_header", "grpc_set_header") and len(args) >= 2:
        return [(1, False)]
    if name == "return" and args:
        if len(args) >= 2 and args[0] in ("301", "302", "303", "307", "308"):
            return [(1, True)]
        if len(args) == 1 and not args[0].isdigit():
            return [(0, True)]
        return []
    if name == "rewrite" and len(args) >= 2:
        return [(1, True)]
    if name in PASS_DIRECTIVES and args:
        return [(0, False)]
    return []


@rule("GW062", "http-splitting", "high", files="nginx", refs="CWE-113; gixy http_splitting; sg header-injection")
def http_splitting(stack):
    """A line break from the request can reach a header or the upstream request line.

    ## What it does
    Flags a variable that can hold a line feed — the decoded `$uri` and `$document_uri`, or a regex
    capture of them whose class admits `\\n` (`[^/]`, `\\W`, `\\s`) — in `add_header`,
    `proxy_set_header`, a `return`/`rewrite` redirect target or `proxy_pass`; and a capture that can
    hold a carriage return only (`(.+)`: `.` excludes `\\n`) in `add_header`, `return` or `rewrite`.
    Variables followed through `set` and `map`. `$request_uri` and `$args` are not decoded, and
    nginx escapes a `rewrite`'s own captures in its replacement.

    ## Why is this bad?
    `/%0d%0aSet-Cookie:%20session=attacker` becomes a header of the response (or of the request to
    the app): session fixation, cache poisoning, cross-site scripting, request smuggling.

    ## Example
    ```nginx
    location ~ /files/([^/]+)/ { proxy_pass http://storage/$1; }
    ```

    ## Use instead
    ```nginx
    location ~ /files/([^/\\r\\n]+)/ { proxy_pass http://storage/$1; }   # or $request_uri
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-113; gixy-ng http_splitting; semgrep header-injection.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("add_header", "proxy_set_header", "grpc_set_header", "return", "rewrite", *PASS_DIRECTIVES):
            targets = _split_targets(node)
            if not targets or "$" not in "".join(node.args):
                continue
            rewrite = None
            if node.name == "rewrite" and node.args:
                rewrite = (node.args[0], False, "uri")
            for idx, cr_counts in targets:
                value = node.args[idx]
                if "$" not in value:
                    continue
                for kind, var in value_segments(value):
                    if kind != "var":
                        continue
                    t = var_taint(stack, cfg, var, node, rewrite=rewrite)
                    if t.lf or (cr_counts and t.cr):
                        brk = "a line feed" if t.lf else "a carriage return"
                        yield hit(arg_loc(stack, node, idx),
                                  f"`{directive_text(node)}`: `${var}` can hold {brk} decoded from the request (HTTP response splitting)",
                                  snippet_key=f"{node.name}:{value}")
                        break
                else:
                    continue
                break


def _resolver_in_scope(node) -> bool:
    return node.effective("resolver") is not None


@rule("GW064", "missing-resolver", "medium", files="nginx+compose", refs="gixy missing_resolver", fix="safe")
def missing_resolver(stack):
    """A public host name is resolved once at startup, or a variable upstream has no resolver.

    ## What it does
    Flags a `*_pass` (or an `upstream` `server` without `resolve`) whose host has a dot and is no
    compose service or alias, IP address or internal name (`.internal`, `.local`, `.svc.cluster.local`,
    `.consul`, reserved TLDs, `api.prod`-style names); and a `*_pass` with variables whose host is no
    `upstream` and no IP while no `resolver` is in scope. Cloud load balancers and CDNs are GW065;
    unknown single-label hosts are GW067.

    ## Why is this bad?
    nginx resolves a literal host once, when it starts, and keeps that address until a reload: when
    the provider moves the name, traffic goes to a stale (possibly someone else's) address. A URL
    with variables is resolved per request, and without `resolver` every request fails with 502
    (`no resolver defined to resolve ...`).

    ## Example
    ```nginx
    location / { proxy_pass https://api.partner.example.com; }
    ```

    ## Use instead
    ```nginx
    resolver 127.0.0.11 valid=30s;
    set $partner https://api.partner.example.com;
    location / { proxy_pass $partner; }
    ```

    ## Fix safety
    Safe for the variable case (adds Docker's embedded resolver); manual for literal hosts.

    ## References
    gixy-ng missing_resolver; nginx `resolver` and `proxy_pass` documentation.
    """
    yield from _resolver_findings(stack, cloud=False)


@rule("GW065", "missing-resolver-cloud", "high", files="nginx", refs="gixy missing_resolver")
def missing_resolver_cloud(stack):
    """A cloud load balancer or CDN name is resolved only once, at startup.

    ## What it does
    The GW064 check for hosts of cloud load balancers, CDNs and platforms whose addresses rotate
    (`*.elb.amazonaws.com`, `*.cloudfront.net`, `*.azurewebsites.net`, `*.run.app`, Heroku,
    Cloudflare Workers, ...) in a `*_pass` or an `upstream` `server` without `resolve`.

    ## Why is this bad?
    These names change address within hours; nginx keeps the address it resolved at startup, so
    traffic soon goes to an address the provider has given to another customer.

    ## Example
    ```nginx
    proxy_pass https://my-app-123.us-east-1.elb.amazonaws.com;
    ```

    ## Use instead
    ```nginx
    resolver 127.0.0.11 valid=10s;
    set $lb https://my-app-123.us-east-1.elb.amazonaws.com;
    proxy_pass $lb;
    ```

    ## Fix safety
    Manual.

    ## References
    gixy-ng missing_resolver.
    """
    yield from _resolver_findings(stack, cloud=True)


def _resolver_findings(stack, cloud: bool):
    for cfg in stack.nginx_configs:
        ups = {n.args[0]: n for n in cfg.nodes("upstream") if n.args}
        for node in cfg.nodes(*PASS_DIRECTIVES):
            if not node.args:
                continue
            url = node.args[0]
            if url.startswith("unix:") or "://unix:" in url:
                continue
            if "$" in url:
                if cloud:
                    continue
                host = _resolved_host(stack, cfg, node, url)
                if host is None or host in ups or is_ip(host) or _resolver_in_scope(node) or _map_of_upstreams(stack, cfg, host, ups):
                    continue
                edits = []
                anchor = cfg.http if cfg.http.d is not None else None
                if anchor is not None:
                    edits.append(insert_in_block(stack, anchor, ["resolver 127.0.0.11 valid=30s;"]))
                yield hit(arg_loc(stack, node, 0),
                          f"`{directive_text(node)}`: a URL with variables is resolved per request, and no `resolver` is in scope (every request fails with 502)",
                          fix=fix_of("add Docker's embedded resolver", edits), snippet_key=f"novar-resolver:{url}")
                continue
            host, _, _ = pass_target(url)
            if host is None or host in ups:
                continue
            yield from _judge_static(stack, node, host, cloud)
        for up in ups.values():
            for srv in up.children_named("server"):
                if not srv.args or "resolve" in srv.args[1:] or srv.args[0].startswith("unix:"):
                    continue
                h = re.sub(r":\d+$", "", srv.args[0])
                yield from _judge_static(stack, srv, h, cloud)


def _judge_static(stack, node, host: str, cloud: bool):
    if is_ip(host) or "." not in host:
        return
    provider = cloud_provider(host)
    if cloud:
        if provider:
            yield hit(arg_loc(stack, node, 0), f"`{directive_text(node)}`: {provider} name '{host}' is resolved once at startup; its addresses rotate",
                      snippet_key=f"{node.name}:{host}")
        return
    if provider or internal_name(stack, host):
        return
    how = "add `resolve` (nginx ≥ 1.27.3) and a `resolver`" if node.name == "server" else "use a variable with a `resolver`"
    yield hit(arg_loc(stack, node, 0), f"`{directive_text(node)}`: '{host}' is resolved once at startup and never again; {how}",
              snippet_key=f"{node.name}:{host}")


def _map_of_upstreams(stack, cfg, host: str, ups) -> bool:
    """``$var`` is a ``map`` whose every value names an ``upstream`` block or is an IP address
    (nginx then needs no resolver)."""
    m = VAR_RE.fullmatch(host)
    if not m:
        return False
    mapnode = scope_of(stack, cfg).maps.get(m.group(1) or m.group(2))
    if mapnode is None:
        return False
    values = [e.args[-1].strip("\"'") for e in mapnode.children if e.args and e.name not in ("hostnames", "volatile", "include")]
    return bool(values) and all(v in ups or is_ip(re.sub(r":\d+$", "", v)) for v in values)


def _resolved_host(stack, cfg, node, url: str) -> str | None:
    """The host part of a URL with variables, after expanding ``set`` constants (a host that stays
    a variable is returned as written: it needs a resolver unless it names an ``upstream``)."""
    scope = scope_of(stack, cfg)
    for _ in range(4):
        m = VAR_RE.search(url)
        if not m:
            break
        name = m.group(1) or m.group(2)
        defs = scope.set_values(name, node) if name in scope.sets else []
        if len(defs) != 1:
            break
        url = url[:m.start()] + defs[0].args[1] + url[m.end():]
    rest = url.split("://", 1)[1] if "://" in url else url
    host = re.sub(r":\d+$", "", re.split(r"[/?#]", rest, 1)[0])
    return host or None


@rule("GW066", "resolver-external", "high", files="nginx", refs="CWE-345; gixy resolver_external", fix="unsafe")
def resolver_external(stack):
    """nginx asks a public DNS server for names.

    ## What it does
    Flags a `resolver` with a public address (anything but loopback, RFC 1918 and other private
    ranges, link-local, and Docker's embedded `127.0.0.11`), or a public host name.

    ## Why is this bad?
    nginx's resolver does not validate DNSSEC and uses a predictable transport: answers from a
    distant public server can be spoofed on the path (CVE-2021-23017 made one exploitable). It also
    cannot answer compose service names, so dynamic upstreams on the compose network fail.

    ## Example
    ```nginx
    resolver 8.8.8.8 1.1.1.1 valid=300s;
    ```

    ## Use instead
    ```nginx
    resolver 127.0.0.11 valid=30s;   # Docker's embedded DNS (it forwards external names)
    ```

    ## Fix safety
    Unsafe: outside Docker the local resolver may be another address.

    ## References
    CWE-345; gixy-ng resolver_external.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("resolver"):
            addrs = [(i, a) for i, a in enumerate(node.args) if "=" not in a]
            public = []
            for i, a in addrs:
                host = a
                if host.startswith("["):
                    host = host[1:].split("]", 1)[0]
                elif host.count(":") == 1:
                    host = host.split(":", 1)[0]
                try:
                    ip = ipaddress.ip_address(host)
                except ValueError:
                    if "." in host and not internal_name(stack, host):
                        public.append(a)
                    continue
                if ip.is_global and str(ip) != "127.0.0.11":
                    public.append(a)
            if not public:
                continue
            spans = arg_spans(stack, node)
            edits = []
            if spans and addrs and len(spans) == len(node.args):
                first, last = spans[addrs[0][0]], spans[addrs[-1][0]]
                if first.start_line == last.start_line:
                    edits.append(Edit(Location(node.path, first.start_line, first.start_col, last.start_line, last.end_col), "127.0.0.11"))
            yield hit(nloc(node), f"`{directive_text(node)}`: public DNS server {', '.join(public)} answers nginx's unvalidated queries (spoofable); use a local resolver",
                      fix=fix_of("use Docker's embedded resolver 127.0.0.11", edits, "unsafe"), snippet_key=f"resolver:{' '.join(public)}")


@rule("GW067", "upstream-target-mismatch", "high", files="nginx+compose", fix="unsafe")
def upstream_target_mismatch(stack):
    """nginx proxies to a host or port that no compose service provides.

    ## What it does
    Follows every `proxy_pass` (and `grpc_pass`, `uwsgi_pass`, ...) and every `server` of the
    `upstream` blocks they use. A single-label host must be a compose service, `container_name`,
    `hostname`, network alias or `extra_hosts` entry; its port must be one the service listens on
    (`expose`, `ports`, the image's `EXPOSE`, a `PORT` variable, or the official image's port).
    Silent when the stack has no compose file, when a network is `external` (other projects may
    provide the name), and when nothing says which ports a service listens on.

    ## Why is this bad?
    nginx resolves upstream names when it starts: an unknown name stops it (`host not found in
    upstream`), and a wrong port answers every request with 502. Both pass review because each file
    looks right on its own.

    ## Example
    ```nginx
    upstream backend { server backend:8000; }   # compose: backend listens on 8080
    ```

    ## Use instead
    ```nginx
    upstream backend { server backend:8080; }
    ```

    ## Fix safety
    Unsafe: dkscan cannot know whether the config or the service is wrong.

    ## References
    nginx upstream module documentation; Compose networking.
    """
    if not stack.services:
        return
    names = service_names(stack)
    known_hosts = set(names) | extra_hosts(stack)
    external = networks_external(stack)
    for cfg in stack.nginx_configs:
        seen = set()
        for t in pass_targets(stack, cfg):
            if id(t.node) in seen:
                continue
            seen.add(id(t.node))
            yield from _check_target(stack, names, known_hosts, external, t.node, t.host, t.port)


def _check_target(stack, names, known_hosts, external, node, host, port):
    if "." in host or host in ("localhost",) or is_ip(host):
        return
    svc = names.get(host)
    if svc is None:
        if host in known_hosts or external:
            return
        yield hit(arg_loc(stack, node, 0), f"`{directive_text(node)}`: no compose service, container_name, alias or extra_hosts entry is named '{host}' (nginx will refuse to start: host not found in upstream)",
                  snippet_key=f"{node.name}:{host}")
        return
    if port is None:
        return
    ports = listening_ports(stack, svc)
    if ports is None or port in ports:
        return
    fix = None
    if len(ports) == 1:
        span = arg_loc(stack, node, 0)
        text = line_text(stack, span.path, span.start_line)
        m = re.search(re.escape(f"{host}:{port}") + r"(?!\d)", text[span.start_col - 1:] if span.end_col else text)
        if m and span.end_col:
            start = span.start_col + m.start() + len(host) + 1
            fix = fix_of(f"use port {next(iter(ports))}", [Edit(Location(span.path, span.start_line, start, span.start_line, start + len(str(port))), str(next(iter(ports))))], "unsafe")
    yield hit(arg_loc(stack, node, 0), f"`{directive_text(node)}`: service '{svc.name}' listens on {', '.join(str(p) for p in sorted(ports))}, not {port} (every request will get 502)",
              fix=fix, related=[Location(svc.doc.path, svc.key.line, svc.key.col)], snippet_key=f"{node.name}:{host}:{port}")


def _headers(level_nodes) -> dict[str, object]:
    return {n.args[0].lower(): n for n in level_nodes if n.name == "proxy_set_header" and len(n.args) >= 2}


def _header_level(loc):
    """The level whose ``proxy_set_header`` list applies at ``loc`` (None: no level has one)."""
    for lvl in levels(loc):
        if (lvl.child("proxy_set_header") is not None):
            return lvl
    return None


_NOT_PROXY_INCLUDES = ("mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "koi-utf", "koi-win", "win-utf")


def _unresolved_include_in_scope(loc, upto) -> bool:
    """An include dkscan could not read, at a level between ``loc`` and ``upto`` (the level whose
    ``proxy_set_header`` list applies), may add to that list."""
    for lvl in levels(loc):
        for c in lvl.children_named("include"):
            if c.args and not c.args[0].endswith(_NOT_PROXY_INCLUDES) and include_unresolved(c):
                return True
        if lvl is upto:
            break
    return False


@rule("GW068", "forwarded-headers-missing", "low", files="nginx", fix="safe")
def forwarded_headers_missing(stack):
    """A proxied location does not tell the app the client's address and scheme.

    ## What it does
    Flags a location with `proxy_pass` whose effective `proxy_set_header` list (nginx inherits the
    list only when a level sets none) has neither `X-Real-IP $remote_addr` nor `X-Forwarded-For`,
    or has no `X-Forwarded-Proto`. Silent when an `include` that dkscan could not read (such as
    Debian's `proxy_params`) may set them.

    ## Why is this bad?
    Without them the app sees the gateway's address for every client (rate limits, audit logs and
    lockouts all collapse onto one IP), and a client-sent `X-Forwarded-For` reaches it unchanged;
    without `X-Forwarded-Proto` it builds `http://` links and insecure-cookie decisions behind TLS.

    ## Example
    ```nginx
    location /api/ { proxy_pass http://backend:8000; }
    ```

    ## Use instead
    ```nginx
    location /api/ {
        proxy_pass http://backend:8000;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
    ```

    ## Fix safety
    Safe: the headers are added where the effective list is defined, so no inherited header is lost.

    ## References
    nginx proxy module documentation.
    """
    for cfg in stack.nginx_configs:
        fixed_levels = set()
        for loc, pnode in proxied_locations(cfg):
            level = _header_level(loc)
            if _unresolved_include_in_scope(loc, level):
                continue
            hdrs = _headers(level.children) if level is not None else {}
            missing = []
            real_ip = hdrs.get("x-real-ip")
            if "x-forwarded-for" not in hdrs and not (real_ip is not None and "$remote_addr" in real_ip.args[1]):
                missing.append("proxy_set_header X-Real-IP $remote_addr;")
                missing.append("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
            if "x-forwarded-proto" not in hdrs:
                missing.append("proxy_set_header X-Forwarded-Proto $scheme;")
            if not missing:
                continue
            fix = None
            target = level if level is not None else loc
            if id(target) not in fixed_levels:
                fixed_levels.add(id(target))
                if level is not None:
                    last = level.children_named("proxy_set_header")[-1]
                    fix = fix_of("add the forwarding headers", [insert_after(stack, last, missing)])
                else:
                    fix = fix_of("add the forwarding headers", [insert_after(stack, pnode, missing)])
            names = sorted({m.split()[1] for m in missing})
            anchor = loc if loc.d is not None else pnode
            yield hit(nloc(anchor), f"proxied location `{directive_text(anchor)}` does not set {', '.join(names)}: the app sees the gateway's address or scheme, or the client's forged header",
                      fix=fix, snippet_key=f"fwd:{directive_text(anchor)}:{','.join(names)}")


@rule("GW069", "websocket-upgrade-incomplete", "low", files="nginx", refs="nginx WebSocket docs", fix="safe")
def websocket_upgrade_incomplete(stack):
    """A WebSocket upgrade is forwarded without HTTP/1.1 or the `Connection` header.

    ## What it does
    Flags a proxied location whose effective headers forward `Upgrade $http_upgrade` while the
    effective `proxy_http_version` is not `1.1`, or no `Connection` header carries the upgrade.

    ## Why is this bad?
    `Upgrade` and `Connection` are hop-by-hop headers and nginx talks HTTP/1.0 to upstreams by
    default: the handshake never reaches the app, and WebSocket clients fail (or fall back to
    long polling) with no error at the gateway.

    ## Example
    ```nginx
    location /ws { proxy_pass http://backend:8000; proxy_set_header Upgrade $http_upgrade; }
    ```

    ## Use instead
    ```nginx
    location /ws {
        proxy_pass http://backend:8000;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;   # map $http_upgrade $connection_upgrade
    }
    ```

    ## Fix safety
    Safe.

    ## References
    nginx "WebSocket proxying" documentation.
    """
    for cfg in stack.nginx_configs:
        has_map = any(n.args[1:2] == ["$connection_upgrade"] for n in cfg.nodes("map") if len(n.args) >= 2)
        fixed = set()
        for loc, pnode in proxied_locations(cfg):
            level = _header_level(loc)
            if level is None:
                continue
            hdrs = _headers(level.children)
            up = hdrs.get("upgrade")
            if up is None or "$http_upgrade" not in up.args[1]:
                continue
            ver = loc.effective("proxy_http_version")
            conn = hdrs.get("connection")
            missing = []
            if ver is None or ver.args[:1] != ["1.1"]:
                missing.append("proxy_http_version 1.1;")
            conn_value = "$connection_upgrade" if has_map else '"upgrade"'
            if conn is None or conn.args[1].strip('"').lower() in ("", "close", "keep-alive"):
                missing.append(f"proxy_set_header Connection {conn_value};")
            if not missing:
                continue
            fix = None
            if id(up) not in fixed:
                fixed.add(id(up))
                lines = [m for m in missing if not (m.startswith("proxy_http_version") and ver is not None)
                         and not (m.startswith("proxy_set_header Connection") and conn is not None)]
                edits = [insert_after(stack, up, lines)] if lines else []
                for node, new in ((ver, "1.1"), (conn, conn_value)):
                    if node is not None and any(m.startswith(node.name) and (node.name != "proxy_set_header" or "Connection" in m) for m in missing):
                        span = arg_loc(stack, node, len(node.args) - 1)
                        if span.end_col:
                            edits.append(Edit(span, new))
                fix = fix_of("complete the WebSocket upgrade", edits)
            anchor = loc if loc.d is not None else pnode
            what = " and ".join(("`proxy_http_version 1.1`" if m.startswith("proxy_http") else "a `Connection` upgrade header") for m in missing)
            yield hit(nloc(anchor), f"`{directive_text(anchor)}` forwards `Upgrade $http_upgrade` without {what}: the WebSocket handshake never reaches the app",
                      fix=fix, snippet_key=f"ws:{directive_text(anchor)}")


@rule("GW071", "real-ip-from-anywhere", "medium", files="nginx", refs="CWE-290")
def real_ip_from_anywhere(stack):
    """Any client may set the address nginx treats as the client's.

    ## What it does
    Flags `set_real_ip_from 0.0.0.0/0` or `::/0` (the `real_ip_header`, `X-Real-IP` by default or
    `X-Forwarded-For`, is then believed from every peer).

    ## Why is this bad?
    `$remote_addr` becomes whatever the client writes in the header: per-IP rate limits and
    connection limits, `allow`/`deny` lists and the access log all trust a forged address. An
    attacker sends `X-Forwarded-For: 127.0.0.1` and is inside the allow-list.

    ## Example
    ```nginx
    set_real_ip_from 0.0.0.0/0;
    real_ip_header X-Forwarded-For;
    ```

    ## Use instead
    List the load balancer's or CDN's ranges only:
    ```nginx
    set_real_ip_from 173.245.48.0/20;   # e.g. Cloudflare's published ranges
    real_ip_header CF-Connecting-IP;
    ```

    ## Fix safety
    Manual: the trusted proxies are yours to list.

    ## References
    CWE-290; nginx realip module documentation.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("set_real_ip_from"):
            if node.args and node.args[0] in ("0.0.0.0/0", "::/0", "0/0", "::0/0"):
                hdr = node.parent.effective("real_ip_header") if node.parent is not None else None
                name = hdr.args[0] if hdr is not None and hdr.args else "X-Real-IP"
                yield hit(nloc(node), f"`{directive_text(node)}`: every client is a trusted proxy, so `{name}` sets `$remote_addr` (limits, allow-lists and logs trust a forged address)",
                          snippet_key=f"set_real_ip_from:{node.args[0]}")


# --------------------------------------------------------------------------------------------
# GW080-GW092: access control and pitfalls
# --------------------------------------------------------------------------------------------


def _alias_findings(stack):
    """(rule, location, message, fix, key) for GW080/GW081, computed once."""
    return memo(stack, "alias", lambda: list(_alias_compute(stack)))


def _alias_compute(stack):
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("alias"):
            if not node.args:
                continue
            loc = node.parent
            if loc is None or loc.name != "location" or loc.d is None:
                continue
            mod, path = location_modifier(loc)
            alias = node.args[0]
            if mod in ("", "^~"):
                if path.endswith("/"):
                    continue
                spans = arg_spans(stack, loc)
                lspan = spans[-1] if spans else None
                aspan = arg_loc(stack, node, 0)
                edits = []
                if lspan is not None and lspan.end_col and not (loc.d.quoted and loc.d.quoted[-1]):
                    edits.append(Edit(Location(loc.path, lspan.start_line, lspan.end_col, None, None), "/"))
                if alias.endswith("/"):
                    yield ("GW080", nloc(loc), f"`location {path}` has no trailing `/` but `alias {alias}` has: `{path}../` reaches the parent of {alias}",
                           fix_of("add `/` to the location", edits), f"{path}:{alias}")
                else:
                    if aspan.end_col and not (node.d.quoted and node.d.quoted[0]):
                        edits.append(Edit(Location(node.path, aspan.start_line, aspan.end_col, None, None), "/"))
                    yield ("GW081", nloc(loc), f"`location {path}` and `alias {alias}` both lack a trailing `/`: `{path}-x` maps to `{alias}-x`, a sibling path",
                           fix_of("add `/` to both", edits if len(edits) == 2 else []), f"{path}:{alias}")
            elif mod in ("~", "~*"):
                yield from _alias_regex(loc, node, path, mod == "~*", alias)


def _alias_regex(loc, node, regex: str, icase: bool, alias: str):
    groups = regex_groups(regex, icase)
    if not groups:
        return
    for m in VAR_RE.finditer(alias):
        name = m.group(1) or m.group(2)
        key = int(name) if name.isdigit() else name
        g = groups.get(key)
        if g is None:
            continue
        prev = alias[:m.start()]
        first, _ = g.first
        before_slash = bool(g.before) and str(g.before[0]) == "LITERAL" and g.before[1] == ord("/")
        starts_slash = first == frozenset({"/"})
        if not before_slash and not starts_slash:
            if prev.endswith("/"):
                if "." in first:
                    yield ("GW080", nloc(loc), f"`location {regex}` captures `${name}` right after a non-`/`, and `alias {alias}` puts it after a `/`: `..` in the capture leaves the aliased directory",
                           None, f"{regex}:{alias}")
            elif prev:
                yield ("GW081", nloc(loc), f"`alias {alias}` joins `${name}` to `{prev}` without a `/`, and the capture need not start with one: a request reaches sibling paths of {prev}",
                       None, f"{regex}:{alias}")
        elif prev and not prev.endswith("/") and not starts_slash:
            yield ("GW081", nloc(loc), f"`location {regex}` has a `/` before `${name}` but `alias {alias}` drops it: a request reaches sibling paths of {prev}",
                   None, f"{regex}:{alias}")
        return


@rule("GW080", "alias-traversal", "high", files="nginx", refs="CWE-22; gixy alias_traversal; sg alias-path-traversal", fix="safe")
def alias_traversal(stack):
    """An `alias` lets `..` climb out of the aliased directory.

    ## What it does
    Flags a prefix `location` without a trailing `/` whose `alias` ends in `/`
    (`location /files { alias /srv/files/; }`), and a regex location whose capture, not preceded by
    a `/` in the pattern and able to start with `.`, is appended to an `alias` ending in `/`.

    ## Why is this bad?
    nginx replaces the matched prefix by the alias: `/files../etc/passwd` becomes
    `/srv/files/../etc/passwd`, so every file readable by nginx one level up is served (the
    classic "off-by-slash").

    ## Example
    ```nginx
    location /static { alias /app/static/; }
    ```

    ## Use instead
    ```nginx
    location /static/ { alias /app/static/; }
    ```

    ## Fix safety
    Safe: every file under `/static/` is served as before; only the bare `/static` (no file) and
    the traversal stop matching.

    ## References
    CWE-22; gixy-ng alias_traversal; semgrep alias-path-traversal.
    """
    for rid, loc, msg, fix, key in _alias_findings(stack):
        if rid == "GW080":
            yield hit(loc, msg, fix=fix, snippet_key=key)


@rule("GW081", "alias-prefix-mismatch", "medium", files="nginx", refs="CWE-22; gixy alias_traversal", fix="safe")
def alias_prefix_mismatch(stack):
    """A location and its `alias` disagree about the path separator.

    ## What it does
    Flags a prefix `location` and its `alias` that both lack a trailing `/`
    (`location /img { alias /data/img; }`), and regex locations whose capture is appended to an
    alias without a separating `/`.

    ## Why is this bad?
    `/img-private/key.pem` matches `location /img` and maps to `/data/img-private/key.pem`: every
    sibling path that shares the prefix is served.

    ## Example
    ```nginx
    location /img { alias /data/img; }
    ```

    ## Use instead
    ```nginx
    location /img/ { alias /data/img/; }
    ```

    ## Fix safety
    Safe.

    ## References
    CWE-22; gixy-ng alias_traversal.
    """
    for rid, loc, msg, fix, key in _alias_findings(stack):
        if rid == "GW081":
            yield hit(loc, msg, fix=fix, snippet_key=key)


def _block_label(block) -> str:
    return directive_text(block) if block is not None and block.d is not None else "the top level"


@rule("GW082", "allow-without-deny", "high", files="nginx", refs="CWE-284; gixy allow_without_deny", fix="safe")
def allow_without_deny(stack):
    """An `allow` list that lets everyone in.

    ## What it does
    Flags an `allow` in a block with no `deny all` of its own. nginx's access rules are an array:
    a block with any `allow`/`deny` inherits none from outside, and what no rule matches is allowed.
    `allow all` alone is not flagged.

    ## Why is this bad?
    `location /admin { allow 10.0.0.0/8; }` admits the whole internet: the allow-list only reads
    as one.

    ## Example
    ```nginx
    location /admin { allow 10.0.0.0/8; proxy_pass http://admin:8080; }
    ```

    ## Use instead
    ```nginx
    location /admin { allow 10.0.0.0/8; deny all; proxy_pass http://admin:8080; }
    ```

    ## Fix safety
    Safe: it makes the list mean what it says.

    ## References
    CWE-284; gixy-ng allow_without_deny.
    """
    for cfg in stack.nginx_configs:
        done = set()
        for node in cfg.nodes("allow"):
            block = node.parent
            if block is None or id(block) in done:
                continue
            done.add(id(block))
            rules = block.children_named("allow", "deny")
            if any(c.name == "deny" and c.args[:1] == ["all"] for c in rules) or opaque_include(block):
                continue
            if all(c.name == "allow" and c.args[:1] == ["all"] for c in rules):
                continue
            first = next(c for c in rules if c.name == "allow")
            yield hit(nloc(first), f"`{directive_text(first)}` in {_block_label(block)} without `deny all`: every other address is allowed too",
                      fix=fix_of("add `deny all;`", [insert_after(stack, rules[-1], ["deny all;"])]),
                      snippet_key=f"allow:{_block_label(block)}")


@rule("GW083", "return-bypasses-allow-deny", "medium", files="nginx", refs="CWE-284; gixy return_bypasses_allow_deny")
def return_bypasses_allow_deny(stack):
    """A `return` answers before `allow`/`deny` is checked.

    ## What it does
    Flags a `return` in a block that has `allow` or `deny` rules, directly or inside an `if` of that
    block.

    ## Why is this bad?
    `return` runs in the rewrite phase, before the access phase: every client gets its answer, the
    access rules never run.

    ## Example
    ```nginx
    location /health { allow 10.0.0.0/8; deny all; return 200 "ok"; }
    ```

    ## Use instead
    Protect the content another way (an inner `location`, `auth_request`), or accept that it is public
    and drop the rules that pretend otherwise.

    ## Fix safety
    Manual.

    ## References
    CWE-284; gixy-ng return_bypasses_allow_deny.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("return"):
            block = node.parent
            while block is not None and block.name == "if":
                block = block.parent
            if block is None:
                continue
            rules = block.children_named("allow", "deny")
            if not rules:
                continue
            yield hit(nloc(node), f"`{directive_text(node)}` runs before the `{directive_text(rules[0])}` rules of {_block_label(block)}: every client gets this answer",
                      snippet_key=f"return:{_block_label(block)}:{' '.join(node.args)}")


_IF_OK_REWRITE = {"last", "redirect", "permanent"}


@rule("GW084", "if-is-evil", "medium", files="nginx", refs="gixy if_is_evil")
def if_is_evil(stack):
    """`if` inside a location runs a directive nginx does not handle safely there.

    ## What it does
    Flags, in an `if` block inside a `location`, any directive other than `return` or a `rewrite`
    ending in `last`, `redirect` or `permanent`. `add_header` in an `if` block that ends in
    `return` (the CORS preflight idiom) is exempt.

    ## Why is this bad?
    `if` in a location creates an implicit nested location: directives in it replace, not add to,
    the outer ones (`add_header`, `proxy_set_header`), `try_files` is ignored, and some
    combinations crash workers ("If is evil", nginx wiki).

    ## Example
    ```nginx
    location / { if ($arg_debug) { add_header X-Debug 1; } proxy_pass http://backend:8000; }
    ```

    ## Use instead
    Use `map` to compute a value and set it unconditionally, or `return`/`rewrite ... last` in the `if`.

    ## Fix safety
    Manual.

    ## References
    gixy-ng if_is_evil; nginx wiki "If is evil".
    """
    for cfg in stack.nginx_configs:
        for block in cfg.nodes("if"):
            if block.parent is None or block.parent.name != "location":
                continue
            ends_return = bool(block.children) and block.children[-1].name == "return"
            for c in block.children:
                if c.name == "return":
                    continue
                if c.name == "rewrite" and c.args and c.args[-1] in _IF_OK_REWRITE:
                    continue
                if c.name in ("add_header", "more_set_headers") and ends_return:
                    continue
                yield hit(nloc(c), f"`{directive_text(c)}` inside `if` in `{directive_text(block.parent)}`: only `return` and `rewrite ... last` are safe there",
                          snippet_key=f"if:{' '.join(block.args)}:{directive_text(c)}")
                break


@rule("GW085", "status-page-exposed", "medium", files="nginx", refs="CWE-200; gixy status_page_exposed", fix="safe")
def status_page_exposed(stack):
    """nginx's `stub_status` page is public.

    ## What it does
    Flags `stub_status` in a location without `deny all` in force, `auth_basic`/`auth_request` or
    `internal`, on a server some non-loopback address reaches. (`allow` without `deny all` is GW082.)

    ## Why is this bad?
    Connection counts and request rates tell an attacker how loaded the gateway is and when a
    denial of service is working; it is one more unauthenticated endpoint.

    ## Example
    ```nginx
    location /nginx_status { stub_status; }
    ```

    ## Use instead
    ```nginx
    location /nginx_status { stub_status; allow 127.0.0.1; deny all; }
    ```

    ## Fix safety
    Safe: only the gateway host (and its exporter) keep access.

    ## References
    CWE-200; gixy-ng status_page_exposed.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("stub_status"):
            if node.args and node.args[0] == "off":
                continue
            if protected(node) or any(c.name == "allow" for c in access_list(node)):
                continue
            if not server_public(enclosing(node, "server")):
                continue
            yield hit(nloc(node), f"`{directive_text(node)}` in {_block_label(node.parent)} is reachable by anyone",
                      fix=fix_of("restrict to localhost", [insert_after(stack, node, ["allow 127.0.0.1;", "deny all;"])]),
                      snippet_key=f"stub_status:{_block_label(node.parent)}")


def _norm_root(path: str) -> str | None:
    if "$" in path or not path.startswith("/"):
        return None
    return posixpath.normpath(re.sub(r"/+", "/", path))


@rule("GW086", "filesystem-root-exposure", "high", files="nginx", refs="CWE-552; gixy filesystem_root_exposure")
def filesystem_root_exposure(stack):
    """`root /` or `alias /` serves the container's whole filesystem.

    ## What it does
    Flags a `root` or `alias` whose path, normalised (`//`, `/srv/..`, `/./`), is `/`.

    ## Why is this bad?
    Every file nginx can read is served: `/etc/passwd`, `/proc/self/environ` (the container's
    environment, with its secrets), `/run/secrets/*`, the TLS private key.

    ## Example
    ```nginx
    location /files/ { alias /; }
    ```

    ## Use instead
    ```nginx
    location /files/ { alias /srv/files/; }
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-552; gixy-ng filesystem_root_exposure.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("root", "alias"):
            if node.args and _norm_root(node.args[0]) == "/":
                yield hit(nloc(node), f"`{directive_text(node)}` serves the whole filesystem, secrets and keys included",
                          snippet_key=f"{node.name}:/")


@rule("GW087", "valid-referers-none", "medium", files="nginx", refs="CWE-293; gixy valid_referers", fix="unsafe")
def valid_referers_none(stack):
    """`valid_referers none` lets requests without a `Referer` through.

    ## What it does
    Flags `valid_referers` whose list contains `none`.

    ## Why is this bad?
    A referer check is meant to stop other sites; `none` admits every request that simply omits the
    header (`Referrer-Policy: no-referrer`, a `<meta>` tag, curl), so the check stops nobody.

    ## Example
    ```nginx
    valid_referers none server_names *.example.com;
    ```

    ## Use instead
    ```nginx
    valid_referers server_names *.example.com;
    ```

    ## Fix safety
    Unsafe: clients that really send no referer (privacy settings, direct visits) get refused.

    ## References
    CWE-293; gixy-ng valid_referers.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("valid_referers"):
            if "none" not in node.args:
                continue
            idx = node.args.index("none")
            edits = []
            spans = arg_spans(stack, node)
            if spans and len(node.args) > 1:
                sp = spans[idx]
                text = line_text(stack, node.path, sp.start_line)
                after = len(text[sp.end_col - 1:]) - len(text[sp.end_col - 1:].lstrip(" \t"))
                if after and sp.end_col - 1 + after < len(text) and text[sp.end_col - 1 + after] not in ";#":
                    edits.append(Edit(Location(node.path, sp.start_line, sp.start_col, sp.start_line, sp.end_col + after), ""))
                else:
                    before = len(text[:sp.start_col - 1]) - len(text[:sp.start_col - 1].rstrip(" \t"))
                    edits.append(Edit(Location(node.path, sp.start_line, sp.start_col - before, sp.start_line, sp.end_col), ""))
            yield hit(arg_loc(stack, node, idx), "`valid_referers none`: requests without a Referer header pass the check",
                      fix=fix_of("delete `none`", edits, "unsafe"), snippet_key="valid_referers:none")


def _origin_checks(stack):
    """(node, arg index, variable, regex, icase) of every regex tested against Origin/Referer."""
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("if"):
            if len(node.args) >= 3 and node.args[1] in ("~", "~*", "!~", "!~*"):
                yield node, 2, _vname(node.args[0]), node.args[2], node.args[1].endswith("*")
            elif node.args and _vname(node.args[0]) == "http_referrer":
                yield node, 0, "http_referrer", None, False
        for node in cfg.nodes("map"):
            if len(node.args) < 2:
                continue
            var = _vname(node.args[0])
            if var not in ("http_origin", "http_referer", "http_referrer"):
                continue
            for entry in node.children:
                key = entry.name
                if not key.startswith("~") or not entry.args:
                    continue
                if entry.args[-1].strip("\"'") in ("", "0", "off", "false", "no"):
                    continue
                icase = key.startswith("~*")
                yield entry, -1, var, key[2:] if icase else key[1:], icase


def _origin_findings(stack, referer: bool):
    for node, idx, var, regex, icase in _origin_checks(stack):
        where = nloc(node) if idx < 0 else arg_loc(stack, node, idx)
        if var == "http_referrer":
            if not referer:
                yield hit(where, "`$http_referrer` is misspelt: nginx names the header variable `$http_referer`, so this check tests an empty string",
                          snippet_key=f"referrer:{regex}")
            continue
        if (var == "http_referer") != referer or var not in ("http_origin", "http_referer"):
            continue
        why = origin_regex_flaw(regex, icase, referer)
        if why:
            name = "Referer" if referer else "Origin"
            yield hit(where, f"{name} check `{regex}`: {why}", snippet_key=f"{var}:{regex}")


@rule("GW088", "origin-regex-untrusted", "high", files="nginx", refs="CWE-346; gixy origins")
def origin_regex_untrusted(stack):
    """A regex that validates the `Origin` header accepts foreign sites.

    ## What it does
    Reads every regex tested against `$http_origin` (`if`, and `map` entries that yield a value)
    and flags one that a foreign origin can satisfy: no `^` (or text allowed before the scheme), no
    `$`, a wildcard or an unescaped `.` inside the registrable domain (`example.com` matches
    `examplexcom`), a wildcard at the end of the host (`example.com.evil.net`). Wildcards in a
    subdomain label (`^https://[a-z0-9-]+\\.example\\.com$`) are fine. Also flags the misspelt
    `$http_referrer`, which is always empty.

    ## Why is this bad?
    The origin allow-list decides which sites may read authenticated API responses (CORS) or embed
    the app: a regex that matches `https://example.com.evil.net` hands the session to any site.

    ## Example
    ```nginx
    map $http_origin $cors_origin { ~https://(www\\.)?example.com $http_origin; }
    ```

    ## Use instead
    ```nginx
    map $http_origin $cors_origin { "~^https://(www\\.)?example\\.com$" $http_origin; default ""; }
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-346; gixy-ng origins.
    """
    yield from _origin_findings(stack, referer=False)


@rule("GW089", "referer-regex-untrusted", "medium", files="nginx", refs="CWE-346; gixy origins")
def referer_regex_untrusted(stack):
    """A regex that validates the `Referer` header accepts foreign sites.

    ## What it does
    The GW088 check for regexes tested against `$http_referer`: the host part must be anchored
    (`^` and the scheme first, then `/`, `:port` or `$` right after the domain), and no wildcard may
    reach into the registrable domain or let a path such as `https://evil.net/x.example.com/` match.

    ## Why is this bad?
    Referer checks guard hotlinking, CSRF-sensitive endpoints and framing decisions: a regex that
    matches `https://example.com.evil.net/` trusts every site that chooses such a name.

    ## Example
    ```nginx
    if ($http_referer !~ "^https://example.com/") { return 403; }
    ```

    ## Use instead
    ```nginx
    if ($http_referer !~ "^https://example\\.com/") { return 403; }
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-346; gixy-ng origins.
    """
    yield from _origin_findings(stack, referer=True)


@rule("GW090", "error-log-off", "medium", files="nginx", refs="CWE-778; gixy error_log_off", fix="safe")
def error_log_off(stack):
    """`error_log off` writes a file named `off` instead of disabling the log.

    ## What it does
    Flags `error_log off`.

    ## Why is this bad?
    `error_log` has no `off` value: nginx logs errors to a file called `off` in its prefix directory
    — inside the container, unrotated, invisible to `docker logs`. The errors you need when
    something breaks are where nobody looks, and the file grows until the disk is full.

    ## Example
    ```nginx
    error_log off;
    ```

    ## Use instead
    ```nginx
    error_log /dev/stderr warn;
    ```

    ## Fix safety
    Safe.

    ## References
    CWE-778; gixy-ng error_log_off; nginx core documentation.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("error_log"):
            if node.args[:1] == ["off"]:
                span = arg_loc(stack, node, 0)
                new = "/dev/stderr warn" if len(node.args) == 1 else "/dev/stderr"
                edits = [Edit(span, new)] if span.end_col else []
                yield hit(nloc(node), "`error_log off` logs to a file named `off`, not nowhere",
                          fix=fix_of("log to stderr", edits), snippet_key="error_log:off")


@rule("GW091", "autoindex-on", "medium", files="nginx", refs="CWE-548", fix="safe")
def autoindex_on(stack):
    """Directory listings are on.

    ## What it does
    Flags `autoindex on`.

    ## Why is this bad?
    Every directory without an index file is listed: backups, uploads of other users, build
    artefacts, `.env` files copied into the web root — discovered without guessing names.

    ## Example
    ```nginx
    location /media/ { autoindex on; }
    ```

    ## Use instead
    ```nginx
    location /media/ { autoindex off; }
    ```

    ## Fix safety
    Safe.

    ## References
    CWE-548.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("autoindex"):
            if node.args[:1] == ["on"]:
                span = arg_loc(stack, node, 0)
                yield hit(nloc(node), f"`autoindex on` in {_block_label(node.parent)}: directory contents are listed",
                          fix=fix_of("set `off`", [Edit(span, "off")] if span.end_col else []), snippet_key=f"autoindex:{_block_label(node.parent)}")


_COMPOSE_NAME = LazyRe(r"^(docker-)?compose([.\-_][\w.\-]*)?\.ya?ml$", re.I)


def _sensitive_entries(root, host_rel: str) -> list[str]:
    """Names in a host directory (top level) that must never be served."""
    import os

    full = root / host_rel
    try:
        names = sorted(os.listdir(full))
    except OSError:
        return []
    out = []
    for n in names[:2000]:
        low = n.lower()
        if low == ".git" or low.startswith(".env") or low.endswith(".sql") or _COMPOSE_NAME.match(n) \
                or low in (".htpasswd", "id_rsa", ".npmrc", ".pgpass", ".dkscan.yaml"):
            out.append(n)
    return out


def _denied_by_location(server, probe: str) -> bool:
    """A location of ``server`` answers ``probe`` (a URI) with deny/return and nothing else."""
    if server is None:
        return False
    for loc in server.walk():
        if loc.name != "location" or loc.d is None:
            continue
        mod, path = location_modifier(loc)
        matched = False
        if mod in ("~", "~*"):
            try:
                matched = re.search(pcre_to_py(path), probe, re.I if mod == "~*" else 0) is not None
            except re.error:
                matched = False
        elif mod == "=":
            matched = probe == path
        elif mod in ("", "^~"):
            matched = probe.startswith(path) and path not in ("/", "")
        if matched and (blocks_all(loc) or denies_all(loc)):
            return True
    return False


@rule("GW092", "webroot-exposes-repo", "high", files="nginx+compose", refs="CWE-538", fix="safe")
def webroot_exposes_repo(stack):
    """nginx serves a host directory holding the repository's secrets or configuration.

    ## What it does
    Follows each `root`/`alias` of a gateway's configuration through the gateway's bind mounts to
    the host directory, and flags it when that directory holds `.env*`, `.git`, `*.sql` or compose
    files that no `location` (such as `location ~ /\\. { deny all; }`) refuses.

    ## Why is this bad?
    `https://site/.env` and `https://site/.git/config` are the first URLs every scanner tries: the
    database password, the JWT key and the whole source history leak with one GET.

    ## Example
    ```yaml
    nginx:
      volumes: ["./:/usr/share/nginx/html:ro"]   # the repository root, .env included
    ```

    ## Use instead
    Mount only the built assets (`./frontend/dist`), and refuse hidden files:
    ```nginx
    location ~ /\\.(?!well-known/) { deny all; }
    ```

    ## Fix safety
    Safe: hidden files are never meant to be served; the inserted
    `location ~ /\\.(?!well-known/) { deny all; }` keeps `/.well-known/` (ACME challenges) reachable.

    ## References
    CWE-538.
    """
    for cfg in stack.nginx_configs:
        svc = cfg.service
        if svc is None:
            continue
        seen = set()
        for node in cfg.nodes("root", "alias"):
            if not node.args or "$" in node.args[0] or id(node) in seen:
                continue
            seen.add(id(node))
            cpath = posixpath.normpath(node.args[0]) if node.args[0].startswith("/") else posixpath.join("/etc/nginx", node.args[0])
            host = stack.host_path(svc, cpath)
            if host is None or host.startswith(".."):
                continue
            entries = _sensitive_entries(stack.root, host)
            if not entries:
                continue
            server = enclosing(node, "server")
            servers = [server] if server is not None else [s for s in cfg.servers if s.effective("root") is node or any(c is node for c in s.ancestors())]
            if server is None and node.parent is not None:
                servers = [s for s in cfg.servers if not (s.child("root") is not None)]
            exposed = []
            for name in entries:
                probe = "/" + name + ("/config" if name == ".git" else "")
                if node.name == "alias":
                    loc = node.parent
                    mod, path = location_modifier(loc) if loc is not None else ("", "/")
                    probe = (path.rstrip("/") + probe) if mod in ("", "^~") else probe
                if not servers or not all(_denied_by_location(s, probe) for s in servers):
                    exposed.append(name)
            if not exposed:
                continue
            edits = []
            dot = [n for n in exposed if n.startswith(".")]
            if dot and server is not None and not any(_denied_by_location(s, "/.env") for s in servers):
                edits.append(insert_in_block(stack, server, ["location ~ /\\.(?!well-known/) { deny all; }"]))
            yield hit(nloc(node), f"`{directive_text(node)}` serves host directory '{host}', which holds {', '.join(exposed[:5])}",
                      fix=fix_of("refuse hidden files", edits), related=[Location(svc.doc.path, svc.key.line, svc.key.col)],
                      snippet_key=f"{node.name}:{node.args[0]}")

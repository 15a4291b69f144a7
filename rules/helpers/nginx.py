"""Shared nginx knowledge for the nginx rules (``rules/gateway/``, ``rules/performance/nginx.py``...).

Everything here answers "what does nginx really do with this configuration" so that rules do not
re-derive it (and do not each get it slightly wrong). The functions are a stable API: other rule
modules import them; change a signature only together with every caller.

Contents
--------
- **Servers and listeners**: :func:`listen_specs`, :func:`is_tls_server`, ``nloc`` (locations),
  :func:`opaque` / :func:`unresolved_includes` (an include dkscan cannot read may set anything).
- **Response headers**: :class:`Header`, :func:`add_header_chain` (nginx's ``add_header``
  inheritance trap, ``add_header_inherit on|off|merge`` of nginx >= 1.29.3), :func:`effective_headers`
  (adds ``more_set_headers`` / ``more_clear_headers`` of headers-more, which merge across levels, and
  ``security_headers on`` of ngx_security_headers), :func:`header_dropped`, :func:`lost_headers`,
  :func:`response_levels`, :data:`SECURITY_HEADERS`, :func:`is_security_header`.
- **Locations**: :func:`location_match`, :func:`path_words`, :func:`is_auth_location`,
  :func:`is_upload_location` (policy ``gateway.auth_paths`` / ``gateway.upload_paths``),
  :func:`pass_directives`, :func:`pass_host`, :func:`upstream_blocks`, :func:`target_services`.
- **Limits**: :func:`limit_zones`, :func:`zone_rate`, :func:`is_per_ip_key`, :func:`configs_of_service`.
- **nginx version**: :class:`NginxVersion`, :func:`nginx_version`, :func:`default_ssl_protocols`,
  :func:`effective_protocols`.
- **Text edits** (for ``Fix``es on the original file): :func:`directive_tokens`, :func:`directive_text`,
  :func:`replace_token_edit`, :func:`replace_args_edit`, :func:`insert_before_terminator_edit`,
  :func:`delete_directive_edit`, :func:`insert_into_block_edit`, :func:`insert_before_edit`,
  :func:`insert_after_edit`, :func:`add_to_level_edit`, :func:`child_indent`, :func:`http_insert_edit`.

Levels are ``scanner.stack.Node`` objects (``http``, ``server``, ``location``, ``if``, or the
synthetic root of a fragment). A synthetic root has no file position: use :func:`service_node_loc`."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Iterable, Iterator

from rules.helpers.compose import image_ref
from rules.helpers.services import host_names
from scanner.parsers.base import small_int
from scanner.config import parse_size
from scanner.model import Edit, Location
from scanner.plain import frozen_error as _frozen

if TYPE_CHECKING:
    from scanner.stack import Stack

PASS_DIRECTIVES = ("proxy_pass", "grpc_pass", "uwsgi_pass", "fastcgi_pass", "scgi_pass", "memcached_pass")
"""The directives that hand a request to an upstream (the one list every rule uses)."""
LEVEL_NAMES = ("http", "server", "location", "if", "limit_except")

# --------------------------------------------------------------------------------------------
# small node utilities
# --------------------------------------------------------------------------------------------


def node_path(cfg, node) -> str:
    return node.path if node.d is not None else cfg.doc.path


def node_memo(node, key: str, compute):
    """What is derived from one nginx node (a server's TLS state, a level's headers), kept on the node.
    The nginx helpers that answer about a node without the stack use it; everything else uses
    ``Stack.memo``. Nodes belong to one Stack and live exactly as long, so both caches end together."""
    cache = node.__dict__.setdefault("_dk_memo", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def once(seen: set, node) -> bool:
    """True the first time ``node``'s directive is seen (a directive reached through several
    configurations or includes is reported once)."""
    key = id(node.d) if node.d is not None else id(node)
    if key in seen:
        return False
    seen.add(key)
    return True


def is_level(node) -> bool:
    return node.d is None or node.name in LEVEL_NAMES


def parent_level(node):
    cur = node.parent
    while cur is not None and not is_level(cur):
        cur = cur.parent
    return cur


def server_of(node):
    """The enclosing ``server`` (or the synthetic server root of a fragment), else None."""
    cur = node
    while cur is not None:
        if cur.name == "server" and (cur.d is None or cur.is_block):
            return cur
        cur = cur.parent
    return None


def walk_blocks(node, name: str) -> Iterator:
    """Descendant blocks named ``name`` (not the node itself)."""
    for n in node.walk():
        if n is not node and n.d is not None and n.name == name and n.d.block is not None:
            yield n


def on(node) -> bool:
    return node is not None and bool(node.args) and node.args[0].lower() == "on"


# --------------------------------------------------------------------------------------------
# listeners
# --------------------------------------------------------------------------------------------


class ListenSpec:
    """One ``listen`` directive of a server: address, port and flags."""

    node: object
    address: str | None
    port: int | None  # None for unix sockets
    ssl: bool
    quic: bool
    default_server: bool

    __match_args__ = ("node", "address", "port", "ssl", "quic", "default_server")

    def __init__(self, node, address, port, ssl, quic, default_server):
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "ssl", ssl)
        object.__setattr__(self, "quic", quic)
        object.__setattr__(self, "default_server", default_server)

    def __setattr__(self, name, value):
        if type(self) is ListenSpec or name in ("node", "address", "port", "ssl", "quic", "default_server"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(ListenSpec, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is ListenSpec or name in ("node", "address", "port", "ssl", "quic", "default_server"):
            raise _frozen(f"cannot delete field {name!r}")
        super(ListenSpec, self).__delattr__(name)


def listen_specs(server) -> list[ListenSpec]:
    """The server's ``listen`` directives; a server without one listens on ``*:80``."""
    out = []
    for ln in server.children_named("listen"):
        if not ln.args:
            continue
        spec = ln.args[0]
        params = {a.lower() for a in ln.args[1:]}
        addr, port = None, None
        if spec.startswith("unix:"):
            addr = spec
        else:
            m = re.fullmatch(r"(?:(\[[^\]]*\]|[^:]*):)?([0-9]{1,9})", spec)
            if m:
                addr, port = m.group(1), int(m.group(2))
            else:
                addr, port = spec, 80
        out.append(ListenSpec(ln, addr, port, "ssl" in params, "quic" in params,
                              "default_server" in params or "default" in params))
    if not out and server.d is not None:
        out.append(ListenSpec(None, None, 80, False, False, False))
    return out


def is_tls_server(server) -> bool:
    """``listen … ssl`` or ``quic`` (or the legacy ``ssl on;`` removed in 1.25.1)."""
    def compute():
        if any(s.ssl or s.quic for s in listen_specs(server)):
            return True
        legacy = server.effective("ssl")
        return on(legacy)
    return node_memo(server, "tls", compute)


# --------------------------------------------------------------------------------------------
# headers
# --------------------------------------------------------------------------------------------

# Headers whose presence is a protection, whatever their value (gixy-ng's always-secure list).
SECURITY_HEADERS = frozenset({
    "strict-transport-security", "content-security-policy", "content-security-policy-report-only",
    "x-content-type-options", "x-frame-options", "referrer-policy", "permissions-policy",
    "cross-origin-opener-policy", "cross-origin-resource-policy", "cross-origin-embedder-policy",
    "x-permitted-cross-domain-policies", "x-xss-protection",
})
# Headers that protect only with some values (Cache-Control: no-store, Expires: 0, ...).
_CONDITIONAL_SECURITY = {
    "cache-control": re.compile(r"no-store|no-cache|private|must-revalidate", re.I),
    "pragma": re.compile(r"no-cache", re.I),
    "expires": re.compile(r"^\s*(0|-\d+)\s*$|1970", re.I),
    "content-disposition": re.compile(r"attachment", re.I),
    "x-download-options": re.compile(r"noopen", re.I),
}
# Headers nginx only adds with `always` for error responses (the ones GW022 checks).
ALWAYS_HEADERS = frozenset({
    "strict-transport-security", "content-security-policy", "x-content-type-options", "x-frame-options",
    "referrer-policy", "permissions-policy", "cross-origin-opener-policy", "cross-origin-resource-policy",
    "cross-origin-embedder-policy",
})


class Header:
    """One response header a level sends. ``source``: add_header, more_set_headers or security_headers."""

    name: str
    value: str
    always: bool
    node: object  # the directive (None for module-generated headers)
    source: str

    __match_args__ = ("name", "value", "always", "node", "source")

    def __init__(self, name, value, always, node, source):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "always", always)
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "source", source)

    def __setattr__(self, name, value):
        if type(self) is Header or name in ("name", "value", "always", "node", "source"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Header, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Header or name in ("name", "value", "always", "node", "source"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Header, self).__delattr__(name)

    @property
    def lname(self) -> str:
        return self.name.lower()


def is_security_header(h: Header) -> bool:
    if h.lname in SECURITY_HEADERS:
        return True
    pat = _CONDITIONAL_SECURITY.get(h.lname)
    return bool(pat and pat.search(h.value))


def inherit_mode(level, directive: str = "add_header_inherit") -> str:
    """``on`` (default), ``off`` or ``merge``: nearest ``add_header_inherit`` here or above (1.29.3+)."""
    eff = level.effective(directive)
    return eff.args[0].lower() if eff is not None and eff.args else "on"


def own_add_headers(level) -> list:
    return level.children_named("add_header")


def add_header_chain(level) -> list[Header]:
    """The ``add_header`` headers in force at ``level`` (nginx's array inheritance).

    A level with any ``add_header`` of its own inherits none from above, unless the effective
    ``add_header_inherit`` is ``merge`` (parent's first, then its own); ``off`` inherits nothing even
    without own directives. An ``add_header X ""`` counts as a directive but sends nothing.
    """
    def compute():
        own = []
        for d in own_add_headers(level):
            if len(d.args) < 2:
                continue
            always = len(d.args) >= 3 and d.args[2].lower() == "always"
            own.append(Header(d.args[0], d.args[1], always, d, "add_header"))
        parent = parent_level(level)
        if parent is None:
            return [h for h in own if h.value != ""]
        mode = inherit_mode(level)
        if mode == "off":
            chain = own
        elif mode == "merge":
            chain = add_header_chain(parent) + own
        else:
            chain = own if own_add_headers(level) else add_header_chain(parent)
        return [h for h in chain if h.value != ""]
    return node_memo(level, "add_header_chain", compute)


def add_header_source(level):
    """The level whose own ``add_header`` lines are in force at ``level`` (None when none anywhere)."""
    cur = level
    while cur is not None:
        if own_add_headers(cur) or inherit_mode(cur) in ("off", "merge"):
            return cur
        cur = parent_level(cur)
    return None


def _more_headers(d) -> Iterator[tuple[str, str | None]]:
    """(name, value) pairs of a more_set_headers/more_clear_headers directive (value None = clear)."""
    args = list(d.args)
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-s", "-t") and i + 1 < len(args):
            i += 2
            continue
        if d.name == "more_clear_headers":
            yield a.split(":", 1)[0].strip(), None
        else:
            name, sep, value = a.partition(":")
            yield name.strip(), (value.strip() if sep else None)
        i += 1


def _chain_levels(level) -> list:
    chain = []
    cur = level
    while cur is not None:
        chain.append(cur)
        cur = parent_level(cur)
    return list(reversed(chain))


_SECURITY_HEADERS_MODULE = (
    ("X-Frame-Options", "SAMEORIGIN"), ("X-Content-Type-Options", "nosniff"), ("X-XSS-Protection", "0"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
)


def effective_headers(level) -> dict[str, list[Header]]:
    """Every header the gateway adds at ``level``, by lower-case name.

    ``add_header`` (with its inheritance trap), then ``more_set_headers`` / ``more_clear_headers``
    (headers-more merges every level, outermost first), and ``security_headers on``
    (ngx_security_headers: X-Frame-Options, nosniff, Referrer-Policy, X-XSS-Protection 0, and HSTS
    on TLS servers). Headers the upstream app sets are invisible here.
    """
    def compute():
        out: dict[str, list[Header]] = {}
        for h in add_header_chain(level):
            out.setdefault(h.lname, []).append(h)
        sh = level.effective("security_headers")
        if on(sh):
            for name, value in _SECURITY_HEADERS_MODULE:
                out.setdefault(name.lower(), []).append(Header(name, value, True, sh, "security_headers"))
            srv = server_of(level)
            if srv is None or is_tls_server(srv):
                out.setdefault("strict-transport-security", []).append(
                    Header("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload", True, sh, "security_headers"))
        for lvl in _chain_levels(level):
            for d in lvl.children_named("more_set_headers", "more_clear_headers"):
                for name, value in _more_headers(d):
                    if not name:
                        continue
                    if value is None or value == "":
                        pat = re.compile(fnmatch_to_re(name.lower()))
                        for key in [k for k in out if pat.fullmatch(k)]:
                            del out[key]
                    else:
                        out[name.lower()] = [Header(name, value, True, d, "more_set_headers")]
        return out
    return node_memo(level, "effective_headers", compute)


def fnmatch_to_re(pattern: str) -> str:
    return ".*".join(re.escape(p) for p in pattern.split("*"))


def header_dropped(level, lname: str) -> bool:
    """True when an enclosing level sends ``lname`` and a nested ``add_header`` lost it (GW023's case)."""
    cur = parent_level(level)
    while cur is not None:
        if lname in effective_headers(cur):
            return True
        cur = parent_level(cur)
    return False


def lost_headers(level, security_only: bool = True) -> list[Header]:
    """Headers the parent level sends that ``level`` no longer sends because of its own ``add_header``
    (or ``add_header_inherit off``)."""
    if not own_add_headers(level) and inherit_mode(level) != "off":
        return []
    if inherit_mode(level) == "merge":
        return []
    parent = parent_level(level)
    if parent is None:
        return []
    mine = effective_headers(level)
    out, seen = [], set()
    for h in add_header_chain(parent):
        if h.lname in mine or h.lname in seen:
            continue
        if security_only and not is_security_header(h):
            continue
        seen.add(h.lname)
        out.append(h)
    return out


def has_direct_return(level) -> bool:
    return (level.child("return") is not None)


def is_deny_all_only(level) -> bool:
    names = level.children_named("allow", "deny")
    return bool(names) and all(c.name == "deny" for c in names) and any(c.args[:1] == ["all"] for c in names)


def location_match(loc) -> tuple[str, str]:
    """(modifier, path) of a ``location``: modifier in '', '=', '~', '~*', '^~', '@'."""
    args = loc.args
    if not args:
        return "", ""
    if len(args) >= 2 and args[0] in ("=", "~", "~*", "^~"):
        return args[0], args[1]
    a = args[0]
    if a.startswith("@"):
        return "@", a
    for mod in ("~*", "^~", "=", "~"):
        if a.startswith(mod) and len(a) > len(mod):
            return mod, a[len(mod):]
    return "", a


def is_catch_all(loc) -> bool:
    mod, path = location_match(loc)
    return mod in ("", "^~") and path == "/"


def response_levels(server, content_only: bool = False) -> list:
    """The levels whose configuration answers requests of ``server``: every location (nested ones
    included, named ones too) and the server level itself unless a ``location /`` catches everything.
    A server-level ``return`` answers everything at the server level.

    ``content_only`` drops levels that never send a page or API response of their own: a direct
    ``return`` (redirects, 444, health strings) and ``deny all`` without ``allow``.
    """
    def compute():
        if has_direct_return(server):
            return [server]
        locs = list(walk_blocks(server, "location"))
        levels = locs if any(is_catch_all(l) and l.parent is server for l in locs) else [server] + locs
        return levels
    levels = node_memo(server, "response_levels", compute)
    if content_only:
        levels = [l for l in levels if not has_direct_return(l) and not is_deny_all_only(l) and not redirects(l)
                  and not is_acme_location(l)]
    return levels


def is_acme_location(level) -> bool:
    """``location /.well-known/acme-challenge/`` (or any location under ``/.well-known``)."""
    return level.d is not None and level.name == "location" and bool(
        re.search(r"\.well-known|acme-challenge", location_match(level)[1], re.I))


def redirects(level) -> bool:
    """The level answers with an unconditional redirect (``rewrite … https://… permanent``)."""
    if pass_directives(level):
        return False
    return any(c.name == "rewrite" and len(c.args) >= 2 and c.args[1].startswith(("https://", "http://", "$scheme://"))
               and (len(c.args) == 2 or c.args[2] in ("permanent", "redirect")) for c in level.children)


IMAGE_INCLUDES = ("mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "koi-utf",
                  "koi-win", "win-utf", "proxy_params")


def _resolved_includes(cfg) -> set[int]:
    def compute():
        out: set[int] = set()
        for n in cfg.root.walk():
            for inc in n.via:
                out.add(id(inc))
        return out
    return node_memo(cfg.root, "resolved_includes", compute)


def unresolved_includes(stack: Stack, cfg, level) -> list:
    """``include`` directives in ``level`` or an enclosing level whose content dkscan cannot know:
    files created at deploy time on a named volume or a bind mount missing from the repository
    (certbot's ``/etc/letsencrypt/options-ssl-nginx.conf``), or, without compose, files outside the
    scan. An include resolving to nothing inside an existing bind mount is empty, and a path under
    no mount is the image's own (mime.types, the default ``conf.d/default.conf`` server): both known."""
    resolved = _resolved_includes(cfg)
    out = []
    cur = level
    while cur is not None:
        for c in cur.children_named("include"):
            if not c.args or c.d is None or id(c.d) in resolved:
                continue
            pattern = c.args[0]
            base = pattern.rsplit("/", 1)[-1]
            if base in IMAGE_INCLUDES or "modules-enabled" in pattern:
                continue
            if _include_known(stack, cfg, pattern):
                continue
            out.append(c)
        cur = cur.parent
    return out


def _include_known(stack: Stack, cfg, pattern: str) -> bool:
    svc = cfg.service
    if svc is None:
        return False
    cpath = posixpath.normpath(pattern if pattern.startswith("/") else posixpath.join("/etc/nginx", pattern))
    best = None
    for m in svc.volumes:
        if not m.target:
            continue
        tgt = m.target.rstrip("/") or "/"
        if cpath == tgt or cpath.startswith(tgt + "/"):
            if best is None or len(tgt) > len(best.target.rstrip("/") or "/"):
                best = m
    if best is None:
        return True  # the image's own file
    if best.is_bind and best.source and not best.source.startswith(("/", "~", "$")):
        return stack.exists(posixpath.normpath(posixpath.join(posixpath.dirname(svc.doc.path), best.source)))
    return False


# Files generated at deploy time whose content is known: the directives they set.
KNOWN_INCLUDES = {
    # certbot's nginx plugin (Mozilla intermediate: TLSv1.2+1.3, ECDHE+AEAD, shared cache)
    "options-ssl-nginx.conf": frozenset({"ssl_session_cache", "ssl_session_timeout", "ssl_session_tickets",
                                         "ssl_protocols", "ssl_prefer_server_ciphers", "ssl_ciphers"}),
}


def opaque(stack: Stack, cfg, level, directives: tuple[str, ...] | None = None) -> bool:
    """True when an unreadable include in scope could set what a "missing directive" rule looks
    for (any of ``directives``; None = anything): such rules stay silent rather than guess. Known
    generated files (certbot's ``options-ssl-nginx.conf``) only count for the directives they set."""
    for inc in unresolved_includes(stack, cfg, level):
        known = KNOWN_INCLUDES.get(inc.args[0].rsplit("/", 1)[-1])
        if known is not None and directives is not None and not known.intersection(directives):
            continue
        return True
    return False


HEADER_DIRECTIVES = ("add_header", "add_header_inherit", "more_set_headers", "more_clear_headers", "security_headers")


# --------------------------------------------------------------------------------------------
# locations: path classes, proxying
# --------------------------------------------------------------------------------------------


def path_words(text: str) -> set[str]:
    """Lower-case alphanumeric words of a location path or regex (``/api/v1/auth/`` -> api, v1, auth),
    each also without trailing digits (``oauth2`` -> oauth)."""
    words = set()
    for w in re.findall(r"[A-Za-z0-9]+", text):
        w = w.lower()
        words.add(w)
        stripped = w.rstrip("0123456789")
        if stripped:
            words.add(stripped)
    return words


def _policy_words(stack: Stack, key: str, default: Iterable[str]) -> set[str]:
    val = stack.policy.get(key, None)
    if isinstance(val, str):
        val = val.replace(",", " ").split()
    if not isinstance(val, (list, tuple, set)):
        val = list(default)
    return {str(v).strip().strip("/").lower() for v in val if str(v).strip()}


AUTH_DEFAULT = ("auth", "login", "signin", "token", "oauth", "password", "register", "otp")
UPLOAD_DEFAULT = ("upload", "files", "media", "storage", "s3")


def is_auth_location(stack: Stack, loc) -> bool:
    """A location whose path has a ``gateway.auth_paths`` segment (login, token, oauth, ...)."""
    if loc.d is None or loc.name != "location":
        return False
    mod, path = location_match(loc)
    if mod == "@":
        return False
    return bool(path_words(path) & _policy_words(stack, "gateway.auth_paths", AUTH_DEFAULT))


def is_upload_location(stack: Stack, loc) -> bool:
    """A location whose path has a ``gateway.upload_paths`` segment (upload, files, media, ...)."""
    if loc.d is None or loc.name != "location":
        return False
    mod, path = location_match(loc)
    if mod == "@":
        return False
    return bool(path_words(path) & _policy_words(stack, "gateway.upload_paths", UPLOAD_DEFAULT))


def pass_directives(loc) -> list:
    """``proxy_pass`` and friends directly in ``loc`` or in its ``if``/``limit_except`` blocks."""
    out = []
    for c in loc.children:
        if c.name in PASS_DIRECTIVES:
            out.append(c)
        elif c.name in ("if", "limit_except") and c.d is not None and c.d.block is not None:
            out.extend(x for x in c.children if x.name in PASS_DIRECTIVES)
    return out


def is_proxied(loc) -> bool:
    return bool(pass_directives(loc))


def pass_host(node) -> tuple[str | None, int | None]:
    """(host, port) of a ``*_pass`` argument; (None, None) for variables and unix sockets."""
    if not node.args:
        return None, None
    url = node.args[0]
    if url.startswith("unix:"):
        return None, None
    rest = url.split("://", 1)[1] if "://" in url else url
    hostport = re.split(r"[/?]", rest, maxsplit=1)[0]
    if "$" in hostport or not hostport:
        return None, None
    m = re.fullmatch(r"(\[[^\]]+\]|[^:]+)(?::([0-9]{1,9}))?", hostport)
    if not m:
        return None, None
    return m.group(1), (int(m.group(2)) if m.group(2) else None)


def upstream_blocks(cfg) -> dict[str, object]:
    """``upstream`` blocks of a configuration, by name."""
    def compute():
        return {n.args[0]: n for n in cfg.nodes("upstream") if n.args and n.d.block is not None}
    return node_memo(cfg.root, "upstreams", compute)


def target_hosts(cfg, node) -> list[str]:
    """Hosts a ``*_pass`` reaches: the upstream block's ``server`` hosts, or the URL's host."""
    host, _ = pass_host(node)
    if host is None:
        return []
    ups = upstream_blocks(cfg).get(host)
    if ups is None:
        return [host]
    out = []
    for srv in ups.children_named("server"):
        if srv.args and not srv.args[0].startswith("unix:"):
            out.append(re.sub(r":\d+$", "", srv.args[0]))
    return out


def target_services(stack: Stack, cfg, loc) -> list:
    """Compose services a location proxies to (through upstream blocks); unknown hosts are skipped."""
    names = host_names(stack)
    out = []
    for p in pass_directives(loc):
        for h in target_hosts(cfg, p):
            svc = names.get(h)
            if svc is not None and svc not in out:
                out.append(svc)
    return out


NON_APP_ROLES = ("postgres", "redis", "minio", "nats", "prometheus", "certbot", "gateway")


def proxies_to_app(stack: Stack, cfg, loc) -> bool:
    """A location passing requests to an application: any ``*_pass`` whose target is not a known
    data/infrastructure service (postgres, redis, minio, nats, prometheus, ...). Unknown hosts count
    as applications."""
    passes = pass_directives(loc)
    if not passes:
        return False
    names = host_names(stack)
    for p in passes:
        hosts = target_hosts(cfg, p)
        if not hosts:
            return True  # variable target: assume an app
        for h in hosts:
            svc = names.get(h)
            if svc is None or svc.role not in NON_APP_ROLES:
                if svc is None and re.search(r"minio|prometheus|grafana|alertmanager", h, re.I):
                    continue
                return True
    return False


def proxies_to_minio(stack: Stack, cfg, loc) -> bool:
    names = host_names(stack)
    for p in pass_directives(loc):
        for h in target_hosts(cfg, p):
            svc = names.get(h)
            if (svc is not None and svc.role == "minio") or "minio" in h.lower():
                return True
    return False


# --------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------


class Zone:
    """A ``limit_req_zone`` or ``limit_conn_zone``: its name, key and rate."""

    name: str
    kind: str  # "req" | "conn"
    key: str
    rate: float | None  # requests per second (limit_req_zone)
    node: object
    cfg: object

    __match_args__ = ("name", "kind", "key", "rate", "node", "cfg")

    def __init__(self, name, kind, key, rate, node, cfg):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "cfg", cfg)

    def __setattr__(self, name, value):
        if type(self) is Zone or name in ("name", "kind", "key", "rate", "node", "cfg"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Zone, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Zone or name in ("name", "kind", "key", "rate", "node", "cfg"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Zone, self).__delattr__(name)


def zone_rate(text: str) -> float | None:
    """``rate=10r/s`` -> 10.0, ``rate=30r/m`` -> 0.5."""
    m = re.search(r"(?<!\d)(\d+(?:\.\d+)?)\s*r/([sm])", text)  # (from a number's start: linear)
    if not m:
        return None
    n = float(m.group(1))
    return n if m.group(2) == "s" else n / 60.0


def is_per_ip_key(key: str) -> bool:
    return "remote_addr" in key or "realip_remote_addr" in key


def configs_of_service(stack: Stack, cfg) -> list:
    """The configurations one nginx process loads together with ``cfg``: a main configuration is a
    whole nginx (its includes are spliced in); fragments (conf.d files the image's nginx.conf
    includes) are loaded with the other fragments of the same gateway service — or, without
    compose, with the other fragments of the scan — so zones defined in one serve the others."""
    if cfg.root.root_name == "main":
        return [cfg]
    return [c for c in stack.nginx_configs if c.service is cfg.service
            and (c.root.root_name != "main" or cfg.service is not None)]


def _zone_scope(node) -> str:
    for a in node.ancestors():
        if a.name in ("http", "stream"):
            return a.name
    return "http"


def limit_zones(stack: Stack, cfg) -> dict[tuple[str, str, str], Zone]:
    """Zones visible to ``cfg``'s container: (scope http|stream, kind req|conn, name) -> Zone."""
    return stack.memo(("limit_zones", tuple(id(c) for c in configs_of_service(stack, cfg))),
                      lambda: _limit_zones(stack, cfg))


def _limit_zones(stack: Stack, cfg) -> dict[tuple[str, str, str], Zone]:
    zones: dict[tuple[str, str, str], Zone] = {}
    for c in configs_of_service(stack, cfg):
        for n in c.nodes("limit_req_zone", "limit_conn_zone"):
            kind = "req" if n.name == "limit_req_zone" else "conn"
            zname = None
            for a in n.args:
                if a.startswith("zone="):
                    zname = a[5:].split(":", 1)[0]
            if not zname:
                continue
            rate = zone_rate(" ".join(n.args)) if kind == "req" else None
            zones.setdefault((_zone_scope(n), kind, zname), Zone(zname, kind, n.args[0] if n.args else "", rate, n, c))
    return zones


def limit_req_zone_name(node) -> str | None:
    for a in node.args:
        if a.startswith("zone="):
            return a[5:]
    return None


def zone_for(stack: Stack, cfg, node) -> Zone | None:
    """The zone a ``limit_req``/``limit_conn`` directive uses, if defined."""
    if node.name == "limit_req":
        name, kind = limit_req_zone_name(node), "req"
    else:
        name, kind = (node.args[0] if node.args else None), "conn"
    if not name:
        return None
    return limit_zones(stack, cfg).get((_zone_scope(node), kind, name))


# --------------------------------------------------------------------------------------------
# nginx version
# --------------------------------------------------------------------------------------------


class NginxVersion:
    """The gateway's nginx version as far as the stack says.

    ``parts`` are the numeric components of the tag (``1.25-alpine`` -> (1, 25)); a partial tag
    floats within its line, so missing components compare as "latest". ``floating`` tags (no tag,
    ``latest``, ``stable``, ``mainline``, ``alpine``) are current releases. ``text`` is None when
    nothing names the version (bare configuration, unknown image).
    """

    text: str | None
    parts: tuple[int, ...] | None
    floating: bool
    flavour: str  # "alpine" | "debian" | ""

    __match_args__ = ("text", "parts", "floating", "flavour")

    def __init__(self, text, parts, floating, flavour):
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "floating", floating)
        object.__setattr__(self, "flavour", flavour)

    def __setattr__(self, name, value):
        if type(self) is NginxVersion or name in ("text", "parts", "floating", "flavour"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(NginxVersion, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is NginxVersion or name in ("text", "parts", "floating", "flavour"):
            raise _frozen(f"cannot delete field {name!r}")
        super(NginxVersion, self).__delattr__(name)

    def at_least(self, *target: int) -> bool | None:
        """True/False, or None when the version is unknown."""
        if self.floating:
            return True
        if self.parts is None:
            return None
        padded = self.parts + (10**6,) * max(0, len(target) - len(self.parts))
        return padded >= target

    @property
    def known(self) -> bool:
        return self.floating or self.parts is not None

    @property
    def openssl3(self) -> bool:
        """The official image's OpenSSL is known to be >= 3.0 (Alpine 3.17+ from 1.23.3, Debian
        bookworm from 1.25.1), which refuses TLS 1.0/1.1 at its default security level."""
        if self.floating:
            return True
        if self.parts is None:
            return False
        if self.flavour == "alpine":
            return bool(self.at_least(1, 23, 3))
        if self.flavour == "debian":
            return bool(self.at_least(1, 25, 1))
        return False


def parse_nginx_version(tag: str | None, image: str = "") -> NginxVersion:
    if tag is None:
        return NginxVersion(None, None, False, "")
    t = str(tag).strip().lower()
    flavour = "alpine" if "alpine" in t else ""
    ref = image.split("@")[0].lower()
    base = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    official = base in ("nginx", "library/nginx", "docker.io/library/nginx", "docker.io/nginx") or base.endswith(("nginxinc/nginx-unprivileged", "nginx/nginx-unprivileged"))
    if not flavour and official:
        flavour = "debian"
    if "/" in t or t in ("", "nginx"):
        return NginxVersion(tag, None, True, flavour)
    m = re.match(r"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?", t)
    if not m:
        floating = any(w in t for w in ("latest", "stable", "mainline", "alpine", "bookworm", "trixie", "bullseye", "perl", "otel", "slim"))
        return NginxVersion(tag, None, floating, flavour)
    parts = tuple(small_int(g) for g in m.groups() if g is not None)
    if None in parts:  # a component no real version has (over 18 digits): not a version dkscan can judge
        return NginxVersion(tag, None, False, flavour)
    return NginxVersion(tag, parts, False, flavour)


def gateway_image(stack: Stack, svc) -> str:
    if svc is None:
        return ""
    return image_ref(stack, svc)


def nginx_version(stack: Stack, svc=None) -> NginxVersion:
    """The version of the nginx loading a configuration (policy ``nginx.version``, else the
    gateway's image tag or Dockerfile ``FROM nginx:``), see ``Stack.nginx_version``."""
    def compute() -> NginxVersion:
        tag = stack.nginx_version(svc)
        configured = stack.policy.get("nginx.version")
        image = "" if configured else gateway_image(stack, svc if svc is not None else next(iter(stack.services_by_role("gateway")), None))
        return parse_nginx_version(tag, image)

    return stack.memo(("nginx_version", id(svc)), compute)


LEGACY_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")


def default_ssl_protocols(version: NginxVersion) -> list[str]:
    """nginx's default ``ssl_protocols``: ``TLSv1.2 TLSv1.3`` since 1.27.3; ``TLSv1 TLSv1.1 TLSv1.2``
    before (``TLSv1.3`` added in 1.23.4). An unknown version counts as current."""
    if version.at_least(1, 27, 3) is not False:
        return ["TLSv1.2", "TLSv1.3"]
    out = ["TLSv1", "TLSv1.1", "TLSv1.2"]
    if version.at_least(1, 23, 4):
        out.append("TLSv1.3")
    return out


def effective_protocols(stack: Stack, cfg, level) -> tuple[list[str], object | None]:
    """(protocols a level really offers, the ``ssl_protocols`` directive or None for the default).

    The default depends on the version; with an OpenSSL known >= 3.0, TLS 1.0/1.1 are refused anyway.
    """
    d = level.effective("ssl_protocols")
    if d is not None:
        return list(d.args), d
    v = nginx_version(stack, cfg.service)
    protos = default_ssl_protocols(v)
    if v.openssl3:
        protos = [p for p in protos if p not in LEGACY_PROTOCOLS]
    return protos, None


# --------------------------------------------------------------------------------------------
# text edits on the original files
# --------------------------------------------------------------------------------------------


class Token:
    """One argument of a directive as written in its file, with its span."""

    raw: str  # as written, quotes included
    value: str  # unquoted
    line: int
    col: int
    end_line: int
    end_col: int  # exclusive

    __match_args__ = ("raw", "value", "line", "col", "end_line", "end_col")

    def __init__(self, raw, value, line, col, end_line, end_col):
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "col", col)
        object.__setattr__(self, "end_line", end_line)
        object.__setattr__(self, "end_col", end_col)

    def __setattr__(self, name, value):
        if type(self) is Token or name in ("raw", "value", "line", "col", "end_line", "end_col"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Token, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Token or name in ("raw", "value", "line", "col", "end_line", "end_col"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Token, self).__delattr__(name)

    @property
    def location(self) -> Location:
        return Location("", self.line, self.col, self.end_line, self.end_col)


def file_doc(stack: Stack, path: str):
    """The parsed document of the stack file at ``path`` (None when the stack did not parse one)."""
    sf = stack.files.get(path)
    return sf.doc if sf is not None else None


def _doc(stack: Stack, node):
    """The document a node was read from (None for a synthetic root)."""
    return file_doc(stack, node.path) if node is not None and node.d is not None else None


def directive_tokens(stack: Stack, node) -> tuple[list[Token], tuple[int, int] | None]:
    """The directive's tokens (name first) with exact positions, and the position (line, col) of its
    terminating ``;`` or ``{``. ([], None) when the file text is unavailable.

    Several rules ask for the same directives (``listen``, ``server``...): each directive of a
    document is tokenized once, the answer kept in the stack's memo."""
    doc = _doc(stack, node)
    if doc is None:
        return [], None
    tokens, term = stack.memo(("directive_tokens", id(doc), node.line, node.col),
                              lambda: _tokenize_directive(doc.lines, node.line - 1, node.col - 1))
    return list(tokens), term


def _tokenize_directive(lines: list[str], li: int, ci: int) -> tuple[tuple[Token, ...], tuple[int, int] | None]:
    tokens: list[Token] = []
    while li < len(lines):
        text = lines[li]
        while ci < len(text):
            ch = text[ci]
            if ch in " \t\r":
                ci += 1
                continue
            if ch == "#":
                break
            if ch in ";{":
                return tuple(tokens), (li + 1, ci + 1)
            if ch == "}":
                return tuple(tokens), None
            start_li, start_ci = li, ci
            raw_parts: list[str] = []
            value_parts: list[str] = []
            if ch in "\"'":
                quote = ch
                ci += 1
                buf_raw = [quote]
                while True:
                    if li >= len(lines):
                        return tuple(tokens), None
                    text = lines[li]
                    while ci < len(text):
                        c2 = text[ci]
                        if c2 == "\\" and ci + 1 < len(text):
                            buf_raw.append(text[ci:ci + 2])
                            value_parts.append(text[ci + 1] if text[ci + 1] in "\"'\\" else text[ci:ci + 2])
                            ci += 2
                            continue
                        if c2 == quote:
                            buf_raw.append(quote)
                            ci += 1
                            break
                        buf_raw.append(c2)
                        value_parts.append(c2)
                        ci += 1
                    else:
                        buf_raw.append("\n")
                        value_parts.append("\n")
                        li += 1
                        ci = 0
                        continue
                    break
                raw_parts = buf_raw
            else:
                while ci < len(text):
                    c2 = text[ci]
                    if c2 in " \t\r;":
                        break
                    if c2 == "{" and not (ci > 0 and text[ci - 1] == "$"):
                        break
                    if c2 == "{" and ci > 0 and text[ci - 1] == "$":
                        close = text.find("}", ci)
                        close = len(text) - 1 if close < 0 else close
                        raw_parts.append(text[ci:close + 1])
                        value_parts.append(text[ci:close + 1])
                        ci = close + 1
                        continue
                    if c2 == "\\" and ci + 1 < len(text):
                        raw_parts.append(text[ci:ci + 2])
                        value_parts.append(text[ci + 1])
                        ci += 2
                        continue
                    raw_parts.append(c2)
                    value_parts.append(c2)
                    ci += 1
            tokens.append(Token("".join(raw_parts), "".join(value_parts), start_li + 1, start_ci + 1, li + 1, ci + 1))
        li += 1
        ci = 0
    return tuple(tokens), None


def directive_text(stack: Stack, node) -> str | None:
    """The directive as written, from its name to its ``;`` included (one line per source line)."""
    doc = _doc(stack, node)
    toks, term = directive_tokens(stack, node)
    if doc is None or term is None:
        return None
    lines = doc.lines
    if term[0] == node.line:
        return lines[node.line - 1][node.col - 1:term[1]]
    parts = [lines[node.line - 1][node.col - 1:]]
    parts.extend(l.strip() for l in lines[node.line:term[0] - 1])
    parts.append(lines[term[0] - 1][:term[1]].strip())
    return " ".join(p.strip() for p in parts if p.strip())


def replace_token_edit(stack: Stack, node, index: int, new_raw: str) -> Edit | None:
    """Replace token ``index`` (0 = the name, 1 = first argument) by ``new_raw``."""
    toks, _ = directive_tokens(stack, node)
    if index >= len(toks):
        return None
    t = toks[index]
    return Edit(Location(node.path, t.line, t.col, t.end_line, t.end_col), new_raw)


def replace_args_edit(stack: Stack, node, new_args: str) -> Edit | None:
    """Replace every argument (name kept) by ``new_args``."""
    toks, term = directive_tokens(stack, node)
    if not toks or term is None:
        return None
    if len(toks) == 1:
        return Edit(Location(node.path, toks[0].end_line, toks[0].end_col), " " + new_args)
    first, last = toks[1], toks[-1]
    return Edit(Location(node.path, first.line, first.col, last.end_line, last.end_col), new_args)


def insert_before_terminator_edit(stack: Stack, node, text: str) -> Edit | None:
    """Insert ``text`` right after the last argument (before ``;``)."""
    toks, term = directive_tokens(stack, node)
    if not toks or term is None:
        return None
    last = toks[-1]
    return Edit(Location(node.path, last.end_line, last.end_col), text)


def delete_directive_edit(stack: Stack, node) -> Edit | None:
    """Delete a directive: its whole line(s) when it is alone there, else just its text."""
    doc = _doc(stack, node)
    toks, term = directive_tokens(stack, node)
    if doc is None or term is None:
        return None
    lines = doc.lines
    before = lines[node.line - 1][:node.col - 1]
    after = lines[term[0] - 1][term[1]:]
    if not before.strip() and (not after.strip() or after.strip().startswith("#")):
        return Edit(Location(node.path, node.line, 1, term[0] + 1, 1), "")
    end_col = term[1] + 1
    while end_col - 1 < len(lines[term[0] - 1]) and lines[term[0] - 1][end_col - 1] == " ":
        end_col += 1
    return Edit(Location(node.path, node.line, node.col, term[0], end_col), "")


def child_indent(stack: Stack, block) -> str:
    """Indentation of the block's children (that of its first child on its own line, else the
    block's own plus four spaces)."""
    doc = _doc(stack, block)
    if doc is not None:
        for c in block.children:
            if c.d is not None and c.path == block.path and c.line > block.line:
                text = doc.line_text(c.line)
                return text[: len(text) - len(text.lstrip())]
        text = doc.line_text(block.line)
        return text[: len(text) - len(text.lstrip())] + "    "
    return "    "


def insert_into_block_edit(stack: Stack, cfg, block, lines: list[str]) -> Edit | None:
    """Insert directive lines at the top of a block (right after its ``{``). A synthetic root
    (fragment file) gets them at line 1 of its file."""
    if not lines:
        return None
    if block.d is None:
        return Edit(Location(cfg.doc.path, 1, 1), "".join(l + "\n" for l in lines))
    _, term = directive_tokens(stack, block)
    if term is None:
        return None
    indent = child_indent(stack, block)
    return Edit(Location(block.path, term[0], term[1] + 1), "".join("\n" + indent + l for l in lines))


def _line_indent(stack: Stack, node) -> str | None:
    """The node's indentation when it starts its line, else None."""
    doc = _doc(stack, node)
    if doc is None:
        return None
    before = doc.line_text(node.line)[: node.col - 1]
    return before if not before.strip() else None


def insert_before_edit(stack: Stack, node, lines: list[str]) -> Edit | None:
    """Insert directive lines just above ``node`` (same indentation); None when ``node`` does not
    start its line."""
    indent = _line_indent(stack, node)
    if indent is None or not lines:
        return None
    return Edit(Location(node.path, node.line, 1), "".join(indent + l + "\n" for l in lines))


def insert_after_edit(stack: Stack, node, lines: list[str]) -> Edit | None:
    """Insert directive lines just below ``node`` (after its ``;``, same indentation)."""
    indent = _line_indent(stack, node)
    _, term = directive_tokens(stack, node)
    if indent is None or term is None or not lines:
        return None
    return Edit(Location(node.path, term[0], term[1] + 1), "".join("\n" + indent + l for l in lines))


def add_to_level_edit(stack: Stack, cfg, level, directive: str, lines: list[str]) -> Edit | None:
    """Insert ``lines`` into ``level`` next to its own ``directive`` lines (after the last one in
    the level's own file), else at the top of the block."""
    own = [c for c in level.children if c.name == directive and c.d is not None
           and c.path == (level.path if level.d is not None else cfg.doc.path)]
    if own:
        edit = insert_after_edit(stack, own[-1], lines)
        if edit is not None:
            return edit
    return insert_into_block_edit(stack, cfg, level, lines)


def http_level(cfg):
    """The level where http-wide directives (zones, ``ssl_protocols`` defaults) belong: the ``http``
    block, or the fragment root when the file is itself included into ``http``; None for a
    server-context fragment."""
    if cfg.http.d is not None:
        return cfg.http
    if cfg.root.d is None and cfg.root.root_name == "http":
        return cfg.root
    return None


def http_insert_edit(stack: Stack, cfg, lines: list[str]) -> Edit | None:
    """Insert directives at http level (None when the configuration has no http level of its own)."""
    lvl = http_level(cfg)
    if lvl is None:
        return None
    return insert_into_block_edit(stack, cfg, lvl, lines)


def size_bytes(text: str) -> int | None:
    """nginx size (``10m``, ``1G``, ``512k``, ``1024``) in bytes."""
    t = str(text).strip().lower()
    if not re.fullmatch(r"\d+(\.\d+)?[kmg]?", t):
        return None
    return parse_size(t)


# --------------------------------------------------------------------------------------------
# shared iteration helpers
# --------------------------------------------------------------------------------------------


def servers_of(cfg, http_only: bool = False) -> list:
    out = []
    for s in cfg.servers:
        if s.d is not None and s.d.block is None:
            continue  # an upstream's `server host:port;`
        if s.d is not None and any(a.name in ("upstream", "stream", "mail") for a in s.ancestors()):
            if http_only or any(a.name == "upstream" for a in s.ancestors()):
                continue
        out.append(s)
    return out


def level_name(level) -> str:
    if level.d is None or level.name == "server":
        return "the server level"
    if level.name == "location":
        return "location " + " ".join(level.args)
    if level.name == "if":
        return "if (" + " ".join(level.args) + ")"
    return level.name


def levels_text(levels: list, limit: int = 4) -> str:
    names = [level_name(l) for l in levels]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)


def is_https_redirect(node) -> bool:
    if node.name == "return" and len(node.args) >= 2 and node.args[0] in ("301", "302", "303", "307", "308"):
        return node.args[1].lower().startswith("https://")
    if node.name == "return" and len(node.args) == 1:
        return node.args[0].lower().startswith("https://")
    if node.name == "rewrite" and len(node.args) >= 2:
        return node.args[1].lower().startswith("https://")
    return False


def serves_content(loc) -> bool:
    """The level passes requests upstream or serves files (no return, not deny-all, not a redirect)."""
    if (loc.child("return") is not None):
        return False
    if any(c.name == "rewrite" and is_https_redirect(c) for c in loc.children):
        return False
    if is_deny_all_only(loc):
        return False
    return True


def http_servers(cfg):
    return servers_of(cfg, http_only=True)


def add_array_directive_edit(stack: Stack, cfg, level, directive: str, new_lines: list[str], skip=lambda n: False):
    """Insert ``new_lines`` into ``level``; when the level has none of ``directive`` (an array
    directive: add_header, limit_req, limit_conn, proxy_set_header), copy the inherited ones first so
    that adding does not drop them."""
    own = [c for c in level.children if c.name == directive]
    lines: list[str] = []
    if not own and not (directive == "add_header" and inherit_mode(level) in ("merge", "off")):
        parent = parent_level(level)
        inherited = parent.inherited(directive) if parent is not None else []
        for d in inherited:
            if skip(d):
                continue
            text = directive_text(stack, d)
            if text is None:
                return None
            lines.append(text)
    return add_to_level_edit(stack, cfg, level, directive, lines + new_lines)

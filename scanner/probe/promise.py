"""What the audited stack promises for the probed URL: the nginx ``server`` that answers it and the
configuration in force for each path the probe requests.

The server is chosen the way nginx chooses it: the listeners on the URL's port (mapped through the
gateway's compose ``ports`` from host to container port), then ``server_name`` (exact, leading and
trailing wildcards, ``~regex``), then the port's ``default_server``, then the first. A path's level
is chosen by nginx's location algorithm: ``=`` exact match, else the longest prefix (stop there if
it is ``^~``), else the first matching regex in order (nested ones inside the prefix first), else
the longest prefix. Everything else (inheritance of ``add_header``, protocols by nginx version,
auth and upload locations) is ``rules.helpers.nginx``'s answer, imported here so the probe and the audit
never disagree on what the configuration says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rules.helpers.nginx import (effective_headers, effective_protocols, is_auth_location, is_proxied,
                          is_tls_server, listen_specs, location_match, walk_blocks)
from scanner.model import Location

NGINX_DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5"
MAX_PROBE_PATHS = 40  # proxied locations requested (a hostile config may list thousands)
MAX_PATH = 256
# A quantified group that is itself quantified (`(a+)+`, `(\w*)*`): Python's backtracking `re` could
# run for hours on it. The stack's config is untrusted input: such a regex location is not evaluated.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def safe_search(pattern: str, text: str, flags: int = 0) -> bool | None:
    """``re.search`` for a regex from the (untrusted) config; None when it is not evaluated."""
    if len(pattern) > 512 or _NESTED_QUANTIFIER.search(pattern) or len(text) > MAX_PATH:
        return None
    try:
        return re.search(pattern, text, flags) is not None
    except (re.error, RecursionError, OverflowError):
        return None


def _name_matches(pattern: str, host: str) -> bool:
    p = pattern.lower().rstrip(".")
    if not p or p == "_":
        return False
    if p.startswith("~"):
        return bool(safe_search(p[1:], host, re.I))
    if p.startswith("."):
        return host == p[1:] or host.endswith(p)
    if p.startswith("*."):
        return host.endswith(p[1:])
    if p.endswith(".*"):
        return host.startswith(p[:-1])
    return p == host


@dataclass
class Promise:
    """The matched configuration. ``server`` is None when the stack has no TLS/HTTP server for the URL."""

    stack: object
    cfg: object | None = None
    server: object | None = None
    http_cfg: object | None = None
    http_server: object | None = None  # the plaintext server of ``--http-port``
    gateway: object | None = None  # the compose service that runs nginx
    container_port: int | None = None
    notes: list[str] = field(default_factory=list)

    # -- locations ------------------------------------------------------------------------------
    def level_for(self, path: str, server=None):
        """The location (or the server) that answers ``path``."""
        server = server if server is not None else self.server
        if server is None:
            return None
        return match_location(server, path) or server

    def probe_paths(self) -> list[str]:
        """``/`` and the path of each proxied non-regex location of the server, in document order."""
        out = ["/"]
        if self.server is None:
            return out
        for loc in walk_blocks(self.server, "location"):
            mod, path = location_match(loc)
            if mod in ("", "=", "^~") and path.startswith("/") and is_proxied(loc) and path not in out \
                    and len(path) <= MAX_PATH and path.isprintable():
                out.append(path)
        if len(out) > MAX_PROBE_PATHS:
            self.notes.append(f"{len(out) - MAX_PROBE_PATHS} more proxied locations not requested "
                              f"(at most {MAX_PROBE_PATHS})")
            out = out[:MAX_PROBE_PATHS]
        return out

    def auth_locations(self) -> list:
        if self.server is None:
            return []
        return [loc for loc in walk_blocks(self.server, "location")
                if is_auth_location(self.stack, loc) and location_match(loc)[0] in ("", "=", "^~")]

    def status_locations(self) -> list[str]:
        """Paths of non-regex locations with ``stub_status`` in the matched server."""
        out = []
        if self.server is None:
            return out
        for loc in walk_blocks(self.server, "location"):
            mod, path = location_match(loc)
            if mod in ("", "=", "^~") and loc.child("stub_status") is not None:
                out.append(path)
        return out

    # -- TLS ------------------------------------------------------------------------------------
    def protocols(self) -> tuple[list[str], object | None]:
        if self.server is None or self.cfg is None:
            return [], None
        return effective_protocols(self.stack, self.cfg, self.server)

    def ciphers(self) -> tuple[str, object | None]:
        if self.server is None:
            return NGINX_DEFAULT_CIPHERS, None
        d = self.server.effective("ssl_ciphers")
        return (d.args[0], d) if d is not None and d.args else (NGINX_DEFAULT_CIPHERS, None)

    def directive(self, name: str, level=None):
        level = level if level is not None else self.server
        return level.effective(name) if level is not None else None

    def headers(self, level) -> dict:
        return effective_headers(level) if level is not None else {}

    # -- where findings point -------------------------------------------------------------------
    def anchor(self, target) -> Location:
        """Where a finding with no config counterpart points: the gateway service's key line, else
        the matched server, else (no stack) the URL's ``host:port``."""
        if self.gateway is not None:
            from rules.helpers.locations import svc_loc

            return svc_loc(self.gateway)
        if self.server is not None and self.server.d is not None:
            return self.server.location
        if self.cfg is not None:
            return Location(self.cfg.doc.path, 1, 1)
        return Location(f"{target.host}:{target.port}", 1, 1)

    def at(self, node, target) -> Location:
        """``node``'s location (a directive of the stack), else the anchor."""
        if node is not None and getattr(node, "d", None) is not None:
            return node.location
        return self.anchor(target)


def match_location(server, path: str):
    """nginx's location choice for ``path`` among ``server``'s locations (None: no location matches)."""
    return _match_in(server, path)


def _match_in(block, path: str):
    locs = [c for c in block.children if c.name == "location" and c.is_block]
    best, best_len = None, -1
    for loc in locs:
        mod, p = location_match(loc)
        if mod == "=" and p == path:
            return loc
        if mod in ("", "^~") and path.startswith(p) and len(p) > best_len:
            best, best_len = loc, len(p)
    if best is not None and location_match(best)[0] == "^~":
        return _match_in(best, path) or best
    if best is not None:  # nested regexes of the prefix are tried first
        nested = _regex_match([c for c in best.children if c.name == "location" and c.is_block], path)
        if nested is not None:
            return nested
    regex = _regex_match(locs, path)
    if regex is not None:
        return regex
    if best is not None:
        return _match_in(best, path) or best
    return None


def _regex_match(locs, path: str):
    for loc in locs:
        mod, p = location_match(loc)
        if mod not in ("~", "~*"):
            continue
        if safe_search(p, path, re.I if mod == "~*" else 0):
            return loc
    return None


def _container_ports(gateway, host_port: int) -> list[int]:
    """Container ports the gateway publishes ``host_port`` to (``8443:443`` -> 443); itself when unmapped."""
    out = []
    if gateway is not None:
        for p in gateway.ports:
            hp, cp = p.host_ports, p.container_ports
            if host_port in hp and cp:
                out.append(cp[hp.index(host_port)] if len(cp) == len(hp) else cp[0])
    return out or [host_port]


def _pick_server(servers: list, ports: list[int], host: str, tls: bool):
    on_port = [s for s in servers if any(l.port in ports for l in listen_specs(s)) and is_tls_server(s) == tls]
    if not on_port:
        on_port = [s for s in servers if is_tls_server(s) == tls]
    if not on_port:
        return None
    for exact in (True, False):
        for s in on_port:
            for n in s.children_named("server_name"):
                for name in n.args:
                    plain = not name.startswith(("~", "*", ".")) and not name.endswith(".*")
                    if plain == exact and _name_matches(name, host):
                        return s
    for s in on_port:
        if any(l.default_server and l.port in ports for l in listen_specs(s)):
            return s
    return on_port[0]


def find_promise(stack, target) -> Promise:
    """The configuration that should answer ``target`` (an empty Promise without a stack or nginx)."""
    promise = Promise(stack)
    if stack is None:
        return promise
    gateways = [s for s in stack.services if s.role == "gateway"]
    configs = list(stack.nginx_configs)
    if not configs:
        if gateways:
            promise.gateway = gateways[0]
        if stack.files:
            promise.notes.append("the stack has no nginx configuration: only the checks without a config counterpart ran")
        return promise
    best = None
    for tls, port, attr in ((target.https, target.port, "server"), (False, target.http_port, "http_server")):
        if port is None:
            continue
        for cfg in configs:
            gw = cfg.service if cfg.service is not None else (gateways[0] if gateways else None)
            ports = _container_ports(gw, port)
            servers = [s for s in cfg.servers if s.is_block]
            srv = _pick_server(servers, ports, target.host, tls)
            if srv is None:
                continue
            exact = any(_name_matches(n, target.host) for sn in srv.children_named("server_name") for n in sn.args)
            score = (exact, any(l.port in ports for l in listen_specs(srv)))
            cur = getattr(promise, attr)
            if cur is None or score > best.get(attr, (False, False)):
                setattr(promise, attr, srv)
                if attr == "server":
                    promise.cfg, promise.gateway, promise.container_port = cfg, gw, ports[0]
                else:
                    promise.http_cfg = cfg
                    promise.gateway = promise.gateway or gw
                best = best or {}
                best[attr] = score
    if promise.server is None and gateways:
        promise.gateway = gateways[0]
    if promise.server is None:
        promise.notes.append(f"no nginx server of the stack listens for {target.scheme}://{target.host}:{target.port}")
    return promise

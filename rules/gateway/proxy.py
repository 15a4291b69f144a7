"""Gateway, proxy family (GW060-GW071): upstream targets, Host and client-address headers,
resolvers, SSRF and header injection through variables."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import nloc
from rules.helpers.nginx_proxy import (
    PASS_DIRECTIVES,
    VAR_RE,
    arg_loc,
    arg_spans,
    cloud_provider,
    directive_words,
    enclosing,
    enclosing_location,
    extra_hosts,
    fix_of,
    host_names,
    include_unresolved,
    insert_after,
    insert_in_block,
    internal_name,
    is_internal,
    is_ip,
    levels,
    line_text,
    listening_ports,
    networks_external,
    pass_target,
    pass_targets,
    proxied_locations,
    scope_of,
    value_segments,
    var_taint,
)
from scanner.model import Edit, Location, hit
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# GW060-GW071: proxying
# --------------------------------------------------------------------------------------------


def _minio_location(stack: Stack, node) -> bool:
    """A location (or server) proxying to MinIO, whose S3 signatures cover host:port."""
    loc = enclosing_location(node) or node.parent
    scope = loc if loc is not None else node
    passes = [c for c in scope.walk() if c.name in PASS_DIRECTIVES and c.args]
    names = host_names(stack)
    for p in passes:
        host, _, _ = pass_target(p.args[0])
        if host is None:
            continue
        svc = names.get(host)
        if (svc is not None and svc.role == "minio") or "minio" in host.lower() or "s3" == host.lower():
            return True
    return False


_SPOOF_VAR = LazyRe(r"\$\{?(http_\w+|arg_\w+)\}?")


@rule("GW060", "host-header-spoofable", "medium", files="nginx",
      refs="CWE-20; gixy host_spoofing; sg request-host-used", fix="safe")
def host_header_spoofable(stack: Stack):
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
            yield hit(span, f"`{directive_words(node)}`: {what} comes from the client's `${var}`, unchecked (host header injection); use `$host`",
                      fix=fix_of("use `$host`", edits), snippet_key=f"{node.name}:{node.args[0] if node.args else ''}:{var}")


def _url_flaw(stack: Stack, cfg, node, url: str) -> str | None:
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
def ssrf_dynamic_upstream(stack: Stack):
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
                yield hit(arg_loc(stack, node, 0), f"`{directive_words(node)}`: {why} (server-side request forgery)",
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
def http_splitting(stack: Stack):
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
                                  f"`{directive_words(node)}`: `${var}` can hold {brk} decoded from the request (HTTP response splitting)",
                                  snippet_key=f"{node.name}:{value}")
                        break
                else:
                    continue
                break


def _resolver_in_scope(node) -> bool:
    return node.effective("resolver") is not None


@rule("GW064", "missing-resolver", "medium", files="nginx+compose", refs="gixy missing_resolver", fix="safe")
def missing_resolver(stack: Stack):
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
def missing_resolver_cloud(stack: Stack):
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


def _resolver_findings(stack: Stack, cloud: bool):
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
                          f"`{directive_words(node)}`: a URL with variables is resolved per request, and no `resolver` is in scope (every request fails with 502)",
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


def _judge_static(stack: Stack, node, host: str, cloud: bool):
    if is_ip(host) or "." not in host:
        return
    provider = cloud_provider(host)
    if cloud:
        if provider:
            yield hit(arg_loc(stack, node, 0), f"`{directive_words(node)}`: {provider} name '{host}' is resolved once at startup; its addresses rotate",
                      snippet_key=f"{node.name}:{host}")
        return
    if provider or internal_name(stack, host):
        return
    how = "add `resolve` (nginx ≥ 1.27.3) and a `resolver`" if node.name == "server" else "use a variable with a `resolver`"
    yield hit(arg_loc(stack, node, 0), f"`{directive_words(node)}`: '{host}' is resolved once at startup and never again; {how}",
              snippet_key=f"{node.name}:{host}")


def _map_of_upstreams(stack: Stack, cfg, host: str, ups) -> bool:
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


def _resolved_host(stack: Stack, cfg, node, url: str) -> str | None:
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
def resolver_external(stack: Stack):
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
            yield hit(nloc(node), f"`{directive_words(node)}`: public DNS server {', '.join(public)} answers nginx's unvalidated queries (spoofable); use a local resolver",
                      fix=fix_of("use Docker's embedded resolver 127.0.0.11", edits, "unsafe"), snippet_key=f"resolver:{' '.join(public)}")


@rule("GW067", "upstream-target-mismatch", "high", files="nginx+compose", fix="unsafe")
def upstream_target_mismatch(stack: Stack):
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
    names = host_names(stack)
    known_hosts = set(names) | extra_hosts(stack)
    external = networks_external(stack)
    for cfg in stack.nginx_configs:
        seen = set()
        for t in pass_targets(stack, cfg):
            if id(t.node) in seen:
                continue
            seen.add(id(t.node))
            yield from _check_target(stack, names, known_hosts, external, t.node, t.host, t.port)


def _check_target(stack: Stack, names, known_hosts, external, node, host, port):
    if "." in host or host in ("localhost",) or is_ip(host):
        return
    svc = names.get(host)
    if svc is None:
        if host in known_hosts or external:
            return
        yield hit(arg_loc(stack, node, 0), f"`{directive_words(node)}`: no compose service, container_name, alias or extra_hosts entry is named '{host}' (nginx will refuse to start: host not found in upstream)",
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
    yield hit(arg_loc(stack, node, 0), f"`{directive_words(node)}`: service '{svc.name}' listens on {', '.join(str(p) for p in sorted(ports))}, not {port} (every request will get 502)",
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
def forwarded_headers_missing(stack: Stack):
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
            yield hit(nloc(anchor), f"proxied location `{directive_words(anchor)}` does not set {', '.join(names)}: the app sees the gateway's address or scheme, or the client's forged header",
                      fix=fix, snippet_key=f"fwd:{directive_words(anchor)}:{','.join(names)}")


@rule("GW069", "websocket-upgrade-incomplete", "low", files="nginx", refs="nginx WebSocket docs", fix="safe")
def websocket_upgrade_incomplete(stack: Stack):
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
            yield hit(nloc(anchor), f"`{directive_words(anchor)}` forwards `Upgrade $http_upgrade` without {what}: the WebSocket handshake never reaches the app",
                      fix=fix, snippet_key=f"ws:{directive_words(anchor)}")


@rule("GW071", "real-ip-from-anywhere", "medium", files="nginx", refs="CWE-290")
def real_ip_from_anywhere(stack: Stack):
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
                yield hit(nloc(node), f"`{directive_words(node)}`: every client is a trusted proxy, so `{name}` sets `$remote_addr` (limits, allow-lists and logs trust a forged address)",
                          snippet_key=f"set_real_ip_from:{node.args[0]}")

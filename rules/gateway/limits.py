"""Gateway, request limits family (GW040-GW050): request-rate and connection limits, body size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.locations import nloc
from rules.helpers.nginx import (
    add_array_directive_edit,
    configs_of_service,
    http_insert_edit,
    http_servers,
    insert_into_block_edit,
    is_auth_location,
    is_per_ip_key,
    is_proxied,
    is_upload_location,
    level_name,
    levels_text,
    limit_req_zone_name,
    limit_zones,
    location_match,
    once,
    opaque,
    proxies_to_app,
    proxies_to_minio,
    replace_args_edit,
    serves_content,
    size_bytes,
    walk_blocks,
    zone_for,
)
from scanner.model import Edit, Fix, hit
from scanner.registry import rule
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------


def _per_ip_rates(stack: Stack, cfg, level) -> list[tuple[float, object]]:
    out = []
    for d in level.inherited("limit_req"):
        z = zone_for(stack, cfg, d)
        if z is not None and z.rate is not None and is_per_ip_key(z.key):
            out.append((z.rate, z))
    return out


def _rate_text(rate: float) -> str:
    return f"{rate:g} r/s"


def _limit_locations(server):
    for loc in walk_blocks(server, "location"):
        mod, _ = location_match(loc)
        if mod == "@" or loc.child("internal") is not None:
            continue
        yield loc


def _free_zone(zones, base: str) -> str:
    names = {k[2] for k in zones}
    if base not in names:
        return base
    i = 2
    while f"{base}{i}" in names:
        i += 1
    return f"{base}{i}"


def _req_zone(stack: Stack, cfg, name_hint: str, max_rate: float) -> tuple[str, Edit | None]:
    """A per-IP limit_req zone with rate <= max_rate (reused when one exists), and the edit that
    defines it otherwise."""
    zones = limit_zones(stack, cfg)
    for (scope, kind, name), z in sorted(zones.items(), key=lambda kv: (kv[0][2] != name_hint, kv[0][2])):
        if scope == "http" and kind == "req" and is_per_ip_key(z.key) and z.rate is not None and z.rate <= max_rate:
            return name, None
    name = _free_zone(zones, name_hint)
    rate = f"{int(max_rate)}r/s" if max_rate >= 1 else f"{int(max_rate * 60)}r/m"
    return name, http_insert_edit(stack, cfg, [f"limit_req_zone $binary_remote_addr zone={name}:10m rate={rate};"])


def _policy_num(stack: Stack, key: str, default: float) -> float:
    try:
        return float(stack.policy.get(key, default))
    except (TypeError, ValueError):
        return default


def _levels(locs: list) -> str:
    names = [level_name(l) for l in locs[:4]]
    return ", ".join(names) + (f" and {len(locs) - 4} more" if len(locs) > 4 else "")


@rule("GW040", "rate-limit-missing", "medium", files="nginx", refs="CWE-770; nginx limit_req docs", fix="unsafe")
def rate_limit_missing(stack: Stack):
    """A location proxying to the application has no request-rate limit.

    ## What it does
    Flags each location (named and `internal` ones aside) that passes requests to an application —
    `proxy_pass`/`grpc_pass`/`fastcgi_pass`/… to a service that is not a database, cache, broker or
    monitoring service (unknown hosts count as applications) — with no `limit_req` in effect. A level
    with its own `limit_req` inherits none from above. When no such location of a server is limited,
    that is one finding at the `server` (the locations related), fixed there once.

    ## Why is this bad?
    One client can send requests as fast as the network allows: scraping, credential stuffing and
    application-level DoS reach the app and its database unthrottled.

    ## Example
    ```nginx
    location /api/ { proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=general:10m rate=100r/s;   # http
    location /api/ { limit_req zone=general burst=50 nodelay; proxy_pass http://backend; }
    ```

    ## Fix safety
    Unsafe: clients behind one NAT share an address and may be throttled; check the rate
    (`gateway.rate_general`) against real traffic.

    ## References
    CWE-770; nginx ngx_http_limit_req_module documentation.
    """
    rate = _policy_num(stack, "gateway.rate_general", 100)
    for cfg in stack.nginx_configs:
        for server in http_servers(cfg):
            apps = [loc for loc in _limit_locations(server) if proxies_to_app(stack, cfg, loc)]
            missing = [loc for loc in apps if not loc.inherited("limit_req") and not opaque(stack, cfg, loc, ("limit_req",))]
            if len(missing) > 1 and len(missing) == len(apps) and not any(l.children_named("limit_req") for l in missing):
                # no location of the server is limited: one root cause, fixed once at the server
                name, zone_edit = _req_zone(stack, cfg, "general", rate)
                srv_edit = add_array_directive_edit(stack, cfg, server, "limit_req", [f"limit_req zone={name} burst=50 nodelay;"])
                fix = (Fix(f"limit requests per client IP in the whole server (zone {name})", tuple(e for e in (zone_edit, srv_edit) if e))
                       if srv_edit is not None and (zone_edit is not None or name in {k[2] for k in limit_zones(stack, cfg)}) else None)
                yield hit(nloc(server, cfg), f"no location of this server limits requests: {_levels(missing)} proxy to the application with no limit_req in effect",
                          fix=fix, related=[nloc(l, cfg) for l in missing], snippet_key="rate-limit-missing:server")
                continue
            for loc in missing:
                name, zone_edit = _req_zone(stack, cfg, "general", rate)
                loc_edit = insert_into_block_edit(stack, cfg, loc, [f"limit_req zone={name} burst=50 nodelay;"])
                edits = tuple(e for e in (zone_edit, loc_edit) if e is not None)
                fix = Fix(f"limit requests per client IP (zone {name})", edits) if loc_edit is not None and (zone_edit is not None or name in {k[2] for k in limit_zones(stack, cfg)}) else None
                yield hit(nloc(loc), f"{level_name(loc)} proxies to the application with no limit_req in effect",
                          fix=fix, snippet_key="rate-limit-missing:" + " ".join(loc.args))


@rule("GW041", "rate-limit-above-policy", "low", files="nginx", refs="seed")
def rate_limit_above_policy(stack: Stack):
    """The per-IP request rate allowed is above the policy.

    ## What it does
    For each location or server level with `limit_req` in effect, takes the strictest per-client-IP
    zone (`$binary_remote_addr`/`$remote_addr` key; `r/m` counts as rate/60) and flags its
    `limit_req_zone` when that rate exceeds `gateway.rate_general` (default 100 r/s).

    ## Why is this bad?
    A limit set above the capacity the stack was sized for does not protect it: one client can still
    use the share of hundreds of users.

    ## Example
    ```nginx
    limit_req_zone $binary_remote_addr zone=general:10m rate=1000r/s;
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=general:10m rate=100r/s;
    ```

    ## Fix safety
    Manual: the right rate depends on the traffic.

    ## References
    Seed targets (100 req/s per IP).
    """
    rate = _policy_num(stack, "gateway.rate_general", 100)
    seen: set = set()
    for cfg in stack.nginx_configs:
        for server in http_servers(cfg):
            for lvl in [server] + list(_limit_locations(server)):
                rates = _per_ip_rates(stack, cfg, lvl)
                if not rates:
                    continue
                best, zone = min(rates, key=lambda t: t[0])
                if best <= rate or not once(seen, zone.node):
                    continue
                yield hit(nloc(zone.node), f"zone {zone.name} allows {_rate_text(best)} per client IP, above gateway.rate_general {rate:g} r/s",
                          snippet_key=f"rate-above:{zone.name}")


@rule("GW042", "auth-rate-limit-missing", "high", files="nginx", refs="CWE-307; OWASP ASVS V2.2", fix="unsafe")
def auth_rate_limit_missing(stack: Stack):
    """An authentication location has no strict per-IP rate limit.

    ## What it does
    Flags each location whose path has a `gateway.auth_paths` segment (auth, login, signin, token,
    oauth, password, register, otp) and that answers with content, when no per-client-IP `limit_req`
    is in effect there or the strictest one allows more than `gateway.rate_auth` (default 10 r/s).

    ## Why is this bad?
    Password guessing and credential stuffing are only bounded by the rate the gateway lets through:
    at the general 100 r/s one address tries 8.6 million passwords a day.

    ## Example
    ```nginx
    location /api/v1/oauth/ { limit_req zone=general burst=20 nodelay; proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=auth:10m rate=10r/s;   # http
    location /api/v1/oauth/ { limit_req zone=auth burst=5 nodelay; proxy_pass http://backend; }
    ```

    ## Fix safety
    Unsafe: legitimate bursts (a single sign-on redirect chain) may be throttled.

    ## References
    CWE-307; OWASP ASVS 4.0 V2.2 (anti-automation).
    """
    rate = _policy_num(stack, "gateway.rate_auth", 10)
    seen: set = set()
    for cfg in stack.nginx_configs:
        for server in http_servers(cfg):
            for loc in _limit_locations(server):
                if not is_auth_location(stack, loc) or not serves_content(loc) or not once(seen, loc):
                    continue
                rates = _per_ip_rates(stack, cfg, loc)
                if not rates and opaque(stack, cfg, loc, ("limit_req",)):
                    continue
                if rates and min(r for r, _ in rates) <= rate:
                    continue
                name, zone_edit = _req_zone(stack, cfg, "auth", rate)
                loc_edit = add_array_directive_edit(stack, cfg, loc, "limit_req", [f"limit_req zone={name} burst=5 nodelay;"])
                fix = None
                if loc_edit is not None and (zone_edit is not None or name in {k[2] for k in limit_zones(stack, cfg)}):
                    fix = Fix(f"limit the authentication path to {rate:g} r/s per IP (zone {name})",
                              tuple(e for e in (zone_edit, loc_edit) if e is not None))
                at = nloc(loc)
                if rates:
                    best, zone = min(rates, key=lambda t: t[0])
                    msg = f"{level_name(loc)} is an authentication path limited to {_rate_text(best)} per IP (zone {zone.name}), above gateway.rate_auth {rate:g} r/s"
                    # the location's own limit_req of that zone is the line to change
                    own = next((d for d in loc.children_named("limit_req")
                                if (z := zone_for(stack, cfg, d)) is not None and z.name == zone.name), None)
                    at = nloc(own) if own is not None else at
                else:
                    msg = f"{level_name(loc)} is an authentication path with no per-IP limit_req (gateway.rate_auth {rate:g} r/s)"
                yield hit(at, msg, fix=fix, related=[nloc(loc)] if at != nloc(loc) else [],
                          snippet_key="auth-rate:" + " ".join(loc.args))


def _per_ip_conns(stack: Stack, cfg, level) -> list[tuple[int, object, object]]:
    out = []
    for d in level.inherited("limit_conn"):
        z = zone_for(stack, cfg, d)
        if z is not None and is_per_ip_key(z.key) and len(d.args) >= 2 and small_int(d.args[1]) is not None:
            out.append((small_int(d.args[1]), z, d))
    return out


@rule("GW043", "conn-limit-missing", "medium", files="nginx", refs="CWE-770; nginx limit_conn docs", fix="unsafe")
def conn_limit_missing(stack: Stack):
    """A proxied location has no per-IP connection limit.

    ## What it does
    Flags each location that passes requests upstream (`proxy_pass` and friends; named and
    `internal` locations aside) with no `limit_conn` on a per-client-IP zone in effect. A level with
    its own `limit_conn` inherits none from above. When no proxied location of a server is limited,
    that is one finding at the `server` (the locations related), fixed there once.

    ## Why is this bad?
    One client can hold hundreds of slow connections (slowloris, long polls, large uploads) and
    exhaust the workers' connections and the app's pool. Over HTTP/2 each stream counts as a
    connection, so the limit also caps concurrent requests.

    ## Example
    ```nginx
    location /api/ { proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    limit_conn_zone $binary_remote_addr zone=perip:10m;   # http
    location /api/ { limit_conn perip 10; proxy_pass http://backend; }
    ```

    ## Fix safety
    Unsafe: clients behind one NAT share the limit (`gateway.conn_per_ip`).

    ## References
    CWE-770; nginx ngx_http_limit_conn_module documentation.
    """
    n_per_ip = int(_policy_num(stack, "gateway.conn_per_ip", 10))
    for cfg in stack.nginx_configs:
        for server in http_servers(cfg):
            proxied = [loc for loc in _limit_locations(server) if is_proxied(loc)]
            missing = [loc for loc in proxied if not _per_ip_conns(stack, cfg, loc) and not opaque(stack, cfg, loc, ("limit_conn",))]
            group = len(missing) > 1 and len(missing) == len(proxied) and not any(l.children_named("limit_conn") for l in missing)
            for loc in ([server] if group else missing):
                zones = limit_zones(stack, cfg)
                name = next((k[2] for k, z in sorted(zones.items(), key=lambda kv: kv[0][2])
                             if k[0] == "http" and k[1] == "conn" and is_per_ip_key(z.key)), None)
                zone_edit = None
                if name is None:
                    name = _free_zone(zones, "perip")
                    zone_edit = http_insert_edit(stack, cfg, [f"limit_conn_zone $binary_remote_addr zone={name}:10m;"])
                loc_edit = add_array_directive_edit(stack, cfg, loc, "limit_conn", [f"limit_conn {name} {n_per_ip};"])
                if group:  # no proxied location of the server is limited: one root cause, fixed once at the server
                    fix = None
                    if loc_edit is not None and (zone_edit is not None or name in {k[2] for k in zones}):
                        fix = Fix(f"limit connections per client IP in the whole server (zone {name})",
                                  tuple(e for e in (zone_edit, loc_edit) if e is not None))
                    yield hit(nloc(server, cfg), f"no location of this server limits connections per IP: {_levels(missing)} are proxied "
                                                 f"with no per-IP limit_conn in effect (with HTTP/2 each stream counts as a connection)",
                              fix=fix, related=[nloc(l, cfg) for l in missing], snippet_key="conn-limit-missing:server")
                    continue
                fix = None
                if loc_edit is not None and (zone_edit is not None or name in {k[2] for k in zones}):
                    fix = Fix(f"limit connections per client IP (zone {name})", tuple(e for e in (zone_edit, loc_edit) if e is not None))
                yield hit(nloc(loc), f"{level_name(loc)} is proxied with no per-IP limit_conn in effect (with HTTP/2 each stream counts as a connection)",
                          fix=fix, snippet_key="conn-limit-missing:" + " ".join(loc.args))


@rule("GW044", "conn-limit-above-policy", "low", files="nginx", refs="seed")
def conn_limit_above_policy(stack: Stack):
    """A per-IP connection limit is above the policy.

    ## What it does
    Flags `limit_conn <zone> N` on a per-client-IP zone when N exceeds `gateway.conn_per_ip`
    (default 10).

    ## Why is this bad?
    A generous per-IP limit lets a few clients occupy the connections sized for everyone.

    ## Example
    ```nginx
    limit_conn perip 100;
    ```

    ## Use instead
    ```nginx
    limit_conn perip 10;
    ```

    ## Fix safety
    Manual.

    ## References
    Seed targets (10 concurrent connections per IP).
    """
    limit = int(_policy_num(stack, "gateway.conn_per_ip", 10))
    seen: set = set()
    for cfg in stack.nginx_configs:
        for d in cfg.nodes("limit_conn"):
            if len(d.args) < 2 or small_int(d.args[1]) is None or not once(seen, d):
                continue
            z = zone_for(stack, cfg, d)
            if z is None or not is_per_ip_key(z.key) or small_int(d.args[1]) <= limit:
                continue
            yield hit(nloc(d), f"limit_conn {d.args[0]} {d.args[1]}: {d.args[1]} connections per client IP, above gateway.conn_per_ip {limit}",
                      snippet_key=f"conn-above:{d.args[0]}:{d.args[1]}")


@rule("GW045", "limit-zone-undefined", "high", files="nginx", refs="nginx docs")
def limit_zone_undefined(stack: Stack):
    """`limit_req`/`limit_conn` names a zone that is not defined.

    ## What it does
    Flags `limit_req zone=X` and `limit_conn X …` when no `limit_req_zone … zone=X:` (resp.
    `limit_conn_zone`) exists in any configuration file the same gateway container loads.

    ## Why is this bad?
    `nginx -t` fails (`zero size shared memory zone "X"`): the gateway does not start, or the reload
    is refused and the old configuration keeps running.

    ## Example
    ```nginx
    location /login { limit_req zone=login burst=5; }   # no limit_req_zone … zone=login
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=login:10m rate=10r/s;
    ```

    ## Fix safety
    Manual.

    ## References
    nginx ngx_http_limit_req_module and ngx_http_limit_conn_module documentation.
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for d in cfg.nodes("limit_req", "limit_conn"):
            name = limit_req_zone_name(d) if d.name == "limit_req" else (d.args[0] if d.args else None)
            if not name or "$" in name or not once(seen, d):
                continue
            if zone_for(stack, cfg, d) is not None:
                continue
            kind = "limit_req_zone" if d.name == "limit_req" else "limit_conn_zone"
            yield hit(nloc(d), f"{d.name} uses zone '{name}' but no {kind} defines it: nginx -t fails (zero size shared memory zone)",
                      snippet_key=f"zone-undefined:{d.name}:{name}")


@rule("GW046", "limit-zone-unused", "info", files="nginx", refs="nginx docs")
def limit_zone_unused(stack: Stack):
    """A rate or connection zone is defined but never applied.

    ## What it does
    Flags a `limit_req_zone` / `limit_conn_zone` that no `limit_req` / `limit_conn` of the same
    gateway container uses.

    ## Why is this bad?
    The limit someone meant to apply is not applied (often a location that was renamed), and the
    zone's shared memory is reserved for nothing.

    ## Example
    ```nginx
    limit_conn_zone $server_name zone=perserver:10m;   # no limit_conn perserver …
    ```

    ## Use instead
    Apply it (`limit_conn perserver 1000;`) or delete it.

    ## Fix safety
    Manual.

    ## References
    nginx ngx_http_limit_req_module and ngx_http_limit_conn_module documentation.
    """
    seen: set = set()
    used_cache: dict = {}
    for cfg in stack.nginx_configs:
        key = tuple(id(c) for c in configs_of_service(stack, cfg))
        if key not in used_cache:
            used = set()
            for c in configs_of_service(stack, cfg):
                for d in c.nodes("limit_req", "limit_conn"):
                    z = zone_for(stack, c, d)
                    if z is not None:
                        used.add(id(z.node.d))
            used_cache[key] = used
        used = used_cache[key]
        for n in cfg.nodes("limit_req_zone", "limit_conn_zone"):
            if id(n.d) in used or not once(seen, n):
                continue
            zname = next((a[5:].split(":", 1)[0] for a in n.args if a.startswith("zone=")), "?")
            use = "limit_req" if n.name == "limit_req_zone" else "limit_conn"
            yield hit(nloc(n), f"{n.name} '{zname}' is never applied by a {use} directive", snippet_key=f"zone-unused:{zname}")


def _request_buffering_off(level) -> bool:
    eff = level.effective("proxy_request_buffering")
    return eff is not None and eff.args[:1] == ["off"]


def _body_levels(level):
    """Levels whose effective client_max_body_size is the directive at ``level``."""
    return [l for l in ([level] + list(walk_blocks(level, "location")))]


@rule("GW049", "body-size-unlimited", "medium", files="nginx", refs="CWE-770", fix="unsafe")
def body_size_unlimited(stack: Stack):
    """`client_max_body_size 0` disables the request body limit.

    ## What it does
    Flags `client_max_body_size 0`, except where every location it governs that passes requests
    upstream proxies to MinIO with `proxy_request_buffering off` (MinIO's documented proxy setup:
    S3 multipart uploads stream through).

    ## Why is this bad?
    Any client can send an arbitrarily large body: nginx buffers it to disk (`client_body_temp`)
    until the disk is full, or streams it to an app that was never meant to take it.

    ## Example
    ```nginx
    client_max_body_size 0;
    ```

    ## Use instead
    ```nginx
    client_max_body_size 10m;                      # http/server
    location /api/upload/ { client_max_body_size 500m; … }
    ```

    ## Fix safety
    Unsafe: uploads larger than `gateway.body_default_max` are refused with 413.

    ## References
    CWE-770; nginx ngx_http_core_module (client_max_body_size).
    """
    default = str(stack.policy.get("gateway.body_default_max", "10m"))
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("client_max_body_size"):
            if not n.args or size_bytes(n.args[0]) != 0 or not once(seen, n):
                continue
            level = n.parent
            governed = [l for l in _body_levels(level) if l.effective("client_max_body_size") is n and is_proxied(l)]
            if governed and all(proxies_to_minio(stack, cfg, l) and _request_buffering_off(l) for l in governed):
                continue
            edit = replace_args_edit(stack, n, default)
            yield hit(nloc(n), "client_max_body_size 0: request bodies of any size are accepted",
                      fix=Fix(f"set `client_max_body_size {default}`", (edit,)) if edit else None,
                      snippet_key="client_max_body_size 0")


@rule("GW050", "large-body-outside-uploads", "medium", files="nginx", refs="CWE-770; seed", fix="unsafe")
def large_body_outside_uploads(stack: Stack):
    """A large request-body limit applies beyond the upload locations.

    ## What it does
    Flags `client_max_body_size` above `gateway.body_default_max` (10m) in `http`, `server` or a
    location whose path has no `gateway.upload_paths` segment (upload, files, media, storage, s3), and
    above `gateway.upload_max` (500m) anywhere. `0` is GW049's.

    ## Why is this bad?
    Every endpoint — login, search, JSON APIs — then accepts bodies of hundreds of megabytes: cheap
    disk and memory exhaustion of nginx and the app.

    ## Example
    ```nginx
    server { client_max_body_size 500M; location /api/v1/upload/ { … } location /api/ { … } }
    ```

    ## Use instead
    ```nginx
    server { client_max_body_size 10m; location /api/v1/upload/ { client_max_body_size 500M; … } }
    ```

    ## Fix safety
    Unsafe: endpoints outside the upload paths that took large bodies get 413.

    ## References
    CWE-770; seed targets (500 MB uploads).
    """
    default_text = str(stack.policy.get("gateway.body_default_max", "10m"))
    upload_text = str(stack.policy.get("gateway.upload_max", "500m"))
    default_max = size_bytes(default_text) or 10 * 1024 ** 2
    upload_max = size_bytes(upload_text) or 500 * 1024 ** 2
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("client_max_body_size"):
            if not n.args:
                continue
            size = size_bytes(n.args[0])
            if not size or size <= default_max or not once(seen, n):
                continue
            level = n.parent
            loc = level if level.name == "location" else next((a for a in level.ancestors() if a.name == "location"), None) if level.name == "if" else None
            if size > upload_max:
                edit = replace_args_edit(stack, n, upload_text)
                yield hit(nloc(n), f"client_max_body_size {n.args[0]} is above gateway.upload_max {upload_text}",
                          fix=Fix(f"set `client_max_body_size {upload_text}`", (edit,)) if edit else None,
                          snippet_key=f"body-above-upload:{n.args[0]}")
                continue
            if loc is not None and is_upload_location(stack, loc):
                continue
            edits = [replace_args_edit(stack, n, default_text)]
            uploads = []
            if loc is None:
                for l in walk_blocks(level, "location"):
                    if is_upload_location(stack, l) and l.effective("client_max_body_size") is n:
                        if any(is_upload_location(stack, a) for a in l.ancestors() if a.name == "location"):
                            continue
                        uploads.append(l)
                        edits.append(insert_into_block_edit(stack, cfg, l, [f"client_max_body_size {n.args[0]};"]))
            fix = None
            if all(e is not None for e in edits):
                what = f"move it into {levels_text(uploads)}" if uploads else f"set `client_max_body_size {default_text}`"
                fix = Fix(what, tuple(edits))
            where = level_name(loc) if loc is not None else ("http" if level.name == "http" or (level.d is None and level.root_name == "http") else "the server level")
            yield hit(nloc(n), f"client_max_body_size {n.args[0]} at {where} is above gateway.body_default_max {default_text} outside the upload locations",
                      fix=fix, snippet_key=f"large-body:{n.args[0]}")

"""Performance: nginx capacity — worker connections, file descriptors, upstream keepalive.

Capacity model (rules catalog, PERF): ``nginx_capacity = workers × worker_connections`` against
``nginx_demand = 2 × load.concurrent_users`` (a client socket and an upstream socket per proxied
request). ``worker_processes auto`` counts the CPUs nginx sees online: the compose ``cpuset`` size,
else ``host.cpus`` (a ``cpus:`` quota does not reduce it)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import nloc, svc_loc
from rules.helpers.nginx import (
    add_to_level_edit,
    insert_after_edit,
    insert_into_block_edit,
    is_level,
    once,
    parent_level,
    pass_host,
    replace_args_edit,
    replace_token_edit,
    upstream_blocks,
)
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

DOCKER_DEFAULT_NOFILE = 1024  # Docker 29 / containerd 2 default soft limit
IMAGE_WORKER_CONNECTIONS = 1024  # the official image's nginx.conf


def _num(stack: Stack, key: str, default: float) -> float:
    try:
        return float(stack.policy.get(key, default))
    except (TypeError, ValueError):
        return default


def _int_arg(node) -> int | None:
    if node is None or not node.args:
        return None
    try:
        return int(node.args[0])
    except ValueError:
        return None


def _cpuset_size(svc) -> int | None:
    if svc is None:
        return None
    text = svc.str("cpuset")
    if not text:
        return None
    n = 0
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"([0-9]{1,9})-([0-9]{1,9})", part)
        if m:
            n += max(0, int(m.group(2)) - int(m.group(1)) + 1)
        elif small_int(part) is not None:
            n += 1
    return n or None


def _workers(stack: Stack, cfg) -> tuple[int, str]:
    """(worker processes, how it was derived)."""
    wp = cfg.root.child("worker_processes")
    if wp is None:
        return 1, "worker_processes 1 (nginx default)"
    if wp.args[:1] == ["auto"]:
        cs = _cpuset_size(cfg.service)
        if cs:
            return cs, f"worker_processes auto ({cs} CPUs of cpuset)"
        cpus = max(1, int(_num(stack, "host.cpus", 4)))
        return cpus, f"worker_processes auto ({cpus} CPUs, host.cpus)"
    n = _int_arg(wp)
    if n is None or n < 1:
        return 1, f"worker_processes {' '.join(wp.args)}"
    return n, f"worker_processes {n}"


def _worker_connections(cfg):
    """(value, directive or None, events block or None) of a configuration's worker_connections."""
    events = cfg.root.child("events")
    node = events.child("worker_connections") if events is not None else None
    if node is None:
        node = cfg.root.child("worker_connections")  # a bare fragment
    value = _int_arg(node)
    return (value if value is not None else 512), node, events


@rule("PERF060", "nginx-worker-capacity", "medium", files="nginx+compose", refs="nginx core docs", fix="safe")
def nginx_worker_capacity(stack: Stack):
    """nginx cannot hold the connections the target load needs.

    ## What it does
    Computes `workers × worker_connections` — `worker_processes` (`auto` = the compose `cpuset` size,
    else `host.cpus`; absent = 1, nginx's default) times `worker_connections` (default 512) — and
    compares it with `2 × load.concurrent_users` (each proxied request holds a client and an upstream
    connection). A gateway that only mounts `conf.d` files runs the official image's `nginx.conf`
    (`auto` × 1024), reported at the compose service.

    ## Why is this bad?
    When every worker is at `worker_connections`, nginx logs `worker_connections are not enough` and
    drops new connections: the site fails exactly at the peak it was sized for.

    ## Example
    ```nginx
    worker_processes 1;
    events { worker_connections 512; }    # 512 < 2 × 500 users
    ```

    ## Use instead
    ```nginx
    worker_processes auto;
    events { worker_connections 1024; }
    ```

    ## Fix safety
    Safe: raises `worker_connections` to what the demand needs (check PERF061's file-descriptor
    limit with it).

    ## References
    nginx core module documentation (worker_processes, worker_connections).
    """
    demand = int(2 * _num(stack, "load.concurrent_users", 500))
    for cfg in stack.nginx_configs:
        if cfg.root.root_name != "main":
            continue
        workers, how = _workers(stack, cfg)
        wc, node, events = _worker_connections(cfg)
        capacity = workers * wc
        if capacity >= demand:
            continue
        needed = max(1024, int(math.ceil(demand / workers / 512.0)) * 512)
        if node is not None:
            edit = replace_args_edit(stack, node, str(needed))
            where = nloc(node)
        elif events is not None:
            edit = insert_into_block_edit(stack, cfg, events, [f"worker_connections {needed};"])
            where = nloc(events)
        else:
            edit, where = None, nloc(cfg.root, cfg)
        wc_text = f"worker_connections {wc}" + ("" if node is not None else " (default)")
        yield hit(where, f"{how} × {wc_text} = {capacity} < 2 × {int(demand / 2)} concurrent users = {demand} connections",
                  fix=Fix(f"set `worker_connections {needed}`", (edit,)) if edit else None, snippet_key="nginx-capacity")
    # gateways running the image's own nginx.conf (only fragments mounted)
    for svc in stack.services_by_role("gateway"):
        cfgs = [c for c in stack.nginx_configs if c.service is svc]
        if not cfgs or any(c.root.root_name == "main" for c in cfgs):
            continue
        if "nginx" not in (svc.image or "") or svc.build is not None:
            continue
        cs = _cpuset_size(svc)
        workers = cs or max(1, int(_num(stack, "host.cpus", 4)))
        capacity = workers * IMAGE_WORKER_CONNECTIONS
        if capacity < demand:
            yield hit(svc_loc(svc), f"the image's nginx.conf: worker_processes auto ({workers} CPUs) × worker_connections 1024 = {capacity} "
                                    f"< 2 × {int(demand / 2)} concurrent users = {demand} connections; mount a main nginx.conf",
                      snippet_key="nginx-capacity-image")


def _ulimit_nofile(svc) -> int | None:
    from scanner.parsers.yamlnodes import YMap, YScalar

    if svc is None:
        return None
    ul = svc.get("ulimits")
    if not isinstance(ul, YMap):
        return None
    nf = ul.get("nofile")
    try:
        if isinstance(nf, YScalar):
            return int(str(nf))
        if isinstance(nf, YMap):
            soft = nf.get("soft")
            if isinstance(soft, YScalar):
                return int(str(soft))
    except ValueError:
        return None
    return None


@rule("PERF061", "worker-rlimit-nofile-low", "medium", files="nginx+compose",
      refs="gixy worker_rlimit_nofile_vs_connections; CIS 5.19", fix="safe")
def worker_rlimit_nofile_low(stack: Stack):
    """Workers may run out of file descriptors before reaching `worker_connections`.

    ## What it does
    Flags `worker_rlimit_nofile` below `2 × worker_connections`; or, when it is absent and compose
    sets no `ulimits.nofile` (soft) of at least that, a `2 × worker_connections` above 1024 (Docker
    29's default soft limit).

    ## Why is this bad?
    A proxied connection uses two descriptors (client and upstream) plus open files: the worker hits
    `Too many open files` (accept failures, 500s) long before its configured connection count.

    ## Example
    ```nginx
    worker_rlimit_nofile 1024;
    events { worker_connections 1024; }
    ```

    ## Use instead
    ```nginx
    worker_rlimit_nofile 2048;
    events { worker_connections 1024; }
    ```

    ## Fix safety
    Safe: the master raises the workers' limit at start (it runs as root in the official image).

    ## References
    gixy worker_rlimit_nofile_vs_connections; CIS Docker 5.19 (ulimits); nginx core module
    documentation.
    """
    for cfg in stack.nginx_configs:
        wc, wc_node, events = _worker_connections(cfg)
        if wc_node is None and cfg.root.root_name != "main":
            continue
        need = 2 * wc
        rl = cfg.root.child("worker_rlimit_nofile")
        if rl is not None:
            value = _int_arg(rl)
            if value is None or value >= need:
                continue
            edit = replace_args_edit(stack, rl, str(need))
            yield hit(nloc(rl), f"worker_rlimit_nofile {value} < 2 × worker_connections {wc} = {need}",
                      fix=Fix(f"set `worker_rlimit_nofile {need}`", (edit,)) if edit else None, snippet_key="rlimit-low")
            continue
        nofile = _ulimit_nofile(cfg.service)
        if nofile is not None and nofile >= need:
            continue
        if nofile is None and need <= DOCKER_DEFAULT_NOFILE:
            continue
        limit = f"compose ulimits.nofile {nofile}" if nofile is not None else f"Docker's default soft limit {DOCKER_DEFAULT_NOFILE}"
        fix = None
        if cfg.root.root_name == "main":
            wp = cfg.root.child("worker_processes")
            edit = insert_after_edit(stack, wp, [f"worker_rlimit_nofile {need};"]) if wp is not None else None
            if edit is None and events is not None and events.path == cfg.doc.path:
                edit = Edit(Location(events.path, events.line, 1), f"worker_rlimit_nofile {need};\n\n")
            if edit is not None:
                fix = Fix(f"add `worker_rlimit_nofile {need};`", (edit,))
        where = nloc(wc_node) if wc_node is not None else (nloc(events) if events is not None else nloc(cfg.root, cfg))
        yield hit(where, f"no worker_rlimit_nofile: {limit} < 2 × worker_connections {wc} = {need}",
                  fix=fix, snippet_key="rlimit-missing")


def _connection_ok(cfg, loc) -> bool:
    """``proxy_set_header Connection ""`` in effect, or a ``map`` that yields '' for requests without
    an Upgrade header, or a literal ``upgrade`` (a websocket-only location)."""
    for d in loc.inherited("proxy_set_header"):
        if len(d.args) < 2 or d.args[0].lower() != "connection":
            continue
        value = d.args[1]
        if value == "" or value.lower() == "upgrade":
            return True
        if value.startswith("$"):
            for m in cfg.nodes("map"):
                if len(m.args) >= 2 and m.args[1] == value and _map_yields_empty(m):
                    return True
    return False


def _map_yields_empty(m) -> bool:
    """A ``map`` whose value for the empty source string is '' (its ``''`` entry, else its default)."""
    entries = [e for e in m.children if e.d is not None and e.args]
    empty = next((e for e in entries if e.name == ""), None)
    if empty is not None:
        return empty.args[0] == ""
    default = next((e for e in entries if e.name == "default"), None)
    return default is not None and default.args[0] == ""


def _http11(loc) -> bool:
    eff = loc.effective("proxy_http_version")
    return eff is not None and eff.args[:1] == ["1.1"]


def _location_edits(stack: Stack, cfg, loc, need_version: bool, need_conn: bool) -> list | None:
    """Edits giving ``loc`` HTTP/1.1 and an empty Connection header. A location that already sets
    Connection through a ``map`` (the websocket pattern) gets the map's '' entry set to '' instead
    of a second Connection header; a literal Connection value is left to the author (None)."""
    edits = []
    lines: list[str] = []
    if need_version:
        lines.append("proxy_http_version 1.1;")
    if need_conn:
        conn = [d for d in loc.inherited("proxy_set_header") if len(d.args) >= 2 and d.args[0].lower() == "connection"]
        if conn:
            value = conn[-1].args[1]
            maps = [m for m in cfg.nodes("map") if len(m.args) >= 2 and m.args[1] == value] if value.startswith("$") else []
            if not maps:
                return None
            m = maps[0]
            empty = next((e for e in m.children if e.d is not None and e.name == "" and e.args), None)
            edit = replace_token_edit(stack, empty, 1, "''") if empty is not None else insert_into_block_edit(stack, cfg, m, ["'' '';"])
            if edit is None:
                return None
            edits.append(edit)
        else:
            # where the location's proxy_set_header set is defined: adding there keeps the others
            src = loc
            while src is not None and not (src.child("proxy_set_header") is not None):
                src = parent_level(src)
            if src is None or src is loc:
                lines.append('proxy_set_header Connection "";')
            else:
                edit = add_to_level_edit(stack, cfg, src, "proxy_set_header", ['proxy_set_header Connection "";'])
                if edit is None:
                    return None
                edits.append(edit)
    if lines:
        edit = add_to_level_edit(stack, cfg, loc, "proxy_set_header", lines)
        if edit is None:
            return None
        edits.append(edit)
    return edits


@rule("PERF062", "upstream-keepalive-missing", "low", files="nginx", refs="nginx upstream docs", fix="safe")
def upstream_keepalive_missing(stack: Stack):
    """Connections to the upstream are not kept alive.

    ## What it does
    Flags an `upstream` block that `proxy_pass` uses without `keepalive N` (at the `upstream` line),
    and — for an upstream with `keepalive` — each location proxying to it without
    `proxy_http_version 1.1` and `proxy_set_header Connection ""` in effect (a `map` yielding `''` for
    non-upgrade requests counts).

    ## Why is this bad?
    nginx otherwise opens a new TCP connection to the app for every request and closes it: extra
    latency, CPU, and thousands of sockets in TIME_WAIT at 1000 req/s, which can exhaust ephemeral
    ports.

    ## Example
    ```nginx
    upstream backend { server backend:8080; }
    location / { proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    upstream backend { server backend:8080; keepalive 32; }
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://backend; }
    ```

    ## Fix safety
    Safe: requests are unchanged; the inherited `proxy_set_header` lines are copied along so none is
    lost.

    ## References
    nginx ngx_http_upstream_module documentation (keepalive).
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        ups = upstream_blocks(cfg)
        if not ups:
            continue
        users: dict[str, list] = {}
        for p in cfg.nodes("proxy_pass"):
            host, _ = pass_host(p)
            if host in ups and not any(a.name == "stream" for a in p.ancestors()) \
                    and not any(a.name == "stream" for a in ups[host].ancestors()):
                loc = p.parent
                while loc is not None and not is_level(loc):
                    loc = loc.parent
                if loc is not None and loc.name == "if":
                    loc = parent_level(loc)
                if loc is not None and all(loc is not u for u in users.setdefault(host, [])):
                    users[host].append(loc)
        for name, locs in users.items():
            up = ups[name]
            lacking = [(l, not _http11(l), not _connection_ok(cfg, l)) for l in locs]
            lacking = [t for t in lacking if t[1] or t[2]]
            if up.child("keepalive") is None:
                if not once(seen, up):
                    continue
                edits = [add_to_level_edit(stack, cfg, up, "server", ["keepalive 32;"])]
                loc_edits = [_location_edits(stack, cfg, l, v, c) for l, v, c in lacking]
                fix = None
                if edits[0] is not None and all(e is not None for e in loc_edits):
                    flat = edits + [e for group in loc_edits for e in group]
                    fix = Fix("add `keepalive 32;` and HTTP/1.1 with an empty Connection header", tuple(_dedupe_edits(flat)))
                extra = f"; {len(lacking)} of its locations also lack HTTP/1.1 and Connection \"\"" if lacking else ""
                yield hit(nloc(up), f"upstream {name} has no keepalive: a new connection to the app per request{extra}",
                          fix=fix, snippet_key=f"keepalive:{name}")
                continue
            for l, v, c in lacking:
                if not once(seen, l):
                    continue
                missing = " and ".join(x for x, b in (("proxy_http_version 1.1", v), ('proxy_set_header Connection ""', c)) if b)
                edits = _location_edits(stack, cfg, l, v, c)
                yield hit(nloc(l, cfg), f"proxies to upstream {name} (keepalive) without {missing}: connections are not reused",
                          fix=Fix(f"add {missing}", tuple(edits)) if edits else None, snippet_key=f"keepalive-loc:{name}")


def _dedupe_edits(edits: list) -> list:
    out = []
    for e in edits:
        if all(e != x for x in out):
            out.append(e)
    return out

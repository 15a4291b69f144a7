"""Perimeter rules that read nginx with compose: ports the gateway already fronts, admin ports it exposes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.host import ufw_bypassed
from rules.helpers.locations import nloc, svc_loc, yloc
from rules.helpers.nginx_proxy import admin_exposures, admin_ui_port, fix_of, insert_in_block, proxied_ports, unauthenticated_admin_reason
from scanner.model import Edit, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def _delete_port_fix(svc, port):
    """Delete the ``ports:`` entry (the whole ``ports:`` key when it is the only entry)."""
    from scanner.parsers.yamlnodes import YMap, YScalar, YSeq

    node = port.node
    seq = svc.get("ports")
    if not isinstance(seq, YSeq) or not isinstance(svc.node, YMap) or not isinstance(node, YScalar):
        return None
    path = svc.doc.path
    if not svc.doc.line_text(node.line).lstrip().startswith("-") or node.end_line != node.line:
        return None  # flow style or a multi-line scalar: leave it to the user
    items = list(seq)
    start = node.line
    if len(items) == 1:
        key = svc.node.key("ports")
        if key is None or key.line >= node.line:
            return None
        start = key.line
    return fix_of("delete the published port", [Edit(Location(path, start, 1, node.line + 1, 1), "")], "unsafe")


@rule("PER003", "gateway-bypass-port", "high", files="compose+nginx",
      refs="CWE-668; KICS container_traffic_not_bound_to_host_interface", fix="unsafe")
def gateway_bypass_port(stack: Stack):
    """A service behind the gateway also publishes the port the gateway proxies to.

    ## What it does
    Finds the compose services nginx proxies to (`proxy_pass`, `upstream` servers) and flags a
    `ports:` entry publishing that same container port on every host interface (no host IP,
    `0.0.0.0` or `::`). Where the service asks for no credentials at all, PER002 reports instead.

    ## Why is this bad?
    Clients can skip the gateway: `http://host:8000` reaches the app without TLS, rate limits,
    body limits, security headers or the gateway's access rules. Docker's DNAT rules bypass the
    host firewall, so UFW does not close it.

    ## Example
    ```yaml
    backend:
      ports: ["8000:8000"]     # nginx: proxy_pass http://backend:8000;
    ```

    ## Use instead
    ```yaml
    backend:
      expose: ["8000"]         # reachable on the compose network only
    ```

    ## Fix safety
    Unsafe: whatever used the published port directly (a debugger, a health probe) loses it.

    ## References
    CWE-668; KICS container_traffic_not_bound_to_host_interface.
    """
    targets = proxied_ports(stack)
    if not targets:
        return
    by_svc: dict[int, set[int]] = {}
    svcs = {}
    for svc, port in targets:
        by_svc.setdefault(id(svc), set()).add(port)
        svcs[id(svc)] = svc
    for sid, ports in by_svc.items():
        svc = svcs[sid]
        if svc.role == "gateway" or (svc.str("network_mode") or "") == "host":
            continue  # host networking ignores `ports:` (PER020's business)
        for p in svc.ports:
            if not p.public:
                continue
            hit_ports = sorted(set(p.container_ports) & ports)
            if not hit_ports:
                continue
            if any(unauthenticated_admin_reason(stack, svc, cp) for cp in hit_ports):
                continue  # PER002
            if any(admin_ui_port(stack, svc, cp) for cp in hit_ports):
                continue  # PER043
            if ufw_bypassed(stack, svc, p):
                continue  # PER064: UFW is believed to block it
            yield hit(yloc(svc.doc.path, p.node),
                      f"service '{svc.name}' publishes container port {hit_ports[0]} on every interface, and the gateway proxies to that port: "
                      f"clients can bypass TLS, limits and headers (Docker's DNAT bypasses the host firewall)",
                      fix=_delete_port_fix(svc, p), snippet_key=f"{svc.name}:{hit_ports[0]}")


@rule("PER041", "admin-port-proxied-unauthenticated", "high", files="nginx+compose", refs="CWE-306", fix="unsafe")
def admin_port_proxied_unauthenticated(stack: Stack):
    """The gateway publishes an admin UI that has no login of its own.

    ## What it does
    Flags a `location` proxying to an admin port — Prometheus 9090, NATS monitoring 8222, MinIO
    console 9001, Alertmanager 9093 — of a compose service that asks for no credentials there
    (Prometheus or Alertmanager without `--web.config.file`, the NATS monitoring port, MinIO without
    root credentials), when the location has no `auth_basic`, `auth_request` or `allow` + `deny all`
    and its server is reachable from outside.

    ## Why is this bad?
    The gateway puts the admin interface on the internet behind its TLS certificate: anyone reads
    every metric and target (Prometheus), every client connection and subject (NATS), or logs in
    with the default credentials (MinIO).

    ## Example
    ```nginx
    location /prometheus/ { proxy_pass http://prometheus:9090; }
    ```

    ## Use instead
    ```nginx
    location /prometheus/ {
        allow 10.0.0.0/8;   # or auth_basic / auth_request
        deny all;
        proxy_pass http://prometheus:9090;
    }
    ```

    ## Fix safety
    Unsafe: remote users of the UI lose access until you list their addresses or add a login.

    ## References
    CWE-306.
    """
    for _loc, t, reason, what in admin_exposures(stack):
        loc = _loc
        anchor = loc if loc is not None and loc.d is not None else t.pass_node
        edits = [insert_in_block(stack, loc, ["allow 127.0.0.1;", "deny all;"])] if loc is not None and loc.d is not None else []
        yield hit(nloc(anchor), f"`{' '.join([anchor.name, *anchor.args])}` proxies to {what} on '{t.service.name}:{t.port}' without auth_basic, auth_request or allow/deny: {reason}",
                  fix=fix_of("allow localhost only", edits, "unsafe"), related=[svc_loc(t.service)],
                  snippet_key=f"{t.service.name}:{t.port}")

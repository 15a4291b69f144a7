"""Gateway: proxying, upstream targets, access control and the gixy-ng family of pitfalls."""

from __future__ import annotations

import re

from scanner.model import Location, hit
from scanner.registry import rule

from ._util import nloc

PASS_DIRECTIVES = ("proxy_pass", "grpc_pass", "uwsgi_pass", "fastcgi_pass", "scgi_pass")

# Ports the official images listen on, for services whose compose file says nothing.
IMAGE_PORTS = {
    "postgres": {5432}, "redis": {6379}, "minio": {9000, 9001}, "nats": {4222, 6222, 8222},
    "prometheus": {9090}, "gateway": {80, 443},
}


def _pass_target(url: str) -> tuple[str | None, int | None, str]:
    """(host, port, scheme) of a proxy_pass URL; host None for variables and unix sockets."""
    m = re.match(r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>[^/:$]+)(?::(?P<port>\d+))?", url, re.I)
    if not m or "$" in url.split("/")[2 if "://" in url else 0] or url.startswith("unix:"):
        return None, None, ""
    scheme = (m.group("scheme") or "").lower()
    port = int(m.group("port")) if m.group("port") else ({"https": 443, "grpcs": 443}.get(scheme, 80) if scheme else None)
    return m.group("host"), port, scheme


def service_names(stack) -> dict[str, object]:
    names: dict[str, object] = {}
    for svc in stack.services:
        names.setdefault(svc.name, svc)
        for key in ("container_name", "hostname"):
            v = svc.str(key)
            if v:
                names.setdefault(v, svc)
        nets = svc.get("networks")
        from scanner.parsers.yamlnodes import YMap, YSeq

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
    out = set()
    from scanner.parsers.yamlnodes import YMap, YSeq

    for svc in stack.services:
        eh = svc.get("extra_hosts")
        if isinstance(eh, YSeq):
            out.update(str(x).split(":")[0].split("=")[0] for x in eh)
        elif isinstance(eh, YMap):
            out.update(eh.items)
    return out


def listening_ports(stack, svc) -> set[int] | None:
    """Ports a service listens on, or None when nothing says."""
    ports: set[int] = set(svc.expose)
    for p in svc.ports:
        ports.update(p.container_ports)
    df = stack.service_dockerfile(svc)
    if df is not None:
        for ins in getattr(df, "instructions", []):
            if ins.cmd == "EXPOSE":
                for w in ins.args.split():
                    try:
                        ports.add(int(w.split("/")[0]))
                    except ValueError:
                        pass
    env = stack.service_env(svc)
    for key in ("PORT", "APP_PORT", "SERVER_PORT", "HTTP_PORT", "API_PORT", "LISTEN_PORT"):
        if key in env:
            try:
                ports.add(int(env[key][0]))
            except ValueError:
                pass
    for key, (value, _, _) in env.items():
        if key.endswith(("_BIND", "_ADDR", "_ADDRESS", "_LISTEN")) and ":" in value:
            try:
                ports.add(int(value.rsplit(":", 1)[1]))
            except ValueError:
                pass
    ports |= IMAGE_PORTS.get(svc.role, set())
    return ports or None


def _networks_external(stack) -> bool:
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
    external = _networks_external(stack)
    for cfg in stack.nginx_configs:
        upstreams = {n.args[0]: n for n in cfg.nodes("upstream") if n.args}
        for node in cfg.nodes(*PASS_DIRECTIVES):
            if not node.args:
                continue
            host, port, _ = _pass_target(node.args[0])
            if host is None:
                continue
            if host in upstreams:
                for srv in upstreams[host].children_named("server"):
                    if not srv.args:
                        continue
                    target = srv.args[0]
                    if target.startswith("unix:"):
                        continue
                    h, _, p = target.partition(":")
                    yield from _check_target(stack, names, known_hosts, external, srv, h, int(p) if p.isdigit() else 80)
                continue
            yield from _check_target(stack, names, known_hosts, external, node, host, port)


def _check_target(stack, names, known_hosts, external, node, host, port):
    if "." in host or host in ("localhost",) or re.fullmatch(r"[\d.]+|\[[0-9a-f:]+\]", host, re.I):
        return
    svc = names.get(host)
    if svc is None:
        if host in known_hosts or external:
            return
        yield hit(nloc(node), f"`{node.name} {' '.join(node.args)}`: no compose service, container_name, alias or extra_hosts entry is named '{host}' (nginx will refuse to start: host not found in upstream)",
                  snippet_key=f"{node.name}:{host}")
        return
    if port is None:
        return
    ports = listening_ports(stack, svc)
    if ports is None or port in ports:
        return
    yield hit(nloc(node), f"`{node.name} {' '.join(node.args)}`: service '{svc.name}' listens on {', '.join(str(p) for p in sorted(ports))}, not {port} (every request will get 502)",
              related=[Location(svc.doc.path, svc.key.line, svc.key.col)], snippet_key=f"{node.name}:{host}:{port}")

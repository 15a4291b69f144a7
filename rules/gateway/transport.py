"""Gateway, transport family: is there TLS anywhere between the client and the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.host import published_ports
from rules.helpers.locations import nloc, yloc
from rules.helpers.nginx import configs_of_service, listen_specs, servers_of
from rules.helpers.services import service_image
from scanner.model import hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

_TLS_PROXIES = ("traefik", "caddy", "haproxy", "envoy", "cloudflared", "nginx-proxy", "acme-companion", "ngrok")


def _tls_in_front(stack: Stack, gateway, configs) -> str | None:
    """What shows that TLS ends before ``gateway`` (None: nothing does)."""
    if stack.policy.get("gateway.tls_upstream", False):
        return "gateway.tls_upstream"
    for svc in stack.services:
        if svc is gateway:
            continue
        name = (service_image(svc)[0] or "").rsplit("/", 1)[-1].lower()
        if any(name.startswith(p) for p in _TLS_PROXIES):
            return f"service '{svc.name}' ({name})"
        if any(hp == 443 for s, _p, hp, _cp in published_ports(stack) if s is svc):
            return f"service '{svc.name}' publishes 443"
    for cfg in configs:
        if any(cfg.nodes("set_real_ip_from")) and any(cfg.nodes("real_ip_header")):
            return "set_real_ip_from + real_ip_header"
        for server in servers_of(cfg, http_only=True):
            if any("proxy_protocol" in s.node.args for s in listen_specs(server) if hasattr(s.node, "args")):
                return "listen ... proxy_protocol"
        if any("$http_x_forwarded_proto" in " ".join(n.args) for n in cfg.root.walk() if n.d is not None):
            return "$http_x_forwarded_proto"
    return None


@rule("GW013", "tls-absent", "high", files="nginx+compose", refs="CWE-319; Moz generator")
def tls_absent(stack: Stack):
    """The public gateway serves plain HTTP only, and nothing shows TLS ending in front of it.

    ## What it does
    For a gateway service whose nginx configurations have no server listening with `ssl` or
    `quic`, that publishes a port on every host interface: flags the first plaintext `listen`
    (the published port as related location) unless something shows TLS ends before it — the
    policy's `gateway.tls_upstream: true`, another service publishing 443 or running a TLS proxy
    (traefik, caddy, haproxy, envoy, cloudflared...), `set_real_ip_from` with `real_ip_header`,
    `listen ... proxy_protocol`, or a use of `$http_x_forwarded_proto`. A gateway with TLS that
    serves plain HTTP too is GW007's.

    ## Why is this bad?
    Every request and answer — passwords, session cookies, tokens, personal data — crosses the
    network in clear text, readable and alterable by anyone on the path (Wi-Fi, ISP, a compromised
    router). Browsers mark the site "Not secure"; HSTS and `Secure` cookies cannot work.

    ## Example
    ```yaml
    nginx: {image: nginx:1.27, ports: ["80:80"]}   # nginx.conf: server { listen 80; ... }
    ```

    ## Use instead
    Terminate TLS at the gateway (`listen 443 ssl;` with a certificate, port 80 redirecting), or
    put it behind a TLS-terminating load balancer and say so: `gateway: {tls_upstream: true}` in
    `.dkscan.yaml`.

    ## Fix safety
    Manual: a certificate is needed.

    ## References
    CWE-319; Mozilla SSL configuration generator.
    """
    done = set()
    gateways = stack.services_by_role("gateway")
    for cfg in stack.nginx_configs:
        # a configuration no service mounts (baked in by the gateway's Dockerfile) is the only gateway's
        gateway = cfg.service if cfg.service is not None else gateways[0] if len(gateways) == 1 else None
        if gateway is None or id(gateway) in done:
            continue
        public = [(p, hp) for s, p, hp, _cp in published_ports(stack) if s is gateway]
        if not public:
            continue
        configs = configs_of_service(stack, cfg)
        specs = [s for c in configs for srv in servers_of(c, http_only=True) for s in listen_specs(srv)]
        if not specs or any(s.ssl or s.quic for s in specs):
            continue
        done.add(id(gateway))
        if _tls_in_front(stack, gateway, configs):
            continue
        first = next((s for s in specs if getattr(s.node, "d", None) is not None), None)
        where = nloc(first.node, cfg) if first is not None else yloc(gateway.doc.path, public[0][0].node)
        ports = ", ".join(str(hp) for _p, hp in public)
        yield hit(where, f"gateway '{gateway.name}' publishes port {ports} on every interface and no server listens with TLS: "
                         f"all traffic crosses the network in clear text, and nothing in the stack shows TLS ending in front "
                         f"(set gateway.tls_upstream if a load balancer does)",
                  related=[yloc(gateway.doc.path, p.node) for p, _hp in public], snippet_key=f"tls-absent:{gateway.name}")

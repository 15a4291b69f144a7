"""Perimeter: what the stack exposes to the network and the host."""

from __future__ import annotations

from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

from ._util import yloc

GATEWAY = "gateway"


@rule("PER001", "internal-port-published", "high", files="compose",
      refs="CWE-668; CIS 5.14; CIS 5.9; KICS container_traffic_not_bound_to_host_interface", fix="unsafe")
def internal_port_published(stack):
    """An internal service publishes a port on every host interface.

    ## What it does
    Flags a non-gateway service (database, cache, object store, queue, metrics) whose `ports:` entry
    publishes a container port with no host IP, with `0.0.0.0` or `::`, or with the container port
    only (`"5432"`, which Docker maps to a random host port on every interface).

    ## Why is this bad?
    `"5432:5432"` binds every interface of the host, IPv4 and IPv6. Docker inserts DNAT rules ahead
    of the host firewall's INPUT chain, so a UFW policy allowing only 22, 80 and 443 does **not**
    protect a published port: the database is on the internet.

    ## Example
    ```yaml
    postgres:
      ports:
        - "5432:5432"
    ```

    ## Use instead
    ```yaml
    postgres:
      ports:
        - "127.0.0.1:5432:5432"   # or no ports: at all; services reach it on the compose network
    ```

    ## Fix safety
    Unsafe: binding to 127.0.0.1 changes who can connect (a remote admin tool would lose access).

    ## References
    CWE-668; CIS Docker Benchmark 5.14 and 5.9; KICS container_traffic_not_bound_to_host_interface.
    """
    for svc in stack.services:
        if svc.role == GATEWAY:
            continue
        for port in svc.ports:
            if not port.public:
                continue
            shown = port.host or "a random port"
            edit = None
            node = port.node
            from scanner.parsers.yamlnodes import YScalar

            if isinstance(node, YScalar) and node.raw and not node.raw.startswith("$"):
                start = Location(svc.doc.path, node.line, node.col + (1 if node.style in ("'", '"') else 0))
                edit = Fix("bind the published port to 127.0.0.1", (Edit(start, "127.0.0.1:"),), "unsafe") \
                    if port.host_ip is None else None
            yield hit(yloc(svc.doc.path, node),
                      f"service '{svc.name}' ({svc.role}) publishes container port {port.container} on {shown} "
                      f"of every host interface; Docker's DNAT bypasses the host firewall",
                      fix=edit, snippet_key=f"{svc.name}:{port.container}")

"""Perimeter, service family: data services and admin UIs reachable without credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.host import docker_exposure
from rules.helpers.locations import nloc, svc_loc, yloc
from rules.helpers.nginx_proxy import admin_ui_proxied, fix_of, insert_in_block
from rules.helpers.services import admin_ui, postgres_trust, unauthenticated_reason
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def _bind_loopback_fix(svc, port) -> Fix | None:
    """Bind a published port to 127.0.0.1: prefix the short syntax (``"127.0.0.1:"``, or
    ``"127.0.0.1::"`` before a container-only port), replace an explicit all-interfaces address, or
    add ``host_ip: 127.0.0.1`` to the long syntax."""
    from scanner.parsers.yamlnodes import YMap, YScalar

    node = port.node
    path = svc.doc.path
    if isinstance(node, YScalar) and node.raw and node.line == node.end_line:
        q = 1 if node.style in ("'", '"') else 0
        raw = node.raw
        start = Location(path, node.line, node.col + q)
        if port.host_ip is None:
            prefix = "127.0.0.1:" if port.host is not None or ":" in raw else "127.0.0.1::"
            return Fix("bind the published port to 127.0.0.1", (Edit(start, prefix),))
        for written in ("[::]", "::", "0.0.0.0"):
            if raw.startswith(written + ":"):
                end = Location(path, node.line, node.col + q, node.line, node.col + q + len(written))
                return Fix("bind the published port to 127.0.0.1", (Edit(end, "127.0.0.1"),))
        return None
    if isinstance(node, YMap):
        hip = node.get("host_ip")
        if isinstance(hip, YScalar):
            q = 1 if hip.style in ("'", '"') else 0
            loc = Location(path, hip.line, hip.col + q, hip.line, hip.col + q + len(hip.raw))
            return Fix("bind the published port to 127.0.0.1", (Edit(loc, "127.0.0.1"),))
        first = next(iter(node.pairs()), None)
        if first is not None:
            key = first[0]
            text = "host_ip: 127.0.0.1\n" + " " * (key.col - 1)
            return Fix("bind the published port to 127.0.0.1",
                       (Edit(Location(path, key.line, key.col), text),))
    return None


@rule("PER002", "unauthenticated-service-published", "critical", files="compose+env+nats", refs="CWE-306",
      fix="unsafe")
def unauthenticated_service_published(stack: Stack):
    """A service that asks for no credentials publishes its port on every host interface.

    ## What it does
    Flags a port that PER001 or PER003 would report (a non-gateway service publishing on all
    interfaces, `0.0.0.0`, `::` or a container port only) when the service behind it accepts
    clients without authentication: PostgreSQL with `trust` (PER040), Redis without `requirepass`
    or ACL (DATA080), NATS without `authorization` (API060) or its monitoring port (8222, never
    authenticated), MinIO without root credentials (DATA083, so `minioadmin:minioadmin`), or
    Prometheus without `--web.config.file`. At such a port this rule replaces PER001/PER003 (and
    PER064: when UFW is believed to block the port, the message names the UFW rule or default
    policy the team relies on, and its line is a related location).

    ## Why is this bad?
    Docker's DNAT rules bypass the host firewall (UFW), so the port is on the internet, and nothing
    stands between a scanner and the data: Redis and unauthenticated databases are found and wiped
    or ransomed within hours of exposure.

    ## Example
    ```yaml
    redis:
      command: redis-server --appendonly yes     # no requirepass
      ports:
        - "6379:6379"
    ```

    ## Use instead
    ```yaml
    redis:
      command: redis-server --appendonly yes --requirepass "${REDIS_PASSWORD:?}"
      ports:
        - "127.0.0.1:6379:6379"    # or no ports: at all
    ```

    ## Fix safety
    Unsafe: binding to 127.0.0.1 cuts off remote clients that used the published port. Adding
    authentication is still needed (see the rule named in the message).

    ## References
    CWE-306; Docker documentation, packet filtering and firewalls.
    """
    for svc in stack.services:
        if svc.role == "gateway":
            continue
        for port in svc.ports:
            if not port.public:
                continue
            reason = None
            for cport in port.container_ports[:64] or [None]:
                reason = unauthenticated_reason(stack, svc, cport) if cport is not None else unauthenticated_reason(stack, svc)
                if reason:
                    break
            if not reason:
                continue
            shown, firewall, related = docker_exposure(stack, svc, port)
            yield hit(yloc(svc.doc.path, port.node),
                      f"service '{svc.name}' publishes container port {port.container} on {shown} of every "
                      f"interface ({firewall}) and asks for no credentials: {reason}",
                      fix=_bind_loopback_fix(svc, port), snippet_key=f"{svc.name}:{port.container}",
                      related=related)


@rule("PER040", "postgres-trust-auth", "critical", files="compose+env", refs="CWE-306; CIS-PG 5.4", fix="unsafe")
def postgres_trust_auth(stack: Stack):
    """PostgreSQL accepts logins without a password (`trust`).

    ## What it does
    Flags `POSTGRES_HOST_AUTH_METHOD=trust` in a postgres service's `environment:` or `env_file:`,
    and `trust` on a `host`, `hostssl` or `hostnossl` line of a `pg_hba.conf` the service mounts,
    for any address but loopback (`127.0.0.1/32`, `::1/128`, `localhost`, `samehost`).

    ## Why is this bad?
    With `trust`, PostgreSQL lets any client that reaches the port log in as **any** role, the
    superuser included, without a password. The official image turns the variable into
    `host all all all trust`: every container of the network (and the internet, if the port is
    published) owns the database.

    ## Example
    ```yaml
    postgres:
      environment:
        POSTGRES_HOST_AUTH_METHOD: trust
    ```

    ## Use instead
    ```yaml
    postgres:
      environment:
        POSTGRES_HOST_AUTH_METHOD: scram-sha-256
        POSTGRES_PASSWORD_FILE: /run/secrets/pg_password
    ```

    ## Fix safety
    Unsafe: clients that connected without a password must now send one, and the image needs
    `POSTGRES_PASSWORD` (or `_FILE`) to initialise a new data directory.

    ## References
    CWE-306; CIS PostgreSQL 5.4; PostgreSQL documentation, pg_hba.conf.
    """
    for svc in stack.services_by_role("postgres"):
        for loc, reason, span in postgres_trust(stack, svc):
            fix = Fix("use scram-sha-256 password authentication", (Edit(span, "scram-sha-256"),)) \
                if span is not None else None
            related = [] if loc.path == svc.doc.path else [Location(svc.doc.path, svc.key.line, svc.key.col)]
            yield hit(loc, f"postgres service '{svc.name}': {reason}", fix=fix, related=related,
                      snippet_key=f"{svc.name}:trust:{loc.path}")


@rule("PER043", "admin-ui-unauthenticated", "critical", files="compose+nginx+env", refs="CWE-306; OWASP API8:2023",
      fix="unsafe")
def admin_ui_unauthenticated(stack: Stack):
    """An admin, mail or tracing UI with no login is published or proxied without authentication.

    ## What it does
    Recognises services whose image is a UI with no login of its own — Mailpit (8025) without
    `MP_UI_AUTH`/`MP_UI_AUTH_FILE`, MailHog (8025) without `-auth-file`/`MH_AUTH_FILE`, Jaeger
    (16686), Redis Commander (8081) without `HTTP_USER` + `HTTP_PASSWORD` or
    `HTTP_PASSWORD_HASH`, Alertmanager (9093) without `--web.config.file`, pgAdmin with
    `PGADMIN_CONFIG_SERVER_MODE=False`, the Traefik dashboard with `--api.insecure=true` (8080) —
    and flags the UI port when compose publishes it on every interface, or when an nginx
    `location` of a public server proxies to it without `auth_basic`, `auth_request` or `allow` +
    `deny all`. At that port it replaces PER001, PER003 and PER041 (and PER064: when UFW is
    believed to block the port, the message says so). UIs with a login of their own — adminer,
    pgAdmin in server mode, the MinIO console — stay PER001/PER041's.

    ## Why is this bad?
    Development tools end up in production compose files. Anyone who finds the port reads every
    captured e-mail (password-reset links: account takeover), every trace (URLs, headers, SQL,
    user ids), rewrites Redis keys, silences the alerts that would report the intrusion, or uses
    pgAdmin's saved database connections.

    ## Example
    ```yaml
    mailpit:
      image: axllent/mailpit:v1.21
      ports:
        - "8025:8025"
    ```

    ## Use instead
    ```yaml
    mailpit:
      image: axllent/mailpit:v1.21
      environment:
        MP_UI_AUTH_FILE: /run/secrets/mailpit-ui     # or no published port: an SSH tunnel
      ports:
        - "127.0.0.1:8025:8025"
    ```

    ## Fix safety
    Unsafe: the published port is bound to 127.0.0.1 (a proxied location gets `allow 127.0.0.1;
    deny all;`); remote users of the UI lose it until a login is added.

    ## References
    CWE-306; OWASP API Security Top 10 2023, API8 (security misconfiguration).
    """
    for svc in stack.services:
        ui = admin_ui(stack, svc)
        if ui is None or (svc.str("network_mode") or "").strip().lower() == "host":
            continue
        name, ui_port, reason = ui
        for port in svc.ports:
            if not port.public or ui_port not in port.container_ports[:64]:
                continue
            shown, firewall, related = docker_exposure(stack, svc, port)
            yield hit(yloc(svc.doc.path, port.node),
                      f"service '{svc.name}' publishes the {name} UI (container port {ui_port}) on {shown} of every "
                      f"interface ({firewall}): {reason}",
                      fix=_bind_loopback_fix(svc, port), snippet_key=f"{svc.name}:{ui_port}",
                      related=related)
    for loc, t, name, reason in admin_ui_proxied(stack):
        anchor = loc if loc is not None and loc.d is not None else t.pass_node
        edits = [insert_in_block(stack, loc, ["allow 127.0.0.1;", "deny all;"])] if loc is not None and loc.d is not None else []
        yield hit(nloc(anchor), f"`{' '.join([anchor.name, *anchor.args])}` proxies to the {name} UI on '{t.service.name}:{t.port}' "
                                f"of a public server without auth_basic, auth_request or allow/deny: {reason}",
                  fix=fix_of("allow localhost only", edits, "unsafe"), related=[svc_loc(t.service)],
                  snippet_key=f"{t.service.name}:{t.port}:proxied")

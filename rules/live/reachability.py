"""LIVE, reachability family (LIVE040-LIVE059): status pages, service ports and unauthenticated services reachable from the probe, and an unreachable probe target."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from rules.helpers.live import STATUS_BODY, level_label, probed
from rules.helpers.locations import yloc
from rules.helpers.nginx import insert_into_block_edit
from scanner.model import Fix, hit
from scanner.probe import observations
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.probe import Observations
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# reachability (perimeter)
# --------------------------------------------------------------------------------------------


def _has_return(level) -> bool:
    return any(c.name == "return" for c in level.children)


def _allows(level, source: str | None) -> bool:
    """The level's (inherited) ``allow`` rules let ``source`` in before a ``deny``."""
    if level is None or not source:
        return False
    try:
        ip = ipaddress.ip_address(source)
    except ValueError:
        return False
    for d in level.inherited("allow", "deny"):
        arg = d.args[0] if d.args else ""
        if arg == "all":
            return d.name == "allow"
        if arg.startswith("unix:"):
            continue
        try:
            if ip in ipaddress.ip_network(arg, strict=False):
                return d.name == "allow"
        except ValueError:
            continue
    return False


@rule("LIVE040", "status-page-reachable", "medium", files="live+nginx", refs="CWE-200; GW085; API022", fix="unsafe")
def status_page_reachable(ctx: Stack | Observations):
    """A status or metrics page answers the probe: `/nginx_status`, `/metrics`, `/actuator`, pprof, ...

    ## What it does
    Requests `/nginx_status`, `/stub_status`, `/basic_status`, `/status`, `/server-status`, `/metrics`,
    `/actuator`, `/actuator/prometheus`, `/debug/pprof/` and every location of the matched server with
    `stub_status`, and reports a 200 whose body is a status page (`Active connections:`, Prometheus
    `# HELP`/`# TYPE`, actuator `_links`, the pprof index). Silent when the matched location `allow`s
    the probe's own source address (run the probe from outside to judge those).

    ## Why is this bad?
    Status and metrics pages tell an attacker the traffic, the internal topology, versions and,
    for pprof or actuator, sometimes memory contents and environment variables.

    ## Example
    `location /nginx_status { stub_status; }` without `allow`/`deny`.

    ## Use instead
    `allow 127.0.0.1; deny all;` in the location, or a separate unpublished status server.

    ## Fix safety
    Unsafe: when the config's own location serves the page openly, the fix restricts it to
    127.0.0.1; a scraper on the Docker network (nginx-exporter) then needs its range allowed too.

    ## References
    CWE-200; GW085; API022.
    """
    obs = observations(ctx)
    if obs is None or obs.http is None:
        return
    for r in obs.http.of("status"):
        if r.status != 200 or not STATUS_BODY.search(r.body):
            continue
        level = obs.promise.level_for(r.path)
        if _allows(level, obs.source):
            continue
        what = "a stub_status page" if "Active connections:" in r.body else "a status/metrics page"
        promised, fix = "", None
        if level is not None and level.d is not None:
            promised = f" (the config answers it with {level_label(level)})"
            if level.name == "location" and (level.child("stub_status") is not None or not _has_return(level)) \
                    and not level.inherited("allow", "deny"):
                # the config itself serves it openly: restrict it where it is served
                edit = insert_into_block_edit(obs.stack, obs.promise.cfg, level, ["allow 127.0.0.1;", "deny all;"])
                fix = Fix("allow only 127.0.0.1 (add the monitoring network's range if a scraper needs it)",
                          (edit,)) if edit is not None else None
        yield hit(obs.promise.at(level, obs.target),
                  f"{r.url} serves {what} to {obs.source or 'the probe'}{promised}",
                  fix=fix, related=probed(r.url), snippet_key=f"{obs.target.host}:{r.path}")


def _port_loc(obs, fact):
    if fact.port_node is not None and fact.service is not None:
        return yloc(fact.service.doc.path, fact.port_node)
    return obs.promise.anchor(obs.target)


def _publisher(fact) -> str:
    return f" (published by compose service {fact.service.name})" if fact.service is not None else ""


@rule("LIVE041", "service-port-reachable", "high", files="live+compose", refs="CWE-668; PER001, PER064")
def service_port_reachable(ctx: Stack | Observations):
    """A data or admin service port of the stack accepts TCP connections on the probed host.

    ## What it does
    Connects to each `probe.ports` port (5432 6379 9000 9001 4222 6222 8222 9090 9093 9100 3000 8025
    16686; `--ports` replaces the list) of the URL's host and reports those that accept, naming the
    compose service that publishes the port. A loopback target is skipped unless `--ports` is given
    (from the host itself every published port answers). LIVE042 replaces this finding when the
    service also answers without credentials.

    ## Why is this bad?
    Databases, caches, brokers and dashboards are meant for the stack's internal networks; an open
    port is one password (or one CVE) away from the data. Docker's published ports bypass UFW.

    ## Example
    `ports: ["5432:5432"]` on `postgres`.

    ## Use instead
    Remove the mapping (services reach each other on the compose network) or bind `127.0.0.1:`.

    ## References
    CWE-668; PER001; PER064.
    """
    obs = observations(ctx)
    if obs is None:
        return
    for fact in obs.ports:
        if fact.open and not fact.unauthenticated:
            kind = f" ({fact.kind}{': ' + fact.evidence if fact.evidence else ''})" if fact.kind else ""
            yield hit(_port_loc(obs, fact),
                      f"{obs.target.host}:{fact.port} accepts TCP connections from {obs.source or 'the probe'}{kind}{_publisher(fact)}",
                      snippet_key=f"{obs.target.host}:{fact.port}")


@rule("LIVE042", "unauthenticated-service-reachable", "critical", files="live+compose", refs="CWE-306; PER002, PER043")
def unauthenticated_service_reachable(ctx: Stack | Observations):
    """A reachable service port answers without credentials (Redis PONG, NATS without auth, trust PostgreSQL, ...).

    ## What it does
    On a port LIVE041 found open, asks the one question an unauthenticated service answers: Redis
    `PING` -> `+PONG`; NATS's `INFO` greeting without `auth_required`; `/varz` 200 (8222);
    Prometheus/Alertmanager `/api/v1/status/buildinfo` / `/api/v2/status` 200; node-exporter
    `/metrics` 200; mailpit/mailhog `/api/v1/messages` 200; Jaeger `/api/services` 200; PostgreSQL
    `AuthenticationOk` for user `postgres` (trust). No password is ever tried. Replaces LIVE041.

    ## Why is this bad?
    Anyone who can reach the port reads and writes the data: no credential stands in the way.

    ## Example
    `redis-server` without `--requirepass`, published with `ports: ["6379:6379"]`.

    ## Use instead
    Unpublish the port and require authentication.

    ## References
    CWE-306; PER002; PER043.
    """
    obs = observations(ctx)
    if obs is None:
        return
    for fact in obs.ports:
        if fact.open and fact.unauthenticated:
            yield hit(_port_loc(obs, fact),
                      f"{obs.target.host}:{fact.port} ({fact.kind}) {fact.evidence}{_publisher(fact)}",
                      snippet_key=f"{obs.target.host}:{fact.port}:{fact.kind}")


@rule("LIVE059", "probe-target-unreachable", "high", files="live")
def probe_target_unreachable(ctx: Stack | Observations):
    """The probe could not reach the target, or a check could not complete.

    ## What it does
    Reports, instead of a traceback, a URL whose name does not resolve, a port that refuses or
    times out, a TLS handshake that never completes, an HTTP exchange that gets no answer, or a
    time budget that ran out before every check ran. The message names what failed and why.

    ## Why is this bad?
    A deployment the validation cannot reach is not validated: the health check of the seed's
    deploy phase ("health checks pasados, SSL certificado válido") did not pass.

    ## Example
    `dkscan probe https://api.example.com` before DNS points at the new host (use `--resolve`).

    ## Use instead
    Check the address (`--resolve HOST:IP`), the firewall, and raise `--timeout`/`--budget` for slow links.

    ## References
    Not in the rules catalog (the catalog lists no LIVE row for an unreachable target): dkscan's own.
    """
    obs = observations(ctx)
    if obs is None or not obs.unreachable:
        return
    for why in dict.fromkeys(obs.unreachable):
        yield hit(obs.promise.anchor(obs.target), f"{obs.target.url}: {why}", snippet_key=why[:80])

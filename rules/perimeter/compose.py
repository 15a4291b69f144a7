"""Perimeter, compose family: published ports, host network, sensitive host mounts, the Docker socket."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.compose import (
    DATA_ROLES,
    delete_lines,
    in_service,
    insert_under_key,
    mount_loc,
    scalar_text_span,
    service_node_loc,
    truthy,
    unknown_vars,
)
from rules.helpers.host import ufw_bypassed
from rules.helpers.locations import LazyRe, yloc
from rules.helpers.nginx_proxy import admin_ui_port, proxied_ports
from rules.helpers.services import unauthenticated_reason
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar, YSeq
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

GATEWAY = "gateway"


# ---------------------------------------------------------------------------------------------
# Published ports
# ---------------------------------------------------------------------------------------------


def _host_network(svc) -> bool:
    mode = svc.str("network_mode")
    return bool(mode) and mode.strip().lower() == "host"


def nginx_proxied_ports(stack: Stack) -> set[tuple[int, int]]:
    """(id(service), container port) pairs that PER003 owns: ports the gateway proxies to
    (``proxied_ports``, PER003's answer)."""
    return stack.memo("nginx_proxied_ports", lambda: {(id(s) if not isinstance(s, int) else s, int(p))
                                                     for s, p in proxied_ports(stack)})


def _bind_loopback_fix(svc, port) -> Fix | None:
    """Prefix ``127.0.0.1:`` (``127.0.0.1::`` for a container-only port), replace ``0.0.0.0``, or add
    ``host_ip`` to a long-syntax entry."""
    node = port.node
    doc = svc.doc
    if not in_service(svc, node):
        return None
    desc = "bind the published port to 127.0.0.1"
    if isinstance(node, YScalar):
        span = scalar_text_span(doc, node)
        if span is None:
            return None
        line, start, _end = span
        raw = node.raw
        if port.host_ip is None:
            if raw.startswith(("0.0.0.0:", "[::]:", "::")):
                return None
            prefix = "127.0.0.1:" if port.host is not None else "127.0.0.1::"
            if port.host is None and ":" in raw:
                return None
            return Fix(desc, (Edit(Location(doc.path, line, start), prefix),))
        for public in ("0.0.0.0", "[::]"):
            if raw.startswith(public + ":"):
                return Fix(desc, (Edit(Location(doc.path, line, start, line, start + len(public)), "127.0.0.1"),))
        return None
    if isinstance(node, YMap):
        hip = node.get("host_ip")
        if isinstance(hip, YScalar):
            return Fix(desc, (Edit(Location(doc.path, hip.line, hip.col, hip.line, hip.end_col), '"127.0.0.1"'),)) \
                if hip.line == hip.end_line else None
        if node.key("target") is not None:
            first_key = min((k for k, _v in node.pairs()), key=lambda k: (k.line, k.col))
            indent = " " * (first_key.col - 1)
            last = max(v.end_line if not (v.end_col == 1 and v.end_line > v.line) else v.end_line - 1 for _k, v in node.pairs())
            return Fix(desc, (Edit(Location(doc.path, last + 1, 1), f'{indent}host_ip: "127.0.0.1"\n'),))
    return None


@rule("PER001", "internal-port-published", "high", files="compose",
      refs="CWE-668; CIS 5.14, 5.9; KICS container_traffic_not_bound_to_host_interface", fix="unsafe")
def internal_port_published(stack: Stack):
    """An internal service publishes a port on every host interface.

    ## What it does
    Flags a non-gateway service (database, cache, object store, queue, metrics, application) whose
    `ports:` entry publishes a container port with no host IP, with `0.0.0.0` or `::`, or with the
    container port only (`"5432"`, which Docker maps to a random host port on every interface).
    Ports are read after `${VAR:-default}` interpolation, in short and long syntax. A port the
    gateway proxies to is PER003's finding, and a port of a service that asks for no credentials is
    PER002's (critical), and the UI port of an admin, mail or tracing UI without a login (Mailpit,
    Jaeger, ...) is PER043's (critical): this rule leaves those ports to them. The gateway's ports are never flagged;
    `network_mode: host` services (PER020) publish nothing.

    ## Why is this bad?
    `"5432:5432"` binds every interface of the host, IPv4 and IPv6. Docker inserts DNAT rules ahead
    of the host firewall's INPUT chain, so a UFW policy allowing only 22, 80 and 443 does **not**
    protect a published port: the database is on the internet, one password away.

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
    Unsafe: binding to 127.0.0.1 changes who can connect (a remote admin tool loses access; use an
    SSH tunnel instead).

    ## References
    CWE-668; CIS Docker Benchmark 5.14 and 5.9; KICS container_traffic_not_bound_to_host_interface.
    """
    proxied = None
    for svc in stack.services:
        if svc.role == GATEWAY or _host_network(svc):
            continue
        for port in svc.ports:
            if not port.public or unknown_vars(port.node if isinstance(port.node, YScalar) else None):
                continue
            cports = port.container_ports
            if proxied is None:
                proxied = nginx_proxied_ports(stack)
            if any((id(svc), p) in proxied for p in cports):
                continue  # PER003
            if any(unauthenticated_reason(stack, svc, port=p) for p in cports[:64]):
                continue  # PER002
            if any(admin_ui_port(stack, svc, p) for p in cports[:64]):
                continue  # PER043
            if ufw_bypassed(stack, svc, port):
                continue  # PER064: UFW is believed to block it
            shown = f"host port {port.host}" if port.host else "a random host port"
            yield hit(service_node_loc(svc, port.node),
                      f"service '{svc.name}' ({svc.role}) publishes container port {port.container} on {shown} of every "
                      f"host interface; Docker's DNAT rules bypass the host firewall",
                      fix=_bind_loopback_fix(svc, port), snippet_key=f"{svc.name}:{port.container}")


@rule("PER004", "privileged-port-published", "low", files="compose",
      refs="CWE-269; CIS 5.8; KICS privileged_ports_mapped_in_container", fix="manual")
def privileged_port_published(stack: Stack):
    """A non-gateway service maps a privileged host port.

    ## What it does
    Flags a `ports:` entry of a non-gateway service whose *host* port is 1–1023 (`"22:22"`,
    `"80:8000"`, a range starting below 1024), on any interface. The container port does not
    matter: binding port 80 inside the container's own network namespace needs no host privilege,
    and a container-only port (`"80"`) is published on a random high host port.

    ## Why is this bad?
    Ports below 1024 are the ones clients trust to be run by the host's administrator (SSH, DNS,
    DHCP, SMTP). A container taking one shadows or impersonates a host service, and only the
    gateway should own 80 and 443.

    ## Example
    ```yaml
    dhcpd:
      ports:
        - "67:67/udp"
    ```

    ## Use instead
    Publish a port above 1023, or route the traffic through the gateway.

    ## Fix safety
    Manual: the clients of the service must change port too.

    ## References
    CWE-269; CIS Docker Benchmark 5.8; KICS privileged_ports_mapped_in_container.
    """
    for svc in stack.services:
        if svc.role == GATEWAY or _host_network(svc):
            continue
        for port in svc.ports:
            low = [p for p in port.host_ports if 1 <= p <= 1023]
            if not low:
                continue
            yield hit(service_node_loc(svc, port.node),
                      f"service '{svc.name}' maps privileged host port {low[0]} (container port {port.container})",
                      snippet_key=f"{svc.name}:host:{port.host}")


# ---------------------------------------------------------------------------------------------
# Host access
# ---------------------------------------------------------------------------------------------


@rule("PER020", "host-network-mode", "high", files="compose",
      refs="CWE-668; CIS 5.10; KICS shared_host_network_namespace", fix="manual")
def host_network_mode(stack: Stack):
    """A container uses the host's network stack.

    ## What it does
    Flags `network_mode: host`.

    ## Why is this bad?
    The container binds directly on the host's interfaces (every port it listens on is public,
    with no `ports:` to review), reaches services bound to the host's loopback, and leaves the
    compose networks' isolation. Docker's port publishing and the gateway are bypassed.

    ## Example
    ```yaml
    backend:
      network_mode: host
    ```

    ## Use instead
    Use the compose networks and publish only what the gateway needs.

    ## Fix safety
    Manual: addresses such as `localhost:5432` in the service's configuration must become
    service names.

    ## References
    CWE-668; CIS Docker Benchmark 5.10; KICS shared_host_network_namespace.
    """
    for svc in stack.services:
        node = svc.get("network_mode")
        if isinstance(node, YScalar) and str(node).strip().lower() == "host":
            yield hit(service_node_loc(svc, node), f"service '{svc.name}' shares the host's network stack (`network_mode: host`)",
                      snippet_key=f"{svc.name}:network_mode")


def _is_docker_socket(path: str | None) -> bool:
    return bool(path) and path.rstrip("/").endswith("docker.sock")


@rule("PER021", "docker-socket-mounted", "critical", files="compose",
      refs="CWE-284; CIS 5.32; KICS docker_socket_mounted_in_container; sg exposing-docker-socket-volume", fix="manual")
def docker_socket_mounted(stack: Stack):
    """The Docker socket is mounted into a container.

    ## What it does
    Flags a bind mount whose host path ends in `docker.sock` (`/var/run/docker.sock`,
    `/run/docker.sock`, a rootless `$XDG_RUNTIME_DIR/docker.sock`), read-only or not, in short or long
    syntax.

    ## Why is this bad?
    The socket is the Docker API: whoever can talk to it starts a privileged container with the
    host's `/` mounted, i.e. is root on the host. `:ro` changes nothing — it only makes the socket
    file read-only, not the API behind it.

    ## Example
    ```yaml
    traefik:
      volumes:
        - /var/run/docker.sock:/var/run/docker.sock:ro
    ```

    ## Use instead
    Use a filtering proxy (tecnativa/docker-socket-proxy) that allows only the read-only endpoints
    the tool needs, on an internal network, or static configuration instead of discovery.

    ## Fix safety
    Manual.

    ## References
    CWE-284; CIS Docker Benchmark 5.32; KICS docker_socket_mounted_in_container; semgrep
    exposing-docker-socket-volume.
    """
    for svc in stack.services:
        for m in svc.volumes:
            if m.type == "bind" and _is_docker_socket(m.source):
                ro = " (`:ro` does not help: the socket is the full Docker API)" if m.read_only else ""
                yield hit(mount_loc(svc, m), f"service '{svc.name}' mounts the Docker socket {m.source}: "
                          f"whoever controls the container is root on the host{ro}",
                          snippet_key=f"{svc.name}:docker.sock")


_SENSITIVE_EXACT = {"/", "/home", "/var", "/var/log"}
_SENSITIVE_TREES = ("/bin", "/boot", "/dev", "/etc", "/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var/run",
                    "/var/lib/docker")
_RO_EXEMPT = ("/etc/localtime", "/etc/timezone", "/usr/share/zoneinfo", "/etc/ssl/certs", "/etc/letsencrypt")
_HOME_DOT = LazyRe(r"^(/home/[^/]+|~[^/]*)/\.[^/]+(/.*)?$")


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def sensitive_host_path(source: str) -> str | None:
    """The sensitive host location a bind source is (``/etc``, ``/home``...), or None."""
    if not source or not (source.startswith("/") or source.startswith("~")):
        return None
    if _is_docker_socket(source):
        return None  # PER021
    if source.startswith("~"):
        return "a home directory's dotfiles" if _HOME_DOT.match(source.rstrip("/")) else None
    path = posixpath.normpath(source)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path in _SENSITIVE_EXACT:
        return path
    if _HOME_DOT.match(path):
        return "a home directory's dotfiles"
    first = path.split("/")[1] if path.count("/") >= 1 else ""
    if first.startswith("lib"):
        return "/" + first
    for tree in _SENSITIVE_TREES:
        if _under(path, tree):
            return tree
    return None


def _sensitive_mounts(stack: Stack):
    """(svc or None, location, source, read_only, fix-able mount or None, doc) for every bind (and
    ``driver_opts.device`` volume) of a sensitive host path."""
    for svc in stack.services:
        for m in svc.volumes:
            if m.type != "bind" or not m.source:
                continue
            node = m.node.get("source") if isinstance(m.node, YMap) else m.node
            if unknown_vars(node):
                continue
            where = sensitive_host_path(m.source)
            if where is None:
                continue
            yield svc, mount_loc(svc, m), m.source, m.read_only, m, where
    for doc in stack.compose_docs:
        vols = doc.top("volumes")
        if not isinstance(vols, YMap):
            continue
        for key, vol in vols.pairs():
            if not isinstance(vol, YMap):
                continue
            opts = vol.get("driver_opts")
            if not isinstance(opts, YMap):
                continue
            dev = opts.get("device") or opts.get("mountpoint")
            if not isinstance(dev, YScalar) or dev.value is None or unknown_vars(dev):
                continue
            where = sensitive_host_path(str(dev))
            if where is None:
                continue
            name = str(key.raw)
            users = [(s, m) for s in doc.services.values() for m in s.volumes if m.type == "volume" and m.source == name]
            if not users:
                continue
            o = str(opts.get("o") or "")
            ro = "ro" in [x.strip() for x in o.split(",")] or all(m.read_only for _s, m in users)
            yield None, yloc(doc.path, dev), str(dev), ro, None, where


def _where(source: str, where: str) -> str:
    norm = posixpath.normpath(source) if source.startswith("/") else source
    return "" if norm == where else f" ({where})" if where.startswith("a ") else f" (under {where})"


def _add_ro_fix(svc, m) -> Fix | None:
    doc = svc.doc
    node = m.node
    if not in_service(svc, node):
        return None
    desc = "mount it read-only"
    if isinstance(node, YScalar):
        span = scalar_text_span(doc, node)
        if span is None:
            return None
        line, start, end = span
        raw = node.raw
        parts = raw.split(":")
        if len(parts) >= 3:
            modes = parts[-1].split(",")
            if "rw" in modes:
                mode_start = end - len(parts[-1])
                i = modes.index("rw")
                off = sum(len(x) + 1 for x in modes[:i])
                return Fix(desc, (Edit(Location(doc.path, line, mode_start + off, line, mode_start + off + 2), "ro"),))
            return Fix(desc, (Edit(Location(doc.path, line, end), ",ro"),))
        return Fix(desc, (Edit(Location(doc.path, line, end), ":ro"),))
    if isinstance(node, YMap):
        ro = node.get("read_only")
        if isinstance(ro, YScalar):
            return Fix(desc, (Edit(Location(doc.path, ro.line, ro.col, ro.line, ro.end_col), "true"),)) \
                if ro.line == ro.end_line else None
        skey = node.key("source")
        sval = node.get("source")
        if skey is not None and isinstance(sval, YScalar) and sval.line == skey.line == sval.end_line:
            return Fix(desc, (Edit(Location(doc.path, skey.line + 1, 1), f"{' ' * (skey.col - 1)}read_only: true\n"),))
    return None


@rule("PER022", "sensitive-host-path-rw", "high", files="compose",
      refs="CWE-668; CIS 5.6; KICS volume_has_sensitive_host_directory", fix="unsafe")
def sensitive_host_path_rw(stack: Stack):
    """A sensitive host directory is mounted read-write.

    ## What it does
    Flags a read-write bind mount (or a volume whose `driver_opts.device` binds a host path) of the
    host's `/`, `/home`, `/var`, `/var/log`, a home directory's dotfiles (`/home/*/.*`, `~/.ssh`), or
    anything at or under `/bin`, `/boot`, `/dev`, `/etc`, `/lib*`, `/proc`, `/root`, `/run`, `/sbin`,
    `/sys`, `/usr`, `/var/run`, `/var/lib/docker`. Application data directories (`/var/lib/<app>`,
    `/srv`, `/opt`, `/data`) are not sensitive; certbot writing `/etc/letsencrypt` is its job;
    `docker.sock` is PER021.

    ## Why is this bad?
    Write access to these paths is host root: add a user to `/etc/passwd`, a key to
    `/root/.ssh/authorized_keys`, a cron job under `/etc/cron.d`, a binary in `/usr/bin`.

    ## Example
    ```yaml
    backup:
      volumes:
        - /etc:/host/etc
    ```

    ## Use instead
    Mount only the file needed, read-only (`/etc/localtime:/etc/localtime:ro`), or copy it into a
    named volume.

    ## Fix safety
    Unsafe: the fix adds `:ro` where reading is harmless (`/etc/localtime`, the time zone and CA
    files); a service that really writes there (rare and alarming) fails. Elsewhere no fix is
    offered: read-only, the mount would still expose the host (PER023).

    ## References
    CWE-668; CIS Docker Benchmark 5.6; KICS volume_has_sensitive_host_directory.
    """
    for svc, loc, source, ro, m, where in _sensitive_mounts(stack):
        if ro:
            continue
        if svc is not None and svc.role == "certbot" and _under(posixpath.normpath(source), "/etc/letsencrypt"):
            continue
        # `:ro` only where read access is harmless: elsewhere the mount stays a finding (PER023),
        # and the real fix -- mount less -- is a human's
        path = posixpath.normpath(source) if source.startswith("/") else source
        harmless = any(_under(path, e) for e in _RO_EXEMPT)
        fix = _add_ro_fix(svc, m) if svc is not None and m is not None and harmless else None
        who = f"service '{svc.name}'" if svc is not None else "a named volume"
        yield hit(loc, f"{who} mounts host path {source}{_where(source, where)} read-write: write access there is host root",
                  fix=fix, snippet_key=f"{svc.name if svc else 'volume'}:{source}")


@rule("PER023", "sensitive-host-path-ro", "medium", files="compose",
      refs="CWE-668; CIS 5.6; KICS volume_has_sensitive_host_directory", fix="manual")
def sensitive_host_path_ro(stack: Stack):
    """A sensitive host directory is mounted into a container, read-only.

    ## What it does
    Flags the read-only mounts of the paths PER022 lists. `/etc/localtime`, `/etc/timezone`,
    `/usr/share/zoneinfo`, `/etc/ssl/certs` and `/etc/letsencrypt` are exempt.

    ## Why is this bad?
    Read access still leaks: `/etc/shadow` hashes, SSH host keys, `/root` and home dotfiles
    (credentials, shell history), `/proc` and `/sys` (every host process, kernel details), and the
    other containers' files under `/var/lib/docker`. Monitoring agents (node-exporter, cAdvisor)
    need some of it by design; keep them off the public networks.

    ## Example
    ```yaml
    node-exporter:
      volumes:
        - /:/rootfs:ro
    ```

    ## Use instead
    Mount the narrowest path the tool needs; for time zones, only `/etc/localtime:ro`.

    ## Fix safety
    Manual.

    ## References
    CWE-668; CIS Docker Benchmark 5.6; KICS volume_has_sensitive_host_directory.
    """
    for svc, loc, source, ro, _m, where in _sensitive_mounts(stack):
        if not ro:
            continue
        path = posixpath.normpath(source) if source.startswith("/") else source
        if any(_under(path, e) for e in _RO_EXEMPT):
            continue
        who = f"service '{svc.name}'" if svc is not None else "a named volume"
        yield hit(loc, f"{who} mounts host path {source}{_where(source, where)} read-only: host secrets and processes become readable",
                  snippet_key=f"{svc.name if svc else 'volume'}:{source}")


def _propagation(m) -> tuple[str, object] | None:
    """(propagation, node to point at) of a mount."""
    if m.propagation is None:
        return None
    node = m.node
    if isinstance(node, YMap) and isinstance(node.get("bind"), YMap):
        pn = node.get("bind").get("propagation")
        if isinstance(pn, YScalar):
            return m.propagation.lower(), pn
    return m.propagation.lower(), node


def _delete_propagation_fix(svc, m, node) -> Fix | None:
    doc = svc.doc
    desc = f"delete the `{m.propagation}` propagation"
    if not in_service(svc, node):
        return None
    if isinstance(m.node, YScalar):
        span = scalar_text_span(doc, m.node)
        if span is None:
            return None
        line, _start, end = span
        raw = m.node.raw
        parts = raw.split(":")
        if len(parts) < 3:
            return None
        modes = parts[-1].split(",")
        mode_start = end - len(parts[-1])
        i = next((k for k, x in enumerate(modes) if x.lower() == m.propagation.lower()), None)
        if i is None:
            return None
        if len(modes) == 1:
            return Fix(desc, (Edit(Location(doc.path, line, mode_start - 1, line, end), ""),))
        off = sum(len(x) + 1 for x in modes[:i])
        if i == len(modes) - 1:
            return Fix(desc, (Edit(Location(doc.path, line, mode_start + off - 1, line, mode_start + off + len(modes[i])), ""),))
        return Fix(desc, (Edit(Location(doc.path, line, mode_start + off, line, mode_start + off + len(modes[i]) + 1), ""),))
    bind = m.node.get("bind") if isinstance(m.node, YMap) else None
    if isinstance(bind, YMap) and isinstance(node, YScalar):
        pkey = bind.key("propagation")
        if pkey is None or pkey.line != node.line or node.end_line != node.line:
            return None
        bkey = m.node.key("bind")
        if len(bind.items) == 1 and bkey is not None and bkey.line == pkey.line - 1:
            return Fix(desc, (delete_lines(doc, bkey.line, pkey.line),))
        if len(bind.items) > 1:
            return Fix(desc, (delete_lines(doc, pkey.line, pkey.line),))
    return None


@rule("PER024", "shared-mount-propagation", "high", files="compose",
      refs="CWE-668; CIS 5.20; KICS volume_mounted_in_multiple_containers", fix="unsafe")
def shared_mount_propagation(stack: Stack):
    """A bind mount propagates the container's mounts back to the host.

    ## What it does
    Flags bind propagation `shared` or `rshared` (short syntax mode, or long syntax
    `bind.propagation`).

    ## Why is this bad?
    With shared propagation, a mount made inside the container appears on the host: a compromised
    container can mount over host paths, or mount a filesystem the host then uses.

    ## Example
    ```yaml
    agent:
      volumes:
        - type: bind
          source: /mnt/data
          target: /data
          bind:
            propagation: rshared
    ```

    ## Use instead
    Remove the option (the default is `rprivate`).

    ## Fix safety
    Unsafe: storage plugins that mount for the host (CSI drivers) stop working.

    ## References
    CWE-668; CIS Docker Benchmark 5.20; KICS volume_mounted_in_multiple_containers.
    """
    for svc in stack.services:
        for m in svc.volumes:
            got = _propagation(m)
            if got is None or got[0] not in ("shared", "rshared"):
                continue
            prop, node = got
            yield hit(service_node_loc(svc, node), f"service '{svc.name}' mounts {m.source or m.target} with `{prop}` propagation: "
                      f"mounts made in the container reach the host",
                      fix=_delete_propagation_fix(svc, m, node), snippet_key=f"{svc.name}:{m.target}:{prop}")


@rule("PER026", "mount-propagation-slave", "info", files="compose",
      refs="CIS 5.20; KICS volume_mounted_in_multiple_containers", fix="manual")
def mount_propagation_slave(stack: Stack):
    """A bind mount receives the host's later mounts.

    ## What it does
    Flags bind propagation `slave` or `rslave`.

    ## Why is this bad?
    Host mounts (new disks, other containers' volumes, network shares) appear inside the container
    as they are made. This is node-exporter's documented setup (`/:/host:ro,rslave`) and one-way,
    hence info; outside monitoring agents it widens what the container sees.

    ## Example
    ```yaml
    node-exporter:
      volumes:
        - /:/host:ro,rslave
    ```

    ## Use instead
    Keep it for host monitoring agents; elsewhere remove the option.

    ## Fix safety
    Manual.

    ## References
    CIS Docker Benchmark 5.20; KICS volume_mounted_in_multiple_containers.
    """
    for svc in stack.services:
        for m in svc.volumes:
            got = _propagation(m)
            if got is None or got[0] not in ("slave", "rslave"):
                continue
            prop, node = got
            yield hit(service_node_loc(svc, node), f"service '{svc.name}' mounts {m.source or m.target} with `{prop}` propagation: "
                      f"the host's later mounts appear in the container",
                      snippet_key=f"{svc.name}:{m.target}:{prop}")


# ---------------------------------------------------------------------------------------------
# Service exposure
# ---------------------------------------------------------------------------------------------


def network_members(doc) -> dict[str, list]:
    """Network name -> services attached to it (``default`` for services that name none)."""
    out: dict[str, list] = {}
    for svc in doc.services.values():
        mode = svc.str("network_mode")
        if mode:
            continue
        nets = svc.get("networks")
        names: list[str] = []
        if isinstance(nets, YSeq):
            names = [str(n) for n in nets if isinstance(n, YScalar) and n.value is not None]
        elif isinstance(nets, YMap):
            names = list(nets.items)
        elif nets is None:
            names = ["default"]
        for n in names:
            out.setdefault(n, []).append(svc)
    return out


@rule("PER042", "data-network-not-internal", "low", files="compose", refs="CWE-668; CIS 5.9", fix="unsafe")
def data_network_not_internal(stack: Stack):
    """A network that only joins data services and their clients can reach the internet.

    ## What it does
    Flags a network declared under the top-level `networks:` whose members include a data service
    (postgres, redis, minio, nats) and no gateway, when it lacks `internal: true`. External
    networks are not flagged (they are managed elsewhere).

    ## Why is this bad?
    Without `internal: true` Docker gives the network a route to the outside: a compromised database
    or cache can exfiltrate data or fetch tooling, and nothing marks the network as the private
    back end it is meant to be.

    ## Example
    ```yaml
    networks:
      backend:
        driver: bridge
    ```

    ## Use instead
    ```yaml
    networks:
      backend:
        driver: bridge
        internal: true
    ```
    Services that need the internet (the application calling an external API) also join a
    non-internal network, such as the gateway's.

    ## Fix safety
    Unsafe: a member that reaches the internet only through this network loses it.

    ## References
    CWE-668; CIS Docker Benchmark 5.9.
    """
    for doc in stack.compose_docs:
        nets = doc.top("networks")
        if not isinstance(nets, YMap):
            continue
        members = network_members(doc)
        for key, net in nets.pairs():
            name = str(key.raw)
            if isinstance(net, YMap):
                ext = net.get("external")
                if ext is not None and not (isinstance(ext, YScalar) and ext.value in (False, "false")):
                    continue
                if (net.str("driver") or "").lower() in ("host", "none"):
                    continue
                if truthy(net.get("internal")):
                    continue
            elif not (isinstance(net, YScalar) and net.value is None):
                continue
            svcs = members.get(name, [])
            data = [s.name for s in svcs if s.role in DATA_ROLES]
            if not data or any(s.role == GATEWAY for s in svcs):
                continue
            fix = None
            if isinstance(net, YMap) and net.items:
                internal = net.get("internal")
                if isinstance(internal, YScalar) and internal.line == internal.end_line:
                    fix = Fix("set `internal: true`", (Edit(Location(doc.path, internal.line, internal.col, internal.line, internal.end_col), "true"),))
                else:
                    edit = insert_under_key(doc, key, ["internal: true"])
                    fix = Fix("add `internal: true`", (edit,)) if edit else None
            elif isinstance(net, YScalar):
                text = doc.line_text(key.line)
                code = re.sub(r"(?<!\s)\s+#.*$", "", text).rstrip()
                if code.endswith(":"):
                    indent = " " * (len(text) - len(text.lstrip(" ")) + 2)
                    fix = Fix("add `internal: true`", (Edit(Location(doc.path, key.line + 1, 1), f"{indent}internal: true\n"),))
            yield hit(yloc(doc.path, key), f"network '{name}' joins data services ({', '.join(data)}) and no gateway but is not "
                      f"`internal: true`: its members keep a route to the internet",
                      fix=fix, snippet_key=f"network:{name}")

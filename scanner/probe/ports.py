"""Reachability of the stack's data and admin ports on the target's address.

A TCP connect tells "open"; then, for the services the catalog names, one harmless question that
only an unauthenticated service answers (Redis ``PING``, NATS's ``INFO`` greeting, a PostgreSQL
startup for user ``postgres`` answered by ``AuthenticationOk``, an HTTP ``GET`` of an admin API).
No password is ever sent; a PostgreSQL server that asks for one is left at that question.
The service a port speaks is the compose service that publishes it (its container port), else the
port's well-known service.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass

from scanner.config import DEFAULTS

DEFAULT_PORTS = tuple(DEFAULTS["probe"]["ports"])  # policy probe.ports
WELL_KNOWN = {5432: "postgres", 6379: "redis", 4222: "nats", 6222: "nats-cluster", 8222: "nats-monitor",
              9090: "prometheus", 9093: "alertmanager", 9100: "node-exporter", 9000: "minio", 9001: "minio-console",
              3000: "grafana", 8025: "mailpit", 16686: "jaeger"}
HTTP_CHECKS = {"nats-monitor": "/varz", "prometheus": "/api/v1/status/buildinfo", "alertmanager": "/api/v2/status",
               "node-exporter": "/metrics", "mailpit": "/api/v1/messages", "jaeger": "/api/services"}


@dataclass
class PortFact:
    port: int
    open: bool
    kind: str | None  # postgres, redis, ...
    service: object | None  # the compose Service publishing it
    port_node: object | None  # its ports entry
    unauthenticated: bool = False
    evidence: str = ""


def publishers(stack) -> dict[int, tuple[object, object, int]]:
    """Host port -> (service, ports entry, container port) for every published port of the stack."""
    out: dict[int, tuple[object, object, int]] = {}
    if stack is None:
        return out
    for svc in stack.services:
        for p in svc.ports:
            hp, cp = p.host_ports, p.container_ports
            for i, h in enumerate(hp):
                c = cp[i] if len(cp) == len(hp) else (cp[0] if cp else h)
                out.setdefault(h, (svc, p.node, c))
    return out


def _kind(port: int, pub) -> str | None:
    if pub is not None:
        svc, _, container = pub
        role = getattr(svc, "role", None)
        if role in ("postgres", "redis") and container in WELL_KNOWN:
            return WELL_KNOWN[container]
        if role == "nats":
            return WELL_KNOWN.get(container, "nats")
        return WELL_KNOWN.get(container) or WELL_KNOWN.get(port)
    return WELL_KNOWN.get(port)


def scan_ports(target, ports: list[int], stack, budget, log) -> list[PortFact]:
    pubs = publishers(stack)
    out = []
    for port in ports:
        if budget.exhausted:
            log.skipped.append(f"TCP connect to port {port} (time budget spent)")
            continue
        pub = pubs.get(port)
        kind = _kind(port, pub)
        fact = PortFact(port, False, kind, pub[0] if pub else None, pub[1] if pub else None)
        try:
            sock = socket.create_connection((target.ip, port), timeout=budget.timeout(3.0))
        except OSError:
            log.add(port, "TCP connect (closed or filtered)")
            out.append(fact)
            continue
        fact.open = True
        log.add(port, f"TCP connect{f' + {kind} check' if kind else ''}")
        with sock:
            sock.settimeout(budget.timeout(3.0))
            try:
                fact.unauthenticated, fact.evidence = _ask(kind, sock, target, port, budget)
            except (OSError, ValueError) as exc:
                fact.evidence = f"no answer to the {kind} check ({exc.__class__.__name__})"
        out.append(fact)
    return out


def _recv_some(sock, n: int = 4096) -> bytes:
    try:
        return sock.recv(n)
    except socket.timeout:
        return b""


def _ask(kind: str | None, sock, target, port: int, budget) -> tuple[bool, str]:
    if kind == "redis":
        sock.sendall(b"PING\r\n")
        line = _recv_some(sock, 256)
        if line.startswith(b"+PONG"):
            return True, "answers PING with +PONG without AUTH"
        return False, f"answers PING with {line[:40]!r}"
    if kind in ("nats", "nats-cluster"):
        line = _recv_some(sock, 8192)
        if line.startswith(b"INFO "):
            try:
                info = json.loads(line[5:].split(b"\r\n", 1)[0])
            except ValueError:
                return False, "sends an unreadable INFO"
            if not info.get("auth_required"):
                return True, "greets with INFO without auth_required"
            return False, "requires authentication"
        return False, "no NATS greeting"
    if kind == "postgres":
        params = b"user\x00postgres\x00database\x00postgres\x00application_name\x00dkscan-probe\x00\x00"
        sock.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
        data = _recv_some(sock, 1024)
        if len(data) >= 9 and data[:1] == b"R":
            (code,) = struct.unpack("!I", data[5:9])
            try:
                sock.sendall(b"X\x00\x00\x00\x04")  # Terminate
            except OSError:
                pass
            if code == 0:
                return True, "accepts user postgres without a password (trust)"
            return False, "asks for a password"
        return False, "no PostgreSQL authentication answer"
    path = HTTP_CHECKS.get(kind or "")
    if path:
        host = f"[{target.host}]" if ":" in target.host else target.host
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: dkscan-probe\r\n"
                     f"Connection: close\r\n\r\n".encode())
        head = _recv_some(sock, 1024)
        status = head.split(b"\r\n", 1)[0]
        if status.startswith(b"HTTP/") and b" 200" in status[:13]:
            return True, f"answers GET {path} with 200 without credentials"
        return False, f"answers GET {path} with {status[:40].decode('latin-1', 'replace') or 'nothing'}"
    return False, ""

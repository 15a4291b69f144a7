"""What the probe may contact: the URL's host (pinned to one address), its ports, a time budget.

Everything the probe sends goes through a :class:`Target`: the address is resolved once (or taken
from ``--resolve``, as curl does) and every connection goes to that address, so a redirect or a DNS
change during the run can never make the probe contact another machine. The :class:`ContactLog`
records each connection for the report's "contacted" block.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class ProbeUsageError(ValueError):
    """A bad URL, ``--resolve`` or ``--ports`` value: a usage error (exit 2), never a finding."""


@dataclass
class Budget:
    """A total time budget and the per-check timeout; ``timeout()`` never exceeds what is left."""

    total: float
    per_check: float
    start: float = field(default_factory=time.monotonic)

    @property
    def left(self) -> float:
        return self.total - (time.monotonic() - self.start)

    @property
    def exhausted(self) -> bool:
        return self.left <= 0.2

    def timeout(self, wanted: float | None = None) -> float:
        return max(0.2, min(wanted or self.per_check, self.left))


@dataclass
class ContactLog:
    """Every connection the probe made or refused to make, for the report."""

    entries: dict[tuple[int, str], int] = field(default_factory=dict)  # (port, what) -> count
    not_followed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, port: int, what: str, n: int = 1) -> None:
        self.entries[(port, what)] = self.entries.get((port, what), 0) + n

    def lines(self) -> list[str]:
        out = []
        for (port, what), n in sorted(self.entries.items()):
            out.append(f"  port {port}: {what}: {n}")
        for item in self.not_followed:
            out.append(f"  not followed: {item}")
        for item in self.skipped:
            out.append(f"  skipped: {item}")
        return out


@dataclass
class Target:
    url: str
    scheme: str
    host: str  # the name (SNI, Host header, certificate check)
    port: int
    path: str
    ip: str  # the only address ever contacted
    resolved_by: str  # "--resolve" | "DNS"
    http_port: int | None  # the plaintext port checked for the redirect (None: not checked)

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.ip).is_loopback
        except ValueError:
            return False

    @property
    def https(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        default = 443 if self.https else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"

    def url_for(self, path: str, scheme: str | None = None, port: int | None = None) -> str:
        scheme = scheme or self.scheme
        port = port or self.port
        default = 443 if scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        hostport = name if port == default else f"{name}:{port}"
        return f"{scheme}://{hostport}{path}"

    def same_host(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        return (parts.hostname or "").lower().rstrip(".") == self.host.lower().rstrip(".")

    def source_address(self) -> str | None:
        """The local address the probe's packets leave from (a UDP connect sends nothing)."""
        fam = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        try:
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.connect((self.ip, self.port))
                return s.getsockname()[0]
        except OSError:
            return None


def parse_resolve(items: tuple[str, ...] | list[str]) -> dict[str, tuple[int | None, str]]:
    """``--resolve HOST:IP`` or curl's ``HOST:PORT:IP`` (IPv6 in brackets or bare) -> {host: (port, ip)}."""
    out: dict[str, tuple[int | None, str]] = {}
    for item in items:
        host, sep, rest = item.partition(":")
        if not sep or not host or not rest:
            raise ProbeUsageError(f"--resolve {item!r}: use HOST:IP (or curl's HOST:PORT:IP)")
        port = None
        first, sep2, after = rest.partition(":")
        if sep2 and first.isdigit() and after:
            port, rest = int(first), after
        addr = rest.strip("[]")
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise ProbeUsageError(f"--resolve {item!r}: {addr!r} is not an IP address") from None
        out[host.lower().rstrip(".")] = (port, addr)
    return out


def parse_ports(text: str | None) -> list[int] | None:
    """``--ports 5432,6379 9000-9001`` -> sorted ports (at most 1024 of them)."""
    if text is None:
        return None
    ports: set[int] = set()
    for part in text.replace(",", " ").split():
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ProbeUsageError(f"--ports: {part!r} is not a port or a range") from None
        if not (1 <= a <= b <= 65535):
            raise ProbeUsageError(f"--ports: {part!r} is out of 1-65535")
        ports.update(range(a, b + 1))
        if len(ports) > 1024:
            raise ProbeUsageError("--ports: at most 1024 ports")
    return sorted(ports)


def make_target(url: str, resolve: dict[str, tuple[int | None, str]], http_port: int | None,
                timeout: float = 5.0) -> tuple[Target, str | None]:
    """The Target of ``url`` and, when its name does not resolve, why (the probe reports it)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ProbeUsageError(f"{url!r}: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProbeUsageError(f"{url!r}: give an http:// or https:// URL with a host name")
    if parts.username or parts.password:
        raise ProbeUsageError(f"{url!r}: credentials in the URL are refused (the probe never sends any)")
    host = parts.hostname.lower().rstrip(".")
    port = port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    why = None
    ip = ""
    resolved_by = "DNS"
    pinned = resolve.get(host)
    if pinned is not None and pinned[0] in (None, port):
        ip, resolved_by = pinned[1], "--resolve"
    else:
        try:
            ipaddress.ip_address(host)
            ip, resolved_by = host, "literal"
        except ValueError:
            old = socket.getdefaulttimeout()
            try:
                socket.setdefaulttimeout(timeout)
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                ip = infos[0][4][0]
            except (OSError, UnicodeError) as exc:
                why = f"{host} does not resolve ({getattr(exc, 'strerror', None) or exc})"
            finally:
                socket.setdefaulttimeout(old)
    if http_port is None and parts.scheme == "https":
        http_port = 80 if port == 443 else None
    return Target(url.strip(), parts.scheme, host, port, path, ip, resolved_by, http_port), why

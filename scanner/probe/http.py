"""HTTP facts of the live gateway, gathered with httpx.

Every request goes to the target's pinned address with the URL's name as ``Host`` and SNI (httpx's
``sni_hostname`` extension), without credentials, without the environment's proxy or ``.netrc``
(``trust_env=False``), and without returning cookies (the jar is cleared after every answer). Redirects are followed by hand, and only to the same host on the probed
ports; any other destination is recorded as not followed. Bodies are read up to 64 KiB.
Certificate problems are LIVE005's: the HTTP checks do not stop at them.
"""

from __future__ import annotations

import concurrent.futures
import secrets
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

BODY_LIMIT = 64 * 1024
USER_AGENT = "dkscan-probe (+https://github.com/dkscan/dkscan/blob/main/docs/probe.md)"
FOREIGN_ORIGIN = "https://dkscan-probe.invalid"
STATUS_PATHS = ("/nginx_status", "/stub_status", "/basic_status", "/status", "/server-status", "/metrics",
                "/actuator", "/actuator/prometheus", "/debug/pprof/")


@dataclass
class Response:
    purpose: str  # page | error | status | cors | plain
    method: str
    path: str
    url: str  # as the user would write it (host name, not the pinned address)
    status: int
    headers: list[tuple[str, str]]  # (lower-case name, value), in order
    body: str = ""
    origin: str | None = None

    def get_all(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self.headers if k == n]

    def get(self, name: str) -> str | None:
        vals = self.get_all(name)
        return vals[0] if vals else None


@dataclass
class Burst:
    path: str
    level: object
    sent: int
    seconds: float
    statuses: Counter
    expected: set[int]
    rate: float
    burst: int
    limit_node: object | None


@dataclass
class HttpFacts:
    responses: list[Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    https_ok: bool = False
    plain_open: bool | None = None  # None: no plaintext port to check
    bursts: list[Burst] = field(default_factory=list)

    def of(self, purpose: str) -> list[Response]:
        return [r for r in self.responses if r.purpose == purpose]


class Client:
    """An httpx client pinned to the target's address."""

    def __init__(self, target, budget, log):
        import httpx

        self.httpx = httpx
        self.target, self.budget, self.log = target, budget, log
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.client = httpx.Client(verify=ctx, trust_env=False, follow_redirects=False, http2=False,
                                   headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
                                   limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))

    def close(self) -> None:
        self.client.close()

    def _pinned(self, scheme: str, port: int, path: str) -> str:
        from urllib.parse import quote

        ip = f"[{self.target.ip}]" if ":" in self.target.ip else self.target.ip
        return f"{scheme}://{ip}:{port}{quote(path, safe='/%:@!$&()*+,;=-._~?')}"

    def request(self, method: str, path: str, *, scheme: str | None = None, port: int | None = None,
                headers: dict | None = None, purpose: str = "page", origin: str | None = None,
                follow: bool = False, errors: list | None = None) -> Response | None:
        scheme = scheme or self.target.scheme
        port = port or self.target.port
        for _hop in range(6):
            if self.budget.exhausted:
                self.log.skipped.append(f"{method} {self.target.url_for(path, scheme, port)} (time budget spent)")
                return None
            default = 443 if scheme == "https" else 80
            host_header = self.target.host if port == default else f"{self.target.host}:{port}"
            hdrs = {"Host": host_header, **(headers or {})}
            ext = {"sni_hostname": self.target.host} if scheme == "https" else {}
            display = self.target.url_for(path, scheme, port)
            try:
                t = self.budget.timeout()
                with self.client.stream(method, self._pinned(scheme, port, path), headers=hdrs, extensions=ext,
                                        timeout=self.httpx.Timeout(t)) as resp:
                    body = b""
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) >= BODY_LIMIT:
                            break
                    self.log.add(port, f"{scheme.upper()} requests")
                    text = body[:BODY_LIMIT].decode("utf-8", "replace")
                    r = Response(purpose, method, path, display, resp.status_code,
                                 [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in resp.headers.raw],
                                 text, origin)
                self.client.cookies.clear()  # a cookie the server sets is never sent back
            except (self.httpx.HTTPError, self.httpx.InvalidURL, ValueError, OSError) as exc:
                self.log.add(port, f"{scheme.upper()} requests (failed)")
                if errors is not None:
                    errors.append(f"{method} {display}: {exc.__class__.__name__}: {exc or 'no answer'}")
                return None
            if not (follow and r.status in (301, 302, 303, 307, 308) and r.get("location")):
                return r
            nxt = urljoin(display, r.get("location"))
            parts = urlsplit(nxt)
            nport = parts.port or (443 if parts.scheme == "https" else 80)
            if not self.target.same_host(nxt) or nport not in (self.target.port, self.target.http_port) \
                    or parts.scheme not in ("http", "https"):
                self.log.not_followed.append(f"{display} -> {nxt} (another host or port)")
                return r
            scheme, port = parts.scheme, nport
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
        return r


def gather_http(target, promise, budget, log, *, burst: bool, policy) -> HttpFacts:
    facts = HttpFacts()
    client = Client(target, budget, log)
    try:
        _gather(client, target, promise, facts, burst=burst, policy=policy)
    finally:
        client.close()
    return facts


def _gather(client, target, promise, facts, *, burst: bool, policy) -> None:
    paths = promise.probe_paths()
    if target.path not in paths:
        paths.insert(1, target.path)
    for path in paths:
        r = client.request("GET", path, purpose="page", follow=True, errors=facts.errors)
        if r is not None:
            facts.responses.append(r)
            facts.https_ok = True
        elif not facts.https_ok:
            break  # nothing answers: one error says it
    if not facts.https_ok:
        return  # the host does not answer HTTP on the URL's port: LIVE059 says so, nothing else to ask
    token = secrets.token_hex(6)
    r = client.request("GET", f"/dkscan-probe-{token}", purpose="error", errors=facts.errors)
    if r is not None:
        facts.responses.append(r)
    status_paths = list(STATUS_PATHS) + [p for p in promise.status_locations() if p not in STATUS_PATHS]
    for path in status_paths:
        r = client.request("GET", path, purpose="status", errors=facts.errors)
        if r is not None:
            facts.responses.append(r)
    for path in paths:
        for origin in (FOREIGN_ORIGIN, "null"):
            r = client.request("GET", path, purpose="cors", origin=origin, headers={"Origin": origin}, errors=facts.errors)
            if r is not None:
                facts.responses.append(r)
            r = client.request("OPTIONS", path, purpose="cors", origin=origin, errors=facts.errors,
                               headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                        "Access-Control-Request-Headers": "authorization"})
            if r is not None:
                facts.responses.append(r)
    if target.http_port is not None:
        facts.plain_open = _port_open(target.ip, target.http_port, budget=client.budget)
        log_what = "TCP connect (plaintext HTTP port)"
        client.log.add(target.http_port, log_what)
        if facts.plain_open:
            for path in ("/", f"/dkscan-probe-{token}"):
                r = client.request("GET", path, scheme="http", port=target.http_port, purpose="plain",
                                   errors=facts.errors)
                if r is not None:
                    facts.responses.append(r)
    if burst:
        for loc in promise.auth_locations():
            facts.bursts.append(_burst(client, promise, loc, policy))


def _port_open(ip: str, port: int, budget) -> bool:
    import socket

    try:
        with socket.create_connection((ip, port), timeout=budget.timeout(3.0)):
            return True
    except OSError:
        return False


MAX_BURST = 300


def burst_plan(promise, loc, policy) -> tuple[float, int, object | None, set[int]]:
    """(rate r/s, burst, limit_req directive, statuses that mean "limited") for an auth location."""
    from rules.helpers.nginx import zone_for

    limits = loc.inherited("limit_req")
    rate, burst_n, node = None, None, None
    for d in limits:
        zone = zone_for(promise.stack, promise.cfg, d)
        if zone is None or zone.rate is None:
            continue
        b = 0
        for a in d.args:
            if a.startswith("burst="):
                try:
                    b = int(a[6:])
                except ValueError:
                    b = 0
        if rate is None or zone.rate < rate:
            rate, burst_n, node = zone.rate, b, d
    if rate is None:
        rate, burst_n = float(policy.get("gateway.rate_auth", 10) or 10), 5
    expected = {429, 503}
    st = loc.effective("limit_req_status")
    if st is not None and st.args and st.args[0].isdigit():
        expected.add(int(st.args[0]))
    return rate, burst_n, node, expected


def _burst(client, promise, loc, policy) -> Burst:
    from rules.helpers.nginx import location_match

    rate, burst_n, node, expected = burst_plan(promise, loc, policy)
    n = min(MAX_BURST, max(1, int(3 * (rate + burst_n))))
    path = location_match(loc)[1]
    statuses: Counter = Counter()
    start = time.monotonic()

    def one(_):
        r = client.request("GET", path, purpose="burst")
        return r.status if r is not None else 0

    with concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="dkscan-burst") as pool:
        for status in pool.map(one, range(n)):
            statuses[status] += 1
    return Burst(path, loc, n, time.monotonic() - start, statuses, expected, rate, burst_n, node)

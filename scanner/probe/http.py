"""HTTP facts of the live gateway, gathered with httpx.

Every request goes to the target's pinned address with the URL's name as ``Host`` and SNI (httpx's
``sni_hostname`` extension), without credentials, without the environment's proxy or ``.netrc``
(``trust_env=False``), and without returning cookies (the jar is cleared after every answer). Redirects are followed by hand, and only to the same host on the probed
ports; any other destination is recorded as not followed. Bodies are read up to 64 KiB.
Certificate problems are LIVE005's: the HTTP checks do not stop at them.

The body-size check (``announce_body``) is the one request written by hand: it sends a POST's
headers announcing a body one byte over the location's ``client_max_body_size`` with
``Expect: 100-continue`` and no body, and reads only the status line. httpx cannot do that (h11
refuses to end a message shorter than its ``Content-Length``, and neither waits for ``100
Continue``); sending the body instead would upload up to the largest limit (500 MB on an upload
location) to a production host. nginx judges ``Content-Length`` before any other phase, so the
gateway that runs the audited config answers 413 at once and no byte of body is ever sent.
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
class BodyCheck:
    """A POST announcing ``sent`` body bytes (one over the location's limit) and what answered it."""

    path: str
    level: object  # the location (or server) that answers the path
    limit: int  # bytes the config allows there
    node: object | None  # the client_max_body_size directive in force; None: nginx's default 1m
    sent: int
    status: int | None  # the first status line's code; None: no answer within the timeout
    waited: float = 0.0


@dataclass
class HttpFacts:
    responses: list[Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    https_ok: bool = False
    plain_open: bool | None = None  # None: no plaintext port to check
    bursts: list[Burst] = field(default_factory=list)
    bodies: list[BodyCheck] = field(default_factory=list)

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
    for path in paths:
        check = _body_limit(client, promise, path, facts.errors)
        if check is not None:
            facts.bodies.append(check)
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


NGINX_DEFAULT_BODY = 1024 * 1024  # client_max_body_size's default (1m)


def _body_limit(client, promise, path: str, errors: list) -> BodyCheck | None:
    """Announce a body one byte over the limit the config sets for ``path``; None when the stack
    promises no limit there (no server for the URL, or ``client_max_body_size 0``: GW049's)."""
    from rules.helpers.nginx import size_bytes

    level = promise.level_for(path)
    if level is None:
        return None
    node = level.effective("client_max_body_size")
    if node is not None:
        limit = size_bytes(node.args[0]) if node.args else None
        if limit is None or limit == 0:
            return None
    else:
        limit = NGINX_DEFAULT_BODY
    if client.budget.exhausted:
        client.log.skipped.append(f"POST {client.target.url_for(path)} body-size check (time budget spent)")
        return None
    start = time.monotonic()
    status = announce_body(client, path, limit + 1, errors)
    if status == -1:
        return None
    return BodyCheck(path, level, limit, node, limit + 1, status, time.monotonic() - start)


def announce_body(client, path: str, length: int, errors: list) -> int | None:
    """Send ``POST path`` headers announcing ``length`` bytes with ``Expect: 100-continue`` and no
    body; the status code of the first answer (100, 413, ...), None when nothing answers within the
    check's timeout (the server waits for the body), -1 when the connection itself failed."""
    import socket
    from urllib.parse import quote

    t = client.target
    display = t.url_for(path)
    timeout = client.budget.timeout()
    request = (f"POST {quote(path, safe='/%:@!$&()*+,;=-._~?')} HTTP/1.1\r\nHost: {t.host_header}\r\n"
               f"User-Agent: {USER_AGENT}\r\nContent-Type: application/octet-stream\r\n"
               f"Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    client.log.add(t.port, "POST headers announcing an oversized body (no body sent)")
    try:
        with socket.create_connection((t.ip, t.port), timeout=timeout) as raw:
            conn = raw
            if t.https:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                conn = ctx.wrap_socket(raw, server_hostname=t.host)
            conn.settimeout(timeout)
            conn.sendall(request.encode("latin-1", "replace"))
            head = b""
            try:
                while b"\r\n" not in head and len(head) < 4096:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            except (socket.timeout, TimeoutError):
                return None
    except (OSError, ssl.SSLError, ValueError) as exc:
        errors.append(f"POST {display} (body-size check): {exc.__class__.__name__}: {exc or 'no answer'}")
        return -1
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    if not head:
        errors.append(f"POST {display} (body-size check): the connection closed without an answer")
        return -1
    return None


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

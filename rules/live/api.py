"""LIVE, API behaviour family (LIVE060-LIVE079): CORS origins reflected, authentication rate limits and
body-size limits not enforced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.live import probed
from rules.helpers.nginx import location_match
from scanner.model import hit
from scanner.probe import observations
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.probe import Observations
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# API behaviour (api)
# --------------------------------------------------------------------------------------------


@rule("LIVE060", "cors-origin-reflected", "high", files="live+nginx", refs="CWE-942, CWE-346; API021")
def cors_origin_reflected(ctx: Stack | Observations):
    """The live API reflects a foreign `Origin` in `Access-Control-Allow-Origin` with credentials allowed.

    ## What it does
    Sends a GET and a preflight `OPTIONS` with `Origin: https://dkscan-probe.invalid`, then with
    `Origin: null`, to `/` and each proxied location, and reports an answer that returns that origin
    in `Access-Control-Allow-Origin` together with `Access-Control-Allow-Credentials: true`.

    ## Why is this bad?
    Any web site a logged-in user visits can then read the API's answers with the user's cookies or
    credentials: account data, tokens, everything the user can see.

    ## Example
    `add_header Access-Control-Allow-Origin $http_origin always;` with credentials, or a backend that
    echoes `Origin`.

    ## Use instead
    An explicit allow-list of origins (a `map` in nginx, or the framework's CORS list).

    ## References
    CWE-942; CWE-346; API021.
    """
    obs = observations(ctx)
    if obs is None or obs.http is None:
        return
    by_path: dict[str, list[str]] = {}
    for r in obs.http.of("cors"):
        acao = (r.get("access-control-allow-origin") or "").strip()
        creds = (r.get("access-control-allow-credentials") or "").strip().lower()
        if r.origin and acao == r.origin and creds == "true":
            by_path.setdefault(r.path, []).append(f"{r.method} with Origin: {r.origin}")
    for path, how in by_path.items():
        level = obs.promise.level_for(path)
        node = level
        if level is not None:
            hdr = obs.promise.headers(level).get("access-control-allow-origin")
            if hdr:
                node = hdr[0].node
        yield hit(obs.promise.at(node, obs.target),
                  f"{obs.target.url_for(path)} reflects the request's origin with Access-Control-Allow-Credentials: true "
                  f"({'; '.join(how)})", related=probed(obs.target.url_for(path)), snippet_key=f"{obs.target.host}:{path}")


@rule("LIVE061", "auth-rate-limit-not-enforced", "high", files="live+nginx+config", refs="CWE-307; GW042")
def auth_rate_limit_not_enforced(ctx: Stack | Observations):
    """With `--burst`, an auth location answers a burst far above its configured rate without 429/503.

    ## What it does
    Only with `--burst` (it sends load): for each `gateway.auth_paths` location of the matched
    server, sends N = 3 x (rate + burst) GET requests within about one second (rate and burst from
    the location's `limit_req` and its zone, else `gateway.rate_auth` + 5; at most 300) and reports
    when none is answered 429, 503 or the configured `limit_req_status`.

    ## Why is this bad?
    The configured limit is what stops password guessing and credential stuffing; if the live
    gateway does not enforce it (not reloaded, a proxy in front hides client addresses behind one
    that is exempt, a zone keyed on something constant per request) the protection is only on paper.

    ## Example
    The config has `limit_req zone=auth burst=5 nodelay;`, the live gateway answers 45 requests in a
    second with 200.

    ## Use instead
    Reload the gateway; key the zone on the real client address (`set_real_ip_from` behind a proxy).

    ## References
    CWE-307; OWASP ASVS V2.2; GW042.
    """
    obs = observations(ctx)
    if obs is None or obs.http is None or not obs.burst:
        return
    for b in obs.http.bursts:
        answered = sum(n for s, n in b.statuses.items() if s)
        if not answered or any(s in b.expected for s in b.statuses):
            continue
        mod, path = location_match(b.level)
        statuses = ", ".join(f"{n}x {s or 'no answer'}" for s, n in sorted(b.statuses.items()))
        yield hit(obs.promise.at(b.limit_node or b.level, obs.target),
                  f"{b.sent} GET requests to {obs.target.url_for(b.path)} in {b.seconds:.1f} s got {statuses}, no "
                  f"{'/'.join(str(s) for s in sorted(b.expected))}: the configured {b.rate:g} r/s (burst {b.burst}) "
                  "is not enforced", related=probed(obs.target.url_for(b.path)), snippet_key=f"{obs.target.host}:{path}")


@rule("LIVE062", "body-limit-not-enforced", "medium", files="live+nginx", refs="CWE-770; GW049; GW050")
def body_limit_not_enforced(ctx: Stack | Observations):
    """The live gateway accepts a request body larger than the config's `client_max_body_size`.

    ## What it does
    For `/` and each proxied location of the matched server, sends the headers of a `POST`
    announcing a body one byte over the effective `client_max_body_size` there (nginx's default 1m
    when none is set; locations with `0` are GW049's) with `Expect: 100-continue`, and never the body.
    nginx judges `Content-Length` before any other phase, so the audited config answers 413 at once.
    Reports any other answer: `100 Continue` (the body would be read), another status (something
    else decided), or no answer within the check's timeout (the server waits for the body).

    ## Why is this bad?
    The limit is what keeps one client from filling the gateway's and the backend's disk and memory
    with a single request (the seed's 10m default and 500m upload limit). A live gateway that accepts
    more runs another config than the audited one (not reloaded, a stale container), or something in
    front of it (a load balancer, a CDN) answers instead.

    ## Example
    The config has `client_max_body_size 10m;` for `/api/`; the live gateway answers a 10 MiB + 1
    byte `POST /api/` with `100 Continue`.

    ## Use instead
    Reload the gateway with the audited config (`nginx -s reload`), or set the same limit on the
    proxy in front.

    ## References
    CWE-770; GW049; GW050; nginx core module docs (`client_max_body_size`).
    """
    obs = observations(ctx)
    if obs is None or obs.http is None:
        return
    # one finding per directive that promised the limit (the root cause), every path it covers listed
    groups: dict[int, list] = {}
    for b in obs.http.bodies:
        if b.status != 413:
            groups.setdefault(id(b.node if b.node is not None else b.level), []).append(b)

    def seen(b) -> str:
        if b.status is None:
            return f"waited {b.waited:.0f} s for the body instead of answering 413"
        if b.status == 100:
            return "answered 100 Continue (it would read the body)"
        return f"answered {b.status} instead of 413"

    for bs in groups.values():
        b = bs[0]
        promised = (f"client_max_body_size {b.node.args[0]}" if b.node is not None
                    else "nginx's default client_max_body_size 1m")
        also = ""
        if len(bs) > 1:
            rest = [f"{x.path} ({seen(x).split(' (')[0].replace(' instead of 413', '')})" for x in bs[1:]]
            also = "; also " + ", ".join(rest[:6]) + (f" and {len(rest) - 6} more" if len(rest) > 6 else "")
        yield hit(obs.promise.at(b.node if b.node is not None else b.level, obs.target),
                  f"POST {obs.target.url_for(b.path)} announcing a {b.sent}-byte body (1 byte over {promised}) "
                  f"{seen(b)}{also}: the live gateway accepts larger bodies than the config allows",
                  related=probed(*(obs.target.url_for(x.path) for x in bs)), snippet_key=f"{obs.target.host}:{b.path}")

"""LIVE, headers and redirects family (LIVE020-LIVE024): HSTS, security headers on errors, header drift, HTTP redirects, version disclosure, as the running gateway serves them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.live import (
    ADD_HEADER_STATUSES,
    ERROR_HEADERS,
    VERSIONED_SERVER,
    probed,
)
from rules.helpers.nginx import insert_before_terminator_edit
from scanner.model import Fix, hit
from scanner.probe import observations
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.probe import Observations
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# headers and redirects (gateway)
# --------------------------------------------------------------------------------------------


def _pages(obs, ok_only: bool = True):
    if obs.http is None:
        return []
    return [r for r in obs.http.of("page") if not ok_only or 200 <= r.status < 300]


def _max_age(value: str) -> int | None:
    m = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.I)
    return int(m.group(1)) if m else None


@rule("LIVE020", "hsts-not-served", "medium", files="live", refs="CWE-319; RFC 6797; OSHP")
def hsts_not_served(ctx: Stack | Observations):
    """A 2xx HTTPS answer of the live gateway lacks HSTS, or its `max-age` is below `tls.hsts_min_age`.

    ## What it does
    Requests `/` and the path of every proxied location of the matched server over HTTPS and checks
    each 2xx answer for `Strict-Transport-Security` with `max-age` at least `tls.hsts_min_age`
    (31536000). Points at the `add_header` that should send it, else at the location answering.

    ## Why is this bad?
    Without HSTS a browser's first plain `http://` request can be intercepted and downgraded
    (sslstrip); a short `max-age` forgets the protection between visits.

    ## Example
    The backend answers `/api/` and the location's own `add_header` dropped the inherited HSTS.

    ## Use instead
    `add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;` at every level that adds headers.

    ## References
    CWE-319; RFC 6797; OWASP Secure Headers Project.
    """
    obs = observations(ctx)
    if obs is None:
        return
    try:
        floor = int(obs.policy.get("tls.hsts_min_age", 31536000) or 31536000)
    except (TypeError, ValueError):
        floor = 31536000
    groups: dict[tuple, list[str]] = {}
    for r in _pages(obs):
        if not r.url.startswith("https://"):
            continue
        vals = r.get_all("strict-transport-security")
        if not vals:
            problem = "without Strict-Transport-Security"
        else:
            age = _max_age(vals[0])
            if age is not None and age >= floor:
                continue
            problem = f"with Strict-Transport-Security max-age={age if age is not None else '(none)'} < {floor}"
        level = obs.promise.level_for(r.path)
        hdr = obs.promise.headers(level).get("strict-transport-security") if level is not None else None
        node = hdr[0].node if hdr else level
        groups.setdefault((id(node), problem, node), []).append(r)
    for (_, problem, node), pages in groups.items():
        promised = " although the config sends it there" if node is not None and getattr(node, "name", "") == "add_header" else ""
        yield hit(obs.promise.at(node, obs.target),
                  f"{', '.join(f'{r.url} ({r.status})' for r in pages)} answered {problem}{promised}",
                  related=probed(*(r.url for r in pages)), snippet_key=f"{obs.target.host}:{problem}")


def _error_responses(obs):
    if obs.http is None:
        return []
    return [r for r in obs.http.responses if r.purpose in ("page", "error", "status") and r.status >= 400
            and r.url.startswith(obs.target.scheme + "://")]


@rule("LIVE021", "headers-missing-on-errors", "low", files="live+nginx", refs="nginx headers module docs; GW022",
      fix="safe")
def headers_missing_on_errors(ctx: Stack | Observations):
    """A security header the live gateway sends on 2xx answers is missing from its error pages.

    ## What it does
    Compares HSTS, `Content-Security-Policy`, `X-Content-Type-Options`, `X-Frame-Options` and
    `Referrer-Policy` on the 2xx answers with the same server's 404 (`/dkscan-probe-<random>`) and
    other 4xx/5xx answers. Present on 2xx and absent on an error is nginx's `add_header` without
    `always`, which applies to 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308 only. Points at the
    `add_header` in force where the error is answered.

    ## Why is this bad?
    Error pages are where reflected content, framing and MIME sniffing attacks land; an HSTS that
    disappears on a 404 is not sent to a client whose first request fails.

    ## Example
    `add_header X-Frame-Options "DENY";`

    ## Use instead
    `add_header X-Frame-Options "DENY" always;`

    ## Fix safety
    Safe when the config's own `add_header` lacks `always` (the fix appends it): the header is then
    also sent on errors. When the config already says `always`, the live gateway runs another
    configuration and there is nothing to edit.

    ## References
    nginx ngx_http_headers_module documentation; GW022.
    """
    obs = observations(ctx)
    if obs is None:
        return
    ok = _pages(obs)
    errors = _error_responses(obs)
    if not ok or not errors:
        return
    for name in ERROR_HEADERS:
        if not any(r.get_all(name) for r in ok):
            continue
        lacking = [r for r in errors if not r.get_all(name)]
        if not lacking:
            continue
        node = None
        level = obs.promise.level_for(lacking[0].path)
        if level is not None:
            hdr = obs.promise.headers(level).get(name)
            node = hdr[0].node if hdr else level
        where = ", ".join(f"{r.url} ({r.status})" for r in lacking[:4]) + (f" and {len(lacking) - 4} more" if len(lacking) > 4 else "")
        promised, fix = "", None
        if node is not None and getattr(node, "name", "") == "add_header":
            if "always" in [a.lower() for a in node.args[2:]]:
                promised = " although the config adds it with `always`: the running gateway is not the audited config"
            else:
                promised = ": append `always` to this add_header"
                edit = insert_before_terminator_edit(obs.stack, node, " always")
                fix = Fix("append `always`", (edit,)) if edit is not None else None
        canonical = "-".join(w.capitalize() for w in name.split("-"))
        yield hit(obs.promise.at(node, obs.target),
                  f"{canonical} is sent on 2xx answers but not on {where}{promised}",
                  fix=fix, related=probed(*(r.url for r in lacking)), snippet_key=f"{obs.target.host}:{name}")


@rule("LIVE022", "header-drift", "medium", files="live+nginx", refs="OSHP")
def header_drift(ctx: Stack | Observations):
    """A header the configuration sets for a location is missing from its live 2xx answer, or differs.

    ## What it does
    For each 2xx answer to `/` and the proxied locations, takes the headers the effective
    configuration of the matching location sets (`add_header` with its inheritance, headers-more's
    `more_set_headers`) and checks that the answer carries each once, with the configured value.
    A header the upstream also sends (not hidden with `proxy_hide_header`) shows as a second value.
    Values built from variables are not compared.

    ## Why is this bad?
    The running configuration is not the audited one (not reloaded, another image, a CDN rewriting
    headers), or the application overrides the gateway's policy: two `X-Frame-Options` or two CSPs
    are resolved by browsers in ways nobody chose.

    ## Example
    The config sets `X-Frame-Options DENY`; the live answer carries `X-Frame-Options: DENY` and
    `X-Frame-Options: SAMEORIGIN` (from the backend).

    ## Use instead
    Reload the gateway; `proxy_hide_header X-Frame-Options;` where the gateway owns the header.

    ## References
    OWASP Secure Headers Project.
    """
    obs = observations(ctx)
    if obs is None or obs.promise.server is None:
        return
    groups: dict[int, tuple[object, str, list[str]]] = {}
    for r in _pages(obs):
        level = obs.promise.level_for(r.path)
        for lname, hdrs in obs.promise.headers(level).items():
            if any("$" in h.value for h in hdrs):
                continue
            applies = [h for h in hdrs if h.always or r.status in ADD_HEADER_STATUSES]
            if not applies:
                continue
            want = sorted(" ".join(h.value.split()) for h in applies)
            got = sorted(" ".join(v.split()) for v in r.get_all(lname))
            if got == want:
                continue
            h = applies[0]
            if not got:
                problem = f"without {h.name}"
            else:
                problem = f"with {h.name}: {' | '.join(got)} (the config sets {' | '.join(want)})"
            node = h.node if h.node is not None else level
            key = id(node)
            entry = groups.setdefault(key, (node, problem, []))
            entry[2].append(r)
    for node, problem, pages in groups.values():
        urls = [f"{r.url} ({r.status})" for r in pages]
        yield hit(obs.promise.at(node, obs.target),
                  f"{', '.join(urls[:4])}{' ...' if len(urls) > 4 else ''} answered {problem}: the running gateway "
                  "or its upstream does not send what the config promises",
                  related=probed(*(r.url for r in pages)), snippet_key=f"{obs.target.host}:{problem}")


def _return_node(level):
    if level is None:
        return None
    for c in level.children:
        if c.name in ("return", "rewrite"):
            return c
    return level


@rule("LIVE023", "http-not-redirected-live", "high", files="live", refs="CWE-319; GW007")
def http_not_redirected_live(ctx: Stack | Observations):
    """The live plaintext port answers something other than a redirect to HTTPS on the same host.

    ## What it does
    When the plaintext port (80, or `--http-port`) accepts a TCP connection, requests `/` and a random
    path over `http://` and expects 301, 302, 307 or 308 with `Location: https://` and the same host.
    `/.well-known/acme-challenge/` is never requested (it must stay plain for ACME). Silent when the
    port is closed.

    ## Why is this bad?
    A page or API answer over plain HTTP can be read and changed by anyone on the path; a redirect
    to another host sends users somewhere the configuration never chose.

    ## Example
    `http://api.example.com/` answers 200 with the application.

    ## Use instead
    `location / { return 301 https://$host$request_uri; }` in the port-80 server.

    ## References
    CWE-319; GW007.
    """
    obs = observations(ctx)
    if obs is None or obs.http is None or not obs.http.plain_open:
        return
    bad, urls = [], []
    for r in obs.http.of("plain"):
        loc = r.get("location") or ""
        if r.status in (301, 302, 307, 308) and loc.lower().startswith("https://") and obs.target.same_host(loc):
            continue
        bad.append(f"{r.url} answers {r.status}" + (f" -> {loc}" if loc else ""))
        urls.append(r.url)
    if not bad:
        return
    level = obs.promise.level_for("/", obs.promise.http_server) if obs.promise.http_server is not None else None
    node = _return_node(level)
    yield hit(obs.promise.at(node, obs.target),
              f"{'; '.join(bad)}: plain HTTP is not redirected to https://{obs.target.host}",
              related=probed(*urls), snippet_key=f"{obs.target.host}:{obs.target.http_port}")


@rule("LIVE024", "server-version-exposed", "low", files="live",
      refs="CWE-200; OSHP headers_remove.json; GW032")
def server_version_exposed(ctx: Stack | Observations):
    """A live answer names the server's version (`Server: nginx/1.27.3`) or its framework (`X-Powered-By`).

    ## What it does
    Checks every answer the probe received (HTTPS, plain HTTP, errors, CORS) for a `Server` header
    carrying a version and for `X-Powered-By`, `X-AspNet-Version` and `X-AspNetMvc-Version`.
    Points at `server_tokens` (or `proxy_hide_header`) when the config has one.

    ## Why is this bad?
    A version tells an attacker which known vulnerabilities to try, without a single probe of their own.

    ## Example
    `Server: nginx/1.27.3`, `X-Powered-By: Express`.

    ## Use instead
    `server_tokens off;` in `http`, `proxy_hide_header X-Powered-By;`.

    ## References
    CWE-200; OWASP Secure Headers Project (headers_remove.json); GW032.
    """
    obs = observations(ctx)
    if obs is None or obs.http is None:
        return
    seen: dict[tuple[str, str], list[str]] = {}
    for r in obs.http.responses:
        for v in r.get_all("server"):
            if VERSIONED_SERVER.match(v.strip()):
                seen.setdefault(("Server", v.strip()), []).append(r.url)
        for name in ("x-powered-by", "x-aspnet-version", "x-aspnetmvc-version"):
            for v in r.get_all(name):
                canonical = "-".join(w.capitalize() for w in name.split("-")).replace("Aspnet", "AspNet")
                seen.setdefault((canonical, v.strip()), []).append(r.url)
    for (name, value), urls in seen.items():
        if name == "Server":
            node = obs.promise.directive("server_tokens")
        else:
            hides = [n for n in (obs.promise.server.inherited("proxy_hide_header") if obs.promise.server is not None else [])
                     if n.args and n.args[0].lower() == name.lower()]
            node = hides[0] if hides else None
        urls = sorted(set(urls))
        yield hit(obs.promise.at(node, obs.target),
                  f"{name}: {value} on {', '.join(urls[:3])}{f' and {len(urls) - 3} more' if len(urls) > 3 else ''}",
                  related=probed(*urls), snippet_key=f"{obs.target.host}:{name}:{value}")

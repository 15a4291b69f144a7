"""Gateway, response headers family (GW020-GW036): HSTS, CSP, framing, the ``add_header``
inheritance trap, version disclosure."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.locations import nloc
from rules.helpers.nginx import (
    ALWAYS_HEADERS,
    HEADER_DIRECTIVES,
    add_array_directive_edit,
    add_header_source,
    add_to_level_edit,
    delete_directive_edit,
    directive_text,
    directive_tokens,
    effective_headers,
    http_servers,
    insert_before_edit,
    insert_before_terminator_edit,
    insert_into_block_edit,
    is_auth_location,
    is_tls_server,
    level_name,
    levels_text,
    location_match,
    lost_headers,
    once,
    opaque,
    own_add_headers,
    parent_level,
    replace_args_edit,
    replace_token_edit,
    response_levels,
    serves_content,
    walk_blocks,
)
from scanner.parsers.base import small_int
from scanner.model import UNSAFE, Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

HSTS_VALUE = "max-age=63072000; includeSubDomains"
OSHP_CSP = ("default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; "
            "upgrade-insecure-requests; block-all-mixed-content")
API_CSP = "default-src 'none'; frame-ancestors 'none'"


# --------------------------------------------------------------------------------------------
# headers
# --------------------------------------------------------------------------------------------


def _lacking(stack: Stack, cfg, server, has, content_only: bool) -> list:
    """Levels of ``server`` whose effective headers fail ``has`` and where no enclosing level
    satisfied it (a dropped header is GW023's; an unreadable include may set it)."""
    out = []
    for lvl in response_levels(server, content_only=content_only):
        if has(effective_headers(lvl)) or opaque(stack, cfg, lvl, HEADER_DIRECTIVES):
            continue
        if _dropped(lvl, has):
            continue
        out.append(lvl)
    return out


def _dropped(level, has) -> bool:
    """An enclosing level sends a header satisfying ``has`` that ``level`` lost (GW023's case)."""
    cur = parent_level(level)
    while cur is not None:
        if has(effective_headers(cur)):
            return True
        cur = parent_level(cur)
    return False


def _add_header_fix(stack: Stack, cfg, server, levels: list, line: str, description: str, applicability: str = "safe") -> Fix | None:
    """Insert ``line`` where the lacking levels' add_header set is defined (the nearest level with
    its own add_header, else the server), once per such level."""
    edits, targets = [], []
    for lvl in levels:
        src = add_header_source(lvl) or server
        if any(src is t for t in targets):
            continue
        targets.append(src)
        e = add_to_level_edit(stack, cfg, src, "add_header", [line])
        if e is None:
            return None
        edits.append(e)
    if not edits:
        return None
    return Fix(description, tuple(edits), applicability)


@rule("GW020", "hsts-missing", "medium", files="nginx", refs="CWE-319; RFC 6797; OSHP; gixy hsts_header", fix="unsafe")
def hsts_missing(stack: Stack):
    """A TLS server sends no `Strict-Transport-Security` header.

    ## What it does
    For every TLS server, computes the headers each location really sends — `add_header` with nginx's
    inheritance (a level with its own `add_header` inherits none; `add_header_inherit merge` of
    1.29.3+), `more_set_headers`, `security_headers on` — and reports the server once when a location
    (or the server level) lacks HSTS. When an outer level sets it and a nested `add_header` drops it,
    GW023 reports instead. Headers the application sets are invisible: the message says "not set at
    the gateway".

    ## Why is this bad?
    Without HSTS a browser keeps trying `http://` first and an attacker on the network can strip TLS
    (sslstrip) before the redirect.

    ## Example
    ```nginx
    server { listen 443 ssl; location / { proxy_pass http://app; } }
    ```

    ## Use instead
    ```nginx
    server { listen 443 ssl; add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always; … }
    ```

    ## Fix safety
    Unsafe: `includeSubDomains` forces HTTPS on every subdomain for two years; check none is served
    over plain HTTP.

    ## References
    CWE-319; RFC 6797; OWASP Secure Headers Project; gixy hsts_header.
    """
    line = f'add_header Strict-Transport-Security "{HSTS_VALUE}" always;'
    for cfg in stack.nginx_configs:
        for server in http_servers(cfg):
            if not is_tls_server(server):
                continue
            lacking = _lacking(stack, cfg, server, lambda hs: "strict-transport-security" in hs, False)
            if not lacking:
                continue
            yield hit(nloc(server, cfg),
                      f"Strict-Transport-Security is not set at the gateway for {levels_text(lacking)}",
                      fix=_add_header_fix(stack, cfg, server, lacking, line, "add HSTS (two years, includeSubDomains)", UNSAFE),
                      snippet_key="hsts-missing")


def _max_age(value: str) -> int | None:
    m = re.search(r"max-age\s*=\s*\"?([0-9]+)", value, re.I)
    return small_int(m.group(1)) if m else None


def _header_directives(cfg, lname: str):
    """(directive, header value, index of the token holding the value) for every add_header /
    more_set_headers setting ``lname``."""
    for n in cfg.nodes("add_header", "more_set_headers"):
        if n.name == "add_header":
            if len(n.args) >= 2 and n.args[0].lower() == lname:
                yield n, n.args[1], 2
        else:
            for i, a in enumerate(n.args):
                name, sep, value = a.partition(":")
                if sep and name.strip().lower() == lname:
                    yield n, value.strip(), i + 1


@rule("GW021", "hsts-weak", "low", files="nginx", refs="RFC 6797; gixy hsts_header", fix="safe")
def hsts_weak(stack: Stack):
    """The HSTS `max-age` is shorter than the policy's minimum.

    ## What it does
    Flags each `Strict-Transport-Security` set by `add_header` or `more_set_headers` whose `max-age`
    is below policy `tls.hsts_min_age` (default 31536000, one year — the hstspreload.org floor;
    Mozilla recommends 63072000), or that has no `max-age` at all.

    ## Why is this bad?
    A short max-age lets the protection lapse between visits, reopening the first-request window that
    sslstrip uses; `max-age=0` switches HSTS off.

    ## Example
    ```nginx
    add_header Strict-Transport-Security "max-age=15768000; includeSubDomains" always;
    ```

    ## Use instead
    ```nginx
    add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
    ```

    ## Fix safety
    Safe: browsers only remember HTTPS for longer.

    ## References
    RFC 6797 section 6.1.1; hstspreload.org; gixy hsts_header.
    """
    try:
        minimum = int(stack.policy.get("tls.hsts_min_age", 31536000))
    except (TypeError, ValueError):
        minimum = 31536000
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n, value, idx in _header_directives(cfg, "strict-transport-security"):
            if not once(seen, n):
                continue
            age = _max_age(value)
            if age is not None and age >= minimum:
                continue
            fix = None
            if age is not None:
                toks, _ = directive_tokens(stack, n)
                if idx < len(toks):
                    new_raw = re.sub(r"(max-age\s*=\s*\"?)\d+", r"\g<1>63072000", toks[idx].raw, count=1, flags=re.I)
                    edit = replace_token_edit(stack, n, idx, new_raw)
                    fix = Fix("set `max-age=63072000`", (edit,)) if edit else None
            what = f"max-age={age} is below tls.hsts_min_age {minimum}" if age is not None else "no max-age"
            yield hit(nloc(n), f"Strict-Transport-Security {what}: the protection lapses between visits",
                      fix=fix, snippet_key=f"hsts-weak:{age}")


@rule("GW022", "header-without-always", "low", files="nginx", refs="nginx headers module docs", fix="safe")
def header_without_always(stack: Stack):
    """A security header is added without `always`, so error responses lack it.

    ## What it does
    Flags `add_header` of HSTS, Content-Security-Policy, X-Content-Type-Options, X-Frame-Options,
    Referrer-Policy, Permissions-Policy or Cross-Origin-Opener/Resource/Embedder-Policy without the
    `always` parameter.

    ## Why is this bad?
    nginx adds such a header only to 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308 responses.
    Error pages — 401, 403, 404, 429, 500, and every error the upstream app returns — go out without
    it, and an attacker can often choose to trigger one (a framed or sniffed error page).

    ## Example
    ```nginx
    add_header X-Frame-Options "SAMEORIGIN";
    ```

    ## Use instead
    ```nginx
    add_header X-Frame-Options "SAMEORIGIN" always;
    ```

    ## Fix safety
    Safe: the header is also sent on error responses.

    ## References
    nginx ngx_http_headers_module documentation (`add_header … always`, 1.7.5).
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("add_header"):
            if len(n.args) != 2 or n.args[0].lower() not in ALWAYS_HEADERS or n.args[1] == "" or not once(seen, n):
                continue
            edit = insert_before_terminator_edit(stack, n, " always")
            yield hit(nloc(n), f"add_header {n.args[0]} without `always`: error responses (4xx, 5xx) are sent without it",
                      fix=Fix("append `always`", (edit,)) if edit else None, snippet_key=f"without-always:{n.args[0].lower()}")


def _is_preflight_if(level) -> bool:
    return (level.name == "if" and any("$request_method" in a for a in level.args)
            and (level.child("return") is not None))


def _all_levels(root) -> list:
    """``root`` and every server, location, ``if`` and ``limit_except`` block below it."""
    out = [root]
    for n in root.walk():
        if n is not root and n.d is not None and n.d.block is not None and n.name in ("server", "location", "if", "limit_except"):
            out.append(n)
    return out


@rule("GW023", "security-header-dropped", "medium", files="nginx",
      refs="gixy add_header_redefinition; sg header-redefinition", fix="safe")
def security_header_dropped(stack: Stack):
    """A nested `add_header` silently drops the security headers of an outer level.

    ## What it does
    For every server, location and `if` block with its own `add_header` (or `add_header_inherit
    off`), compares the headers it sends with those of the enclosing level and reports the security
    headers lost: HSTS, CSP, X-Content-Type-Options, X-Frame-Options, Referrer-Policy,
    Permissions-Policy, COOP/CORP/COEP, X-Permitted-Cross-Domain-Policies, X-XSS-Protection, and
    `Cache-Control: no-store/private`, `Pragma: no-cache`, `Expires: 0`, `Content-Disposition:
    attachment`. `add_header_inherit merge` (nginx 1.29.3+) keeps the outer headers; headers of
    `more_set_headers` are never dropped. A CORS preflight `if ($request_method = OPTIONS) { add_header
    …; return 204; }` is not reported.

    ## Why is this bad?
    nginx inherits `add_header` from the previous level only when the current level has none: one
    `add_header X-Cache-Status …` in a location removes HSTS, CSP and the rest for that location,
    with no warning.

    ## Example
    ```nginx
    server {
        add_header Strict-Transport-Security "max-age=63072000" always;
        location /api/ { add_header X-Cache-Status $upstream_cache_status; }
    }
    ```

    ## Use instead
    ```nginx
    location /api/ {
        add_header Strict-Transport-Security "max-age=63072000" always;
        add_header X-Cache-Status $upstream_cache_status;
    }
    ```
    (or `add_header_inherit merge;` on nginx 1.29.3+).

    ## Fix safety
    Safe: the lost directives are copied into the level unchanged.

    ## References
    nginx ngx_http_headers_module documentation; gixy add_header_redefinition; semgrep
    header-redefinition.
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for lvl in _all_levels(cfg.root):
            if lvl.d is None or lvl.name not in ("server", "location", "if", "limit_except"):
                continue
            if any(a.name in ("stream", "mail") for a in lvl.ancestors()):
                continue
            if _is_preflight_if(lvl) or not once(seen, lvl):
                continue
            lost = lost_headers(lvl)
            if not lost:
                continue
            lines = []
            for h in lost:
                text = directive_text(stack, h.node) if h.node is not None else None
                if text is None:
                    lines = []
                    break
                lines.append(text)
            edit = None
            if lines:
                own = [c for c in own_add_headers(lvl) if c.path == lvl.path]
                edit = (insert_before_edit(stack, own[0], lines) if own else None) or insert_into_block_edit(stack, cfg, lvl, lines)
            names = ", ".join(h.name for h in lost)
            yield hit(nloc(lvl, cfg), f"{level_name(lvl)} has its own add_header, so it drops {names} of the enclosing level",
                      fix=Fix("copy the lost headers in", (edit,)) if edit else None,
                      snippet_key="dropped:" + ",".join(sorted(h.lname for h in lost)))


def _is_api_server(server) -> bool:
    for sn in server.children_named("server_name"):
        if any(a.lower().startswith("api.") or a.lower().startswith("api-") for a in sn.args):
            return True
    locs = [l for l in response_levels(server, content_only=True) if l.name == "location"]
    return bool(locs) and all("api" in re.findall(r"[a-z0-9]+", location_match(l)[1].lower()) or location_match(l)[0] == "@" for l in locs)


def _missing_header_rule(stack: Stack, lname, has, message, line_for, description, applicability="safe", tls_only=False):
    for cfg in stack.nginx_configs:
        for server in http_servers(cfg):
            if tls_only and not is_tls_server(server):
                continue
            lacking = _lacking(stack, cfg, server, has, True)
            if not lacking:
                continue
            fix = None
            if line_for is not None:
                fix = _add_header_fix(stack, cfg, server, lacking, line_for(server), description, applicability)
            yield hit(nloc(server, cfg), message.format(levels=levels_text(lacking)), fix=fix, snippet_key=f"{lname}-missing")


@rule("GW024", "csp-missing", "medium", files="nginx", refs="CWE-693; OSHP", fix="unsafe")
def csp_missing(stack: Stack):
    """No `Content-Security-Policy` is sent.

    ## What it does
    Reports a server once when a location answering with content (not a `return` or `deny all`)
    sends no `Content-Security-Policy` from the gateway, following nginx's `add_header` inheritance
    (`Content-Security-Policy-Report-Only` does not enforce anything). A header dropped by a nested
    `add_header` is GW023's.

    ## Why is this bad?
    CSP is the browser-side containment of XSS: without it an injected script runs with the page's
    full authority and can exfiltrate tokens anywhere.

    ## Example
    ```nginx
    server { listen 443 ssl; location / { proxy_pass http://app; } }
    ```

    ## Use instead
    ```nginx
    add_header Content-Security-Policy "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; upgrade-insecure-requests" always;
    ```
    (an API server: `default-src 'none'; frame-ancestors 'none'`).

    ## Fix safety
    Unsafe: a policy can block the site's own scripts, styles or third-party resources; deploy it as
    `-Report-Only` first if unsure.

    ## References
    CWE-693; OWASP Secure Headers Project (headers_add.json).
    """
    def line_for(server):
        value = API_CSP if _is_api_server(server) else OSHP_CSP
        return f'add_header Content-Security-Policy "{value}" always;'
    yield from _missing_header_rule(stack, "csp", lambda hs: "content-security-policy" in hs,
                                    "Content-Security-Policy is not set at the gateway for {levels}", line_for,
                                    "add the OWASP Secure Headers CSP", UNSAFE)


@rule("GW026", "nosniff-missing", "low", files="nginx", refs="CWE-693; OSHP", fix="safe")
def nosniff_missing(stack: Stack):
    """No `X-Content-Type-Options: nosniff` is sent.

    ## What it does
    Reports a server once when a location answering with content sends no
    `X-Content-Type-Options: nosniff` from the gateway (nginx's `add_header` inheritance,
    `more_set_headers` and `security_headers on` followed). A header dropped by a nested `add_header`
    is GW023's.

    ## Why is this bad?
    Browsers may sniff an uploaded or proxied file as HTML or script and run it in the site's origin.

    ## Example
    ```nginx
    server { location /media/ { alias /srv/media/; } }
    ```

    ## Use instead
    ```nginx
    add_header X-Content-Type-Options "nosniff" always;
    ```

    ## Fix safety
    Safe, unless the site serves scripts or styles with a wrong Content-Type (they stop loading).

    ## References
    CWE-693; OWASP Secure Headers Project.
    """
    yield from _missing_header_rule(
        stack, "nosniff",
        lambda hs: any(h.value.strip().strip("\"'").lower() == "nosniff" for h in hs.get("x-content-type-options", [])),
        "X-Content-Type-Options: nosniff is not set at the gateway for {levels}",
        lambda server: 'add_header X-Content-Type-Options "nosniff" always;', "add `X-Content-Type-Options: nosniff`")


def _frame_protected(hs) -> bool:
    if any(h.value.strip().strip("\"'").upper() in ("DENY", "SAMEORIGIN") for h in hs.get("x-frame-options", [])):
        return True
    return any("frame-ancestors" in h.value.lower() for h in hs.get("content-security-policy", []))


@rule("GW027", "frame-protection-missing", "medium", files="nginx", refs="CWE-1021; OSHP", fix="safe")
def frame_protection_missing(stack: Stack):
    """Pages can be framed by any site (clickjacking).

    ## What it does
    Reports a server once when a location answering with content sends neither `X-Frame-Options
    DENY`/`SAMEORIGIN` nor a CSP with `frame-ancestors` from the gateway. A header dropped by a nested
    `add_header` is GW023's.

    ## Why is this bad?
    Another site can load the pages in an invisible frame and trick users into clicking buttons of
    the logged-in application (clickjacking).

    ## Example
    ```nginx
    server { listen 443 ssl; location / { proxy_pass http://app; } }
    ```

    ## Use instead
    ```nginx
    add_header X-Frame-Options "DENY" always;
    ```

    ## Fix safety
    Safe for an application that is not meant to be embedded; use `SAMEORIGIN` or CSP
    `frame-ancestors` to allow its own frames.

    ## References
    CWE-1021; OWASP Secure Headers Project.
    """
    yield from _missing_header_rule(
        stack, "frame", _frame_protected,
        "neither X-Frame-Options nor CSP frame-ancestors is set at the gateway for {levels}",
        lambda server: 'add_header X-Frame-Options "DENY" always;', "add `X-Frame-Options: DENY`")


_REFERRER_TOKENS = ("no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin", "same-origin",
                    "strict-origin", "strict-origin-when-cross-origin", "unsafe-url")


@rule("GW028", "referrer-policy-unsafe", "low", files="nginx", refs="OSHP", fix="safe")
def referrer_policy_unsafe(stack: Stack):
    """`Referrer-Policy` leaks full URLs to other origins.

    ## What it does
    Flags a `Referrer-Policy` header (add_header or more_set_headers) whose effective policy — the
    last valid token, as browsers read a list — is `unsafe-url` or `no-referrer-when-downgrade`. An
    absent header is fine: browsers default to `strict-origin-when-cross-origin`.

    ## Why is this bad?
    Full URLs, with their paths and query strings (reset tokens, search terms, ids), are sent to every
    third-party site a page links to or loads from.

    ## Example
    ```nginx
    add_header Referrer-Policy "no-referrer-when-downgrade";
    ```

    ## Use instead
    ```nginx
    add_header Referrer-Policy "strict-origin-when-cross-origin" always;
    ```

    ## Fix safety
    Safe: other origins receive only the origin, the site itself still gets full referrers.

    ## References
    OWASP Secure Headers Project; W3C Referrer Policy.
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n, value, idx in _header_directives(cfg, "referrer-policy"):
            toks = [t.strip().lower() for t in value.strip("\"'").split(",")]
            valid = [t for t in toks if t in _REFERRER_TOKENS]
            if not valid or valid[-1] not in ("unsafe-url", "no-referrer-when-downgrade") or not once(seen, n):
                continue
            fix = None
            if n.name == "add_header":
                tk, _ = directive_tokens(stack, n)
                if len(tk) > 2:
                    q = tk[2].raw[0] if tk[2].raw[:1] in ("'", '"') else ""
                    edit = replace_token_edit(stack, n, 2, f"{q}strict-origin-when-cross-origin{q}")
                    fix = Fix("set `strict-origin-when-cross-origin`", (edit,)) if edit else None
            yield hit(nloc(n), f"Referrer-Policy {valid[-1]}: full URLs (paths, query strings) are sent to other origins",
                      fix=fix, snippet_key=f"referrer:{valid[-1]}")


_DEPRECATED = {"feature-policy": "replaced by Permissions-Policy", "expect-ct": "obsolete since Certificate Transparency is enforced",
               "public-key-pins": "removed from browsers (risk of locking users out)",
               "public-key-pins-report-only": "removed from browsers"}


@rule("GW030", "deprecated-security-header", "info", files="nginx", refs="OSHP", fix="safe")
def deprecated_security_header(stack: Stack):
    """A deprecated security header is sent.

    ## What it does
    Flags `X-XSS-Protection` with a value other than `0`, and `Feature-Policy`, `Expect-CT`,
    `Public-Key-Pins` (and `-Report-Only`), set by `add_header` or `more_set_headers`.

    ## Why is this bad?
    Browsers removed the XSS auditor because `X-XSS-Protection: 1` itself enabled cross-site leaks;
    the other headers are ignored (Feature-Policy, Expect-CT) or dangerous (HPKP). They give a false
    sense of protection; OSHP recommends `X-XSS-Protection: 0` and CSP instead.

    ## Example
    ```nginx
    add_header X-XSS-Protection "1; mode=block";
    ```

    ## Use instead
    ```nginx
    add_header X-XSS-Protection "0" always;   # or drop it; use Content-Security-Policy
    ```

    ## Fix safety
    Safe: browsers ignore or misuse these headers.

    ## References
    OWASP Secure Headers Project (headers_remove.json, X-XSS-Protection).
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for name in ("x-xss-protection", *_DEPRECATED):
            for n, value, idx in _header_directives(cfg, name):
                v = value.strip().strip("\"'")
                if name == "x-xss-protection" and v.startswith("0"):
                    continue
                if not once(seen, n):
                    continue
                fix = None
                if name == "x-xss-protection":
                    tk, _ = directive_tokens(stack, n)
                    if n.name == "add_header" and len(tk) > 2:
                        q = tk[2].raw[0] if tk[2].raw[:1] in ("'", '"') else ""
                        edit = replace_token_edit(stack, n, 2, f"{q}0{q}")
                        fix = Fix("set `X-XSS-Protection: 0`", (edit,)) if edit else None
                    msg = f"X-XSS-Protection {v}: the XSS auditor is gone and enabling it caused leaks; send 0 and rely on CSP"
                else:
                    if n.name == "add_header" or len(n.args) == 1:
                        edit = delete_directive_edit(stack, n)
                        fix = Fix(f"delete the {name} header", (edit,)) if edit else None
                    msg = f"{n.args[0] if n.name == 'add_header' else name} is deprecated: {_DEPRECATED[name]}"
                yield hit(nloc(n), msg, fix=fix, snippet_key=f"deprecated:{name}")


@rule("GW031", "isolation-headers-missing", "info", files="nginx", refs="OSHP")
def isolation_headers_missing(stack: Stack):
    """No cross-origin isolation header is sent.

    ## What it does
    Reports a server once when a location answering with content sends none of
    `Cross-Origin-Opener-Policy`, `Cross-Origin-Resource-Policy`, `Cross-Origin-Embedder-Policy` and
    `X-Permitted-Cross-Domain-Policies` from the gateway.

    ## Why is this bad?
    Without them, other origins can keep a handle on the site's windows (COOP), embed its resources
    (CORP), and legacy clients read cross-domain policy files; they are the OWASP baseline against
    cross-origin leaks such as Spectre-style side channels.

    ## Example
    ```nginx
    server { location / { proxy_pass http://app; } }
    ```

    ## Use instead
    ```nginx
    add_header Cross-Origin-Opener-Policy "same-origin" always;
    add_header Cross-Origin-Resource-Policy "same-origin" always;
    add_header X-Permitted-Cross-Domain-Policies "none" always;
    ```

    ## Fix safety
    Manual: COEP and CORP can break embedding of third-party resources.

    ## References
    OWASP Secure Headers Project.
    """
    names = ("cross-origin-opener-policy", "cross-origin-resource-policy", "cross-origin-embedder-policy",
             "x-permitted-cross-domain-policies")
    yield from _missing_header_rule(
        stack, "isolation", lambda hs: any(n in hs for n in names),
        "none of COOP, CORP, COEP or X-Permitted-Cross-Domain-Policies is set at the gateway for {levels}",
        None, "")


@rule("GW032", "server-tokens-on", "low", files="nginx", refs="CWE-200; gixy version_disclosure", fix="safe")
def server_tokens_on(stack: Stack):
    """nginx discloses its version.

    ## What it does
    Flags each explicit `server_tokens on` or `build` (wherever it is), and each `server` whose
    effective `server_tokens` is nginx's default (`on`). The finding points at the directive when one
    is set, else at the `http` block where `server_tokens off;` belongs — once per block; in a
    fragment without an `http` block (`conf.d/*.conf`), once per file, at its first server, the
    other servers listed as related locations.

    ## Why is this bad?
    The version in the `Server` header and on error pages tells an attacker which CVEs apply. It is
    a hardening gap, not a vulnerability: low, not high as gixy reports.

    ## Example
    ```nginx
    http { server { listen 443 ssl; } }
    ```

    ## Use instead
    ```nginx
    http { server_tokens off; server { listen 443 ssl; } }
    ```

    ## Fix safety
    Safe: only the header and error pages change.

    ## References
    CWE-200; gixy version_disclosure.
    """
    reported: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("server_tokens"):
            if not n.args or n.args[0].lower() not in ("on", "build") or not once(reported, n):
                continue
            edit = replace_args_edit(stack, n, "off")
            yield hit(nloc(n), f"server_tokens {n.args[0]}: nginx version shown in headers and error pages",
                      fix=Fix("set `server_tokens off`", (edit,)) if edit else None, snippet_key="server_tokens")
        # one finding per block where `server_tokens off;` belongs: the http block; in a fragment
        # (conf.d/*.conf, no http block of its own) every server of the file is one root cause,
        # reported at the first, the others related, the fix setting it in each
        groups: dict = {}
        for server in http_servers(cfg):
            if server.effective("server_tokens") is not None or opaque(stack, cfg, server, ("server_tokens",)):
                continue
            anchor = cfg.http if cfg.http.d is not None else server
            groups.setdefault(id(anchor) if anchor is cfg.http else ("file", server.path), []).append(anchor)
        for anchors in groups.values():
            anchors = [a for a in dict.fromkeys(anchors) if once(reported, a)]
            if not anchors:
                continue
            edits = tuple(e for e in (insert_into_block_edit(stack, cfg, a, ["server_tokens off;"]) for a in anchors) if e)
            more = f" ({len(anchors)} servers of this file: lines {', '.join(str(a.line) for a in anchors)})" if len(anchors) > 1 else ""
            yield hit(nloc(anchors[0], cfg), "server_tokens is not set: nginx defaults to `on` and shows its version in headers and error pages" + more,
                      fix=Fix("add `server_tokens off;`", edits) if len(edits) == len(anchors) else None,
                      related=[nloc(a, cfg) for a in anchors[1:]], snippet_key=f"server_tokens-missing:{anchors[0].name}")


@rule("GW035", "add-header-bad-arguments", "high", files="nginx", refs="nginx headers module docs", fix="safe")
def add_header_bad_arguments(stack: Stack):
    """`add_header` has arguments nginx refuses.

    ## What it does
    Flags `add_header` with more than two arguments whose third is not `always` (an unquoted value
    with a space, as in OSHP's `add_header Cache-Control no-store, max-age=0;`), more than three
    arguments, or fewer than two.

    ## Why is this bad?
    `nginx -t` fails (`invalid parameter "max-age=0"`, `invalid number of arguments`): the gateway does
    not start, or a reload is refused and the old configuration keeps running.

    ## Example
    ```nginx
    add_header Cache-Control no-store, max-age=0;
    ```

    ## Use instead
    ```nginx
    add_header Cache-Control "no-store, max-age=0" always;
    ```

    ## Fix safety
    Safe: the value is quoted as the author meant it.

    ## References
    nginx ngx_http_headers_module documentation.
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("add_header"):
            args = n.args
            bad = len(args) < 2 or (len(args) >= 3 and (args[2].lower() != "always" or len(args) > 3))
            if not bad or not once(seen, n):
                continue
            fix = None
            if len(args) >= 3:
                values = args[1:-1] if args[-1].lower() == "always" else args[1:]
                toks, _ = directive_tokens(stack, n)
                last = len(values)
                if len(toks) > last + 1:
                    quoted = '"' + " ".join(values).replace("\\", "\\\\").replace('"', '\\"') + '"'
                    first_tok, last_tok = toks[2], toks[last + 1]
                    edit = Edit(Location(n.path, first_tok.line, first_tok.col, last_tok.end_line, last_tok.end_col), quoted)
                    fix = Fix("quote the header value", (edit,))
            what = "fewer than two arguments" if len(args) < 2 else f"argument {' '.join(args[2:3])!r} where only `always` is allowed"
            yield hit(nloc(n), f"add_header {' '.join(args[:1])}: {what} (nginx -t fails)", fix=fix,
                      snippet_key="add_header " + " ".join(args))


@rule("GW036", "no-store-missing-on-auth", "info", files="nginx", refs="OSHP", fix="safe")
def no_store_missing_on_auth(stack: Stack):
    """An authentication location does not forbid caching.

    ## What it does
    Flags a location whose path has a `gateway.auth_paths` segment (auth, login, signin, token,
    oauth, password, register, otp) and that answers with content, when the gateway does not send
    `Cache-Control` with `no-store` there (the app may; the message says "not set at the gateway").

    ## Why is this bad?
    Tokens, session cookies and account pages can be stored by shared caches and browser history and
    replayed from there.

    ## Example
    ```nginx
    location /api/auth/ { proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    location /api/auth/ { add_header Cache-Control "no-store" always; proxy_pass http://backend; }
    ```

    ## Fix safety
    Safe: the inherited `add_header` lines are copied into the location so that none is lost.

    ## References
    OWASP Secure Headers Project (Cache-Control).
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for server in http_servers(cfg):
            for loc in walk_blocks(server, "location"):
                if not is_auth_location(stack, loc) or not serves_content(loc) or opaque(stack, cfg, loc, HEADER_DIRECTIVES) or not once(seen, loc):
                    continue
                hs = effective_headers(loc)
                if any("no-store" in h.value.lower() for h in hs.get("cache-control", [])):
                    continue
                edit = add_array_directive_edit(stack, cfg, loc, "add_header", ['add_header Cache-Control "no-store" always;'],
                                          skip=lambda d: bool(d.args) and d.args[0].lower() == "cache-control")
                yield hit(nloc(loc), f"{level_name(loc)}: Cache-Control no-store is not set at the gateway for an authentication path",
                          fix=Fix("add `Cache-Control: no-store`", (edit,)) if edit else None,
                          snippet_key="no-store:" + " ".join(loc.args))

"""API rules read from nginx and the environment: CORS policy and internal endpoints made public."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.locations import env_loc, nloc
from rules.helpers.services import is_cors_credentials_key
from rules.helpers.nginx_proxy import (
    admin_exposures,
    enclosing,
    fix_of,
    insert_in_block,
    levels,
    location_modifier,
    pcre_to_py,
    protected,
    server_public,
    vname,
)
from scanner.model import Location, hit
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

_ORIGIN_KEY = LazyRe(r"^CORS_\w*ORIGIN", re.I)
_STAR = LazyRe(r"""(^|[\s,\[;"'])\*($|[\s,\];"'])""")
_TRUE = {"true", "1", "yes", "on"}


def _env_groups(stack: Stack):
    """Each ``_env_sources`` group as (last, creds): every key's last definition (compose semantics:
    the later one wins) as key -> (value, Location), and the credential switches it turns on
    (key, Location). Once per stack: API020/API021 and API024/API025 read the same groups."""
    def compute():
        out = []
        for entries in _env_sources(stack):
            last: dict[str, tuple] = {}
            for key, value, loc in entries:
                last[key] = (value, loc)
            creds = [(k, loc) for k, (v, loc) in last.items()
                     if is_cors_credentials_key(k) and str(v).strip().strip("'\"").lower() in _TRUE]
            out.append((last, creds))
        return out
    return stack.memo("api_env_groups", compute)


def _env_sources(stack: Stack):
    """(path, entries) groups: each service's environment (env files + ``environment:``), then each
    dotenv file no service loads. An entry is (key, value, Location)."""
    groups = []
    used = set()
    for svc in stack.services:
        entries = []
        for d in stack.service_dotenvs(svc):
            used.add(d.path)
            for e in d.entries:
                entries.append((e.key, e.value or "", env_loc(d, e)))
        for var in svc.environment:
            if var.value is not None:
                entries.append((var.key, var.value, _definition(stack, svc, var)))
        if entries:
            groups.append(entries)
    for d in stack.dotenvs:
        if d.path in used:
            continue
        groups.append([(e.key, e.value or "", env_loc(d, e)) for e in d.entries])
    return groups


def _definition(stack: Stack, svc, var) -> Location:
    """Where an ``environment:`` value is written: the compose line, or, for a bare ``${VAR}``, the
    line of the interpolation source (``.env``) that defines it."""
    here = Location(svc.doc.path, var.key_node.line, var.key_node.col)
    node = var.value_node
    refs = getattr(node, "vars", None) or []
    raw = (var.raw or "").strip()
    if len(refs) == 1 and raw.startswith("$") and refs[0].source and raw in (f"${{{refs[0].name}}}", f"${refs[0].name}") or \
            (len(refs) == 1 and refs[0].source and raw.startswith("${" + refs[0].name + ":-") and raw.endswith("}")):
        sf = stack.files.get(refs[0].source)
        entry = sf.doc.get(refs[0].name) if sf is not None and hasattr(sf.doc, "get") else None
        if entry is not None:
            return env_loc(sf.doc, entry)
    return here


def _env_cors(stack: Stack):
    """(rule, location, message, related, key) for the env side of API020/API021."""
    return stack.memo("env_cors", lambda: list(_env_cors_compute(stack)))


def _env_cors_compute(stack: Stack):
    seen = set()
    for last, creds in _env_groups(stack):
        for key, (value, loc) in last.items():
            if not _ORIGIN_KEY.match(key) or not _STAR.search(str(value)):
                continue
            if (loc.path, loc.start_line) in seen:
                continue
            seen.add((loc.path, loc.start_line))
            if creds:
                ck, cloc = creds[0]
                yield ("API021", loc, f"{key} allows any origin (`*`) while {ck} allows credentials: frameworks then reflect the caller's Origin, so any site reads authenticated responses",
                       [cloc], f"{key}+{ck}")
            else:
                yield ("API020", loc, f"{key} allows any origin (`*`): every site may read the API's responses", [], key)


def _header_value(node) -> str:
    return node.args[1].strip("\"'") if len(node.args) >= 2 else ""


def _applies_to_proxied(node) -> bool:
    """The ``add_header`` reaches responses of a proxied location (the API)."""
    block = node.parent
    while block is not None and block.name == "if":
        block = block.parent
    if block is None:
        return False
    if block.name == "location" or block.d is None:
        return any(c.name == "proxy_pass" or (c.name == "if" and c.child("proxy_pass") is not None) for c in block.children)
    # server/http level: inherited by descendant proxied locations that add no header of their own
    for loc in block.walk():
        if loc.name == "location" and (loc.child("proxy_pass") is not None):
            chain = [lvl for lvl in levels(loc)]
            for lvl in chain:
                if (lvl.child("add_header") is not None):
                    if lvl is block:
                        return True
                    break
    return False


def _origin_validated(stack: Stack, cfg, node, value: str) -> bool:
    """``$http_origin`` (or a variable copied from it) used under an ``if`` that tests it, or a
    ``map`` of it without a ``$http_origin`` default."""
    var = vname(value) if value.startswith("$") else ""
    if not var:
        return True
    for lvl in levels(node):
        if lvl.name == "if" and lvl.args and vname(lvl.args[0]) in ("http_origin", var) and len(lvl.args) >= 3 and lvl.args[1] in ("~", "~*", "="):
            return True
    if var == "http_origin":
        return False
    for m in cfg.nodes("map"):
        if len(m.args) >= 2 and vname(m.args[1]) == var:
            if vname(m.args[0]) != "http_origin":
                return True
            default = m.child("default")
            return not (default is not None and default.args and "$http_origin" in default.args[0])
    sets = [s for s in cfg.nodes("set") if s.args and vname(s.args[0]) == var]
    if sets and all("$http_origin" in (s.args[1] if len(s.args) > 1 else "") for s in sets):
        return any(lvl.name == "if" for s in sets for lvl in levels(s) if lvl is not s)
    return True


def _nginx_cors(stack: Stack):
    return stack.memo("nginx_cors", lambda: list(_nginx_cors_compute(stack)))


def _nginx_cors_compute(stack: Stack):
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("add_header"):
            if len(node.args) < 2 or node.args[0].lower() != "access-control-allow-origin":
                continue
            value = _header_value(node)
            siblings = node.parent.children_named("add_header") if node.parent is not None else []
            creds = any(c.args and c.args[0].lower() == "access-control-allow-credentials" and _header_value(c).lower() == "true" for c in siblings)
            if creds:
                if value in ("*", "null") or (value.startswith("$") and not _origin_validated(stack, cfg, node, value)):
                    why = "echoes the caller's Origin unvalidated" if value.startswith("$") else "admits every origin"
                    yield ("API021", nloc(node), f"`Access-Control-Allow-Origin {value}` {why} with `Access-Control-Allow-Credentials true`: any site may read authenticated responses",
                           f"acao:{value}+creds")
            elif value == "*" and _applies_to_proxied(node):
                yield ("API020", nloc(node), "`Access-Control-Allow-Origin *` on a proxied API location: every site may read its responses", "acao:*")


@rule("API020", "cors-any-origin", "low", files="env/nginx", refs="CWE-942")
def cors_any_origin(stack: Stack):
    """CORS lets every origin read the API's responses.

    ## What it does
    Flags a `CORS_*ORIGIN*` variable (dotenv file or compose `environment:`) whose list contains
    `*`, and `add_header Access-Control-Allow-Origin *` where it reaches a proxied (API) location.
    When credentials are allowed too, API021 reports instead.

    ## Why is this bad?
    Any web page a user visits may call the API from the browser and read the answers. Without
    cookies this only exposes what is public anyway — unless the API trusts network position
    (intranet callers, IP allow-lists), which a browser inside the network now lends to every site.

    ## Example
    ```dotenv
    CORS_ALLOWED_ORIGINS=*
    ```

    ## Use instead
    ```dotenv
    CORS_ALLOWED_ORIGINS=https://app.example.com
    ```

    ## Fix safety
    Manual: the trusted front-end origins are yours to list.

    ## References
    CWE-942.
    """
    for rid, loc, msg, related, key in _env_cors(stack):
        if rid == "API020":
            yield hit(loc, msg, related=related, snippet_key=key)
    for rid, loc, msg, key in _nginx_cors(stack):
        if rid == "API020":
            yield hit(loc, msg, snippet_key=key)


@rule("API021", "cors-credentials-any-origin", "high", files="env/nginx", refs="CWE-942; CWE-346")
def cors_credentials_any_origin(stack: Stack):
    """CORS allows credentials for any origin.

    ## What it does
    Flags credentials allowed (`*_CREDENTIALS=true`, `Access-Control-Allow-Credentials true`)
    together with an origin policy that admits everyone: an env `CORS_*ORIGIN*` containing `*`
    (frameworks such as tower-http, Express `cors` and django-cors-headers then reflect the request's
    Origin, since browsers refuse a literal `*` with credentials), `Access-Control-Allow-Origin
    null`, or `$http_origin` echoed without an `if`/`map` that validates it.

    ## Why is this bad?
    Any site the user visits makes authenticated requests with the user's cookies and reads the
    answers: account data, CSRF tokens, API keys. It is the CORS misconfiguration that leads to
    account takeover.

    ## Example
    ```nginx
    add_header Access-Control-Allow-Origin $http_origin always;
    add_header Access-Control-Allow-Credentials true always;
    ```

    ## Use instead
    ```nginx
    map $http_origin $cors_origin { "~^https://app\\.example\\.com$" $http_origin; default ""; }
    add_header Access-Control-Allow-Origin $cors_origin always;
    add_header Access-Control-Allow-Credentials true always;
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-942; CWE-346; PortSwigger "Exploiting CORS misconfigurations".
    """
    for rid, loc, msg, related, key in _env_cors(stack):
        if rid == "API021":
            yield hit(loc, msg, related=related, snippet_key=key)
    for rid, loc, msg, key in _nginx_cors(stack):
        if rid == "API021":
            yield hit(loc, msg, snippet_key=key)


_INTERNAL_WORDS = ("metrics", "debug", "internal", "actuator", "pprof")
_PROBES = ("/metrics", "/metrics/", "/debug/", "/debug/pprof/", "/internal/", "/actuator/health", "/actuator/env", "/-/reload", "/pprof/")
_CATCH_ALL_PROBES = ("/", "/index.html", "/api/users", "/static/app.js")


def _internal_path(mod: str, path: str) -> bool:
    if mod in ("", "^~", "="):
        segs = [s for s in path.split("/") if s]
        return path.startswith("/-/") or any(s.lower() in _INTERNAL_WORDS for s in segs)
    if mod in ("~", "~*"):
        flags = re.I if mod == "~*" else 0
        try:
            rx = re.compile(pcre_to_py(path), flags)
        except re.error:
            return False
        if any(rx.search(p) for p in _CATCH_ALL_PROBES):
            return False
        return any(rx.search(p) for p in _PROBES)
    return False


_ALLOW_ALL_FLAG = LazyRe(r"^(CORS_ALLOW_ALL_ORIGINS|CORS_ORIGIN_ALLOW_ALL|CORS_ALLOW_ALL|\w*_CORS_ALLOW_ALL\w*)$", re.I)
_ORIGIN_REFLECT = LazyRe(r"^CORS_ORIGINS?$", re.I)  # Express `cors` / Directus: `true` reflects any Origin
_ORIGIN_LIST = LazyRe(r"^(ALLOWED_ORIGINS|\w+_ALLOWED_ORIGINS|ACCESS_CONTROL_ALLOW_ORIGIN|CORS_ORIGINS)$", re.I)
_ANY_ORIGIN = {"*", ".*", "^.*$", "/.*/", "^.*", ".*$"}


def _allow_all_reason(key: str, value: str) -> str | None:
    """Why ``key=value`` lets every origin in under a framework's own name (API024), or None —
    ``None`` too for what API020 already reports (a ``CORS_*ORIGIN*`` list holding ``*``)."""
    v = str(value).strip().strip("'\"").strip()
    if _ORIGIN_KEY.match(key) and _STAR.search(str(value)):
        return None  # API020/API021
    if _ALLOW_ALL_FLAG.match(key) and v.lower() in _TRUE:
        return f"{key}={v} switches the origin check off"
    if _ORIGIN_REFLECT.match(key) and v.lower() == "true":
        return f"{key}=true reflects whatever Origin the caller sends"
    if _ORIGIN_LIST.match(key) and any(part.strip().strip("'\"") in _ANY_ORIGIN for part in re.split(r"[,;\s]+", v) if part):
        return f"{key}={v} matches every origin"
    return None


def _allow_all_flags(stack: Stack):
    """(rule, location, message, related, key) of API024/API025: one per flag definition."""
    def compute():
        out, seen = [], set()
        for last, creds in _env_groups(stack):
            for key, (value, loc) in last.items():
                why = _allow_all_reason(key, value)
                if why is None or (loc.path, loc.start_line) in seen:
                    continue
                seen.add((loc.path, loc.start_line))
                if creds:
                    ck, cloc = creds[0]
                    out.append(("API025", loc, f"{why} while {ck} allows credentials: the framework echoes the caller's Origin "
                                               f"with credentials, so any site reads authenticated responses", [cloc], f"{key}+{ck}"))
                else:
                    out.append(("API024", loc, f"{why}: every site may read the API's responses", [], key))
        return out
    return stack.memo("env_cors_flags", compute)


@rule("API024", "cors-allow-all-flag", "low", files="env/compose", refs="CWE-942; django-cors-headers, Flask-CORS, expressjs/cors docs")
def cors_allow_all_flag(stack: Stack):
    """A framework's CORS allow-all switch is on.

    ## What it does
    Flags, in dotenv files and compose `environment:`, the allow-all settings frameworks name their
    own way: `CORS_ALLOW_ALL_ORIGINS`/`CORS_ORIGIN_ALLOW_ALL` (django-cors-headers), `CORS_ALLOW_ALL`
    and `*_CORS_ALLOW_ALL*` set to `true`/`1`/`yes`/`on`; `CORS_ORIGIN(S)=true` (Express `cors`,
    Directus: reflect any Origin); `ALLOWED_ORIGINS`, `*_ALLOWED_ORIGINS`,
    `ACCESS_CONTROL_ALLOW_ORIGIN`, `CORS_ORIGINS` holding `*`, `.*`, `^.*$` or `/.*/` (Quarkus).
    A `CORS_*ORIGIN*` list holding `*` is API020's; with credentials allowed, API025 reports instead.

    ## Why is this bad?
    Any web page a user visits may call the API from the browser and read the answers; an API that
    trusts network position (intranet callers, IP allow-lists) lends it to every site.

    ## Example
    ```dotenv
    CORS_ALLOW_ALL_ORIGINS=True
    ```

    ## Use instead
    ```dotenv
    CORS_ALLOW_ALL_ORIGINS=False
    CORS_ALLOWED_ORIGINS=https://app.example.com
    ```

    ## Fix safety
    Manual: the trusted front-end origins are yours to list.

    ## References
    CWE-942; django-cors-headers, Flask-CORS and expressjs/cors documentation.
    """
    for rid, loc, msg, related, key in _allow_all_flags(stack):
        if rid == "API024":
            yield hit(loc, msg, related=related, snippet_key=key)


@rule("API025", "cors-allow-all-with-credentials", "high", files="env/compose", refs="CWE-942; CWE-346")
def cors_allow_all_with_credentials(stack: Stack):
    """A framework's CORS allow-all switch is on with credentials allowed.

    ## What it does
    Flags an API024 setting when the same service (or dotenv file) also allows credentials:
    `CORS_ALLOW_CREDENTIALS`, `CORS_SUPPORTS_CREDENTIALS` (Flask-CORS), `CORS_CREDENTIALS`,
    `*_ALLOW_CREDENTIALS` set to true. It replaces API024 there.

    ## Why is this bad?
    With credentials on, the frameworks answer an allow-all policy by echoing the caller's Origin
    (browsers refuse `*` with credentials): any site the user visits makes authenticated requests
    with the user's cookies and reads the answers — account takeover material.

    ## Example
    ```dotenv
    CORS_ORIGIN_ALLOW_ALL=True
    CORS_ALLOW_CREDENTIALS=True
    ```

    ## Use instead
    ```dotenv
    CORS_ALLOWED_ORIGINS=https://app.example.com
    CORS_ALLOW_CREDENTIALS=True
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-942; CWE-346.
    """
    for rid, loc, msg, related, key in _allow_all_flags(stack):
        if rid == "API025":
            yield hit(loc, msg, related=related, snippet_key=key)


@rule("API022", "internal-endpoint-public", "medium", files="nginx", refs="CWE-200; OWASP API8:2023", fix="unsafe")
def internal_endpoint_public(stack: Stack):
    """A metrics, debug or internal endpoint is public at the gateway.

    ## What it does
    Flags a `location` for `/metrics`, `/debug` (`/debug/pprof`), `/internal`, `/actuator` or
    `/-/` (Prometheus's admin paths) on a server reachable from outside, without `allow` +
    `deny all`, `auth_basic` or `auth_request`. `internal` locations and locations that only
    `return` are exempt; where PER041 already reports the location, this rule stays silent.

    ## Why is this bad?
    Metrics reveal routes, user counts and error rates; `pprof` and actuator endpoints dump memory,
    environment variables (secrets) and can change log levels or shut the service down.

    ## Example
    ```nginx
    location /metrics { proxy_pass http://backend:8000; }
    ```

    ## Use instead
    ```nginx
    location /metrics { allow 10.0.0.0/8; deny all; proxy_pass http://backend:8000; }
    ```

    ## Fix safety
    Unsafe: remote scrapers lose access until you list their addresses.

    ## References
    CWE-200; OWASP API Security Top 10 2023, API8 (security misconfiguration).
    """
    skip = admin_exposed_locations(stack)
    for cfg in stack.nginx_configs:
        for loc in cfg.nodes("location"):
            mod, path = location_modifier(loc)
            if mod == "@" or not _internal_path(mod, path):
                continue
            if id(loc) in skip or protected(loc):
                continue
            if (loc.child("return") is not None) or not loc.children:
                continue
            if not server_public(enclosing(loc, "server")):
                continue
            # allow/deny run after an `if (...) { return ...; }` of the location (GW083): there the
            # fix would leave that answer public, so it is not offered
            fix = None if _if_returns(loc) else fix_of(
                "allow localhost only", [insert_in_block(stack, loc, ["allow 127.0.0.1;", "deny all;"])], "unsafe")
            yield hit(nloc(loc), f"`location {' '.join(loc.args)}` is public: no allow/deny all, auth_basic or auth_request",
                      fix=fix,
                      snippet_key=f"location:{' '.join(loc.args)}")


def _if_returns(block) -> bool:
    """Whether an ``if`` block of ``block`` (nested ifs too) answers with ``return``."""
    return any(c.name == "if" and (c.child("return") is not None or _if_returns(c)) for c in block.children)


def admin_exposed_locations(stack: Stack) -> set[int]:
    """ids of the locations PER041 reports (API022 stays silent there)."""
    return {id(loc) for loc, _, _, _ in admin_exposures(stack) if loc is not None}

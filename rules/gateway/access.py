"""Gateway, access family (GW080-GW092): alias traversal, allow/deny, ``if`` in locations,
status pages, served directories, Origin/Referer validation regexes (the gixy-ng pitfalls)."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import LazyRe, nloc
from rules.helpers.nginx_proxy import (
    VAR_RE,
    access_list,
    arg_loc,
    arg_spans,
    denies_all,
    directive_words,
    enclosing,
    fix_of,
    insert_after,
    insert_in_block,
    line_text,
    location_modifier,
    opaque_include,
    pcre_to_py,
    protected,
    regex_groups,
    server_public,
    vname,
)
from rules.helpers.nginx_regex import blocks_all, origin_regex_flaw
from scanner.model import Edit, Location, hit
from scanner.registry import rule
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# GW080-GW092: access control and pitfalls
# --------------------------------------------------------------------------------------------


def _alias_findings(stack: Stack):
    """(rule, location, message, fix, key) for GW080/GW081, computed once."""
    return stack.memo("alias", lambda: list(_alias_compute(stack)))


def _alias_compute(stack: Stack):
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("alias"):
            if not node.args:
                continue
            loc = node.parent
            if loc is None or loc.name != "location" or loc.d is None:
                continue
            mod, path = location_modifier(loc)
            alias = node.args[0]
            if mod in ("", "^~"):
                if path.endswith("/"):
                    continue
                spans = arg_spans(stack, loc)
                lspan = spans[-1] if spans else None
                aspan = arg_loc(stack, node, 0)
                edits = []
                if lspan is not None and lspan.end_col and not (loc.d.quoted and loc.d.quoted[-1]):
                    edits.append(Edit(Location(loc.path, lspan.start_line, lspan.end_col, None, None), "/"))
                if alias.endswith("/"):
                    yield ("GW080", nloc(loc), f"`location {path}` has no trailing `/` but `alias {alias}` has: `{path}../` reaches the parent of {alias}",
                           fix_of("add `/` to the location", edits), f"{path}:{alias}")
                else:
                    if aspan.end_col and not (node.d.quoted and node.d.quoted[0]):
                        edits.append(Edit(Location(node.path, aspan.start_line, aspan.end_col, None, None), "/"))
                    yield ("GW081", nloc(loc), f"`location {path}` and `alias {alias}` both lack a trailing `/`: `{path}-x` maps to `{alias}-x`, a sibling path",
                           fix_of("add `/` to both", edits if len(edits) == 2 else []), f"{path}:{alias}")
            elif mod in ("~", "~*"):
                yield from _alias_regex(loc, node, path, mod == "~*", alias)


def _alias_regex(loc, node, regex: str, icase: bool, alias: str):
    groups = regex_groups(regex, icase)
    if not groups:
        return
    for m in VAR_RE.finditer(alias):
        name = m.group(1) or m.group(2)
        key = small_int(name) if small_int(name) is not None else name
        g = groups.get(key)
        if g is None:
            continue
        prev = alias[:m.start()]
        first, _ = g.first
        before_slash = bool(g.before) and str(g.before[0]) == "LITERAL" and g.before[1] == ord("/")
        starts_slash = first == frozenset({"/"})
        if not before_slash and not starts_slash:
            if prev.endswith("/"):
                if "." in first:
                    yield ("GW080", nloc(loc), f"`location {regex}` captures `${name}` right after a non-`/`, and `alias {alias}` puts it after a `/`: `..` in the capture leaves the aliased directory",
                           None, f"{regex}:{alias}")
            elif prev:
                yield ("GW081", nloc(loc), f"`alias {alias}` joins `${name}` to `{prev}` without a `/`, and the capture need not start with one: a request reaches sibling paths of {prev}",
                       None, f"{regex}:{alias}")
        elif prev and not prev.endswith("/") and not starts_slash:
            yield ("GW081", nloc(loc), f"`location {regex}` has a `/` before `${name}` but `alias {alias}` drops it: a request reaches sibling paths of {prev}",
                   None, f"{regex}:{alias}")
        return


@rule("GW080", "alias-traversal", "high", files="nginx", refs="CWE-22; gixy alias_traversal; sg alias-path-traversal", fix="safe")
def alias_traversal(stack: Stack):
    """An `alias` lets `..` climb out of the aliased directory.

    ## What it does
    Flags a prefix `location` without a trailing `/` whose `alias` ends in `/`
    (`location /files { alias /srv/files/; }`), and a regex location whose capture, not preceded by
    a `/` in the pattern and able to start with `.`, is appended to an `alias` ending in `/`.

    ## Why is this bad?
    nginx replaces the matched prefix by the alias: `/files../etc/passwd` becomes
    `/srv/files/../etc/passwd`, so every file readable by nginx one level up is served (the
    classic "off-by-slash").

    ## Example
    ```nginx
    location /static { alias /app/static/; }
    ```

    ## Use instead
    ```nginx
    location /static/ { alias /app/static/; }
    ```

    ## Fix safety
    Safe: every file under `/static/` is served as before; only the bare `/static` (no file) and
    the traversal stop matching.

    ## References
    CWE-22; gixy-ng alias_traversal; semgrep alias-path-traversal.
    """
    for rid, loc, msg, fix, key in _alias_findings(stack):
        if rid == "GW080":
            yield hit(loc, msg, fix=fix, snippet_key=key)


@rule("GW081", "alias-prefix-mismatch", "medium", files="nginx", refs="CWE-22; gixy alias_traversal", fix="safe")
def alias_prefix_mismatch(stack: Stack):
    """A location and its `alias` disagree about the path separator.

    ## What it does
    Flags a prefix `location` and its `alias` that both lack a trailing `/`
    (`location /img { alias /data/img; }`), and regex locations whose capture is appended to an
    alias without a separating `/`.

    ## Why is this bad?
    `/img-private/key.pem` matches `location /img` and maps to `/data/img-private/key.pem`: every
    sibling path that shares the prefix is served.

    ## Example
    ```nginx
    location /img { alias /data/img; }
    ```

    ## Use instead
    ```nginx
    location /img/ { alias /data/img/; }
    ```

    ## Fix safety
    Safe.

    ## References
    CWE-22; gixy-ng alias_traversal.
    """
    for rid, loc, msg, fix, key in _alias_findings(stack):
        if rid == "GW081":
            yield hit(loc, msg, fix=fix, snippet_key=key)


def _block_label(block) -> str:
    return directive_words(block) if block is not None and block.d is not None else "the top level"


@rule("GW082", "allow-without-deny", "high", files="nginx", refs="CWE-284; gixy allow_without_deny", fix="safe")
def allow_without_deny(stack: Stack):
    """An `allow` list that lets everyone in.

    ## What it does
    Flags an `allow` in a block with no `deny all` of its own. nginx's access rules are an array:
    a block with any `allow`/`deny` inherits none from outside, and what no rule matches is allowed.
    `allow all` alone is not flagged.

    ## Why is this bad?
    `location /admin { allow 10.0.0.0/8; }` admits the whole internet: the allow-list only reads
    as one.

    ## Example
    ```nginx
    location /admin { allow 10.0.0.0/8; proxy_pass http://admin:8080; }
    ```

    ## Use instead
    ```nginx
    location /admin { allow 10.0.0.0/8; deny all; proxy_pass http://admin:8080; }
    ```

    ## Fix safety
    Safe: it makes the list mean what it says.

    ## References
    CWE-284; gixy-ng allow_without_deny.
    """
    for cfg in stack.nginx_configs:
        done = set()
        for node in cfg.nodes("allow"):
            block = node.parent
            if block is None or id(block) in done:
                continue
            done.add(id(block))
            rules = block.children_named("allow", "deny")
            if any(c.name == "deny" and c.args[:1] == ["all"] for c in rules) or opaque_include(block):
                continue
            if all(c.name == "allow" and c.args[:1] == ["all"] for c in rules):
                continue
            first = next(c for c in rules if c.name == "allow")
            yield hit(nloc(first), f"`{directive_words(first)}` in {_block_label(block)} without `deny all`: every other address is allowed too",
                      fix=fix_of("add `deny all;`", [insert_after(stack, rules[-1], ["deny all;"])]),
                      snippet_key=f"allow:{_block_label(block)}")


@rule("GW083", "return-bypasses-allow-deny", "medium", files="nginx", refs="CWE-284; gixy return_bypasses_allow_deny")
def return_bypasses_allow_deny(stack: Stack):
    """A `return` answers before `allow`/`deny` is checked.

    ## What it does
    Flags a `return` in a block that has `allow` or `deny` rules, directly or inside an `if` of that
    block.

    ## Why is this bad?
    `return` runs in the rewrite phase, before the access phase: every client gets its answer, the
    access rules never run.

    ## Example
    ```nginx
    location /health { allow 10.0.0.0/8; deny all; return 200 "ok"; }
    ```

    ## Use instead
    Protect the content another way (an inner `location`, `auth_request`), or accept that it is public
    and drop the rules that pretend otherwise.

    ## Fix safety
    Manual.

    ## References
    CWE-284; gixy-ng return_bypasses_allow_deny.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("return"):
            block = node.parent
            while block is not None and block.name == "if":
                block = block.parent
            if block is None:
                continue
            rules = block.children_named("allow", "deny")
            if not rules:
                continue
            yield hit(nloc(node), f"`{directive_words(node)}` runs before the `{directive_words(rules[0])}` rules of {_block_label(block)}: every client gets this answer",
                      snippet_key=f"return:{_block_label(block)}:{' '.join(node.args)}")


_IF_OK_REWRITE = {"last", "redirect", "permanent"}


@rule("GW084", "if-is-evil", "medium", files="nginx", refs="gixy if_is_evil")
def if_is_evil(stack: Stack):
    """`if` inside a location runs a directive nginx does not handle safely there.

    ## What it does
    Flags, in an `if` block inside a `location`, any directive other than `return` or a `rewrite`
    ending in `last`, `redirect` or `permanent`. `add_header` in an `if` block that ends in
    `return` (the CORS preflight idiom) is exempt.

    ## Why is this bad?
    `if` in a location creates an implicit nested location: directives in it replace, not add to,
    the outer ones (`add_header`, `proxy_set_header`), `try_files` is ignored, and some
    combinations crash workers ("If is evil", nginx wiki).

    ## Example
    ```nginx
    location / { if ($arg_debug) { add_header X-Debug 1; } proxy_pass http://backend:8000; }
    ```

    ## Use instead
    Use `map` to compute a value and set it unconditionally, or `return`/`rewrite ... last` in the `if`.

    ## Fix safety
    Manual.

    ## References
    gixy-ng if_is_evil; nginx wiki "If is evil".
    """
    for cfg in stack.nginx_configs:
        for block in cfg.nodes("if"):
            if block.parent is None or block.parent.name != "location":
                continue
            ends_return = bool(block.children) and block.children[-1].name == "return"
            for c in block.children:
                if c.name == "return":
                    continue
                if c.name == "rewrite" and c.args and c.args[-1] in _IF_OK_REWRITE:
                    continue
                if c.name in ("add_header", "more_set_headers") and ends_return:
                    continue
                yield hit(nloc(c), f"`{directive_words(c)}` inside `if` in `{directive_words(block.parent)}`: only `return` and `rewrite ... last` are safe there",
                          # one finding per `if` block (its root cause), whatever directive is first in it
                          snippet_key=f"if:{' '.join(block.args)}:{directive_words(block.parent)}")
                break


@rule("GW085", "status-page-exposed", "medium", files="nginx", refs="CWE-200; gixy status_page_exposed", fix="safe")
def status_page_exposed(stack: Stack):
    """nginx's `stub_status` page is public.

    ## What it does
    Flags `stub_status` in a location without `deny all` in force, `auth_basic`/`auth_request` or
    `internal`, on a server some non-loopback address reaches. (`allow` without `deny all` is GW082.)

    ## Why is this bad?
    Connection counts and request rates tell an attacker how loaded the gateway is and when a
    denial of service is working; it is one more unauthenticated endpoint.

    ## Example
    ```nginx
    location /nginx_status { stub_status; }
    ```

    ## Use instead
    ```nginx
    location /nginx_status { stub_status; allow 127.0.0.1; deny all; }
    ```

    ## Fix safety
    Safe: only the gateway host (and its exporter) keep access.

    ## References
    CWE-200; gixy-ng status_page_exposed.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("stub_status"):
            if node.args and node.args[0] == "off":
                continue
            if protected(node) or any(c.name == "allow" for c in access_list(node)):
                continue
            if not server_public(enclosing(node, "server")):
                continue
            yield hit(nloc(node), f"`{directive_words(node)}` in {_block_label(node.parent)} is reachable by anyone",
                      fix=fix_of("restrict to localhost", [insert_after(stack, node, ["allow 127.0.0.1;", "deny all;"])]),
                      snippet_key=f"stub_status:{_block_label(node.parent)}")


def _norm_root(path: str) -> str | None:
    if "$" in path or not path.startswith("/"):
        return None
    return posixpath.normpath(re.sub(r"/+", "/", path))


@rule("GW086", "filesystem-root-exposure", "high", files="nginx", refs="CWE-552; gixy filesystem_root_exposure")
def filesystem_root_exposure(stack: Stack):
    """`root /` or `alias /` serves the container's whole filesystem.

    ## What it does
    Flags a `root` or `alias` whose path, normalised (`//`, `/srv/..`, `/./`), is `/`.

    ## Why is this bad?
    Every file nginx can read is served: `/etc/passwd`, `/proc/self/environ` (the container's
    environment, with its secrets), `/run/secrets/*`, the TLS private key.

    ## Example
    ```nginx
    location /files/ { alias /; }
    ```

    ## Use instead
    ```nginx
    location /files/ { alias /srv/files/; }
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-552; gixy-ng filesystem_root_exposure.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("root", "alias"):
            if node.args and _norm_root(node.args[0]) == "/":
                yield hit(nloc(node), f"`{directive_words(node)}` serves the whole filesystem, secrets and keys included",
                          snippet_key=f"{node.name}:/")


@rule("GW087", "valid-referers-none", "medium", files="nginx", refs="CWE-293; gixy valid_referers", fix="unsafe")
def valid_referers_none(stack: Stack):
    """`valid_referers none` lets requests without a `Referer` through.

    ## What it does
    Flags `valid_referers` whose list contains `none`.

    ## Why is this bad?
    A referer check is meant to stop other sites; `none` admits every request that simply omits the
    header (`Referrer-Policy: no-referrer`, a `<meta>` tag, curl), so the check stops nobody.

    ## Example
    ```nginx
    valid_referers none server_names *.example.com;
    ```

    ## Use instead
    ```nginx
    valid_referers server_names *.example.com;
    ```

    ## Fix safety
    Unsafe: clients that really send no referer (privacy settings, direct visits) get refused.

    ## References
    CWE-293; gixy-ng valid_referers.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("valid_referers"):
            if "none" not in node.args:
                continue
            idx = node.args.index("none")
            edits = []
            spans = arg_spans(stack, node)
            if spans and len(node.args) > 1:
                sp = spans[idx]
                text = line_text(stack, node.path, sp.start_line)
                after = len(text[sp.end_col - 1:]) - len(text[sp.end_col - 1:].lstrip(" \t"))
                if after and sp.end_col - 1 + after < len(text) and text[sp.end_col - 1 + after] not in ";#":
                    edits.append(Edit(Location(node.path, sp.start_line, sp.start_col, sp.start_line, sp.end_col + after), ""))
                else:
                    before = len(text[:sp.start_col - 1]) - len(text[:sp.start_col - 1].rstrip(" \t"))
                    edits.append(Edit(Location(node.path, sp.start_line, sp.start_col - before, sp.start_line, sp.end_col), ""))
            yield hit(arg_loc(stack, node, idx), "`valid_referers none`: requests without a Referer header pass the check",
                      fix=fix_of("delete `none`", edits, "unsafe"), snippet_key="valid_referers:none")


def _origin_checks(stack: Stack):
    """(node, arg index, variable, regex, icase) of every regex tested against Origin/Referer."""
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("if"):
            if len(node.args) >= 3 and node.args[1] in ("~", "~*", "!~", "!~*"):
                yield node, 2, vname(node.args[0]), node.args[2], node.args[1].endswith("*")
            elif node.args and vname(node.args[0]) == "http_referrer":
                yield node, 0, "http_referrer", None, False
        for node in cfg.nodes("map"):
            if len(node.args) < 2:
                continue
            var = vname(node.args[0])
            if var not in ("http_origin", "http_referer", "http_referrer"):
                continue
            for entry in node.children:
                key = entry.name
                if not key.startswith("~") or not entry.args:
                    continue
                if entry.args[-1].strip("\"'") in ("", "0", "off", "false", "no"):
                    continue
                icase = key.startswith("~*")
                yield entry, -1, var, key[2:] if icase else key[1:], icase


def _origin_findings(stack: Stack, referer: bool):
    for node, idx, var, regex, icase in _origin_checks(stack):
        where = nloc(node) if idx < 0 else arg_loc(stack, node, idx)
        if var == "http_referrer":
            if not referer:
                yield hit(where, "`$http_referrer` is misspelt: nginx names the header variable `$http_referer`, so this check tests an empty string",
                          snippet_key=f"referrer:{regex}")
            continue
        if (var == "http_referer") != referer or var not in ("http_origin", "http_referer"):
            continue
        why = origin_regex_flaw(regex, icase, referer)
        if why:
            name = "Referer" if referer else "Origin"
            yield hit(where, f"{name} check `{regex}`: {why}", snippet_key=f"{var}:{regex}")


@rule("GW088", "origin-regex-untrusted", "high", files="nginx", refs="CWE-346; gixy origins")
def origin_regex_untrusted(stack: Stack):
    """A regex that validates the `Origin` header accepts foreign sites.

    ## What it does
    Reads every regex tested against `$http_origin` (`if`, and `map` entries that yield a value)
    and flags one that a foreign origin can satisfy: no `^` (or text allowed before the scheme), no
    `$`, a wildcard or an unescaped `.` inside the registrable domain (`example.com` matches
    `examplexcom`), a wildcard at the end of the host (`example.com.evil.net`). Wildcards in a
    subdomain label (`^https://[a-z0-9-]+\\.example\\.com$`) are fine. Also flags the misspelt
    `$http_referrer`, which is always empty.

    ## Why is this bad?
    The origin allow-list decides which sites may read authenticated API responses (CORS) or embed
    the app: a regex that matches `https://example.com.evil.net` hands the session to any site.

    ## Example
    ```nginx
    map $http_origin $cors_origin { ~https://(www\\.)?example.com $http_origin; }
    ```

    ## Use instead
    ```nginx
    map $http_origin $cors_origin { "~^https://(www\\.)?example\\.com$" $http_origin; default ""; }
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-346; gixy-ng origins.
    """
    yield from _origin_findings(stack, referer=False)


@rule("GW089", "referer-regex-untrusted", "medium", files="nginx", refs="CWE-346; gixy origins")
def referer_regex_untrusted(stack: Stack):
    """A regex that validates the `Referer` header accepts foreign sites.

    ## What it does
    The GW088 check for regexes tested against `$http_referer`: the host part must be anchored
    (`^` and the scheme first, then `/`, `:port` or `$` right after the domain), and no wildcard may
    reach into the registrable domain or let a path such as `https://evil.net/x.example.com/` match.

    ## Why is this bad?
    Referer checks guard hotlinking, CSRF-sensitive endpoints and framing decisions: a regex that
    matches `https://example.com.evil.net/` trusts every site that chooses such a name.

    ## Example
    ```nginx
    if ($http_referer !~ "^https://example.com/") { return 403; }
    ```

    ## Use instead
    ```nginx
    if ($http_referer !~ "^https://example\\.com/") { return 403; }
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-346; gixy-ng origins.
    """
    yield from _origin_findings(stack, referer=True)


@rule("GW090", "error-log-off", "medium", files="nginx", refs="CWE-778; gixy error_log_off", fix="safe")
def error_log_off(stack: Stack):
    """`error_log off` writes a file named `off` instead of disabling the log.

    ## What it does
    Flags `error_log off`.

    ## Why is this bad?
    `error_log` has no `off` value: nginx logs errors to a file called `off` in its prefix directory
    — inside the container, unrotated, invisible to `docker logs`. The errors you need when
    something breaks are where nobody looks, and the file grows until the disk is full.

    ## Example
    ```nginx
    error_log off;
    ```

    ## Use instead
    ```nginx
    error_log /dev/stderr warn;
    ```

    ## Fix safety
    Safe.

    ## References
    CWE-778; gixy-ng error_log_off; nginx core documentation.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("error_log"):
            if node.args[:1] == ["off"]:
                span = arg_loc(stack, node, 0)
                new = "/dev/stderr warn" if len(node.args) == 1 else "/dev/stderr"
                edits = [Edit(span, new)] if span.end_col else []
                yield hit(nloc(node), "`error_log off` logs to a file named `off`, not nowhere",
                          fix=fix_of("log to stderr", edits), snippet_key="error_log:off")


@rule("GW091", "autoindex-on", "medium", files="nginx", refs="CWE-548", fix="safe")
def autoindex_on(stack: Stack):
    """Directory listings are on.

    ## What it does
    Flags `autoindex on`.

    ## Why is this bad?
    Every directory without an index file is listed: backups, uploads of other users, build
    artefacts, `.env` files copied into the web root — discovered without guessing names.

    ## Example
    ```nginx
    location /media/ { autoindex on; }
    ```

    ## Use instead
    ```nginx
    location /media/ { autoindex off; }
    ```

    ## Fix safety
    Safe.

    ## References
    CWE-548.
    """
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("autoindex"):
            if node.args[:1] == ["on"]:
                span = arg_loc(stack, node, 0)
                yield hit(nloc(node), f"`autoindex on` in {_block_label(node.parent)}: directory contents are listed",
                          fix=fix_of("set `off`", [Edit(span, "off")] if span.end_col else []), snippet_key=f"autoindex:{_block_label(node.parent)}")


_COMPOSE_NAME = LazyRe(r"^(docker-)?compose([.\-_][\w.\-]*)?\.ya?ml$", re.I)


def _sensitive_entries(stack: Stack, host_rel: str) -> list[str]:
    """Names in a host directory (top level, inside the repository) that must never be served."""
    names = stack.listdir(host_rel)
    out = []
    for n in names[:2000]:
        low = n.lower()
        if low == ".git" or low.startswith(".env") or low.endswith(".sql") or _COMPOSE_NAME.match(n) \
                or low in (".htpasswd", "id_rsa", ".npmrc", ".pgpass", ".dkscan.yaml"):
            out.append(n)
    return out


def _denied_by_location(server, probe: str) -> bool:
    """A location of ``server`` answers ``probe`` (a URI) with deny/return and nothing else."""
    if server is None:
        return False
    for loc in server.walk():
        if loc.name != "location" or loc.d is None:
            continue
        mod, path = location_modifier(loc)
        matched = False
        if mod in ("~", "~*"):
            try:
                matched = re.search(pcre_to_py(path), probe, re.I if mod == "~*" else 0) is not None
            except re.error:
                matched = False
        elif mod == "=":
            matched = probe == path
        elif mod in ("", "^~"):
            matched = probe.startswith(path) and path not in ("/", "")
        if matched and (blocks_all(loc) or denies_all(loc)):
            return True
    return False


@rule("GW092", "webroot-exposes-repo", "high", files="nginx+compose", refs="CWE-538", fix="safe")
def webroot_exposes_repo(stack: Stack):
    """nginx serves a host directory holding the repository's secrets or configuration.

    ## What it does
    Follows each `root`/`alias` of a gateway's configuration through the gateway's bind mounts to
    the host directory, and flags it when that directory holds `.env*`, `.git`, `*.sql` or compose
    files that no `location` (such as `location ~ /\\. { deny all; }`) refuses.

    ## Why is this bad?
    `https://site/.env` and `https://site/.git/config` are the first URLs every scanner tries: the
    database password, the JWT key and the whole source history leak with one GET.

    ## Example
    ```yaml
    nginx:
      volumes: ["./:/usr/share/nginx/html:ro"]   # the repository root, .env included
    ```

    ## Use instead
    Mount only the built assets (`./frontend/dist`), and refuse hidden files:
    ```nginx
    location ~ /\\.(?!well-known/) { deny all; }
    ```

    ## Fix safety
    Safe: hidden files are never meant to be served; the inserted
    `location ~ /\\.(?!well-known/) { deny all; }` keeps `/.well-known/` (ACME challenges) reachable.

    ## References
    CWE-538.
    """
    for cfg in stack.nginx_configs:
        svc = cfg.service
        if svc is None:
            continue
        seen = set()
        for node in cfg.nodes("root", "alias"):
            if not node.args or "$" in node.args[0] or id(node) in seen:
                continue
            seen.add(id(node))
            cpath = posixpath.normpath(node.args[0]) if node.args[0].startswith("/") else posixpath.join("/etc/nginx", node.args[0])
            host = stack.host_path(svc, cpath)
            if host is None or host.startswith(".."):
                continue
            entries = _sensitive_entries(stack, host)
            if not entries:
                continue
            server = enclosing(node, "server")
            servers = [server] if server is not None else [s for s in cfg.servers if s.effective("root") is node or any(c is node for c in s.ancestors())]
            if server is None and node.parent is not None:
                servers = [s for s in cfg.servers if not (s.child("root") is not None)]
            exposed = []
            for name in entries:
                probe = "/" + name + ("/config" if name == ".git" else "")
                if node.name == "alias":
                    loc = node.parent
                    mod, path = location_modifier(loc) if loc is not None else ("", "/")
                    probe = (path.rstrip("/") + probe) if mod in ("", "^~") else probe
                if not servers or not all(_denied_by_location(s, probe) for s in servers):
                    exposed.append(name)
            if not exposed:
                continue
            edits = []
            dot = [n for n in exposed if n.startswith(".")]
            if dot and server is not None and not any(_denied_by_location(s, "/.env") for s in servers):
                edits.append(insert_in_block(stack, server, ["location ~ /\\.(?!well-known/) { deny all; }"]))
            yield hit(nloc(node), f"`{directive_words(node)}` serves host directory '{host}', which holds {', '.join(exposed[:5])}",
                      fix=fix_of("refuse hidden files", edits), related=[Location(svc.doc.path, svc.key.line, svc.key.col)],
                      snippet_key=f"{node.name}:{node.args[0]}")

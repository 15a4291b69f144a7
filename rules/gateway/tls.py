"""Gateway, TLS family (GW001-GW008): protocols, cipher suites, session cache, HTTPS redirects, certificates.

The nginx semantics (TLS servers, version defaults) are in ``rules/helpers/nginx.py``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.locations import nloc
from rules.helpers.nginx import (
    add_array_directive_edit,
    LEGACY_PROTOCOLS,
    child_indent,
    configs_of_service,
    delete_directive_edit,
    directive_text,
    directive_tokens,
    effective_protocols,
    http_insert_edit,
    http_level,
    insert_into_block_edit,
    is_https_redirect,
    is_proxied,
    is_tls_server,
    levels_text,
    listen_specs,
    location_match,
    nginx_version,
    once,
    opaque,
    replace_args_edit,
    response_levels,
    servers_of,
    serves_content,
)
from rules.helpers.tls import MOZ_INT_CIPHERS, NGINX_DEFAULT_CIPHERS, Suite, evaluate_ciphers, not_intermediate, weak_families
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack


def _profile(stack: Stack) -> str:
    p = str(stack.policy.get("tls.profile", "intermediate") or "intermediate").strip().lower()
    return "modern" if p == "modern" else "intermediate"


def _target_protocols(stack: Stack) -> str:
    return "TLSv1.3" if _profile(stack) == "modern" else "TLSv1.2 TLSv1.3"


def _has_tls12(protocols: list[str]) -> bool:
    return any(p.lower() in ("sslv3", "tlsv1", "tlsv1.1", "tlsv1.2") for p in protocols)


# --------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------


@rule("GW001", "tls-legacy-protocol", "high", files="nginx",
      refs="CWE-327; Moz-int 6.0; gixy weak_ssl_tls; sg insecure-ssl-version", fix="safe")
def tls_legacy_protocol(stack: Stack):
    """`ssl_protocols` enables SSLv2, SSLv3, TLS 1.0 or TLS 1.1.

    ## What it does
    Flags every `ssl_protocols` directive (http, server, stream or mail) that lists `SSLv2`, `SSLv3`,
    `TLSv1` or `TLSv1.1`.

    ## Why is this bad?
    These protocols are broken (POODLE, BEAST, SHA-1/MD5 handshakes) and were deprecated by RFC 8996.
    Offering them lets an active attacker downgrade clients that still speak them; no current browser
    needs them.

    ## Example
    ```nginx
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ```

    ## Use instead
    ```nginx
    ssl_protocols TLSv1.2 TLSv1.3;   # Mozilla intermediate 6.0 (policy tls.profile: modern -> TLSv1.3)
    ```

    ## Fix safety
    Safe for any client released in the last decade (Mozilla intermediate's oldest clients: Android
    4.4.2, Java 8u161, IE 11 on Windows 10).

    ## References
    CWE-327; Mozilla Server Side TLS 6.0 (intermediate); RFC 8996; gixy weak_ssl_tls; semgrep
    insecure-ssl-version.
    """
    target = _target_protocols(stack)
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("ssl_protocols"):
            legacy = [a for a in n.args if a.lower() in {p.lower() for p in LEGACY_PROTOCOLS}]
            if not legacy or not once(seen, n):
                continue
            edit = replace_args_edit(stack, n, target)
            fix = Fix(f"set `ssl_protocols {target}`", (edit,)) if edit else None
            yield hit(nloc(n), f"ssl_protocols enables {', '.join(legacy)}: deprecated protocols (RFC 8996) allow downgrade attacks",
                      fix=fix, snippet_key="ssl_protocols " + " ".join(n.args))


def _first_fix_per_cfg(done: set, cfg, make):
    if id(cfg) in done:
        return None
    done.add(id(cfg))
    return make()


def _http_or_server_insert(stack: Stack, cfg, server, lines: list[str]):
    edit = http_insert_edit(stack, cfg, lines)
    if edit is None and server is not None:
        edit = insert_into_block_edit(stack, cfg, server, lines)
    return edit


@rule("GW002", "tls-protocols-default-legacy", "low", files="nginx+compose",
      refs="CWE-327; nginx CHANGES 1.27.3; OpenSSL 3.0 CHANGES; sg missing-ssl-version", fix="safe")
def tls_protocols_default_legacy(stack: Stack):
    """A TLS server relies on an nginx default that still offers TLS 1.0 and 1.1.

    ## What it does
    Flags a TLS server (`listen … ssl`/`quic`) with no `ssl_protocols` in scope when the gateway's
    nginx (policy `nginx.version`, the image tag, or the Dockerfile's `FROM nginx:`) is older than
    1.27.3 — whose default is `TLSv1 TLSv1.1 TLSv1.2` (+`TLSv1.3` from 1.23.4) — and its OpenSSL is not
    known to be 3.0 or later (which refuses TLS < 1.2 at its default security level: official Alpine
    images from 1.23.3, Debian bookworm images from 1.25.1). Silent for 1.27.3+, floating tags
    (`nginx:stable`, `nginx:alpine`) and unknown versions.

    ## Why is this bad?
    The legacy protocols are negotiated with clients that ask for them (see GW001), although nobody
    wrote them in the configuration.

    ## Example
    ```nginx
    # image: nginx:1.24.0
    server { listen 443 ssl; ssl_certificate …; }
    ```

    ## Use instead
    ```nginx
    http { ssl_protocols TLSv1.2 TLSv1.3; … }
    ```

    ## Fix safety
    Safe: the same protocols current nginx uses by default.

    ## References
    CWE-327; nginx CHANGES 1.27.3 ("the default value of ssl_protocols is TLSv1.2 TLSv1.3"); OpenSSL
    3.0 CHANGES (TLS < 1.2 at security level 0 only); semgrep missing-ssl-version.
    """
    target = _target_protocols(stack)
    done: set = set()
    for cfg in stack.nginx_configs:
        v = nginx_version(stack, cfg.service)
        if v.at_least(1, 27, 3) is not False or v.openssl3:
            continue
        for server in servers_of(cfg):
            if not is_tls_server(server) or server.effective("ssl_protocols") is not None or opaque(stack, cfg, server, ("ssl_protocols",)):
                continue
            edit = _first_fix_per_cfg(done, cfg, lambda: _http_or_server_insert(stack, cfg, server, [f"ssl_protocols {target};"]))
            fix = Fix(f"add `ssl_protocols {target};`", (edit,)) if edit else None
            yield hit(nloc(server, cfg),
                      f"TLS server without ssl_protocols: nginx {v.text} defaults to {' '.join(('TLSv1', 'TLSv1.1', 'TLSv1.2'))} "
                      "(before 1.27.3) and its OpenSSL is not known to refuse them",
                      fix=fix, snippet_key="ssl_protocols-default")


def _protocols_at(stack: Stack, cfg, node) -> list[str]:
    level = node.parent if node.parent is not None else node
    return effective_protocols(stack, cfg, level)[0]


@rule("GW003", "tls-weak-cipher", "high", files="nginx", refs="CWE-327; Moz-int 6.0; gixy weak_ssl_tls", fix="safe")
def tls_weak_cipher(stack: Stack):
    """`ssl_ciphers` enables broken cipher suites.

    ## What it does
    Evaluates each `ssl_ciphers` string the way OpenSSL does (adds, `-` removals, `!` bans, `+`
    intersections, aliases such as `ALL`, `HIGH`, `MEDIUM`) and flags it when the resulting list
    holds NULL encryption, anonymous (aNULL) key exchange, EXPORT, RC4, DES, 3DES, MD5, SEED or IDEA
    suites — for instance through a bare `ALL` — or PSK/SRP suites named explicitly. A `!`-negated
    family is not enabled. Skipped where only TLS 1.3 is on (`ssl_ciphers` does not apply to it).

    ## Why is this bad?
    These suites are broken (RC4 biases, SWEET32 on 3DES, 40-bit export keys) or authenticate nothing
    (aNULL: any man in the middle can terminate the connection).

    ## Example
    ```nginx
    ssl_ciphers ALL:!aNULL:!eNULL:RC4:DES:3DES;
    ```

    ## Use instead
    ```nginx
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ```

    ## Fix safety
    Safe: the Mozilla intermediate 6.0 list supports every client of the intermediate profile.

    ## References
    CWE-327; Mozilla Server Side TLS 6.0; gixy weak_ssl_tls.
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("ssl_ciphers"):
            if not n.args or not once(seen, n):
                continue
            if not _has_tls12(_protocols_at(stack, cfg, n)):
                continue
            ev = evaluate_ciphers(n.args[0])
            weak = weak_families(ev)
            if not weak:
                continue
            via = " (through `ALL`)" if any(t.upper() == "ALL" for t in ev.tokens) else ""
            edit = replace_args_edit(stack, n, MOZ_INT_CIPHERS)
            fix = Fix("set the Mozilla intermediate 6.0 cipher list", (edit,)) if edit else None
            yield hit(nloc(n), f"ssl_ciphers enables {', '.join(weak)} suites{via}: broken or unauthenticated encryption",
                      fix=fix, snippet_key="ssl_ciphers " + n.args[0])


@rule("GW004", "tls-cipher-not-intermediate", "medium", files="nginx", refs="CWE-327; Moz-int 6.0, 5.7", fix="safe")
def tls_cipher_not_intermediate(stack: Stack):
    """TLS 1.2 allows cipher suites without forward secrecy or AEAD.

    ## What it does
    Where TLS 1.2 (or older) is on, evaluates the effective `ssl_ciphers` — or nginx's default
    `HIGH:!aNULL:!MD5` when none is set — and flags suites that are not ECDHE/DHE with an AEAD cipher
    (AES-GCM, ChaCha20-Poly1305, AES-CCM): `AES128-GCM-SHA256` (RSA key exchange), `…-SHA`,
    `…-SHA256` (CBC), `CAMELLIA…`. Mozilla 5.7's DHE-RSA-AES-GCM and DHE-RSA-CHACHA20 suites pass.
    Suites GW003 reports are not repeated. With policy `tls.profile: modern`, any TLS 1.2 is flagged
    instead (Mozilla modern is TLS 1.3 only).

    ## Why is this bad?
    Without forward secrecy a stolen private key decrypts every recorded session; CBC suites have a
    long history of padding-oracle attacks (Lucky13). Mozilla's intermediate profile keeps only
    ECDHE + AEAD.

    ## Example
    ```nginx
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers HIGH:!aNULL:!MD5;
    ```

    ## Use instead
    ```nginx
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ```

    ## Fix safety
    Safe for the clients of Mozilla's intermediate profile.

    ## References
    CWE-327; Mozilla Server Side TLS 6.0 and 5.7 (intermediate and modern).
    """
    modern = _profile(stack) == "modern"
    seen: set = set()
    done: set = set()
    for cfg in stack.nginx_configs:
        if modern:
            for server in servers_of(cfg):
                if not is_tls_server(server):
                    continue
                protos, d = effective_protocols(stack, cfg, server)
                if not _has_tls12(protos) or (d is None and opaque(stack, cfg, server, ("ssl_protocols",))):
                    continue
                if d is not None:
                    if not once(seen, d):
                        continue
                    edit = replace_args_edit(stack, d, "TLSv1.3")
                    yield hit(nloc(d), "tls.profile modern: TLSv1.2 is enabled, Mozilla modern 6.0 is TLSv1.3 only",
                              fix=Fix("set `ssl_protocols TLSv1.3`", (edit,)) if edit else None, snippet_key="modern-tls12")
                else:
                    edit = _first_fix_per_cfg(done, cfg, lambda: _http_or_server_insert(stack, cfg, server, ["ssl_protocols TLSv1.3;"]))
                    yield hit(nloc(server, cfg), "tls.profile modern: the default ssl_protocols include TLSv1.2, Mozilla modern 6.0 is TLSv1.3 only",
                              fix=Fix("add `ssl_protocols TLSv1.3;`", (edit,)) if edit else None, snippet_key="modern-tls12")
            continue
        for n in cfg.nodes("ssl_ciphers"):
            if not n.args or not once(seen, n):
                continue
            if not _has_tls12(_protocols_at(stack, cfg, n)):
                continue
            bad = not_intermediate(evaluate_ciphers(n.args[0]))
            if not bad:
                continue
            edit = replace_args_edit(stack, n, MOZ_INT_CIPHERS)
            yield hit(nloc(n), f"ssl_ciphers allows {_suites_text(bad)}: no forward secrecy or no AEAD (Mozilla intermediate keeps ECDHE + AEAD only)",
                      fix=Fix("set the Mozilla intermediate 6.0 cipher list", (edit,)) if edit else None,
                      snippet_key="ssl_ciphers " + n.args[0])
        for server in servers_of(cfg):
            if not is_tls_server(server) or server.effective("ssl_ciphers") is not None or opaque(stack, cfg, server, ("ssl_ciphers", "ssl_protocols")):
                continue
            if not _has_tls12(effective_protocols(stack, cfg, server)[0]):
                continue
            bad = not_intermediate(evaluate_ciphers(NGINX_DEFAULT_CIPHERS))
            edit = _first_fix_per_cfg(done, cfg, lambda: _http_or_server_insert(stack, cfg, server, [f"ssl_ciphers {MOZ_INT_CIPHERS};"]))
            yield hit(nloc(server, cfg),
                      f"TLS server without ssl_ciphers: nginx's default `{NGINX_DEFAULT_CIPHERS}` allows {_suites_text(bad)} under TLSv1.2",
                      fix=Fix("add the Mozilla intermediate 6.0 cipher list", (edit,)) if edit else None,
                      snippet_key="ssl_ciphers-default")


def _suites_text(suites: list[Suite]) -> str:
    names = [s.name for s in suites]
    if len(names) > 3:
        return ", ".join(names[:3]) + f" and {len(names) - 3} more"
    return ", ".join(names)


@rule("GW005", "tls-prefer-server-ciphers", "info", files="nginx", refs="Moz-int 6.0; gixy weak_ssl_tls", fix="safe")
def tls_prefer_server_ciphers(stack: Stack):
    """`ssl_prefer_server_ciphers on` with only strong protocols and suites.

    ## What it does
    Flags `ssl_prefer_server_ciphers on` where only TLS 1.2 and 1.3 are on (explicitly, or by the
    version's default), unless `ssl_conf_command Options PrioritizeChaCha` is in scope.

    ## Why is this bad?
    With a list of strong AEAD suites only, letting the client choose is better: phones without AES
    hardware pick ChaCha20-Poly1305. Mozilla 6.0 sets `off` for intermediate and modern.

    ## Example
    ```nginx
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ```

    ## Use instead
    ```nginx
    ssl_prefer_server_ciphers off;
    ```
    or keep `on` with `ssl_conf_command Options PrioritizeChaCha;`.

    ## Fix safety
    Safe: only the choice among enabled suites changes.

    ## References
    Mozilla Server Side TLS 6.0 (`server_preferred_order: false`); gixy weak_ssl_tls.
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("ssl_prefer_server_ciphers"):
            if not n.args or n.args[0].lower() != "on" or not once(seen, n):
                continue
            level = n.parent
            protos = _protocols_at(stack, cfg, n)
            if not protos or any(p.lower() not in ("tlsv1.2", "tlsv1.3") for p in protos):
                continue
            chacha = any(len(c.args) >= 2 and c.args[0].lower() == "options" and "prioritizechacha" in c.args[1].lower()
                         for c in level.inherited("ssl_conf_command"))
            if chacha:
                continue
            edit = replace_args_edit(stack, n, "off")
            yield hit(nloc(n), "ssl_prefer_server_ciphers on with TLSv1.2+ only: clients without AES hardware cannot pick ChaCha20 (Mozilla 6.0: off)",
                      fix=Fix("set `ssl_prefer_server_ciphers off`", (edit,)) if edit else None,
                      snippet_key="ssl_prefer_server_ciphers on")


@rule("GW006", "tls-session-cache-missing", "low", files="nginx", refs="Moz-int 6.0", fix="safe")
def tls_session_cache_missing(stack: Stack):
    """A TLS 1.2 server has no shared session cache.

    ## What it does
    Flags a TLS server where TLS 1.2 is on and no `ssl_session_cache shared:…` is in scope (absent,
    `off`, `none`, or `builtin` only). Points at the directive when one is set, else at the server.

    ## Why is this bad?
    Without a cache shared by the worker processes every reconnecting TLS 1.2 client repeats the full
    handshake, a CPU cost that shows at the seed's 1000 req/s. Mozilla's configuration sets
    `shared:MozSSL:10m` (about 40000 sessions) and a one-day timeout.

    ## Example
    ```nginx
    server { listen 443 ssl; ssl_protocols TLSv1.2 TLSv1.3; … }
    ```

    ## Use instead
    ```nginx
    http { ssl_session_cache shared:MozSSL:10m; ssl_session_timeout 1d; … }
    ```

    ## Fix safety
    Safe: 10 MB of shared memory.

    ## References
    Mozilla Server Side TLS 6.0 (nginx configuration); nginx ngx_http_ssl_module.
    """
    seen: set = set()
    done: set = set()
    for cfg in stack.nginx_configs:
        for server in servers_of(cfg):
            if not is_tls_server(server):
                continue
            if not _has_tls12(effective_protocols(stack, cfg, server)[0]):
                continue
            eff = server.effective("ssl_session_cache")
            if eff is not None and any(a.startswith("shared:") for a in eff.args):
                continue
            if eff is not None:
                if not once(seen, eff):
                    continue
                edit = replace_args_edit(stack, eff, "shared:MozSSL:10m")
                yield hit(nloc(eff), f"ssl_session_cache {' '.join(eff.args)}: no cache shared between workers, TLSv1.2 clients repeat full handshakes",
                          fix=Fix("set `ssl_session_cache shared:MozSSL:10m`", (edit,)) if edit else None,
                          snippet_key="ssl_session_cache " + " ".join(eff.args))
                continue
            if opaque(stack, cfg, server, ("ssl_session_cache", "ssl_protocols")):
                continue

            def make():
                lvl = http_level(cfg) or server
                lines = ["ssl_session_cache shared:MozSSL:10m;"]
                if not lvl.children_named("ssl_session_timeout"):
                    lines.append("ssl_session_timeout 1d;")
                return insert_into_block_edit(stack, cfg, lvl, lines)
            edit = _first_fix_per_cfg(done, cfg, make)
            yield hit(nloc(server, cfg), "TLS server without ssl_session_cache shared:…: TLSv1.2 clients repeat full handshakes",
                      fix=Fix("add `ssl_session_cache shared:MozSSL:10m; ssl_session_timeout 1d;`", (edit,)) if edit else None,
                      snippet_key="ssl_session_cache-missing")


ACME_RE = LazyRe(r"\.well-known/acme-challenge|\.well-known/?$|acme-challenge", re.I)


def _is_acme(loc) -> bool:
    return loc.name == "location" and bool(ACME_RE.search(location_match(loc)[1]))


def _published_ports(stack: Stack, svc) -> set[int] | None:
    """Container ports the gateway publishes; None when everything is (host network, no compose)."""
    if svc is None:
        return None
    if (svc.str("network_mode") or "") == "host":
        return None
    ports = set()
    for p in svc.ports:
        if p.host_ports or p.host is None:
            ports.update(p.container_ports)
    return ports


@rule("GW007", "http-not-redirected", "high", files="nginx", refs="CWE-319; Moz generator", fix="unsafe")
def http_not_redirected(stack: Stack):
    """A published plaintext server serves the site instead of redirecting to HTTPS.

    ## What it does
    For a gateway that terminates TLS (it has a TLS server), flags each server listening without
    `ssl` on a port compose publishes (port 80 when there is no compose file) that proxies or serves
    files anywhere but `/.well-known/acme-challenge/`, instead of answering with a 30x `return` or
    `rewrite` to `https://…`. A server-level `return 301 https://…` covers every location. Where TLS
    ends before nginx (a load balancer), disable this rule.

    ## Why is this bad?
    Everything served over port 80 — session cookies, tokens, form posts — travels in clear text and
    can be altered in transit (SSL stripping); HSTS cannot protect the first visit.

    ## Example
    ```nginx
    server { listen 80; location / { proxy_pass http://backend; } }
    ```

    ## Use instead
    ```nginx
    server {
        listen 80;
        location /.well-known/acme-challenge/ { root /var/www/certbot; }
        location / { return 301 https://$host$request_uri; }
    }
    ```

    ## Fix safety
    Unsafe: the server's body is replaced (listen, server_name and the ACME location are kept); a
    client that relied on plain HTTP (a health check) must move to HTTPS.

    ## References
    CWE-319; Mozilla SSL configuration generator (the port-80 redirect server).
    """
    for cfg in stack.nginx_configs:
        if not any(is_tls_server(s) for c in configs_of_service(stack, cfg) for s in servers_of(c, http_only=True)):
            continue
        published = _published_ports(stack, cfg.service)
        for server in servers_of(cfg, http_only=True):
            specs = listen_specs(server)
            plain = [s for s in specs if not s.ssl and not s.quic and s.port is not None]
            if not plain:
                continue
            if published is not None and not any(s.port in published for s in plain):
                continue
            if published is None and cfg.service is None and not any(s.port == 80 for s in plain):
                continue
            if any(is_https_redirect(c) for c in server.children):
                continue
            if (server.child("return") is not None):
                continue
            if any(s.ssl for s in specs) and any(c.name == "if" and any(is_https_redirect(x) for x in c.children) for c in server.children):
                continue
            offenders = [l for l in response_levels(server) if not (l.name == "location" and _is_acme(l))
                         and not any(_is_acme(a) for a in l.ancestors() if a.name == "location") and serves_content(l)]
            if not offenders:
                continue
            port = next(s.port for s in plain if published is None or s.port in published)
            yield hit(nloc(server, cfg),
                      f"plaintext server on published port {port} serves {levels_text(offenders)} instead of redirecting to https://",
                      fix=_redirect_fix(stack, cfg, server), snippet_key=f"http-not-redirected:{port}")


def _redirect_fix(stack: Stack, cfg, server) -> Fix | None:
    """Replace a plaintext server's body by the redirect (listen, server_name and the ACME location
    kept); a server that also listens with TLS loses its plaintext listeners to a new redirect
    server inserted before it."""
    if server.d is None or server.d.block is None:
        return None
    doc = stack.files.get(server.path).doc if server.path in stack.files else None
    if doc is None:
        return None
    _, term = directive_tokens(stack, server)
    end = server.d.end_line
    if term is None or term[0] != server.line or not end or end <= server.line:
        return None
    if doc.line_text(server.line)[term[1]:].strip() or doc.line_text(end).strip() != "}":
        return None
    indent = child_indent(stack, server)
    outer = doc.line_text(server.line)[: server.col - 1]
    if outer.strip():
        return None
    shared = any(s.ssl or s.quic for s in listen_specs(server))
    keep: list[str] = []
    plain_listens = []
    for c in server.children:
        if c.path != server.path:
            if shared:
                continue
            return None
        if c.name == "listen":
            spec = next((s for s in listen_specs(server) if s.node is c), None)
            if shared and (spec is None or spec.ssl or spec.quic):
                continue
            plain_listens.append(c)
        if c.name in ("listen", "server_name"):
            text = directive_text(stack, c)
            if text is None:
                return None
            keep.append(indent + text)
        elif c.name == "location" and _is_acme(c) and c.d.end_line:
            keep.extend(doc.line_text(i) for i in range(c.line, c.d.end_line + 1))
    keep += [indent + "location / {", indent + "    return 301 https://$host$request_uri;", indent + "}"]
    if not shared:
        edit = Edit(Location(server.path, server.line + 1, 1, end, 1), "".join(l + "\n" for l in keep))
        return Fix("redirect everything but the ACME challenge to https://", (edit,))
    edits = [delete_directive_edit(stack, c) for c in plain_listens]
    if not edits or any(e is None for e in edits):
        return None
    block = outer + "server {\n" + "".join(l + "\n" for l in keep) + outer + "}\n\n"
    edits.insert(0, Edit(Location(server.path, server.line, 1), block))
    return Fix("move the plaintext listeners to a server that redirects to https://", tuple(edits))


def _gateway_mounts(svc) -> list[str]:
    return [m.target.rstrip("/") or "/" for m in svc.volumes if m.target and m.type in ("bind", "volume")]


@rule("GW008", "tls-cert-not-provided", "high", files="nginx+compose", refs="nginx ssl module docs")
def tls_cert_not_provided(stack: Stack):
    """A TLS server has no certificate, or its certificate is not in the container.

    ## What it does
    Flags a TLS server without an effective `ssl_certificate` and `ssl_certificate_key` (a server
    with `ssl_reject_handshake on` needs none). When compose mounts the configuration, also flags a
    literal certificate or key path that lies under none of the gateway's mounts (bind mounts, or
    named volumes such as certbot's); a gateway built from a Dockerfile may copy them in and is not
    checked for paths.

    ## Why is this bad?
    nginx refuses to start (`no "ssl_certificate" is defined for the "listen ... ssl" directive`,
    `cannot load certificate`): the whole gateway is down, not just TLS.

    ## Example
    ```yaml
    volumes: [./nginx.conf:/etc/nginx/nginx.conf:ro]     # ssl_certificate /etc/nginx/certs/site.pem
    ```

    ## Use instead
    ```yaml
    volumes: [./nginx.conf:/etc/nginx/nginx.conf:ro, ./certs:/etc/nginx/certs:ro]
    ```

    ## Fix safety
    Manual.

    ## References
    nginx ngx_http_ssl_module documentation.
    """
    seen: set = set()
    for cfg in stack.nginx_configs:
        svc = cfg.service
        mounts = _gateway_mounts(svc) if svc is not None and svc.build is None else None
        for server in servers_of(cfg):
            if not is_tls_server(server):
                continue
            rej = server.effective("ssl_reject_handshake")
            if rej is not None and rej.args[:1] == ["on"]:
                continue
            cert = server.inherited("ssl_certificate")
            key = server.inherited("ssl_certificate_key")
            if (not cert or not key) and opaque(stack, cfg, server, ("ssl_certificate", "ssl_certificate_key")):
                continue
            if not cert or not key:
                missing = "ssl_certificate" if not cert else "ssl_certificate_key"
                if once(seen, server):
                    yield hit(nloc(server, cfg), f"TLS server without {missing}: nginx refuses to start",
                              snippet_key=f"{missing}-missing")
                continue
            if mounts is None:
                continue
            for d in cert + key:
                if not d.args or not once(seen, d):
                    continue
                path = d.args[0]
                if "$" in path or path.startswith(("data:", "engine:", "store:")):
                    continue
                cpath = path if path.startswith("/") else "/etc/nginx/" + path
                if any(cpath == t or cpath.startswith(t.rstrip("/") + "/") for t in mounts):
                    continue
                yield hit(nloc(d), f"{d.name} {path}: no volume of service '{svc.name}' provides this path, nginx will not start",
                          related=[Location(svc.doc.path, svc.key.line, svc.key.col)], snippet_key=f"{d.name} {path}")


_EARLY_HEADER = {"proxy_pass": ("proxy_set_header", "proxy_set_header Early-Data $ssl_early_data;"),
                 "grpc_pass": ("grpc_set_header", "grpc_set_header Early-Data $ssl_early_data;"),
                 "fastcgi_pass": ("fastcgi_param", "fastcgi_param HTTP_EARLY_DATA $ssl_early_data;"),
                 "uwsgi_pass": ("uwsgi_param", "uwsgi_param HTTP_EARLY_DATA $ssl_early_data;"),
                 "scgi_pass": ("scgi_param", "scgi_param HTTP_EARLY_DATA $ssl_early_data;")}


def _answers_425(level) -> bool:
    """An ``if ($ssl_early_data) { return 425; }`` at ``level`` or above."""
    for lvl in [level, *level.ancestors()]:
        for c in lvl.children:
            if c.name == "if" and "$ssl_early_data" in " ".join(c.args) and \
                    any(r.name == "return" and r.args and r.args[0] == "425" for r in c.children):
                return True
    return False


def _early_data_unguarded(loc) -> str | None:
    """The array directive a proxied ``loc`` would need to pass ``$ssl_early_data`` upstream, or None
    when it passes it (or answers early requests with 425)."""
    kinds = [n for n in _EARLY_HEADER if loc.child(n) is not None]
    if not kinds or _answers_425(loc):
        return None
    name = kinds[0]
    directive = _EARLY_HEADER[name][0]
    if any("$ssl_early_data" in " ".join(d.args) for d in loc.inherited(directive)):
        return None
    return name


@rule("GW014", "early-data-replayable", "medium", files="nginx",
      refs="CWE-294; nginx ssl module docs (ssl_early_data); RFC 8470 §5.1, §5.2", fix="safe")
def early_data_replayable(stack: Stack):
    """TLS 1.3 early data (0-RTT) reaches the application without telling it.

    ## What it does
    Flags `ssl_early_data on` in a TLS server whose proxied locations neither pass
    `$ssl_early_data` upstream (`proxy_set_header Early-Data $ssl_early_data`, or the
    `grpc_`/`fastcgi_`/`uwsgi_`/`scgi_` equivalents) nor answer early requests with 425
    (`if ($ssl_early_data) { return 425; }`). One finding per directive, the unguarded locations
    listed and related.

    ## Why is this bad?
    0-RTT data can be replayed by anyone who captured it: a `POST /transfer` sent as early data
    may be executed twice. RFC 8470 lets the server tell the application (`Early-Data: 1`) so it
    can answer `425 Too Early` for non-idempotent requests; without the header it cannot know.

    ## Example
    ```nginx
    server { listen 443 ssl; ssl_early_data on; location / { proxy_pass http://app; } }
    ```

    ## Use instead
    ```nginx
    server { listen 443 ssl; ssl_early_data on;
             location / { proxy_set_header Early-Data $ssl_early_data; proxy_pass http://app; } }
    ```

    ## Fix safety
    Safe: the header only informs the application (inherited `proxy_set_header`s are copied).

    ## References
    CWE-294; nginx ngx_http_ssl_module documentation (`ssl_early_data`); RFC 8470 §5.1, §5.2.
    """
    by_directive: dict = {}  # one finding per `ssl_early_data on` (one root cause), every server it covers
    seen_locs: set = set()
    for cfg in stack.nginx_configs:
        for server in servers_of(cfg, http_only=True):
            if not is_tls_server(server):
                continue
            ed = server.effective("ssl_early_data")
            if ed is None or not ed.args or ed.args[0].lower() != "on":
                continue
            entry = by_directive.setdefault(id(ed.d) if ed.d is not None else id(ed), (ed, cfg, []))
            for loc in server.walk():
                if loc.name == "location" and is_proxied(loc) and not opaque(stack, cfg, loc, ("proxy_set_header",)) \
                        and once(seen_locs, loc):
                    kind = _early_data_unguarded(loc)
                    if kind is not None:
                        entry[2].append((loc, kind, cfg))
    for ed, cfg, bare in by_directive.values():
        if not bare:
            continue
        edits = [add_array_directive_edit(stack, c, loc, _EARLY_HEADER[k][0], [_EARLY_HEADER[k][1]]) for loc, k, c in bare]
        fix = Fix("pass `$ssl_early_data` upstream (Early-Data header)", tuple(edits)) if all(edits) else None
        yield hit(nloc(ed, cfg), f"ssl_early_data on, but {levels_text([l for l, _k, _c in bare])} pass 0-RTT requests upstream "
                                 f"without $ssl_early_data: the application cannot refuse a replayed request (425)",
                  fix=fix, related=[nloc(l, c) for l, _k, c in bare], snippet_key="early-data")

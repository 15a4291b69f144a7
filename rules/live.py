"""LIVE rules: what `dkscan probe URL STACK` observes on the running gateway, judged against the stack.

Each rule receives the probe's ``Observations`` (``scanner.probe``); under ``dkscan audit`` it receives
a Stack and yields nothing (there is nothing live to judge). A drift finding points at the directive
that promised otherwise, with the URL in the message; a finding with no config counterpart points at
the gateway service's key line (without a stack: the URL's ``host:port``).
"""

from __future__ import annotations

import ipaddress
import re

from scanner.model import Fix, hit
from scanner.probe import observations
from scanner.registry import rule

from ._nginx import LEGACY_PROTOCOLS, insert_before_terminator_edit, insert_into_block_edit, location_match
from ._util import yloc

MODERN = ("TLSv1.2", "TLSv1.3")
ERROR_HEADERS = ("strict-transport-security", "content-security-policy", "x-content-type-options",
                 "x-frame-options", "referrer-policy")
# add_header without `always` applies to these statuses only (ngx_http_headers_module)
ADD_HEADER_STATUSES = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308}
VERSIONED_SERVER = re.compile(r"^[A-Za-z][\w.+-]*/\d")
STATUS_BODY = re.compile(r"Active connections:|^# (HELP|TYPE) |\"_links\"\s*:|/debug/pprof/|Types of profiles available|"
                         r"Apache Server Status|Server Version:|Total Accesses:", re.M)


def _proto_label(protos) -> str:
    return " ".join(protos) if protos else "(none)"


def _promised_protocols(obs):
    protos, node = obs.promise.protocols()
    return protos, node


# --------------------------------------------------------------------------------------------
# TLS and certificates (gateway)
# --------------------------------------------------------------------------------------------


@rule("LIVE001", "tls-legacy-accepted", "high", files="live", refs="CWE-327; Moz-int 6.0; sslyze")
def tls_legacy_accepted(ctx):
    """The live gateway completes a handshake with SSLv3, TLS 1.0 or TLS 1.1.

    ## What it does
    sslyze tries every protocol version against the URL's host and port (with the URL's name as SNI)
    and records the cipher suites the server accepts. SSLv2, SSLv3, TLS 1.0 or TLS 1.1 accepted is a
    finding, whatever the configuration says. With a stack, it points at the matched server's
    effective `ssl_protocols` and says whether the configuration lists the version (then GW001
    reports it too) or not (then the running gateway is not the audited configuration).

    ## Why is this bad?
    These protocols are deprecated (RFC 8996) and broken (POODLE, BEAST, SHA-1/MD5 handshakes).
    A stale container, an nginx that was never reloaded or a load balancer in front that terminates
    TLS with its own settings offers them although the audited file does not.

    ## Example
    `nginx -s reload` was never run after `ssl_protocols TLSv1.2 TLSv1.3;` replaced
    `ssl_protocols TLSv1 TLSv1.1 TLSv1.2;`: the live gateway still accepts TLS 1.0.

    ## Use instead
    Reload (or recreate) the gateway from the audited configuration; check the load balancer's TLS
    policy when one terminates TLS.

    ## References
    CWE-327; Mozilla Server Side TLS 6.0 (intermediate); RFC 8996; sslyze.
    """
    obs = observations(ctx)
    if obs is None or obs.tls is None:
        return
    legacy = [p for p in LEGACY_PROTOCOLS if p in obs.tls.accepted]
    if not legacy:
        return
    protos, node = _promised_protocols(obs)
    n = sum(len(obs.tls.accepted[p]) for p in legacy)
    msg = f"{obs.target.url_for('/')} completes handshakes with {', '.join(legacy)} ({n} cipher suite{'s' if n != 1 else ''})"
    if obs.promise.server is not None:
        listed = [p for p in legacy if p in protos]
        if listed == legacy:
            msg += f"; the config enables them (ssl_protocols {_proto_label(protos)})"
        else:
            msg += (f"; the config promises ssl_protocols {_proto_label(protos)}"
                    f"{'' if node is not None else ' (the nginx default)'}: the running gateway is not the audited config")
    yield hit(obs.promise.at(node, obs.target), msg, snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(legacy)}")


@rule("LIVE002", "tls-protocol-drift", "medium", files="live+nginx", refs="Moz-int 6.0; sslyze")
def tls_protocol_drift(ctx):
    """The protocols the live gateway accepts differ from the configuration's `ssl_protocols`.

    ## What it does
    Compares the TLS 1.2 and TLS 1.3 versions the live server accepts with the matched server's
    effective `ssl_protocols` (the nginx default by `nginx.version` when the directive is absent):
    a version accepted that the configuration does not list, or listed but refused. SSLv3, TLS 1.0
    and TLS 1.1 are LIVE001's.

    ## Why is this bad?
    The difference means the gateway runs another configuration than the one audited (not reloaded,
    an old image, a proxy in front): every other audit result about it may be wrong too. A refused
    TLS 1.2 locks out clients the configuration meant to serve.

    ## Example
    The config lists `TLSv1.2 TLSv1.3`; the live server refuses TLS 1.3.

    ## Use instead
    Reload the gateway from the audited configuration, or fix the configuration to say what is meant.

    ## References
    Mozilla Server Side TLS 6.0; sslyze.
    """
    obs = observations(ctx)
    if obs is None or obs.tls is None or not obs.tls.reachable or obs.promise.server is None:
        return
    protos, node = _promised_protocols(obs)
    extra = [p for p in MODERN if p in obs.tls.accepted and p not in protos]
    missing = [p for p in MODERN if p in protos and p in obs.tls.tested and p not in obs.tls.accepted]
    if not extra and not missing:
        return
    parts = []
    if extra:
        parts.append(f"accepts {', '.join(extra)}, which the config does not list")
    if missing:
        parts.append(f"refuses {', '.join(missing)}, which the config lists")
    yield hit(obs.promise.at(node, obs.target),
              f"{obs.target.url_for('/')} {' and '.join(parts)} (ssl_protocols {_proto_label(protos)}"
              f"{'' if node is not None else ', the nginx default'}): the running gateway is not the audited config",
              snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(extra)}/{','.join(missing)}")


def _suite(name: str):
    from .gateway import suite_from_name  # the GW003 classes: one answer to "is this suite weak?"

    return suite_from_name(name)


@rule("LIVE003", "tls-weak-cipher-accepted", "high", files="live", refs="CWE-327; Moz-int 6.0; sslyze")
def tls_weak_cipher_accepted(ctx):
    """The live gateway accepts a broken cipher suite (NULL, aNULL, EXPORT, RC4, DES, 3DES, MD5, ...).

    ## What it does
    Classifies every TLS 1.2-or-older suite the live server accepted (sslyze) with GW003's classes:
    NULL encryption, anonymous key exchange, EXPORT, RC4, DES, 3DES, SEED, IDEA, MD5, PSK, SRP.
    Points at the matched server's `ssl_ciphers` (or the gateway service without one).

    ## Why is this bad?
    These suites are broken (RC4 biases, SWEET32 on 3DES, 40-bit export keys) or authenticate
    nothing; a client that prefers one, or an attacker who can downgrade it, gets no protection.

    ## Example
    The live server still answers `ECDHE-RSA-DES-CBC3-SHA`.

    ## Use instead
    Deploy the Mozilla intermediate `ssl_ciphers` list and reload the gateway.

    ## References
    CWE-327; Mozilla Server Side TLS 6.0; sslyze.
    """
    obs = observations(ctx)
    if obs is None or obs.tls is None:
        return
    weak: dict[str, set[str]] = {}
    for proto, names in obs.tls.accepted.items():
        if proto == "TLSv1.3":
            continue
        for name in names:
            s = _suite(name)
            if s is not None and s.weak:
                weak.setdefault(name, set()).add(proto)
    if not weak:
        return
    _text, node = obs.promise.ciphers()
    listed = ", ".join(sorted(weak)[:8]) + (f" and {len(weak) - 8} more" if len(weak) > 8 else "")
    yield hit(obs.promise.at(node, obs.target),
              f"{obs.target.url_for('/')} accepts broken cipher suites: {listed}",
              snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(sorted(weak))}")


def expand_ciphers(spec: str) -> set[str] | None:
    """The TLS <= 1.2 suites an OpenSSL cipher string selects, expanded by the local OpenSSL (Python's
    ``ssl``, the library ``openssl ciphers -s -tls1_2`` uses); None when it rejects the string."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(spec)
    except ssl.SSLError:
        return None
    return {c["name"] for c in ctx.get_ciphers() if c.get("protocol") != "TLSv1.3"}


def _servable(name: str, key_algo: str, dhparam: bool) -> bool:
    """Can a server with this key (and DH parameters or not) negotiate suite ``name`` at all?"""
    s = _suite(name)
    if s is None or s.weak:
        return False
    if s.kx not in ("ECDHE", "DHE", "RSA") or (s.kx == "DHE" and not dhparam):
        return False
    if s.au == "ECDSA":
        return key_algo.startswith("EC")
    if s.au == "RSA":
        return key_algo == "RSA"
    return False


@rule("LIVE004", "tls-cipher-drift", "low", files="live+nginx", refs="Moz-int 6.0; sslyze")
def tls_cipher_drift(ctx):
    """The TLS 1.2 suites the live gateway accepts differ from the configuration's `ssl_ciphers`.

    ## What it does
    Expands the matched server's effective `ssl_ciphers` (nginx's default `HIGH:!aNULL:!MD5` without
    one) with the local OpenSSL and compares it with the TLS 1.2 suites sslyze saw accepted: a suite
    accepted that the string excludes, or one it selects that the server refused although its
    certificate key (RSA or ECDSA) and DH parameters allow it. LIVE003's broken suites are left to it.

    ## Why is this bad?
    The running gateway is not the audited configuration (or a proxy in front negotiates its own
    suites): the audit's verdict on `ssl_ciphers` does not describe what clients get.

    ## Example
    `ssl_ciphers` is the Mozilla intermediate list; the live server also accepts `AES128-SHA`.

    ## Use instead
    Reload the gateway from the audited configuration.

    ## References
    Mozilla Server Side TLS 6.0; sslyze.
    """
    obs = observations(ctx)
    if obs is None or obs.tls is None or obs.promise.server is None or obs.tls.leaf is None:
        return
    if "TLSv1.2" not in obs.tls.tested:
        return
    from scanner.probe.tls import key_description

    spec, node = obs.promise.ciphers()
    expected = expand_ciphers(spec)
    if expected is None:
        return
    accepted = {n for n in obs.tls.accepted.get("TLSv1.2", []) if not (_suite(n) and _suite(n).weak)}
    refused = set(obs.tls.rejected.get("TLSv1.2", []))
    algo, _, _ = key_description(obs.tls.leaf)
    dhparam = obs.promise.directive("ssl_dhparam") is not None
    extra = sorted(accepted - expected)
    missing = sorted(n for n in expected & refused if _servable(n, algo, dhparam))
    if not extra and not missing:
        return
    parts = []
    if extra:
        parts.append(f"accepts {', '.join(extra[:6])}{' ...' if len(extra) > 6 else ''}, which ssl_ciphers excludes")
    if missing:
        parts.append(f"refuses {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}, which ssl_ciphers selects")
    yield hit(obs.promise.at(node, obs.target),
              f"{obs.target.url_for('/')} (TLS 1.2) {' and '.join(parts)}: the running gateway is not the audited config",
              snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(extra)}/{','.join(missing)}")


def _cert_node(obs):
    return obs.promise.directive("ssl_certificate")


@rule("LIVE005", "certificate-invalid", "high", files="live+nginx", refs="CWE-295; RFC 6125; sslyze")
def certificate_invalid(ctx):
    """The live certificate is expired, not yet valid, for another name, or does not verify.

    ## What it does
    Reads the chain the server sends (sslyze) and verifies it with the local OpenSSL against the
    system trust store plus `--ca-file`: a leaf expired or not yet valid on `clock.today`, a subject
    alternative name that does not cover the URL's host, a chain that does not verify — including a
    server that sends only its leaf (`ssl_certificate .../cert.pem` instead of `fullchain.pem` is
    named) — or a key weaker than RSA 2048 / EC 256 bits. Points at `ssl_certificate`.

    ## Why is this bad?
    Clients refuse the connection (an outage) or, worse, are taught to click through warnings;
    a leaf-only chain works in browsers that cache intermediates and fails in every API client.

    ## Example
    `ssl_certificate /etc/letsencrypt/live/example.com/cert.pem;`

    ## Use instead
    `ssl_certificate /etc/letsencrypt/live/example.com/fullchain.pem;` and a renewal that reloads nginx.

    ## References
    CWE-295; RFC 6125; CA/Browser Forum Baseline Requirements 6.1.5; sslyze.
    """
    obs = observations(ctx)
    if obs is None or obs.tls is None or obs.tls.leaf is None:
        return
    from scanner.probe.tls import key_description

    leaf = obs.tls.leaf
    reasons = []
    if leaf.not_valid_after_utc.date() < obs.today:
        reasons.append(f"expired on {leaf.not_valid_after_utc.date().isoformat()}")
    if leaf.not_valid_before_utc.date() > obs.today:
        reasons.append(f"not valid before {leaf.not_valid_before_utc.date().isoformat()}")
    if obs.tls.hostname_ok is False:
        reasons.append(f"its names do not cover {obs.target.host}")
    node = _cert_node(obs)
    err = obs.tls.verify_error
    if err and not re.search(r"expired|not yet valid|hostname mismatch|ip address mismatch", err, re.I):
        why = f"the chain does not verify ({err})"
        if len(obs.tls.chain) == 1 and leaf.issuer != leaf.subject:
            why += "; the server sends only its leaf certificate, no intermediate"
            if node is not None and node.args and node.args[0].rsplit("/", 1)[-1] == "cert.pem":
                why += f" (ssl_certificate names {node.args[0]}: use fullchain.pem)"
        reasons.append(why)
    algo, bits, weak = key_description(leaf)
    if weak:
        reasons.append(f"its {algo} key has {bits} bits")
    if not reasons:
        return
    yield hit(obs.promise.at(node, obs.target),
              f"the certificate of {obs.target.url_for('/')} is invalid: {'; '.join(reasons)}",
              snippet_key=f"{obs.target.host}:{obs.target.port}:{leaf.serial_number:x}")


@rule("LIVE006", "certificate-expiring", "medium", files="live+nginx",
      refs="CWE-298; Certbot docs (renew_before_expiry)")
def certificate_expiring(ctx):
    """The live certificate expires within `tls.cert_warn_days`.

    ## What it does
    Compares the leaf's `notAfter` with `clock.today`: fewer than `tls.cert_warn_days` days left (30,
    Certbot's `renew_before_expiry`) means the renewal did not run, or ran without reloading nginx
    (OPS047). An expired leaf is LIVE005's.

    ## Why is this bad?
    Certbot renews 30 days before expiry; a certificate closer to its end than that is one that will
    expire unless someone acts, and an expired certificate is an outage.

    ## Example
    The leaf expires in 9 days; `certbot renew` ran but nginx still serves the old file.

    ## Use instead
    Reload nginx after renewal (a deploy hook, or a periodic `nginx -s reload`).

    ## References
    CWE-298; Certbot documentation (`renew_before_expiry`).
    """
    obs = observations(ctx)
    if obs is None or obs.tls is None or obs.tls.leaf is None:
        return
    end = obs.tls.leaf.not_valid_after_utc.date()
    days = (end - obs.today).days
    try:
        warn = int(obs.policy.get("tls.cert_warn_days", 30) or 30)
    except (TypeError, ValueError):
        warn = 30
    if 0 <= days < warn:
        yield hit(obs.promise.at(_cert_node(obs), obs.target),
                  f"the certificate of {obs.target.url_for('/')} expires on {end.isoformat()}, in {days} days "
                  f"(tls.cert_warn_days {warn}): renewal did not run or nginx was not reloaded",
                  snippet_key=f"{obs.target.host}:{obs.target.port}:{end.isoformat()}")


@rule("LIVE007", "ocsp-staple-missing", "low", files="live+nginx", refs="RFC 6066 §8; nginx ssl module docs")
def ocsp_staple_missing(ctx):
    """`ssl_stapling on`, the leaf names an OCSP responder, and the live server staples nothing.

    ## What it does
    When the matched server has `ssl_stapling on` and the leaf certificate's Authority Information
    Access names an OCSP responder, the probe makes a second handshake (nginx fetches the response
    lazily, after the first) and reports when it carries no OCSP response. Leaves without a responder
    (Let's Encrypt since 2025) are GW010's.

    ## Why is this bad?
    The configuration promises stapling; without it clients query the CA themselves (a privacy leak
    and a delay) or soft-fail. Usually nginx cannot reach the responder (no `resolver`, egress
    blocked) or lacks the issuer (`ssl_trusted_certificate`).

    ## Example
    `ssl_stapling on;` without a `resolver` for the responder's name.

    ## Use instead
    Give nginx a `resolver` and `ssl_trusted_certificate`, or drop `ssl_stapling` for leaves without a responder.

    ## References
    RFC 6066 §8; nginx ngx_http_ssl_module documentation.
    """
    obs = observations(ctx)
    if obs is None or obs.tls is None or obs.tls.leaf is None or obs.tls.ocsp_stapled is not False:
        return
    from scanner.probe.tls import ocsp_urls

    node = obs.promise.directive("ssl_stapling")
    if node is None or node.args[:1] != ["on"]:
        return
    urls = ocsp_urls(obs.tls.leaf)
    if not urls:
        return
    yield hit(obs.promise.at(node, obs.target),
              f"{obs.target.url_for('/')} staples no OCSP response on a second handshake although ssl_stapling is on "
              f"and the leaf names the responder {urls[0]}",
              snippet_key=f"{obs.target.host}:{obs.target.port}")


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


def _level_label(level) -> str:
    if level is None or level.d is None:
        return "the server"
    if level.name == "location":
        return "location " + " ".join(level.args)
    return level.name


@rule("LIVE020", "hsts-not-served", "medium", files="live", refs="CWE-319; RFC 6797; OSHP")
def hsts_not_served(ctx):
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
        groups.setdefault((id(node), problem, node), []).append(f"{r.url} ({r.status})")
    for (_, problem, node), urls in groups.items():
        promised = " although the config sends it there" if node is not None and getattr(node, "name", "") == "add_header" else ""
        yield hit(obs.promise.at(node, obs.target), f"{', '.join(urls)} answered {problem}{promised}",
                  snippet_key=f"{obs.target.host}:{problem}")


def _error_responses(obs):
    if obs.http is None:
        return []
    return [r for r in obs.http.responses if r.purpose in ("page", "error", "status") and r.status >= 400
            and r.url.startswith(obs.target.scheme + "://")]


@rule("LIVE021", "headers-missing-on-errors", "low", files="live+nginx", refs="nginx headers module docs; GW022",
      fix="safe")
def headers_missing_on_errors(ctx):
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
                  fix=fix, snippet_key=f"{obs.target.host}:{name}")


@rule("LIVE022", "header-drift", "medium", files="live+nginx", refs="OSHP")
def header_drift(ctx):
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
            entry[2].append(f"{r.url} ({r.status})")
    for node, problem, urls in groups.values():
        yield hit(obs.promise.at(node, obs.target),
                  f"{', '.join(urls[:4])}{' ...' if len(urls) > 4 else ''} answered {problem}: the running gateway "
                  "or its upstream does not send what the config promises",
                  snippet_key=f"{obs.target.host}:{problem}")


def _return_node(level):
    if level is None:
        return None
    for c in level.children:
        if c.name in ("return", "rewrite"):
            return c
    return level


@rule("LIVE023", "http-not-redirected-live", "high", files="live", refs="CWE-319; GW007")
def http_not_redirected_live(ctx):
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
    bad = []
    for r in obs.http.of("plain"):
        loc = r.get("location") or ""
        if r.status in (301, 302, 307, 308) and loc.lower().startswith("https://") and obs.target.same_host(loc):
            continue
        bad.append(f"{r.url} answers {r.status}" + (f" -> {loc}" if loc else ""))
    if not bad:
        return
    level = obs.promise.level_for("/", obs.promise.http_server) if obs.promise.http_server is not None else None
    node = _return_node(level)
    yield hit(obs.promise.at(node, obs.target),
              f"{'; '.join(bad)}: plain HTTP is not redirected to https://{obs.target.host}",
              snippet_key=f"{obs.target.host}:{obs.target.http_port}")


@rule("LIVE024", "server-version-exposed", "low", files="live",
      refs="CWE-200; OSHP headers_remove.json; GW032")
def server_version_exposed(ctx):
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
                  snippet_key=f"{obs.target.host}:{name}:{value}")


# --------------------------------------------------------------------------------------------
# reachability (perimeter)
# --------------------------------------------------------------------------------------------


def _has_return(level) -> bool:
    return any(c.name == "return" for c in level.children)


def _allows(level, source: str | None) -> bool:
    """The level's (inherited) ``allow`` rules let ``source`` in before a ``deny``."""
    if level is None or not source:
        return False
    try:
        ip = ipaddress.ip_address(source)
    except ValueError:
        return False
    for d in level.inherited("allow", "deny"):
        arg = d.args[0] if d.args else ""
        if arg == "all":
            return d.name == "allow"
        if arg.startswith("unix:"):
            continue
        try:
            if ip in ipaddress.ip_network(arg, strict=False):
                return d.name == "allow"
        except ValueError:
            continue
    return False


@rule("LIVE040", "status-page-reachable", "medium", files="live+nginx", refs="CWE-200; GW085; API022", fix="unsafe")
def status_page_reachable(ctx):
    """A status or metrics page answers the probe: `/nginx_status`, `/metrics`, `/actuator`, pprof, ...

    ## What it does
    Requests `/nginx_status`, `/stub_status`, `/basic_status`, `/status`, `/server-status`, `/metrics`,
    `/actuator`, `/actuator/prometheus`, `/debug/pprof/` and every location of the matched server with
    `stub_status`, and reports a 200 whose body is a status page (`Active connections:`, Prometheus
    `# HELP`/`# TYPE`, actuator `_links`, the pprof index). Silent when the matched location `allow`s
    the probe's own source address (run the probe from outside to judge those).

    ## Why is this bad?
    Status and metrics pages tell an attacker the traffic, the internal topology, versions and,
    for pprof or actuator, sometimes memory contents and environment variables.

    ## Example
    `location /nginx_status { stub_status; }` without `allow`/`deny`.

    ## Use instead
    `allow 127.0.0.1; deny all;` in the location, or a separate unpublished status server.

    ## Fix safety
    Unsafe: when the config's own location serves the page openly, the fix restricts it to
    127.0.0.1; a scraper on the Docker network (nginx-exporter) then needs its range allowed too.

    ## References
    CWE-200; GW085; API022.
    """
    obs = observations(ctx)
    if obs is None or obs.http is None:
        return
    for r in obs.http.of("status"):
        if r.status != 200 or not STATUS_BODY.search(r.body):
            continue
        level = obs.promise.level_for(r.path)
        if _allows(level, obs.source):
            continue
        what = "a stub_status page" if "Active connections:" in r.body else "a status/metrics page"
        promised, fix = "", None
        if level is not None and level.d is not None:
            promised = f" (the config answers it with {_level_label(level)})"
            if level.name == "location" and (level.child("stub_status") is not None or not _has_return(level)) \
                    and not level.inherited("allow", "deny"):
                # the config itself serves it openly: restrict it where it is served
                edit = insert_into_block_edit(obs.stack, obs.promise.cfg, level, ["allow 127.0.0.1;", "deny all;"])
                fix = Fix("allow only 127.0.0.1 (add the monitoring network's range if a scraper needs it)",
                          (edit,), "unsafe") if edit is not None else None
        yield hit(obs.promise.at(level, obs.target),
                  f"{r.url} serves {what} to {obs.source or 'the probe'}{promised}",
                  fix=fix, snippet_key=f"{obs.target.host}:{r.path}")


def _port_loc(obs, fact):
    if fact.port_node is not None and fact.service is not None:
        return yloc(fact.service.doc.path, fact.port_node)
    return obs.promise.anchor(obs.target)


def _publisher(fact) -> str:
    return f" (published by compose service {fact.service.name})" if fact.service is not None else ""


@rule("LIVE041", "service-port-reachable", "high", files="live+compose", refs="CWE-668; PER001, PER064")
def service_port_reachable(ctx):
    """A data or admin service port of the stack accepts TCP connections on the probed host.

    ## What it does
    Connects to each `probe.ports` port (5432 6379 9000 9001 4222 6222 8222 9090 9093 9100 3000 8025
    16686; `--ports` replaces the list) of the URL's host and reports those that accept, naming the
    compose service that publishes the port. A loopback target is skipped unless `--ports` is given
    (from the host itself every published port answers). LIVE042 replaces this finding when the
    service also answers without credentials.

    ## Why is this bad?
    Databases, caches, brokers and dashboards are meant for the stack's internal networks; an open
    port is one password (or one CVE) away from the data. Docker's published ports bypass UFW.

    ## Example
    `ports: ["5432:5432"]` on `postgres`.

    ## Use instead
    Remove the mapping (services reach each other on the compose network) or bind `127.0.0.1:`.

    ## References
    CWE-668; PER001; PER064.
    """
    obs = observations(ctx)
    if obs is None:
        return
    for fact in obs.ports:
        if fact.open and not fact.unauthenticated:
            kind = f" ({fact.kind}{': ' + fact.evidence if fact.evidence else ''})" if fact.kind else ""
            yield hit(_port_loc(obs, fact),
                      f"{obs.target.host}:{fact.port} accepts TCP connections from {obs.source or 'the probe'}{kind}{_publisher(fact)}",
                      snippet_key=f"{obs.target.host}:{fact.port}")


@rule("LIVE042", "unauthenticated-service-reachable", "critical", files="live+compose", refs="CWE-306; PER002, PER043")
def unauthenticated_service_reachable(ctx):
    """A reachable service port answers without credentials (Redis PONG, NATS without auth, trust PostgreSQL, ...).

    ## What it does
    On a port LIVE041 found open, asks the one question an unauthenticated service answers: Redis
    `PING` -> `+PONG`; NATS's `INFO` greeting without `auth_required`; `/varz` 200 (8222);
    Prometheus/Alertmanager `/api/v1/status/buildinfo` / `/api/v2/status` 200; node-exporter
    `/metrics` 200; mailpit/mailhog `/api/v1/messages` 200; Jaeger `/api/services` 200; PostgreSQL
    `AuthenticationOk` for user `postgres` (trust). No password is ever tried. Replaces LIVE041.

    ## Why is this bad?
    Anyone who can reach the port reads and writes the data: no credential stands in the way.

    ## Example
    `redis-server` without `--requirepass`, published with `ports: ["6379:6379"]`.

    ## Use instead
    Unpublish the port and require authentication.

    ## References
    CWE-306; PER002; PER043.
    """
    obs = observations(ctx)
    if obs is None:
        return
    for fact in obs.ports:
        if fact.open and fact.unauthenticated:
            yield hit(_port_loc(obs, fact),
                      f"{obs.target.host}:{fact.port} ({fact.kind}) {fact.evidence}{_publisher(fact)}",
                      snippet_key=f"{obs.target.host}:{fact.port}:{fact.kind}")


@rule("LIVE059", "probe-target-unreachable", "high", files="live")
def probe_target_unreachable(ctx):
    """The probe could not reach the target, or a check could not complete.

    ## What it does
    Reports, instead of a traceback, a URL whose name does not resolve, a port that refuses or
    times out, a TLS handshake that never completes, an HTTP exchange that gets no answer, or a
    time budget that ran out before every check ran. The message names what failed and why.

    ## Why is this bad?
    A deployment the validation cannot reach is not validated: the health check of the seed's
    deploy phase ("health checks pasados, SSL certificado válido") did not pass.

    ## Example
    `dkscan probe https://api.example.com` before DNS points at the new host (use `--resolve`).

    ## Use instead
    Check the address (`--resolve HOST:IP`), the firewall, and raise `--timeout`/`--budget` for slow links.

    ## References
    Not in the rules catalog (the catalog lists no LIVE row for an unreachable target): dkscan's own.
    """
    obs = observations(ctx)
    if obs is None or not obs.unreachable:
        return
    for why in dict.fromkeys(obs.unreachable):
        yield hit(obs.promise.anchor(obs.target), f"{obs.target.url}: {why}", snippet_key=why[:80])


# --------------------------------------------------------------------------------------------
# API behaviour (api)
# --------------------------------------------------------------------------------------------


@rule("LIVE060", "cors-origin-reflected", "high", files="live+nginx", refs="CWE-942, CWE-346; API021")
def cors_origin_reflected(ctx):
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
                  f"({'; '.join(how)})", snippet_key=f"{obs.target.host}:{path}")


@rule("LIVE061", "auth-rate-limit-not-enforced", "high", files="live+nginx+config", refs="CWE-307; GW042")
def auth_rate_limit_not_enforced(ctx):
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
                  "is not enforced", snippet_key=f"{obs.target.host}:{path}")

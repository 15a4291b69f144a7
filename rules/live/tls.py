"""LIVE rules: what `dkscan probe URL STACK` observes on the running gateway, judged against the stack.

Each rule receives the probe's ``Observations`` (``scanner.probe``); under ``dkscan audit`` it receives
a Stack and yields nothing (there is nothing live to judge). A drift finding points at the directive
that promised otherwise, with the URL in the message; a finding with no config counterpart points at
the gateway service's key line (without a stack: the URL's ``host:port``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.live import MODERN, probed
from rules.helpers.nginx import LEGACY_PROTOCOLS
from rules.helpers.tls import suite_from_name
from scanner.model import hit
from scanner.probe import observations
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.probe import Observations
    from scanner.stack import Stack


def _proto_label(protos) -> str:
    return " ".join(protos) if protos else "(none)"


def _promised_protocols(obs):
    protos, node = obs.promise.protocols()
    return protos, node


# --------------------------------------------------------------------------------------------
# TLS and certificates (gateway)
# --------------------------------------------------------------------------------------------


@rule("LIVE001", "tls-legacy-accepted", "high", files="live", refs="CWE-327; Moz-int 6.0; sslyze")
def tls_legacy_accepted(ctx: Stack | Observations):
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
    yield hit(obs.promise.at(node, obs.target), msg,
              related=probed(obs.target.url_for("/")), snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(legacy)}")


@rule("LIVE002", "tls-protocol-drift", "medium", files="live+nginx", refs="Moz-int 6.0; sslyze")
def tls_protocol_drift(ctx: Stack | Observations):
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
              related=probed(obs.target.url_for("/")), snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(extra)}/{','.join(missing)}")


def _suite(name: str):
    return suite_from_name(name)  # the GW003 classes: one answer to "is this suite weak?"


@rule("LIVE003", "tls-weak-cipher-accepted", "high", files="live", refs="CWE-327; Moz-int 6.0; sslyze")
def tls_weak_cipher_accepted(ctx: Stack | Observations):
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
              related=probed(obs.target.url_for("/")), snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(sorted(weak))}")


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
def tls_cipher_drift(ctx: Stack | Observations):
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
              related=probed(obs.target.url_for("/")), snippet_key=f"{obs.target.host}:{obs.target.port}:{','.join(extra)}/{','.join(missing)}")


def _cert_node(obs):
    return obs.promise.directive("ssl_certificate")


@rule("LIVE005", "certificate-invalid", "high", files="live+nginx", refs="CWE-295; RFC 6125; sslyze")
def certificate_invalid(ctx: Stack | Observations):
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
              related=probed(obs.target.url_for("/")), snippet_key=f"{obs.target.host}:{obs.target.port}:{leaf.serial_number:x}")


@rule("LIVE006", "certificate-expiring", "medium", files="live+nginx",
      refs="CWE-298; Certbot docs (renew_before_expiry)")
def certificate_expiring(ctx: Stack | Observations):
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
                  related=probed(obs.target.url_for("/")), snippet_key=f"{obs.target.host}:{obs.target.port}:{end.isoformat()}")


@rule("LIVE007", "ocsp-staple-missing", "low", files="live+nginx", refs="RFC 6066 §8; nginx ssl module docs")
def ocsp_staple_missing(ctx: Stack | Observations):
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
              related=probed(obs.target.url_for("/")), snippet_key=f"{obs.target.host}:{obs.target.port}")

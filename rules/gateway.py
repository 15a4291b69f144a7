"""Gateway: the nginx configuration as the gateway container loads it — TLS, response headers and
request limits. Proxying and the gixy-ng family of pitfalls live in ``gateway_proxy.py``.

The nginx semantics every rule here relies on (TLS servers, the ``add_header`` inheritance trap,
location classes, version defaults) are in ``rules/_nginx.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from scanner.model import UNSAFE, Edit, Fix, Location, hit
from scanner.registry import rule

from ._nginx import (
    ALWAYS_HEADERS,
    HEADER_DIRECTIVES,
    LEGACY_PROTOCOLS,
    add_header_source,
    add_to_level_edit,
    child_indent,
    configs_of_service,
    delete_directive_edit,
    directive_text,
    directive_tokens,
    effective_headers,
    effective_protocols,
    http_insert_edit,
    http_level,
    inherit_mode,
    insert_before_edit,
    insert_before_terminator_edit,
    insert_into_block_edit,
    is_auth_location,
    is_deny_all_only,
    is_per_ip_key,
    is_proxied,
    is_tls_server,
    is_upload_location,
    limit_zones,
    listen_specs,
    location_match,
    lost_headers,
    node_loc,
    nginx_version,
    once,
    opaque,
    own_add_headers,
    parent_level,
    proxies_to_app,
    proxies_to_minio,
    replace_args_edit,
    replace_token_edit,
    response_levels,
    size_bytes,
    walk_blocks,
    zone_for,
)
from ._util import nloc

MOZ_INT_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                   "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
NGINX_DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5"
HSTS_VALUE = "max-age=63072000; includeSubDomains"
OSHP_CSP = ("default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; "
            "upgrade-insecure-requests; block-all-mixed-content")
API_CSP = "default-src 'none'; frame-ancestors 'none'"


# --------------------------------------------------------------------------------------------
# shared iteration helpers
# --------------------------------------------------------------------------------------------


def _servers(cfg, http_only: bool = False) -> list:
    out = []
    for s in cfg.servers:
        if s.d is not None and s.d.block is None:
            continue  # an upstream's `server host:port;`
        if s.d is not None and any(a.name in ("upstream", "stream", "mail") for a in s.ancestors()):
            if http_only or any(a.name == "upstream" for a in s.ancestors()):
                continue
        out.append(s)
    return out


def _profile(stack) -> str:
    p = str(stack.policy.get("tls.profile", "intermediate") or "intermediate").strip().lower()
    return "modern" if p == "modern" else "intermediate"


def _target_protocols(stack) -> str:
    return "TLSv1.3" if _profile(stack) == "modern" else "TLSv1.2 TLSv1.3"


def _has_tls12(protocols: list[str]) -> bool:
    return any(p.lower() in ("sslv3", "tlsv1", "tlsv1.1", "tlsv1.2") for p in protocols)


def _level_name(level) -> str:
    if level.d is None or level.name == "server":
        return "the server level"
    if level.name == "location":
        return "location " + " ".join(level.args)
    if level.name == "if":
        return "if (" + " ".join(level.args) + ")"
    return level.name


def _levels_text(levels: list, limit: int = 4) -> str:
    names = [_level_name(l) for l in levels]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)


# --------------------------------------------------------------------------------------------
# OpenSSL cipher strings
# --------------------------------------------------------------------------------------------


@dataclass(repr=False, frozen=True)
class Suite:
    """A TLS cipher suite with OpenSSL's attributes."""

    name: str
    kx: str  # RSA ECDHE DHE ECDH DH PSK DHEPSK ECDHEPSK RSAPSK SRP
    au: str  # RSA ECDSA DSS NULL PSK SRP
    enc: str  # AESGCM AESCCM AESCCM8 CHACHA20 ARIAGCM AES CAMELLIA ARIA 3DES DES RC4 SEED IDEA NULL
    bits: int
    mac: str  # AEAD SHA1 SHA256 SHA384 MD5
    strength: str  # HIGH MEDIUM LOW EXPORT NONE

    @property
    def aead(self) -> bool:
        return self.mac == "AEAD"

    @property
    def forward_secret(self) -> bool:
        return self.kx in ("ECDHE", "DHE") and self.au != "NULL"

    @property
    def tls12(self) -> bool:
        return self.mac in ("AEAD", "SHA256", "SHA384")

    @property
    def weak(self) -> list[str]:
        out = []
        if self.enc == "NULL":
            out.append("NULL")
        if self.au == "NULL":
            out.append("aNULL")
        if self.strength == "EXPORT":
            out.append("EXPORT")
        if self.enc in ("RC4", "DES", "3DES", "SEED", "IDEA"):
            out.append(self.enc)
        if self.mac == "MD5":
            out.append("MD5")
        if "PSK" in self.kx:
            out.append("PSK")
        if self.kx == "SRP":
            out.append("SRP")
        return out


def suite_from_name(name: str) -> Suite | None:
    """Attributes of an OpenSSL TLS <= 1.2 cipher suite name (``ECDHE-RSA-AES128-GCM-SHA256``)."""
    n = name.upper()
    if n.startswith("TLS_") or "-" not in n:
        return None
    export = n.startswith("EXP")
    core = re.sub(r"^EXP1024-|^EXP-", "", n)
    if core.startswith("ECDHE-PSK"):
        kx, au = "ECDHEPSK", "PSK"
    elif core.startswith("DHE-PSK"):
        kx, au = "DHEPSK", "PSK"
    elif core.startswith("RSA-PSK"):
        kx, au = "RSAPSK", "RSA"
    elif core.startswith("PSK-"):
        kx, au = "PSK", "PSK"
    elif core.startswith("SRP-"):
        kx, au = "SRP", "RSA" if "-RSA-" in core else "DSS" if "-DSS-" in core else "SRP"
    elif core.startswith("AECDH-"):
        kx, au = "ECDHE", "NULL"
    elif core.startswith("ADH-"):
        kx, au = "DHE", "NULL"
    elif core.startswith(("ECDHE-", "EECDH-")):
        kx, au = "ECDHE", "ECDSA" if "-ECDSA-" in core else "RSA"
    elif core.startswith(("DHE-", "EDH-")):
        kx, au = "DHE", "DSS" if "-DSS-" in core else "RSA"
    elif core.startswith("ECDH-"):
        kx, au = "ECDH", "ECDSA" if "-ECDSA-" in core else "RSA"
    elif core.startswith("DH-"):
        kx, au = "DH", "DSS" if "-DSS-" in core else "RSA"
    else:
        kx, au = "RSA", "RSA"
    parts = set(re.split(r"[-_]", core))
    if "NULL" in parts:
        enc = "NULL"
    elif "RC4" in core:
        enc = "RC4"
    elif "DES-CBC3" in core or "3DES" in core:
        enc = "3DES"
    elif "DES" in parts or "DES-CBC" in core or "DES40" in core:
        enc = "DES"
    elif "SEED" in core:
        enc = "SEED"
    elif "IDEA" in core:
        enc = "IDEA"
    elif "CHACHA20" in core:
        enc = "CHACHA20"
    elif "CCM8" in core:
        enc = "AESCCM8"
    elif "CCM" in parts:
        enc = "AESCCM"
    elif "ARIA" in core:
        enc = "ARIAGCM" if "GCM" in parts else "ARIA"
    elif "CAMELLIA" in core:
        enc = "CAMELLIA"
    elif "AES" in core:
        enc = "AESGCM" if "GCM" in parts else "AES"
    else:
        return None
    bits = 256 if re.search(r"256|CHACHA20", core) else 128 if re.search(r"128|RC4|SEED|IDEA", core) else 112 if enc == "3DES" else 56
    if enc in ("AESGCM", "AESCCM", "AESCCM8", "CHACHA20", "ARIAGCM"):
        mac = "AEAD"
    elif n.endswith("MD5"):
        mac = "MD5"
    elif n.endswith("SHA384"):
        mac = "SHA384"
    elif n.endswith("SHA256"):
        mac = "SHA256"
    else:
        mac = "SHA1"
    if export:
        strength = "EXPORT"
    elif enc == "NULL":
        strength = "NONE"
    elif enc == "DES":
        strength = "LOW"
    elif enc in ("RC4", "SEED", "IDEA", "3DES"):
        strength = "MEDIUM"
    else:
        strength = "HIGH"
    return Suite(n, kx, au, enc, bits, mac, strength)


_SUITE_NAMES = """
ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-RSA-AES256-GCM-SHA384 DHE-DSS-AES256-GCM-SHA384 DHE-RSA-AES256-GCM-SHA384
ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-CHACHA20-POLY1305 DHE-RSA-CHACHA20-POLY1305 ECDHE-ECDSA-AES256-CCM8
ECDHE-ECDSA-AES256-CCM DHE-RSA-AES256-CCM ECDHE-ECDSA-ARIA256-GCM-SHA384 ECDHE-ARIA256-GCM-SHA384
ADH-AES256-GCM-SHA384 ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-RSA-AES128-GCM-SHA256 DHE-DSS-AES128-GCM-SHA256
DHE-RSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES128-CCM DHE-RSA-AES128-CCM ADH-AES128-GCM-SHA256
ECDHE-ECDSA-AES256-SHA384 ECDHE-RSA-AES256-SHA384 DHE-RSA-AES256-SHA256 ECDHE-ECDSA-CAMELLIA256-SHA384
ECDHE-RSA-CAMELLIA256-SHA384 DHE-RSA-CAMELLIA256-SHA256 ADH-AES256-SHA256 ECDHE-ECDSA-AES128-SHA256
ECDHE-RSA-AES128-SHA256 DHE-RSA-AES128-SHA256 ECDHE-ECDSA-CAMELLIA128-SHA256 ADH-AES128-SHA256
ECDHE-ECDSA-AES256-SHA ECDHE-RSA-AES256-SHA DHE-RSA-AES256-SHA DHE-DSS-AES256-SHA DHE-RSA-CAMELLIA256-SHA
AECDH-AES256-SHA ADH-AES256-SHA ECDHE-ECDSA-AES128-SHA ECDHE-RSA-AES128-SHA DHE-RSA-AES128-SHA
DHE-RSA-CAMELLIA128-SHA AECDH-AES128-SHA ADH-AES128-SHA
RSA-PSK-AES256-GCM-SHA384 DHE-PSK-AES256-GCM-SHA384 ECDHE-PSK-CHACHA20-POLY1305 PSK-AES256-GCM-SHA384
PSK-CHACHA20-POLY1305 AES256-GCM-SHA384 AES256-CCM ARIA256-GCM-SHA384 AES128-GCM-SHA256 AES128-CCM
ARIA128-GCM-SHA256 PSK-AES128-GCM-SHA256 AES256-SHA256 CAMELLIA256-SHA256 AES128-SHA256 CAMELLIA128-SHA256
ECDHE-PSK-AES256-CBC-SHA SRP-RSA-AES-256-CBC-SHA SRP-AES-256-CBC-SHA RSA-PSK-AES256-CBC-SHA
DHE-PSK-AES256-CBC-SHA AES256-SHA CAMELLIA256-SHA PSK-AES256-CBC-SHA SRP-AES-128-CBC-SHA AES128-SHA
CAMELLIA128-SHA PSK-AES128-CBC-SHA
ECDHE-RSA-DES-CBC3-SHA EDH-RSA-DES-CBC3-SHA DES-CBC3-SHA ADH-DES-CBC3-SHA PSK-3DES-EDE-CBC-SHA
ECDHE-RSA-RC4-SHA RC4-SHA RC4-MD5 ADH-RC4-MD5 PSK-RC4-SHA SEED-SHA DHE-RSA-SEED-SHA IDEA-CBC-SHA
EDH-RSA-DES-CBC-SHA DES-CBC-SHA EXP-EDH-RSA-DES-CBC-SHA EXP-DES-CBC-SHA EXP-RC4-MD5 EXP-RC2-CBC-MD5
ECDHE-ECDSA-NULL-SHA ECDHE-RSA-NULL-SHA AECDH-NULL-SHA NULL-SHA256 PSK-NULL-SHA NULL-SHA NULL-MD5
"""
SUITES: list[Suite] = [s for s in (suite_from_name(n) for n in _SUITE_NAMES.split()) if s is not None]
_STRENGTH_ALIASES = {"HIGH": "HIGH", "MEDIUM": "MEDIUM", "LOW": "LOW", "EXPORT": "EXPORT", "EXP": "EXPORT",
                     "EXPORT40": "EXPORT", "EXPORT56": "EXPORT"}


@lru_cache(maxsize=None)
def _aliases(s: Suite) -> frozenset[str]:
    """Every OpenSSL alias that selects suite ``s`` (computed once per suite)."""
    table = {
        "ALL": s.enc != "NULL",
        "COMPLEMENTOFALL": s.enc == "NULL",
        "DEFAULT": s.strength == "HIGH" and s.au != "NULL" and "PSK" not in s.kx and s.kx != "SRP",
        "ENULL": s.enc == "NULL", "NULL": s.enc == "NULL", "ANULL": s.au == "NULL",
        "KRSA": s.kx == "RSA", "ARSA": s.au == "RSA", "RSA": s.kx == "RSA" or s.au == "RSA",
        "KDHE": s.kx == "DHE", "KEDH": s.kx == "DHE", "DHE": s.kx == "DHE" and s.au != "NULL",
        "EDH": s.kx == "DHE" and s.au != "NULL", "DH": s.kx in ("DHE", "DH"), "ADH": s.kx == "DHE" and s.au == "NULL",
        "KECDHE": s.kx == "ECDHE", "KEECDH": s.kx == "ECDHE", "ECDHE": s.kx == "ECDHE" and s.au != "NULL",
        "EECDH": s.kx == "ECDHE" and s.au != "NULL", "ECDH": s.kx in ("ECDHE", "ECDH"),
        "AECDH": s.kx == "ECDHE" and s.au == "NULL",
        "AECDSA": s.au == "ECDSA", "ECDSA": s.au == "ECDSA", "ADSS": s.au == "DSS", "DSS": s.au == "DSS",
        "PSK": "PSK" in s.kx, "KPSK": s.kx == "PSK", "KECDHEPSK": s.kx == "ECDHEPSK", "KDHEPSK": s.kx == "DHEPSK",
        "KRSAPSK": s.kx == "RSAPSK", "APSK": s.au == "PSK", "SRP": s.kx == "SRP", "KSRP": s.kx == "SRP",
        "AES": s.enc in ("AES", "AESGCM", "AESCCM", "AESCCM8"),
        "AES128": s.enc in ("AES", "AESGCM", "AESCCM", "AESCCM8") and s.bits == 128,
        "AES256": s.enc in ("AES", "AESGCM", "AESCCM", "AESCCM8") and s.bits == 256,
        "AESGCM": s.enc == "AESGCM", "AESCCM": s.enc in ("AESCCM", "AESCCM8"), "AESCCM8": s.enc == "AESCCM8",
        "CHACHA20": s.enc == "CHACHA20", "CAMELLIA": s.enc == "CAMELLIA",
        "CAMELLIA128": s.enc == "CAMELLIA" and s.bits == 128, "CAMELLIA256": s.enc == "CAMELLIA" and s.bits == 256,
        "ARIA": s.enc in ("ARIA", "ARIAGCM"), "ARIAGCM": s.enc == "ARIAGCM",
        "3DES": s.enc == "3DES", "DES": s.enc == "DES", "RC4": s.enc == "RC4", "SEED": s.enc == "SEED",
        "IDEA": s.enc == "IDEA", "MD5": s.mac == "MD5", "SHA1": s.mac == "SHA1", "SHA": s.mac == "SHA1",
        "SHA256": s.mac == "SHA256", "SHA384": s.mac == "SHA384",
        "TLSV1.2": s.tls12, "TLSV1.0": not s.tls12, "TLSV1": not s.tls12, "SSLV3": not s.tls12,
    }
    table.update({alias: s.strength == strength for alias, strength in _STRENGTH_ALIASES.items()})
    table["COMPLEMENTOFDEFAULT"] = s.enc != "NULL" and not table["DEFAULT"]
    return frozenset(k for k, v in table.items() if v)


_ALIAS_NAMES = (
    "HIGH", "MEDIUM", "LOW", "EXPORT", "EXP", "EXPORT40", "EXPORT56", "ALL", "COMPLEMENTOFALL", "DEFAULT",
    "COMPLEMENTOFDEFAULT", "ENULL", "NULL", "ANULL", "KRSA", "ARSA", "RSA", "KDHE", "KEDH", "DHE", "EDH", "DH", "ADH",
    "KECDHE", "KEECDH", "ECDHE", "EECDH", "ECDH", "AECDH", "AECDSA", "ECDSA", "ADSS", "DSS", "PSK", "KPSK",
    "KECDHEPSK", "KDHEPSK", "KRSAPSK", "APSK", "SRP", "KSRP", "AES", "AES128", "AES256", "AESGCM", "AESCCM",
    "AESCCM8", "CHACHA20", "CAMELLIA", "CAMELLIA128", "CAMELLIA256", "ARIA", "ARIAGCM", "3DES", "DES", "RC4", "SEED",
    "IDEA", "MD5", "SHA1", "SHA", "SHA256", "SHA384", "TLSV1.2", "TLSV1.0", "TLSV1", "SSLV3",
)
"""The OpenSSL cipher-string aliases the model knows (upper case)."""


@dataclass(repr=False, eq=False)
class CipherEval:
    """The result of evaluating an OpenSSL cipher list."""

    suites: list[Suite]  # enabled TLS <= 1.2 suites, in order
    explicit: set[str]  # weak families named by an enabling token (PSK, SRP need one)
    tokens: list[str]


@lru_cache(maxsize=256)
def evaluate_ciphers(text: str) -> CipherEval:
    """A model of OpenSSL's cipher-list evaluation (``X`` adds, ``-X`` removes, ``!X`` bans, ``+X``
    moves to the end, ``A+B`` intersects), over a table of representative suites whose attributes
    follow OpenSSL's names. Unknown suite names are classified from their name."""
    universe = list(SUITES)
    by_name = {s.name: s for s in universe}
    enabled: list[Suite] = []
    banned: set[str] = set()
    explicit: set[str] = set()
    tokens = [t for t in re.split(r"[:, ]+", text.strip()) if t]
    for tok in tokens:
        if tok.startswith("@"):
            continue
        op = ""
        if tok[0] in "!-+":
            op, tok = tok[0], tok[1:]
        if not tok:
            continue
        comps = [c.upper() for c in tok.split("+")]
        if len(comps) == 1 and comps[0] not in by_name and comps[0] not in _ALIAS_NAMES:
            s = suite_from_name(comps[0])
            if s is None:
                continue
            if s.name not in by_name:
                universe.append(s)
                by_name[s.name] = s
        selected = [s for s in universe if all(c == s.name or c in _aliases(s) for c in comps)]
        names = {s.name for s in selected}
        if op == "!":
            banned |= names
            enabled = [s for s in enabled if s.name not in names]
        elif op == "-":
            enabled = [s for s in enabled if s.name not in names]
        elif op == "+":
            enabled = [s for s in enabled if s.name not in names] + [s for s in enabled if s.name in names]
        else:
            up = set(comps)
            if up & {"PSK", "KPSK", "KECDHEPSK", "KDHEPSK", "KRSAPSK", "APSK"} or any("PSK" in c for c in up if "-" in c):
                explicit.add("PSK")
            if up & {"SRP", "KSRP"} or any(c.startswith("SRP-") for c in up):
                explicit.add("SRP")
            have = {s.name for s in enabled}
            enabled.extend(s for s in selected if s.name not in have and s.name not in banned)
    return CipherEval(enabled, explicit, tokens)


def weak_families(ev: CipherEval) -> list[str]:
    out: list[str] = []
    for s in ev.suites:
        for f in s.weak:
            if f in ("PSK", "SRP") and f not in ev.explicit:
                continue
            if f not in out:
                out.append(f)
    return out


def not_intermediate(ev: CipherEval) -> list[Suite]:
    """Enabled suites without forward secrecy or AEAD that GW003 does not already report."""
    out = []
    for s in ev.suites:
        if s.forward_secret and s.aead:
            continue
        if s.weak:  # NULL/aNULL/RC4/... (GW003), PSK/SRP (never negotiated without callbacks)
            continue
        out.append(s)
    return out


# --------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------


@rule("GW001", "tls-legacy-protocol", "high", files="nginx",
      refs="CWE-327; Moz-int 6.0; gixy weak_ssl_tls; sg insecure-ssl-version", fix="safe")
def tls_legacy_protocol(stack):
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


def _http_or_server_insert(stack, cfg, server, lines: list[str]):
    edit = http_insert_edit(stack, cfg, lines)
    if edit is None and server is not None:
        edit = insert_into_block_edit(stack, cfg, server, lines)
    return edit


@rule("GW002", "tls-protocols-default-legacy", "low", files="nginx+compose",
      refs="CWE-327; nginx CHANGES 1.27.3; OpenSSL 3.0 CHANGES; sg missing-ssl-version", fix="safe")
def tls_protocols_default_legacy(stack):
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
        for server in _servers(cfg):
            if not is_tls_server(server) or server.effective("ssl_protocols") is not None or opaque(stack, cfg, server, ("ssl_protocols",)):
                continue
            edit = _first_fix_per_cfg(done, cfg, lambda: _http_or_server_insert(stack, cfg, server, [f"ssl_protocols {target};"]))
            fix = Fix(f"add `ssl_protocols {target};`", (edit,)) if edit else None
            yield hit(node_loc(cfg, server),
                      f"TLS server without ssl_protocols: nginx {v.text} defaults to {' '.join(('TLSv1', 'TLSv1.1', 'TLSv1.2'))} "
                      "(before 1.27.3) and its OpenSSL is not known to refuse them",
                      fix=fix, snippet_key="ssl_protocols-default")


def _protocols_at(stack, cfg, node) -> list[str]:
    level = node.parent if node.parent is not None else node
    return effective_protocols(stack, cfg, level)[0]


@rule("GW003", "tls-weak-cipher", "high", files="nginx", refs="CWE-327; Moz-int 6.0; gixy weak_ssl_tls", fix="safe")
def tls_weak_cipher(stack):
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
def tls_cipher_not_intermediate(stack):
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
            for server in _servers(cfg):
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
                    yield hit(node_loc(cfg, server), "tls.profile modern: the default ssl_protocols include TLSv1.2, Mozilla modern 6.0 is TLSv1.3 only",
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
        for server in _servers(cfg):
            if not is_tls_server(server) or server.effective("ssl_ciphers") is not None or opaque(stack, cfg, server, ("ssl_ciphers", "ssl_protocols")):
                continue
            if not _has_tls12(effective_protocols(stack, cfg, server)[0]):
                continue
            bad = not_intermediate(evaluate_ciphers(NGINX_DEFAULT_CIPHERS))
            edit = _first_fix_per_cfg(done, cfg, lambda: _http_or_server_insert(stack, cfg, server, [f"ssl_ciphers {MOZ_INT_CIPHERS};"]))
            yield hit(node_loc(cfg, server),
                      f"TLS server without ssl_ciphers: nginx's default `{NGINX_DEFAULT_CIPHERS}` allows {_suites_text(bad)} under TLSv1.2",
                      fix=Fix("add the Mozilla intermediate 6.0 cipher list", (edit,)) if edit else None,
                      snippet_key="ssl_ciphers-default")


def _suites_text(suites: list[Suite]) -> str:
    names = [s.name for s in suites]
    if len(names) > 3:
        return ", ".join(names[:3]) + f" and {len(names) - 3} more"
    return ", ".join(names)


@rule("GW005", "tls-prefer-server-ciphers", "info", files="nginx", refs="Moz-int 6.0; gixy weak_ssl_tls", fix="safe")
def tls_prefer_server_ciphers(stack):
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
def tls_session_cache_missing(stack):
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
        for server in _servers(cfg):
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
            yield hit(node_loc(cfg, server), "TLS server without ssl_session_cache shared:…: TLSv1.2 clients repeat full handshakes",
                      fix=Fix("add `ssl_session_cache shared:MozSSL:10m; ssl_session_timeout 1d;`", (edit,)) if edit else None,
                      snippet_key="ssl_session_cache-missing")


ACME_RE = re.compile(r"\.well-known/acme-challenge|\.well-known/?$|acme-challenge", re.I)


def _is_acme(loc) -> bool:
    return loc.name == "location" and bool(ACME_RE.search(location_match(loc)[1]))


def _is_https_redirect(node) -> bool:
    if node.name == "return" and len(node.args) >= 2 and node.args[0] in ("301", "302", "303", "307", "308"):
        return node.args[1].lower().startswith("https://")
    if node.name == "return" and len(node.args) == 1:
        return node.args[0].lower().startswith("https://")
    if node.name == "rewrite" and len(node.args) >= 2:
        return node.args[1].lower().startswith("https://")
    return False


def _serves_content(loc) -> bool:
    """The level passes requests upstream or serves files (no return, not deny-all, not a redirect)."""
    if (loc.child("return") is not None):
        return False
    if any(c.name == "rewrite" and _is_https_redirect(c) for c in loc.children):
        return False
    if is_deny_all_only(loc):
        return False
    return True


def _published_ports(stack, svc) -> set[int] | None:
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
def http_not_redirected(stack):
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
        if not any(is_tls_server(s) for c in configs_of_service(stack, cfg) for s in _servers(c, http_only=True)):
            continue
        published = _published_ports(stack, cfg.service)
        for server in _servers(cfg, http_only=True):
            specs = listen_specs(server)
            plain = [s for s in specs if not s.ssl and not s.quic and s.port is not None]
            if not plain:
                continue
            if published is not None and not any(s.port in published for s in plain):
                continue
            if published is None and cfg.service is None and not any(s.port == 80 for s in plain):
                continue
            if any(_is_https_redirect(c) for c in server.children):
                continue
            if (server.child("return") is not None):
                continue
            if any(s.ssl for s in specs) and any(c.name == "if" and any(_is_https_redirect(x) for x in c.children) for c in server.children):
                continue
            offenders = [l for l in response_levels(server) if not (l.name == "location" and _is_acme(l))
                         and not any(_is_acme(a) for a in l.ancestors() if a.name == "location") and _serves_content(l)]
            if not offenders:
                continue
            port = next(s.port for s in plain if published is None or s.port in published)
            yield hit(node_loc(cfg, server),
                      f"plaintext server on published port {port} serves {_levels_text(offenders)} instead of redirecting to https://",
                      fix=_redirect_fix(stack, cfg, server), snippet_key=f"http-not-redirected:{port}")


def _redirect_fix(stack, cfg, server) -> Fix | None:
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
        return Fix("redirect everything but the ACME challenge to https://", (edit,), UNSAFE)
    edits = [delete_directive_edit(stack, c) for c in plain_listens]
    if not edits or any(e is None for e in edits):
        return None
    block = outer + "server {\n" + "".join(l + "\n" for l in keep) + outer + "}\n\n"
    edits.insert(0, Edit(Location(server.path, server.line, 1), block))
    return Fix("move the plaintext listeners to a server that redirects to https://", tuple(edits), UNSAFE)


def _gateway_mounts(svc) -> list[str]:
    return [m.target.rstrip("/") or "/" for m in svc.volumes if m.target and m.type in ("bind", "volume")]


@rule("GW008", "tls-cert-not-provided", "high", files="nginx+compose", refs="nginx ssl module docs")
def tls_cert_not_provided(stack):
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
        for server in _servers(cfg):
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
                    yield hit(node_loc(cfg, server), f"TLS server without {missing}: nginx refuses to start",
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


# --------------------------------------------------------------------------------------------
# headers
# --------------------------------------------------------------------------------------------


def _lacking(stack, cfg, server, has, content_only: bool) -> list:
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


def _add_header_fix(stack, cfg, server, levels: list, line: str, description: str, applicability: str = "safe") -> Fix | None:
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


def _http_servers(cfg):
    return _servers(cfg, http_only=True)


@rule("GW020", "hsts-missing", "medium", files="nginx", refs="CWE-319; RFC 6797; OSHP; gixy hsts_header", fix="unsafe")
def hsts_missing(stack):
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
        for server in _http_servers(cfg):
            if not is_tls_server(server):
                continue
            lacking = _lacking(stack, cfg, server, lambda hs: "strict-transport-security" in hs, False)
            if not lacking:
                continue
            yield hit(node_loc(cfg, server),
                      f"Strict-Transport-Security is not set at the gateway for {_levels_text(lacking)}",
                      fix=_add_header_fix(stack, cfg, server, lacking, line, "add HSTS (two years, includeSubDomains)", UNSAFE),
                      snippet_key="hsts-missing")


def _max_age(value: str) -> int | None:
    m = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.I)
    return int(m.group(1)) if m else None


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
def hsts_weak(stack):
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
def header_without_always(stack):
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
def security_header_dropped(stack):
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
            yield hit(node_loc(cfg, lvl), f"{_level_name(lvl)} has its own add_header, so it drops {names} of the enclosing level",
                      fix=Fix("copy the lost headers in", (edit,)) if edit else None,
                      snippet_key="dropped:" + ",".join(sorted(h.lname for h in lost)))


def _is_api_server(server) -> bool:
    for sn in server.children_named("server_name"):
        if any(a.lower().startswith("api.") or a.lower().startswith("api-") for a in sn.args):
            return True
    locs = [l for l in response_levels(server, content_only=True) if l.name == "location"]
    return bool(locs) and all("api" in re.findall(r"[a-z0-9]+", location_match(l)[1].lower()) or location_match(l)[0] == "@" for l in locs)


def _missing_header_rule(stack, lname, has, message, line_for, description, applicability="safe", tls_only=False):
    for cfg in stack.nginx_configs:
        for server in _http_servers(cfg):
            if tls_only and not is_tls_server(server):
                continue
            lacking = _lacking(stack, cfg, server, has, True)
            if not lacking:
                continue
            fix = None
            if line_for is not None:
                fix = _add_header_fix(stack, cfg, server, lacking, line_for(server), description, applicability)
            yield hit(node_loc(cfg, server), message.format(levels=_levels_text(lacking)), fix=fix, snippet_key=f"{lname}-missing")


@rule("GW024", "csp-missing", "medium", files="nginx", refs="CWE-693; OSHP", fix="unsafe")
def csp_missing(stack):
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
def nosniff_missing(stack):
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
def frame_protection_missing(stack):
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
def referrer_policy_unsafe(stack):
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
def deprecated_security_header(stack):
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
def isolation_headers_missing(stack):
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
def server_tokens_on(stack):
    """nginx discloses its version.

    ## What it does
    Flags each explicit `server_tokens on` or `build` (wherever it is), and each `server` whose
    effective `server_tokens` is nginx's default (`on`). The finding points at the directive when one
    is set, else at the `http` block (or the server, for a fragment) where `server_tokens off;`
    belongs — once per block.

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
        for server in _http_servers(cfg):
            if server.effective("server_tokens") is not None or opaque(stack, cfg, server, ("server_tokens",)):
                continue
            anchor = cfg.http if cfg.http.d is not None else server
            if not once(reported, anchor):
                continue
            edit = insert_into_block_edit(stack, cfg, anchor, ["server_tokens off;"])
            yield hit(node_loc(cfg, anchor), "server_tokens is not set: nginx defaults to `on` and shows its version in headers and error pages",
                      fix=Fix("add `server_tokens off;`", (edit,)) if edit else None,
                      snippet_key=f"server_tokens-missing:{anchor.name}")


@rule("GW035", "add-header-bad-arguments", "high", files="nginx", refs="nginx headers module docs", fix="safe")
def add_header_bad_arguments(stack):
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


def _add_to_level_edit(stack, cfg, level, directive: str, new_lines: list[str], skip=lambda n: False):
    """Insert ``new_lines`` into ``level``; when the level has none of ``directive`` (an array
    directive: add_header, limit_req, limit_conn, proxy_set_header), copy the inherited ones first so
    that adding does not drop them."""
    own = [c for c in level.children if c.name == directive]
    lines: list[str] = []
    if not own and not (directive == "add_header" and inherit_mode(level) in ("merge", "off")):
        parent = parent_level(level)
        inherited = parent.inherited(directive) if parent is not None else []
        for d in inherited:
            if skip(d):
                continue
            text = directive_text(stack, d)
            if text is None:
                return None
            lines.append(text)
    return add_to_level_edit(stack, cfg, level, directive, lines + new_lines)


@rule("GW036", "no-store-missing-on-auth", "info", files="nginx", refs="OSHP", fix="safe")
def no_store_missing_on_auth(stack):
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
        for server in _http_servers(cfg):
            for loc in walk_blocks(server, "location"):
                if not is_auth_location(stack, loc) or not _serves_content(loc) or opaque(stack, cfg, loc, HEADER_DIRECTIVES) or not once(seen, loc):
                    continue
                hs = effective_headers(loc)
                if any("no-store" in h.value.lower() for h in hs.get("cache-control", [])):
                    continue
                edit = _add_to_level_edit(stack, cfg, loc, "add_header", ['add_header Cache-Control "no-store" always;'],
                                          skip=lambda d: bool(d.args) and d.args[0].lower() == "cache-control")
                yield hit(nloc(loc), f"{_level_name(loc)}: Cache-Control no-store is not set at the gateway for an authentication path",
                          fix=Fix("add `Cache-Control: no-store`", (edit,)) if edit else None,
                          snippet_key="no-store:" + " ".join(loc.args))


# --------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------


def _per_ip_rates(stack, cfg, level) -> list[tuple[float, object]]:
    out = []
    for d in level.inherited("limit_req"):
        z = zone_for(stack, cfg, d)
        if z is not None and z.rate is not None and is_per_ip_key(z.key):
            out.append((z.rate, z))
    return out


def _rate_text(rate: float) -> str:
    return f"{rate:g} r/s"


def _limit_locations(server):
    for loc in walk_blocks(server, "location"):
        mod, _ = location_match(loc)
        if mod == "@" or loc.child("internal") is not None:
            continue
        yield loc


def _free_zone(zones, base: str) -> str:
    names = {k[2] for k in zones}
    if base not in names:
        return base
    i = 2
    while f"{base}{i}" in names:
        i += 1
    return f"{base}{i}"


def _req_zone(stack, cfg, name_hint: str, max_rate: float) -> tuple[str, Edit | None]:
    """A per-IP limit_req zone with rate <= max_rate (reused when one exists), and the edit that
    defines it otherwise."""
    zones = limit_zones(stack, cfg)
    for (scope, kind, name), z in sorted(zones.items(), key=lambda kv: (kv[0][2] != name_hint, kv[0][2])):
        if scope == "http" and kind == "req" and is_per_ip_key(z.key) and z.rate is not None and z.rate <= max_rate:
            return name, None
    name = _free_zone(zones, name_hint)
    rate = f"{int(max_rate)}r/s" if max_rate >= 1 else f"{int(max_rate * 60)}r/m"
    return name, http_insert_edit(stack, cfg, [f"limit_req_zone $binary_remote_addr zone={name}:10m rate={rate};"])


def _policy_num(stack, key: str, default: float) -> float:
    try:
        return float(stack.policy.get(key, default))
    except (TypeError, ValueError):
        return default


@rule("GW040", "rate-limit-missing", "medium", files="nginx", refs="CWE-770; nginx limit_req docs", fix="unsafe")
def rate_limit_missing(stack):
    """A location proxying to the application has no request-rate limit.

    ## What it does
    Flags each location (named and `internal` ones aside) that passes requests to an application —
    `proxy_pass`/`grpc_pass`/`fastcgi_pass`/… to a service that is not a database, cache, broker or
    monitoring service (unknown hosts count as applications) — with no `limit_req` in effect. A level
    with its own `limit_req` inherits none from above.

    ## Why is this bad?
    One client can send requests as fast as the network allows: scraping, credential stuffing and
    application-level DoS reach the app and its database unthrottled.

    ## Example
    ```nginx
    location /api/ { proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=general:10m rate=100r/s;   # http
    location /api/ { limit_req zone=general burst=50 nodelay; proxy_pass http://backend; }
    ```

    ## Fix safety
    Unsafe: clients behind one NAT share an address and may be throttled; check the rate
    (`gateway.rate_general`) against real traffic.

    ## References
    CWE-770; nginx ngx_http_limit_req_module documentation.
    """
    rate = _policy_num(stack, "gateway.rate_general", 100)
    for cfg in stack.nginx_configs:
        for server in _http_servers(cfg):
            for loc in _limit_locations(server):
                if not proxies_to_app(stack, cfg, loc) or loc.inherited("limit_req") or opaque(stack, cfg, loc, ("limit_req",)):
                    continue
                name, zone_edit = _req_zone(stack, cfg, "general", rate)
                loc_edit = insert_into_block_edit(stack, cfg, loc, [f"limit_req zone={name} burst=50 nodelay;"])
                edits = tuple(e for e in (zone_edit, loc_edit) if e is not None)
                fix = Fix(f"limit requests per client IP (zone {name})", edits, UNSAFE) if loc_edit is not None and (zone_edit is not None or name in {k[2] for k in limit_zones(stack, cfg)}) else None
                yield hit(nloc(loc), f"{_level_name(loc)} proxies to the application with no limit_req in effect",
                          fix=fix, snippet_key="rate-limit-missing:" + " ".join(loc.args))


@rule("GW041", "rate-limit-above-policy", "low", files="nginx", refs="seed")
def rate_limit_above_policy(stack):
    """The per-IP request rate allowed is above the policy.

    ## What it does
    For each location or server level with `limit_req` in effect, takes the strictest per-client-IP
    zone (`$binary_remote_addr`/`$remote_addr` key; `r/m` counts as rate/60) and flags its
    `limit_req_zone` when that rate exceeds `gateway.rate_general` (default 100 r/s).

    ## Why is this bad?
    A limit set above the capacity the stack was sized for does not protect it: one client can still
    use the share of hundreds of users.

    ## Example
    ```nginx
    limit_req_zone $binary_remote_addr zone=general:10m rate=1000r/s;
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=general:10m rate=100r/s;
    ```

    ## Fix safety
    Manual: the right rate depends on the traffic.

    ## References
    Seed targets (100 req/s per IP).
    """
    rate = _policy_num(stack, "gateway.rate_general", 100)
    seen: set = set()
    for cfg in stack.nginx_configs:
        for server in _http_servers(cfg):
            for lvl in [server] + list(_limit_locations(server)):
                rates = _per_ip_rates(stack, cfg, lvl)
                if not rates:
                    continue
                best, zone = min(rates, key=lambda t: t[0])
                if best <= rate or not once(seen, zone.node):
                    continue
                yield hit(nloc(zone.node), f"zone {zone.name} allows {_rate_text(best)} per client IP, above gateway.rate_general {rate:g} r/s",
                          snippet_key=f"rate-above:{zone.name}")


@rule("GW042", "auth-rate-limit-missing", "high", files="nginx", refs="CWE-307; OWASP ASVS V2.2", fix="unsafe")
def auth_rate_limit_missing(stack):
    """An authentication location has no strict per-IP rate limit.

    ## What it does
    Flags each location whose path has a `gateway.auth_paths` segment (auth, login, signin, token,
    oauth, password, register, otp) and that answers with content, when no per-client-IP `limit_req`
    is in effect there or the strictest one allows more than `gateway.rate_auth` (default 10 r/s).

    ## Why is this bad?
    Password guessing and credential stuffing are only bounded by the rate the gateway lets through:
    at the general 100 r/s one address tries 8.6 million passwords a day.

    ## Example
    ```nginx
    location /api/v1/oauth/ { limit_req zone=general burst=20 nodelay; proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=auth:10m rate=10r/s;   # http
    location /api/v1/oauth/ { limit_req zone=auth burst=5 nodelay; proxy_pass http://backend; }
    ```

    ## Fix safety
    Unsafe: legitimate bursts (a single sign-on redirect chain) may be throttled.

    ## References
    CWE-307; OWASP ASVS 4.0 V2.2 (anti-automation).
    """
    rate = _policy_num(stack, "gateway.rate_auth", 10)
    seen: set = set()
    for cfg in stack.nginx_configs:
        for server in _http_servers(cfg):
            for loc in _limit_locations(server):
                if not is_auth_location(stack, loc) or not _serves_content(loc) or not once(seen, loc):
                    continue
                rates = _per_ip_rates(stack, cfg, loc)
                if not rates and opaque(stack, cfg, loc, ("limit_req",)):
                    continue
                if rates and min(r for r, _ in rates) <= rate:
                    continue
                name, zone_edit = _req_zone(stack, cfg, "auth", rate)
                loc_edit = _add_to_level_edit(stack, cfg, loc, "limit_req", [f"limit_req zone={name} burst=5 nodelay;"])
                fix = None
                if loc_edit is not None and (zone_edit is not None or name in {k[2] for k in limit_zones(stack, cfg)}):
                    fix = Fix(f"limit the authentication path to {rate:g} r/s per IP (zone {name})",
                              tuple(e for e in (zone_edit, loc_edit) if e is not None), UNSAFE)
                if rates:
                    best, zone = min(rates, key=lambda t: t[0])
                    msg = f"{_level_name(loc)} is an authentication path limited to {_rate_text(best)} per IP (zone {zone.name}), above gateway.rate_auth {rate:g} r/s"
                else:
                    msg = f"{_level_name(loc)} is an authentication path with no per-IP limit_req (gateway.rate_auth {rate:g} r/s)"
                yield hit(nloc(loc), msg, fix=fix, snippet_key="auth-rate:" + " ".join(loc.args))


def _per_ip_conns(stack, cfg, level) -> list[tuple[int, object, object]]:
    out = []
    for d in level.inherited("limit_conn"):
        z = zone_for(stack, cfg, d)
        if z is not None and is_per_ip_key(z.key) and len(d.args) >= 2 and d.args[1].isdigit():
            out.append((int(d.args[1]), z, d))
    return out


@rule("GW043", "conn-limit-missing", "medium", files="nginx", refs="CWE-770; nginx limit_conn docs", fix="unsafe")
def conn_limit_missing(stack):
    """A proxied location has no per-IP connection limit.

    ## What it does
    Flags each location that passes requests upstream (`proxy_pass` and friends; named and
    `internal` locations aside) with no `limit_conn` on a per-client-IP zone in effect. A level with
    its own `limit_conn` inherits none from above.

    ## Why is this bad?
    One client can hold hundreds of slow connections (slowloris, long polls, large uploads) and
    exhaust the workers' connections and the app's pool. Over HTTP/2 each stream counts as a
    connection, so the limit also caps concurrent requests.

    ## Example
    ```nginx
    location /api/ { proxy_pass http://backend; }
    ```

    ## Use instead
    ```nginx
    limit_conn_zone $binary_remote_addr zone=perip:10m;   # http
    location /api/ { limit_conn perip 10; proxy_pass http://backend; }
    ```

    ## Fix safety
    Unsafe: clients behind one NAT share the limit (`gateway.conn_per_ip`).

    ## References
    CWE-770; nginx ngx_http_limit_conn_module documentation.
    """
    n_per_ip = int(_policy_num(stack, "gateway.conn_per_ip", 10))
    for cfg in stack.nginx_configs:
        for server in _http_servers(cfg):
            for loc in _limit_locations(server):
                if not is_proxied(loc) or _per_ip_conns(stack, cfg, loc) or opaque(stack, cfg, loc, ("limit_conn",)):
                    continue
                zones = limit_zones(stack, cfg)
                name = next((k[2] for k, z in sorted(zones.items(), key=lambda kv: kv[0][2])
                             if k[0] == "http" and k[1] == "conn" and is_per_ip_key(z.key)), None)
                zone_edit = None
                if name is None:
                    name = _free_zone(zones, "perip")
                    zone_edit = http_insert_edit(stack, cfg, [f"limit_conn_zone $binary_remote_addr zone={name}:10m;"])
                loc_edit = _add_to_level_edit(stack, cfg, loc, "limit_conn", [f"limit_conn {name} {n_per_ip};"])
                fix = None
                if loc_edit is not None and (zone_edit is not None or name in {k[2] for k in zones}):
                    fix = Fix(f"limit connections per client IP (zone {name})", tuple(e for e in (zone_edit, loc_edit) if e is not None), UNSAFE)
                yield hit(nloc(loc), f"{_level_name(loc)} is proxied with no per-IP limit_conn in effect (with HTTP/2 each stream counts as a connection)",
                          fix=fix, snippet_key="conn-limit-missing:" + " ".join(loc.args))


@rule("GW044", "conn-limit-above-policy", "low", files="nginx", refs="seed")
def conn_limit_above_policy(stack):
    """A per-IP connection limit is above the policy.

    ## What it does
    Flags `limit_conn <zone> N` on a per-client-IP zone when N exceeds `gateway.conn_per_ip`
    (default 10).

    ## Why is this bad?
    A generous per-IP limit lets a few clients occupy the connections sized for everyone.

    ## Example
    ```nginx
    limit_conn perip 100;
    ```

    ## Use instead
    ```nginx
    limit_conn perip 10;
    ```

    ## Fix safety
    Manual.

    ## References
    Seed targets (10 concurrent connections per IP).
    """
    limit = int(_policy_num(stack, "gateway.conn_per_ip", 10))
    seen: set = set()
    for cfg in stack.nginx_configs:
        for d in cfg.nodes("limit_conn"):
            if len(d.args) < 2 or not d.args[1].isdigit() or not once(seen, d):
                continue
            z = zone_for(stack, cfg, d)
            if z is None or not is_per_ip_key(z.key) or int(d.args[1]) <= limit:
                continue
            yield hit(nloc(d), f"limit_conn {d.args[0]} {d.args[1]}: {d.args[1]} connections per client IP, above gateway.conn_per_ip {limit}",
                      snippet_key=f"conn-above:{d.args[0]}:{d.args[1]}")


@rule("GW045", "limit-zone-undefined", "high", files="nginx", refs="nginx docs")
def limit_zone_undefined(stack):
    """`limit_req`/`limit_conn` names a zone that is not defined.

    ## What it does
    Flags `limit_req zone=X` and `limit_conn X …` when no `limit_req_zone … zone=X:` (resp.
    `limit_conn_zone`) exists in any configuration file the same gateway container loads.

    ## Why is this bad?
    `nginx -t` fails (`zero size shared memory zone "X"`): the gateway does not start, or the reload
    is refused and the old configuration keeps running.

    ## Example
    ```nginx
    location /login { limit_req zone=login burst=5; }   # no limit_req_zone … zone=login
    ```

    ## Use instead
    ```nginx
    limit_req_zone $binary_remote_addr zone=login:10m rate=10r/s;
    ```

    ## Fix safety
    Manual.

    ## References
    nginx ngx_http_limit_req_module and ngx_http_limit_conn_module documentation.
    """
    from ._nginx import limit_req_zone_name

    seen: set = set()
    for cfg in stack.nginx_configs:
        for d in cfg.nodes("limit_req", "limit_conn"):
            name = limit_req_zone_name(d) if d.name == "limit_req" else (d.args[0] if d.args else None)
            if not name or "$" in name or not once(seen, d):
                continue
            if zone_for(stack, cfg, d) is not None:
                continue
            kind = "limit_req_zone" if d.name == "limit_req" else "limit_conn_zone"
            yield hit(nloc(d), f"{d.name} uses zone '{name}' but no {kind} defines it: nginx -t fails (zero size shared memory zone)",
                      snippet_key=f"zone-undefined:{d.name}:{name}")


@rule("GW046", "limit-zone-unused", "info", files="nginx", refs="nginx docs")
def limit_zone_unused(stack):
    """A rate or connection zone is defined but never applied.

    ## What it does
    Flags a `limit_req_zone` / `limit_conn_zone` that no `limit_req` / `limit_conn` of the same
    gateway container uses.

    ## Why is this bad?
    The limit someone meant to apply is not applied (often a location that was renamed), and the
    zone's shared memory is reserved for nothing.

    ## Example
    ```nginx
    limit_conn_zone $server_name zone=perserver:10m;   # no limit_conn perserver …
    ```

    ## Use instead
    Apply it (`limit_conn perserver 1000;`) or delete it.

    ## Fix safety
    Manual.

    ## References
    nginx ngx_http_limit_req_module and ngx_http_limit_conn_module documentation.
    """
    seen: set = set()
    used_cache: dict = {}
    for cfg in stack.nginx_configs:
        key = tuple(id(c) for c in configs_of_service(stack, cfg))
        if key not in used_cache:
            used = set()
            for c in configs_of_service(stack, cfg):
                for d in c.nodes("limit_req", "limit_conn"):
                    z = zone_for(stack, c, d)
                    if z is not None:
                        used.add(id(z.node.d))
            used_cache[key] = used
        used = used_cache[key]
        for n in cfg.nodes("limit_req_zone", "limit_conn_zone"):
            if id(n.d) in used or not once(seen, n):
                continue
            zname = next((a[5:].split(":", 1)[0] for a in n.args if a.startswith("zone=")), "?")
            use = "limit_req" if n.name == "limit_req_zone" else "limit_conn"
            yield hit(nloc(n), f"{n.name} '{zname}' is never applied by a {use} directive", snippet_key=f"zone-unused:{zname}")


def _request_buffering_off(level) -> bool:
    eff = level.effective("proxy_request_buffering")
    return eff is not None and eff.args[:1] == ["off"]


def _body_levels(level):
    """Levels whose effective client_max_body_size is the directive at ``level``."""
    return [l for l in ([level] + list(walk_blocks(level, "location")))]


@rule("GW049", "body-size-unlimited", "medium", files="nginx", refs="CWE-770", fix="unsafe")
def body_size_unlimited(stack):
    """`client_max_body_size 0` disables the request body limit.

    ## What it does
    Flags `client_max_body_size 0`, except where every location it governs that passes requests
    upstream proxies to MinIO with `proxy_request_buffering off` (MinIO's documented proxy setup:
    S3 multipart uploads stream through).

    ## Why is this bad?
    Any client can send an arbitrarily large body: nginx buffers it to disk (`client_body_temp`)
    until the disk is full, or streams it to an app that was never meant to take it.

    ## Example
    ```nginx
    client_max_body_size 0;
    ```

    ## Use instead
    ```nginx
    client_max_body_size 10m;                      # http/server
    location /api/upload/ { client_max_body_size 500m; … }
    ```

    ## Fix safety
    Unsafe: uploads larger than `gateway.body_default_max` are refused with 413.

    ## References
    CWE-770; nginx ngx_http_core_module (client_max_body_size).
    """
    default = str(stack.policy.get("gateway.body_default_max", "10m"))
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("client_max_body_size"):
            if not n.args or size_bytes(n.args[0]) != 0 or not once(seen, n):
                continue
            level = n.parent
            governed = [l for l in _body_levels(level) if l.effective("client_max_body_size") is n and is_proxied(l)]
            if governed and all(proxies_to_minio(stack, cfg, l) and _request_buffering_off(l) for l in governed):
                continue
            edit = replace_args_edit(stack, n, default)
            yield hit(nloc(n), "client_max_body_size 0: request bodies of any size are accepted",
                      fix=Fix(f"set `client_max_body_size {default}`", (edit,), UNSAFE) if edit else None,
                      snippet_key="client_max_body_size 0")


@rule("GW050", "large-body-outside-uploads", "medium", files="nginx", refs="CWE-770; seed", fix="unsafe")
def large_body_outside_uploads(stack):
    """A large request-body limit applies beyond the upload locations.

    ## What it does
    Flags `client_max_body_size` above `gateway.body_default_max` (10m) in `http`, `server` or a
    location whose path has no `gateway.upload_paths` segment (upload, files, media, storage, s3), and
    above `gateway.upload_max` (500m) anywhere. `0` is GW049's.

    ## Why is this bad?
    Every endpoint — login, search, JSON APIs — then accepts bodies of hundreds of megabytes: cheap
    disk and memory exhaustion of nginx and the app.

    ## Example
    ```nginx
    server { client_max_body_size 500M; location /api/v1/upload/ { … } location /api/ { … } }
    ```

    ## Use instead
    ```nginx
    server { client_max_body_size 10m; location /api/v1/upload/ { client_max_body_size 500M; … } }
    ```

    ## Fix safety
    Unsafe: endpoints outside the upload paths that took large bodies get 413.

    ## References
    CWE-770; seed targets (500 MB uploads).
    """
    default_text = str(stack.policy.get("gateway.body_default_max", "10m"))
    upload_text = str(stack.policy.get("gateway.upload_max", "500m"))
    default_max = size_bytes(default_text) or 10 * 1024 ** 2
    upload_max = size_bytes(upload_text) or 500 * 1024 ** 2
    seen: set = set()
    for cfg in stack.nginx_configs:
        for n in cfg.nodes("client_max_body_size"):
            if not n.args:
                continue
            size = size_bytes(n.args[0])
            if not size or size <= default_max or not once(seen, n):
                continue
            level = n.parent
            loc = level if level.name == "location" else next((a for a in level.ancestors() if a.name == "location"), None) if level.name == "if" else None
            if size > upload_max:
                edit = replace_args_edit(stack, n, upload_text)
                yield hit(nloc(n), f"client_max_body_size {n.args[0]} is above gateway.upload_max {upload_text}",
                          fix=Fix(f"set `client_max_body_size {upload_text}`", (edit,), UNSAFE) if edit else None,
                          snippet_key=f"body-above-upload:{n.args[0]}")
                continue
            if loc is not None and is_upload_location(stack, loc):
                continue
            edits = [replace_args_edit(stack, n, default_text)]
            uploads = []
            if loc is None:
                for l in walk_blocks(level, "location"):
                    if is_upload_location(stack, l) and l.effective("client_max_body_size") is n:
                        if any(is_upload_location(stack, a) for a in l.ancestors() if a.name == "location"):
                            continue
                        uploads.append(l)
                        edits.append(insert_into_block_edit(stack, cfg, l, [f"client_max_body_size {n.args[0]};"]))
            fix = None
            if all(e is not None for e in edits):
                what = f"move it into {_levels_text(uploads)}" if uploads else f"set `client_max_body_size {default_text}`"
                fix = Fix(what, tuple(edits), UNSAFE)
            where = _level_name(loc) if loc is not None else ("http" if level.name == "http" or (level.d is None and level.root_name == "http") else "the server level")
            yield hit(nloc(n), f"client_max_body_size {n.args[0]} at {where} is above gateway.body_default_max {default_text} outside the upload locations",
                      fix=fix, snippet_key=f"large-body:{n.args[0]}")

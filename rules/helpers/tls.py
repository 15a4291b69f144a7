"""The OpenSSL cipher-string model the TLS rules share: every suite nginx can offer, what a cipher list
evaluates to, which families are weak, what the Mozilla intermediate profile allows."""

from __future__ import annotations

import re
from functools import lru_cache

from scanner.plain import frozen_error as _frozen

MOZ_INT_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                   "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
NGINX_DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5"


# --------------------------------------------------------------------------------------------
# OpenSSL cipher strings
# --------------------------------------------------------------------------------------------


class Suite:
    """A TLS cipher suite with OpenSSL's attributes."""

    name: str
    kx: str  # RSA ECDHE DHE ECDH DH PSK DHEPSK ECDHEPSK RSAPSK SRP
    au: str  # RSA ECDSA DSS NULL PSK SRP
    enc: str  # AESGCM AESCCM AESCCM8 CHACHA20 ARIAGCM AES CAMELLIA ARIA 3DES DES RC4 SEED IDEA NULL
    bits: int
    mac: str  # AEAD SHA1 SHA256 SHA384 MD5
    strength: str  # HIGH MEDIUM LOW EXPORT NONE

    __match_args__ = ("name", "kx", "au", "enc", "bits", "mac", "strength")

    def __init__(self, name, kx, au, enc, bits, mac, strength):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kx", kx)
        object.__setattr__(self, "au", au)
        object.__setattr__(self, "enc", enc)
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "mac", mac)
        object.__setattr__(self, "strength", strength)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.name, self.kx, self.au, self.enc, self.bits, self.mac, self.strength) == (other.name, other.kx, other.au, other.enc, other.bits, other.mac, other.strength)
        return NotImplemented

    def __hash__(self):
        return hash((self.name, self.kx, self.au, self.enc, self.bits, self.mac, self.strength))

    def __setattr__(self, name, value):
        if type(self) is Suite or name in ("name", "kx", "au", "enc", "bits", "mac", "strength"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Suite, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Suite or name in ("name", "kx", "au", "enc", "bits", "mac", "strength"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Suite, self).__delattr__(name)

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


class CipherEval:
    """The result of evaluating an OpenSSL cipher list."""

    suites: list[Suite]  # enabled TLS <= 1.2 suites, in order
    explicit: set[str]  # weak families named by an enabling token (PSK, SRP need one)
    tokens: list[str]

    __match_args__ = ("suites", "explicit", "tokens")

    def __init__(self, suites, explicit, tokens):
        self.suites = suites
        self.explicit = explicit
        self.tokens = tokens


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

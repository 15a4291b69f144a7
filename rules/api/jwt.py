"""API, JWT family: JWT settings live in dotenv files: API001 (HMAC key shorter than its hash; it
takes part in the secret value rules' "first match wins" order, see ``rules/helpers/secrets.py``),
API002 (``alg=none``), API004 (token lifetimes)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.locations import LazyRe, env_loc, env_value_loc
from rules.helpers.secrets import value_findings
from scanner.model import Edit, Fix, hit
from scanner.registry import rule
from scanner.secretcheck import value_dotenvs

if TYPE_CHECKING:
    from scanner.stack import Stack


def production_dotenvs(stack: Stack):
    """Dotenv documents the stack really loads: templates such as ``.env.example`` are skipped
    unless a service or compose interpolation loads them anyway."""
    return value_dotenvs(stack)


@rule("API001", "jwt-key-too-short", "high", files="env", refs="CWE-326; RFC 7518 §3.2; RFC 8725 §3.5", fix="unsafe")
def jwt_key_too_short(stack: Stack):
    """A JWT HMAC key is shorter than its hash.

    ## What it does
    Flags an HMAC signing key (`JWT_*SECRET*`, `*_SIGNING_KEY`) shorter than the output of the hash
    that `JWT_ALGORITHM` selects (HS256 by default): 32, 48 or 64 bytes for HS256, HS384, HS512.
    Pure hex and padded base64 values count their decoded bytes (`openssl rand -hex 32` is 32
    bytes). Non-HMAC algorithms (RS256, ES256, EdDSA) are skipped. A default or placeholder key is
    DATA004/DATA005 instead, an empty one DATA006.

    ## Why is this bad?
    RFC 7518 §3.2 requires a key at least as long as the hash. Any issued token lets an attacker
    brute-force a short or human-chosen key offline, then mint tokens for any user.

    ## Example
    ```sh
    JWT_SECRET=studios-dk-jwt-2024
    JWT_ALGORITHM=HS256
    ```

    ## Use instead
    ```sh
    JWT_SECRET=<openssl rand -hex 64>
    ```

    ## Fix safety
    Unsafe: writes a fresh 64-byte random key; every token issued with the old key stops
    validating (users log in again).

    ## References
    CWE-326; RFC 7518 §3.2; RFC 8725 §3.5.
    """
    yield from value_findings(stack, "API001", lambda sv, why: f"{sv.key} is an {why}: tokens can be brute-forced offline")


@rule("API002", "jwt-alg-none", "critical", files="env", refs="CWE-347; RFC 7518 §3.1; RFC 8725 §3.1", fix="unsafe")
def jwt_alg_none(stack: Stack):
    """JWTs are accepted with the `none` algorithm.

    ## What it does
    Flags `JWT_ALGORITHM` or `JWT_ALG` set to `none` (any case) in a dotenv file the stack loads.

    ## Why is this bad?
    An unsecured JWT (RFC 7518 §3.1) carries no signature: anyone can mint a token for any user,
    administrators included. RFC 8725 §3.1 says libraries must not accept it by default; a
    configuration that selects it switches authentication off.

    ## Example
    ```sh
    JWT_ALGORITHM=none
    ```

    ## Use instead
    ```sh
    JWT_ALGORITHM=HS256   # with a 256-bit random JWT_SECRET
    ```

    ## Fix safety
    Unsafe: tokens already issued stop validating.

    ## References
    CWE-347; RFC 7518 §3.1; RFC 8725 §3.1.
    """
    for doc in production_dotenvs(stack):
        for e in doc.entries:
            if e.key.upper() in ("JWT_ALGORITHM", "JWT_ALG") and e.value.strip().lower() == "none":
                fix = Fix("set HS256", (Edit(env_value_loc(doc, e), "HS256"),))
                yield hit(env_loc(doc, e), f"{e.key}=none: tokens are accepted without any signature",
                          fix=fix, snippet_key=e.key)


_TTL_WORD = LazyRe(r"(TTL|EXPIRY|EXPIRES?(_IN)?|EXPIRATION|LIFETIME|DURATION|MAX_AGE|VALIDITY|VALID_FOR)", re.I)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
                 "mins": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600,
                 "hours": 3600, "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800,
                 "weeks": 604800, "y": 31536000, "year": 31536000, "years": 31536000}
_KEY_UNIT = (("_MS", 0.001), ("_MILLIS", 0.001), ("_MILLISECONDS", 0.001), ("_SECONDS", 1), ("_SECS", 1),
             ("_SEC", 1), ("_MINUTES", 60), ("_MINS", 60), ("_MIN", 60), ("_HOURS", 3600), ("_HRS", 3600),
             ("_DAYS", 86400), ("_WEEKS", 604800))
_PART = LazyRe(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
ACCESS_MAX = 3600
REFRESH_MAX = 30 * 86400


def token_kind(key: str) -> str | None:
    """``access`` or ``refresh`` for a JWT lifetime setting, else None."""
    k = key.upper()
    if not _TTL_WORD.search(k):
        return None
    if "REFRESH" in k:
        return "refresh"
    if "JWT" in k or "ACCESS_TOKEN" in k or ("ACCESS" in k and "TOKEN" in k):
        return "access"
    return None


def lifetime_seconds(key: str, value: str) -> float | None:
    """Seconds of a lifetime: unit from the value (``15m``, ``7d``, ``1h30m``), else the key suffix
    (``_MS``, ``_MINUTES``, ``_HOURS``, ``_DAYS``), else seconds."""
    v = (value or "").strip().strip("\"'").lower()
    if not v or len(v) > 40:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", v):
        scale = next((f for suffix, f in _KEY_UNIT if key.upper().endswith(suffix)), 1)
        return float(v) * scale
    total = 0.0
    pos = 0
    for m in _PART.finditer(v):
        if m.start() != pos or m.group(2) not in _UNIT_SECONDS:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
        while pos < len(v) and v[pos] in " ,":
            pos += 1
    return total if pos == len(v) and total > 0 else None


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


@rule("API004", "jwt-long-lived", "low", files="env", refs="RFC 8725")
def jwt_long_lived(stack: Stack):
    """JWTs live too long.

    ## What it does
    Flags a JWT access-token lifetime over 1 hour, or a refresh-token lifetime over 30 days, in a
    dotenv file the stack loads (`JWT_ACCESS_TOKEN_TTL`, `ACCESS_TOKEN_EXPIRE_MINUTES`,
    `JWT_EXPIRES_IN`, `JWT_REFRESH_TOKEN_TTL`...). The unit comes from the value (`15m`, `7d`),
    else from the key's suffix (`_MS`, `_MINUTES`, `_HOURS`, `_DAYS`), else seconds.

    ## Why is this bad?
    A stateless JWT cannot be revoked before it expires: a stolen access token works for its whole
    lifetime, logouts and password changes included (RFC 8725). Short access tokens with rotating
    refresh tokens bound the damage.

    ## Example
    ```sh
    JWT_ACCESS_TOKEN_TTL=86400
    ```

    ## Use instead
    ```sh
    JWT_ACCESS_TOKEN_TTL=900        # 15 minutes
    JWT_REFRESH_TOKEN_TTL=1209600   # 14 days, rotated on use
    ```

    ## Fix safety
    Manual: shorter lifetimes change the clients' refresh behaviour.

    ## References
    RFC 8725.
    """
    for doc in production_dotenvs(stack):
        for e in doc.entries:
            kind = token_kind(e.key)
            if kind is None or "$" in e.value:
                continue
            seconds = lifetime_seconds(e.key, e.value)
            if seconds is None:
                continue
            limit = ACCESS_MAX if kind == "access" else REFRESH_MAX
            if seconds > limit:
                yield hit(env_loc(doc, e),
                          f"{e.key}: {kind} tokens live {_human(seconds)} > {_human(limit)} (a stolen token cannot be revoked before it expires)",
                          snippet_key=e.key)

"""Secret *values*: which are product defaults, placeholders, weak, or a provider's token, and where
a stack keeps them.

Two halves:

- **value classifiers**, pure functions of a key name and a value: ``provider_token`` (gitleaks-style
  provider patterns; APP032 imports it), ``default_credential``, ``placeholder``, ``weakness``,
  ``decoded_bytes``, ``entropy``, ``generate_secret``. Entropy is never the only test: lists and
  lengths come first (``SuperSecretPassword2024!`` scores 3.94 bits/char, more than
  ``openssl rand -hex 32``).
- **where secrets live**: ``secret_values(stack)`` lists every positioned secret-bearing value the
  value rules check (dotenv, compose ``environment:``, compose ``command``/``entrypoint``/
  ``healthcheck.test`` flags, ``${VAR:-default}`` defaults, nats.conf, prometheus.yml), and
  ``secret_strings(stack)`` every secret text the engine's safety net may mask in free text (those
  decoded, Dockerfile ``ENV``/``ARG``, and the source text of every secret span of every file:
  ``scanner.spans`` is the one definition of a secret position).

Nothing here raises on odd input: the engine calls ``secret_strings`` outside the rule sandbox.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from .model import Location
from .parsers.base import LINE_BREAK
from .secrets import is_reference, is_secret_key, url_password
from .spans import FLAG_WORDS, is_secret_flag, spans_of
from .lazyre import LazyRe
from .caches import per_stack

__all__ = [
    "provider_token", "find_provider_tokens", "generic_api_keys", "may_hold_generic_key", "entropy", "decoded_bytes",
    "key_category", "is_jwt_hmac_key", "jwt_min_bytes", "default_credential", "placeholder",
    "weakness", "looks_like_setting", "generate_secret", "SecretValue", "secret_values",
    "secret_strings", "command_secrets", "loaded_dotenvs", "value_dotenvs", "purpose",
]

# ---------------------------------------------------------------------------------------------
# provider tokens (gitleaks config/gitleaks.toml, simplified to what a config file holds)
# ---------------------------------------------------------------------------------------------

# (name, literal prefixes one of which every match contains, pattern): the prefixes let a file
# without any of them skip the pattern (most files hold no token at all)
_PROVIDERS: list[tuple[str, tuple[str, ...], "LazyRe"]] = [
    ("AWS access key ID", ("AKIA", "ASIA", "A3T", "ABIA", "ACCA"),
     LazyRe(r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b")),
    ("Stripe live secret key", ("_live_", "_prod_"), LazyRe(r"\b((?:sk|rk)_(?:live|prod)_[A-Za-z0-9]{10,99})\b")),
    ("SendGrid API key", ("SG.",), LazyRe(r"\b(SG\.[A-Za-z0-9_\-]{20,24}\.[A-Za-z0-9_\-]{39,50})\b")),
    ("Mailgun API key", ("key-",), LazyRe(r"\b((?:key|pubkey)-[a-f0-9]{32})\b")),
    ("Slack token", ("xox",), LazyRe(r"\b(xox[abposre]-[0-9A-Za-z]{8,}-[0-9A-Za-z-]{8,})")),
    ("Slack webhook URL", ("hooks.slack.com",),
     LazyRe(r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{20,}(?:/[A-Za-z0-9+/]+)*)")),
    ("GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), LazyRe(r"\b((?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{36})\b")),
    ("GitHub fine-grained token", ("github_pat_",), LazyRe(r"\b(github_pat_[0-9A-Za-z_]{82})\b")),
    ("GitLab token", ("glpat-",), LazyRe(r"\b(glpat-[0-9A-Za-z_\-]{20,})\b")),
    ("Sentry auth token", ("sntrys_", "sntryu_"), LazyRe(r"\b(sntry[su]_[A-Za-z0-9+/=_]{40,})")),
    ("Google API key", ("AIza",), LazyRe(r"\b(AIza[0-9A-Za-z_\-]{35})\b")),
    ("OpenAI API key", ("T3BlbkFJ",),
     LazyRe(r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,400}T3BlbkFJ[A-Za-z0-9_\-]{20,})\b")),
    ("Anthropic API key", ("sk-ant-",), LazyRe(r"\b(sk-ant-(?:api03|admin01)-[A-Za-z0-9_\-]{80,})")),
    ("npm token", ("npm_",), LazyRe(r"\b(npm_[A-Za-z0-9]{36})\b")),
    ("DigitalOcean token", ("_v1_",), LazyRe(r"\b(do[opr]_v1_[a-f0-9]{64})\b")),
    ("private key", ("PRIVATE KEY",), LazyRe(r"(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)")),
    ("JSON Web Token", ("eyJ",), LazyRe(r"\b(eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_-]{15,}\.[A-Za-z0-9_\-]*)")),
]


def provider_token(value: str | None) -> str | None:
    """Name of the provider whose token ``value`` contains ("Stripe live secret key", "AWS access
    key ID", "GitHub token", "private key", "JSON Web Token"...), or ``None``.

    gitleaks-style patterns for the providers a production stack uses (AWS, Stripe, SendGrid,
    Mailgun, Slack, GitHub, GitLab, Sentry, Google, OpenAI, Anthropic, npm, DigitalOcean),
    PEM private-key blocks and JWTs. Test-mode keys (``sk_test_``) are not provider matches. A
    generic high-entropy string is not a provider match either (see ``generic_api_keys``): DATA009's
    provider match replaces DATA012/APP032 on that value, a generic one does not.
    """
    if not isinstance(value, str) or len(value) < 8:
        return None
    for name, prefixes, pattern in _PROVIDERS:
        if any(p in value for p in prefixes) and pattern.search(value):
            return name
    return None


def find_provider_tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """Every provider token in ``text``: (provider name, start offset, end offset)."""
    if not isinstance(text, str) or not text:
        return
    # DATA009/DATA010 and the redactor scan every file of a stack: the second scan is a cache hit
    yield from (_provider_tokens_cached(text) if len(text) <= 1_000_000 else _provider_tokens(text))


@lru_cache(maxsize=32)
def _provider_tokens_cached(text: str) -> tuple[tuple[str, int, int], ...]:
    return tuple(_provider_tokens(text))


def _provider_tokens(text: str) -> Iterator[tuple[str, int, int]]:
    seen: list[tuple[int, int]] = []
    for name, prefixes, pattern in _PROVIDERS:
        if not any(p in text for p in prefixes):
            continue
        for m in pattern.finditer(text):
            a, b = m.span(1)
            if any(a < y and x < b for x, y in seen):
                continue
            seen.append((a, b))
            yield name, a, b


_GENERIC = LazyRe(
    r"(?i)(?<![A-Za-z0-9])[\w.-]{0,40}?(?:api[_-]?key|apikey|secret|token|auth[_-]?key|access[_-]?key|credentials?)"
    # the separator: an operator between optional blanks, or blanks alone (blanks around a blank made a
    # run of blanks quadratic)
    r"[\w.-]{0,20}[\"']?(?:[ \t]*(?:=>|:=|[:=])[ \t]*|[ \t]+)[\"'`]?(?:bearer[ \t]+|token[ \t]+)?([A-Za-z0-9+/_.=-]{16,200})"
)


_GENERIC_WORDS_HINT = ("key", "secret", "token", "credential")


def may_hold_generic_key(text: str) -> bool:
    """False when no line of ``text`` can hold a generic API key (no key-like word at all): callers
    skip the per-line scan of most files with one look at the whole text."""
    low = text.lower()
    return any(w in low for w in _GENERIC_WORDS_HINT)


def generic_api_keys(line: str) -> Iterator[tuple[int, int]]:
    """Spans of generic API keys in one line (gitleaks ``generic-api-key``): a key-like word (api
    key, secret, token, credential) followed by a value of 16+ characters mixing letters and
    digits with an entropy of at least 3.5 bits/char. Passwords are not generic keys (other rules
    own them); references, paths and placeholders are skipped."""
    if not isinstance(line, str) or len(line) > 4000:
        return
    low = line.lower()
    for w in _GENERIC_WORDS_HINT:
        if w in low:
            break
    else:
        return
    for m in _GENERIC.finditer(line):
        value = m.group(1).rstrip("=") or m.group(1)
        if not (re.search(r"[A-Za-z]", value) and re.search(r"\d", value)):
            continue
        if value.startswith(("/", ".")) or "$" in value or placeholder(value):
            continue
        if re.fullmatch(r"[\w.-]+\.(conf|pem|key|crt|json|ya?ml|txt|sql|sh)", value, re.I):
            continue
        if entropy(value) < 3.5:
            continue
        yield m.span(1)


# ---------------------------------------------------------------------------------------------
# measuring a value
# ---------------------------------------------------------------------------------------------


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


_HEX = LazyRe(r"[0-9a-fA-F]+")
_B64_PADDED = LazyRe(r"[A-Za-z0-9+/]+={1,2}|[A-Za-z0-9_-]+={1,2}")


def decoded_bytes(value: str) -> int:
    """Key length in bytes: pure hex and padded base64 count their decoded bytes, anything else
    its UTF-8 bytes (RFC 7518 §3.2 counts key bytes; ``openssl rand -hex 32`` is 32 bytes)."""
    v = value.strip()
    if len(v) >= 2 and len(v) % 2 == 0 and _HEX.fullmatch(v):
        return len(v) // 2
    if len(v) % 4 == 0 and _B64_PADDED.fullmatch(v):
        return len(v) // 4 * 3 - (len(v) - len(v.rstrip("=")))
    return len(v.encode("utf-8", "replace"))


_JWT_KEY_END = LazyRe(r"(?:SIGNING_?(KEY|SECRET)|JWT_?(SIGNING_?)?KEY)$", re.I)
JWT_HMAC_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def is_jwt_hmac_key(key: str) -> bool:
    """``JWT_*SECRET*`` and ``*_SIGNING_KEY`` names (API001)."""
    return _jwt_key_name(key or "") and not re.search(r"_(FILE|PATH)$", key or "", re.I)


def _in_order(line: str, first: str, then: str) -> bool:
    """``first.*then`` on one line, without the regex's search from every ``first`` (quadratic on a
    long key made of ``JWT``)."""
    i = line.find(first)
    return i >= 0 and line.rfind(then) >= i + len(first)


def _jwt_key_name(key: str) -> bool:
    lines = key.upper().split("\n")
    return (any(_in_order(x, "JWT", "SECRET") or _in_order(x, "SECRET", "JWT") for x in lines)
            or _JWT_KEY_END.search(key) is not None)


def jwt_min_bytes(algorithm: str | None) -> int | None:
    """Bytes an HMAC key needs for ``algorithm`` (default HS256); None for non-HMAC algorithms."""
    alg = (algorithm or "HS256").strip().upper() or "HS256"
    return JWT_HMAC_BYTES.get(alg)


_CAT_PASSWORD = LazyRe(r"PASS|PWD|REQUIREPASS|MASTERAUTH")
_CAT_ISSUED = LazyRe(r"CLIENT_?SECRET|SECRET_?ACCESS_?KEY|^(S3|MINIO|AWS|STORAGE)_")
_CAT_KEY = LazyRe(r"SECRET|SIGNING|ENCRYPTION|HMAC|MASTER_?KEY|JWT_?KEY|PRIVATE_?KEY")


@lru_cache(maxsize=4096)
def key_category(key: str) -> str:
    """``password``, ``key`` (signing/encryption key material, counted in decoded bytes) or
    ``token`` (other API keys and tokens), from the key name."""
    k = (key or "").upper().lstrip("-")
    if _CAT_PASSWORD.search(k) or k in ("A", "P"):
        return "password"
    if _CAT_ISSUED.search(k):
        return "token"
    if _CAT_KEY.search(k):
        return "key"
    return "token"


_BOOLEAN = {"true", "false", "yes", "no", "on", "off", "null", "none"}
_DURATION = LazyRe(r"(?i)(\d+(\.\d+)?(ms|s|m|h|d|w|y))+")


def looks_like_setting(value: str) -> bool:
    """A boolean or a duration (``true``, ``15m``, ``1h30m``): a setting *about* a secret, never a
    secret. Plain numbers are not settings here: ``123456`` is a (terrible) password."""
    v = (value or "").strip()
    return v.lower() in _BOOLEAN or bool(_DURATION.fullmatch(v))


# ---------------------------------------------------------------------------------------------
# the lists (rules catalog DATA004, DATA005)
# ---------------------------------------------------------------------------------------------

_DEFAULTS = {
    "minioadmin": "MinIO default",
    "guest": "RabbitMQ's default account",
    "admin": "common product default",
    "postgres": "PostgreSQL image default",
}
_JWT_DEFAULTS = {"your-256-bit-secret": "jwt.io example key", "secret": "the JWT libraries' example key",
                 "your-secret-key": "the documentation's example key"}
_PLACEHOLDER_PREFIXES = ("changeme", "change_me", "change-me", "changeit", "password", "passw0rd", "secret",
                         "default", "test", "example", "dummy", "sample", "todo", "replace_me", "replaceme",
                         "your_", "your-", "<", "xxx", "123456", "qwerty", "letmein", "root")
_COMMON = {"password", "admin", "administrator", "welcome", "letmein", "qwerty", "monkey", "dragon", "master",
           "login", "iloveyou", "sunshine", "princess", "football", "baseball", "shadow", "superman",
           "trustno", "secret", "root", "toor", "changeme", "default", "guest", "user", "test", "demo",
           "pass", "abc", "hello", "freedom", "whatever", "starwars", "access"}
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"})


def default_credential(key: str, value: str) -> str | None:
    """Why ``value`` is a product default ("MinIO default"), or None (DATA004)."""
    v = (value or "").strip()
    low = v.lower()
    if is_jwt_hmac_key(key) and low in _JWT_DEFAULTS:
        return _JWT_DEFAULTS[low]
    return _DEFAULTS.get(low)


def placeholder(value: str) -> str | None:
    """The placeholder prefix ``value`` starts with ("changeme"...), or None (DATA005)."""
    low = (value or "").strip().lower()
    if not low:
        return None
    for prefix in _PLACEHOLDER_PREFIXES:
        if low.startswith(prefix):
            return prefix
    return None


_WORD_THEN_DIGITS = LazyRe(r"[^A-Za-z0-9]{0,2}([A-Za-z][A-Za-z_.@ -]*?)[-_.@#]?\d{1,8}[^A-Za-z0-9]{0,3}")
_DIGITS_THEN_WORD = LazyRe(r"[^A-Za-z0-9]{0,2}\d{1,8}[-_.@#]?([A-Za-z][A-Za-z_.@ -]*?)[^A-Za-z0-9]{0,3}")


def _wordlike(letters: str) -> bool:
    """Dictionary-looking words: lower, Capitalized or ALL-CAPS words (camel or separated), at most
    four, every word of 4+ letters with a vowel. Random letters fail (``DTJpsHXGVG`` does)."""
    parts = [p for p in re.split(r"[_.@ -]+", letters) if p]
    words: list[str] = []
    for part in parts:
        if part.isupper() or part.islower():
            words.append(part)
            continue
        pieces = re.findall(r"[A-Z][a-z]+|[a-z]+", part)
        if "".join(pieces) != part or any(len(p) < 3 and p[0].isupper() for p in pieces[1:]):
            return False
        words.extend(pieces)
    if not words or len(words) > 4 or sum(len(w) for w in words) < 3:
        return False
    upper = [w.isupper() and len(w) > 1 for w in words]
    if any(upper) and not all(upper) and sum(upper) > 1:
        return False
    return all((len(w) < 4 or re.search(r"[aeiouy]", w, re.I)) and not re.search(r"[^aeiouy]{5}", w, re.I)
               for w in words)


def _word_digits(v: str) -> bool:
    """Words and short numbers: ``Studios2024!``, ``2024Studios``, ``Company_Prod_2024``,
    ``SuperSecretPassword2024!StudiosDK2024``."""
    for pattern in (_WORD_THEN_DIGITS, _DIGITS_THEN_WORD):
        m = pattern.fullmatch(v)
        if m and _wordlike(m.group(1)):
            return True
    tokens = re.findall(r"[A-Za-z]+|\d+|[^A-Za-z\d]+", v)
    if not 2 <= len(tokens) <= 8:
        return False
    letters = [t for t in tokens if t[0].isalpha()]
    digits = [t for t in tokens if t[0].isdigit()]
    other = [t for t in tokens if not t[0].isalnum()]
    return (1 <= len(letters) <= 4 and digits and all(len(d) <= 4 for d in digits) and all(len(o) <= 2 for o in other)
            and all(_wordy(t) for t in letters))


def _wordy(token: str) -> bool:
    """Stricter than ``_wordlike``, for values of several chunks: camel-case words of 3+ letters
    with English-like vowels (a trailing acronym such as ``DK`` allowed)."""
    token = re.sub(r"(?<=[a-z]{3})[A-Z]{2,4}$", "", token)
    if token.isupper():
        token = token.lower()
    pieces = re.findall(r"[A-Z]?[a-z]+", token)
    if "".join(pieces) != token or not 1 <= len(pieces) <= 4:
        return False
    for p in pieces:
        low = p.lower()
        vowels = sum(1 for ch in low if ch in "aeiouy")
        if len(p) < 3 or vowels / len(p) < 0.25 or re.search(r"[^aeiouy]{4}", low):
            return False
    return True


def _sequential(v: str) -> bool:
    if len(v) < 6:
        return False
    steps = [ord(b) - ord(a) for a, b in zip(v, v[1:])]
    ups = sum(1 for s in steps if s == 1)
    downs = sum(1 for s in steps if s == -1)
    return max(ups, downs) >= 0.7 * len(steps)


def _repeated(v: str) -> bool:
    if len(v) < 4:
        return False
    m = re.fullmatch(r"(.+?)\1+", v, re.S)
    if m and len(m.group(1)) <= len(v) // 2:
        return True
    longest = max(len(m.group(0)) for m in re.finditer(r"(.)\1*", v, re.S))
    return longest >= max(4, len(v) // 3)


def weakness(key: str, value: str, min_password_len: int = 16, min_key_bytes: int = 32) -> list[str]:
    """Why ``value`` is weak for ``key`` (DATA007), most telling first; [] when it is not.

    Length per kind of secret (password: characters; signing/encryption key: bytes after hex or
    padded base64 decoding; other API keys and tokens: 16 characters), a word followed by digits
    (``Studios2024!``), a common password under leetspeak, repeated or sequential characters. A
    low entropy (< 3.0 bits/char) is only ever added to another reason."""
    v = value or ""
    if not v or len(v) > 4096:
        return []
    reasons: list[str] = []
    cat = key_category(key)
    if cat == "password":
        if len(v) < min_password_len:
            reasons.append(f"{len(v)} chars < {min_password_len}")
    elif cat == "key":
        n = decoded_bytes(v)
        if n < min_key_bytes:
            reasons.append(f"{n} bytes < {min_key_bytes}")
    elif len(v) < 16:
        reasons.append(f"{len(v)} chars < 16")
    if len(v) <= 64:
        if _word_digits(v):
            reasons.append("word + digits")
        core = re.sub(r"^[^A-Za-z0-9@$]+|[\d\W_]+$", "", v).lower().translate(_LEET)
        if core in _COMMON and "word + digits" not in reasons:
            reasons.append("a common password")
        if _repeated(v) or _sequential(v):
            reasons.append("repeated or sequential characters")
    if reasons and entropy(v) < 3.0:
        reasons.append(f"low entropy ({abs(entropy(v)):.1f} bits/char)")
    return reasons


def generate_secret(key: str = "", jwt: bool | None = None) -> str:
    """A fresh random value suited to ``key``: 64 random bytes (128 hex digits) for JWT/HMAC keys,
    32 random bytes in hex for other key material and API tokens, 32 URL-safe bytes (43 characters,
    safe inside a DSN) for passwords."""
    import secrets as _random  # only when a fix needs a new value: a stack without weak secrets never does

    if jwt if jwt is not None else is_jwt_hmac_key(key):
        return _random.token_hex(64)
    cat = key_category(key)
    if cat in ("key", "token"):
        return _random.token_hex(32)
    while True:
        v = _random.token_urlsafe(32)
        if v[0].isalnum():
            return v


# ---------------------------------------------------------------------------------------------
# purpose of a secret (DATA008): both ends of one credential share a purpose
# ---------------------------------------------------------------------------------------------

_FAMILIES = (
    ("db", {"POSTGRES", "POSTGRESQL", "PG", "PGPASSWORD", "DB", "DATABASE", "SQL", "MYSQL", "MARIADB", "PSQL"}),
    ("redis", {"REDIS", "VALKEY", "KEYDB", "REQUIREPASS", "MASTERAUTH"}),
    ("s3", {"MINIO", "S3", "AWS", "STORAGE", "BUCKET"}),
    ("nats", {"NATS"}),
    ("smtp", {"SMTP", "EMAIL", "MAIL", "SENDGRID", "MAILGUN"}),
    ("amqp", {"RABBITMQ", "AMQP", "BROKER"}),
)
_SCHEMES = {"postgres": "db", "postgresql": "db", "mysql": "db", "mariadb": "db", "redis": "redis",
            "rediss": "redis", "nats": "nats", "amqp": "amqp", "amqps": "amqp", "smtp": "smtp", "smtps": "smtp",
            "s3": "s3"}
_ROLE_FAMILY = {"postgres": "db", "redis": "redis", "minio": "s3", "nats": "nats"}
_GENERIC_WORDS = {"PASSWORD", "PASS", "PASSWD", "PWD", "SECRET", "TOKEN", "KEY", "API", "APIKEY", "URL", "DSN",
                  "URI", "VALUE", "ROOT", "REQUIREPASS", "A", "P", ""}


def purpose(sv: "SecretValue") -> str | frozenset | None:
    """What a secret is for: a service family (``db``, ``redis``, ``s3``, ``nats``, ``smtp``,
    ``amqp``) when the name, URL scheme or service says so, else the set of meaningful words of its
    name (``{JWT, REFRESH}``); None when nothing is known (a bare ``password:``)."""
    if sv.source == "url" and sv.scheme in _SCHEMES:
        return _SCHEMES[sv.scheme]
    tokens = {t for t in re.split(r"[^A-Z0-9]+", sv.key.upper().lstrip("-")) if t}
    for family, words in _FAMILIES:
        if tokens & words:
            return family
    if sv.service is not None and getattr(sv.service, "role", "") in _ROLE_FAMILY:
        return _ROLE_FAMILY[sv.service.role]
    if sv.kind == "nats":
        return "nats"
    rest = frozenset(tokens - _GENERIC_WORDS)
    return rest or None


# ---------------------------------------------------------------------------------------------
# where a stack keeps its secrets
# ---------------------------------------------------------------------------------------------


@dataclass(repr=False, eq=False)
class SecretValue:
    """One secret-bearing value of the stack, positioned.

    ``loc`` is where a finding about it points (the key for dotenv files, the value elsewhere);
    ``span`` the exact text of the value in the file (for a fix), None when it cannot be located
    exactly; ``quote`` the quote character around it in the file, if any."""

    key: str
    value: str
    kind: str  # file kind: env, compose, nats, prometheus
    source: str  # dotenv, url, environment, empty-ref, default, command, nats, prometheus
    path: str
    loc: Location
    span: Location | None = None
    where: str = ""  # "service 'db'", "job 'backend'"...
    service: object | None = None
    doc: object | None = None
    entry: object | None = None
    scheme: str = ""  # URL scheme for source == "url"
    ref: str = ""  # the variable whose ${VAR:-default} this is, for source == "default"

    @property
    def line(self) -> int:
        return self.loc.start_line

    def label(self) -> str:
        """How a message names the value: ``service 'db': POSTGRES_PASSWORD``, ``the password in
        DATABASE_URL``... never the value."""
        name = f"the password in {self.key}" if self.source == "url" else \
            f"the fallback value of ${{{self.ref or self.key}}}" if self.source == "default" else self.key
        return f"{self.where}: {name}" if self.where else name


def loaded_dotenvs(stack) -> set[str]:
    """Dotenv files the stack really loads: ``env_file:`` entries and compose interpolation sources."""
    out: set[str] = set()
    try:
        for doc in stack.compose_docs:
            out.update(getattr(doc, "env_sources", []) or [])
        for svc in stack.services:
            for d in stack.service_dotenvs(svc):
                out.add(d.path)
    except Exception:  # noqa: BLE001
        pass
    return out


def value_dotenvs(stack) -> list:
    """Dotenv documents the value rules read: not templates (``*.example``, ``*.sample``, ``*.dist``),
    unless the stack loads them anyway."""
    loaded = loaded_dotenvs(stack)
    return [sf.doc for sf in stack.sources("env") if not sf.template or sf.rel in loaded]


def _line_find(doc, node, needle: str, start_after: int = 0) -> Location | None:
    """Location of ``needle`` inside the source lines of ``node`` (first match at/after its start)."""
    if not needle:
        return None
    first = getattr(node, "line", 1)
    last = max(first, getattr(node, "end_line", first) or first)
    for no in range(first, last + 1):
        text = doc.line_text(no)
        begin = (getattr(node, "col", 1) - 1 + start_after) if no == first else 0
        i = text.find(needle, max(0, begin))
        if i >= 0:
            return Location(doc.path, no, i + 1, no, i + 1 + len(needle))
    return None


def _env_value_span(doc, e) -> Location | None:
    """Span of a dotenv value without its quotes (None for multi-line values)."""
    if e.value_line != e.end_line:
        return None
    if not e.has_equals:
        return Location(doc.path, e.value_line, e.value_col)  # insertion point after the key
    q = 1 if e.quote else 0
    return Location(doc.path, e.value_line, e.value_col + q, e.end_line, e.end_col - q)


def _dotenv_values(doc) -> Iterator[SecretValue]:
    for e in doc.entries:
        key = e.key
        pw = url_password(e.value) if e.value else None
        if pw is not None:
            span = None
            if e.value_line == e.end_line and e.quote != '"':
                raw_i = e.raw_value.find(":" + pw + "@")
                if raw_i >= 0:
                    col = e.value_col + raw_i + 1
                    span = Location(doc.path, e.value_line, col, e.value_line, col + len(pw))
            scheme = e.value.split(":", 1)[0].lower()
            yield SecretValue(key, pw, "env", "url", doc.path, Location(doc.path, e.line, e.col), span,
                              doc=doc, entry=e, scheme=scheme)
            continue
        if not is_secret_key(key):
            continue
        if "$" in e.value and e.quote != "'":
            for name, default, col in _defaults_named(e.raw_value):
                if is_reference(default) or looks_like_setting(default):
                    continue
                span = Location(doc.path, e.value_line, e.value_col + col, e.value_line, e.value_col + col + len(default)) \
                    if e.value_line == e.end_line else None
                yield SecretValue(key, default, "env", "default", doc.path, Location(doc.path, e.line, e.col), span,
                                  doc=doc, entry=e, ref=name)
            continue
        if e.value and is_reference(e.value):
            continue
        yield SecretValue(key, e.value, "env", "dotenv", doc.path, Location(doc.path, e.line, e.col),
                          _env_value_span(doc, e), doc=doc, entry=e)


_DEFAULT_RE = LazyRe(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)([^${}]*)\}")


def _defaults_in(raw: str) -> Iterator[tuple[str, int]]:
    """Literal ``${VAR:-default}`` defaults in raw text: (default, 0-based offset)."""
    for name, default, offset in _defaults_named(raw):
        yield default, offset


def _defaults_named(raw: str) -> Iterator[tuple[str, str, int]]:
    for m in _DEFAULT_RE.finditer(raw or ""):
        if m.start() > 0 and raw[m.start() - 1] == "$":
            continue  # $${...}: escaped
        if m.group(3):
            yield m.group(1), m.group(3), m.start(3)


def _yloc(path: str, node) -> Location:
    return Location(path, node.line, node.col, node.end_line, node.end_col)


def _scalar_span(doc, node, raw: str | None = None) -> Location | None:
    """Span of a scalar's text without quotes, when it sits on one line."""
    from .parsers.yamlnodes import YScalar

    if not isinstance(node, YScalar) or node.line != node.end_line:
        return None
    if raw is not None:
        return _line_find(doc, node, raw) if raw else None
    q = 1 if node.style in ("'", '"') else 0
    if node.style not in ("", "'", '"'):
        return None
    return Location(doc.path, node.line, node.col + q, node.end_line, node.end_col - q)


def _compose_values(stack) -> Iterator[SecretValue]:
    from .parsers.yamlnodes import YScalar

    for svc in stack.services:
        doc = svc.doc
        where = f"service '{svc.name}'"
        for var in svc.environment:
            try:
                raw = var.raw
                if raw is None or var.value is None:
                    continue  # `KEY` / `KEY:` without value: taken from the shell
                node = var.value_node if var.value_node is not None else var.key_node
                listed = node is var.key_node  # "- KEY=value" item
                loc = _yloc(doc.path, node)
                if "$" in raw:
                    # ${VAR} resolving to empty (defaults are checked below, with every ref)
                    if is_secret_key(var.key) and var.value == "" and getattr(node, "vars", None):
                        refs = node.vars
                        if all(r.defined or r.has_default for r in refs) and not any(is_secret_key(r.name) for r in refs):
                            yield SecretValue(var.key, "", "compose", "empty-ref", doc.path, loc, None, where, svc, doc, var)
                    continue
                if listed:
                    if raw:
                        span = _line_find(doc, node, raw, len(var.key) + 1)
                    elif isinstance(node, YScalar) and node.line == node.end_line:
                        span = Location(doc.path, node.end_line, node.end_col - (1 if node.style in ("'", '"') else 0))
                    else:
                        span = None
                else:
                    span = _scalar_span(doc, node)
                pw = url_password(raw)
                if pw is not None:
                    pspan = _line_find(doc, node, ":" + pw + "@")
                    if pspan is not None:
                        pspan = Location(doc.path, pspan.start_line, pspan.start_col + 1, pspan.end_line, pspan.end_col - 1)
                    yield SecretValue(var.key, pw, "compose", "url", doc.path, loc, pspan, where, svc, doc, var,
                                      scheme=raw.split(":", 1)[0].lower())
                    continue
                if not is_secret_key(var.key) or (raw and is_reference(raw)):
                    continue
                value = var.value if isinstance(var.value, str) else str(var.value)
                yield SecretValue(var.key, value, "compose", "environment", doc.path, loc, span, where, svc, doc, var)
            except Exception:  # noqa: BLE001 - odd YAML: skip the variable
                continue
        for item in command_secrets(svc):
            if item.literal:
                yield SecretValue(item.key, item.value, "compose", "command", doc.path, item.loc, item.loc,
                                  f"service '{svc.name}' {item.field}", svc, doc, item)
    # ${VAR:-default} defaults, anywhere in compose
    for doc in stack.compose_docs:
        env_keys = _environment_value_keys(doc)
        seen: set[tuple[int, int]] = set()
        for node, ref in getattr(doc, "refs", []):
            try:
                if not ref.has_default or not ref.default or "$" in ref.default:
                    continue
                owner = env_keys.get(id(node))
                if not (is_secret_key(ref.name) or (owner and is_secret_key(owner))):
                    continue
                if is_reference(ref.default) or looks_like_setting(ref.default):
                    continue
                marker = "${" + ref.name + ref.op
                start = _line_find(doc, node, marker)
                span = None
                if start is not None:
                    col = start.end_col
                    span = Location(doc.path, start.start_line, col, start.start_line, col + len(ref.default))
                at = (span.start_line, span.start_col) if span else (node.line, node.col + ref.col)
                if at in seen:
                    continue
                seen.add(at)
                loc = span or _yloc(doc.path, node)
                svc = _service_of(stack, doc, node)
                where = f"service '{svc.name}'" if svc is not None else ""
                yield SecretValue(owner or ref.name, ref.default, "compose", "default", doc.path, loc, span, where, svc, doc,
                                  ref, ref=ref.name)
            except Exception:  # noqa: BLE001
                continue


def _environment_value_keys(doc) -> dict[int, str]:
    out: dict[int, str] = {}
    for svc in doc.services.values():
        try:
            for var in svc.environment:
                node = var.value_node if var.value_node is not None else var.key_node
                if node is not None:
                    out[id(node)] = var.key
        except Exception:  # noqa: BLE001
            continue
    return out


def _service_of(stack, doc, node):
    for svc in doc.services.values():
        n = svc.node
        if n.line <= node.line <= (n.end_line or n.line):
            return svc
    return None


# -- command lines ----------------------------------------------------------------------------


@dataclass(repr=False, eq=False)
class CommandSecret:
    """A secret passed on a compose command line (``--requirepass X``, ``-a X``, ``password=X``)."""

    field: str  # command, entrypoint, healthcheck.test
    key: str  # the flag or KEY= name
    value: str  # the raw value word
    loc: Location
    literal: bool  # True: written in the file; False: compose-interpolated ${VAR}
    refs: tuple[str, ...] = ()  # names of the compose-interpolated variables


_INTERP = LazyRe(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


def _flag_name(word: str) -> str:
    return word.lstrip("-").replace("-", "_").replace(".", "_")


def _is_secret_flag(word: str) -> bool:
    return "=" not in word and is_secret_flag(word)


def _split(text: str) -> list[str]:
    from .parsers.base import shell_split  # shlex.split(text, posix=True), cached

    return shell_split(text)


def _interpolated(raw_word: str) -> tuple[str, ...]:
    return tuple(m.group(1) or m.group(2) for m in _INTERP.finditer(raw_word))


_COMMAND_CACHE: dict[int, tuple[object, list[CommandSecret]]] = per_stack()


def command_secrets(svc) -> list[CommandSecret]:
    """Secrets on the service's ``command``, ``entrypoint`` and ``healthcheck.test`` (raw text,
    before interpolation). ``$$VAR`` (expanded inside the container) is not a secret on the
    compose command line. Several rules and the redactor ask: computed once per service."""
    hit = _COMMAND_CACHE.get(id(svc))
    if hit is not None and hit[0] is svc:
        return list(hit[1])
    out = _command_secrets(svc)
    if len(_COMMAND_CACHE) > 64:
        _COMMAND_CACHE.clear()
    _COMMAND_CACHE[id(svc)] = (svc, out)
    return list(out)


def _command_secrets(svc) -> list[CommandSecret]:
    from .parsers.yamlnodes import YMap, YScalar, YSeq

    out: list[CommandSecret] = []
    fields = [("command", svc.get("command")), ("entrypoint", svc.get("entrypoint"))]
    hc = svc.get("healthcheck")
    if isinstance(hc, YMap):
        fields.append(("healthcheck.test", hc.get("test")))
    for field_name, node in fields:
        try:
            items = [node] if isinstance(node, YScalar) else list(node) if isinstance(node, YSeq) else []
            words: list[tuple[str, object]] = []  # (raw word, node)
            for item in items:
                if not isinstance(item, YScalar) or item.value is None:
                    continue
                raw = item.raw if isinstance(item.raw, str) else str(item.value)
                parts = _split(raw) if (isinstance(node, YScalar) or any(c.isspace() for c in raw)) else [raw]
                words.extend((p, item) for p in parts)
            _scan_words(svc, field_name, words, out)
        except Exception:  # noqa: BLE001 - odd command: skip it
            continue
    return out


def _scan_words(svc, field_name: str, words: list[tuple[str, object]], out: list[CommandSecret]) -> None:
    doc = svc.doc
    progs: set[str] = set()
    seen_words: set[int] = set()

    def add(key: str, value: str, node, idx: int) -> None:
        if not value or idx in seen_words:
            return
        if "$$" in value:
            return  # expanded inside the container
        refs = _interpolated(value)
        if not refs and ("$" in value or is_reference(value)):
            return
        loc = _line_find(doc, node, value) or _yloc(doc.path, node)
        seen_words.add(idx)
        out.append(CommandSecret(field_name, key, value, loc, not refs, refs))

    for i, (word, node) in enumerate(words):
        base = posixpath.basename(word).lower()
        if not word.startswith("-") and "=" not in word:
            progs.add(base)
        if "=" in word and not word.startswith("$"):
            k, v = word.split("=", 1)
            name = _flag_name(k)
            if name and (name.lower() in FLAG_WORDS or is_secret_key(name)) and re.fullmatch(r"-{0,2}[A-Za-z_][\w.-]*", k):
                add(k, v, node, i)
                continue
        if _is_secret_flag(word) and i + 1 < len(words):
            nxt = words[i + 1][0]
            if not nxt.startswith("-"):
                add(word, nxt, words[i + 1][1], i + 1)
            continue
        if word == "-a" and "redis-cli" in progs and i + 1 < len(words):
            add("-a", words[i + 1][0], words[i + 1][1], i + 1)
            continue
        if word.startswith("-p") and len(word) > 2 and progs & {"mysql", "mysqladmin", "mariadb", "mariadb-admin", "mysqldump"}:
            add("-p", word[2:], node, i)
            continue
        # any compose-interpolated secret-class variable on the command line
        refs = _interpolated(word)
        if refs and any(is_secret_key(r) for r in refs) and "$$" not in word:
            add(next(r for r in refs if is_secret_key(r)), word, node, i)


# -- nats, prometheus ----------------------------------------------------------------------------

_NATS_SECRET_KEYS = {"password", "pass", "token", "auth_token"}


def _nats_entries(block, depth: int = 0) -> Iterator:
    if depth > 50 or block is None:
        return
    for e in getattr(block, "entries", []):
        yield e
        yield from _nats_value_entries(e.value, depth + 1)


def _nats_value_entries(value, depth: int) -> Iterator:
    from .parsers.nats import NatsBlock

    if isinstance(value, NatsBlock):
        yield from _nats_entries(value, depth)
    elif isinstance(value, list):
        for item in value:
            yield from _nats_value_entries(item, depth + 1)


def _nats_values(stack) -> Iterator[SecretValue]:
    for doc in stack.nats:
        try:
            for e in _nats_entries(doc.root):
                if not isinstance(e.value, (str, int)) or e.is_ref:
                    continue
                if not (e.key.lower() in _NATS_SECRET_KEYS or is_secret_key(e.key)):
                    continue
                value = str(e.value)
                if value.startswith("$2") or value.startswith("$"):
                    continue  # bcrypt hash or a reference
                q = 1 if e.quoted else 0
                span = Location(doc.path, e.value_line, e.value_col + q, e.end_line, e.end_col - q) \
                    if e.value_line == e.end_line else None
                loc = Location(doc.path, e.value_line, e.value_col, e.end_line, e.end_col)
                yield SecretValue(e.key, value, "nats", "nats", doc.path, loc, span, "", None, doc, e)
        except Exception:  # noqa: BLE001
            continue


PROMETHEUS_CREDENTIALS = {("basic_auth", "password"), (None, "bearer_token"), ("authorization", "credentials"),
                          ("oauth2", "client_secret")}


def prometheus_credentials(doc) -> Iterator[tuple[str, str, object, str]]:
    """Literal credentials of a prometheus.yml: (dotted field, value, node, job name)."""
    from .parsers.yamlnodes import YMap, YScalar, YSeq

    seen: set[tuple[int, str | None]] = set()

    def walk(node, parent_key: str | None, job: str, depth: int) -> Iterator[tuple[str, str, object, str]]:
        if depth > 60 or (id(node), parent_key) in seen or len(seen) > 200_000:
            return
        seen.add((id(node), parent_key))
        if isinstance(node, YMap):
            name = node.str("job_name") or job
            for k, (knode, v) in node.items.items():
                if isinstance(v, YScalar):
                    if (parent_key, k) in PROMETHEUS_CREDENTIALS or (k == "bearer_token"):
                        if v.value is not None and str(v) != "":
                            field_name = f"{parent_key}.{k}" if (parent_key, k) in PROMETHEUS_CREDENTIALS and parent_key else k
                            yield field_name, str(v), v, name
                else:
                    yield from walk(v, k, name, depth + 1)
        elif isinstance(node, YSeq):
            for item in node:
                yield from walk(item, parent_key, job, depth + 1)

    try:
        yield from walk(doc.root, None, "", 0)
    except Exception:  # noqa: BLE001
        return


def _prometheus_values(stack) -> Iterator[SecretValue]:
    for doc in stack.prometheus:
        for field_name, value, node, job in prometheus_credentials(doc):
            if "${" in value:
                continue
            key = field_name.rsplit(".", 1)[-1]
            yield SecretValue(key, value, "prometheus", "prometheus", doc.path, _yloc(doc.path, node),
                              _scalar_span(doc, node), f"job '{job}'" if job else "", None, doc, field_name)


_CACHE: dict[int, tuple[object, list[SecretValue]]] = per_stack()


def secret_values(stack) -> list[SecretValue]:
    """Every positioned secret value the value rules check (cached per stack)."""
    hit = _CACHE.get(id(stack))
    if hit is not None and hit[0] is stack:
        return hit[1]
    out: list[SecretValue] = []
    for doc in value_dotenvs(stack):
        try:
            out.extend(_dotenv_values(doc))
        except Exception:  # noqa: BLE001
            continue
    for gen in (_compose_values, _nats_values, _prometheus_values):
        try:
            out.extend(gen(stack))
        except Exception:  # noqa: BLE001
            continue
    out.sort(key=lambda sv: (sv.path, sv.loc.start_line, sv.loc.start_col))
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[id(stack)] = (stack, out)
    return out


# ---------------------------------------------------------------------------------------------
# everything to redact
# ---------------------------------------------------------------------------------------------

def _yaml_secret_scalars(root) -> Iterator[str]:
    """Values under secret-class keys anywhere in a YAML tree (map and ``KEY=value`` list forms).
    Each node is visited once: an alias bomb is shared nodes, not copies."""
    from .parsers.yamlnodes import YMap, YScalar, YSeq

    _PROM_KEYS = ("password", "bearer_token", "credentials", "client_secret", "token")
    seen: set[int] = set()
    todo = [root]
    budget = 200_000
    while todo and budget > 0:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        budget -= 1
        if isinstance(node, YMap):
            for k, (_kn, v) in node.items.items():
                if isinstance(v, YScalar):
                    if v.value is None:
                        continue
                    text = str(v)
                    if is_secret_key(str(k)) or str(k).lower() in _PROM_KEYS:
                        yield text
                        yield v.raw if isinstance(v.raw, str) else text
                        yield getattr(v, "text", "") or ""
                    pw = url_password(text)
                    if pw:
                        yield pw
                else:
                    todo.append(v)
        elif isinstance(node, YSeq):
            for item in node.items:
                if isinstance(item, YScalar):
                    if item.value is None:
                        continue
                    text = str(item)
                    if "=" in text:
                        k, v = text.split("=", 1)
                        if is_secret_key(k.strip().lstrip("-")):
                            yield v
                    pw = url_password(text)
                    if pw:
                        yield pw
                else:
                    todo.append(item)


def secret_strings(stack) -> Iterator[str]:
    """Every secret text the stack holds, for the engine's redactor. Never raises. What each file
    holds is asked of its kind (``scanner.kinds``: a kind's ``secrets``); the compose secrets come
    from the merged compose documents and their services."""
    from .kinds import KIND

    def guarded(gen) -> Iterator[str]:
        try:
            for v in gen:
                if isinstance(v, str) and v:
                    yield v
        except Exception:  # noqa: BLE001
            return

    yield from guarded(sv.value for sv in secret_values(stack))
    for svc in getattr(stack, "services", []):
        yield from guarded(c.value for c in command_secrets(svc))
        yield from guarded(_build_arg_strings(svc))
    walked = set()  # the YAML trees read already: a compose file's tree is one of the compose documents'
    for doc in getattr(stack, "compose_docs", []):
        root = getattr(doc, "root", None)
        walked.add(id(root))
        yield from guarded(_yaml_secret_scalars(root))
    files = list(getattr(stack, "files", {}).values())
    for sf in files:  # the values each kind's parsed documents hold (scanner.kinds: FileKind.secrets)
        kind = KIND.get(sf.kind)
        if kind is not None and kind.secrets is not None and sf.doc is not None:
            if sf.kind in ("compose", "prometheus") and id(getattr(sf.doc, "root", None)) in walked:  # compose_strings
                continue  # the same walk of the same tree: the same strings
            yield from guarded(kind.secrets(sf))
    # every secret span of every file, as written (SQL, redis.conf, nginx headers, provider tokens,
    # URL passwords, option strings...), each line of a multi-line one, and SQL's '' undoubled
    for sf in files:
        yield from guarded(_span_strings(sf))


_RUN_WORD = LazyRe(r"[\w-]+")
_RUN_SECRET_WORD = LazyRe(r"(?i)pass|secret|token|api_?key")
_RUN_ASSIGNED = LazyRe(r"(?:\s*+=\s*+|\s++)(['\"]?)([^\s'\"$]{4,})\1")  # `\s*[=\s]\s*`, possessive


def _run_assigned_secrets(args: str) -> Iterator[str]:
    """The values a ``RUN`` line assigns to a secret-named word (``--password=x``, ``API_KEY x``):
    what ``re.finditer(r"(?i)\\b[\\w-]*(?:pass(?:word)?|secret|token|api_?key)[\\w-]*\\s*[=\\s]\\s*(['\"]?)([^\\s'\"$]{4,})\\1")``
    yields as group 2, judged once per word (that regex backtracked quadratically inside a long word)."""
    pos = 0
    for w in _RUN_WORD.finditer(args):
        if w.start() < pos or not _RUN_SECRET_WORD.search(w.group(0)):
            continue
        m = _RUN_ASSIGNED.match(args, w.end())
        if m:
            yield m.group(2)
            pos = m.end()


# kinds whose document's ``secret_marks`` are those their parser module's ``secret_marks(text)``
# gives: the same parse (path unused), or the same marking of the same tree (compose, prometheus:
# marked before the rest of the parse can fail), or the same function of the text (SQL)
_MARKED_ALIKE = frozenset({"env", "nats", "redis", "htpasswd", "dockerfile", "script", "sql", "compose", "prometheus"})


def _script_alone_max() -> int:
    from .parsers.shell import MAX_MARKED_ALONE

    return MAX_MARKED_ALONE


def _span_strings(sf) -> Iterator[str]:
    if sf.doc is None:
        return
    text = sf.text
    # the stack's own parse of the file holds its parser's marks: handed to ``spans_of`` (which
    # remembers them) where they are, by construction, what that parser marks in the text alone
    # (``scanner.spans.parser_marks``), so that the file is not parsed a second time for them.
    # Not nginx (its marks alone come from the lexer, not the tree), not a script over the size
    # tree-sitter reads alone, not a compose file whose parse broke before it marked.
    doc, kind = sf.doc, sf.kind
    same = (kind in _MARKED_ALIKE and getattr(doc, "text", None) == text and getattr(doc, "kind", None) == kind
            and not (kind == "script" and len(text) > _script_alone_max())
            and not (kind == "compose" and any(e.message.startswith("internal parser error") for e in doc.errors)))
    for a, b in spans_of(kind, text, doc=doc if same else None):
        for piece in LINE_BREAK.split(text[a:b]):
            piece = piece.strip()
            yield piece
            if " " in piece:  # "Bearer <token>": the token alone too
                yield from (part for part in piece.split() if len(part) >= 6)
            if sf.kind == "sql" and "''" in piece:
                yield piece.replace("''", "'")


# -- where each file kind keeps its secrets (scanner.kinds: FileKind.secrets) ----------------------

def dotenv_strings(sf) -> Iterator[str]:
    """A dotenv file: every file, templates included."""
    return _all_dotenv_strings(sf.doc)


def compose_strings(sf) -> Iterator[str]:
    """A YAML file (prometheus.yml): the scalars under secret-looking keys."""
    return _yaml_secret_scalars(getattr(sf.doc, "root", None))


def nats_strings(sf) -> Iterator[str]:
    return (str(e.value) for e in _nats_entries(sf.doc.root)
            if isinstance(e.value, (str, int)) and (e.key.lower() in _NATS_SECRET_KEYS or is_secret_key(e.key)))


def dockerfile_strings(sf) -> Iterator[str]:
    return _dockerfile_strings(sf.doc)


def _pieces(value: str) -> Iterator[str]:
    """A value and, when compose would split or interpolate it (``pa$word x``), its parts of 6+
    characters: the part a service really receives must be hidden too."""
    yield value
    if re.search(r"[\s$#'\"]", value):
        for part in re.split(r"[\s$#'\"{}]+", value):
            if len(part) >= 6:
                yield part


def _all_dotenv_strings(doc) -> Iterator[str]:
    for e in doc.entries:
        if is_secret_key(e.key) or is_jwt_hmac_key(e.key):
            yield from _pieces(e.value)
            yield e.raw_value
            for default, _ in _defaults_in(e.raw_value):
                yield default
        pw = url_password(e.value)
        if pw:
            yield pw


def _build_arg_strings(svc) -> Iterator[str]:
    from .parsers.compose import parse_environment
    from .parsers.yamlnodes import YMap

    b = svc.get("build")
    if isinstance(b, YMap):
        for var in parse_environment(b.get("args")):
            if var.value and is_secret_key(var.key):
                yield var.value


def _dockerfile_strings(doc) -> Iterator[str]:
    for ins in getattr(doc, "instructions", []):
        if ins.cmd in ("ENV", "ARG"):
            for key, value, _l, _c in ins.env_pairs():
                if value and (is_secret_key(key) or url_password(value)):
                    yield value
                    pw = url_password(value)
                    if pw:
                        yield pw
        elif ins.cmd == "RUN":
            yield from _run_assigned_secrets(ins.args)

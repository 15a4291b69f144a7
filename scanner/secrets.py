"""What counts as a secret, and how to keep its value out of every output."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

_SECRET_NAME = re.compile(
    r"(pass(word)?|passwd|pwd|secret|token|api_?key|auth_?key|priv(ate)?_?key|client_?key|credentials?"
    # key material named by its use (API001's ``*_SIGNING_KEY``, encryption keys)
    r"|signing_?key|encryption_?key|hmac_?key|master_?key|jwt_?key)",
    re.I,
)
# Names of settings *about* a secret (its file, lifetime, length, algorithm...), never the secret.
_NOT_SECRET_SUFFIX = re.compile(
    r"_(FILE|PATH|DIR|TTL|EXPIRY|EXPIRES_IN|EXPIRE|EXPIRATION|LENGTH|ALGORITHM|ALGO|ALG|HEADER|NAME|URL_PATH"
    r"|ENABLED|REQUIRED|POLICY|MIN_LENGTH|ROUNDS|COST|LIFETIME|DAYS|HOURS|MINUTES|SECONDS|MS|DURATION|TIMEOUT"
    r"|INTERVAL|THRESHOLD|REGEX|PATTERN|TEMPLATE|PREFIX|URL|URI|ENDPOINT|HOST|PORT|USER|USERNAME|TYPE|MODE"
    r"|METHOD|ENCRYPTION|CIPHER|HASHER|BACKEND|PROVIDER|STRATEGY|ISSUER|AUDIENCE|SCOPES?|VERSION|FORMAT"
    r"|MAX_AGE|ATTEMPTS|RETRIES|COUNT|SIZE|LIMIT)$",
    re.I,
)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/\s:@]*:([^@\s/]+)@", re.I)


@lru_cache(maxsize=8192)
def is_secret_key(key: str) -> bool:
    """A *secret-class* key name (rules catalog): matches pass(word), secret, token, api key... but
    not ``PWD`` nor names ending ``_FILE``, ``_PATH``, ``_TTL``, ``_LENGTH`` and the like."""
    if not isinstance(key, str) or key.upper() == "PWD":
        return False
    if _NOT_SECRET_SUFFIX.search(key):
        return False
    return bool(_SECRET_NAME.search(key))


def url_password(value: str) -> str | None:
    m = _URL_PASSWORD.match(value or "")
    return m.group(1) if m else None


def is_reference(value: str) -> bool:
    """``${VAR}``/``$VAR`` references and paths (absolute, ``./``, ``../``, ``~/``) are not secret values."""
    v = (value or "").strip()
    return v.startswith(("$", "/", "./", "../", "~/"))


_NOT_WORTH_MASKING = {"true", "false", "yes", "no", "on", "off", "null", "none", "nil"}


_GRAM = 4  # the shortest value recorded


class Redactor:
    """Replaces every known secret value by ``***`` in text about to leave the engine.

    A value is recorded as written and in its JSON- and HTML-escaped spellings, so a report that
    escapes before redacting still hides it. Values shorter than 4 characters, booleans and
    references (``${VAR}``, paths) are not recorded: masking them would garble every message and
    hide nothing. Longest values are replaced first, so a value that contains another is hidden whole.
    """

    def __init__(self, values: Iterable[str] = ()):
        self._values: set[str] = set()
        self._index: dict[str, list[str]] | None = None  # 4-character prefix -> values
        self._memo: dict[str, str] = {}
        for v in values:
            self.add(v)

    def add(self, value: str | None) -> None:
        if not isinstance(value, str):
            return
        value = value.strip("\r\n")
        if len(value) < 4 or value.lower() in _NOT_WORTH_MASKING or is_reference(value):
            return
        forms = {value, value.strip()}
        if any(c in value for c in '"\\<>&\'\n\t'):
            import html
            import json

            forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
            forms.add(html.escape(value))
            forms.add(html.escape(value, quote=False))
        for form in forms:
            if len(form) >= 4 and form not in self._values:
                self._values.add(form)
                self._index = None
                self._memo = {}

    def update(self, values: Iterable[str | None]) -> None:
        for v in values:
            self.add(v)

    def __call__(self, text: str) -> str:
        if not self._values or not text:
            return text
        memo = self._memo
        out = memo.get(text)
        if out is not None:
            return out
        if self._index is None:
            index: dict[str, list[str]] = {}
            for v in self._values:
                index.setdefault(v[:_GRAM], []).append(v)
            self._index = index
            self._prefixes = set(index)
        # Only values whose first 4 characters occur in the text can match: one pass over the text,
        # whatever the number of values (a monorepo holds thousands; one alternation of all of them
        # cost O(values x text) per call). The replacement is the same as the single alternation's:
        # leftmost match, longest value first.
        index = self._index
        prefixes = self._prefixes
        if len(prefixes) <= 128:
            # a stack's few values: one substring search per prefix (in C) costs less than slicing
            # the text at every position, up to ~200 prefixes whatever the text's length
            hits = {g for g in prefixes if g in text}
        else:
            grams = {text[i:i + _GRAM] for i in range(len(text) - _GRAM + 1)}
            hits = grams & prefixes  # set & set: iterates the smaller one
        if not hits:
            out = text
        else:
            # Longest value first, each replaced with str.replace: linear in the text whatever the
            # values (CPython's search switches to the two-way algorithm on long needles), where one
            # regex alternation backtracks over every long value at every position (a 1 MB secret
            # in a 1 MB line took hours). A longer value is hidden whole before a shorter one that
            # overlaps it can split it.
            out = text
            for v in sorted({v for g in hits for v in index[g]}, key=lambda v: (-len(v), v)):
                out = out.replace(v, "***")
        if len(memo) > 4096:
            memo.clear()
        memo[text] = out
        return out

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: str) -> bool:
        return value in self._values

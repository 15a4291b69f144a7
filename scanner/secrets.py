"""What counts as a secret, and how to keep its value out of every output."""

from __future__ import annotations

import re
from typing import Iterable

_SECRET_NAME = re.compile(
    r"(pass(word)?|passwd|pwd|secret|token|api_?key|auth_?key|priv(ate)?_?key|client_?key|credentials?)",
    re.I,
)
_NOT_SECRET_SUFFIX = re.compile(
    r"_(FILE|PATH|DIR|TTL|EXPIRY|EXPIRES_IN|LENGTH|ALGORITHM|ALG|HEADER|NAME|URL_PATH|ENABLED|REQUIRED|POLICY|MIN_LENGTH|ROUNDS|COST|LIFETIME|DAYS|HOURS|MINUTES|SECONDS|MS)$",
    re.I,
)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/\s:@]*:([^@\s/]+)@", re.I)


def is_secret_key(key: str) -> bool:
    """A *secret-class* key name (rules catalog): matches pass(word), secret, token, api key... but
    not ``PWD`` nor names ending ``_FILE``, ``_PATH``, ``_TTL``, ``_LENGTH`` and the like."""
    if key.upper() == "PWD":
        return False
    if _NOT_SECRET_SUFFIX.search(key):
        return False
    return bool(_SECRET_NAME.search(key))


def url_password(value: str) -> str | None:
    m = _URL_PASSWORD.match(value or "")
    return m.group(1) if m else None


def is_reference(value: str) -> bool:
    """``${VAR}``/``$VAR`` references and absolute paths are not secret values."""
    v = (value or "").strip()
    return v.startswith("$") or v.startswith("/")


class Redactor:
    """Replaces every known secret value (and any part of it 6+ chars long seen verbatim) by ``***``."""

    def __init__(self, values: Iterable[str] = ()):
        self._values: set[str] = set()
        for v in values:
            self.add(v)
        self._pattern: re.Pattern | None = None

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4 and not is_reference(value):
            self._values.add(value)
            self._pattern = None

    def __call__(self, text: str) -> str:
        if not self._values or not text:
            return text
        if self._pattern is None:
            alts = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alts))
        return self._pattern.sub("***", text)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: str) -> bool:
        return value in self._values

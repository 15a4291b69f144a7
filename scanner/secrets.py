"""What counts as a secret, and how to keep its value out of every output."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable
from .lazyre import LazyRe

_SECRET_NAME = LazyRe(
    r"(pass(word)?|passwd|pwd|secret|token|api_?key|auth_?key|priv(ate)?_?key|client_?key|credentials?"
    # key material named by its use (API001's ``*_SIGNING_KEY``, encryption keys)
    r"|signing_?key|encryption_?key|hmac_?key|master_?key|jwt_?key)",
    re.I,
)
# Names of settings *about* a secret (its file, lifetime, length, algorithm...), never the secret.
_NOT_SECRET_SUFFIX = LazyRe(
    r"_(FILE|PATH|DIR|TTL|EXPIRY|EXPIRES_IN|EXPIRE|EXPIRATION|LENGTH|ALGORITHM|ALGO|ALG|HEADER|NAME|URL_PATH"
    r"|ENABLED|REQUIRED|POLICY|MIN_LENGTH|ROUNDS|COST|LIFETIME|DAYS|HOURS|MINUTES|SECONDS|MS|DURATION|TIMEOUT"
    r"|INTERVAL|THRESHOLD|REGEX|PATTERN|TEMPLATE|PREFIX|URL|URI|ENDPOINT|HOST|PORT|USER|USERNAME|TYPE|MODE"
    r"|METHOD|ENCRYPTION|CIPHER|HASHER|BACKEND|PROVIDER|STRATEGY|ISSUER|AUDIENCE|SCOPES?|VERSION|FORMAT"
    r"|MAX_AGE|ATTEMPTS|RETRIES|COUNT|SIZE|LIMIT)$",
    re.I,
)
_URL_PASSWORD_START = LazyRe(r"^[a-z][a-z0-9+.\-]*://[^/\s:@]*:", re.I)


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
    """The userinfo password of a URL/DSN value (``postgres://app:p@ss/w@db/x`` -> ``p@ss/w``): the
    same reading as the redactor's (``scanner.spans.url_password_spans``), so a fix replaces exactly
    what is masked."""
    if not value or "://" not in value or not _URL_PASSWORD_START.match(value):
        return None
    from .spans import url_password_spans

    for a, b in url_password_spans(value):
        return value[a:b]
    return None


def is_reference(value: str) -> bool:
    """``${VAR}``/``$VAR`` references and paths (absolute, ``./``, ``../``, ``~/``) are not secret values."""
    v = (value or "").strip()
    return v.startswith(("$", "/", "./", "../", "~/"))


_NOT_WORTH_MASKING = {"true", "false", "yes", "no", "on", "off", "null", "none", "nil"}


_GRAM = 4  # the shortest value recorded
_WORD = LazyRe(r"[A-Za-z0-9_]")


def _token_pattern(v: str) -> str:
    """``v`` as a whole token: not inside a longer word (``postgres`` never matches in ``postgresql``)."""
    head = r"(?<![A-Za-z0-9_])" if _WORD.match(v[0]) else ""
    tail = r"(?![A-Za-z0-9_])" if _WORD.match(v[-1]) else ""
    return head + re.escape(v) + tail


MAX_NET_VALUE = 1024  # longer values are masked at their spans only (bounded work per text)


@lru_cache(maxsize=4096)
def _token_re(v: str) -> re.Pattern:
    return re.compile(_token_pattern(v))


_IDENTIFIER_LIKE = LazyRe(r"[A-Za-z]+(?:[-_.][A-Za-z]+)*")


def net_worthy(value: str) -> bool:
    """Whether a decoded secret value may be masked as a whole token in free text (the string safety
    net): at least 6 characters, not a word or identifier made of letters only (``postgres``,
    ``saleor-dashboard``, ``privileged``: masking those would blank the stack's names and the
    report's words), not a short number. Such values are masked at their own spans only."""
    v = (value or "").strip()
    if len(v) < 6 or len(v) > MAX_NET_VALUE or v.lower() in _NOT_WORTH_MASKING or is_reference(v):
        return False
    if _IDENTIFIER_LIKE.fullmatch(v):
        return False
    if v.isdigit() and len(v) < 8:
        return False
    return True


class Redactor:
    """Masks secrets in everything that leaves the engine.

    Two halves:

    - **by span** (``source``, ``line``, ``text``, ``edit``, ``message``): the secret positions of a
      file (``scanner.spans``) are masked in the form they are written, nothing else;
    - **the string safety net** (``__call__``): decoded secret values (``collect_secrets`` adds only
      those ``net_worthy`` and not written anywhere else in the stack), masked as whole tokens in
      free text (messages, rule documentation). A value is recorded as written and in its JSON- and
      HTML-escaped spellings, so a report that escapes before redacting still hides it. Longest
      values are replaced first, so a value that contains another is hidden whole.
    """

    def __init__(self, values: Iterable[str] = (), stack=None):
        self._values: set[str] = set()
        self._index: dict[str, list[str]] | None = None  # 4-character prefix -> values
        self._memo: dict[str, str] = {}
        self.stack = stack
        for v in values:
            self.add(v)

    def add(self, value: str | None) -> None:
        if not isinstance(value, str):
            return
        value = value.strip("\r\n")
        if len(value) < 4 or len(value) > MAX_NET_VALUE or value.lower() in _NOT_WORTH_MASKING or is_reference(value):
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
        """The safety net: known secret values masked as whole tokens."""
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
            # Longest value first, one whole-token pattern each: a literal behind a one-character
            # look-behind is linear in the text (the values are at most MAX_NET_VALUE long), where one
            # alternation of all values backtracked over every value at every position (a 1 MB
            # secret in a 1 MB line took hours). A longer value is hidden whole before a shorter one
            # that overlaps it can split it.
            out = text
            for v in sorted({v for g in hits for v in index[g]}, key=lambda v: (-len(v), v)):
                if v in out:
                    out = _token_re(v).sub("***", out)
        if len(memo) > 4096:
            memo.clear()
        memo[text] = out
        return out

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: str) -> bool:
        return value in self._values

    # -- by span -------------------------------------------------------------------------------

    def kind_of(self, path: str) -> str:
        """The kind of a stack file (``env``, ``compose``...), guessed from its name when the stack
        did not read it (a file a fix creates)."""
        sf = getattr(self.stack, "files", {}).get(path) if self.stack is not None else None
        if sf is not None:
            return sf.kind
        from .stack import classify

        kind = classify(path.rsplit("/", 1)[-1]) or ""
        return "nginx" if kind == "conf?" else kind

    def _file(self, path: str) -> tuple[str, str] | None:
        sf = getattr(self.stack, "files", {}).get(path) if self.stack is not None else None
        if sf is None or sf.doc is None:
            return None
        return sf.kind, sf.text

    def file_spans(self, path: str, kind: str, text: str) -> tuple[tuple[int, int], ...]:
        """The secret spans of the file ``path`` whose text is ``text``: its document's (known
        already, from the worker that parsed it in a monorepo), else ``spans_of``."""
        from .spans import spans_of

        sf = getattr(self.stack, "files", {}).get(path) if self.stack is not None else None
        if sf is not None and sf.doc is not None and sf.kind == kind and sf.text == text:
            return sf.doc.secret_spans
        return spans_of(kind, text)

    def source(self, kind: str, text: str, lo: int = 0, hi: int | None = None) -> str:
        """``text[lo:hi]`` of a file of ``kind``, its secret spans masked, then the safety net."""
        from .spans import mask, spans_in, spans_of

        hi = len(text) if hi is None else hi
        part = text[lo:hi]
        return self(mask(part, spans_in(spans_of(kind, text), lo, hi), base=lo))

    def text(self, path: str, text: str) -> str:
        """A whole text of the file ``path`` (as it is, or as a fix leaves it), masked."""
        return self.source(self.kind_of(path), text)

    def line(self, path: str, line: int, kind: str | None = None, text: str | None = None) -> str:
        """Line ``line`` (1-based, ``splitlines`` numbering) of a stack file, masked."""
        if text is None:
            f = self._file(path)
            if f is None:
                return ""
            kind, text = f
        starts = _offsets(text)
        if not 0 < line <= len(starts):
            return ""
        lo = starts[line - 1]
        hi = starts[line] if line < len(starts) else len(text)
        out = self.source(kind or "", text, lo, hi)
        return out.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

    def edit(self, path: str, start: tuple[int, int], end: tuple[int, int] | None, new_text: str) -> str:
        """The text a (non-secret) fix edit writes at ``start``..``end`` (1-based line/col, "\\n" lines),
        masked as it will sit in the file: a value written next to a secret key is a secret."""
        if not new_text:
            return new_text
        from .spans import MAX_JUDGED, _may_touch_secret, apply_edits_with_spans, mask, spans_in

        f = self._file(path)
        kind, text = f if f is not None else (self.kind_of(path), "")
        a = _nl_offset(text, *start)
        b = a if end is None else max(a, _nl_offset(text, *end))
        spans = self.file_spans(path, kind, text)
        if not _may_touch_secret(text, spans, a, b, new_text):
            return self(new_text)
        # judged in a window of the lines around the edit (spans clipped from the file's), not the
        # whole file re-scanned per edit: thousands of fixes on a large file stay linear
        lo = text.rfind("\n", 0, max(a - 1, 0))
        lo = text.rfind("\n", 0, lo) + 1 if lo > 0 else 0
        hi = text.find("\n", b)
        hi = len(text) if hi < 0 else text.find("\n", hi + 1)
        hi = len(text) if hi < 0 else hi
        if hi - lo > MAX_JUDGED:  # a hostile line: masked whole rather than re-searched per edit
            return self(mask(new_text, ((0, len(new_text)),)))
        win = text[lo:hi]
        win_spans = tuple((max(sa, lo) - lo, min(sb, hi) - lo) for sa, sb in spans if sa < hi and sb > lo)
        _after, after_spans = apply_edits_with_spans(kind, win, [(a - lo, b - lo, new_text)], win_spans)
        return self(mask(new_text, spans_in(after_spans, a - lo, a - lo + len(new_text)), base=a - lo))

    def message(self, text: str, path: str | None = None) -> str:
        """A message (or any free text about a file): secret positions of the text itself (a command
        line it quotes, a URL), tokens it quotes from the file's secret spans (a parse error's
        ``at or near "..."``), then the safety net."""
        if not text:
            return text
        from .spans import mask, merge, text_spans

        out = mask(text, merge(text_spans(text, prose=True)))
        f = self._file(path) if path else None
        if f is not None and ('"' in out or "'" in out or "`" in out):
            out = _QUOTED.sub(lambda m: _mask_quoted(m, *f), out)
        return self(out)


_QUOTED = LazyRe(r"\"([^\"\n]{1,200})\"|'([^'\n]{1,200})'|`([^`\n]{1,200})`")


def _mask_quoted(m: re.Match, kind: str, text: str) -> str:
    """A quoted token of a message that is (part of) a secret span of the file: masked."""
    from .spans import spans_in, spans_of

    token = m.group(1) or m.group(2) or m.group(3) or ""
    if not token.strip() or token == "***":
        return m.group(0)
    spans = spans_of(kind, text)
    if not spans:
        return m.group(0)
    if token not in text or not any(token in text[x:y] or text[x:y] in token for x, y in spans):
        return m.group(0)
    # a whole-token occurrence inside a secret span, or holding one (``E'..'`` around its value);
    # never a name that merely starts a password (``backend`` in ``backend2025``)
    for n, occ in enumerate(re.finditer(_token_pattern(token), text)):
        if n >= 1000:
            break
        a, b = occ.span()
        for x, y in spans_in(spans, a, b):
            if (x <= a and b <= y) or (a <= x and y <= b):
                q = m.group(0)[0]
                return q + "***" + q
    return m.group(0)


@lru_cache(maxsize=64)
def _offsets(text: str) -> list[int]:
    from .spans import line_offsets

    return line_offsets(text)


@lru_cache(maxsize=64)
def _nl_starts(text: str) -> tuple[int, ...]:
    """Where each "\\n"-separated line of ``text`` starts (once per text: a report of thousands of
    fix edits on one large file counted the lines before each edit again)."""
    return (0, *(m.end() for m in re.finditer("\n", text)))


def _nl_offset(text: str, line: int, col: int) -> int:
    """Offset of a 1-based line/col counted in "\\n" lines (how fix edits address text)."""
    starts = _nl_starts(text)
    if max(line, 1) - 1 >= len(starts):
        return len(text)
    return min(starts[max(line, 1) - 1] + max(col, 1) - 1, len(text))

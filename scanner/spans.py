"""Secret *spans*: where, in the text of a file (or any text about to leave dkscan), a secret is
written, as character offsets of its source form.

Redaction used to match decoded secret values as strings after the fact. That leaks whatever is
written differently from its decoded value (YAML block and folded scalars, escapes, ``''``, a URL
password holding ``/`` or ``@``, a SQL ``$$...$$`` literal) and blanks every public word that happens
to equal a password (``service '***'``). Here every secret-bearing position is found in the text
itself, in the form it is written, and only those characters are masked.

- ``spans_of(kind, text)``: the secret spans of a whole file of a kind. Every parser marks the
  secrets it reads as it reads them (``Document.secret_marks``, offsets of the value as written):
  SQL from PostgreSQL's own scanner, nginx from its lexer, NATS, redis, htpasswd, dotenv from its
  entries, compose/prometheus/YAML from pyyaml's node marks (values of secret keys in every scalar
  style, ``- KEY=value`` items, command arrays) and by indentation where the tree cannot tell,
  Dockerfile instructions as the parser joins their continued lines, shell scripts' assignments;
  on top of that every kind gets the positions any text can hold (below). Which key, flag or
  header is secret-bearing is defined here once (``is_secret_position_key``, ``is_secret_flag``,
  ``is_credential_name``) and asked by every parser.
- ``text_spans(text, prose=False)``: positions any text can hold. ``prose=True`` is the subset that
  cannot garble a sentence (messages): no ``KEY: value`` and no bare ``Authorization`` values.
- ``mask(text, spans)``: ``***`` in place of each span (per line; indentation and line structure
  kept); a span holding ``<generated>`` (a fix's new secret) shows ``<generated>``.

Secret-bearing positions (one definition, used by every parser here, the redactor, the reports and
the fixer): values of secret keys (``scanner.secrets.is_secret_key``, plus access-key ids of
object stores, nkey seeds, traefik ``basicauth.users``) written ``KEY=value``, ``KEY: value``,
``"KEY": "value"``; ``${SECRET:-default}`` defaults; userinfo passwords of any URL/DSN (``/`` and
``@`` included); ``--password=x``, ``--password x``, ``--auth x``, ``-u user:pw``,
``-D*.password=x``, ``-pX`` (mysql), ``-a X`` (redis-cli), ``mc alias set NAME URL KEY SECRET``,
each also when a shell continuation (``\\`` at a line's end) splits it over lines;
``Password=...;``, ``;Pwd=...;`` and ``Password={...}`` connection strings; ``Authorization:``,
``Basic``/``Bearer`` credentials; nginx headers named like a credential; SQL ``PASSWORD`` literals
in every quoting (``'..''..'``, ``E'..\\'..'``, ``$$..$$``, ``$tag$..$tag$``, ``"..."``, unquoted);
redis.conf ``requirepass``/``masterauth``/ACL ``>password``; NATS ``password``/``token``; provider
tokens and generic API keys (``scanner.secretcheck``).

Written by hand: no library finds secret positions across these formats and keeps the source
offsets of what it finds (detect-secrets and gitleaks report lines or decoded values).
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import Iterable

from .secrets import is_reference, is_secret_key
from .lazyre import LazyRe

Span = tuple[int, int]
MASK = "***"
GENERATED = "<generated>"

# ---------------------------------------------------------------------------------------------
# what a secret position is
# ---------------------------------------------------------------------------------------------

# object-store access key ids travel with their secret and are credentials too (masked, not judged)
_ACCESS_KEY_ID = LazyRe(r"(?i)(^|[_.-])(s3|minio|aws|storage|bucket|spaces|b2|r2)[_.-]?(root[_.-]?user|access[_.-]?key([_.-]?id)?)$")
FLAG_WORDS = frozenset({"requirepass", "masterauth", "password", "passwd", "pass", "pwd", "token", "secret", "api_key", "auth",
                        "apikey", "auth_token", "access_token", "secret_key", "client_secret"})
_NOT_SECRET_VALUE = frozenset({"on", "off", "true", "false", "yes", "no", "none", "null", "~", "", "build", "required",
                               "optional", "disabled", "enabled", MASK, GENERATED})


# NATS nkey seeds (``seed``, ``nkey_seed``, ``NATS_NKEY_SEED``): a private key by another name
_SEED = LazyRe(r"(?i)(^|[_.-])(n?key[_.-]?)?seed$")
# htpasswd lines in a setting (traefik's `...basicauth.users` label): `user:hash` pairs
_USERS_KEY = LazyRe(r"(?i)(basic|digest)[_.-]?auth[_.-]users$")
# header names whose value is a credential without a secret word in them
_CREDENTIAL_HEADER = LazyRe(r"(?i)^(proxy-)?authorization$|cookie")


@lru_cache(maxsize=8192)
def is_secret_position_key(key: str) -> bool:
    """A key whose value is masked, in any file (dotenv, compose/YAML, NATS, Dockerfile ``ENV``,
    command-line ``KEY=value``): a secret key (``is_secret_key``, the rules' one definition), an
    object store's access key id / root user (``S3_ACCESS_KEY``, ``MINIO_ROOT_USER``), an nkey seed,
    a setting of htpasswd ``user:hash`` lines (traefik's ``...basicauth.users``)."""
    if not isinstance(key, str) or not key:
        return False
    k = key.strip().strip("\"'").lstrip("-")
    return is_secret_key(k) or bool(_ACCESS_KEY_ID.search(k) or _SEED.search(k) or _USERS_KEY.search(k))


def is_credential_name(name: str) -> bool:
    """A header, parameter or variable name whose value is a credential (nginx
    ``proxy_set_header``, ``more_set_headers``, ``set $var``): a secret key's name written as a header
    (``X-Api-Key``, ``X-Auth-Token``, ``$api_token``), ``Authorization``, ``Proxy-Authorization``, a
    cookie."""
    if not isinstance(name, str) or not name:
        return False
    n = name.strip().lstrip("$")
    return bool(_CREDENTIAL_HEADER.search(n)) or is_secret_position_key(n.replace("-", "_"))


def is_secret_flag(flag: str) -> bool:
    """``--password``, ``--requirepass``, ``--db-password``, ``--api-key``... (a flag whose next word
    or ``=value`` is a secret): one of ``FLAG_WORDS`` or a secret key's name."""
    if not flag.startswith("-"):
        return False
    name = flag.lstrip("-").replace("-", "_").replace(".", "_")
    if not name or name.lower().endswith("_stdin"):
        return False  # `--password-stdin`: a switch (the secret comes on standard input: ``stdin_spans``)
    return name.lower() in FLAG_WORDS or (len(name) > 3 and is_secret_key(name))


_BLOCK_HEADER = LazyRe(r"[|>](?:[1-9]?[+-]?|[+-][1-9])")  # a YAML block scalar's header: the value is below


def worth_masking(value: str) -> bool:
    """Whether a value found at a secret-bearing position is one to mask: not empty, not a setting
    word (``on``, ``required``), not a reference or a path, not a placeholder, not a lone line
    continuation (``ENV DB_PASSWORD=\\``) nor a YAML block header (``KEY: >-``): the value is below."""
    v = value.strip()
    if v[:2] in ("$'", '$"') and len(v) >= 3 and v[-1] == v[1]:
        inner = v[2:-1]  # shell ANSI-C / locale quoting: `$'...'` is a literal, `$"..."` a double-quoted string
        return bool(inner.strip()) and inner.lower() not in _NOT_SECRET_VALUE if v[1] == "'" else worth_masking(inner)
    v = v.strip("\"'")
    if v in ("\\", "`") or _BLOCK_HEADER.fullmatch(v):
        return False
    if v.startswith("<") and not (v.startswith(GENERATED) and len(v) > len(GENERATED)):
        return False  # a placeholder (`<openssl rand -hex 64>`, `<your-password>`), or a fix's `<generated>`
    if v.startswith("$$"):
        return True  # compose's escaped dollar: a literal value
    return bool(v) and v.lower() not in _NOT_SECRET_VALUE and not is_reference(v)


# ---------------------------------------------------------------------------------------------
# positions any text can hold
# ---------------------------------------------------------------------------------------------

# a value: double-quoted, single-quoted, shell ANSI-C/locale quoted (`$'...'`, `$"..."`), or a word
# (a `${VAR:-default}` reference whole, its default is a literal: ``secret_value_spans``)
_VALUE = r"""(?P<val>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|\$'(?:[^'\\\n]|\\.)*'|\$"(?:[^"\\\n]|\\.)*"|(?:\$\{[^{}\n]{0,4096}\}|[^\s"';&,)}\]])+)"""
_URL_START = LazyRe(r"(?i)\b[a-z][a-z0-9+.\-]{0,30}://")
_URL_END = LazyRe(r"""[\s"'`<>]""")
_HOST = LazyRe(r"[A-Za-z0-9_\-\[\]]")
_FLAG_EQ_HEAD = r"(?<![\w.\-])(?P<flag>--?[A-Za-z][\w.\-]*)="
_FLAG_EQ = LazyRe(_FLAG_EQ_HEAD + _VALUE)
# between a flag and its value: blanks, or the `", "` of a JSON/YAML flow array (`["-a", "pw"]`)
_SEP = r"""(?:[ \t]+|["'][ \t]*,[ \t]*(?=["']))"""
_FLAG_SP_HEAD = r"(?<![\w.\-])(?P<flag>--?[A-Za-z][\w\-]*)" + _SEP
_FLAG_SP = LazyRe(_FLAG_SP_HEAD + _VALUE)
_USER_PW = LazyRe(r"""(?<![\w.\-])(?:-u|--user|--proxy-user|--basic-auth)(?:""" + _SEP + r"""|=)?["']?[^\s:"'/@,]{1,256}:(?P<val>[^\s"']+)""")
_UID_GID = LazyRe(r"(?<!\d)\d+:\d+$")  # `docker run -u 1000:1000` is a uid:gid, not user:password
_REDIS_A = LazyRe(r"(?<![\w.\-])-a" + _SEP + _VALUE)
_MYSQL_P = LazyRe(r"""(?<![\w.\-])-p(?P<val>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"'-][^\s"']*)""")
_SSHPASS_P = LazyRe(r"\bsshpass[ \t]+-p" + r"""(?:[ \t]+|(?=["']))""" + r"""(?P<val>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"';&,)}\]]+)""")
_MC_ALIAS = LazyRe(r"""\bmc\s+(?:alias\s+set|config\s+host\s+add)\s+\S+\s+\S+\s+(?P<key>[^\s"']+)\s+(?P<val>[^\s"']+)""")
_ASSIGN_EQ_HEAD = r"(?<![\w.$\-])(?P<key>[A-Za-z_][\w.\-]*)[ \t]*=[ \t]*"
_ASSIGN_EQ = LazyRe(_ASSIGN_EQ_HEAD + _VALUE)
_ASSIGN_COLON_HEAD = r"""(?<![\w.$\-])(?P<q>["']?)(?P<key>[A-Za-z_][\w.\-]*)(?P=q)[ \t]*:(?:[ \t]+|(?<=["']:)|(?=["']))"""
_ASSIGN_COLON = LazyRe(_ASSIGN_COLON_HEAD + _VALUE)
_FLAG_EQ_H, _FLAG_SP_H, _ASSIGN_EQ_H, _ASSIGN_COLON_H = (
    LazyRe(h) for h in (_FLAG_EQ_HEAD, _FLAG_SP_HEAD, _ASSIGN_EQ_HEAD, _ASSIGN_COLON_HEAD))

_SPACED = LazyRe(r"""(?im)^[ \t]*(?:(?:ENV|ARG)[ \t]+(?P<key>[A-Za-z_]\w*)|(?P<rkey>requirepass|masterauth))[ \t]+(?P<val>"[^"\n]*"|'[^'\n]*'|[^\s"'](?:[^\n]*[^ \t\n])?)[ \t]*$""")
_BASIC_BEARER = LazyRe(r"(?i)\b(?:basic|bearer)[ \t]+(?P<val>[A-Za-z0-9+/=._~\-]{6,})")
_AUTHZ = LazyRe(r"""(?i)\b(?:authorization|x-api-key|x-auth-token|api-key)["']?(?:[ \t]*:[ \t]*|[ \t]+)["']?(?!(?:basic|bearer)\b)(?P<val>[A-Za-z0-9+/=_~.\-][^\n"';]*)""")
_DEFAULT = LazyRe(r"\$\{(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?::?[-=+])(?P<val>[^${}]+)\}")
# connection strings (ODBC, ADO.NET, JDBC properties): `;Pwd=x;`, `Password={a;b}` (braces quote `;`)
_SUBSCRIPT_EQ = LazyRe(r"""(?<![\w$\]])(?:[A-Za-z_]\w{0,128})?\[[ \t]*(?P<q>["']?)(?P<key>[A-Za-z_][\w.\-]{0,128})(?P=q)[ \t]*\]\+?=""" + _VALUE)
_CONN_BRACED = LazyRe(r"(?i)(?<![\w.$\-])(?:pwd|password|passwd)[ \t]*=[ \t]*\{(?P<val>[^}\n]{1,4096})\}")
_CONN_PWD = LazyRe(r"""(?i)(?:(?<=;)|(?<=;[ \t]))pwd[ \t]*=[ \t]*(?P<val>[^;\s"'{}][^;\n"']*)|(?<![\w.$\-])pwd[ \t]*=[ \t]*(?P<v2>[^;\s"'{}]+)(?=;)""")
_SQL_QUOTED = LazyRe(r"(?i)\bPASSWORD\s+\\?(?P<val>E'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')")


def _flag_ok(h: re.Match) -> bool:
    return is_secret_flag(h.group("flag"))


def _key_ok(h: re.Match) -> bool:
    return is_secret_position_key(h.group("key"))


_ANY_DEFAULT = LazyRe(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=+](?P<val>[^${}]+)\}")


def secret_value_spans(a: int, b: int, text: str) -> list[Span]:
    """The spans of the value of a secret key written at [a, b): the whole value, or, for a
    reference (``${VAR}``), the literal defaults it falls back to (``${VAR:-default}``, ``${VAR-d}``,
    ``${VAR:=d}``, ``${VAR:+alternative}``). A shell ``$'...'`` is a literal, not a reference."""
    value = text[a:b]
    if worth_masking(value):
        if value[:2] in ("$'", '$"') and len(value) >= 3 and value[-1] == value[1]:
            return [(a + 2, b - 1)]
        return [(a, b)]
    return [(a + m.start("val"), a + m.end("val")) for m in _ANY_DEFAULT.finditer(value) if worth_masking(m.group("val"))]


def strip_quotes(a: int, b: int, text: str) -> Span:
    """The inside of a quoted value: ``'...'``, ``"..."``, SQL ``E'...'``, shell ``$'...'`` (ANSI-C,
    a literal) and ``$"..."`` (locale-translated, a double-quoted string)."""
    if b - a >= 3 and text[a] in "Ee$" and text[a + 1] == text[b - 1] and text[b - 1] in ("'" if text[a] != "$" else "'\""):
        return a + 2, b - 1  # SQL E'...', shell $'...' / $"..."
    if b - a >= 2 and text[a] == text[b - 1] and text[a] in "'\"":
        return a + 1, b - 1
    return a, b


def url_password_spans(text: str) -> Iterable[Span]:
    """Userinfo passwords of URLs/DSNs: ``scheme://user:PASSWORD@host``; the password may hold ``/``,
    ``@``, ``:`` (the last ``@`` followed by a host ends it)."""
    for m in _URL_START.finditer(text):
        start = m.end()
        # a list of URLs: nats://a:b@h1,nats://c:d@h2 — each URL is read only up to the next one
        # (linear on `a://b://c://…`: no search runs past it)
        nxt = _URL_START.search(text, start)
        limit = nxt.start() if nxt else len(text)
        e = _URL_END.search(text, start, limit)
        end = e.start() if e else limit
        if e:
            nxt = None
        token = text[start:end]
        if nxt:
            token = token.rstrip(",")
        colon = token.find(":")
        if colon < 0:
            continue
        user = token[:colon]
        if "/" in user or "@" in user or "?" in user or "#" in user:
            continue
        at = -1
        for i in range(len(token) - 1, colon, -1):
            if token[i] == "@" and i + 1 < len(token) and _HOST.match(token[i + 1]):
                at = i
                break
        if at < 0:
            continue
        pw = token[colon + 1:at]
        if not pw:
            continue
        slash = pw.find("/")
        if slash >= 0 and pw[:slash].isdigit():
            continue  # host:port/path@x: no userinfo
        yield start + colon + 1, start + at


_RESCAN = 64  # characters: a rejected value up to this long is searched again from inside


# Every key ``is_secret_position_key`` takes holds one of these (lower-cased: ``_SECRET_NAME``'s
# words, an access key id's ``user``/``key``, a ``seed``), and every flag ``is_secret_flag`` takes one
# of the others (``FLAG_WORDS`` and the secret keys' words): a line without one holds no head a
# ``key_ok`` accepts (see ``_regex_spans``' ``hits``).
KEY_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "credential", "user", "seed")
FLAG_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "credential", "auth")


# the characters a case-insensitive pattern takes for an ASCII letter (``re.I``: ``ı``/``İ`` for ``i``,
# ``ſ`` for ``s``, the Kelvin sign for ``k``), as that letter: ``İ`` is also the one character whose
# ``lower()`` is longer, so once they are replaced lower-casing keeps every offset
_FOLD = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


def _trigger_hits(text: str, low: str, words: tuple[str, ...]) -> list[int]:
    """Sorted offsets of every place ``text`` writes one of ``words`` (lower-case ASCII) as a
    case-insensitive pattern or ``str.lower`` would read it (``low``: ``text.lower()``)."""
    if not text.isascii() and any(chr(c) in text for c in _FOLD):
        low = text.translate(_FOLD).lower()
    out: list[int] = []
    for w in words:
        i = low.find(w)
        while i >= 0:
            out.append(i)
            i = low.find(w, i + 1)
    out.sort()
    return out


def _regex_spans(pattern: re.Pattern, text: str, accept=None, group: str = "val", head: re.Pattern | None = None,
                 key_ok=None, hits: list[int] | None = None) -> Iterable[Span]:
    """Spans of ``group`` in matches ``accept`` takes. A rejected match is searched again one
    character on: ``CONN='Server=db;Password=x'`` holds a secret inside a value that is none.

    With ``head`` (the pattern up to its value) and ``key_ok`` (a test of the head alone), the key is
    judged before the value is matched: ``x=x=x=…`` on a 1 MB line would otherwise match a 1 MB value
    for each of its 500k keys (quadratic); each rejected key now costs only its own length. For the
    same reason a rejected unquoted value longer than ``_RESCAN`` is not searched again from inside
    (the other patterns still read it); a quoted one always is, its closing quote bounds the work.

    ``hits`` (with ``head``): the sorted offsets of the words one of which every key ``key_ok``
    accepts holds (``_trigger_hits``). A head never spans a line break and never starts inside
    another, so the heads before the line of the next hit are all rejected and the search skips
    them: it resumes at that line's start, exactly where the head-by-head search would find its next
    head; with no hit left no head can be accepted."""
    pos = 0
    n = len(text)
    k = 0
    while pos <= n:
        if head is not None:
            if hits is not None:
                k = bisect.bisect_left(hits, pos, k)
                if k == len(hits):
                    return
                t = hits[k]
                if t > pos:
                    pos = text.rfind("\n", pos, t) + 1 or pos
            h = head.search(text, pos)
            if h is None:
                return
            if not key_ok(h):
                pos = h.end() + (1 if text[h.end():h.end() + 1] in ("'", '"') else 0)
                continue
            m = pattern.match(text, h.start())
            if m is None:
                pos = h.start() + 1
                continue
        else:
            m = pattern.search(text, pos)
            if m is None:
                return
        a, b = m.span(group)
        # the value (quotes excluded), or the literal defaults of a reference (`${X:-default}`)
        found = secret_value_spans(*strip_quotes(a, b, text), text) if a >= 0 and (accept is None or accept(m)) else ()
        if not found:
            if b - a > _RESCAN and text[a:a + 1] not in ("'", '"'):
                pos = b  # a long rejected unquoted value is not searched again from inside (`-p/-p/-p/…`)
            else:
                pos = max(m.start() + 1, a if a >= 0 and text[a:a + 1] not in "'\"" else a + 1)
            continue
        yield from found
        pos = max(m.end(), m.start() + 1)


# ---- secrets commands take as positional words or on standard input (deploy scripts, RUN, `sh -c`)
# one shell word (bounded: a hostile line costs each attempt at most a few words)
_W = r"""(?:"(?:[^"\\\n]|\\.){0,4096}"|'[^'\n]{0,4096}'|\$'(?:[^'\\\n]|\\.){0,4096}'|[^\s"'|;&<>()`]{1,4096})"""
_WORD_RE = LazyRe(_W)
# a command reading a secret on standard input: registry logins, `gh auth login --with-token`,
# `chpasswd` (`user:password` lines), `passwd --stdin`, `sudo -S`, `docker secret create NAME -`
_STDIN_SINK = LazyRe(r"""--password-stdin|--token-stdin|--with-token|\bchpasswd\b|\bpasswd\b[^\n|;&]{0,256}--stdin"""
                     r"""|\bsudo\b[^\n|;&]{0,256}(?<![\w.\-])-[A-Za-z]*S\b|\bsecret[ \t]+create[ \t]+\S{1,256}[ \t]+-(?![\w-])""")
# `echo x | SINK`, `printf '%s' x | SINK` (the pipe to a sink on the same line)
_PIPED = LazyRe(r"""(?<![\w.\-])(?P<cmd>echo|printf)(?P<words>(?:[ \t]+""" + _W + r"""){1,16})[ \t]*\|(?!\|)[ \t]*(?P<sink>[^\n|;&]{0,512})""")
# `SINK <<< x`; `read [-r] NAME... <<< x` (a secret variable read from a here-string)
_HERE_VALUE = LazyRe(r"""[ \t]*(?P<val>""" + _W + ")")
_SINK_START = LazyRe(r"[\n|;&<>(]")
_READ_NAMES = LazyRe(r"""\bread(?:[ \t]+-[A-Za-z]+)*(?P<names>(?:[ \t]+[A-Za-z_]\w*){1,16})[ \t]*$""")
# `printf -v NAME FORMAT [ARGS]` into a secret variable
_PRINTF_V = LazyRe(r"""\bprintf[ \t]+-v[ \t]*(?P<key>[A-Za-z_]\w*)(?:\[[^\]\n]{0,256}\])?(?P<words>(?:[ \t]+""" + _W + r"""){1,16})""")
_FORMAT_ONLY = LazyRe(r"""(?:%[-#0 +']*\d*(?:\.\d+)?[A-Za-z%]|\\[abefnrtv\\]|[ \t])*""")
# `htpasswd -b[c...] FILE USER PASSWORD`, `htpasswd -nb USER PASSWORD`, `mosquitto_passwd -b FILE USER PASSWORD`
_PW_POSITIONAL = LazyRe(r"""\b(?P<cmd>htpasswd|mosquitto_passwd)(?P<opts>(?:[ \t]+-[A-Za-z]{1,16}(?:[ \t]+\d{1,8}(?![^\s;&|]))?){1,8})"""
                        r"""(?P<words>(?:[ \t]+""" + _W + r"""){1,3})""")
# `rabbitmqctl add_user USER PASSWORD`, `... change_password USER PASSWORD`
_RABBIT = LazyRe(r"""\brabbitmqctl\b[^\n|;&]{0,256}?[ \t](?:add_user|change_password|authenticate_user)[ \t]+""" + _W + r"""[ \t]+""" + _VALUE)
# `docker login -p PASSWORD`, `podman login`, `helm registry login`, `buildah login`, `skopeo login`...
_LOGIN_P = LazyRe(r"""\b(?:docker|podman|nerdctl|buildah|skopeo|oras|crane|finch|registry)[ \t]+login\b[^\n|;&]{0,256}?"""
                  r"""(?<![\w.\-])-p(?:[ \t]+|=)""" + _VALUE)
# `aws configure set aws_secret_access_key VALUE`
_AWS_SET = LazyRe(r"""\baws[ \t]+configure[ \t]+set[ \t]+(?P<key>[\w.\-]{1,128})[ \t]+""" + _VALUE)
# `kubectl create secret generic NAME --from-literal=KEY=VALUE`: every literal of a Secret
_FROM_LITERAL = LazyRe(r"""\bsecret\b[^\n|;&]{0,512}?--from-literal[= ][\w.\-]{1,128}=""" + _VALUE)
# `smbclient -U user%password`, `zip -P password`, `7z -pPASSWORD`, `openssl enc -k password`
_SMB_U = LazyRe(r"""\b(?:smbclient|rpcclient|smbmap|smbget|net)\b[^\n|;&]{0,256}?(?<![\w.\-])-U[ \t]*["']?[^\s%"']{1,256}%(?P<val>[^\s"']+)""")
_ZIP_P = LazyRe(r"""\b(?:zip|unzip|zipcloak)\b[^\n|;&]{0,256}?(?<![\w.\-])-P[ \t]+""" + _VALUE)
_7Z_P = LazyRe(r"""\b7z[ar]?\b[^\n|;&]{0,256}?(?<![\w.\-])-p(?P<val>[^\s"'-][^\s"']*|"[^"\n]*"|'[^'\n]*')""")
_OPENSSL_K = LazyRe(r"""\bopenssl\b[^\n|;&]{0,256}?(?<![\w.\-])-k[ \t]+""" + _VALUE)


def _word_spans(text: str, a: int, b: int) -> list[Span]:
    """The words of text[a:b] as (start, end) spans."""
    return [m.span() for m in _WORD_RE.finditer(text, a, b)]


def _literal(text: str, a: int, b: int, after_colon: bool = False) -> list[Span]:
    """A word given as a secret: its value (quotes excluded, a reference by its defaults); with
    ``after_colon`` the part after the first ``:`` (chpasswd's ``user:password``)."""
    x, y = strip_quotes(a, b, text)
    if after_colon:
        c = text.find(":", x, y)
        if c < 0:
            return []
        x = c + 1
    return secret_value_spans(x, y, text) if y > x else []


def _printed(text: str, words: list[Span], after_colon: bool = False) -> list[Span]:
    """What ``echo`` / ``printf`` words print: echo's words (options aside); printf's arguments, and
    its format when that holds more than ``%`` directives and escapes."""
    out: list[Span] = []
    cmd, rest = words[0], words[1:]
    if text[cmd[0]:cmd[1]] == "echo":
        while rest and re.fullmatch(r"-[neE]+", text[rest[0][0]:rest[0][1]]):
            rest = rest[1:]
        for a, b in rest:
            out += _literal(text, a, b, after_colon)
        return out
    if rest:
        fx, fy = strip_quotes(*rest[0], text)
        if _FORMAT_ONLY.fullmatch(text, fx, fy) is None or len(rest) == 1 and after_colon:
            out += _literal(text, *rest[0], after_colon)
        for a, b in rest[1:]:
            out += _literal(text, a, b, after_colon)
    return out


def command_spans(text: str) -> list[Span]:
    """Secrets commands take as positional words or on standard input: ``echo x | docker login
    --password-stdin``, ``printf x | ...``, ``SINK <<< x``, ``echo user:pw | chpasswd``, ``read -r
    DB_PASSWORD <<< x``, ``printf -v DB_PASSWORD %s x``, ``htpasswd -b FILE USER PASSWORD``,
    ``mosquitto_passwd -b``, ``rabbitmqctl add_user USER PASSWORD``, ``docker login -p x``, ``aws
    configure set KEY VALUE``, ``kubectl create secret --from-literal=K=V``, ``smbclient -U u%pw``,
    ``zip -P``, ``7z -p``, ``openssl -k``. Every bound is a few words, so a hostile line stays linear."""
    out: list[Span] = []
    low = text.lower()
    if "|" in text and ("echo" in low or "printf" in low):
        pos = 0
        while True:
            m = _PIPED.search(text, pos)
            if m is None:
                break
            sink = _STDIN_SINK.search(m.group("sink"))
            if sink is not None:
                words = [m.span("cmd"), *_word_spans(text, *m.span("words"))]
                out += _printed(text, words, after_colon="chpasswd" in sink.group(0))
            pos = m.end("words")
    i, done = text.find("<<<"), 0
    while i >= 0:  # each here-string: the command before it (back to the line's or pipeline's start)
        lo = max(done, i - 512)  # never before the last here-string: linear on `<<<<<<…`
        starts = [m.end() for m in _SINK_START.finditer(text, lo, i)]
        head = text[starts[-1] if starts else lo:i]
        sink = _STDIN_SINK.search(head)
        read = _READ_NAMES.search(head)
        m = _HERE_VALUE.match(text, i + 3)
        if m is not None and (sink is not None or (read is not None and any(
                is_secret_position_key(n) for n in read.group("names").split()))):
            out += _literal(text, *m.span("val"), after_colon=sink is not None and "chpasswd" in sink.group(0))
        done = i + 3
        i = text.find("<<<", done)
    if "printf" in low and "-v" in text:
        for m in _PRINTF_V.finditer(text):
            if is_secret_position_key(m.group("key")):
                out += _printed(text, [(m.start(), m.start() + 6), *_word_spans(text, *m.span("words"))])
    if "passwd" in low:
        for m in _PW_POSITIONAL.finditer(text):
            letters = "".join(w.lstrip("-") for w in m.group("opts").split() if w.startswith("-"))
            if "b" not in letters:
                continue
            words = _word_spans(text, *m.span("words"))
            n = 2 if m.group("cmd") == "htpasswd" and "n" in letters else 3
            if len(words) >= n:
                out += _literal(text, *words[n - 1])
    for word, pattern, ok in (("rabbitmqctl", _RABBIT, None), ("login", _LOGIN_P, lambda m: not m.group("val").startswith("-")),
                              ("aws", _AWS_SET, lambda m: is_secret_position_key(m.group("key"))),
                              ("--from-literal", _FROM_LITERAL, None), ("-u", _SMB_U, None), ("-p", _ZIP_P, None),
                              ("7z", _7Z_P, None), ("openssl", _OPENSSL_K, None)):
        if word in low:
            out += _regex_spans(pattern, text, ok)
    return out


def _line_has(text: str, pos: int, words: tuple[str, ...]) -> bool:
    lo = text.rfind("\n", 0, pos) + 1
    seg = text[max(lo, pos - 400):pos].lower()
    return any(w in seg for w in words)


def text_spans(text: str, prose: bool = False) -> list[Span]:
    """Secret positions any text can hold (see the module docstring)."""
    if not isinstance(text, str) or not text:
        return []
    if len(text) <= 100_000:
        return list(_text_spans_cached(text, prose))
    return list(_text_spans_big(text, prose))


@lru_cache(maxsize=4096)
def _text_spans_cached(text: str, prose: bool) -> tuple[Span, ...]:
    return tuple(_text_spans(text, prose))


@lru_cache(maxsize=8)
def _text_spans_big(text: str, prose: bool) -> tuple[Span, ...]:
    """A few large texts (a 1 MB value quoted by many findings) are searched once, not per finding."""
    return tuple(_text_spans(text, prose))


# a shell line continued on the next (`mysql -u root \\` then `-pX`, `curl -u \\` then `user:pw`): a
# backslash, blanks, a line break, comment lines (a Dockerfile skips them inside an instruction), and
# the next line's indentation
_CONTINUATION = LazyRe(r"\\[ \t]*(?:\r\n|\n|\r)(?:[ \t]*#[^\n\r]*(?:\r\n|\n|\r))*[ \t]*")


def _glues(text: str, m: re.Match) -> bool:
    """A continuation with no blank before the backslash nor after the line break: the shell (and
    BuildKit) join the two lines into one word (``API_KEY=a\\`` then ``bc`` is ``API_KEY=abc``)."""
    return m.start() > 0 and text[m.start() - 1] not in " \t\n\r" and text[m.end() - 1] in "\n\r" and \
        m.end() < len(text) and text[m.end()] not in " \t\n\r"


def _continued_spans(text: str, prose: bool, glue: bool = False) -> list[Span]:
    """The spans of ``text`` read with its continued lines joined (one space for each continuation;
    with ``glue``, none where the lines are glued into one word), mapped back to the source: a flag
    and its value, or a command and its option, on two lines; a value continued mid-word."""
    pieces: list[str] = []
    starts: list[tuple[int, int]] = []  # (offset in joined, offset in text) where each piece starts
    pos = joined_len = 0
    for m in _CONTINUATION.finditer(text):
        pieces.append(text[pos:m.start()])
        starts.append((joined_len, pos))
        joined_len += m.start() - pos
        if not (glue and _glues(text, m)):
            pieces.append(" ")
            starts.append((joined_len, m.start()))  # the joining space stands for the backslash
            joined_len += 1
        pos = m.end()
    pieces.append(text[pos:])
    starts.append((joined_len, pos))
    joined = "".join(pieces)
    keys = [j for j, _t in starts]

    def source(j: int) -> int:
        i = bisect.bisect_right(keys, j) - 1
        jj, tt = starts[i]
        return tt + (j - jj)

    return [(source(a), source(b - 1) + 1) for a, b in _text_spans_plain(joined, prose) if b > a]


def _text_spans(text: str, prose: bool) -> list[Span]:
    if "\\" in text and _CONTINUATION.search(text):
        glued = any(_glues(text, m) for m in _CONTINUATION.finditer(text))
        return [*_text_spans_plain(text, prose), *_continued_spans(text, prose),
                *(_continued_spans(text, prose, glue=True) if glued else ())]
    return _text_spans_plain(text, prose)


def _text_spans_plain(text: str, prose: bool) -> list[Span]:
    low = text.lower()
    out: list[Span] = list(url_password_spans(text)) if "://" in text else []
    if "-" in text:
        flag_hits = _trigger_hits(text, low, FLAG_TRIGGERS)
        out += _regex_spans(_FLAG_EQ, text, head=_FLAG_EQ_H, key_ok=_flag_ok, hits=flag_hits)
        out += _regex_spans(_FLAG_SP, text, lambda m: not m.group("val").startswith("-"), head=_FLAG_SP_H, key_ok=_flag_ok,
                            hits=flag_hits)
        if "-u" in text or "--user" in text or "--proxy-user" in text or "--basic-auth" in text:
            out += _regex_spans(_USER_PW, text, lambda m: not _UID_GID.search(m.group(0)))
        if "-a" in text and "-cli" in low:
            out += _regex_spans(_REDIS_A, text, lambda m: _line_has(text, m.start(), ("redis-cli", "valkey-cli", "keydb-cli")))
        if "-p" in text and ("mysql" in low or "mariadb" in low):
            out += _regex_spans(_MYSQL_P, text, lambda m: _line_has(text, m.start(), ("mysql", "mariadb")))
        if "sshpass" in low:
            out += _regex_spans(_SSHPASS_P, text)
    if "mc " in text:
        out += _regex_spans(_MC_ALIAS, text)
        out += _regex_spans(_MC_ALIAS, text, group="key")  # the access key travels with its secret
    if "=" in text:
        # `password = crypt(...)`: a call, not a value (its string argument is a span of its own)
        key_hits = _trigger_hits(text, low, KEY_TRIGGERS)
        out += _regex_spans(_ASSIGN_EQ, text, lambda m: not m.group("val").endswith("("), head=_ASSIGN_EQ_H, key_ok=_key_ok,
                            hits=key_hits)
    if "${" in text:
        out += _regex_spans(_DEFAULT, text, lambda m: is_secret_position_key(m.group("key")))
    if "]=" in text or "]+=" in text:  # `c[password]=x`, `declare -A c=([api_token]=x)`
        out += _regex_spans(_SUBSCRIPT_EQ, text, lambda m: is_secret_position_key(m.group("key")))
    out += command_spans(text)
    if "basic" in low or "bearer" in low:
        out += _regex_spans(_BASIC_BEARER, text, lambda m: not (m.group("val").isalpha() and m.group("val").islower()))
    if "password" in low:
        out += _regex_spans(_SQL_QUOTED, text)
    if "pwd" in low or "passw" in low:
        if "{" in text:
            out += _regex_spans(_CONN_BRACED, text)
        if "pwd" in low and ";" in text:
            out += _regex_spans(_CONN_PWD, text)
            out += _regex_spans(_CONN_PWD, text, group="v2")
    if not prose:
        if ":" in text:
            # `KEY: value`, not `PASSWORD :'pw'` (a psql variable) nor `KEY : value` unquoted
            if "=" not in text:
                key_hits = _trigger_hits(text, low, KEY_TRIGGERS)
            # (a flow collection `KEY: [a, b]` is the YAML parser's: each scalar at its own span)
            out += _regex_spans(_ASSIGN_COLON, text, lambda m: m.group("val")[:1] not in "[{", head=_ASSIGN_COLON_H,
                                key_ok=lambda h: _key_ok(h) and (bool(h.group("q")) or text[h.end("key")] == ":"),
                                hits=key_hits)
        if any(w in low for w in ("env", "arg", "requirepass", "masterauth")):
            out += _regex_spans(_SPACED, text, lambda m: m.group("rkey") is not None or is_secret_position_key(m.group("key")))
        if any(w in low for w in ("authorization", "api-key", "auth-token")):
            out += _regex_spans(_AUTHZ, text)
    out += _provider_spans(text, prose)
    return out


def _provider_spans(text: str, prose: bool) -> list[Span]:
    from .secretcheck import find_provider_tokens, generic_api_keys, may_hold_generic_key

    out = [(a, b) for _name, a, b in find_provider_tokens(text)]
    if not prose and may_hold_generic_key(text):
        if "\u0130" in text:  # the one character lower-casing lengthens: offsets of ``low`` would move
            pos = 0
            for line in text.split("\n"):
                for a, b in generic_api_keys(line):
                    out.append((pos + a, pos + b))
                pos += len(line) + 1
            return out
        # only a line holding a key-like word can hold a generic key (``generic_api_keys`` looks for
        # one first): those lines are found in the lower-cased text at once, in order
        low = text.lower()
        lines = set()
        for w in _GENERIC_HINTS:
            i = low.find(w)
            while i >= 0:
                start = text.rfind("\n", 0, i) + 1
                lines.add(start)
                end = text.find("\n", i)
                if end < 0:
                    break
                i = low.find(w, end)
        for start in sorted(lines):
            end = text.find("\n", start)
            for a, b in generic_api_keys(text[start:] if end < 0 else text[start:end]):
                out.append((start + a, start + b))
    return out


_GENERIC_HINTS = ("key", "secret", "token", "credential")  # scanner.secretcheck._GENERIC_WORDS_HINT


# ---------------------------------------------------------------------------------------------
# per kind of file
# ---------------------------------------------------------------------------------------------


# Every kind whose file can hold a secret has a parser that marks the secrets it reads
# (``Document.secret_marks``, offsets of the value as written): SQL PASSWORD literals in every
# quoting (PostgreSQL's own scanner), nginx credential headers (its lexer), NATS passwords/tokens,
# redis requirepass/masterauth/ACL passwords, htpasswd password fields, dotenv values of secret keys
# (from the dotenv entries), compose/YAML values of secret keys in every scalar style (from pyyaml's
# node marks, and by indentation where the tree cannot tell), Dockerfile instructions read as the
# parser joins their continued lines, shell scripts' assignments to secret keys (tree-sitter). A text of such a kind is parsed (once: the stack's own parse is
# remembered) and its marks are its spans; no regular expression guesses at what the parser already
# knows. ``text_spans`` (positions any text can hold) is added for every kind.
_PARSER_MODULE = {"sql": "sql", "nginx": "nginx", "nats": "nats", "redis": "redis", "htpasswd": "htpasswd",
                  "env": "dotenv", "compose": "compose", "prometheus": "prometheus", "yaml": "yamlnodes",
                  "dockerfile": "dockerfile", "script": "shell"}
PARSED_KINDS = frozenset(_PARSER_MODULE)
_MARKS: dict[tuple[str, str], tuple[Span, ...]] = {}
_MARKS_MAX = 64


def _remember(kind: str, text: str, marks: Iterable[Span]) -> tuple[Span, ...]:
    marks = tuple(marks)
    if len(_MARKS) >= _MARKS_MAX:
        _MARKS.pop(next(iter(_MARKS)))
    _MARKS[(kind, text)] = marks
    return marks


def parser_marks(kind: str, text: str) -> tuple[Span, ...]:
    """The secret spans ``kind``'s parser marks in ``text`` (``Document.secret_marks``)."""
    hit = _MARKS.get((kind, text))
    if hit is not None:
        return hit
    # each parser's own ``secret_marks(text)``: what its parse marks, without the rest of the parse
    # (SQL: PostgreSQL's scanner, not pglast's grammar, sqlparse and PL/pgSQL; nginx: the lexer, no
    # tree; compose: the YAML tree, no services)
    import importlib

    module = importlib.import_module(f"scanner.parsers.{_PARSER_MODULE[kind]}")
    return _remember(kind, text, module.secret_marks(text))


def _parsed(kind: str):
    def finder(text: str) -> tuple[Span, ...]:
        return parser_marks(kind, text)

    finder.__name__ = f"{kind}_parser_marks"
    return finder


_KIND_FINDERS = {k: (_parsed(k),) for k in PARSED_KINDS}


def merge(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sorted, overlapping or touching spans joined."""
    out: list[list[int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def spans_of(kind: str | None, text: str, doc=None) -> tuple[Span, ...]:
    """Every secret span of a whole file of ``kind`` (merged, sorted). Never raises. ``doc``: the
    text's parsed document, whose parser marks are used rather than parsing the text again."""
    if not isinstance(text, str) or not text:
        return ()
    if doc is not None and kind in PARSED_KINDS and (kind, text) not in _MARKS:
        _remember(kind, text, getattr(doc, "secret_marks", ()))
    if len(text) <= 100_000:
        return _spans_cached(kind or "", text)
    return _spans_big(kind or "", text)


@lru_cache(maxsize=64)
def _spans_cached(kind: str, text: str) -> tuple[Span, ...]:
    return _spans(kind, text)


@lru_cache(maxsize=8)
def _spans_big(kind: str, text: str) -> tuple[Span, ...]:
    """A large file is searched once per report, not once per finding (the limit keeps memory bounded)."""
    return _spans(kind, text)


def _spans(kind: str, text: str) -> tuple[Span, ...]:
    out: list[Span] = []
    for finder in (*_KIND_FINDERS.get(kind, ()), text_spans):
        try:
            out.extend(finder(text))
        except Exception:  # noqa: BLE001 - an odd file loses one finder's spans, never the scan
            continue
    return merge(out)


# ---------------------------------------------------------------------------------------------
# masking
# ---------------------------------------------------------------------------------------------

_LINE_BREAK = LazyRe("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _piece(seg: str) -> str:
    return GENERATED if GENERATED in seg else MASK


def mask(text: str, spans: Iterable[Span], base: int = 0) -> str:
    """``text`` (which starts at offset ``base`` of the spans' text) with every span shown as ``***``:
    a span crossing lines is masked line by line, each line's indentation and breaks kept."""
    if not text:
        return text
    end = base + len(text)
    pieces: list[str] = []
    pos = base
    for a, b in spans:
        if b <= pos or a >= end:
            if a >= end:
                break
            continue
        a, b = max(a, pos), min(b, end)
        pieces.append(text[pos - base:a - base])
        seg = text[a - base:b - base]
        last = 0
        for m in _LINE_BREAK.finditer(seg):
            pieces.append(_mask_line_piece(seg[last:m.start()]))
            pieces.append(m.group(0))
            last = m.end()
        pieces.append(_mask_line_piece(seg[last:]))
        pos = b
    pieces.append(text[pos - base:])
    return "".join(pieces)


def _mask_line_piece(seg: str) -> str:
    core = seg.strip(" \t")
    if not core:
        return seg
    lead = seg[:len(seg) - len(seg.lstrip(" \t"))]
    trail = seg[len(seg.rstrip(" \t")):]
    return lead + _piece(core) + trail


def line_offsets(text: str) -> list[int]:
    """Start offsets of ``text.splitlines()``'s lines."""
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def spans_in(spans: tuple[Span, ...], lo: int, hi: int) -> tuple[Span, ...]:
    """The spans overlapping [lo, hi) (spans sorted and disjoint)."""
    if not spans:
        return ()
    i = bisect.bisect_right(spans, (lo, float("inf"))) - 1
    i = max(i, 0)
    out = []
    for s in spans[i:]:
        if s[0] >= hi:
            break
        if s[1] > lo:
            out.append(s)
    return tuple(out)


def apply_edits_with_spans(kind: str, text: str, edits: list[tuple[int, int, str]],
                           spans: tuple[Span, ...] | None = None) -> tuple[str, tuple[Span, ...]]:
    """The text after ``edits`` ((start, end, new text), applied in order, overlaps skipped) and its
    secret spans: the old spans moved with the text, plus the spans of the new text in its place
    (found by scanning the result: a value written next to a secret key is a secret)."""
    spans = spans_of(kind, text) if spans is None else spans
    pieces: list[str] = []
    moved: list[Span] = []
    inserted: list[Span] = []
    pos = 0
    kept: list[tuple[int, int, str]] = []
    for a, b, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if a < pos:
            continue
        kept.append((a, b, new))
        pieces.append(text[pos:a])
        pieces.append(new)
        pos = b
    pieces.append(text[pos:])
    after = "".join(pieces)
    # old spans: shifted by the edits before them; a span an edit touches is re-found by the scan
    for sa, sb in spans:
        if any((a < sb and b > sa) or sa < a < sb for a, b, _n in kept):
            continue
        moved.append((sa + sum(len(n) - (b - a) for a, b, n in kept if b <= sa), 0))
        moved[-1] = (moved[-1][0], moved[-1][0] + sb - sa)
    # new text: scanned in place
    shift = 0
    for a, b, new in kept:
        inserted.append((a + shift, a + shift + len(new)))
        shift += len(new) - (b - a)
    rescanned = spans_of(kind, after) if any(_may_touch_secret(text, spans, a, b, new) for a, b, new in kept) else ()
    # what the scan finds at an inserted text, or where a span an edit touched now lies (a fix that
    # rewrites a quoted value's inside leaves what followed its closing quote)
    touched = [(_moved(kept, sa), _moved(kept, sb)) for sa, sb in spans
               if any((a < sb and b > sa) or sa < a < sb for a, b, _n in kept)] if rescanned else []
    near = [s for s in rescanned for x, y in inserted + touched if s[0] < y + 1 and s[1] > x - 1]
    # and whatever an edit left of a span it touched (a fix that re-quotes a value keeps the value)
    return after, merge([*moved, *near, *_touched_leftovers(text, spans, kept, after)])


def _moved(kept: list[tuple[int, int, str]], offset: int) -> int:
    """Where ``offset`` of the text lies after the edits (one inside an edit: the end of its new text)."""
    shift = 0
    for a, b, new in kept:
        if b <= offset and not (a == b == offset):
            shift += len(new) - (b - a)
        elif a < offset < b:
            return a + shift + len(new)
    return offset + shift


_WORDS = LazyRe(r"-{0,2}[A-Za-z_][\w.\-]*")

#: The most text around one fix edit that is searched to judge it (``_may_touch_secret``, the
#: redactor's ``edit``, a report's fix diff): beyond it (a hostile line, a minified file) the edit's
#: new text is masked whole rather than the line re-searched per edit (thousands of edits on one
#: 1 MB line were quadratic).
MAX_JUDGED = 65536


def _may_touch_secret(text: str, spans, a: int, b: int, new: str) -> bool:
    """Whether an edit replacing [a, b) by ``new`` can write or touch a secret: it overlaps or
    abuts a span, its line or its text names a secret key or flag, or its text holds a URL password,
    a credential scheme or a provider token (else the spans after it are the old ones, moved)."""
    if spans_in(spans, max(0, a - 1), b + 1):
        return True
    lo = text.rfind("\n", 0, a) + 1
    hi = text.find("\n", b)
    hi = len(text) if hi < 0 else hi
    if hi - lo > MAX_JUDGED:  # a hostile line is not searched per edit: assume it may
        return True
    context = text[lo:hi] + "\n" + new
    if any(is_secret_position_key(w) or is_secret_flag(w) for w in _WORDS.findall(context)):
        return True
    low = new.lower()
    if ("://" in new and "@" in new) or "$$" in new or "basic" in low or "bearer" in low or "authorization" in low:
        return True
    return bool(_provider_spans(new, False))


def _touched_leftovers(text: str, spans, kept, after: str) -> list[Span]:
    out = []
    shift = 0
    for a, b, new in kept:
        for sa, sb in spans_in(spans, a, b) if b > a else ():
            secret = text[sa:sb]
            if len(secret) >= 4:
                i = new.find(secret)
                while i >= 0:
                    out.append((a + shift + i, a + shift + i + len(secret)))
                    i = new.find(secret, i + 1)
        shift += len(new) - (b - a)
    return out

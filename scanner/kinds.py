"""The file kinds dkscan reads, each declared once: its name, how a file of it is recognised, its
parser, the comment syntax its suppressions are written in, and where its secrets are.

Adding a kind is adding one ``FileKind`` to ``FILE_KINDS`` (see docs/architecture.md, "Adding a file
kind"): discovery (``scanner.stack.classify``), parsing (``scanner.stack._parse_text``), inline
suppressions (``scanner.suppress``) and the redactor (``scanner.secretcheck.secret_strings``) all
read this table; the secret spans of a kind's text are ``scanner.spans.spans_of(kind, text)``. Parsers are imported when a file of their kind is first parsed, so a stack without
SQL never imports pglast.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator

from .parsers.base import Document
from .plain import frozen_error as _frozen, recursive_repr as _recursive_repr
from .lazyre import LazyRe

# a file name is matched lower-cased
Recognise = Callable[[str], bool]


class FileKind:
    name: str
    recognise: Recognise  # from the lower-cased file name alone
    parse: Callable[[str, str, dict], Document] | None  # (text, rel, env) -> Document; None: kept as text
    comment: tuple[str, ...]  # how a comment line starts (own-line suppressions, the lines they skip)
    # SourceFile -> the secret values its parsed document holds (dotenv values, nats passwords...); the
    # source spans of the secrets written in a file are marked by its parser (Document.secret_marks:
    # SQL literals, redis requirepass, nginx auth headers, NATS passwords) and completed by
    # scanner.spans (spans_of: YAML/dotenv values of secret keys, URL passwords, provider tokens)
    secrets: Callable[[object], Iterator[str]] | None = None
    sniff: Callable[[str], bool] | None = None  # a name match is confirmed by the content (nginx .conf)
    block_end: Callable[[Document, int], int | None] | None = None  # last line of a block starting at a line
    # other kinds whose configuration a file of this kind can hold (a provisioning script's ufw,
    # sshd and fail2ban commands): the rules of those kinds run where such a file is (scanner.engine.runs_on)
    carries: tuple[str, ...] = ()

    __match_args__ = ("name", "recognise", "parse", "comment", "secrets", "sniff", "block_end", "carries")

    def __init__(self, name, recognise, parse, comment, secrets=None, sniff=None, block_end=None, carries=()):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "recognise", recognise)
        object.__setattr__(self, "parse", parse)
        object.__setattr__(self, "comment", comment)
        object.__setattr__(self, "secrets", secrets)
        object.__setattr__(self, "sniff", sniff)
        object.__setattr__(self, "block_end", block_end)
        object.__setattr__(self, "carries", carries)

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(name={self.name!r}, recognise={self.recognise!r}, parse={self.parse!r}, comment={self.comment!r}, secrets={self.secrets!r}, sniff={self.sniff!r}, block_end={self.block_end!r}, carries={self.carries!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.name, self.recognise, self.parse, self.comment, self.secrets, self.sniff, self.block_end, self.carries) == (other.name, other.recognise, other.parse, other.comment, other.secrets, other.sniff, other.block_end, other.carries)
        return NotImplemented

    def __hash__(self):
        return hash((self.name, self.recognise, self.parse, self.comment, self.secrets, self.sniff, self.block_end, self.carries))

    def __setattr__(self, name, value):
        if type(self) is FileKind or name in ("name", "recognise", "parse", "comment", "secrets", "sniff", "block_end", "carries"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(FileKind, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is FileKind or name in ("name", "recognise", "parse", "comment", "secrets", "sniff", "block_end", "carries"):
            raise _frozen(f"cannot delete field {name!r}")
        super(FileKind, self).__delattr__(name)


# -- recognition -------------------------------------------------------------------------------

_COMPOSE = LazyRe(r"(docker-)?compose([.\-_][\w.\-]*)?\.ya?ml")
_COMPOSE_SUFFIX = LazyRe(r"[\w.\-]*\.compose\.ya?ml")


def _is_compose(low: str) -> bool:
    return bool(_COMPOSE.fullmatch(low) or _COMPOSE_SUFFIX.fullmatch(low))


def _is_env(low: str) -> bool:
    return low == ".env" or low.startswith(".env.") or low.endswith(".env") or low.startswith(".env-")


def _is_dockerfile(low: str) -> bool:
    return (low.startswith(("dockerfile", "containerfile")) or low.endswith(".dockerfile")) \
        and not low.endswith((".md", ".txt", ".sh", ".py"))


def _is_nginx(low: str) -> bool:
    return low == "nginx.conf" or low.endswith((".conf", ".conf.template", ".nginx"))


# -- parsers (imported on first use) -------------------------------------------------------------

def _parse_compose(text: str, rel: str, env: dict) -> Document:
    from .parsers import compose

    return compose.parse(text, rel, env or {})


def _parser(module: str) -> Callable[[str, str, dict], Document]:
    def parse(text: str, rel: str, _env: dict) -> Document:
        import importlib

        return importlib.import_module(f"scanner.parsers.{module}").parse(text, rel)

    parse.__name__ = f"parse_{module}"
    return parse


# -- where the secrets are -----------------------------------------------------------------------

def _doc_secrets(name: str) -> Callable[[object], Iterator[str]]:
    def secrets(sf) -> Iterator[str]:
        from . import secretcheck

        return getattr(secretcheck, name)(sf)

    return secrets


# Indentation only (``^`` finds every line): ``^\s*`` ran over every following blank line from each
# line start (64 KiB of newlines took minutes).
_NGINX_SNIFF = LazyRe(r"^[ \t\r\f\v]*(?:if\s*\(\s*[$!-]|return\s+[1-5]\d\d\b|set\s+\$\w+\s|allow\s+[\d:a]|deny\s+all\b|(server|location|upstream|http|events|listen|proxy_pass|server_name|add_header|worker_processes|include|map|ssl_certificate|root|limit_req_zone|error_log|access_log|resolver|set_real_ip_from|real_ip_header|valid_referers|stub_status|autoindex|alias|proxy_set_header|rewrite|ssl_protocols|ssl_ciphers|client_max_body_size|limit_req|worker_rlimit_nofile|server_tokens|ssl_prefer_server_ciphers|ssl_session_cache|ssl_stapling|worker_connections|more_set_headers|add_header_inherit)\b)[^;{}\n]*(?:\n[^;{}\n]*){0,5}[;{]", re.M)


def sniff_nginx(text: str) -> bool:
    return _NGINX_SNIFF.search(text[:65536]) is not None and "=" not in text.split("\n", 1)[0][:1]


# -- suppressed blocks ---------------------------------------------------------------------------

def _nginx_block_end(doc, line: int) -> int | None:
    for d in doc.walk():
        if d.line == line and d.block is not None:
            return max(line, d.end_line)
    return None


def _yaml_block_end(doc, line: int) -> int | None:
    from .parsers.yamlnodes import YMap, YSeq, walk

    root = doc.root
    if root is None:
        return None
    for node in walk(root):
        if isinstance(node, YMap):
            for k, v in node.items.values():
                if k.line == line and isinstance(v, (YMap, YSeq)):
                    end = v.end_line
                    if v.end_col == 1:  # a block mapping ends where the next key starts
                        end -= 1
                    return max(line, end)
    return None


def _sql_block_end(doc, line: int) -> int | None:
    for st in doc.statements:
        if st.line == line:
            return st.end_line
    return None


def _dockerfile_block_end(doc, line: int) -> int | None:
    for ins in doc.instructions:
        if ins.line == line:
            return ins.end_line
    return None


def _nats_block_end(doc, line: int) -> int | None:
    from .parsers.nats import NatsBlock

    def visit(block):
        for e in block.entries:
            if e.line == line:
                return e.end_line
            if isinstance(e.value, NatsBlock):
                r = visit(e.value)
                if r:
                    return r
        return None

    r = visit(doc.root)
    return max(line, r) if r else None


# -- the table (first match wins, in this order) -------------------------------------------------

FILE_KINDS: tuple[FileKind, ...] = (
    FileKind("compose", _is_compose, _parse_compose, ("#",), _doc_secrets("compose_strings"), block_end=_yaml_block_end),
    FileKind("prometheus", lambda low: low in ("prometheus.yml", "prometheus.yaml"), _parser("prometheus"), ("#",),
             _doc_secrets("compose_strings"), block_end=_yaml_block_end),
    FileKind("nats", lambda low: low in ("nats-server.conf", "nats.conf") or low.endswith(".nats.conf"), _parser("nats"),
             ("#", "//"), _doc_secrets("nats_strings"), block_end=_nats_block_end),
    FileKind("redis", lambda low: low == "redis.conf", _parser("redis"), ("#",)),
    FileKind("htpasswd", lambda low: low in ("htpasswd", ".htpasswd") or low.endswith(".htpasswd")
             or low.startswith(".htpasswd."), _parser("htpasswd"), ("#",)),
    FileKind("pg_hba", lambda low: low == "pg_hba.conf", None, ("#",)),
    FileKind("pgconf", lambda low: low in ("postgresql.conf", "postgresql.auto.conf"), None, ("#",)),
    FileKind("env", _is_env, _parser("dotenv"), ("#",), _doc_secrets("dotenv_strings")),
    FileKind("sql", lambda low: low.endswith(".sql"), _parser("sql"), ("--",), block_end=_sql_block_end),
    FileKind("script", lambda low: low.endswith((".sh", ".bash")), _parser("shell"), ("#",),
             carries=("ufw", "sshd", "fail2ban")),
    FileKind("sshd", lambda low: low == "sshd_config", _parser("sshd"), ("#",)),
    FileKind("fail2ban", lambda low: low in ("jail.conf", "jail.local"), _parser("fail2ban"), ("#", ";")),
    FileKind("ufw", lambda low: low in ("user.rules", "user6.rules", "ufw.conf", "after.rules", "before.rules",
                                        "after6.rules", "before6.rules"), _parser("ufw"), ("#",)),
    FileKind("dockerfile", _is_dockerfile, _parser("dockerfile"), ("#",), _doc_secrets("dockerfile_strings"),
             block_end=_dockerfile_block_end),
    FileKind("nginx", _is_nginx, _parser("nginx"), ("#",),
             sniff=sniff_nginx,
             block_end=_nginx_block_end),
)
KIND: dict[str, FileKind] = {k.name: k for k in FILE_KINDS}
KINDS: tuple[str, ...] = tuple(KIND)
ANY_COMMENT: tuple[str, ...] = tuple(dict.fromkeys(c for k in FILE_KINDS for c in k.comment))

"""What the data services of a stack accept without credentials — one answer shared by many rules.

PER002 (an unauthenticated service published), PER001 and PER003 (which leave such a port to
PER002), PER040 (postgres ``trust``), DATA080 (redis without auth), API060 (nats without
authorization), DATA083 (MinIO root credentials unset) and OPS026 (prometheus lifecycle reachable)
must agree on *whether* a service asks for credentials. They all ask here:

    from rules.helpers.services import unauthenticated_reason
    reason = unauthenticated_reason(stack, svc, port=5432)   # None: authenticated or unknown
    if reason: ...  # "POSTGRES_HOST_AUTH_METHOD=trust" / "redis has no requirepass ..." / ...

Principles:

- **Unknown is not unauthenticated.** A value coming from a `${VAR}` no interpolation source defines
  (OPS060's business), a config file outside the scanned tree, an image dkscan does not know: the
  answer is ``None``. A reason is only returned when the stack *shows* the missing authentication.
- **Never a secret.** Reasons name keys and files, never values.
- **Computed once per stack** (cached on the Stack object), so any number of rules may ask.

Per role (``svc.role``):

- ``postgres``: ``POSTGRES_HOST_AUTH_METHOD=trust`` (environment or env file), or a ``trust`` method on
  a non-loopback ``host*`` line of a ``pg_hba.conf`` the service mounts (PER040).
- ``redis``: no ``requirepass`` (command or the redis.conf the command loads) and no ACL ``user`` /
  ``aclfile``; a ``requirepass`` whose variable is defined empty; ``user default on nopass``; for
  Bitnami images ``REDIS_PASSWORD`` counts and ``ALLOW_EMPTY_PASSWORD=yes`` disables auth (DATA080).
- ``nats``: a mounted configuration without ``authorization``, ``accounts`` or ``operator``, or whose
  ``no_auth_user`` has no ``permissions``; no configuration and no ``--auth``/``--user`` flags (API060).
  The monitoring port (``http_port``/``monitor_port``/``-m``, 8222) never authenticates.
- ``minio``: neither ``MINIO_ROOT_PASSWORD`` (``_FILE``) nor the deprecated ``MINIO_SECRET_KEY``:
  the server runs as ``minioadmin:minioadmin`` (DATA083).
- ``prometheus``: no ``--web.config.file`` (Prometheus has no other authentication)."""

from __future__ import annotations

import json
import posixpath
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rules.helpers.compose import image_parts
from rules.helpers.locations import svc_loc
from scanner.model import Location
from scanner.lazyre import LazyRe
from scanner.plain import FACTORY as _FACTORY
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

# ---------------------------------------------------------------------------------------------
# The public answers
# ---------------------------------------------------------------------------------------------


def unauthenticated_reason(stack: Stack, svc, port: int | None = None) -> str | None:
    """Why ``svc`` accepts connections without credentials, or None (authenticated, or unknown).

    With ``port`` (a container port), a port-specific answer: the nats monitoring port is
    unauthenticated even when the nats clients must authenticate; a nats *client* port of a server
    with authorization is not. Without ``port``, the service-wide answer.
    """
    if port is not None:
        return unauthenticated_port_reason(stack, svc, port)
    return stack.memo(("svc", id(svc)), lambda: _service_reason(stack, svc))


def unauthenticated_port_reason(stack: Stack, svc, port: int) -> str | None:
    """The port-specific answer of :func:`unauthenticated_reason`."""
    if svc.role == "nats":
        monitor = nats_monitor_ports(stack, svc)
        if port in monitor:
            return (f"NATS monitoring port {port} serves /varz, /connz and /subsz (clients, IPs, "
                    f"subjects) without authentication")
    return unauthenticated_reason(stack, svc)


def _service_reason(stack: Stack, svc) -> str | None:
    role = getattr(svc, "role", "")
    if role == "postgres":
        found = postgres_trust(stack, svc)
        return found[0][1] if found else None
    if role == "redis":
        p = redis_auth_problem(stack, svc)
        return p[0] if p else None
    if role == "nats":
        return _nats_service_reason(stack, svc)
    if role == "minio":
        return minio_root_unset(stack, svc)
    if role == "prometheus":
        if prometheus_web_config(svc) is None:
            return "Prometheus runs without --web.config.file: no authentication on its API and UI"
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Environment helpers
# ---------------------------------------------------------------------------------------------


def env_var(stack: Stack, svc, key: str):
    """(value, Location of the key, state) for a container environment variable, or None.

    state: "set", "empty" (defined, empty) or "unknown" (comes from an undefined `${VAR}`, or a bare
    ``KEY`` taken from the shell)."""
    var = svc.env(key)
    if var is not None:
        loc = Location(svc.doc.path, var.key_node.line, var.key_node.col)
        if var.value is None:
            return None, loc, "unknown"
        vnode = var.value_node
        refs = getattr(vnode, "vars", None) or []
        if var.value == "" and any(not r.defined and not r.has_default for r in refs):
            return "", loc, "unknown"
        return var.value, loc, ("set" if var.value != "" else "empty")
    for doc in reversed(stack.service_dotenvs(svc)):
        e = doc.get(key)
        if e is not None:
            loc = Location(doc.path, e.line, e.col)
            if not e.has_equals:
                return None, loc, "unknown"
            return e.value, loc, ("set" if e.value != "" else "empty")
    return None


def service_env(stack: Stack, svc) -> dict:
    """``stack.service_env(svc)``, computed once per stack and service."""
    return stack.memo(("env", id(svc)), lambda: stack.service_env(svc))


def _env_has(stack: Stack, svc, *keys: str) -> bool:
    return any(env_var(stack, svc, k) is not None for k in keys)


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

_LOOPBACK = {"127.0.0.1/32", "::1/128", "localhost", "127.0.0.1", "::1", "samehost"}


def postgres_trust(stack: Stack, svc) -> list[tuple[Location, str, Location | None]]:
    """Every place that makes ``svc`` (a postgres service) accept passwordless logins (PER040):
    ``POSTGRES_HOST_AUTH_METHOD=trust``, and ``trust`` on non-loopback ``host*`` lines of a
    ``pg_hba.conf`` the service mounts. Each item is (location of the offending value, reason,
    span of a literal ``trust`` a fix may replace, or None)."""
    return stack.memo(("pgtrust", id(svc)), lambda: _postgres_trust(stack, svc))


def _postgres_trust(stack: Stack, svc) -> list[tuple[Location, str, Location | None]]:
    out: list[tuple[Location, str, Location | None]] = []
    reason = ("POSTGRES_HOST_AUTH_METHOD=trust: the image adds `host all all all trust` to pg_hba.conf, "
              "any client logs in as any role without a password")
    var = svc.env("POSTGRES_HOST_AUTH_METHOD")
    if var is not None:
        if isinstance(var.value, str) and var.value.strip().lower() == "trust":
            loc, span = _compose_env_value_span(svc, var)
            out.append((loc, reason, span))
    else:
        for doc in reversed(stack.service_dotenvs(svc)):
            e = doc.get("POSTGRES_HOST_AUTH_METHOD")
            if e is None:
                continue
            if e.value.strip().lower() == "trust":
                loc = Location(doc.path, e.value_line, e.value_col, e.end_line, e.end_col)
                span = loc if e.raw_value.strip("'\"") == "trust" and e.value_line == e.end_line else None
                out.append((loc, reason, span))
            break
    for sf in _pg_hba_files(stack, svc):
        for line_no, line in enumerate(sf.text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if len(words) < 4 or not words[0].lower().startswith("host"):
                continue
            # host DATABASE USER ADDRESS [MASK] METHOD [OPTIONS]
            addr = words[3]
            rest = words[4:]
            if rest and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", rest[0]) and "/" not in addr:
                rest = rest[1:]
            if not rest:
                continue
            method = rest[0].lower()
            if method != "trust" or addr.lower() in _LOOPBACK or addr.startswith("127."):
                continue
            idx = len(line.split("#", 1)[0].rstrip())
            # the method word: the first "trust" after the address
            pos = line.lower().find("trust", line.find(addr) + len(addr))
            col = (pos if pos >= 0 else max(idx - 5, 0)) + 1
            loc = Location(sf.rel, line_no, col, line_no, col + 5)
            out.append((loc, f"{sf.rel} line {line_no} trusts connections from {addr}: no password asked", loc))
    return out


def _compose_env_value_span(svc, var) -> tuple[Location, Location | None]:
    """(location of an ``environment:`` value, span of its literal text when it is written
    without interpolation on one line)."""
    from scanner.parsers.yamlnodes import YScalar

    path = svc.doc.path
    node = var.value_node
    if not isinstance(node, YScalar):
        return Location(path, var.key_node.line, var.key_node.col), None
    q = 1 if node.style in ("'", '"') else 0
    if node is var.key_node:  # list form: "KEY=value"
        start = node.col + q + len(var.key) + 1
    else:
        start = node.col + q
    raw = var.raw or ""
    loc = Location(path, node.line, start, node.line, start + len(raw))
    if "$" in raw or node.end_line != node.line or not raw:
        return loc, None
    return loc, loc


def _pg_hba_files(stack: Stack, svc) -> list:
    out = []
    for sf in stack.files.values():
        if sf.kind != "pg_hba" or sf.doc is None:
            continue
        if any(s is svc for s, _t in sf.mounted_by):
            out.append(sf)
    return out


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------


class Setting:
    """One redis setting: its name, arguments, and where it is set."""

    name: str  # lower case, without the leading --
    args: list[str]
    location: Location
    source: str  # "command" or the redis.conf path
    unknown: bool = False  # a value came from an undefined variable

    __match_args__ = ("name", "args", "location", "source", "unknown")

    def __init__(self, name, args, location, source, unknown=False):
        self.name = name
        self.args = args
        self.location = location
        self.source = source
        self.unknown = unknown


class RedisConfig:
    """The settings a redis server runs with: command-line ``--name value`` options override the
    redis.conf the command loads (``redis-server /path/redis.conf --opt v``)."""

    settings: list[Setting]
    conf_files: list[str]  # host paths of loaded redis.conf files
    unloaded_confs: list[str]  # mounted but not passed to redis-server
    conf_unknown: bool = False  # the command loads a config dkscan cannot read
    has_command: bool = False  # the service runs redis-server with an explicit command

    __match_args__ = ("settings", "conf_files", "unloaded_confs", "conf_unknown", "has_command")

    def __init__(self, settings=_FACTORY, conf_files=_FACTORY, unloaded_confs=_FACTORY, conf_unknown=False, has_command=False):
        self.settings = list() if settings is _FACTORY else settings
        self.conf_files = list() if conf_files is _FACTORY else conf_files
        self.unloaded_confs = list() if unloaded_confs is _FACTORY else unloaded_confs
        self.conf_unknown = conf_unknown
        self.has_command = has_command

    def all(self, name: str) -> list[Setting]:
        name = name.lower()
        return [s for s in self.settings if s.name == name]

    def get(self, name: str) -> Setting | None:
        """The effective (last) value of a single-value setting."""
        found = self.all(name)
        return found[-1] if found else None


def _command_locations(svc) -> list[tuple[str, Location, object]]:
    """(text, location, node) for each command scalar: the items of a list command, or the string."""
    from scanner.parsers.yamlnodes import YScalar, YSeq

    out = []
    for key in ("command", "entrypoint"):
        node = svc.get(key)
        if isinstance(node, YScalar) and node.value is not None:
            out.append((str(node), Location(svc.doc.path, node.line, node.col, node.end_line, node.end_col), node))
        elif isinstance(node, YSeq):
            for item in node:
                if isinstance(item, YScalar) and item.value is not None:
                    out.append((str(item), Location(svc.doc.path, item.line, item.col, item.end_line, item.end_col), item))
    return out


def _split(text: str) -> list[str]:
    from scanner.parsers.base import shell_split  # shlex.split(text, comments=False), cached

    return shell_split(text)


def _redis_words(svc) -> list[tuple[str, Location, object]]:
    """The words of the service's command, with ``sh -c "redis-server ..."`` scripts split too."""
    words: list[tuple[str, Location, object]] = []
    for text, loc, node in _command_locations(svc):
        parts = _split(text)
        if len(parts) > 1 or (parts and parts[0] != text):
            words.extend((p, loc, node) for p in parts)
        else:
            words.append((text, loc, node))
    # second level: a script word ("redis-server --requirepass $X") inside a list or string command
    out: list[tuple[str, Location, object]] = []
    for w, loc, node in words:
        if " " in w and ("redis-server" in w or "--" in w):
            out.extend((p, loc, node) for p in _split(w.replace("&&", " && ").replace(";", " ; ")))
        else:
            out.append((w, loc, node))
    return out


def _word_location(loc: Location, node, doc, word: str) -> Location:
    """Narrow a command location to ``word`` when it is on one line of the scalar."""
    if word and node is not None and doc is not None:
        for line_no in range(node.line, (node.end_line or node.line) + 1):
            text = doc.line_text(line_no)
            start = node.col - 1 if line_no == node.line else 0
            idx = text.find(word, start)
            if idx >= 0:
                return Location(loc.path, line_no, idx + 1, line_no, idx + 1 + len(word))
    return loc


def redis_config(stack: Stack, svc) -> RedisConfig:
    """Parse the redis server settings of ``svc`` (command options and the loaded redis.conf)."""
    return stack.memo(("redis", id(svc)), lambda: _redis_config(stack, svc))


def _redis_config(stack: Stack, svc) -> RedisConfig:
    cfg = RedisConfig()
    words = _redis_words(svc)
    # start after the redis-server word (or at the beginning: `command: --requirepass x` is
    # appended to the image's redis-server entrypoint)
    start = 0
    for i, (w, _l, _n) in enumerate(words):
        if posixpath.basename(w) in ("redis-server", "valkey-server", "keydb-server"):
            start = i + 1
            cfg.has_command = True
            break
    else:
        if words and words[0][0].startswith("--"):
            cfg.has_command = True
        elif words:
            cfg.has_command = True
    undefined = {r.name for _t, _l, node in _command_locations(svc) for r in (getattr(node, "vars", None) or [])
                 if not r.defined and not r.has_default and r.op not in ("+", ":+")}
    confs: list[str] = []
    cmd_settings: list[Setting] = []
    i = start
    while i < len(words):
        w, loc, node = words[i]
        if w in ("&&", ";", "|", "||"):
            break
        if w.startswith("--") and len(w) > 2:
            name = w[2:].lower()
            args = []
            j = i + 1
            while j < len(words) and not words[j][0].startswith("--") and words[j][0] not in ("&&", ";", "|", "||"):
                args.append(words[j][0])
                j += 1
            wl = _word_location(loc, node, svc.doc, w)
            cmd_settings.append(Setting(name, args, wl, "command", False))
            i = j
            continue
        if i == start and not w.startswith("-") and (w.endswith(".conf") or "/" in w):
            confs.append(w)
        i += 1
    # a setting whose value comes from a `${VAR}` no interpolation source defines is unknown
    if undefined:
        raw_settings = _raw_settings(svc)
        seen: dict[str, int] = {}
        for st in cmd_settings:
            k = seen.get(st.name, 0)
            seen[st.name] = k + 1
            raws = [a for n, a in raw_settings if n == st.name]
            if k < len(raws):
                st.unknown = any(v in undefined for v in _var_names(" ".join(raws[k])))
            else:
                st.unknown = not st.args or any(a == "" for a in st.args)
    # the redis.conf files the command loads
    loaded_rel: set[str] = set()
    for cpath in confs:
        rel = stack.host_path(svc, cpath) if cpath.startswith("/") else None
        sf = stack.files.get(rel) if rel else None
        if sf is None or sf.doc is None:
            cfg.conf_unknown = True
            continue
        loaded_rel.add(sf.rel)
        cfg.conf_files.append(sf.rel)
        cfg.settings.extend(_parse_redis_conf(sf))
    # Bitnami loads a redis.conf mounted at /opt/bitnami/redis/mounted-etc/
    bitnami = "bitnami" in (svc.image or "").lower()
    for sf in stack.files.values():
        if sf.kind != "redis" or sf.doc is None or sf.rel in loaded_rel:
            continue
        for s, target in sf.mounted_by:
            if s is not svc:
                continue
            if bitnami and "/opt/bitnami/redis/mounted-etc/" in (target or ""):
                loaded_rel.add(sf.rel)
                cfg.conf_files.append(sf.rel)
                cfg.settings.extend(_parse_redis_conf(sf))
            else:
                cfg.unloaded_confs.append(sf.rel)
    cfg.settings.extend(cmd_settings)
    return cfg


_VAR = LazyRe(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _var_names(text: str) -> set[str]:
    """Compose variables referenced by raw text (``$$`` escapes are not references)."""
    return set(_VAR.findall((text or "").replace("$$", "")))


def _raw_settings(svc) -> list[tuple[str, list[str]]]:
    """(name, raw args) of the ``--name args`` options in the command as written, before
    interpolation, in order."""
    from scanner.parsers.yamlnodes import YScalar, YSeq

    words: list[str] = []
    for key in ("command", "entrypoint"):
        node = svc.get(key)
        items = [node] if isinstance(node, YScalar) else list(node) if isinstance(node, YSeq) else []
        for item in items:
            if isinstance(item, YScalar) and item.raw:
                parts = _split(item.raw)
                words.extend(parts if isinstance(node, YScalar) or len(parts) > 1 else [item.raw])
    out: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--") and len(w) > 2:
            j = i + 1
            while j < len(words) and not words[j].startswith("--"):
                j += 1
            out.append((w[2:].lower(), words[i + 1:j]))
            i = j
            continue
        i += 1
    return out


def _parse_redis_conf(sf) -> list[Setting]:
    """The settings of a redis.conf, as its parser (``scanner.parsers.redis``) read them."""
    out = []
    for d in getattr(sf.doc, "directives", ()):
        out.append(Setting(d.name, list(d.args), Location(sf.rel, d.line, d.col, d.line, d.col + len(d.name)), sf.rel))
    return out


def redis_auth_problem(stack: Stack, svc) -> tuple[str, Location] | None:
    """(reason, location) when ``svc`` (a redis service) accepts clients without a password (DATA080).

    The location is the offending setting, or the service key when authentication is missing."""
    return stack.memo(("redisauth", id(svc)), lambda: _redis_auth_problem(stack, svc))


def _redis_auth_problem(stack: Stack, svc) -> tuple[str, Location] | None:
    cfg = redis_config(stack, svc)
    if cfg.conf_unknown:
        return None
    # `user default on nopass` is explicit, whatever else is set
    for s in cfg.all("user"):
        args = [a.lower() for a in s.args]
        if args and args[0] == "default" and "nopass" in args and "off" not in args:
            return ("ACL `user default on nopass`: the default user needs no password", s.location)
    acl = bool(cfg.all("aclfile")) or any(s.args for s in cfg.all("user"))
    req = cfg.get("requirepass")
    bitnami = "bitnami" in (svc.image or "").lower()
    if bitnami:
        allow = env_var(stack, svc, "ALLOW_EMPTY_PASSWORD")
        if allow is not None and str(allow[0] or "").lower() in ("yes", "true", "1"):
            return ("ALLOW_EMPTY_PASSWORD=yes: the Bitnami image starts redis without a password", allow[1])
        pw = env_var(stack, svc, "REDIS_PASSWORD") or env_var(stack, svc, "REDIS_PASSWORD_FILE")
        if pw is not None:
            if pw[2] == "empty":
                return ("REDIS_PASSWORD is empty: the Bitnami image starts redis without a password", pw[1])
            return None
    if req is not None:
        if req.unknown:
            return None
        value = req.args[0] if req.args else ""
        if "$" in value:
            # resolved by the container's shell from its environment
            name = re.sub(r"[${}\"']", "", value).split(":", 1)[0].split("-", 1)[0]
            got = env_var(stack, svc, name) if re.fullmatch(r"[A-Za-z_]\w*", name or "") else None
            if got is not None and got[2] == "empty":
                return (f"requirepass comes from {name}, which is empty: redis accepts any client", req.location)
            return None
        if value == "":
            return ("requirepass is empty: redis accepts any client", req.location)
        return None
    if acl:
        return None
    where = ""
    if cfg.unloaded_confs:
        where = f" ({cfg.unloaded_confs[0]} is mounted but the command does not load it)"
    pm = cfg.get("protected-mode")
    pm_txt = "; protected-mode is off" if pm is not None and pm.args and pm.args[0].lower() == "no" else ""
    return (f"redis has no requirepass and no ACL user{where}{pm_txt}: any client that reaches it can read, "
            f"write and reconfigure it", svc_loc(svc))


# ---------------------------------------------------------------------------------------------
# NATS
# ---------------------------------------------------------------------------------------------


def nats_configs(stack: Stack, svc) -> list:
    """The nats configuration documents ``svc`` loads (mounted by it), main files first."""
    return stack.memo(("natscfg", id(svc)), lambda: _nats_configs(stack, svc))


def _nats_configs(stack: Stack, svc) -> list:
    included = _nats_included(stack)
    mounted = [sf for sf in stack.files.values()
               if sf.kind == "nats" and sf.doc is not None and any(s is svc for s, _t in sf.mounted_by)]
    main = [sf.doc for sf in mounted if sf.rel not in included]
    return main or [sf.doc for sf in mounted]


def _nats_included(stack: Stack) -> set[str]:
    def compute():
        out: set[str] = set()
        for sf in stack.sources("nats"):
            for inc in getattr(sf.doc, "includes", []) or []:
                if isinstance(inc.value, str):
                    out.add(posixpath.normpath(posixpath.join(posixpath.dirname(sf.rel), inc.value)))
        return out
    return stack.memo("natsincluded", compute)


def nats_included_docs(stack: Stack, doc) -> list:
    """The documents ``doc`` includes (paths relative to the including file), when in the stack."""
    out = []
    for inc in getattr(doc, "includes", []) or []:
        if not isinstance(inc.value, str):
            continue
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(doc.path), inc.value))
        sf = stack.files.get(rel)
        if sf is not None and sf.kind == "nats" and sf.doc is not None and sf.doc is not doc:
            out.append(sf.doc)
        elif sf is None and rel != doc.path:
            extra = _read_nats_fragment(stack, rel)
            if extra is not None:
                out.append(extra)
    return out


def _read_nats_fragment(stack: Stack, rel: str):
    """An included nats file discovery did not classify (``auth.conf``), parsed on demand."""

    def compute():
        from scanner.parsers import nats

        if rel.startswith("..") or rel.startswith("/"):
            return None
        text = stack.read_text(rel, 1_000_000)
        return nats.parse(text, rel) if text is not None else None

    return stack.memo(("natsfrag", rel), compute)


def is_nats_included(stack: Stack, doc) -> bool:
    """True when another nats file of the stack includes ``doc`` (it is a fragment, not a server config)."""
    return doc.path in _nats_included(stack)


def nats_blocks(stack: Stack, doc):
    """The top-level blocks of ``doc`` and of the files it includes (one level)."""
    from scanner.parsers.nats import NatsBlock

    out = [doc.root] if isinstance(getattr(doc, "root", None), NatsBlock) else []
    for inc in nats_included_docs(stack, doc):
        if isinstance(getattr(inc, "root", None), NatsBlock):
            out.append(inc.root)
    return out


def nats_get(blocks, key: str):
    for b in reversed(blocks):
        e = b.get(key)
        if e is not None:
            return e
    return None


def nats_auth_problem(stack: Stack, doc) -> tuple[str, object] | None:
    """(reason, NatsEntry or None) when the nats server configured by ``doc`` lets clients in
    without credentials (API060): no ``authorization`` (with users, a token or nkeys), no
    ``accounts`` with users, no ``operator``; or a ``no_auth_user`` whose user has no
    ``permissions``. The entry, when given, is the offending ``no_auth_user``."""
    from scanner.parsers.nats import NatsBlock

    blocks = nats_blocks(stack, doc)
    if not blocks:
        return None
    if nats_get(blocks, "operator") is not None or nats_get(blocks, "trusted_keys") is not None \
            or nats_get(blocks, "trusted") is not None:
        return None
    users: dict[str, object] = {}  # user name -> user block
    has_auth = False
    authz = nats_get(blocks, "authorization")
    if authz is not None and isinstance(authz.value, NatsBlock):
        ab = authz.value
        if ab.get("user") is not None or ab.get("token") is not None or ab.get("auth_callout") is not None:
            has_auth = True
        for key in ("users", "nkeys"):
            e = ab.get(key)
            if e is not None and isinstance(e.value, list) and e.value:
                has_auth = True
                _collect_users(e.value, users)
    elif authz is not None and authz.is_ref:
        return None  # authorization comes from a variable: unknown
    accounts = nats_get(blocks, "accounts")
    if accounts is not None and isinstance(accounts.value, NatsBlock):
        for acc in accounts.value.entries:
            if isinstance(acc.value, NatsBlock):
                for key in ("users", "nkeys"):
                    e = acc.value.get(key)
                    if e is not None and isinstance(e.value, list) and e.value:
                        has_auth = True
                        _collect_users(e.value, users)
    if not has_auth:
        return ("nats-server has no authorization, accounts or operator: any client connects and "
                "publishes or subscribes to every subject", None)
    nau = nats_get(blocks, "no_auth_user")
    if nau is not None and isinstance(nau.value, str) and not nau.is_ref:
        user = users.get(nau.value)
        if isinstance(user, NatsBlock) and user.get("permissions") is None:
            return (f"no_auth_user '{nau.value}' has no permissions: clients without credentials act as "
                    f"that user with full rights", nau)
    return None


def _collect_users(items: list, users: dict) -> None:
    from scanner.parsers.nats import NatsBlock

    for item in items:
        if isinstance(item, NatsBlock):
            u = item.get("user") or item.get("nkey")
            if u is not None and isinstance(u.value, str):
                users[u.value] = item


def nats_monitor_ports(stack: Stack, svc) -> set[int]:
    """Container ports on which ``svc`` (nats) serves its monitoring endpoint: ``http_port``,
    ``monitor_port``, ``http``/``https`` in its configuration, ``-m``/``--http_port`` on its command;
    the official image's default configuration (no mounted config, no ``-c``) listens on 8222."""
    return stack.memo(("natsmon", id(svc)), lambda: _nats_monitor_ports(stack, svc))


def _nats_monitor_ports(stack: Stack, svc) -> set[int]:
    ports: set[int] = set()
    words = svc.command_words()
    for i, w in enumerate(words):
        for flag in ("-m", "--http_port", "-ms", "--https_port"):
            val = None
            if w == flag and i + 1 < len(words):
                val = words[i + 1]
            elif w.startswith(flag + "="):
                val = w.split("=", 1)[1]
            if val is not None:
                try:
                    ports.add(int(val))
                except ValueError:
                    pass
    docs = nats_configs(stack, svc)
    for doc in docs:
        blocks = nats_blocks(stack, doc)
        for key in ("http_port", "monitor_port", "https_port", "http", "https"):
            e = nats_get(blocks, key)
            if e is None:
                continue
            v = e.value
            if isinstance(v, int) and not isinstance(v, bool):
                ports.add(v)
            elif isinstance(v, str) and ":" in v:
                try:
                    ports.add(int(v.rsplit(":", 1)[1]))
                except ValueError:
                    pass
    if not docs and not _nats_config_flag(words) and not ports:
        ports.add(8222)  # the official image's /etc/nats/nats-server.conf (or nats:alpine's) monitor_port
    return ports


def _nats_config_flag(words: list[str]) -> str | None:
    for i, w in enumerate(words):
        if w in ("-c", "--config") and i + 1 < len(words):
            return words[i + 1]
        if w.startswith("--config="):
            return w.split("=", 1)[1]
    return None


def _nats_service_reason(stack: Stack, svc) -> str | None:
    words = svc.command_words()
    if any(w in ("--auth", "--user", "--pass") or w.startswith(("--auth=", "--user=", "--pass=")) for w in words):
        return None
    docs = nats_configs(stack, svc)
    if docs:
        for doc in docs:
            p = nats_auth_problem(stack, doc)
            if p is None:
                return None
        p = nats_auth_problem(stack, docs[0])
        return p[0] if p else None
    cfg = _nats_config_flag(words)
    if cfg is not None:
        return None  # a configuration dkscan cannot see
    # the image's default configuration has no authorization
    return "nats-server runs the image's default configuration: no authorization, any client connects"


# ---------------------------------------------------------------------------------------------
# MinIO, Prometheus
# ---------------------------------------------------------------------------------------------


def minio_root_unset(stack: Stack, svc) -> str | None:
    """Why ``svc`` (MinIO) runs with the default ``minioadmin:minioadmin`` root (DATA083), or None."""
    found = minio_root_cause(stack, svc)
    return found[0] if found else None


def minio_root_cause(stack: Stack, svc) -> tuple[str, Location | None] | None:
    """``minio_root_unset``'s reason and the line to change: the empty password variable (None when
    nothing is written: the service is the place)."""
    pw_keys = ("MINIO_ROOT_PASSWORD", "MINIO_ROOT_PASSWORD_FILE", "MINIO_SECRET_KEY", "MINIO_SECRET_KEY_FILE")
    user_keys = ("MINIO_ROOT_USER", "MINIO_ROOT_USER_FILE", "MINIO_ACCESS_KEY", "MINIO_ACCESS_KEY_FILE")
    if "bitnami" in (svc.image or "").lower():
        pw_keys += ("MINIO_ROOT_PASSWORD",)
    states = [env_var(stack, svc, k) for k in pw_keys]
    present = [s for s in states if s is not None]
    if not present:
        if _env_has(stack, svc, "MINIO_CONFIG_ENV_FILE"):
            return None  # credentials come from a config env file
        users = [env_var(stack, svc, k) for k in user_keys]
        if any(u is not None for u in users):
            return "MINIO_ROOT_PASSWORD is not set: MinIO falls back to the default root credentials or refuses to start", None
        return "MINIO_ROOT_USER/MINIO_ROOT_PASSWORD are not set: MinIO runs with the default root minioadmin:minioadmin", None
    if all(s[2] == "empty" for s in present):
        return "MINIO_ROOT_PASSWORD is empty: MinIO runs with the default root credentials", present[0][1]
    return None


def prometheus_web_config(svc) -> str | None:
    """The ``--web.config.file`` path of a prometheus service, or None."""
    words = svc.command_words() + svc.command_words("entrypoint")
    for i, w in enumerate(words):
        if w.startswith("--web.config.file="):
            return w.split("=", 1)[1] or None
        if w == "--web.config.file" and i + 1 < len(words):
            return words[i + 1]
    return None


# ---------------------------------------------------------------------------------------------
# Shared compose helpers for the service rules
# ---------------------------------------------------------------------------------------------


def service_aliases(svc) -> set[str]:
    """Every name ``svc`` answers to on its compose networks: its service name, ``container_name``,
    ``hostname`` and network ``aliases``."""
    from scanner.parsers.yamlnodes import YMap, YScalar, YSeq

    names = {svc.name}
    for key in ("container_name", "hostname"):
        v = svc.str(key)
        if v:
            names.add(v)
    nets = svc.get("networks")
    if isinstance(nets, YMap):
        for _k, net in nets.pairs():
            if isinstance(net, YMap) and isinstance(net.get("aliases"), YSeq):
                for a in net.get("aliases"):
                    if isinstance(a, YScalar) and a.value is not None:
                        names.add(str(a))
    return names


def host_names(stack: Stack) -> dict[str, object]:
    """Which service a host name means: the one answer every rule asks (nginx ``*_pass`` targets,
    connection strings, ``depends_on`` checks...). Every name a container of the stack answers to on
    a compose network -> the service: service names first (a service name is unique in its project
    and is what compose registers for it), then ``container_name``, ``hostname`` and network
    ``aliases``, then ``links`` aliases. When several services claim a name the first wins; use
    :func:`resolve_host` with ``near`` to prefer the asking service's own project."""

    def compute():
        names: dict[str, object] = {}
        for svc in stack.services:
            names.setdefault(svc.name, svc)
        for svc in stack.services:
            for n in service_aliases(svc):
                names.setdefault(n, svc)
        for svc in stack.services:
            for alias, target in _links(stack, svc):
                names.setdefault(alias, target)
        return names

    return stack.memo("hostnames", compute)


def _links(stack: Stack, svc) -> list:
    from scanner.parsers.yamlnodes import YScalar, YSeq

    out = []
    links = svc.get("links")
    if isinstance(links, YSeq):
        for link in links:
            if isinstance(link, YScalar) and link.value is not None:
                target = stack.service(str(link).split(":")[0], svc)
                if target is not None:
                    out.append((str(link).split(":")[-1], target))
    return out


def _doc_names(stack: Stack, doc) -> dict[str, object]:
    """:func:`host_names` within one compose file (service names first)."""
    def compute():
        names: dict[str, object] = {svc.name: svc for svc in doc.services.values()}
        for svc in doc.services.values():
            for n in service_aliases(svc):
                names.setdefault(n, svc)
        return names

    return stack.memo(("docnames", id(doc)), compute)


def resolve_host(stack: Stack, host: str, near=None):
    """The service a host name reaches, preferring ``near``'s compose project; None when no
    container of the stack answers to it."""
    if not host:
        return None
    if near is not None:
        for alias, target in _links(stack, near):
            if alias == host:
                return target
        found = _doc_names(stack, near.doc).get(host)
        if found is not None:
            return found
    return host_names(stack).get(host)


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", "host.docker.internal", "host-gateway"}


def is_compose_host(stack: Stack, host: str) -> bool:
    """``host`` is a container of the stack, or the machine itself."""
    h = (host or "").strip().lower().strip("[]")
    if not h:
        return True
    if h in LOCAL_HOSTS or h.startswith("127."):
        return True
    names = {k.lower() for k in host_names(stack)}
    return h in names


def service_words_text(svc) -> str:
    """command + entrypoint as one text (for searching tool names)."""
    return " ".join(t for t in (svc.command_text("entrypoint"), svc.command_text("command")) if t)


_CLIENT_JOB = LazyRe(r"\b(pg_dump|pg_dumpall|pg_basebackup|pg_restore|psql|pgbackrest|wal-g|restic|borg|"
                         r"redis-cli|mc|aws|pg_isready)\b")


def is_server(svc) -> bool:
    """A data-service role whose container runs the server, not a client job built on the same
    image (``postgres:16`` running a ``pg_dump`` loop, ``redis`` running ``redis-cli``)."""
    text = service_words_text(svc)
    if not text or not _CLIENT_JOB.search(text):
        return True
    words = svc.command_words("entrypoint") or svc.command_words()
    first = posixpath.basename(words[0]) if words else ""
    return first in ("postgres", "docker-entrypoint.sh", "redis-server", "valkey-server", "keydb-server",
                     "nats-server", "minio", "prometheus") or first.startswith("-")


def service_image(svc) -> tuple[str, str]:
    """(repository base name, tag) of the service image: ``docker.io/postgres:18-alpine`` ->
    (``postgres``, ``18-alpine``); tag '' when none. Reads the reference with ``image_parts``."""
    repo, tag, _digest = image_parts(svc.image or "")
    return repo.rsplit("/", 1)[-1].lower(), tag or ""


def command_flag_edit_remove(svc, flag: str):
    """Edits deleting the command word ``flag`` (``--web.enable-admin-api``) from a compose command:
    a block-list item line, or the word (and one blank before it) in a one-line string command.
    None when the command has another shape."""
    from scanner.model import Edit
    from scanner.parsers.yamlnodes import YScalar, YSeq

    for key in ("command", "entrypoint"):
        node = svc.get(key)
        doc = svc.doc
        if isinstance(node, YSeq):
            items = [i for i in node if isinstance(i, YScalar)]
            for idx, item in enumerate(items):
                if str(item) != flag or item.end_line != item.line:
                    continue
                line = doc.line_text(item.line)
                before = line[: item.col - 1].rstrip()
                after = line[item.end_col - 1:].strip()
                if before.endswith("-") and before.strip() == "-" and (not after or after.startswith("#")):
                    # "  - --flag" alone on its line: delete the line
                    return (Edit(Location(doc.path, item.line, 1, item.line + 1, 1), ""),)
                if node.line == node.end_line and len(items) > 1:
                    # flow list on one line: drop the item and one separating comma
                    if idx > 0:
                        prev = items[idx - 1]
                        return (Edit(Location(doc.path, item.line, prev.end_col, item.line, item.end_col), ""),)
                    nxt = items[idx + 1]
                    return (Edit(Location(doc.path, item.line, item.col, item.line, nxt.col), ""),)
                return None
        elif isinstance(node, YScalar) and node.value is not None and node.line == node.end_line:
            line = doc.line_text(node.line)
            idx = line.find(flag, node.col - 1)
            if idx < 0:
                continue
            end = idx + len(flag)
            if end < len(line) and line[end] not in " \t\"'":
                continue
            start = idx
            while start > node.col - 1 and line[start - 1] in " \t":
                start -= 1
            if start == idx:  # first word: take the blank after it instead
                while end < len(line) and line[end] in " \t":
                    end += 1
            return (Edit(Location(doc.path, node.line, start + 1, node.line, end + 1), ""),)
    return None


def command_append_edit(svc, words: list[str]):
    """Edits appending ``words`` (``["--appendonly", "yes"]``) to a compose ``command``: at the end
    of a one-line string, as new items of a block list (same indentation), or of a one-line flow
    list. None when the command is absent or has another shape."""
    from scanner.model import Edit
    from scanner.parsers.yamlnodes import YScalar, YSeq

    node = svc.get("command")
    doc = svc.doc
    if isinstance(node, YScalar) and node.value is not None and node.line == node.end_line:
        text = " " + " ".join(words)
        q = 1 if node.style in ("'", '"') else 0
        return (Edit(Location(doc.path, node.end_line, node.end_col - q, None, None), text),)
    if isinstance(node, YScalar) and node.style in (">", "|") and node.value is not None:
        # folded block: add a line after the last one, same indentation
        last = node.end_line - 1 if node.end_col == 1 else node.end_line
        while last > node.line and doc.line_text(last).strip() == "":
            last -= 1
        ind = len(doc.line_text(last)) - len(doc.line_text(last).lstrip())
        return (Edit(Location(doc.path, last + 1, 1, None, None), " " * ind + " ".join(words) + "\n"),)
    if isinstance(node, YSeq):
        items = [i for i in node if isinstance(i, YScalar)]
        if not items:
            return None
        last = items[-1]
        line = doc.line_text(last.line)
        is_block = line[: last.col - 1].rstrip().endswith("-") and line.lstrip().startswith("-")
        if is_block and all(i.line != j.line for i, j in zip(items, items[1:])):
            dash = line.index("-")
            text = "".join(" " * dash + "- " + _yaml_quote(w) + "\n" for w in words)
            return (Edit(Location(doc.path, last.end_line + 1, 1, None, None), text),)
        if node.line == node.end_line:
            text = "".join(", " + _json_quote(w) for w in words)
            return (Edit(Location(doc.path, last.end_line, last.end_col, None, None), text),)
    return None


def _yaml_quote(word: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:-]+", word) and word.lower() not in ("yes", "no", "true", "false", "on", "off", "null", "~") \
            and not re.fullmatch(r"[0-9.]+", word):
        return word
    return _json_quote(word)


def _json_quote(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_host(value: str) -> str | None:
    """Host named by an env value: a URL's host, or a bare ``host``/``host:port``."""
    v = (value or "").strip()
    if not v or len(v) > 2048:
        return None
    if "://" in v:
        try:
            return urlsplit(v).hostname
        except ValueError:
            return None
    if v.count(":") <= 1 and re.fullmatch(r"[A-Za-z0-9_.-]+(:\d+)?(/\S*)?", v):
        return v.split("/")[0].split(":")[0]
    return None


def env_targets(stack: Stack, app) -> dict:
    """KEY -> the service its value names (as seen from ``app``), for ``app``'s environment."""
    def compute():
        out = {}
        for key, (value, _p, _l) in service_env(stack, app).items():
            host = value_host(value)
            target = resolve_host(stack, host, app) if host else None
            if target is not None:
                out[key] = target
        return out

    return stack.memo(("envtargets", id(app)), compute)


def persistence_off(cfg) -> tuple[object, object] | None:
    """(save setting, appendonly setting or None) when neither RDB nor AOF persistence is on."""
    aof = cfg.get("appendonly")
    if aof is not None and aof.args and aof.args[0].lower() == "yes":
        return None
    saves = cfg.all("save")
    if not saves:
        return None  # default RDB snapshots
    last = saves[-1]
    if last.unknown or any(a.strip() for a in last.args):
        return None
    return last, aof


_WORDS_ONLY = LazyRe(r"\w*")


def is_cors_credentials_key(key: str) -> bool:
    """An environment key that turns CORS credentials on: ``CORS_*CREDENTIALS``,
    ``*_ALLOW_CREDENTIALS``, ``*CORS*CREDENTIALS`` (any case) — decided by its parts in linear time
    (the equivalent regex backtracks quadratically on a long key made of ``CORS``)."""
    k = key[:-1] if key.endswith("\n") else key
    if not _WORDS_ONLY.fullmatch(k):
        return False
    u = k.upper()
    if not u.endswith("CREDENTIALS"):
        return False
    head = u[:-len("CREDENTIALS")]
    return u.startswith("CORS_") or head.endswith("_ALLOW_") or "CORS" in head


_RELOAD_FIXED = LazyRe(r"nginx\s+-s\s+reload|nginx\s+-s\s+reopen|kill\s+-(HUP|s\s+HUP|1)\b|-s\s+HUP|--signal[= ]HUP", re.I)
_RELOAD_WORD = LazyRe(r"reload\b", re.I)
_RELOAD_WORD_B = LazyRe(r"\breload\b", re.I)
_NGINX_WORD = LazyRe(r"nginx", re.I)


def mentions_nginx_reload(text: str) -> bool:
    """Whether a command reloads nginx: ``nginx -s reload``, a HUP signal, or ``reload`` and ``nginx``
    on one line in either order. Each order is judged from the first occurrence on the line (a regex
    ``reload\\b.*nginx`` searched again from every ``reload``: quadratic on a long line of them)."""
    if _RELOAD_FIXED.search(text):
        return True
    for line in text.split("\n"):
        m = _RELOAD_WORD.search(line)
        if m and _NGINX_WORD.search(line, m.end()):
            return True
        m = _NGINX_WORD.search(line)
        if m and _RELOAD_WORD_B.search(line, m.end()):
            return True
    return False


# Registry images known to ship a HEALTHCHECK: a data file of the package, each entry with the
# Dockerfile it was read from (rules/helpers/data/images_with_healthcheck.json).
HEALTHCHECK_TABLE = Path(__file__).resolve().parent / "data" / "images_with_healthcheck.json"


@lru_cache(maxsize=1)
def images_with_healthcheck() -> dict[str, str]:
    """Image repository (lower case, without the Docker Hub prefix) -> where its HEALTHCHECK is written."""
    data = json.loads(HEALTHCHECK_TABLE.read_text(encoding="utf-8"))
    return {e["image"].lower(): e["source"] for e in data["images"]}


def image_healthcheck_source(svc) -> str | None:
    """Where the HEALTHCHECK of the registry image ``svc`` runs is written (``images_with_healthcheck``),
    or None when dkscan does not know the image to ship one."""
    if svc.build is not None or not svc.image:
        return None
    repo, _tag, _digest = image_parts(svc.image)
    repo = repo.lower()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
    return images_with_healthcheck().get(repo)


_JOB_NAME = LazyRe(r"(^|[-_])(init|migrate|migration|migrations|setup|seed|createbuckets?|bootstrap|provision)([-_]|$)", re.I)


def one_shot(svc) -> bool:
    """A service meant to run once and exit: ``restart: "no"``, a swarm job or
    ``restart_policy.condition: none``, a certbot ``certonly`` without a renew loop, or an
    init/migration job (``*-init``, ``*-migrate``, a ``migrate`` command) that does not restart
    unconditionally. Such a service needs no restart policy, healthcheck or scrape job -- and a fix
    that adds ``restart: unless-stopped`` would rerun it forever."""
    from scanner.parsers.yamlnodes import YMap, YScalar

    restart = svc.get("restart")
    if isinstance(restart, YScalar) and (restart.value is False or str(restart).strip().strip("'\"").lower() == "no"):
        return True
    words = svc.command_words() + svc.command_words("entrypoint")
    if svc.str("restart") not in ("always", "unless-stopped"):
        if _JOB_NAME.search(svc.name) or any(w in ("migrate", "migration") for w in words[:3]):
            return True
    deploy = svc.get("deploy")
    if isinstance(deploy, YMap):
        if (deploy.str("mode") or "").lower() in ("replicated-job", "global-job"):
            return True
        rp = deploy.get("restart_policy")
        if isinstance(rp, YMap) and (rp.str("condition") or "").lower() == "none":
            return True
    return svc.role == "certbot" and "certonly" in words and "renew" not in " ".join(words)


# ---------------------------------------------------------------------------------------------
# Admin, mail and tracing UIs with no login of their own (PER043)
# ---------------------------------------------------------------------------------------------


def _env_set(stack: Stack, svc, key: str) -> bool:
    """The variable is given a value (or one dkscan cannot see: a ``${VAR}`` from the deploy's shell)."""
    found = env_var(stack, svc, key)
    return found is not None and found[2] in ("set", "unknown")


def _flag(svc, *names: str) -> bool:
    """A command/entrypoint word is one of ``names`` (``--x``, ``--x=value``, ``-x value``)."""
    words = svc.command_words() + svc.command_words("entrypoint")
    return any(w.split("=", 1)[0] in names for w in words)


def _flag_value(svc, name: str) -> str | None:
    words = svc.command_words() + svc.command_words("entrypoint")
    for i, w in enumerate(words):
        if w == name:
            return words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("-") else "true"
        if w.startswith(name + "="):
            return w.split("=", 1)[1]
    return None


def admin_ui(stack: Stack, svc) -> tuple[str, int, str] | None:
    """(UI name, container port, why it asks for no credentials) when the service is an admin, mail
    or tracing UI without a login of its own (PER043); None for anything else, and for UIs with a
    login (adminer, pgAdmin in server mode, the MinIO console: PER001/PER041 judge those)."""
    return stack.memo(("admin_ui", id(svc)), lambda: _admin_ui(stack, svc))


def _admin_ui(stack: Stack, svc) -> tuple[str, int, str] | None:
    repo = image_parts(svc.image or "")[0].lower()
    base = repo.rsplit("/", 1)[-1]
    if base == "mailpit":
        if _env_set(stack, svc, "MP_UI_AUTH") or _env_set(stack, svc, "MP_UI_AUTH_FILE") or _flag(svc, "--ui-auth-file", "--ui-auth"):
            return None
        return "Mailpit", 8025, "Mailpit's web UI and API without MP_UI_AUTH/MP_UI_AUTH_FILE: anyone reads every captured e-mail (password resets, invitations)"
    if base == "mailhog":
        if _env_set(stack, svc, "MH_AUTH_FILE") or _flag(svc, "-auth-file", "--auth-file"):
            return None
        return "MailHog", 8025, "MailHog's web UI and API without -auth-file/MH_AUTH_FILE: anyone reads every captured e-mail"
    if repo.startswith("jaegertracing/") and base in ("all-in-one", "jaeger", "jaeger-query") or base == "jaeger":
        return "Jaeger", 16686, "the Jaeger UI has no authentication: anyone reads every trace (URLs, headers, SQL, user ids)"
    if base == "redis-commander":
        if _env_set(stack, svc, "HTTP_PASSWORD_HASH") or _env_set(stack, svc, "HTTP_PASSWORD_HASH_FILE") or (
                _env_set(stack, svc, "HTTP_USER") and (_env_set(stack, svc, "HTTP_PASSWORD") or _env_set(stack, svc, "HTTP_PASSWORD_FILE"))):
            return None
        return "Redis Commander", 8081, "Redis Commander without HTTP_USER + HTTP_PASSWORD (or HTTP_PASSWORD_HASH): anyone reads and rewrites Redis"
    if base == "alertmanager":
        if _flag(svc, "--web.config.file"):
            return None
        return "Alertmanager", 9093, "Alertmanager without --web.config.file: anyone silences alerts and reads the routing tree"
    if base == "pgadmin4":
        found = env_var(stack, svc, "PGADMIN_CONFIG_SERVER_MODE")
        if found is None or found[2] != "set" or str(found[0]).strip().strip("'\"").lower() not in ("false", "0"):
            return None  # server mode (the default) asks for a login
        port = 443 if _env_set(stack, svc, "PGADMIN_ENABLE_TLS") else 80
        listen = env_var(stack, svc, "PGADMIN_LISTEN_PORT")
        if listen is not None and small_int(str(listen[0] or "")) is not None:
            port = small_int(str(listen[0]))
        return "pgAdmin", port, "pgAdmin with PGADMIN_CONFIG_SERVER_MODE=False (desktop mode): no login, anyone uses its saved database connections"
    if base == "traefik":
        value = _flag_value(svc, "--api.insecure")
        env = env_var(stack, svc, "TRAEFIK_API_INSECURE")
        if (value or "").lower() == "true" or (env is not None and str(env[0] or "").lower() == "true"):
            return "Traefik dashboard", 8080, "Traefik --api.insecure=true serves the dashboard and API on 8080 without authentication"
    return None

"""Compose files: positioned YAML, ``${VAR}`` interpolation, normalised ports, volumes and environment.

Interpolation follows the Compose specification: ``$$`` is a literal ``$``; ``$VAR``, ``${VAR}``,
``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?err}``, ``${VAR?err}``, ``${VAR:+alt}``, ``${VAR+alt}``
(defaults may nest). Values come from the stack's interpolation sources (``.env`` beside the compose
file); every reference is remembered with where its value came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from .base import Document, ParseError
from .yamlnodes import YMap, YNode, YScalar, YSeq, parse_yaml, secret_marks, walk

# the files `docker compose` reads without -f/COMPOSE_FILE, in its order, and their override files
DEFAULT_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml",
                  "docker-compose.override.yml")
from ..lazyre import LazyRe
from ..plain import frozen_error as _frozen


class VarRef:
    """One ``${VAR}`` reference in a compose value."""

    name: str
    col: int  # offset of the ``$`` inside the raw scalar (0-based)
    default: str | None  # text of the default/alt branch, when there is one
    op: str  # "", ":-", "-", ":?", "?", ":+", "+"
    defined: bool
    source: str | None  # path of the file that defined it, or None

    __match_args__ = ("name", "col", "default", "op", "defined", "source")

    def __init__(self, name, col, default, op, defined, source):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "col", col)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "defined", defined)
        object.__setattr__(self, "source", source)

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.name, self.col, self.default, self.op, self.defined, self.source) == (other.name, other.col, other.default, other.op, other.defined, other.source)
        return NotImplemented

    def __hash__(self):
        return hash((self.name, self.col, self.default, self.op, self.defined, self.source))

    def __setattr__(self, name, value):
        if type(self) is VarRef or name in ("name", "col", "default", "op", "defined", "source"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(VarRef, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is VarRef or name in ("name", "col", "default", "op", "defined", "source"):
            raise _frozen(f"cannot delete field {name!r}")
        super(VarRef, self).__delattr__(name)

    @property
    def has_default(self) -> bool:
        return self.op in (":-", "-")

    @property
    def required(self) -> bool:
        return self.op in (":?", "?")


_NAME = LazyRe(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(raw: str, env: dict[str, tuple[str, str]]) -> tuple[str, list[VarRef], list[str]]:
    """Return (text, refs, errors). ``env`` maps NAME -> (value, source path)."""
    out: list[str] = []
    refs: list[VarRef] = []
    errors: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if raw.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if i + 1 < n and raw[i + 1] == "{":
            end = _matching_brace(raw, i + 1)
            if end < 0:
                errors.append(f"unclosed '${{' at offset {i}")
                out.append(raw[i:])
                break
            body = raw[i + 2 : end]
            m = _NAME.match(body)
            if not m:
                errors.append(f"invalid interpolation '${{{body}}}'")
                out.append(raw[i : end + 1])
                i = end + 1
                continue
            name = m.group(0)
            rest = body[m.end() :]
            op, arg = "", None
            for cand in (":-", ":?", ":+", "-", "?", "+"):
                if rest.startswith(cand):
                    op, arg = cand, rest[len(cand) :]
                    break
            if rest and not op:
                errors.append(f"invalid interpolation '${{{body}}}'")
            value = env.get(name)
            defined = value is not None
            refs.append(VarRef(name, i, arg, op, defined, value[1] if value else None))
            val = value[0] if value else None
            nested_text = None
            if arg is not None and op in (":-", "-", ":+", "+"):
                nested_text, nested_refs, nested_err = interpolate(arg, env)
                refs.extend(VarRef(r.name, i + 2 + m.end() + len(op) + r.col, r.default, r.op, r.defined, r.source) for r in nested_refs)
                errors.extend(nested_err)
            if op == ":-":
                out.append(val if val else (nested_text or ""))
            elif op == "-":
                out.append(val if val is not None else (nested_text or ""))
            elif op == ":+":
                out.append(nested_text or "" if val else "")
            elif op == "+":
                out.append(nested_text or "" if val is not None else "")
            else:  # plain, ?, :?
                out.append(val or "")
            i = end + 1
            continue
        m = _NAME.match(raw, i + 1)
        if m:
            name = m.group(0)
            value = env.get(name)
            refs.append(VarRef(name, i, None, "", value is not None, value[1] if value else None))
            out.append(value[0] if value else "")
            i = m.end()
            continue
        out.append("$")
        i += 1
    return "".join(out), refs, errors


def _matching_brace(raw: str, open_idx: int) -> int:
    depth = 0
    for j in range(open_idx, len(raw)):
        c = raw[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


class Port:
    """One published or exposed port of a service."""

    node: YNode
    container: str  # "5432" or "8000-8010"
    host: str | None  # published host port (None: container port only -> random host port)
    host_ip: str | None  # None = all interfaces
    protocol: str = "tcp"

    __match_args__ = ("node", "container", "host", "host_ip", "protocol")

    def __init__(self, node, container, host, host_ip, protocol="tcp"):
        self.node = node
        self.container = container
        self.host = host
        self.host_ip = host_ip
        self.protocol = protocol

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.node, self.container, self.host, self.host_ip, self.protocol) == (other.node, other.container, other.host, other.host_ip, other.protocol)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    @property
    def container_ports(self) -> list[int]:
        return _expand_range(self.container)

    @property
    def host_ports(self) -> list[int]:
        return _expand_range(self.host) if self.host else []

    @property
    def public(self) -> bool:
        """Bound to every interface (no host IP, 0.0.0.0 or ::)."""
        return self.host_ip in (None, "", "0.0.0.0", "::", "[::]")


def _expand_range(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        if "-" in text:
            a, b = text.split("-", 1)
            lo, hi = int(a), int(b)
            return list(range(lo, min(hi, lo + 1024) + 1))
        return [int(text)]
    except ValueError:
        return []


class Mount:
    """One volume, bind mount or tmpfs of a service."""

    node: YNode
    type: str  # "bind" | "volume" | "tmpfs"
    source: str | None
    target: str
    read_only: bool
    propagation: str | None = None

    __match_args__ = ("node", "type", "source", "target", "read_only", "propagation")

    def __init__(self, node, type, source, target, read_only, propagation=None):
        self.node = node
        self.type = type
        self.source = source
        self.target = target
        self.read_only = read_only
        self.propagation = propagation

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.node, self.type, self.source, self.target, self.read_only, self.propagation) == (other.node, other.type, other.source, other.target, other.read_only, other.propagation)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    @property
    def is_bind(self) -> bool:
        return self.type == "bind"


class EnvVar:
    """One environment variable of a service."""

    key: str
    value: str | None  # interpolated; None = "KEY" without value (taken from the shell)
    key_node: YNode
    value_node: YNode | None
    raw: str | None  # before interpolation

    __match_args__ = ("key", "value", "key_node", "value_node", "raw")

    def __init__(self, key, value, key_node, value_node, raw):
        self.key = key
        self.value = value
        self.key_node = key_node
        self.value_node = value_node
        self.raw = raw

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.key, self.value, self.key_node, self.value_node, self.raw) == (other.key, other.value, other.key_node, other.value_node, other.raw)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was


class Service:
    """A compose service and its node."""

    name: str
    key: YScalar
    node: YMap
    doc: "ComposeDocument"
    role: str = "other"

    __match_args__ = ("name", "key", "node", "doc", "role")

    def __init__(self, name, key, node, doc, role="other"):
        self.name = name
        self.key = key
        self.node = node
        self.doc = doc
        self.role = role

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.name, self.key, self.node, self.doc, self.role) == (other.name, other.key, other.node, other.doc, other.role)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    # -- plain accessors ---------------------------------------------------------------
    def get(self, key: str) -> YNode | None:
        return self.node.get(key) if isinstance(self.node, YMap) else None

    def str(self, key: str) -> str | None:
        v = self.get(key)
        return str(v) if isinstance(v, YScalar) and v.value is not None else None

    @property
    def image(self) -> str | None:
        return self.str("image")

    @property
    def build(self) -> YNode | None:
        return self.get("build")

    @property
    def build_context(self) -> str | None:
        b = self.build
        if isinstance(b, YScalar):
            return str(b)
        if isinstance(b, YMap):
            return b.str("context", ".")
        return None

    @property
    def build_dockerfile(self) -> str | None:
        b = self.build
        if isinstance(b, YMap):
            return b.str("dockerfile")
        return None

    @property
    def ports(self) -> list[Port]:
        return parse_ports(self.get("ports"))

    @property
    def expose(self) -> list[int]:
        out: list[int] = []
        node = self.get("expose")
        if isinstance(node, YSeq):
            for item in node:
                if isinstance(item, YScalar):
                    out.extend(_expand_range(str(item).split("/")[0]))
        return out

    @property
    def volumes(self) -> list[Mount]:
        return parse_volumes(self.get("volumes"))

    @property
    def environment(self) -> list[EnvVar]:
        return parse_environment(self.get("environment"))

    def env(self, key: str) -> EnvVar | None:
        for var in reversed(self.environment):
            if var.key == key:
                return var
        return None

    @property
    def env_files(self) -> list[tuple[str, bool, YNode]]:
        node = self.get("env_file")
        out: list[tuple[str, bool, YNode]] = []
        items = [node] if isinstance(node, (YScalar, YMap)) else list(node) if isinstance(node, YSeq) else []
        for item in items:
            if isinstance(item, YScalar) and item.value is not None:
                out.append((str(item), True, item))
            elif isinstance(item, YMap) and item.str("path"):
                req = item.get("required")
                required = not (isinstance(req, YScalar) and req.value is False)
                out.append((item.str("path") or "", required, item.get("path")))
        return out

    def command_words(self, key: str = "command") -> list[str]:
        node = self.get(key)
        if isinstance(node, YScalar) and node.value is not None:
            return _shell_split(str(node))
        if isinstance(node, YSeq):
            return [str(i) for i in node if isinstance(i, YScalar)]
        return []

    def command_text(self, key: str = "command") -> str:
        node = self.get(key)
        if isinstance(node, YScalar) and node.value is not None:
            return str(node)
        if isinstance(node, YSeq):
            return " ".join(str(i) for i in node if isinstance(i, YScalar))
        return ""

    def limit(self, name: str) -> YScalar | None:
        """``deploy.resources.limits.<name>``, else the legacy key (mem_limit, cpus, pids_limit)."""
        deploy = self.get("deploy")
        if isinstance(deploy, YMap):
            res = deploy.get("resources")
            if isinstance(res, YMap):
                lim = res.get("limits")
                if isinstance(lim, YMap) and isinstance(lim.get(name), YScalar):
                    return lim.get(name)
        legacy = {"memory": "mem_limit", "cpus": "cpus", "pids": "pids_limit"}[name]
        v = self.get(legacy)
        return v if isinstance(v, YScalar) else None

    @property
    def replicas(self) -> int:
        deploy = self.get("deploy")
        if isinstance(deploy, YMap):
            r = deploy.get("replicas")
            if isinstance(r, YScalar):
                try:
                    return max(0, int(str(r)))
                except ValueError:
                    pass
        return 1

    def __repr__(self) -> str:
        return f"Service({self.name}, role={self.role})"


def _shell_split(text: str) -> list[str]:
    from .base import shell_split  # shlex.split, cached

    return shell_split(text)


# An IPv6 address is at most 39 characters: bounded, its two overlapping runs cannot backtrack over a
# hostile spec (200,000 colons took hours).
_PORT_RE = LazyRe(
    r"^(?:(?P<ip>\[[^\]]*\]|\d+\.\d+\.\d+\.\d+|[0-9a-fA-F:]{0,39}::[0-9a-fA-F:]{0,39}):)?(?:(?P<host>[0-9]*(?:-[0-9]+)?):)?(?P<container>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>[a-z]+))?$"
)


_MAX_PORT_SPEC = 128
_PUBLISHED_IP_RE = LazyRe(r"^(?P<ip>\[[^\]]*\]|\d+\.\d+\.\d+\.\d+)(?::(?P<port>[0-9]*(?:-[0-9]+)?))?$")


def parse_ports(node: YNode | None) -> list[Port]:
    out: list[Port] = []
    if not isinstance(node, YSeq):
        return out
    for item in node:
        if isinstance(item, YScalar) and item.value is not None:
            text = str(item).strip()
            # no port spec is longer (an IPv6 address, two ranges, a protocol); and _PORT_RE's
            # address alternatives backtrack polynomially on a long run of `:`
            m = _PORT_RE.match(text) if len(text) <= _MAX_PORT_SPEC else None
            if not m:
                continue
            ip = m.group("ip")
            if ip and ip.startswith("["):
                ip = ip[1:-1]
            host = m.group("host") or None
            out.append(Port(item, m.group("container"), host, ip, m.group("proto") or "tcp"))
        elif isinstance(item, YMap):
            target = item.str("target")
            if not target:
                continue
            published = item.str("published")
            host_ip = item.str("host_ip")
            # lenient: `published: 127.0.0.1:8080` / `published: 127.0.0.1` (the host IP written
            # into `published`, as in KICS's samples) binds that IP, it is not a public port
            pm = _PUBLISHED_IP_RE.match(published or "") if not host_ip else None
            if pm:
                host_ip = pm.group("ip").strip("[]")
                published = pm.group("port")
            out.append(Port(item, target, published or None, host_ip, item.str("protocol") or "tcp"))
    return out


_MODES = {"ro", "rw", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave", "private", "rprivate", "cached", "delegated", "consistent"}


def parse_volumes(node: YNode | None) -> list[Mount]:
    out: list[Mount] = []
    if not isinstance(node, YSeq):
        return out
    for item in node:
        if isinstance(item, YScalar) and item.value is not None:
            text = str(item)
            parts = text.split(":")
            # Windows drive letters are out of scope; rejoin nothing.
            mode = ""
            if len(parts) >= 3 and all(p in _MODES for p in parts[-1].split(",")):
                mode = parts[-1]
                parts = parts[:-1]
            elif len(parts) == 2 and all(p in _MODES for p in parts[-1].split(",")) and not parts[-1].startswith("/"):
                # "/data:ro" is not valid compose, treat as target only
                pass
            if len(parts) == 1:
                out.append(Mount(item, "volume", None, parts[0], False))
                continue
            source, target = ":".join(parts[:-1]), parts[-1]
            modes = set(mode.split(",")) if mode else set()
            kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
            prop = next((m for m in modes if m in {"shared", "rshared", "slave", "rslave", "private", "rprivate"}), None)
            out.append(Mount(item, kind, source, target, "ro" in modes, prop))
        elif isinstance(item, YMap):
            kind = item.str("type") or "volume"
            target = item.str("target") or ""
            ro_node = item.get("read_only")
            ro = isinstance(ro_node, YScalar) and ro_node.value in (True, "true")
            prop = None
            bind = item.get("bind")
            if isinstance(bind, YMap):
                prop = bind.str("propagation")
            out.append(Mount(item, kind, item.str("source"), target, ro, prop))
    return out


def parse_environment(node: YNode | None) -> list[EnvVar]:
    out: list[EnvVar] = []
    if isinstance(node, YMap):
        for key, value in node.pairs():
            raw = value.raw if isinstance(value, YScalar) else None
            val = None if not isinstance(value, YScalar) or value.value is None else str(value)
            out.append(EnvVar(str(key.raw), val, key, value, raw))
    elif isinstance(node, YSeq):
        for item in node:
            if not isinstance(item, YScalar) or item.value is None:
                continue
            text = str(item)
            if "=" in text:
                k, v = text.split("=", 1)
                raw_k, _, raw_v = item.raw.partition("=")
                out.append(EnvVar(k, v, item, item, raw_v))
            else:
                out.append(EnvVar(text, None, item, None, None))
    return out


GATEWAY_IMAGES = ("nginx", "openresty", "traefik", "caddy", "haproxy", "envoy")
ROLE_IMAGES = (
    ("postgres", ("postgres", "postgis", "timescaledb", "pgvector")),
    ("redis", ("redis", "valkey", "keydb")),
    ("minio", ("minio",)),
    ("nats", ("nats",)),
    ("prometheus", ("prometheus",)),
    ("certbot", ("certbot",)),
)


_CLIENT_TOOL = LazyRe(r"-(writer|reader|backup|commander|insight|box|surveyor|client|ui|admin)\b|insight")


def infer_role(name: str, svc: YMap) -> str:
    image = svc.str("image") or ""
    base = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    if "exporter" in base or "exporter" in name.lower():
        return "other"  # postgres-exporter, redis_exporter, nginx-prometheus-exporter: metrics sidecars
    if any(base == g or base.startswith(g + "-") or base.endswith("-" + g) for g in GATEWAY_IMAGES):
        return "gateway"
    for role, names in ROLE_IMAGES:
        if any(base == n or base.startswith(n) for n in names):
            if role == "prometheus" and "exporter" in base:
                return "other"
            if _CLIENT_TOOL.search(base):
                break  # postgres-writer, postgres-backup-local, redis-commander, nats-box: not the server
            return role
    if "exporter" in base:
        return "other"
    low = name.lower()
    if low in ("nginx", "gateway", "proxy", "reverse-proxy", "traefik", "caddy"):
        return "gateway"
    for p in parse_ports(svc.get("ports")):
        if set(p.container_ports) & {80, 443}:
            return "gateway"
    if svc.get("build") is not None or low in ("backend", "api", "app", "worker") or low.startswith(("backend", "api-", "app-", "worker")):
        return "app"
    return "other"


@dataclass(repr=False)
class ComposeDocument(Document):
    """A parsed compose file."""

    root: YNode | None = None
    services: dict[str, Service] = field(default_factory=dict)
    env_sources: list[str] = field(default_factory=list)
    refs: list[tuple[YScalar, VarRef]] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)
    merged_from: list[str] = field(default_factory=list)  # override files merged into this one
    project_name: str | None = None  # -p, COMPOSE_PROJECT_NAME, or the file's top-level name:
    inactive: dict = field(default_factory=dict)  # service -> its profiles, none of them active
    profiles: list | None = None  # the active profiles (None: not given, every service audited)
    overlays: list = field(default_factory=list)  # (line offset, ComposeDocument) of the files merged in
    # where the file breaks the Compose Specification (scanner.parsers.compose_schema, OPS086), in
    # the file's own lines: validated after interpolation, before the project's files are merged
    schema_errors: list = field(default_factory=list)

    def line_text(self, line: int) -> str:
        """A line of this file or, past an overlay's offset, of that later file (stack.attribute)."""
        for offset, doc in reversed(self.overlays):
            if line > offset:
                return doc.line_text(line - offset)
        return super().line_text(line)

    def top(self, key: str) -> YNode | None:
        return self.root.get(key) if isinstance(self.root, YMap) else None

    def scalars(self) -> Iterator[YScalar]:
        if self.root is None:
            return iter(())
        return (n for n in walk(self.root) if isinstance(n, YScalar))


_COMMENT = LazyRe(r"(?:^|\s)#(.*)$")


def yaml_comments(text: str) -> list[tuple[int, str]]:
    """Comments (line, text after '#'); a '#' inside quotes is not a comment (good enough for suppressions)."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        if "#" not in line:
            continue
        in_s = in_d = False
        for i, ch in enumerate(line):
            if ch == "'" and not in_d:
                in_s = not in_s
            elif ch == '"' and not in_s:
                in_d = not in_d
            elif ch == "#" and not in_s and not in_d and (i == 0 or line[i - 1] in " \t"):
                out.append((no, line[i + 1 :]))
                break
    return out


def parse(text: str, path: str, env: dict[str, tuple[str, str]] | None = None,
          env_sources: list[str] | None = None) -> ComposeDocument:
    doc = ComposeDocument(path=path, text=text, env_sources=list(env_sources or []))
    try:
        root, errors = parse_yaml(text)
        doc.errors.extend(errors)
        doc.comments = yaml_comments(text)
        doc.root = root
        # the secrets as written, from the tree before interpolation rewrites its values
        doc.secret_marks = secret_marks(text, root)
        if root is None:
            return doc
        if not isinstance(root, YMap):
            doc.errors.append(ParseError("a Compose file must be a mapping", root.line, root.col))
            return doc
        _interpolate_tree(doc, root, env or {})
        services = root.get("services")
        if services is not None and not isinstance(services, YMap):
            doc.errors.append(ParseError("'services' must be a mapping", services.line, services.col))
        elif isinstance(services, YMap):
            for key, node in services.pairs():
                if not isinstance(node, YMap):
                    if not (isinstance(node, YScalar) and node.value is None):
                        doc.errors.append(ParseError(f"service '{key.raw}' must be a mapping", node.line, node.col))
                    continue
                doc.services[str(key.raw)] = Service(str(key.raw), key, node, doc, infer_role(str(key.raw), node))
    except Exception as exc:  # never raise out of a parser
        doc.errors.append(ParseError(f"internal parser error: {exc.__class__.__name__}", 1, 1))
    return doc


def _interpolate_tree(doc: ComposeDocument, root: YNode, env: dict[str, tuple[str, str]]) -> None:
    for node in walk(root):
        if isinstance(node, YScalar) and node.raw and "$" in node.raw and node.tag != "!reset":
            text, refs, errors = interpolate(node.raw, env)
            node.text = text
            node.vars = refs
            if node.value is not None and not isinstance(node.value, (int, float, bool)) or node.style:
                node.value = text
            elif isinstance(node.value, str):
                node.value = text
            for r in refs:
                doc.refs.append((node, r))
            for e in errors:
                doc.errors.append(ParseError(f"interpolation: {e}", node.line, node.col))


# Compose's merge rules (compose-spec "Merge", as compose-go's override package implements them),
# by path below the top level ("*" is any service / any name).
_REPLACED = {("services", "*", "command"), ("services", "*", "entrypoint"), ("services", "*", "healthcheck", "test"),
             ("services", "*", "ulimits", "*")}
_AS_SEQUENCE = {("services", "*", k) for k in ("annotations", "dns", "dns_opt", "dns_search", "env_file", "label_file",
                                               "environment", "extra_hosts", "labels", "sysctls", "tmpfs")} | {
    ("services", "*", "build", k) for k in ("args", "additional_contexts", "extra_hosts", "labels")} | {
    ("services", "*", "deploy", "labels"), ("networks", "*", "labels"), ("volumes", "*", "labels")}
_AS_MAPPING = {("services", "*", "depends_on"), ("services", "*", "networks")}
_KEY_VALUE = {"annotations", "cap_add", "cap_drop", "dns", "dns_opt", "dns_search", "environment", "labels", "links",
              "profiles", "sysctls", "tmpfs", "aliases", "link_local_ips", "args", "additional_contexts", "tags"}


def _matches(path: tuple, pattern: tuple) -> bool:
    return len(path) == len(pattern) and all(q == "*" or q == k for k, q in zip(path, pattern))


def _is(path: tuple, patterns: set) -> bool:
    return any(_matches(path, pat) for pat in patterns)


def _scalar_like(text: str, at: YNode) -> YScalar:
    out = YScalar(value=text)
    out.line, out.col, out.end_line, out.end_col = at.line, at.col, at.end_line, at.end_col
    return out


def _as_seq(node: YNode) -> YSeq | None:
    """A sequence form of a mapping (``KEY: value`` -> ``KEY=value``) or a lone scalar, as compose converts them."""
    if isinstance(node, YSeq):
        return node
    seq = YSeq()
    seq.line, seq.col, seq.end_line, seq.end_col = node.line, node.col, node.end_line, node.end_col
    if isinstance(node, YMap):
        for key, value in node.pairs():
            if isinstance(value, YScalar) and value.value is None:
                seq.items.append(key)
            elif isinstance(value, YScalar):
                item = _scalar_like(f"{key.raw}={value.raw}", key)
                item.text, item.vars = f"{key.raw}={value.text}", value.vars
                item.value = f"{key.raw}={value.value if not isinstance(value.value, bool) else str(value).lower()}"
                seq.items.append(item)
        return seq
    if isinstance(node, YScalar) and node.value is not None:
        seq.items.append(node)
        return seq
    return None


def _as_map(node: YNode) -> YMap | None:
    """``depends_on``/``networks`` written as a list become a mapping of names."""
    if isinstance(node, YMap):
        return node
    if isinstance(node, YSeq):
        out = YMap()
        out.line, out.col, out.end_line, out.end_col = node.line, node.col, node.end_line, node.end_col
        for item in node:
            if isinstance(item, YScalar) and item.value is not None:
                empty = YScalar(value=None)
                empty.line, empty.col, empty.end_line, empty.end_col = item.line, item.col, item.end_line, item.end_col
                out.items[str(item.raw)] = (item, empty)
        return out
    return None


def unique_key(path: tuple, item: YNode) -> str | None:
    """The key that makes ``item`` unique in the sequence at ``path`` (compose's "unicity"), or None."""
    name = path[-1] if len(path) >= 3 and path[0] == "services" else None
    if len(path) == 5 and path[2] == "networks":
        name = path[-1]
    if name is None:
        return None
    if isinstance(item, YMap):
        target = item.str("target")
        if name in ("volumes", "devices"):
            return target
        if name in ("secrets", "configs"):
            return target or ("/run/secrets/" if name == "secrets" else "/") + (item.str("source") or "")
        if name == "ports":
            return f"{item.str('host_ip') or '0.0.0.0'}:{item.str('published') or ''}:{item.str('target')}/{item.str('protocol') or 'tcp'}"
        if name == "env_file":
            return item.str("path")
        return None
    if not isinstance(item, YScalar) or item.value is None:
        return None
    text = str(item.text if item.text is not None else item.raw)
    if name in ("volumes", "devices"):
        parts = text.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    if name == "secrets":
        return "/run/secrets/" + text
    if name == "configs":
        return "/" + text
    if name in ("ports", "expose", "env_file"):
        return text
    if name in _KEY_VALUE:
        return text.split("=", 1)[0]
    return None


def _unique(seq: YSeq, path: tuple) -> YSeq:
    """A later entry with the same unique key replaces the earlier one, in its place."""
    items: list[YNode] = []
    where: dict[str, int] = {}
    for item in seq.items:
        key = unique_key(path, item)
        if key is not None and key in where:
            items[where[key]] = item
            continue
        if key is not None:
            where[key] = len(items)
        items.append(item)
    seq.items = items
    return seq


def _without_resets(node: YNode) -> YNode:
    """A value new to the merged model keeps none of its ``!reset`` entries (they reset nothing)."""
    if isinstance(node, YMap) and any(v.tag == "!reset" or isinstance(v, (YMap, YSeq)) for _k, v in node.pairs()):
        out = YMap()
        out.line, out.col, out.end_line, out.end_col, out.tag = node.line, node.col, node.end_line, node.end_col, node.tag
        out.items = {k: (kn, _without_resets(v)) for k, (kn, v) in node.items.items() if v.tag != "!reset"}
        return out
    return node


def _merge_value(cur: YNode, value: YNode, path: tuple) -> YNode:
    if _is(path, _REPLACED):
        return value
    if _is(path, _AS_MAPPING) or path[-1:] == ("build",) and len(path) == 3:
        if path[-1] == "build":  # `build: ./dir` is `build: {context: ./dir}`
            cur, value = (_build_map(n) for n in (cur, value))
        a, b = _as_map(cur), _as_map(value)
        return merge_override(a, b, path) if a is not None and b is not None else value
    if _is(path, _AS_SEQUENCE):
        if isinstance(cur, YMap) and isinstance(value, YMap):
            return merge_override(cur, value, path)  # key by key: what the sequence form and unicity give
        a, b = _as_seq(cur), _as_seq(value)
        if a is None or b is None:
            return value
        return _concat(a, b, path)
    if path[-1:] == ("logging",) and isinstance(cur, YMap) and isinstance(value, YMap):
        d1, d2 = cur.str("driver"), value.str("driver")
        if d1 and d2 and d1 != d2:
            return value  # another driver: its options do not mix with the old driver's
        return merge_override(cur, value, path)
    if isinstance(cur, YMap) and isinstance(value, YMap):
        return merge_override(cur, value, path)
    if isinstance(cur, YSeq) and isinstance(value, YSeq):
        return _concat(cur, value, path)
    return value


def _build_map(node: YNode) -> YNode:
    if isinstance(node, YScalar) and node.value is not None:
        out = YMap()
        out.line, out.col, out.end_line, out.end_col = node.line, node.col, node.end_line, node.end_col
        out.items = {"context": (_scalar_like("context", node), node)}
        return out
    return node


def _concat(a: YSeq, b: YSeq, path: tuple) -> YSeq:
    seq = YSeq()
    seq.line, seq.col, seq.end_line, seq.end_col, seq.tag = a.line, a.col, a.end_line, a.end_col, a.tag
    seq.items = list(a.items) + list(b.items)
    return _unique(seq, path)


def merge_override(base: YMap, over: YMap, path: tuple = ()) -> YMap:
    """Compose's merge of a later file (``-f``, an override) into the model so far: mappings merged
    key by key; sequences appended, where an entry with the same unique key (a port, a volume's
    target, a variable's name, a DNS server...) replaces the earlier one; ``command``,
    ``entrypoint`` and ``healthcheck.test`` replaced; ``environment``/``labels``/... merged across
    their list and mapping forms; ``!reset`` removes a value, ``!override`` replaces it whole.
    Neither input is changed (YAML anchors share nodes)."""
    out = YMap()
    out.line, out.col, out.end_line, out.end_col, out.tag = base.line, base.col, base.end_line, base.end_col, base.tag
    out.items = dict(base.items)
    for key, (knode, value) in over.items.items():
        if value.tag == "!reset":
            out.items.pop(key, None)
            continue
        cur = out.items.get(key)
        if value.tag == "!override" or cur is None:
            out.items[key] = (knode, _without_resets(value))
            continue
        merged = _merge_value(cur[1], value, path + (key,))
        out.items[key] = (cur[0] if merged is not value else knode, merged)
    return out

"""Discovery and linking: from paths to one ``Stack``.

A deployment is one system. We find every file of it, parse each with its parser, and link them
the way the running containers do: compose bind mounts, ``env_file``, ``build``, the postgres
``docker-entrypoint-initdb.d`` directory, and nginx ``include`` resolved through the gateway's mounts
(``include /etc/nginx/conf.d/*.conf`` finds ``./nginx/conf.d/*.conf``).

Nothing here raises for bad input: an unreadable file becomes an OPS080 problem, a malformed one
an OPS081 problem, each with its location; the rest of the stack is still built.
"""

from __future__ import annotations

import fnmatch
import glob as globmod
import os
import posixpath
import re
import stat
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from .config import Policy
from .fsutil import NotRegular, TooLarge, read_limited
from .kinds import FILE_KINDS, KIND, KINDS, sniff_nginx  # noqa: F401 - re-exported: the kind names, the nginx sniff
from .model import CoreRule, Location
from .parsers.base import Document, decode
from .parsers.compose import DEFAULT_NAMES as _DEFAULT_NAMES
from .parsers.compose import OVERRIDE_NAMES as _OVERRIDE_NAMES
from .plain import FACTORY as _FACTORY
from .lazyre import LazyRe

T = TypeVar("T")

MAX_FILE_BYTES = 5 * 1024 * 1024  # a config file larger than this is skipped and reported
MAX_FILES = 50_000  # directory entries looked at during discovery
MAX_INCLUDE_MATCHES = 500  # files one nginx include glob may bring in
MAX_NGINX_NODES = 200_000  # directives in one expanded nginx configuration

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache",
             ".pytest_cache", ".ruff_cache", "site-packages", ".venv", "venv", ".terraform"}
TEMPLATE_SUFFIXES = (".example", ".sample", ".dist", ".template", ".tpl", "-sample", "_sample", ".orig")

HOST_KINDS = ("script", "ufw", "fail2ban", "sshd")


def classify(name: str) -> str | None:
    """Kind of a file from its name alone (``scanner.kinds``: the first kind that recognises it).
    ``"conf?"``: a kind whose content must confirm it (an nginx ``.conf``), sniffed when read."""
    low = name.lower()
    if low.endswith((".orig", ".rej", ".bak", "~", ".swp")):
        return None  # backups (dkscan fix --backup writes .orig), patch leftovers, editor files
    for kind in FILE_KINDS:
        if kind.name == "dockerfile" and low.endswith(".local"):
            return "local?"  # a jail.d/*.local drop-in (decided by its directory, classify_path)
        if kind.recognise(low):
            return kind.name if kind.sniff is None else "conf?"
    if "." not in low:
        return "noext?"  # a script known by its shebang, or /etc/default/ufw (decided by classify_path)
    return None


def classify_path(path: Path) -> str | None:
    """``classify`` with what the directory and the first bytes tell: ``jail.d/*.conf``,
    ``sshd_config.d/*.conf``, ``default/ufw``, and extensionless scripts with a shell shebang."""
    name = path.name
    kind = classify(name)
    parent = path.parent.name
    if kind in ("conf?", "local?") and parent == "jail.d":
        return "fail2ban"
    if kind == "conf?" and parent == "sshd_config.d":
        return "sshd"
    if kind == "local?":
        return None
    if kind == "noext?":
        if name == "ufw" and parent == "default":
            return "ufw"
        try:
            if path.is_symlink() or not path.is_file():
                return None
            with open(path, "rb") as fh:
                head = fh.read(128)
        except OSError:
            return None
        from .parsers.shell import is_shell_shebang

        first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
        return "script" if is_shell_shebang(first) else None
    return kind


def is_template(rel: str) -> bool:
    low = rel.lower()
    return low.endswith(TEMPLATE_SUFFIXES) or "example" in posixpath.basename(low) or "sample" in posixpath.basename(low)


class SourceFile:
    """A file of the stack, its kind and its parsed document."""

    path: Path  # absolute
    rel: str  # relative to the stack root, POSIX
    kind: str
    doc: Document | None = None
    mode: int = 0
    size: int = 0
    template: bool = False
    mounted_by: list  # (service, container target)

    __match_args__ = ("path", "rel", "kind", "doc", "mode", "size", "template", "mounted_by")

    def __init__(self, path, rel, kind, doc=None, mode=0, size=0, template=False, mounted_by=_FACTORY):
        self.path = path
        self.rel = rel
        self.kind = kind
        self.doc = doc
        self.mode = mode
        self.size = size
        self.template = template
        self.mounted_by = list() if mounted_by is _FACTORY else mounted_by

    @property
    def text(self) -> str:
        return self.doc.text if self.doc is not None else ""


class Problem:
    """A problem found while building the stack, reported as a finding of ``rule``."""

    rule: str
    location: Location
    message: str

    __match_args__ = ("rule", "location", "message")

    def __init__(self, rule, location, message):
        self.rule = rule
        self.location = location
        self.message = message

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.rule, self.location, self.message) == (other.rule, other.location, other.message)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was


# --------------------------------------------------------------------------------------------
# nginx effective configuration
# --------------------------------------------------------------------------------------------


_SMALL_LEVEL = 32  # a level with more children is looked up through its name index


class Node:
    """A directive in the effective nginx configuration (includes spliced in)."""

    d: object  # parsers.nginx.Directive, or None for a synthetic root
    parent: "Node | None"
    children: list["Node"]
    root_name: str = ""  # for synthetic roots: "main", "http", "server"
    via: tuple = ()  # include directives this node was reached through
    # the directive's name (the root's name for a synthetic root): rules read it millions of times
    # in a monorepo, so it is an attribute, not a property
    name: str = ""
    _by_name: dict | None = None  # see _named
    _by_name_len: int = -1

    __match_args__ = ("d", "parent", "children", "root_name", "via")

    def __init__(self, d, parent, children=_FACTORY, root_name="", via=()):
        self.d = d
        self.parent = parent
        self.children = list() if children is _FACTORY else children
        self.root_name = root_name
        self.via = via
        self.__post_init__()

    def __post_init__(self) -> None:
        self.name = self.d.name if self.d is not None else self.root_name

    def _named(self) -> dict[str, list[tuple[int, "Node"]]]:
        """This level's children by name, with their positions: a server with 20,000 locations
        would otherwise be scanned whole for every directive looked up from each of them
        (quadratic). Rebuilt when the children change."""
        if self._by_name is None or self._by_name_len != len(self.children):
            idx: dict[str, list[tuple[int, Node]]] = {}
            for i, c in enumerate(self.children):
                idx.setdefault(c.name, []).append((i, c))
            self._by_name, self._by_name_len = idx, len(self.children)
        return self._by_name

    @property
    def args(self) -> list[str]:
        return self.d.args if self.d is not None else []

    @property
    def path(self) -> str:
        return self.d.path if self.d is not None else ""

    @property
    def line(self) -> int:
        return self.d.line if self.d is not None else 1

    @property
    def col(self) -> int:
        return self.d.col if self.d is not None else 1

    @property
    def is_block(self) -> bool:
        return self.d is None or self.d.block is not None

    @property
    def location(self) -> Location:
        return Location(self.path, self.line, self.col)

    def child(self, name: str) -> "Node | None":
        if len(self.children) > _SMALL_LEVEL:
            hits = self._named().get(name)
            return hits[0][1] if hits else None
        for c in self.children:
            if c.name == name:
                return c
        return None

    def children_named(self, *names: str) -> list["Node"]:
        if len(self.children) > _SMALL_LEVEL:
            idx = self._named()
            return [c for _, c in sorted((h for n in dict.fromkeys(names) for h in idx.get(n, ())), key=lambda h: h[0])]
        return [c for c in self.children if c.name in names]

    def ancestors(self) -> Iterator["Node"]:
        cur = self.parent
        while cur is not None:
            yield cur
            cur = cur.parent

    def context(self) -> str:
        """Name of the enclosing block: main, http, server, location, if, upstream, ..."""
        return self.parent.name if self.parent is not None else "main"

    def walk(self) -> Iterator["Node"]:
        stack = [self]
        while stack:
            cur = stack.pop()
            yield cur
            stack.extend(reversed(cur.children))

    def inherited(self, *names: str) -> list["Node"]:
        """nginx array-directive inheritance (add_header, limit_req, proxy_set_header, ...): the
        nearest level, starting here, that has any of ``names`` gives all of them; outer levels'
        are dropped. Returns [] when no level has one."""
        level: Node | None = self
        while level is not None:
            if len(level.children) > _SMALL_LEVEL:
                idx = level._named()
                hits = [h for n in dict.fromkeys(names) for h in idx.get(n, ())]
                if hits:
                    return [c for _, c in sorted(hits, key=lambda h: h[0])]
            else:
                found = [c for c in level.children if c.name in names]
                if found:
                    return found
            level = level.parent
        return []

    def effective(self, name: str) -> "Node | None":
        """Nearest definition of a single-value directive, here or in an enclosing level."""
        level: Node | None = self
        while level is not None:
            if len(level.children) > _SMALL_LEVEL:
                hits = level._named().get(name)
                if hits:
                    return hits[-1][1]
            else:
                for c in reversed(level.children):
                    if c.name == name:
                        return c
            level = level.parent
        return None

    def __repr__(self) -> str:
        return f"Node({self.name} {' '.join(self.args)} @{self.path}:{self.line})"


class NginxConfig:
    """One nginx configuration as a gateway would load it (a main file, or a fragment)."""

    doc: object  # the root NginxDocument
    root: Node
    service: object | None = None  # the compose Service whose container loads it
    files: list[str]  # every file spliced in

    __match_args__ = ("doc", "root", "service", "files")

    def __init__(self, doc, root, service=None, files=_FACTORY):
        self.doc = doc
        self.root = root
        self.service = service
        self.files = list() if files is _FACTORY else files

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.doc, self.root, self.service, self.files) == (other.doc, other.root, other.service, other.files)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    def _index(self) -> tuple[list[Node], dict[str, list[Node]]]:
        idx = self.__dict__.get("_idx")
        if idx is None:
            order = [n for n in self.root.walk() if n.d is not None]
            by_name: dict[str, list[Node]] = {}
            for n in order:
                by_name.setdefault(n.name, []).append(n)
            idx = (order, by_name)
            self.__dict__["_idx"] = idx
        return idx

    def nodes(self, *names: str) -> Iterator[Node]:
        """Directives of the effective configuration in document order (an index built once)."""
        order, by_name = self._index()
        if not names:
            return iter(order)
        if len(names) == 1:
            return iter(by_name.get(names[0], ()))
        wanted = set(names)
        return (n for n in order if n.name in wanted)

    @property
    def servers(self) -> list[Node]:
        """``server`` blocks of the http context (not an upstream's ``server`` lines, not stream's)."""
        if self.root.root_name == "server":
            return [self.root]
        return [n for n in self.nodes("server") if n.is_block and n.parent is not None
                and (n.parent.name == "http" or (n.parent.d is None and n.parent.root_name == "http"))]

    @property
    def http(self) -> Node:
        h = self.root.child("http")
        return h if h is not None else self.root


# --------------------------------------------------------------------------------------------
# The Stack
# --------------------------------------------------------------------------------------------


class Stack:
    def __init__(self, root: Path, policy: Policy | None = None):
        self.root = root
        self.policy = policy or Policy()
        self.files: dict[str, SourceFile] = {}
        self.problems: list[Problem] = []
        self.compose_docs: list = []  # ComposeDocument, overrides merged
        self.nginx_configs: list[NginxConfig] = []
        self.refused_nginx: list[NginxConfig] = []  # configurations nginx would refuse (syntax errors)
        self.explicit: set[str] = set()  # files named on the command line
        self.skip_dirs: set[str] = set()  # directories another unit of the scan covers
        self.excluder = None  # scanner.exclude.Excluder: what discovery left out
        self.compose_projects: list = []  # ComposeProject
        self.notes: list[str] = []  # what the audit could not judge or chose, for the report (not findings)
        self.base = ""  # the deployment's directory, relative to root (the folder the scan of it starts from)
        # the ids of the rules this audit runs, set by the engine before it runs them (None: not
        # known): a helper may start slow external work for them early (ShellCheck, rules.helpers.host)
        self.running: frozenset[str] | None = None
        self._memo: dict = {}

    def script_dirs(self, rel: str) -> list[str]:
        """Where the relative paths a host script names resolve (root-relative): its own directory,
        then the deployment's directory (scripts ``cd "$(dirname "$0")"`` or to the checkout). The
        deployment's, not the scan root: the answer must not depend on where the scan starts."""
        here = posixpath.dirname(rel)
        return list(dict.fromkeys([here, self.base]))

    def note(self, text: str) -> None:
        """Record a note for the report: something a rule could not judge (a tool missing), or a
        choice the audit made, that is no finding. Each text once; reports show them sorted. A note
        is one line (``encode.terminal``): the names it quotes cannot start a line of their own."""
        from .encode import terminal

        text = terminal(text)
        if text not in self.notes:
            self.notes.append(text)

    def memo(self, key, compute: Callable[[], T]) -> T:
        """The one cache of what rules derive from this stack: ``compute()`` runs once per stack and
        key. Keys are hashable, by convention a string naming the fact, or (name, id(object)) for a
        fact about one service, document or node of this stack (objects live as long as the stack)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    # -- accessors used by rules ------------------------------------------------------------
    def docs(self, kind: str) -> list:
        return [f.doc for f in self.files.values() if f.kind == kind and f.doc is not None]

    def sources(self, kind: str) -> list[SourceFile]:
        return [f for f in self.files.values() if f.kind == kind and f.doc is not None]

    @property
    def services(self) -> list:
        out = []
        for doc in self.compose_docs:
            out.extend(doc.services.values())
        return out

    def services_by_role(self, *roles: str) -> list:
        return [s for s in self.services if s.role in roles]

    def service(self, name: str, near: object | None = None):
        """Service by name (or ``container_name``/alias), preferring ``near``'s compose project."""
        found = None
        for doc in self.compose_docs:
            svc = doc.services.get(name)
            if svc is not None:
                if near is None or getattr(near, "doc", None) is doc:
                    return svc
                found = found or svc
        return found

    @property
    def dotenvs(self) -> list:
        return self.docs("env")

    @property
    def sql(self) -> list:
        return self.docs("sql")

    @property
    def dockerfiles(self) -> list:
        return self.docs("dockerfile")

    @property
    def prometheus(self) -> list:
        return self.docs("prometheus")

    @property
    def nats(self) -> list:
        return self.docs("nats")

    @property
    def scripts(self) -> list:
        """Host shell scripts: ``script`` files no service mounts and no Dockerfile copies (a
        container's entrypoint is not a host script)."""
        copied = self._dockerfile_copied()
        return [f.doc for f in self.files.values() if f.kind == "script" and f.doc is not None
                and not f.mounted_by and f.rel not in copied]

    @property
    def fail2ban(self) -> list:
        return self.docs("fail2ban")

    @property
    def sshd(self) -> list:
        return self.docs("sshd")

    @property
    def ufw(self) -> list:
        return self.docs("ufw")

    def _dockerfile_copied(self) -> set[str]:
        """Stack files a Dockerfile ``COPY``/``ADD``s from its build context."""
        cached = self.__dict__.get("_copied")
        if cached is not None:
            return cached
        out: set[str] = set()
        scripts = [rel for rel, f in self.files.items() if f.kind == "script"]
        if scripts:
            for sf in self.sources("dockerfile"):
                ctxs = {posixpath.dirname(sf.rel)}
                for svc in self.services:
                    if self.service_dockerfile(svc) is sf.doc and svc.build_context is not None:
                        ctxs.add(_norm(posixpath.join(posixpath.dirname(svc.doc.path), svc.build_context)))
                for ins in getattr(sf.doc, "instructions", []):
                    if ins.cmd not in ("COPY", "ADD") or "from" in ins.flags:
                        continue
                    words = ins.json if ins.json is not None else [w for w, _ in ins.words()]
                    for arg in words[:-1]:
                        for ctx in ctxs:
                            pat = _norm(posixpath.join(ctx, arg))
                            for rel in scripts:
                                if rel == pat or rel.startswith(pat.rstrip("/") + "/") or fnmatch.fnmatch(rel, pat):
                                    out.add(rel)
        self.__dict__["_copied"] = out
        return out

    def file(self, rel: str) -> SourceFile | None:
        return self.files.get(rel)

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError, RuntimeError):
            try:
                return path.absolute().relative_to(self.root).as_posix()
            except ValueError:
                return path.as_posix()

    def abs(self, rel: str) -> Path:
        return self.root / rel

    # The one way a rule or helper touches a file of the repository that is not a parsed stack file
    # (a ``.dockerignore``, an env template, ``daemon.json``): inside the root once symbolic links
    # are resolved, a regular file (never a FIFO or device), size-bounded. A path failing that is
    # absent to the rules — a link out of the repository is neither read nor an existence oracle.
    def local(self, rel: str | Path) -> Path | None:
        """The resolved path of ``rel`` (root-relative, or absolute) if it lies inside the root."""
        path = rel if isinstance(rel, Path) and rel.is_absolute() else self.root / rel
        try:
            real = path.resolve()
            real.relative_to(self.root)
        except (ValueError, OSError, RuntimeError):
            return None
        return real

    def is_file(self, rel: str | Path) -> bool:
        """``rel`` is a regular file inside the root (symbolic links resolved)."""
        real = self.local(rel)
        try:
            return real is not None and stat.S_ISREG(os.stat(real).st_mode)
        except OSError:
            return False

    def exists(self, rel: str | Path) -> bool:
        """``rel`` exists inside the root (symbolic links resolved; a link out of it is absent)."""
        real = self.local(rel)
        return real is not None and real.exists()

    def is_dir(self, rel: str | Path) -> bool:
        """``rel`` is a directory inside the root (symbolic links resolved)."""
        real = self.local(rel)
        return real is not None and real.is_dir()

    def listdir(self, rel: str | Path) -> list[str]:
        """The sorted entry names of directory ``rel`` inside the root ([] otherwise)."""
        real = self.local(rel)
        try:
            return sorted(os.listdir(real)) if real is not None and real.is_dir() else []
        except OSError:
            return []

    def glob_files(self, pattern: str) -> list[str]:
        """The root-relative paths of the regular files inside the root matching ``pattern``
        (root-relative; ``..`` and absolute patterns match nothing), at most 1000."""
        if not pattern or pattern.startswith("/") or ".." in pattern.split("/"):
            return []
        out = []
        try:
            for p in self.root.glob(pattern):
                if self.is_file(p):
                    out.append(p.relative_to(self.root).as_posix())
                if len(out) >= 1000:
                    break
        except (OSError, ValueError, RuntimeError):
            pass
        return sorted(out)

    def read_text(self, rel: str | Path, limit: int = 0) -> str | None:
        """The text (UTF-8, undecodable bytes replaced) of regular file ``rel`` inside the root, of at
        most ``limit`` bytes (default: the stack file limit); None if it is not one or unreadable."""
        real = self.local(rel)
        if real is None:
            return None
        try:
            data = read_limited(real, limit or MAX_FILE_BYTES)
        except (OSError, ValueError):
            return None
        return data.decode("utf-8", errors="replace")

    def problem(self, rule: str, rel: str, line: int, col: int, message: str) -> None:
        self.problems.append(Problem(rule, Location(rel, max(1, line), max(1, col)), message))

    # -- links --------------------------------------------------------------------------------
    def service_dotenvs(self, svc) -> list:
        """Dotenv documents a service loads through ``env_file``."""
        out = []
        base = posixpath.dirname(svc.doc.path)
        for path, _required, _node in svc.env_files:
            rel = _norm(posixpath.join(base, path))
            sf = self.files.get(rel)
            if sf is not None and sf.kind == "env" and sf.doc is not None:
                out.append(sf.doc)
        return out

    def service_env(self, svc) -> dict[str, tuple[str, str, int]]:
        """The container environment: env_file values, then ``environment:`` (which wins).
        Maps KEY -> (value, path, line)."""
        env: dict[str, tuple[str, str, int]] = {}
        for d in self.service_dotenvs(svc):
            for e in d.entries:
                env[e.key] = (e.value, d.path, e.line)
        for var in svc.environment:
            if var.value is not None:
                env[var.key] = (var.value, svc.doc.path, var.key_node.line)
        return env

    def service_dockerfile(self, svc):
        ctx = svc.build_context
        if ctx is None:
            return None
        base = posixpath.dirname(svc.doc.path)
        name = svc.build_dockerfile or "Dockerfile"
        rel = _norm(posixpath.join(base, ctx, name))
        sf = self.files.get(rel)
        return sf.doc if sf is not None and sf.kind == "dockerfile" else None

    def mounted_files(self, svc) -> list[tuple[SourceFile, str]]:
        return [(sf, target) for sf in self.files.values() for (s, target) in sf.mounted_by if s is svc]

    def host_path(self, svc, container_path: str) -> str | None:
        """Host path (relative to root) behind a container path, through the service's bind mounts."""
        best = None
        base = posixpath.dirname(svc.doc.path)
        for m in svc.volumes:
            if not m.is_bind or not m.source or not m.target:
                continue
            tgt = m.target.rstrip("/") or "/"
            if container_path == tgt or container_path.startswith(tgt + "/"):
                if best is None or len(tgt) > len(best[0]):
                    best = (tgt, m.source)
        if best is None:
            return None
        tgt, src = best
        rest = container_path[len(tgt):].lstrip("/")
        src_rel = _norm(posixpath.join(base, src)) if not src.startswith("/") else None
        if src_rel is None:
            return None
        return _norm(posixpath.join(src_rel, rest)) if rest else src_rel

    def nginx_version(self, svc=None) -> str | None:
        configured = self.policy.get("nginx.version")
        if configured:
            return str(configured)
        cands = [svc] if svc is not None else self.services_by_role("gateway")
        for s in cands:
            img = s.image or ""
            if not img:
                df = self.service_dockerfile(s)
                if df is not None and getattr(df, "final_stage", None) is not None:
                    img = df.final_stage.image
            name, _, tag = img.split("@")[0].rpartition(":")
            if "nginx" in (name or img) and tag:
                return tag
        return None

    # -- git ----------------------------------------------------------------------------------
    @cached_property
    def _git(self):
        """The work tree's git view (scanner.gitview: read with dulwich, git itself is never run)."""
        from . import gitview

        return gitview.view(self.root)

    def git_tracked(self, rel: str) -> bool | None:
        git = self._git
        if git is None:
            return None
        return git.is_tracked(self.root / rel)

    def git_ignored(self, rel: str) -> bool | None:
        git = self._git
        if git is None:
            return None
        return git.is_ignored(self.root / rel.rstrip("/"), directory=rel.endswith("/"))

    @property
    def in_git(self) -> bool:
        return self._git is not None


def git_view(top: Path, tracked: set[str]):
    """While active, stacks under ``top`` (a copy of a work tree, not a repository) answer
    ``git_tracked`` from ``tracked`` (paths relative to ``top``) and ``git_ignored`` from the copy's
    own ``.gitignore`` files (scanner.gitview.synthetic), without running git."""
    from . import gitview

    return gitview.synthetic(top, tracked)


# -- changed files (``dkscan audit --diff-base REF``) ---------------------------------------------
# Read with dulwich, in-process: no git process runs, so nothing of the scanned repository's own
# configuration (core.fsmonitor, hooks, pager, textconv, filters, aliases) can execute.


class GitError(Exception):
    """REF cannot be read (not a repository, unknown revision): a usage error."""


_REV = LazyRe(r"^(?P<name>[^~^]+)(?P<steps>(?:[~^]\d*)*)$")


class Change:
    """What changed in a work tree since a base commit: per changed file (relative to the work
    tree's top), the changed line numbers of the new version (None: every line, a new file)."""

    top: Path
    base: bytes  # the base tree's id
    lines: dict[str, set[int] | None]
    _store: object = None
    _repo: object = None

    __match_args__ = ("top", "base", "lines", "_store", "_repo")

    def __init__(self, top, base, lines, _store=None, _repo=None):
        self.top = top
        self.base = base
        self.lines = lines
        self._store = _store
        self._repo = _repo

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.top, self.base, self.lines, self._store, self._repo) == (other.top, other.base, other.lines, other._store, other._repo)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def tracked(self) -> set[str]:
        """The files git tracks in the work tree (relative to its top), read from the index."""
        try:
            return {p.decode("utf-8", "surrogateescape") for p in self._repo.open_index()}
        except Exception:  # noqa: BLE001 - no readable index: nothing is known to be tracked
            return set()

    def files(self, root: Path) -> list[Path]:
        """The changed files that exist now, under ``root``."""
        out = []
        for rel in sorted(self.lines):
            p = self.top / rel
            if p.is_file() and _inside(root.resolve(), p):
                out.append(p)
        return out

    def touched(self, rel_to_top: str, start: int, end: int) -> bool:
        if rel_to_top not in self.lines:
            return False
        lines = self.lines[rel_to_top]
        return lines is None or any(n in lines for n in range(start, end + 1))

    def materialize(self, prefixes: list[str], dest: Path) -> int:
        """Write the base version of the files under ``prefixes`` (directories relative to the top)
        into ``dest``, same layout. Names that could escape ``dest`` (``..``, ``/``, ``.git``),
        symlinks, submodules and files over MAX_FILE_BYTES are left out. Returns the files written."""
        written = 0
        store = self._store
        todo = [("", self.base)]
        while todo and written < MAX_FILES:
            prefix, tree_id = todo.pop()
            try:
                entries = list(store[tree_id].items())
            except Exception:  # noqa: BLE001 - a corrupt tree: its files are left out, as unreadable
                continue
            for entry in entries:
                name = entry.path.decode("utf-8", "surrogateescape")
                if name in ("", ".", "..", ".git") or "/" in name or "\\" in name or "\0" in name:
                    continue
                rel = f"{prefix}{name}"
                inside = any(p in ("", ".") or rel == p or rel.startswith(p.rstrip("/") + "/") or p.startswith(rel + "/")
                             for p in prefixes)
                if not inside:
                    continue
                if stat.S_ISDIR(entry.mode):
                    todo.append((rel + "/", entry.sha))
                elif stat.S_ISREG(entry.mode) and any(p in ("", ".") or rel.startswith(p.rstrip("/") + "/") or rel == p for p in prefixes):
                    try:
                        blob = store[entry.sha]
                    except Exception:  # noqa: BLE001 - a corrupt blob: left out
                        continue
                    if len(blob.data) > MAX_FILE_BYTES:
                        continue
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(blob.data)
                    os.chmod(target, entry.mode & 0o777)
                    written += 1
        return written


def _rev_commit(repo, rev: str):
    from dulwich.objectspec import parse_commit

    m = _REV.match(rev.strip())
    if not m:
        raise GitError(f"not a revision: {rev!r}")
    try:
        commit = parse_commit(repo, m.group("name").encode("utf-8"))
    except (KeyError, ValueError) as exc:
        raise GitError(f"unknown revision {m.group('name')!r} (fetch it first, e.g. git fetch origin main)") from exc
    for step in re.findall(r"[~^]\d*", m.group("steps")):
        count = int(step[1:] or 1)
        for _ in range(count if step[0] == "~" else 1):
            parents = commit.parents
            index = 0 if step[0] == "~" else count - 1
            if index >= len(parents):
                raise GitError(f"{rev!r}: no such ancestor")
            commit = repo[parents[index]]
    return commit


def _changed_lines(old: bytes, new: bytes) -> set[int]:
    """Line numbers of ``new`` that differ from ``old``; a deletion marks the lines around it."""
    import difflib

    a = old.decode("utf-8", "replace").splitlines()
    b = new.decode("utf-8", "replace").splitlines()
    out: set[int] = set()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if j1 == j2:  # lines deleted: the neighbours carry the change
            out.update(n for n in (j1, j1 + 1) if 1 <= n <= len(b))
        out.update(range(j1 + 1, j2 + 1))
    return out


def changed_since(root: Path, rev: str) -> Change:
    """The files (and their lines) changed under ``root`` since the merge base of ``rev`` and HEAD,
    the working tree's uncommitted changes and new files included (what a pull request changes,
    as `git diff REV...` plus the work tree). Raises GitError."""
    from dulwich.errors import NotGitRepository
    from dulwich.graph import find_merge_base
    from dulwich.objects import Blob
    from dulwich.repo import Repo

    from .gitview import find_dotgit

    # the repository is the nearest `.git` above root, as for every git fact (scanner.gitview): a
    # committed folder shaped like a bare repository is never taken for one (Repo.discover would)
    dotgit = find_dotgit(root)
    try:
        if dotgit is None:
            raise NotGitRepository(str(root))
        repo = Repo(str(dotgit.parent))
    except NotGitRepository:
        raise GitError(f"{root} is not inside a git repository") from None
    try:
        top = Path(repo.path).resolve()
        commit = _rev_commit(repo, rev)
        try:
            head = repo.head()
            bases = find_merge_base(repo, [head, commit.id])
            base_commit = repo[bases[0]] if bases else commit
        except KeyError:
            base_commit = commit
        store = repo.object_store
        base_files: dict[str, tuple[int, bytes]] = {}
        try:
            prefix = root.resolve().relative_to(top).as_posix()
        except ValueError:
            raise GitError(f"{root} is outside the repository {top}") from None
        prefix = "" if prefix == "." else prefix
        todo = [("", base_commit.tree)]
        while todo:
            path, tree_id = todo.pop()
            for entry in store[tree_id].items():
                rel = path + entry.path.decode("utf-8", "surrogateescape")
                if prefix and not (rel == prefix or rel.startswith(prefix + "/") or prefix.startswith(rel + "/")):
                    continue
                if stat.S_ISDIR(entry.mode):
                    todo.append((rel + "/", entry.sha))
                elif stat.S_ISREG(entry.mode) or stat.S_ISLNK(entry.mode):
                    base_files[rel] = (entry.mode, entry.sha)
        lines: dict[str, set[int] | None] = {}
        seen = 0
        start = top / prefix if prefix else top
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in filenames:
                seen += 1
                if seen > MAX_FILES:
                    raise GitError(f"more than {MAX_FILES} files under {root}")
                full = Path(dirpath) / name
                rel = full.relative_to(top).as_posix()
                if full.is_symlink() or classify(name) is None and rel not in base_files:
                    continue  # only files dkscan reads (or that the base had) can change a finding
                try:
                    data = read_limited(full, MAX_FILE_BYTES)
                except TooLarge:
                    data = None
                except (OSError, ValueError):
                    continue  # a FIFO or device is never read
                old = base_files.get(rel)
                if data is None:
                    continue
                if old is None:
                    lines[rel] = None
                elif Blob.from_string(data).id != old[1]:
                    lines[rel] = _changed_lines(store[old[1]].data, data)
        for rel in base_files:
            if rel not in lines and not (top / rel).exists():
                lines[rel] = set()  # deleted: its deployment is audited, no line of it is left
        return Change(top, base_commit.tree, lines, store, repo)
    except GitError:
        repo.close()
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt or hostile repository is a usage error, never a crash
        repo.close()
        raise GitError(f"cannot read the repository ({exc.__class__.__name__})") from None


def _norm(rel: str) -> str:
    out = posixpath.normpath(rel)
    return "." if out == "" else out


# --------------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------------


def _read(stack: Stack, path: Path, rel: str) -> tuple[str | None, os.stat_result | None]:
    try:
        st = path.stat()
    except OSError as exc:
        stack.problem(CoreRule.UNREADABLE, rel, 1, 1, f"cannot stat file: {exc.strerror or exc.__class__.__name__}")
        return None, None
    try:
        data = read_limited(path, MAX_FILE_BYTES)
    except NotRegular:
        stack.problem(CoreRule.UNREADABLE, rel, 1, 1, "not a regular file (FIFO, socket or device): skipped")
        return None, None
    except TooLarge as exc:
        stack.problem(CoreRule.UNREADABLE, rel, 1, 1, f"file is {exc.size} bytes, over the {MAX_FILE_BYTES}-byte limit: skipped")
        return None, None
    except OSError as exc:
        stack.problem(CoreRule.UNREADABLE, rel, 1, 1, f"cannot read file: {exc.strerror or exc.__class__.__name__}")
        return None, None
    text, err = decode(data)
    if err:
        stack.problem(CoreRule.UNREADABLE, rel, 1, 1, f"cannot decode file: {err}")
        return None, None
    return text, st


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _under_any(path: str, dirs: set[str]) -> bool:
    """``path`` (absolute) is one of ``dirs`` or lies under one."""
    return any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in dirs)


def discover(stack: Stack, paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """Walk directories (and take explicit files); return (absolute path, kind-guess)."""
    from .exclude import Excluder

    found: dict[Path, str] = {}
    seen = 0
    root = stack.root
    excluder = stack.excluder = Excluder(stack.policy, root)
    for p in paths:
        p = Path(p)
        if stack.skip_dirs and _under_any(os.path.abspath(p), stack.skip_dirs):
            continue  # a named path inside a deployment another unit of the scan audits
        if excluder.excluded(os.path.abspath(p), p.is_dir(), named=True):
            continue
        if p.is_file() or (p.exists() and not p.is_dir()):
            kind = classify_path(p) or "conf?"
            rp = p.resolve() if _inside(root, p) else p.absolute()
            found[rp] = kind
            stack.explicit.add(stack.rel(rp))
            continue
        for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if os.path.abspath(os.path.join(dirpath, d)) not in stack.skip_dirs
                                 and not excluder.excluded(os.path.abspath(os.path.join(dirpath, d)), True))
            for name in sorted(filenames):
                seen += 1
                if seen > MAX_FILES:
                    stack.problem(CoreRule.UNREADABLE, stack.rel(Path(dirpath)), 1, 1,
                                  f"more than {MAX_FILES} files under the scanned path: discovery stopped here")
                    return list(found.items())
                full = Path(dirpath) / name
                kind = classify_path(full)
                if kind is None:
                    continue
                if excluder.excluded(os.path.abspath(full), False):
                    continue
                if full.is_symlink():
                    rel = full.relative_to(root).as_posix() if full.is_relative_to(root) else str(full)
                    try:
                        target = full.resolve(strict=True)
                    except (OSError, RuntimeError):
                        stack.problem(CoreRule.UNREADABLE, rel, 1, 1, "broken or looping symbolic link: not followed")
                        continue
                    if not _inside(root, target):
                        stack.problem(CoreRule.UNREADABLE, rel, 1, 1, "symbolic link pointing outside the scanned root: not followed")
                        continue
                    found[target] = kind
                    continue
                found[full] = kind
    return list(found.items())


def _parse_file(stack: Stack, path: Path, rel: str, kind: str, env: dict | None = None) -> SourceFile | None:
    text, st = _read(stack, path, rel)
    if text is None:
        return None
    if kind == "conf?":
        kind = next((k.name for k in FILE_KINDS if k.sniff is not None and k.recognise(path.name.lower()) and k.sniff(text)), None)
        if kind is None:
            return None
    if kind == "prometheus":
        from .parsers.prometheus import looks_like_prometheus
        from .parsers.yamlnodes import YMap, parse_yaml

        root_node, _ = parse_yaml(text)
        if isinstance(root_node, YMap) and "services" in root_node and not looks_like_prometheus(root_node):
            kind = "compose"
    sf = SourceFile(path, rel, kind, mode=st.st_mode if st else 0, size=st.st_size if st else 0,
                    template=is_template(rel))
    try:
        sf.doc = _parse_text(kind, text, rel, env)
    except Exception as exc:  # noqa: BLE001 - a parser bug costs this file, never the audit
        stack.problem(CoreRule.RULE_FAILED, rel, 1, 1, f"the {kind} parser raised {exc.__class__.__name__}: this file "
                      f"was not analysed and its findings are missing from this report")
        return None
    sf.doc.kind = kind  # the document knows its kind: its secret spans depend on it
    for err in sf.doc.errors:
        stack.problem(CoreRule.REJECTED, rel, err.line, err.col, err.message)
    stack.files[rel] = sf
    return sf


def _parse_text(kind: str, text: str, rel: str, env: dict | None = None) -> Document:
    """The parsed document of a file of ``kind`` (its ``scanner.kinds`` parser); a kind without a
    parser (pg_hba.conf, postgresql.conf) is kept as text."""
    parse = KIND[kind].parse
    if parse is None:
        return Document(rel, text)
    return parse(text, rel, env or {})




def stack_units(paths: list[Path], excluder=None) -> list[Path]:
    """The shallowest directories under ``paths`` that hold a compose file (one discovery would
    take: ``excluder``, see scanner.exclude): each is one deployment."""
    units: list[Path] = []
    seen = 0
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
            seen += len(filenames) + len(dirnames)
            if seen > MAX_FILES:
                return []
            if any(classify(f) == "compose" and (excluder is None or not excluder.excluded(os.path.abspath(os.path.join(dirpath, f)), False))
                   for f in filenames):
                units.append(Path(dirpath))
                dirnames[:] = []  # nested compose files belong to this deployment
                continue
            dirnames[:] = sorted(d for d in dirnames if not (excluder.excluded(os.path.abspath(os.path.join(dirpath, d)), True)
                                                             if excluder is not None else d in SKIP_DIRS))
    return units


def deployment_groups(paths: list[Path], excluder=None) -> tuple[list[list[Path]], list[Path], list[Path]]:
    """How a scan of ``paths`` splits into Stacks, so that a deployment's findings are the same
    whether it is scanned alone, beside others, from a parent folder or by naming its files:
    ``(groups, rest, units)``. Each group is one deployment: a directory of ``stack_units`` (the
    shallowest holding a compose file), or the named files under the shallowest directory of a
    named compose file. ``rest``: the named paths outside every deployment (audited together, the
    deployments' directories skipped: ``units``)."""
    paths = [Path(p) for p in paths]
    units = stack_units(paths, excluder)
    unit_dirs = {os.path.abspath(u) for u in units}
    files = [p for p in paths if not p.is_dir() and not _under_any(os.path.abspath(p), unit_dirs)]
    compose_dirs = sorted({os.path.dirname(os.path.abspath(p)) for p in files if classify(p.name) == "compose"},
                          key=len)
    owners: dict[str, list[Path]] = {}
    rest: list[Path] = []
    for p in paths:
        if p.is_dir():
            if os.path.abspath(p) not in unit_dirs:
                rest.append(p)  # a folder around (or beside) deployments: its loose files
            continue
        if _under_any(os.path.abspath(p), unit_dirs):
            continue  # named twice (its folder is named too): audited with that deployment
        owner = next((d for d in compose_dirs if _under_any(os.path.abspath(p), {d})), None)
        if owner is None:
            rest.append(p)
        else:
            owners.setdefault(owner, []).append(p)
    groups = [[u] for u in units] + list(owners.values())
    return groups, rest, units


def build_stack(paths: list[Path], policy: Policy | None = None, root: Path | None = None,
                skip_dirs: Iterable[Path] = ()) -> Stack:
    paths = [Path(p) for p in paths]
    if root is None:
        root = _common_root(paths)
    stack = Stack(root.resolve(), policy)
    stack.base = stack.rel(_common_root(paths)) if paths else ""
    stack.base = "" if stack.base in (".", "") or stack.base.startswith(("/", "../")) else stack.base
    stack.skip_dirs = {os.path.abspath(d) for d in skip_dirs}  # compared with the walk's absolute paths
    found = discover(stack, paths)
    by_kind: dict[str, list[tuple[Path, str]]] = {}
    for path, kind in found:
        by_kind.setdefault(kind, []).append((path, stack.rel(path)))

    # 1. dotenv files first: compose interpolation needs them
    for path, rel in by_kind.get("env", []):
        _parse_file(stack, path, rel, "env")
    # 2. everything but compose
    for kind in ("nginx", "conf?", "sql", "dockerfile", "prometheus", "nats", "redis", "htpasswd", "pg_hba", "pgconf",
                 *HOST_KINDS):
        for path, rel in by_kind.get(kind, []):
            _parse_file(stack, path, rel, kind)
    # prometheus.yml files that are really compose overlays
    compose_files = list(by_kind.get("compose", []))
    for rel, sf in list(stack.files.items()):
        if sf.kind == "compose":
            compose_files.append((sf.path, rel))
            del stack.files[rel]
    # 3. compose: the files of each project (-f, COMPOSE_FILE, else compose's default names),
    # interpolated from the project's env files (--env-file, else .env beside the first file)
    parsed = []
    for p in compose_options(stack).get("files") or []:  # -f files, whatever their names
        p = Path(p)
        if p.is_file() and _inside(stack.root, p) and any(_inside(q.resolve(), p) for q in paths if q.is_dir()):
            compose_files.append((p.resolve(), stack.rel(p)))
    projects = compose_projects(stack, [rel for _p, rel in compose_files])
    _deployed_env_files(stack, projects)
    known = {rel for _p, rel in compose_files}
    for project in projects:  # COMPOSE_FILE may name files the walk did not take for compose files
        for rel in project.files:
            if rel not in known and (stack.root / rel).is_file() and _inside(stack.root, stack.root / rel):
                compose_files.append((stack.root / rel, rel))
                known.add(rel)
    for _p, rel in compose_files:
        if rel in stack.files and stack.files[rel].kind != "compose":
            del stack.files[rel]  # parsed as another kind by its name: it is a compose file of the project
    compose_files = list({rel: (p, rel) for p, rel in compose_files}.values())
    owner = {rel: project for project in projects for rel in project.files}
    for path, rel in sorted(compose_files, key=lambda t: t[1]):
        project = owner.get(rel)
        if project is None:
            continue  # another file of a project given by -f/COMPOSE_FILE: compose does not read it
        env, sources = _interpolation_env(stack, project.files[0], project.env_files)
        env.update(project.shell_env)
        sf = _parse_file(stack, path, rel, "compose", env)
        if sf is not None:
            sf.doc.env_sources = sources
            _validate_compose(stack, sf.doc)
            parsed.append(sf)
    stack.compose_projects = projects
    for step in (lambda: _merge_projects(stack, parsed, projects), lambda: _link_builds(stack), lambda: _apply_roles(stack),
                 lambda: _link_mounts(stack), lambda: _link_nginx(stack)):
        try:
            step()
        except (RecursionError, MemoryError, ValueError, TypeError, AttributeError, KeyError, OSError) as exc:
            # a bug or a pathological input: report it, keep what was built, never lose the scan
            first = min(stack.files, default=".")
            stack.problem(CoreRule.REJECTED, first, 1, 1, f"the stack could not be fully linked ({exc.__class__.__name__}); cross-file checks may be incomplete")
    return stack


def _validate_compose(stack: Stack, doc) -> None:
    """Record where a compose file breaks the Compose Specification (OPS086), before the project's
    files are merged (its nodes still carry the file's own lines). A file whose YAML is broken is
    OPS081's alone."""
    from .parsers.compose_schema import TooLarge, validate

    if any(not e.message.startswith("interpolation:") for e in doc.errors):
        return
    try:
        doc.schema_errors = validate(doc.root)
    except TooLarge as exc:
        stack.note(f"{doc.path} was not checked against the Compose Specification (OPS086): {exc}")


def _common_root(paths: list[Path]) -> Path:
    dirs = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths] or [Path.cwd()]
    common = Path(os.path.commonpath([str(d) for d in dirs]))
    return common


class ComposeProject:
    """What ``docker compose`` reads for one deployment: its files, merged in order, the env files it
    interpolates them from (None: compose's default, ``.env`` of the project directory), the active
    profiles (None: not given, every service is audited) and the project name."""

    directory: str
    files: list[str]
    env_files: list[str] | None = None
    profiles: list[str] | None = None
    name: str | None = None
    source: str = "default"  # "-f", "COMPOSE_FILE", "default"
    # what the deploy script exports before `up` (compose's shell environment wins over env files):
    # name -> (value, script path); a value the script computes at run time is kept as written
    shell_env: dict

    __match_args__ = ("directory", "files", "env_files", "profiles", "name", "source", "shell_env")

    def __init__(self, directory, files, env_files=None, profiles=None, name=None, source="default", shell_env=_FACTORY):
        self.directory = directory
        self.files = files
        self.env_files = env_files
        self.profiles = profiles
        self.name = name
        self.source = source
        self.shell_env = dict() if shell_env is _FACTORY else shell_env

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.directory, self.files, self.env_files, self.profiles, self.name, self.source, self.shell_env) == (other.directory, other.files, other.env_files, other.profiles, other.name, other.source, other.shell_env)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was




def compose_options(stack: Stack) -> dict:
    """The command line's compose options (``dkscan audit -f/--env-file/--profile/-p``)."""
    return dict((getattr(stack.policy, "cli", None) or {}).get("compose") or {})


def _project_variables(stack: Stack, directory: str, env_files: list[str] | None) -> dict[str, str]:
    """COMPOSE_* variables of a project: compose reads them from its env files (--env-file, else
    the project directory's .env); the process environment wins over both."""
    values: dict[str, str] = {}
    rels = env_files if env_files is not None else [_norm(posixpath.join(directory, ".env"))]
    for rel in rels:
        sf = stack.files.get(rel)
        if sf is not None and sf.kind == "env" and sf.doc is not None:
            values.update({k: v for k, v in sf.doc.values().items() if k.startswith("COMPOSE_")})
    # the environment's COMPOSE_FILE is the command line's -f already (relative to the working directory)
    values.update({k: v for k, v in (compose_options(stack).get("environ") or {}).items() if v and k != "COMPOSE_FILE"})
    return values


def compose_projects(stack: Stack, compose_rels: list[str]) -> list[ComposeProject]:
    """The compose projects among ``compose_rels`` (stack-relative compose files), the way
    ``docker compose`` finds them: the ``-f`` files in order; else ``COMPOSE_FILE`` (split on
    ``COMPOSE_PATH_SEPARATOR``, default ``:``) from the environment or the project's env file; else
    ``compose.yaml``/``docker-compose.yml`` plus its ``.override`` file. Other compose files of a
    directory (``docker-compose.prod.yml`` beside ``docker-compose.yml``) are each a project of their
    own, unless the directory's project was named by -f or COMPOSE_FILE: compose never reads them then."""
    opts = compose_options(stack)
    cli_env = [stack.rel(Path(p)) for p in opts.get("env_files") or []] or ([] if opts.get("no_dotenv") else None)
    cli_files = [stack.rel(Path(p)) for p in opts.get("files") or []]
    projects: list[ComposeProject] = []
    by_dir: dict[str, list[str]] = {}
    for rel in sorted(compose_rels):
        by_dir.setdefault(posixpath.dirname(rel), []).append(rel)
    if cli_files:
        directory = posixpath.dirname(cli_files[0])
        if directory in by_dir or any(f in compose_rels for f in cli_files):
            projects.append(ComposeProject(directory, cli_files, cli_env, source="-f"))
            by_dir.pop(directory, None)
    for directory in sorted(by_dir):
        rels = by_dir[directory]
        env = _project_variables(stack, directory, cli_env)
        listed = env.get("COMPOSE_FILE")
        if listed:
            sep = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
            files = [stack.rel(Path(f.strip())) if f.strip().startswith("/") else _norm(posixpath.join(directory, f.strip()))
                     for f in listed.split(sep) if f.strip()]
            files = [f for f in files if not f.startswith(("/", "../"))]  # outside the scanned root: not read
            files = [f for f in files if f in rels or (stack.root / f).is_file() and _inside(stack.root, stack.root / f)]
            if files:
                projects.append(ComposeProject(directory, files, cli_env, source="COMPOSE_FILE"))
                continue
        names = {posixpath.basename(r).lower(): r for r in rels}
        base = next((names[n] for n in _DEFAULT_NAMES if n in names), None)
        used = set()
        if base is not None:
            files = [base] + [names[n] for n in _OVERRIDE_NAMES if n in names][:1]
            projects.append(ComposeProject(directory, files, cli_env))
            used.update(files)
        for rel in rels:
            if rel not in used:
                projects.append(ComposeProject(directory, [rel], cli_env))
    for project in projects:
        _project_settings(stack, project)
    return projects


def _project_settings(stack: Stack, project: ComposeProject) -> None:
    """A project's profiles and name: the command line's, else its env files' COMPOSE_PROFILES and
    COMPOSE_PROJECT_NAME."""
    opts = compose_options(stack)
    env = _project_variables(stack, project.directory, project.env_files)
    profiles = opts.get("profiles")
    if not profiles and env.get("COMPOSE_PROFILES"):
        profiles = [p.strip() for p in env["COMPOSE_PROFILES"].split(",") if p.strip()]
    project.profiles = list(profiles) if profiles else None
    project.name = opts.get("project_name") or env.get("COMPOSE_PROJECT_NAME") or None


def _deployed_env_files(stack: Stack, projects: list[ComposeProject]) -> None:
    """Interpolate each project as its deploy script runs it. When neither the command line
    (``--env-file``, ``--no-dotenv``) nor the policy (``compose.env_files``) chose the env files, and
    every ``up`` of the repository's deploy scripts that deploys a project passes the same
    ``--env-file`` list, all in the repository, the project is interpolated from those files, in
    order, later ones winning — what ``docker compose --env-file a --env-file b up`` does: they
    replace ``.env``. Deploys that disagree, an env file named at run time or one kept on the server
    (not in the repository) leave compose's default (``.env``); OPS103 notes those. Said in a note."""
    if not any(sf.kind == "script" for sf in stack.files.values()):
        return  # no deploy script (and no import of the shell parser)
    from .config import DEFAULTS
    from .parsers.shell import ScriptDocument, deploys, script_compose_calls, word_value

    if compose_options(stack).get("env_files") or compose_options(stack).get("no_dotenv"):
        return
    if list(stack.policy.get("compose.env_files") or []) != list(DEFAULTS["compose"]["env_files"]):
        return
    chosen = stack.policy.get("deploy.scripts")
    found: dict[int, dict[tuple[str, ...] | None, str]] = {}  # project index -> env files -> first use
    for rel in sorted(stack.files):
        sf = stack.files[rel]
        if sf.kind != "script" or not isinstance(sf.doc, ScriptDocument):
            continue
        if chosen:
            if not any(fnmatch.fnmatch(rel, str(g)) for g in chosen):
                continue
        elif not deploys(sf.doc):
            continue
        dirs = stack.script_dirs(rel)
        for call in script_compose_calls(sf.doc):
            if call.sub != "up" or call.stack_deploy:
                continue
            envs: tuple[str, ...] | None = None
            if call.env_files:
                rels = []
                for w in call.env_files:
                    v = word_value(w)
                    base = next((b for b in dirs if v and w.value is not None and not v.startswith(("/", "$"))
                                 and _norm(posixpath.join(b, v)) in stack.files
                                 and stack.files[_norm(posixpath.join(b, v))].kind == "env"), None)
                    rels.append(_norm(posixpath.join(base, v)) if base is not None else None)
                envs = tuple(r for r in rels if r is not None) if None not in rels else ("?",)
            files = [word_value(w) for w in call.files]
            for i, project in enumerate(projects):
                if project.env_files is not None:
                    continue
                if files:
                    deployed = any(_norm(posixpath.join(b, f)) == project.files[0] for f in files for b in dirs)
                else:
                    deployed = project.source == "default" and project.directory in dirs and \
                        posixpath.basename(project.files[0]).lower() in _DEFAULT_NAMES
                if deployed:
                    found.setdefault(i, {}).setdefault(envs, (f"{rel}:{call.cmd.line}", sf.doc, call))
    for i, uses in sorted(found.items()):
        if len(uses) != 1:
            continue  # deploys disagree: compose's default, OPS103 notes each
        ((envs, (where, doc, call)),) = uses.items()
        if envs is None or "?" in envs:
            continue
        projects[i].env_files = list(envs)
        for a in [*doc.assignments, *call.cmd.assigns]:
            # exported anywhere in the script (functions run where they are called: its order is not
            # the file's), or a prefix of this `up` (a prefix of another command is that command's only)
            if (any(a is b for b in call.cmd.assigns) or a.export and a.prefix_of is None) and not a.array and a.value is not None:
                projects[i].shell_env[a.name] = (a.value.str, doc.path)
        _project_settings(stack, projects[i])
        stack.note(f"{projects[i].files[0]} interpolated from {', '.join(envs)}: the --env-file list of the deploy "
                   f"at {where} (no --env-file or compose.env_files given to dkscan; `dkscan audit --env-file ...` "
                   "chooses others)")


def _interpolation_env(stack: Stack, compose_rel: str,
                       env_files: list[str] | None = None) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Values compose interpolates ``compose_rel`` with: the ``--env-file`` files in order when given
    (they replace ``.env``), else the policy's ``compose.env_files`` (default ``.env``) beside it."""
    base = posixpath.dirname(compose_rel)
    env: dict[str, tuple[str, str]] = {}
    sources = []
    if env_files is not None:
        for rel in env_files:
            sf = stack.files.get(rel)
            if sf is None and _inside(stack.root, stack.root / rel) and (stack.root / rel).is_file():
                sf = _parse_file(stack, stack.root / rel, rel, "env")
            if sf is not None and sf.doc is not None and sf.kind == "env":
                sources.append(rel)
                for key, value in sf.doc.values().items():
                    env[key] = (value, rel)
        return env, sources
    while True:
        for name in stack.policy.get("compose.env_files", [".env"]) or []:
            rel = _norm(posixpath.join(base, name))
            sf = stack.files.get(rel)
            if sf is None:
                path = stack.root / rel
                if path.is_file() and _inside(stack.root, path):
                    sf = _parse_file(stack, path, rel, "env")
            if sf is not None and sf.doc is not None and sf.kind == "env":
                sources.append(rel)
                for key, value in sf.doc.values().items():
                    env[key] = (value, rel)
        if sources or not base:
            return env, sources
        # none beside the compose file: an add-on file (docker/addons/x/compose.yaml) is run together
        # with the main project's file, whose .env it then uses: take the nearest ancestor's, within the root
        base = posixpath.dirname(base)


def _merge_projects(stack: Stack, parsed: list[SourceFile], projects: list[ComposeProject]) -> None:
    """Each project's files merged in order into its first file's document (paths stay relative to
    the first file's directory, as compose resolves them); services outside the active profiles are
    set aside as inactive."""
    from .parsers.compose import Service, YMap, YScalar, YSeq, infer_role, merge_override
    from .parsers.yamlnodes import walk

    by_rel = {sf.rel: sf for sf in parsed}
    for project in projects:
        docs = [by_rel[r] for r in project.files if r in by_rel]
        if not docs:
            continue
        base = docs[0]
        for sf in docs[1:]:
            if isinstance(base.doc.root, YMap) and isinstance(sf.doc.root, YMap):
                # the later file's nodes get lines of their own in the merged document (its Nth file
                # starts at N * OVERLAY_LINES), so that rules reading a node's line read that file's
                # line, and a finding's location maps back to it exactly (see attribute)
                offset = OVERLAY_LINES * (len(base.doc.merged_from) + 1)
                for node in walk(sf.doc.root):
                    node.line += offset
                    node.end_line = (node.end_line or node.line - offset) + offset
                base.doc.root = merge_override(base.doc.root, sf.doc.root)
                base.doc.merged_from.append(sf.rel)
                base.doc.overlays.append((offset, sf.doc))
                base.doc.refs.extend(sf.doc.refs)
            svcs = base.doc.root.get("services")
            base.doc.services = {}
            if isinstance(svcs, YMap):
                for key, node in svcs.pairs():
                    if isinstance(node, YMap):
                        base.doc.services[str(key.raw)] = Service(str(key.raw), key, node, base.doc, infer_role(str(key.raw), node))
        top_name = base.doc.root.get("name") if isinstance(base.doc.root, YMap) else None
        base.doc.project_name = project.name or (str(top_name) if isinstance(top_name, YScalar) and top_name.value else None)
        base.doc.profiles = project.profiles
        if project.profiles is not None and "*" not in project.profiles:
            active = set(project.profiles)
            for name, svc in list(base.doc.services.items()):
                node = svc.get("profiles")
                profiles = [str(p) for p in node if isinstance(p, YScalar)] if isinstance(node, YSeq) else []
                if profiles and not active & set(profiles):
                    base.doc.inactive[name] = profiles
                    del base.doc.services[name]
        stack.compose_docs.append(base.doc)


OVERLAY_LINES = 10_000_000  # > the lines of any file dkscan reads (MAX_FILE_BYTES)


def attribute(stack: Stack, loc: Location) -> Location:
    """``loc`` in the file it really points into: a location in a merged compose model at a line of
    one of its later files (``-f b.yml``, an override file) is moved to that file and line."""
    if loc.start_line <= OVERLAY_LINES:
        return loc
    for doc in stack.compose_docs:
        if doc.path != loc.path or not doc.overlays:
            continue
        for offset, over in reversed(doc.overlays):
            if loc.start_line > offset:
                import dataclasses

                end = loc.end_line - offset if loc.end_line is not None and loc.end_line > offset else loc.end_line
                return dataclasses.replace(loc, path=over.path, start_line=loc.start_line - offset, end_line=end)
    return loc


def build_target(svc) -> str | None:
    """The stage a service's ``build.target`` names (None: none, compose builds the last stage)."""
    from .parsers.yamlnodes import YMap

    b = svc.build
    if isinstance(b, YMap):
        target = b.str("target")
        return target.strip() or None if target else None
    return None


def _link_builds(stack: Stack) -> None:
    """Tell each Dockerfile which stage compose builds (``DockerfileDocument.build_target``): the
    ``build.target`` of the services that build it, when they all name the same one. Services that
    disagree (one builds ``builder``, one the last stage) leave the last stage as the one judged."""
    targets: dict[int, set] = {}
    docs: dict[int, object] = {}
    for svc in stack.services:
        df = stack.service_dockerfile(svc)
        if df is None or not hasattr(df, "build_target"):
            continue
        docs[id(df)] = df
        targets.setdefault(id(df), set()).add((build_target(svc) or "").lower())
    for key, names in targets.items():
        if len(names) == 1 and "" not in names:
            docs[key].build_target = next(iter(names))


def _apply_roles(stack: Stack) -> None:
    for svc in stack.services:
        override = stack.policy.role_override(svc.name)
        if override:
            svc.role = override
            continue
        if svc.role in ("app", "other"):
            df = stack.service_dockerfile(svc)
            stage = getattr(df, "final_stage", None) if df is not None else None
            if stage is not None:
                base = stage.image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
                if base in ("nginx", "openresty") or base.startswith("nginx"):
                    svc.role = "gateway"


def _link_mounts(stack: Stack) -> None:
    """Record, on every stack file, which service mounts it and where."""
    for svc in stack.services:
        base = posixpath.dirname(svc.doc.path)
        for m in svc.volumes:
            if not m.is_bind or not m.source or m.source.startswith(("/", "~", "$")):
                continue
            src = _norm(posixpath.join(base, m.source))
            for rel, sf in list(stack.files.items()):
                if rel == src or rel.startswith(src.rstrip("/") + "/"):
                    rest = rel[len(src):].lstrip("/")
                    target = posixpath.join(m.target, rest) if rest else m.target
                    sf.mounted_by.append((svc, target))
            # files the walk did not classify but a service mounts at a known place (nginx conf
            # without .conf, an init script directory, a nats config)
            full = stack.root / src
            if full.is_file() and src not in stack.files and _inside(stack.root, full) and not _excluded(stack, full):
                kind = _kind_for_mount(svc, m.target, _auth_user_files(stack))
                if kind:
                    sf = _parse_file(stack, full, src, kind)
                    if sf is not None:
                        sf.mounted_by.append((svc, m.target))
        # build context Dockerfile, when not discovered (custom name)
        ctx = svc.build_context
        if ctx is not None and svc.build_dockerfile:
            rel = _norm(posixpath.join(base, ctx, svc.build_dockerfile))
            full = stack.root / rel
            if rel not in stack.files and full.is_file() and _inside(stack.root, full) and not _excluded(stack, full):
                _parse_file(stack, full, rel, "dockerfile")
        for path, _req, node in svc.env_files:
            rel = _norm(posixpath.join(base, path))
            full = stack.root / rel
            if rel not in stack.files and full.is_file() and _inside(stack.root, full) and not _excluded(stack, full):
                _parse_file(stack, full, rel, "env")


def _excluded(stack: Stack, full: Path) -> bool:
    """A file the stack names (a mount, a build's Dockerfile, an env_file) that the user excluded
    (scanner.exclude) is not read either, nor is anything under an excluded directory."""
    ex = stack.excluder
    if ex is None:
        return False
    path = os.path.abspath(full)
    if ex.excluded(path, False):
        return True
    parent = os.path.dirname(path)
    root = str(stack.root)
    while parent.startswith(root) and parent != root:
        if ex.excluded(parent, True):
            return True
        parent = os.path.dirname(parent)
    return False


# files a gateway mounts under /etc/nginx that are no configuration: certificates and keys (never
# parsed, so never quoted in a parse error), password files (their own kind, their hashes secret)
_NOT_NGINX = (".pem", ".key", ".crt", ".cer", ".der", ".p12", ".pfx", ".csr", ".jks", ".gpg", ".asc")


def _auth_user_files(stack: Stack) -> frozenset[str]:
    """The paths nginx's ``auth_basic_user_file`` directives name (container paths, as written)."""
    def compute() -> frozenset[str]:
        out = set()
        for sf in list(stack.files.values()):
            if sf.kind == "nginx" and hasattr(sf.doc, "walk"):
                out.update(posixpath.normpath(d.args[0]) for d in sf.doc.walk()
                           if d.name == "auth_basic_user_file" and d.args)
        return frozenset(out)

    return stack.memo("auth_basic_user_files", compute)


def _kind_for_mount(svc, target: str, user_files: frozenset[str] = frozenset()) -> str | None:
    if svc.role == "gateway" and (target.startswith("/etc/nginx") or posixpath.normpath(target) in user_files):
        name = posixpath.basename(target).lower()
        if "htpasswd" in name or "passwd" in name or posixpath.normpath(target) in user_files:
            return "htpasswd"
        if name.endswith(_NOT_NGINX) or "dhparam" in name:
            return None
        return "nginx"
    if svc.role == "postgres" and target.startswith("/docker-entrypoint-initdb.d") and target.endswith(".sql"):
        return "sql"
    if svc.role == "nats" and target.endswith(".conf"):
        return "nats"
    if svc.role == "prometheus" and target.endswith((".yml", ".yaml")) and "prometheus" in target:
        return "prometheus"
    if svc.role == "redis" and target.endswith(".conf"):
        return "redis"
    return None


def _link_nginx(stack: Stack) -> None:
    if not any(sf.kind == "nginx" for sf in stack.files.values()):
        return  # no nginx configuration (and no import of the nginx parser)
    from .parsers.nginx import NginxDocument, refused

    docs = [sf for sf in stack.files.values() if sf.kind == "nginx" and isinstance(sf.doc, NginxDocument)]
    included: set[str] = set()
    resolved: dict[int, list[SourceFile]] = {}  # id(include directive) -> files

    def gateway_of(sf: SourceFile):
        for svc, target in sf.mounted_by:
            if svc.role == "gateway":
                return svc, target
        return None, None

    for sf in docs:
        svc, target = gateway_of(sf)
        for d in sf.doc.walk():
            if d.name != "include" or not d.args:
                continue
            files = _resolve_include(stack, sf, svc, target, d.args[0])
            resolved[id(d)] = files
            for f in files:
                if f.rel != sf.rel:
                    included.add(f.rel)

    judged_here: set = set()
    for sf in sorted(docs, key=lambda s: s.rel):
        if sf.rel in included and not sf.doc.is_main:
            continue
        svc, _ = gateway_of(sf)
        root_name = "main" if sf.doc.is_main else _fragment_context(sf.doc)
        root = Node(None, None, root_name=root_name)
        files: list[str] = [sf.rel]
        budget = [MAX_NGINX_NODES]
        _expand(stack, sf, sf.doc.directives, root, resolved, (sf.rel,), (), files, budget)
        cfg = NginxConfig(sf.doc, root, svc, files)
        if any(refused(stack.files[rel].doc) for rel in files if rel in stack.files):
            # nginx would refuse to load it: its OPS081 finding is the answer, and no rule judges
            # the tree dkscan's recovery guessed
            stack.refused_nginx.append(cfg)
            continue
        if _context_refusal(stack, sf, cfg, judged_here):
            stack.refused_nginx.append(cfg)  # refused for a directive where nginx does not allow it
            continue
        stack.nginx_configs.append(cfg)


def _top_context(stack: Stack, sf: SourceFile) -> str | None:
    """The nginx context of a file's top level when it is certain: ``main`` for a main configuration;
    ``http`` for a file not included by any configuration dkscan read but mounted where the
    gateway image's own ``nginx.conf`` includes it inside ``http {}`` (``/etc/nginx/conf.d/*.conf``,
    or a ``/etc/nginx/templates/*.template`` the official image renders there) when the service
    mounts no ``nginx.conf`` of its own; None otherwise (a fragment whose includer is unknown)."""
    if sf.doc.is_main:
        return "main"
    for svc, target in sf.mounted_by:
        if svc.role != "gateway":
            continue
        image = (svc.image or "").lower()
        if image and not any(k in image.rsplit("/", 1)[-1] for k in ("nginx", "openresty")):
            continue
        folder, name = posixpath.split(posixpath.normpath(target))
        default = ((folder == "/etc/nginx/conf.d" and name.endswith(".conf"))
                   or (folder == "/etc/nginx/templates" and name.endswith(".conf.template")))
        if default and stack.host_path(svc, "/etc/nginx/nginx.conf") is None:
            return "http"
    return None


def _context_refusal(stack: Stack, sf: SourceFile, cfg, judged_here: set) -> bool:
    """Record (OPS081) the first directive of ``cfg`` nginx refuses by its context, block or
    argument count (``"proxy_pass" directive is not allowed here``), at the line nginx names (its
    ``;`` or ``{``), judging each file in the context it is included in. A main file judged itself
    when parsed (``parsers.nginx.parse``); directives of third-party modules are never judged."""
    from .parsers.nginx import judge_tree

    ctx = _top_context(stack, sf)
    if ctx is None:
        return False
    own = {rel for rel in cfg.files if rel in stack.files and stack.files[rel].doc.is_main}

    def judged(node) -> bool:
        return node.d.path not in own and node.d.term[0] != 0

    bad = judge_tree(cfg.root.children, ctx, lambda n: n.children, lambda n: n.d, judged)
    if bad is None:
        return False
    d, msg = bad
    key = (d.path, d.term, msg)
    if key not in judged_here:
        judged_here.add(key)
        line, col = d.term
        stack.problem(CoreRule.REJECTED, d.path, line, d.col if line == d.line else col, msg)
    return True


def _fragment_context(doc) -> str:
    names = {d.name for d in doc.directives}
    if names & {"location", "listen", "server_name", "ssl_certificate"}:
        return "server"
    return "http"


def _expand(stack, sf, directives, parent: Node, resolved, chain: tuple, via: tuple, files: list, budget: list) -> None:
    for d in directives:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        if d.name == "include" and id(d) in resolved:
            node = Node(d, parent, via=via)
            parent.children.append(node)  # keep the include itself visible
            for inc in resolved[id(d)]:
                if inc.rel in chain:
                    stack.problem(CoreRule.REJECTED, d.path, d.line, d.col, f"include cycle: {' -> '.join(chain + (inc.rel,))}")
                    continue
                if inc.rel not in files:
                    files.append(inc.rel)
                _expand(stack, inc, inc.doc.directives, parent, resolved, chain + (inc.rel,), via + (d,), files, budget)
            continue
        node = Node(d, parent, via=via)
        parent.children.append(node)
        if d.block is not None:
            _expand(stack, sf, d.block, node, resolved, chain, via, files, budget)
    if budget[0] <= 0 and not getattr(parent, "_budget_reported", False):
        stack.problem(CoreRule.REJECTED, sf.rel, 1, 1, f"nginx configuration expands to more than {MAX_NGINX_NODES} directives: the rest was not analysed")
        parent._budget_reported = True


NGINX_IMAGE_FILES = ("mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "koi-utf", "koi-win", "win-utf", "proxy_params", "snippets/fastcgi-php.conf")


def _resolve_include(stack: Stack, sf: SourceFile, svc, target: str | None, pattern: str) -> list[SourceFile]:
    """Resolve an include through the gateway's mounts; fall back to the file's own directory."""
    from .parsers.nginx import NginxDocument

    candidates: list[str] = []
    if svc is not None:
        cpath = pattern if pattern.startswith("/") else posixpath.join("/etc/nginx", pattern)
        host = stack.host_path(svc, posixpath.normpath(cpath))
        if host is not None:
            candidates.append(host)
    here = posixpath.dirname(sf.rel)
    if not candidates:
        if pattern.startswith("/etc/nginx/"):
            # the repository's nginx directory usually mirrors /etc/nginx
            sub = pattern[len("/etc/nginx/"):]
            candidates.append(_norm(posixpath.join(here, sub)))
            if target and target.startswith("/etc/nginx/"):
                depth = target[len("/etc/nginx/"):].count("/")
                up = here
                for _ in range(depth):
                    up = posixpath.dirname(up)
                candidates.append(_norm(posixpath.join(up, sub)))
        elif not pattern.startswith("/"):
            candidates.append(_norm(posixpath.join(here, pattern)))
    out: list[SourceFile] = []
    for cand in candidates:
        if cand.startswith(".."):
            continue
        if globmod.has_magic(cand):
            matches = sorted(globmod.iglob(str(stack.root / cand)))[: MAX_INCLUDE_MATCHES + 1] if _inside(stack.root, stack.root / posixpath.dirname(cand)) else []
            if len(matches) > MAX_INCLUDE_MATCHES:
                stack.problem(CoreRule.UNREADABLE, sf.rel, 1, 1, f"include '{pattern}' matches more than {MAX_INCLUDE_MATCHES} files: only the first {MAX_INCLUDE_MATCHES} were read")
                matches = matches[:MAX_INCLUDE_MATCHES]
            rels = [stack.rel(Path(m)) for m in matches if Path(m).is_file() or not Path(m).is_dir()]
        else:
            rels = [cand] if (stack.root / cand).exists() else []
        for rel in rels:
            inc = stack.files.get(rel)
            if inc is None:
                full = stack.root / rel
                if not _inside(stack.root, full):
                    continue
                inc = _parse_file(stack, full, rel, "nginx")
            if inc is not None and isinstance(inc.doc, NginxDocument):
                if svc is not None and not any(s is svc for s, _ in inc.mounted_by):
                    pass
                out.append(inc)
        if out:
            break
    return out


def resolve_include_candidates(stack: Stack, sf: SourceFile, pattern: str) -> list[str]:
    """Host paths an include may point at (for OPS063/OPS064 messages)."""
    svc = next((s for s, _ in sf.mounted_by if s.role == "gateway"), None)
    if svc is not None:
        cpath = pattern if pattern.startswith("/") else posixpath.join("/etc/nginx", pattern)
        host = stack.host_path(svc, posixpath.normpath(cpath))
        return [host] if host else []
    return []

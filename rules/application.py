"""Application: container runtime privileges, images and Dockerfiles (compose, Dockerfile).

The helpers at the top (``compose_*``, ``dockerfile_*``) are shared by the container rule modules
(``perimeter``, ``operational_containers``, ``performance_containers``): text edits on the original
compose file and the effective state of a Dockerfile's final stage.
"""

from __future__ import annotations

import os
import posixpath
import re

from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YNode, YScalar, YSeq
from scanner.registry import rule
from scanner.secrets import is_reference, is_secret_key, url_password

from ._util import LazyRe, svc_loc, yloc

# ``${NAME}``, ``${NAME:-x}`` or ``$NAME`` in a Dockerfile value (DL3044)
_ENV_REF = re.compile(r"\$(?:\{([^}:]*)[}:]|([A-Za-z0-9_]+))")

# ---------------------------------------------------------------------------------------------
# Compose helpers: where things are, and minimal text edits
# ---------------------------------------------------------------------------------------------


def service_span(svc) -> tuple[int, int]:
    """First and last line of a service's block (its key line to the end of its mapping)."""
    end = svc.node.end_line
    if svc.node.end_col == 1 and end > svc.key.line:
        end -= 1
    return svc.key.line, max(end, svc.key.line)


def in_service(svc, node: YNode | None) -> bool:
    """True when ``node`` is written inside the service's block (not reached through an alias or a
    ``<<`` merge key from elsewhere in the file): only then is a text edit there local to it."""
    if node is None:
        return False
    first, last = service_span(svc)
    return first < node.line <= last


def node_loc(svc, node: YNode | None) -> Location:
    """The node's location when it is written in the service, else the service key."""
    return yloc(svc.doc.path, node) if in_service(svc, node) else svc_loc(svc)


def unknown_vars(node: YNode | None) -> bool:
    """The scalar uses a ``${VAR}`` no interpolation source defines (and with no default)."""
    for ref in getattr(node, "vars", None) or []:
        if not ref.defined and not ref.has_default and ref.op not in ("+", ":+"):
            return True
    return False


def _indent_of(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def child_indent(doc, key_line: int, last_line: int | None = None) -> str | None:
    """Indentation of the block under the mapping key on ``key_line`` (the first non-blank,
    non-comment line after it), or None when the value is not a block mapping."""
    key_text = doc.line_text(key_line)
    code = re.sub(r"\s+#.*$", "", key_text).rstrip()
    if not re.search(r":(\s+&\S+)?$", code):
        return None  # a flow collection, a scalar or an alias follows the key
    n = len(doc.lines)
    last = min(last_line or n, n)
    for line in range(key_line + 1, last + 1):
        text = doc.line_text(line)
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _indent_of(text) > _indent_of(key_text) and not stripped.startswith("-"):
            return " " * _indent_of(text)
        return None
    return None


def insert_in_service(svc, lines: list[str]) -> Edit | None:
    """An insertion of ``lines`` (each a ``key: value`` line, relative indentation kept) as new keys
    of the service, right after its key line."""
    indent = child_indent(svc.doc, svc.key.line, service_span(svc)[1])
    if indent is None:
        return None
    text = "".join(f"{indent}{line}\n" for line in lines)
    return Edit(Location(svc.doc.path, svc.key.line + 1, 1), text)


def insert_under_key(doc, key_node: YScalar, lines: list[str], last_line: int | None = None) -> Edit | None:
    """An insertion of ``lines`` as new children of the block mapping whose key is ``key_node``."""
    indent = child_indent(doc, key_node.line, last_line)
    if indent is None:
        return None
    return Edit(Location(doc.path, key_node.line + 1, 1), "".join(f"{indent}{line}\n" for line in lines))


def delete_lines(doc, first: int, last: int) -> Edit:
    """Delete whole lines ``first``..``last`` (1-based, inclusive)."""
    n = len(doc.lines)
    if last >= n and not doc.text.endswith("\n") and first > 1:
        prev = doc.line_text(first - 1)
        return Edit(Location(doc.path, first - 1, len(prev) + 1, last, len(doc.line_text(last)) + 1), "")
    return Edit(Location(doc.path, first, 1, last + 1, 1), "")


def alone_on_line(doc, node: YNode, key: YScalar | None = None) -> bool:
    """The node (with its key, or its ``- `` dash) is the only thing on its line (a comment may follow)."""
    if node.end_line > node.line and not (node.end_line == node.line + 1 and node.end_col == 1):
        return False
    text = doc.line_text(node.line)
    start = (key.col if key is not None else node.col) - 1
    before = text[:start].strip()
    if before not in ("", "-"):
        return False
    after = text[node.end_col - 1:] if node.end_line == node.line else ""
    after = after.strip()
    return after == "" or after.startswith("#")


def scalar_text_span(doc, node: YScalar) -> tuple[int, int, int] | None:
    """(line, first col, end col) of a single-line scalar's raw text (inside its quotes)."""
    if not isinstance(node, YScalar) or node.raw is None:
        return None
    if node.end_line != node.line:
        return None
    text = doc.line_text(node.line)
    start = node.col - 1 + (1 if node.style in ("'", '"') else 0)
    raw = node.raw
    if node.style == "'":
        raw = raw.replace("'", "''")
    if text[start:start + len(raw)] != raw:
        return None
    return node.line, start + 1, start + 1 + len(raw)


def replace_scalar(doc, node: YScalar, new_text: str) -> Edit | None:
    """Replace a single-line scalar (quotes included) by ``new_text``."""
    if not isinstance(node, YScalar) or node.end_line != node.line:
        return None
    if node.style in ("|", ">"):
        return None
    return Edit(Location(doc.path, node.line, node.col, node.line, node.end_col), new_text)


def delete_seq_item(doc, seq: YSeq, item: YNode, key: YScalar | None, deleted: list | None = None) -> Edit | None:
    """Delete one item of a block sequence. When every item goes (``deleted``: all the items the
    rule deletes from this sequence), the key goes too — an empty ``key:`` would be null, which
    Compose's schema rejects for lists — and each such fix is the same edit, applied once."""
    if not isinstance(seq, YSeq) or item not in seq.items:
        return None
    going = [i for i in (deleted or [item]) if i in seq.items]
    for it in going:
        if not alone_on_line(doc, it) or not doc.line_text(it.line).lstrip().startswith("-"):
            return None
    if len(going) == len(seq.items):
        if key is None or not doc.line_text(key.line).split("#", 1)[0].rstrip().endswith(":") or key.line >= seq.items[0].line:
            return None
        return delete_lines(doc, key.line, seq.items[-1].line)
    return delete_lines(doc, item.line, item.line)


def delete_key(svc, key: str) -> Edit | None:
    """Delete a ``key: value`` line of a service (the value on the key's line)."""
    k = svc.node.key(key) if isinstance(svc.node, YMap) else None
    v = svc.get(key)
    if k is None or v is None or not in_service(svc, k) or not isinstance(v, YScalar):
        return None
    if v.line != k.line or not alone_on_line(svc.doc, v, k):
        return None
    return delete_lines(svc.doc, k.line, k.line)


def seq_items(node: YNode | None) -> list[YScalar]:
    """Scalar items of a sequence, or the scalar itself (``tmpfs: /tmp``)."""
    if isinstance(node, YSeq):
        return [i for i in node if isinstance(i, YScalar) and i.value is not None]
    if isinstance(node, YScalar) and node.value is not None:
        return [node]
    return []


def truthy(node: YNode | None) -> bool:
    return isinstance(node, YScalar) and (node.value is True or str(node.value).strip().lower() in ("true", "yes", "on", "1"))


def image_parts(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference: ``ghcr.io:443/a/b:1.2@sha256:…``."""
    ref = ref.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:], digest
    return ref, None, digest


def image_base(ref: str) -> str:
    """``postgres`` for ``docker.io/library/postgres:16-alpine``."""
    return image_parts(ref)[0].rsplit("/", 1)[-1].lower()


def official_image(ref: str, *names: str) -> bool:
    """An official Docker Hub image (``postgres``, ``library/postgres``, ``docker.io/postgres``)."""
    repo = image_parts(ref)[0].lower()
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
            break
    return repo in names


# ---------------------------------------------------------------------------------------------
# Dockerfile helpers
# ---------------------------------------------------------------------------------------------

_VAR_RE = LazyRe(r"\$(?:\{(?P<b>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-+])?(?P<def>[^}]*)\}|(?P<n>[A-Za-z_][A-Za-z0-9_]*))")


def dockerfile_expand(text: str, args: dict[str, str | None]) -> str | None:
    """Substitute ``$VAR``/``${VAR}``/``${VAR:-default}`` from ``args`` (ARG defaults); None when a
    variable has no known value."""
    unknown = False

    def sub(m: re.Match) -> str:
        nonlocal unknown
        name = m.group("b") or m.group("n")
        val = args.get(name)
        op = m.group("op")
        if op in (":-", "-"):
            if val:
                return val
            return m.group("def") or ""
        if op in (":+", "+"):
            return (m.group("def") or "") if val else ""
        if val is None:
            unknown = True
            return ""
        return val

    out = _VAR_RE.sub(sub, text)
    return None if unknown else out


def global_args(doc) -> dict[str, str | None]:
    """ARGs declared before the first FROM, with their defaults (None: no default)."""
    out: dict[str, str | None] = {}
    first_from = doc.stages[0].line if doc.stages else 10**9
    for ins in doc.instructions:
        if ins.line >= first_from:
            break
        if ins.cmd == "ARG":
            raw_words = {w.split("=", 1)[0]: "=" in w for w, _o in ins.words()}
            for key, value, _l, _c in ins.env_pairs():
                out[key] = value if raw_words.get(key, bool(value)) else None
    return out


def stage_chain(doc, stage) -> list:
    """The stage and the earlier stages it is built ``FROM`` (nearest first)."""
    chain = [stage]
    seen = {stage.index}
    cur = stage
    while True:
        parent = None
        for s in doc.stages[: cur.index]:
            if s.name and s.name.lower() == cur.image.lower():
                parent = s
        if parent is None or parent.index in seen:
            return chain
        chain.append(parent)
        seen.add(parent.index)
        cur = parent


def root_image(doc, stage) -> str:
    """The registry image at the bottom of a stage's ``FROM`` chain (ARGs expanded when known)."""
    base = stage_chain(doc, stage)[-1].image
    expanded = dockerfile_expand(base, global_args(doc)) if "$" in base else base
    return expanded if expanded is not None else base


def last_instruction(doc, stage, *cmds: str):
    """The last instruction among ``cmds`` in the stage or, when it has none, in its parents."""
    for s in stage_chain(doc, stage):
        found = [i for i in s.instructions[1:] if i.cmd in cmds]
        if found:
            return found[-1]
    return None


def service_builds(stack) -> dict[int, list]:
    """id(Dockerfile document) -> compose services that build it."""
    out: dict[int, list] = {}
    for svc in stack.services:
        try:
            df = stack.service_dockerfile(svc)
        except Exception:  # noqa: BLE001
            df = None
        if df is not None:
            out.setdefault(id(df), []).append(svc)
    return out


def ins_loc(doc, ins, offset: int | None = None, length: int = 0) -> Location:
    """An instruction's location, narrowed to ``args[offset:offset+length]`` when given."""
    if offset is None:
        return Location(doc.path, ins.line, ins.col)
    line, col = ins.arg_pos(offset)
    if length:
        eline, ecol = ins.arg_pos(offset + length - 1)
        if eline == line:
            return Location(doc.path, line, col, line, ecol + 1)
    return Location(doc.path, line, col)


_SEP_WORDS = {"&&", "||", ";", "|", "&", "(", ")", "{", "}", "then", "do", "else", "!"}


def shell_commands(text: str) -> list[list[tuple[str, int]]]:
    """A shell command line split into simple commands: lists of (word, offset). Good enough for
    the words rules look at (``sudo``, ``curl -k``, ``apt-get install``); quotes are kept whole."""
    out: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n\\":
            i += 1
            continue
        if text.startswith(("&&", "||"), i) or ch in ";|&(){}`":
            if cur:
                out.append(cur)
                cur = []
            i += 2 if text.startswith(("&&", "||"), i) else 1
            continue
        start = i
        quote = ""
        while i < n:
            c = text[i]
            if quote:
                if c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c in " \t\r\n;|&()`" or (c == "\\" and i + 1 < n and text[i + 1] in "\n"):
                break
            i += 1
        word = text[start:i]
        if word in ("then", "do", "else", "!"):
            if cur:
                out.append(cur)
                cur = []
            continue
        cur.append((word.strip("'\""), start))
    if cur:
        out.append(cur)
    return out


def command_name(cmd: list[tuple[str, int]]) -> tuple[int, str]:
    """Index and name of a simple command's program, after ``VAR=value`` assignments and wrappers
    such as ``sudo``, ``env``, ``exec``, ``nohup``."""
    i = 0
    while i < len(cmd) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", cmd[i][0]):
        i += 1
    return (i, posixpath.basename(cmd[i][0])) if i < len(cmd) else (i, "")


def run_scripts(ins) -> list[tuple[str, int | None]]:
    """The shell text of a RUN (exec form joined; heredoc bodies too) with its offset in ``args``
    (None for heredoc bodies, which have no argument offset)."""
    out: list[tuple[str, int | None]] = []
    if ins.json is not None:
        words = list(ins.json)
        if len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash", "ash", "dash", "zsh") and words[1] in ("-c", "-ec", "-ex", "-exc", "-euc", "-eux", "-xc"):
            out.append((words[2], None))
        else:
            out.append((" ".join(words), None))
    else:
        out.append((ins.args, 0))
    for body in ins.heredocs:
        out.append((body, None))
    return out


# ---------------------------------------------------------------------------------------------
# APP001-APP011: container runtime
# ---------------------------------------------------------------------------------------------


@rule("APP001", "privileged-container", "critical", files="compose",
      refs="CWE-250; CIS 5.5; KICS privileged_containers_enabled; sg privileged-service", fix="unsafe")
def privileged_container(stack):
    """A container runs privileged.

    ## What it does
    Flags `privileged: true` on a compose service.

    ## Why is this bad?
    A privileged container has every capability, every device and no seccomp or AppArmor
    confinement: root inside it is root on the host.

    ## Example
    ```yaml
    backend:
      privileged: true
    ```

    ## Use instead
    Remove the key and add only the capability the service needs with `cap_add`.

    ## Fix safety
    Unsafe: a service that really needs a device or capability will fail to start.

    ## References
    CWE-250; CIS Docker Benchmark 5.5; KICS privileged_containers_enabled; semgrep privileged-service.
    """
    for svc in stack.services:
        node = svc.get("privileged")
        if not truthy(node):
            continue
        edit = delete_key(svc, "privileged")
        fix = Fix("delete `privileged: true`", (edit,), "unsafe") if edit else None
        yield hit(node_loc(svc, node), f"service '{svc.name}' runs privileged: every capability and device, "
                  f"no seccomp/AppArmor — root in the container is root on the host",
                  fix=fix, snippet_key=f"{svc.name}:privileged")


DANGEROUS_CAPS = {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "NET_ADMIN", "DAC_READ_SEARCH",
                  "BPF", "SYS_BOOT"}


def _cap(name: str) -> str:
    n = name.strip().upper()
    return n[4:] if n.startswith("CAP_") else n


@rule("APP002", "dangerous-capability", "high", files="compose",
      refs="CWE-250; CIS 5.4; KICS container_capabilities_unrestricted", fix="manual")
def dangerous_capability(stack):
    """A container is granted a capability that breaks its isolation.

    ## What it does
    Flags `cap_add` entries `ALL`, `SYS_ADMIN`, `SYS_MODULE`, `SYS_PTRACE`, `SYS_RAWIO`,
    `NET_ADMIN`, `DAC_READ_SEARCH`, `BPF` and `SYS_BOOT` (with or without the `CAP_` prefix, any case).

    ## Why is this bad?
    Each of them is a known container escape or host takeover primitive: `SYS_ADMIN` mounts
    filesystems and abuses cgroups, `SYS_MODULE` loads kernel modules, `SYS_PTRACE` reads other
    processes' memory, `DAC_READ_SEARCH` opens host files by handle (the "shocker" escape), `NET_ADMIN`
    rewrites the host's view of the network when combined with host networking. `ALL` is all of them.

    ## Example
    ```yaml
    backend:
      cap_add: [SYS_ADMIN]
    ```

    ## Use instead
    Drop everything and add back only what the process needs:
    ```yaml
    backend:
      cap_drop: [ALL]
      cap_add: [NET_BIND_SERVICE]
    ```

    ## Fix safety
    Manual: only the service's owner knows which capability it really needs.

    ## References
    CWE-250; CIS Docker Benchmark 5.4; KICS container_capabilities_unrestricted.
    """
    for svc in stack.services:
        for item in seq_items(svc.get("cap_add")):
            cap = _cap(str(item))
            if cap in DANGEROUS_CAPS:
                what = "every capability" if cap == "ALL" else f"CAP_{cap}"
                yield hit(node_loc(svc, item), f"service '{svc.name}' adds {what}: a known container-escape primitive",
                          snippet_key=f"{svc.name}:cap_add:{cap}")


@rule("APP003", "capabilities-not-dropped", "low", files="compose",
      refs="CIS 5.4; KICS container_capabilities_unrestricted", fix="manual")
def capabilities_not_dropped(stack):
    """A container keeps Docker's default capabilities.

    ## What it does
    Flags a service without `cap_drop: [ALL]`. A minimal `cap_add` beside it (`NET_BIND_SERVICE`,
    `CHOWN`, `SETUID`...) is the recommended pattern and is not flagged. The finding points at
    `cap_drop` when it exists without `ALL`, else at the service.

    ## Why is this bad?
    Docker grants 14 capabilities by default (`CHOWN`, `DAC_OVERRIDE`, `FOWNER`, `SETUID`, `SETGID`,
    `NET_RAW`, `MKNOD`, ...). Most services need none of them; an attacker who gets code execution
    uses them (raw sockets for ARP spoofing on the bridge, `DAC_OVERRIDE` to read any file).

    ## Example
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
    ```

    ## Use instead
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
      cap_drop: [ALL]
    ```
    The official postgres and redis images start as root and switch user: they need `CHOWN`,
    `SETUID`, `SETGID`, `DAC_OVERRIDE` and `FOWNER` back in `cap_add`.

    ## Fix safety
    Manual: which capabilities a service needs is only known by running it.

    ## References
    CIS Docker Benchmark 5.4; KICS container_capabilities_unrestricted.
    """
    for svc in stack.services:
        node = svc.get("cap_drop")
        items = seq_items(node)
        if any(_cap(str(i)) == "ALL" for i in items):
            continue
        if node is not None and in_service(svc, node) and isinstance(svc.node, YMap):
            loc = yloc(svc.doc.path, svc.node.key("cap_drop"))
            msg = f"service '{svc.name}' drops some capabilities but not ALL: the rest of Docker's defaults stay"
        else:
            loc = svc_loc(svc)
            msg = f"service '{svc.name}' keeps Docker's 14 default capabilities (no `cap_drop: [ALL]`)"
        yield hit(loc, msg, snippet_key=f"{svc.name}:cap_drop")


_NNP_RE = LazyRe(r"^\s*no-new-privileges\s*(?:[:=]\s*(?P<v>\S+))?\s*$", re.I)


@rule("APP004", "no-new-privileges-missing", "medium", files="compose",
      refs="CWE-250; CIS 5.26; KICS no_new_privileges_not_set, security_opt_not_set", fix="safe")
def no_new_privileges_missing(stack):
    """A container's processes may gain privileges through setuid binaries.

    ## What it does
    Flags a service whose `security_opt` is absent (points at the service), lacks
    `no-new-privileges:true` (points at `security_opt`), or sets it to `false` (points at that entry).

    ## Why is this bad?
    Without the flag, a setuid-root binary in the image (`su`, `passwd`, `mount`, a forgotten
    `sudo`) lets a compromised non-root process become root in the container. `no-new-privileges`
    makes the kernel ignore setuid bits and file capabilities on `execve`.

    ## Example
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
    ```

    ## Use instead
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
      security_opt:
        - "no-new-privileges:true"
    ```

    ## Fix safety
    Safe: services do not legitimately escalate through setuid binaries in production (an
    entrypoint using `gosu`/`su-exec` drops privileges, which still works).

    ## References
    CWE-250; CIS Docker Benchmark 5.26; KICS no_new_privileges_not_set, security_opt_not_set.
    """
    for svc in stack.services:
        node = svc.get("security_opt")
        items = seq_items(node) if isinstance(node, YSeq) else []
        state = None
        bad_item = None
        for item in items:
            m = _NNP_RE.match(str(item))
            if m:
                v = (m.group("v") or "true").lower()
                state = v in ("true", "1", "yes")
                if not state:
                    bad_item = item
        if state:
            continue
        path = svc.doc.path
        if bad_item is not None:
            fix = None
            if in_service(svc, bad_item):
                span = scalar_text_span(svc.doc, bad_item)
                if span:
                    fix = Fix("set `no-new-privileges:true`",
                              (Edit(Location(path, span[0], span[1], span[0], span[2]), "no-new-privileges:true"),))
            yield hit(node_loc(svc, bad_item), f"service '{svc.name}' sets no-new-privileges to false: setuid binaries can escalate to root",
                      fix=fix, snippet_key=f"{svc.name}:no-new-privileges")
            continue
        if isinstance(node, YSeq) and in_service(svc, node) and node.items and svc.node.key("security_opt") is not None:
            key = svc.node.key("security_opt")
            first = node.items[0]
            fix = None
            line_text = svc.doc.line_text(first.line)
            if first.line > key.line and line_text.lstrip().startswith("-"):
                dash_indent = " " * _indent_of(line_text)
                fix = Fix("add `no-new-privileges:true` to security_opt",
                          (Edit(Location(path, key.line + 1, 1), f'{dash_indent}- "no-new-privileges:true"\n'),))
            yield hit(yloc(path, key), f"service '{svc.name}' has security_opt without no-new-privileges:true",
                      fix=fix, snippet_key=f"{svc.name}:no-new-privileges")
            continue
        edit = None
        if node is None:
            edit = insert_in_service(svc, ["security_opt:", '  - "no-new-privileges:true"'])
        fix = Fix('add `security_opt: ["no-new-privileges:true"]`', (edit,)) if edit else None
        yield hit(svc_loc(svc), f"service '{svc.name}' does not set no-new-privileges: setuid binaries in the image can escalate to root",
                  fix=fix, snippet_key=f"{svc.name}:no-new-privileges")


def _security_opt_hits(svc, pattern: re.Pattern):
    """(sequence, item, every matching item) for the security_opt entries matching ``pattern``."""
    node = svc.get("security_opt")
    items = [i for i in (seq_items(node) if isinstance(node, YSeq) else []) if pattern.search(str(i))]
    for item in items:
        yield node, item, items


_SECCOMP_RE = LazyRe(r"(^|[:=])\s*seccomp\s*[:=]\s*unconfined\s*$", re.I)
_MAC_RE = LazyRe(r"^\s*(apparmor\s*[:=]\s*unconfined|label\s*[:=]\s*disable)\s*$", re.I)


@rule("APP005", "seccomp-disabled", "high", files="compose",
      refs="CWE-693; CIS 5.22; KICS default_seccomp_profile_disabled", fix="unsafe")
def seccomp_disabled(stack):
    """A container runs without the default seccomp profile.

    ## What it does
    Flags `security_opt` entries `seccomp:unconfined` / `seccomp=unconfined`.

    ## Why is this bad?
    Docker's default seccomp profile blocks about 44 system calls (`keyctl`, `add_key`, `unshare`,
    `mount`, `kexec_load`, `bpf`, ...) that most kernel privilege escalations go through. Without it
    every kernel bug reachable by a syscall is reachable from the container.

    ## Example
    ```yaml
    backend:
      security_opt: ["seccomp:unconfined"]
    ```

    ## Use instead
    Remove the entry; if one syscall is really needed, ship a custom profile
    (`seccomp:./seccomp.json`) derived from Docker's default.

    ## Fix safety
    Unsafe: a service relying on a blocked syscall (rare: some debuggers, old JVMs) stops working.

    ## References
    CWE-693; CIS Docker Benchmark 5.22; KICS default_seccomp_profile_disabled.
    """
    for svc in stack.services:
        for seq, item, matching in _security_opt_hits(svc, _SECCOMP_RE):
            edit = delete_seq_item(svc.doc, seq, item, svc.node.key("security_opt"), matching) if in_service(svc, item) else None
            yield hit(node_loc(svc, item), f"service '{svc.name}' disables seccomp: every syscall reaches the host kernel",
                      fix=Fix("delete the seccomp:unconfined entry", (edit,), "unsafe") if edit else None,
                      snippet_key=f"{svc.name}:seccomp")


@rule("APP006", "mac-profile-disabled", "high", files="compose",
      refs="CIS 5.2, 5.3; sg selinux-separation-disabled", fix="unsafe")
def mac_profile_disabled(stack):
    """A container runs without its AppArmor or SELinux confinement.

    ## What it does
    Flags `security_opt` entries `apparmor:unconfined`, `label:disable` and their `=` forms.

    ## Why is this bad?
    The `docker-default` AppArmor profile denies writes to `/proc/sys`, `/sys` and mounts; SELinux
    labels keep a container from the files of the host and of other containers. Disabling them removes
    the last layer between a container escape bug and the host.

    ## Example
    ```yaml
    backend:
      security_opt: ["apparmor:unconfined"]
    ```

    ## Use instead
    Remove the entry, or load a custom profile (`apparmor:my-profile`).

    ## Fix safety
    Unsafe: a service that depends on the access the profile denies stops working.

    ## References
    CIS Docker Benchmark 5.2, 5.3; semgrep selinux-separation-disabled.
    """
    for svc in stack.services:
        for seq, item, matching in _security_opt_hits(svc, _MAC_RE):
            what = "AppArmor" if "apparmor" in str(item).lower() else "SELinux labelling"
            edit = delete_seq_item(svc.doc, seq, item, svc.node.key("security_opt"), matching) if in_service(svc, item) else None
            yield hit(node_loc(svc, item), f"service '{svc.name}' disables {what} confinement",
                      fix=Fix(f"delete the `{item}` entry", (edit,), "unsafe") if edit else None,
                      snippet_key=f"{svc.name}:{str(item).lower()}")


_NAMESPACE_KEYS = {"pid": "process", "ipc": "IPC", "uts": "UTS (hostname)", "userns_mode": "user"}


@rule("APP007", "host-namespace-shared", "high", files="compose",
      refs="CWE-668; CIS 5.16, 5.17, 5.21, 5.31; KICS host_namespace_is_shared, shared_host_ipc_namespace, shared_host_user_namespace",
      fix="unsafe")
def host_namespace_shared(stack):
    """A container shares a namespace with the host.

    ## What it does
    Flags `pid: host`, `ipc: host`, `uts: host` and `userns_mode: host`. Sharing with another
    container (`pid: "service:x"`, `ipc: shareable`) is not flagged.

    ## Why is this bad?
    `pid: host` shows (and with `SYS_PTRACE`, lets the container attach to) every host process;
    `ipc: host` exposes the host's shared memory segments; `uts: host` lets the container change the
    host's hostname; `userns_mode: host` turns off user-namespace remapping, so root in the
    container is root on the host again.

    ## Example
    ```yaml
    agent:
      pid: host
    ```

    ## Use instead
    Remove the key; monitoring agents that need host processes belong outside the application stack.

    ## Fix safety
    Unsafe: a monitoring agent built for the host namespace loses its view.

    ## References
    CWE-668; CIS Docker Benchmark 5.16, 5.17, 5.21, 5.31; KICS host_namespace_is_shared,
    shared_host_ipc_namespace, shared_host_user_namespace.
    """
    for svc in stack.services:
        for key, what in _NAMESPACE_KEYS.items():
            node = svc.get(key)
            if isinstance(node, YScalar) and str(node).strip().lower() == "host":
                edit = delete_key(svc, key)
                yield hit(node_loc(svc, node), f"service '{svc.name}' shares the host's {what} namespace (`{key}: host`)",
                          fix=Fix(f"delete `{key}: host`", (edit,), "unsafe") if edit else None,
                          snippet_key=f"{svc.name}:{key}")


def is_root_user(value: str) -> bool:
    user = value.strip().strip("'\"")
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0")


@rule("APP008", "root-user-override", "medium", files="compose", refs="CWE-250; CIS 4.1", fix="manual")
def root_user_override(stack):
    """Compose forces a container to run as root.

    ## What it does
    Flags `user: root`, `user: "0"`, `user: "0:0"` and `user: "root:<group>"`.

    ## Why is this bad?
    It overrides the image's own non-root `USER`: the process runs as uid 0, so an exploit in it
    owns every file of the container and keeps every capability the container has.

    ## Example
    ```yaml
    prometheus:
      image: prom/prometheus:v2.53.0
      user: root
    ```

    ## Use instead
    Remove the key (the image's user applies) or name an unprivileged uid, and fix the volume's
    ownership instead (`chown 65534:65534` for Prometheus' data directory).

    ## Fix safety
    Manual: the reason for `root` is usually a volume permission problem that must be fixed first.

    ## References
    CWE-250; CIS Docker Benchmark 4.1.
    """
    for svc in stack.services:
        node = svc.get("user")
        if isinstance(node, YScalar) and node.value is not None and is_root_user(str(node)):
            yield hit(node_loc(svc, node), f"service '{svc.name}' runs as root (`user: {node}`), overriding the image's user",
                      snippet_key=f"{svc.name}:user")


READ_ONLY_ROLES = ("gateway", "app", "prometheus", "certbot")


@rule("APP009", "writable-root-fs", "low", files="compose", refs="CIS 5.13; sg writable-filesystem-service", fix="unsafe")
def writable_root_fs(stack):
    """A stateless container can write to its own filesystem.

    ## What it does
    Flags gateway, application, prometheus and certbot services without `read_only: true` (the
    services whose state lives in volumes; databases are not flagged).

    ## Why is this bad?
    An attacker with code execution in a writable container drops tools, web shells and persistence
    into the image layer; a read-only root filesystem makes the container's files immutable and every
    writable place (volumes, `tmpfs`) explicit.

    ## Example
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
    ```

    ## Use instead
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
      read_only: true
      tmpfs:
        - /tmp
    ```
    nginx also needs `/var/cache/nginx` and `/var/run` as `tmpfs`.

    ## Fix safety
    Unsafe: a process writing outside its volumes and `/tmp` (pid files, caches) fails until the
    path gets a `tmpfs` or a volume.

    ## References
    CIS Docker Benchmark 5.13; semgrep writable-filesystem-service.
    """
    for svc in stack.services:
        if svc.role not in READ_ONLY_ROLES:
            continue
        node = svc.get("read_only")
        if truthy(node):
            continue
        if isinstance(node, YScalar) and in_service(svc, node):
            edit = replace_scalar(svc.doc, node, "true")
            yield hit(yloc(svc.doc.path, node), f"service '{svc.name}' ({svc.role}) sets read_only: {node}: its root filesystem is writable",
                      fix=Fix("set `read_only: true`", (edit,), "unsafe") if edit else None,
                      snippet_key=f"{svc.name}:read_only")
            continue
        lines = ["read_only: true"]
        if svc.get("tmpfs") is None:
            lines += ["tmpfs:", "  - /tmp"]
            if svc.role == "gateway" and "nginx" in (svc.image or "nginx"):
                lines += ["  - /var/cache/nginx", "  - /var/run"]
        edit = insert_in_service(svc, lines) if node is None else None
        yield hit(svc_loc(svc), f"service '{svc.name}' ({svc.role}) has a writable root filesystem (no `read_only: true`)",
                  fix=Fix("add `read_only: true` and a tmpfs for /tmp", (edit,), "unsafe") if edit else None,
                  snippet_key=f"{svc.name}:read_only")


@rule("APP010", "cgroup-parent-set", "low", files="compose", refs="CIS 5.25; KICS cgroup_not_default", fix="manual")
def cgroup_parent_set(stack):
    """A container is placed in a custom cgroup.

    ## What it does
    Flags `cgroup_parent`.

    ## Why is this bad?
    The container leaves Docker's own cgroup hierarchy: the limits and accounting Docker applies
    (memory, CPU, pids) may no longer hold, and a parent cgroup shared with host services lets the
    container starve them.

    ## Example
    ```yaml
    worker:
      cgroup_parent: nat-docker
    ```

    ## Use instead
    Remove the key and set limits with `deploy.resources.limits`.

    ## Fix safety
    Manual.

    ## References
    CIS Docker Benchmark 5.25; KICS cgroup_not_default.
    """
    for svc in stack.services:
        node = svc.get("cgroup_parent")
        if isinstance(node, YScalar) and node.value not in (None, ""):
            yield hit(node_loc(svc, node), f"service '{svc.name}' runs in a custom cgroup parent `{node}`",
                      snippet_key=f"{svc.name}:cgroup_parent")


def mount_source_key(svc, m) -> str | None:
    """A comparable identity for a mount's source: ``volume:<name>`` or ``bind:<normalised path>``."""
    if not m.source or "$" in m.source:
        return None  # an unresolved variable: unknown
    if m.type == "volume":
        return f"volume:{m.source}"
    if m.type == "bind":
        src = m.source
        if src.startswith("/"):
            return "bind:" + posixpath.normpath(src)
        if src.startswith("~"):
            return "bind:" + src.rstrip("/")
        base = posixpath.dirname(svc.doc.path)
        return "bind:" + posixpath.normpath(posixpath.join(base, src))
    return None


def mount_loc(svc, m) -> Location:
    """Where a mount finding points: the short-syntax item, or the long syntax's ``source``."""
    node = m.node
    if isinstance(node, YMap) and isinstance(node.get("source"), YScalar):
        node = node.get("source")
    return node_loc(svc, node)


@rule("APP011", "shared-writable-volume", "info", files="compose", refs="KICS shared_volumes_between_containers", fix="manual")
def shared_writable_volume(stack):
    """Two containers write to the same volume.

    ## What it does
    Flags every read-write mount of a named volume or host path that at least two services of the
    same compose project mount read-write. Read-only consumers (nginx serving the static files
    the backend writes) are fine and not counted. `docker.sock` is PER021's.

    ## Why is this bad?
    A compromise of either container can plant files the other one trusts (templates, uploads,
    static assets served to users, config); two writers without coordination corrupt data.

    ## Example
    ```yaml
    backend: {volumes: ["./uploads:/app/uploads"]}
    worker:  {volumes: ["./uploads:/data/uploads"]}
    ```

    ## Use instead
    Mount it read-only (`:ro`) in every service that only reads it.

    ## Fix safety
    Manual.

    ## References
    KICS shared_volumes_between_containers.
    """
    for doc in stack.compose_docs:
        by_source: dict[str, list] = {}
        for svc in doc.services.values():
            for m in svc.volumes:
                if m.read_only or m.type not in ("bind", "volume"):
                    continue
                if (m.source or "").endswith("docker.sock"):
                    continue
                key = mount_source_key(svc, m)
                if key is None:
                    continue
                by_source.setdefault(key, []).append((svc, m))
        for key, uses in by_source.items():
            names = sorted({svc.name for svc, _ in uses})
            if len(names) < 2:
                continue
            kind, _, source = key.partition(":")
            what = f"volume '{source}'" if kind == "volume" else f"host path '{source}'"
            for svc, m in uses:
                others = ", ".join(n for n in names if n != svc.name)
                yield hit(mount_loc(svc, m), f"{what} is mounted read-write by '{svc.name}' and also by {others}",
                          snippet_key=f"{svc.name}:{key}")


# ---------------------------------------------------------------------------------------------
# APP012: unpinned images
# ---------------------------------------------------------------------------------------------

DATA_ROLES = ("postgres", "redis", "minio", "nats")


def _unpinned(ref: str) -> str | None:
    """Why an image reference is unpinned ("no tag", "`:latest`"), or None."""
    ref = ref.strip()
    if not ref or ref.endswith(":") or "$" in ref:
        return None
    repo, tag, digest = image_parts(ref)
    if digest:
        return None
    if repo.lower() == "scratch":
        return None
    if tag is None:
        return "no tag (implicitly `:latest`)"
    if tag.lower() == "latest":
        return "the `:latest` tag"
    return None


@rule("APP012", "image-unpinned", "medium", files="compose/dockerfile",
      refs="CWE-1357; CIS 5.28; DL3006, DL3007; KICS image_version_not_explicit, image_version_using_latest; CKV_DOCKER_7",
      fix="manual")
def image_unpinned(stack):
    """An image is not pinned to a version.

    ## What it does
    Flags a compose `image:` and a Dockerfile `FROM` without a tag or with `:latest`, after
    `${VAR}`/`ARG` substitution. `scratch`, references to earlier build stages, digests
    (`@sha256:…`) and the `image:` of a service that has `build:` (it names the build's output) are
    not flagged; a `FROM ${BASE}` whose ARG has no default is unknown and not flagged.

    ## Why is this bad?
    `latest` is whatever the registry serves today: a redeploy silently moves to a new major version
    (PostgreSQL 16 → 17 refuses the old data directory), and two hosts run different code. The
    version also says which CVEs apply. For data services a digest pins the exact bytes.

    ## Example
    ```yaml
    minio:
      image: minio/minio:latest
    ```

    ## Use instead
    ```yaml
    minio:
      image: minio/minio:RELEASE.2024-06-13T22-53-53Z
    ```

    ## Fix safety
    Manual: choosing the version is a deployment decision.

    ## References
    CWE-1357; CIS Docker Benchmark 5.28; hadolint DL3006, DL3007; KICS image_version_not_explicit,
    image_version_using_latest; checkov CKV_DOCKER_7.
    """
    for svc in stack.services:
        if svc.build is not None:
            continue
        node = svc.get("image")
        if not isinstance(node, YScalar) or node.value is None or unknown_vars(node):
            continue
        why = _unpinned(str(node))
        if why is None:
            continue
        note = ""
        if svc.role in DATA_ROLES:
            note = "; for a data service pin a digest too (`@sha256:…`), a tag can be re-pushed"
        yield hit(node_loc(svc, node), f"service '{svc.name}' uses image `{node}` with {why}: deploys are not reproducible{note}",
                  snippet_key=f"{svc.name}:image")
    for doc in stack.dockerfiles:
        if not getattr(doc, "stages", None):
            continue
        args = global_args(doc)
        names: set[str] = set()
        for stage in doc.stages:
            ins = stage.from_instruction
            image = stage.image
            is_stage = image.lower() in names
            if stage.name:
                names.add(stage.name.lower())
            if is_stage:
                continue
            expanded = dockerfile_expand(image, args) if "$" in image else image
            if not expanded or expanded.lower() in names:
                continue
            why = _unpinned(expanded)
            if why is None:
                continue
            words = ins.words()
            offset = words[0][1] if words else None
            shown = f"`{image}`" + (f" (= `{expanded}`)" if expanded != image else "")
            yield hit(ins_loc(doc, ins, offset, len(image) if offset is not None else 0),
                      f"FROM {shown} has {why}: builds are not reproducible",
                      snippet_key=f"FROM {image}")


# ---------------------------------------------------------------------------------------------
# APP030-APP042: Dockerfiles
# ---------------------------------------------------------------------------------------------

PRIVILEGE_DROPPING_IMAGES = ("postgres", "redis", "valkey/valkey", "valkey")


def _user_exempt(stack, doc, builds: dict[int, list]) -> str | None:
    """Why APP030/APP031 do not apply to this Dockerfile (None: they do)."""
    stage = doc.final_stage
    if stage is None:
        return "no stage"
    base = root_image(doc, stage)
    if official_image(base, *PRIVILEGE_DROPPING_IMAGES):
        return "official image whose entrypoint drops privileges"
    svcs = builds.get(id(doc), [])
    if svcs:
        users = [svc.str("user") for svc in svcs]
        if all(u is not None and not is_root_user(u) and u.strip() for u in users):
            return "compose sets a non-root user"
    return None


_ROOTLESS_BASE_RE = LazyRe(r"(nonroot|rootless|unprivileged)", re.I)


@rule("APP030", "last-user-root", "medium", files="dockerfile",
      refs="CWE-250; CIS 4.1; DL3002; KICS last_user_is_root; CKV_DOCKER_8", fix="manual")
def last_user_root(stack):
    """The image's final user is root.

    ## What it does
    Flags the last `USER` of the final stage (or of the stage it is built `FROM`) when it is
    `root` or `0`. Silent when every compose service built from the Dockerfile sets a non-root
    `user:`, and for the official postgres, redis and valkey images, whose entrypoint drops to an
    unprivileged user itself.

    ## Why is this bad?
    The container's main process runs as uid 0: an exploit in it can modify every file of the
    image, use every capability the container has, and is one kernel bug away from the host.

    ## Example
    ```dockerfile
    FROM alpine:3.20
    USER root
    RUN apk add --no-cache curl
    ```

    ## Use instead
    ```dockerfile
    FROM alpine:3.20
    RUN apk add --no-cache curl && adduser -S -u 10001 app
    USER app
    ```

    ## Fix safety
    Manual: files the process writes must belong to the new user first.

    ## References
    CWE-250; CIS Docker Benchmark 4.1; hadolint DL3002; KICS last_user_is_root; checkov CKV_DOCKER_8.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        stage = getattr(doc, "final_stage", None)
        if stage is None or _user_exempt(stack, doc, builds):
            continue
        ins = last_instruction(doc, stage, "USER")
        if ins is None or not is_root_user(ins.args.split()[0] if ins.args.split() else ""):
            continue
        yield hit(ins_loc(doc, ins), f"the final stage runs as `{ins.args.strip()}`: the container's process is root",
                  snippet_key=f"USER {ins.args.strip()}")


@rule("APP031", "missing-user", "medium", files="dockerfile",
      refs="CWE-250; KICS missing_user_instruction; CKV_DOCKER_3; sg missing-user", fix="unsafe")
def missing_user(stack):
    """The image never switches away from root.

    ## What it does
    Flags a Dockerfile whose final stage (and the stages it is built `FROM`) has no `USER`, at the
    final `FROM`. Same exemptions as APP030 (a compose non-root `user:`, official postgres/redis/
    valkey images), and base images that already run unprivileged (tags or names with `nonroot`,
    `rootless`, `unprivileged`; Bitnami images). `FROM scratch` is flagged: its process is uid 0.

    ## Why is this bad?
    Without `USER`, the process runs as root in the container (uid 0, Docker's default
    capabilities): any remote code execution becomes root, one kernel bug from the host.

    ## Example
    ```dockerfile
    FROM python:3.12-slim
    COPY app /app
    CMD ["python", "/app/main.py"]
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12-slim
    RUN useradd --uid 10001 --no-create-home app
    COPY app /app
    USER 10001:10001
    CMD ["python", "/app/main.py"]
    ```

    ## Fix safety
    Unsafe: the fix appends `USER 10001:10001`; a process that writes to root-owned paths, or binds
    a port below 1024, fails until ownership is fixed.

    ## References
    CWE-250; KICS missing_user_instruction; checkov CKV_DOCKER_3; semgrep missing-user.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        stage = getattr(doc, "final_stage", None)
        if stage is None or _user_exempt(stack, doc, builds):
            continue
        if last_instruction(doc, stage, "USER") is not None:
            continue
        base = root_image(doc, stage)
        if _ROOTLESS_BASE_RE.search(base) or image_parts(base)[0].lower().startswith(("bitnami/", "docker.io/bitnami/")):
            continue
        fix = None
        last = stage.instructions[-1]
        lines = doc.lines
        if last.end_line <= len(lines):
            if last.end_line == len(lines) and not doc.text.endswith("\n"):
                loc = Location(doc.path, last.end_line, len(lines[-1]) + 1)
                text = "\nUSER 10001:10001"
            else:
                loc = Location(doc.path, last.end_line + 1, 1)
                text = "USER 10001:10001\n"
            fix = Fix("append `USER 10001:10001` to the final stage", (Edit(loc, text),), "unsafe")
        fin = stage.from_instruction
        yield hit(ins_loc(doc, fin), f"the final stage (FROM {stage.image}) never sets USER: the container runs as root",
                  fix=fix, snippet_key=f"FROM {stage.image}")


_SECRET_FILE_RE = re.compile(r"(^|/)(\.env(\.[^/]*)?|[^/]*\.pem|[^/]*\.key|id_(rsa|dsa|ecdsa|ed25519)|[^/]*\.p12|[^/]*\.pfx)$", re.I)
_TEMPLATE_RE = LazyRe(r"\.(example|sample|template|tpl|dist|defaults?)$|(^|[._-])(example|sample)([._-]|$)", re.I)


def secret_file_name(path: str) -> bool:
    """A dotenv or private-key file name (templates such as ``.env.example`` are not)."""
    p = path.rstrip("/")
    return bool(_SECRET_FILE_RE.search(p)) and not _TEMPLATE_RE.search(posixpath.basename(p))


def _provider_token(value: str):
    """DATA009's provider-token match for a value (``scanner.secretcheck``, owned by the DATA rules):
    the provider's name, or None; None too when that module is absent."""
    try:
        from scanner.secretcheck import provider_token
    except ImportError:
        return None
    try:
        return provider_token(value)
    except Exception:  # noqa: BLE001
        return None


def copy_sources(ins) -> list[tuple[str, int | None]]:
    """(source, offset in args) of a COPY/ADD (the destination excluded)."""
    if ins.json is not None:
        return [(s, None) for s in ins.json[:-1]]
    words = ins.words()
    if ins.heredocs:
        words = [w for w in words if not w[0].startswith("<<")]
    return words[:-1]


@rule("APP032", "secret-in-image", "high", files="dockerfile",
      refs="CWE-798; CIS 4.10; DL3064; sg secret-in-build-arg", fix="manual")
def secret_in_image(stack):
    """A secret is baked into the image.

    ## What it does
    Flags an `ENV` or `ARG` whose name is secret-class (password, secret, token, API key...) and
    whose value is a literal (not a `$VAR` reference or an absolute path), an `ENV`/`ARG` holding a
    URL with a password, and a `COPY`/`ADD` of a `.env*` file, `*.pem`, `*.key` or an SSH private
    key (`id_rsa`...). A value that looks like a provider token is DATA009's finding instead.

    ## Why is this bad?
    Every layer is readable by whoever can pull the image: `docker history` shows `ENV`/`ARG`
    values and `docker save` extracts copied files, even when a later layer deletes them. Registries,
    CI caches and laptops all keep copies.

    ## Example
    ```dockerfile
    ENV JWT_SECRET=change-me-in-production
    COPY .env /app/.env
    ```

    ## Use instead
    Pass secrets at run time (compose `environment:`/`secrets:`), and at build time mount them:
    `RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci`.

    ## Fix safety
    Manual (`RUN --mount=type=secret`); rotate the secret, it is in the image history already.

    ## References
    CWE-798; CIS Docker Benchmark 4.10; hadolint DL3064; semgrep secret-in-build-arg.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd in ("ENV", "ARG"):
                for key, value, line, col in ins.env_pairs():
                    v = value.strip()
                    if not v or is_reference(v) or "${" in v:
                        continue
                    secret_name = is_secret_key(key)
                    if not secret_name and not url_password(v):
                        continue
                    if _provider_token(v):
                        continue
                    why = "a secret-class name" if secret_name else "a URL with a password"
                    yield hit(Location(doc.path, line, col, line, col + len(key)),
                              f"{ins.cmd} {key} ({why}) has a literal value: it stays in the image history for anyone who pulls it",
                              snippet_key=f"{ins.cmd} {key}")
            elif ins.cmd in ("COPY", "ADD") and "from" not in ins.flags:
                for src, offset in copy_sources(ins):
                    if secret_file_name(src) and not src.startswith(("http://", "https://")):
                        yield hit(ins_loc(doc, ins, offset, len(src) if offset is not None else 0),
                                  f"{ins.cmd} copies `{src}` into the image: the file is extractable from its layer even if deleted later",
                                  snippet_key=f"{ins.cmd} {src}")


@rule("APP033", "secret-build-arg", "medium", files="dockerfile/compose", refs="CWE-538; DL3064", fix="manual")
def secret_build_arg(stack):
    """A secret is passed as a build argument.

    ## What it does
    Flags an `ARG` with a secret-class name and no literal value (its value comes from
    `--build-arg`), and a secret-class key in a compose service's `build.args`.

    ## Why is this bad?
    Build arguments are recorded in the image: `docker history --no-trunc` prints the value of every
    `ARG` used by a `RUN`, and BuildKit's provenance attestations keep them too.

    ## Example
    ```dockerfile
    ARG NPM_TOKEN
    RUN echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc && npm ci
    ```

    ## Use instead
    ```dockerfile
    RUN --mount=type=secret,id=npm_token \\
        NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci
    ```
    with `build: {secrets: [npm_token]}` in compose.

    ## Fix safety
    Manual.

    ## References
    CWE-538; hadolint DL3064.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd != "ARG":
                continue
            for key, value, line, col in ins.env_pairs():
                v = value.strip()
                if not is_secret_key(key):
                    continue
                if v and not (is_reference(v) or "${" in v):
                    continue  # a literal: APP032
                yield hit(Location(doc.path, line, col, line, col + len(key)),
                          f"ARG {key} carries a secret at build time: build arguments are kept in the image history",
                          snippet_key=f"ARG {key}")
    for svc in stack.services:
        build = svc.build
        if not isinstance(build, YMap):
            continue
        args = build.get("args")
        if isinstance(args, YMap):
            for k, v in args.pairs():
                if is_secret_key(str(k.raw)):
                    yield hit(node_loc(svc, k), f"service '{svc.name}' passes {k.raw} as a build argument: it is kept in the image history",
                              snippet_key=f"{svc.name}:build.args:{k.raw}")
        elif isinstance(args, YSeq):
            for item in args:
                if isinstance(item, YScalar) and item.value is not None:
                    key = str(item).split("=", 1)[0].strip()
                    if is_secret_key(key):
                        yield hit(node_loc(svc, item), f"service '{svc.name}' passes {key} as a build argument: it is kept in the image history",
                                  snippet_key=f"{svc.name}:build.args:{key}")


@rule("APP035", "add-remote-url", "medium", files="dockerfile", refs="CWE-494; KICS curl_or_wget_instead_of_add", fix="manual")
def add_remote_url(stack):
    """A remote file is added to the image without a checksum.

    ## What it does
    Flags `ADD http://…`/`ADD https://…` without `--checksum=sha256:…`. (`ADD` of a git URL is
    not flagged.)

    ## Why is this bad?
    Whatever the server returns today goes into the image: a compromised or hijacked download
    location (or a MITM on `http://`) ships its payload in your build, and the build is not
    reproducible.

    ## Example
    ```dockerfile
    ADD https://example.com/tool.tar.gz /opt/
    ```

    ## Use instead
    ```dockerfile
    ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d \\
        https://example.com/tool.tar.gz /opt/
    ```
    or `RUN curl -fsSLo … && echo "<sha256>  file" | sha256sum -c`.

    ## Fix safety
    Manual: the checksum must come from the publisher.

    ## References
    CWE-494; KICS curl_or_wget_instead_of_add.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd != "ADD" or "checksum" in ins.flags:
                continue
            for src, offset in copy_sources(ins):
                low = src.lower()
                if low.startswith(("http://", "https://")) and not low.endswith(".git") and "#" not in low:
                    yield hit(ins_loc(doc, ins, offset, len(src) if offset is not None else 0),
                              f"ADD downloads `{src}` without --checksum: its content is not verified",
                              snippet_key=f"ADD {src}")


_SHELL_SYNTAX = re.compile(r"[$&|;<>*?`()'\"\\{}\[\]~#]|\s-\s")


@rule("APP037", "shell-form-entrypoint", "low", files="dockerfile",
      refs="DL3025; KICS not_using_json_in_cmd_and_entrypoint_arguments", fix="safe")
def shell_form_entrypoint(stack):
    """The container's command runs under `/bin/sh -c`.

    ## What it does
    Flags a shell-form `CMD` or `ENTRYPOINT` in the final stage (the command the container runs).
    `CMD exec …` (the shell replaces itself) is not flagged; earlier build stages are not flagged.

    ## Why is this bad?
    The shell is PID 1 and does not forward `SIGTERM`: on `docker stop` the application never
    hears the signal, cannot finish its requests and close its connections, and is killed after the
    grace period. A shell-form `ENTRYPOINT` also ignores `CMD` and compose `command:`.

    ## Example
    ```dockerfile
    CMD /app/server --port 8080
    ```

    ## Use instead
    ```dockerfile
    CMD ["/app/server", "--port", "8080"]
    ```

    ## Fix safety
    Safe when the command has no shell syntax (variables, pipes, `&&`, globs, quotes): it is then
    rewritten word for word as a JSON array. Otherwise no fix is offered.

    ## References
    hadolint DL3025; KICS not_using_json_in_cmd_and_entrypoint_arguments.
    """
    import json

    for doc in stack.dockerfiles:
        stage = getattr(doc, "final_stage", None)
        if stage is None:
            continue
        for ins in stage.instructions[1:]:
            if ins.cmd not in ("CMD", "ENTRYPOINT") or ins.json is not None:
                continue
            args = ins.args.strip()
            if not args or args.split()[0] == "exec":
                continue
            fix = None
            if not _SHELL_SYNTAX.search(args) and ins.line == ins.end_line:
                start_line, start_col = ins.arg_pos(0)
                end_line, end_col = ins.arg_pos(len(ins.args) - 1)
                if start_line == end_line == ins.line:
                    fix = Fix(f"rewrite {ins.cmd} in exec (JSON) form",
                              (Edit(Location(doc.path, start_line, start_col, end_line, end_col + 1), json.dumps(args.split())),))
            yield hit(ins_loc(doc, ins), f"{ins.cmd} in shell form: /bin/sh is PID 1 and does not forward SIGTERM to the application",
                      fix=fix, snippet_key=f"{ins.cmd} {args[:60]}")


def _run_commands(ins):
    """(simple command words, offset of the script in args or None) for each RUN script."""
    for script, base in run_scripts(ins):
        for cmd in shell_commands(script):
            yield cmd, base


def _loc_word(doc, ins, base: int | None, word_offset: int, word: str) -> Location:
    if base is None:
        return ins_loc(doc, ins)
    return ins_loc(doc, ins, base + word_offset, len(word))


@rule("APP039", "sudo-in-run", "medium", files="dockerfile", refs="CWE-250; DL3004; KICS run_using_sudo; CKV2_DOCKER_1", fix="manual")
def sudo_in_run(stack):
    """A build step runs `sudo`.

    ## What it does
    Flags `sudo` used as a command in a `RUN` (installing the `sudo` package is not flagged).

    ## Why is this bad?
    Build steps already run as the current `USER`; `sudo` in a Dockerfile means `sudo` is installed
    and configured in the image, which then lets the runtime user become root (often without a
    password), undoing `USER`. Its TTY and environment handling also make builds unpredictable.

    ## Example
    ```dockerfile
    USER app
    RUN sudo apt-get update
    ```

    ## Use instead
    Run the privileged step before `USER app` (as root), then switch; remove `sudo` from the image.

    ## Fix safety
    Manual.

    ## References
    CWE-250; hadolint DL3004; KICS run_using_sudo; checkov CKV2_DOCKER_1.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd != "RUN":
                continue
            for cmd, base in _run_commands(ins):
                idx, name = command_name(cmd)
                if name == "sudo":
                    w, off = cmd[idx]
                    yield hit(_loc_word(doc, ins, base, off, w), "RUN uses sudo: sudo in the image lets its user become root",
                              snippet_key=f"RUN sudo:{ins.args[:60]}")
                    break


_TLS_ENV = {
    "PYTHONHTTPSVERIFY": ("0",),
    "NODE_TLS_REJECT_UNAUTHORIZED": ("0",),
    "GIT_SSL_NO_VERIFY": None,  # any non-empty value
    "PIP_TRUSTED_HOST": None,
    "CURL_INSECURE": None,
    "NPM_CONFIG_STRICT_SSL": ("false", "0"),
}


def _tls_disabled_in(cmd: list[tuple[str, int]]) -> tuple[str, int, str] | None:
    """(word, offset, what) when a simple command turns certificate verification off."""
    idx, name = command_name(cmd)
    for w, off in cmd[:idx]:
        key, _, val = w.partition("=")
        if key.upper() in _TLS_ENV:
            allowed = _TLS_ENV[key.upper()]
            if (allowed is None and val) or (allowed and val.strip().lower() in allowed):
                return w, off, f"{key}={val}"
    args = cmd[idx + 1:]
    words = [w for w, _ in args]
    if name == "curl":
        for w, off in args:
            if w == "--insecure" or (re.fullmatch(r"-[A-Za-z]+", w) and "k" in w[1:]):
                return w, off, "curl -k/--insecure"
    if name == "wget":
        for w, off in args:
            if w == "--no-check-certificate":
                return w, off, "wget --no-check-certificate"
    if name in ("pip", "pip3", "python", "python3", "uv", "pipenv", "poetry"):
        for w, off in args:
            if w == "--trusted-host" or w.startswith("--trusted-host="):
                return w, off, "pip --trusted-host"
    if name in ("npm", "yarn", "pnpm"):
        low = [w.lower() for w in words]
        for i, w in enumerate(low):
            if w in ("strict-ssl", "strict-ssl=false") and (w.endswith("=false") or (i + 1 < len(low) and low[i + 1] in ("false", "0"))):
                return args[i][0], args[i][1], "npm strict-ssl false"
            if w in ("--strict-ssl=false", "--no-strict-ssl"):
                return args[i][0], args[i][1], "npm strict-ssl false"
    if name == "git":
        low = [w.lower() for w in words]
        for i, w in enumerate(low):
            if w in ("http.sslverify", "http.sslverify=false") and (w.endswith("=false") or (i + 1 < len(low) and low[i + 1] in ("false", "0"))):
                return args[i][0], args[i][1], "git http.sslVerify false"
            if w.startswith("http.sslverify=false") or w == "-c" and i + 1 < len(low) and low[i + 1] == "http.sslverify=false":
                return args[i][0], args[i][1], "git http.sslVerify false"
    for w, off in args:
        lw = w.lower()
        if re.search(r"(^|[\s;])sslverify\s*=\s*(0|false|no)\b", lw):
            return w, off, "sslverify=0"
        if re.search(r"(pythonhttpsverify=0|node_tls_reject_unauthorized=0|git_ssl_no_verify=(1|true))", lw):
            return w, off, w.split("=", 1)[0] + "=…"
    return None


@rule("APP040", "tls-verify-disabled-in-build", "high", files="dockerfile", refs="CWE-295; CKV2_DOCKER_2–6, 12–16", fix="manual")
def tls_verify_disabled_in_build(stack):
    """A build step downloads without verifying TLS certificates.

    ## What it does
    Flags `curl -k`/`--insecure`, `wget --no-check-certificate`, `pip --trusted-host`,
    `PIP_TRUSTED_HOST`, `PYTHONHTTPSVERIFY=0`, `NODE_TLS_REJECT_UNAUTHORIZED=0`, npm
    `strict-ssl false`, `GIT_SSL_NO_VERIFY`, git `http.sslVerify false` and `sslverify=0` in
    `RUN`, `ENV` and `ARG`.

    ## Why is this bad?
    Anyone on the network path (a compromised CI runner network, a hostile Wi-Fi, a DNS hijack) can
    serve their own packages or scripts, which then run in your build and ship in your image.
    An `ENV` also keeps verification off at run time.

    ## Example
    ```dockerfile
    RUN curl -k https://example.com/install.sh | sh
    ENV NODE_TLS_REJECT_UNAUTHORIZED=0
    ```

    ## Use instead
    Add the missing CA certificate (`COPY corp-ca.crt /usr/local/share/ca-certificates/` and
    `update-ca-certificates`) and keep verification on.

    ## Fix safety
    Manual: the download fails until the CA problem it hid is fixed.

    ## References
    CWE-295; checkov CKV2_DOCKER_2–6, CKV2_DOCKER_12–16.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd in ("ENV", "ARG"):
                for key, value, line, col in ins.env_pairs():
                    allowed = _TLS_ENV.get(key.upper(), False)
                    if allowed is False:
                        continue
                    v = value.strip().lower()
                    if (allowed is None and v and v not in ("0", "false", "no")) or (allowed and v in allowed):
                        yield hit(Location(doc.path, line, col, line, col + len(key)),
                                  f"{ins.cmd} {key}={value} turns TLS certificate verification off",
                                  snippet_key=f"{ins.cmd} {key}")
                continue
            if ins.cmd != "RUN":
                continue
            for cmd, base in _run_commands(ins):
                found = _tls_disabled_in(cmd)
                if found:
                    w, off, what = found
                    yield hit(_loc_word(doc, ins, base, off, w), f"RUN disables TLS certificate verification ({what})",
                              snippet_key=f"RUN {what}")


_UNSIGNED_FLAGS = {
    "--allow-untrusted": "apk --allow-untrusted",
    "--allow-unauthenticated": "apt --allow-unauthenticated",
    "--force-yes": "apt --force-yes",
    "--nogpgcheck": "--nogpgcheck",
    "--no-gpg-check": "zypper --no-gpg-check",
    "--nosignature": "rpm --nosignature",
    "--nodigest": "rpm --nodigest",
    "--noverify": "rpm --noverify",
}


@rule("APP041", "unsigned-packages-allowed", "high", files="dockerfile", refs="CWE-494; CKV2_DOCKER_7–11", fix="safe")
def unsigned_packages_allowed(stack):
    """A package manager installs packages without checking their signatures.

    ## What it does
    Flags `--allow-untrusted` (apk), `--allow-unauthenticated` and `--force-yes` (apt),
    `--nogpgcheck` (yum, dnf), `--no-gpg-check` (zypper), `rpm --nosignature`/`--nodigest`/
    `--noverify`, and `APT::Get::AllowUnauthenticated=true` in `RUN`.

    ## Why is this bad?
    Package signatures are what make a mirror or proxy unable to substitute packages. Without them
    a compromised mirror, cache or network path installs arbitrary code as root in the image.

    ## Example
    ```dockerfile
    RUN apk add --allow-untrusted /tmp/pkg.apk
    ```

    ## Use instead
    Import the repository's signing key (`/etc/apk/keys/`, `apt-key`/`signed-by=`, `rpm --import`)
    and drop the flag.

    ## Fix safety
    Safe: the flag is deleted; an install that only worked unsigned then fails loudly instead of
    silently trusting the package.

    ## References
    CWE-494; checkov CKV2_DOCKER_7–11.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd != "RUN":
                continue
            for cmd, base in _run_commands(ins):
                _idx, name = command_name(cmd)
                for w, off in cmd:
                    what = _UNSIGNED_FLAGS.get(w)
                    if what is None and "allowunauthenticated=true" in w.lower().replace(" ", ""):
                        what = "APT::Get::AllowUnauthenticated=true"
                    if what is None:
                        continue
                    if w in ("--nosignature", "--nodigest", "--noverify") and name != "rpm":
                        continue
                    fix = None
                    if base is not None and w in _UNSIGNED_FLAGS:
                        start = base + off
                        if ins.args[start:start + len(w)] == w and start > 0 and ins.args[start - 1] == " ":
                            a_line, a_col = ins.arg_pos(start - 1)
                            e_line, e_col = ins.arg_pos(start + len(w) - 1)
                            s_line, s_col = ins.arg_pos(start)
                            if a_line == e_line == s_line and a_col == s_col - 1:
                                fix = Fix(f"delete `{w}`", (Edit(Location(doc.path, a_line, a_col, e_line, e_col + 1), ""),))
                    yield hit(_loc_word(doc, ins, base, off, w), f"RUN installs packages without signature checks ({what})",
                              fix=fix, snippet_key=f"RUN {what}")


# ---------------------------------------------------------------------------------------------
# APP042: the build context leaks secrets
# ---------------------------------------------------------------------------------------------

_CONTEXT_SKIP = {".git", "node_modules", "target", "__pycache__", ".venv", "venv", ".tox", "dist", "build", ".mypy_cache"}
_MAX_CONTEXT_ENTRIES = 5000


def _dockerignore(root: str) -> list[tuple[bool, re.Pattern]]:
    """(negated, regex) of each ``.dockerignore`` pattern (Go filepath.Match plus ``**``)."""
    path = os.path.join(root, ".dockerignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        if neg:
            s = s[1:].strip()
        s = posixpath.normpath(s.lstrip("/")) if s.strip("/") else s
        if s in (".", ""):
            s = "*"
        rx = ""
        i = 0
        while i < len(s):
            if s.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
                continue
            if s.startswith("**", i):
                rx += ".*"
                i += 2
                continue
            c = s[i]
            if c == "*":
                rx += "[^/]*"
            elif c == "?":
                rx += "[^/]"
            elif c == "[":
                j = s.find("]", i)
                if j < 0:
                    rx += re.escape(c)
                else:
                    rx += s[i:j + 1].replace("[!", "[^")
                    i = j
            else:
                rx += re.escape(c)
            i += 1
        try:
            out.append((neg, re.compile(f"^{rx}(/.*)?$")))
        except re.error:
            continue
    return out


def _ignored(rel: str, patterns: list[tuple[bool, re.Pattern]]) -> bool:
    result = False
    for neg, rx in patterns:
        if rx.match(rel):
            result = not neg
    return result


def _context_secrets(stack, ctx_rel: str) -> list[str]:
    """Dotenv/key files in the build context that ``.dockerignore`` does not exclude (relative to it)."""
    root = os.path.join(str(stack.root), ctx_rel)
    if not os.path.isdir(root):
        return []
    patterns = _dockerignore(root)
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if d not in _CONTEXT_SKIP and not _ignored(rel_dir + d, patterns))
        for name in sorted(filenames):
            seen += 1
            if seen > _MAX_CONTEXT_ENTRIES:
                return found
            rel = rel_dir + name
            if secret_file_name(rel) and not _ignored(rel, patterns):
                found.append(rel)
    return found


_IGNORE_PATTERNS = (".git", "**/.env*", "!**/.env.example", "**/*.pem", "**/*.key", "**/id_rsa*", "**/id_ed25519*")


def _copies_context(ins) -> bool:
    if ins.cmd not in ("COPY", "ADD") or "from" in ins.flags:
        return False
    return any(src in (".", "./", "*", "./*", ".//") for src, _ in copy_sources(ins))


@rule("APP042", "build-context-leaks-secrets", "high", files="dockerfile+env", refs="CWE-538; CIS 4.10", fix="safe")
def build_context_leaks_secrets(stack):
    """`COPY . .` puts the build context's secret files into the image.

    ## What it does
    Flags a `COPY .`/`ADD .` in the final stage — or in a stage whose whole `WORKDIR` the final stage
    copies with `COPY --from` — when the build context (compose `build.context`, else the Dockerfile's
    directory) holds a dotenv file (`.env`, `.env.prod`...) or a key file (`*.pem`, `*.key`,
    `id_rsa`) that `.dockerignore` does not exclude. Templates (`.env.example`) do not count.

    ## Why is this bad?
    The file is in a layer of the image: anyone who can pull it runs `docker save` and reads the
    production secrets, whatever the application does with the file.

    ## Example
    ```dockerfile
    FROM node:20-alpine
    WORKDIR /app
    COPY . .
    ```
    with `.env.prod` next to the Dockerfile and no `.dockerignore`.

    ## Use instead
    A `.dockerignore` beside the context:
    ```
    .env*
    .git
    *.pem
    *.key
    ```

    ## Fix safety
    Safe: the fix creates or extends `.dockerignore`; a build that really needs one of these files
    must say so with a `!` exception.

    ## References
    CWE-538; CIS Docker Benchmark 4.10.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        stage = getattr(doc, "final_stage", None)
        if stage is None:
            continue
        svcs = builds.get(id(doc), [])
        contexts = []
        for svc in svcs:
            ctx = svc.build_context
            if ctx is None or "://" in ctx or ctx.startswith(("git@", "$")):
                continue
            contexts.append(posixpath.normpath(posixpath.join(posixpath.dirname(svc.doc.path), ctx)))
        if not svcs:
            contexts.append(posixpath.dirname(doc.path) or ".")
        copying = [i for i in stage.instructions if _copies_context(i)]
        # a stage whose whole WORKDIR the final stage copies
        for ins in stage.instructions:
            src_stage_name = ins.flags.get("from") if ins.cmd == "COPY" else None
            if not src_stage_name:
                continue
            src = doc.stage(src_stage_name)
            if src is None or src.index >= stage.index:
                continue
            workdir = last_instruction(doc, src, "WORKDIR")
            wd = posixpath.normpath(workdir.args.strip()) if workdir is not None else "/"
            sources = [posixpath.normpath(s) for s, _ in copy_sources(ins)]
            if wd in sources or "/" in sources:
                copying.extend(i for s in stage_chain(doc, src) for i in s.instructions if _copies_context(i))
        if not copying:
            continue
        for ctx in dict.fromkeys(contexts):
            leaked = _context_secrets(stack, ctx)
            if not leaked:
                continue
            ins = copying[0]
            shown = ", ".join(leaked[:3]) + (f" and {len(leaked) - 3} more" if len(leaked) > 3 else "")
            ctx_shown = ctx if ctx != "." else "the stack root"
            ignore_rel = posixpath.normpath(posixpath.join(ctx, ".dockerignore"))
            ignore_path = os.path.join(str(stack.root), ignore_rel)
            existing = ""
            try:
                with open(ignore_path, encoding="utf-8", errors="replace") as fh:
                    existing = fh.read()
            except OSError:
                existing = None
            fix = None
            if existing is None:
                fix = Fix("create .dockerignore excluding secrets", (Edit(Location(ignore_rel, 1, 1), "".join(p + "\n" for p in _IGNORE_PATTERNS)),))
            else:
                lines = existing.splitlines()
                add = [p for p in _IGNORE_PATTERNS if p not in [x.strip() for x in lines]]
                if add:
                    if existing and not existing.endswith("\n"):
                        loc = Location(ignore_rel, len(lines), len(lines[-1]) + 1)
                        text = "\n" + "\n".join(add) + "\n"
                    else:
                        loc = Location(ignore_rel, len(lines) + 1, 1)
                        text = "\n".join(add) + "\n"
                    fix = Fix("add secret patterns to .dockerignore", (Edit(loc, text),))
            related = [Location(posixpath.normpath(posixpath.join(ctx, f)), 1, 1) for f in leaked[:5]]
            yield hit(ins_loc(doc, ins), f"{ins.cmd} copies the build context ({ctx_shown}) into the image, and it holds {shown} "
                      f"not excluded by .dockerignore", fix=fix, related=related,
                      snippet_key=f"{ins.cmd} . {ctx}")


__all__ = [
    "alone_on_line", "child_indent", "command_name", "copy_sources", "delete_key", "delete_lines", "delete_seq_item",
    "dockerfile_expand", "global_args", "image_base", "image_parts", "in_service", "ins_loc", "insert_in_service",
    "insert_under_key", "is_root_user", "last_instruction", "mount_loc", "mount_source_key", "node_loc",
    "official_image", "replace_scalar", "root_image", "run_scripts", "scalar_text_span", "secret_file_name",
    "seq_items", "service_builds", "service_span", "shell_commands", "stage_chain", "truthy", "unknown_vars",
]


# ---------------------------------------------------------------------------------------------
# P2 Dockerfile hygiene: APP034, APP036, APP044, APP045 (hadolint's DL rules, cited in the catalog)
# ---------------------------------------------------------------------------------------------

_WRAPPERS = {"sudo", "env", "exec", "nohup", "time", "command", "nice", "ionice", "stdbuf", "doas"}
_SUDO_ARG_FLAGS = {"-u", "-g", "-C", "-h", "-p", "-r", "-t", "-U", "--user", "--group"}


class Cmd:
    """A simple command of a RUN: its program (after ``VAR=x`` assignments and wrappers such as
    ``sudo``/``env``) and its arguments, quotes removed."""

    __slots__ = ("name", "args", "text")

    def __init__(self, name: str, args: list[str], text: str):
        self.name = name
        self.args = args
        self.text = text

    def flags(self) -> set[str]:
        """Flag names: ``-qy`` gives q and y, ``--no-cache=x`` gives no-cache."""
        out: set[str] = set()
        for a in self.args:
            if a in ("-", "--") or not a.startswith("-"):
                continue
            if a.startswith("--"):
                out.add(a[2:].split("=", 1)[0].lower())
            else:
                body = a[1:].split("=", 1)[0]
                out.update(body)
        return out

    def has(self, *names: str) -> bool:
        fl = self.flags()
        return any(n in fl for n in names)

    def positional(self, with_value: tuple[str, ...] = ()) -> list[str]:
        """Arguments that are not flags, skipping the value of the flags in ``with_value``
        (``-t`` or ``--target-release`` given as ``t``, ``target-release``)."""
        out: list[str] = []
        skip = False
        for a in self.args:
            if skip:
                skip = False
                continue
            if a == "--":
                continue
            if a.startswith("-") and len(a) > 1:
                name = a[2:] if a.startswith("--") else a[1:]
                if "=" in name:
                    continue
                if (a.startswith("--") and name in with_value) or (not a.startswith("--") and name[-1:] in with_value and len(name) >= 1):
                    skip = True
                continue
            out.append(a)
        return out

    def subcommand(self) -> str:
        pos = self.positional()
        return pos[0].lower() if pos else ""


def _strip_wrappers(words: list[str]) -> list[str]:
    i = 0
    while i < len(words):
        w = words[i]
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
            i += 1
            continue
        base = posixpath.basename(w)
        if base in _WRAPPERS:
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in _SUDO_ARG_FLAGS and base in ("sudo", "doas") else 1
            continue
        break
    return words[i:]


def run_cmds(ins) -> list[Cmd]:
    """Every simple command of a RUN (shell form, exec form, ``sh -c`` scripts and heredocs)."""
    out: list[Cmd] = []
    if ins.json is not None:
        words = list(ins.json)
        if len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash", "ash", "dash", "zsh") and re.fullmatch(r"-[a-z]*c", words[1] or ""):
            scripts = [words[2]]
        else:
            words = _strip_wrappers(words)
            if words:
                out.append(Cmd(posixpath.basename(words[0]), words[1:], " ".join(words)))
            scripts = []
    else:
        scripts = [ins.args]
    scripts += list(ins.heredocs)
    for script in scripts:
        for cmd in shell_commands(script):
            words = _strip_wrappers([w for w, _o in cmd])
            if words:
                out.append(Cmd(posixpath.basename(words[0]), words[1:], " ".join(words)))
    return out


def _run_text(ins) -> str:
    if ins.json is not None:
        return " ".join(ins.json)
    return "\n".join([ins.args, *ins.heredocs])


def _pip_install(cmd: Cmd) -> bool:
    if re.fullmatch(r"pip(\d+(\.\d+)?)?", cmd.name):
        return cmd.subcommand() == "install"
    if re.fullmatch(r"python(\d+(\.\d+)?)?", cmd.name):
        a = cmd.args
        for i in range(len(a) - 2):
            if a[i] == "-m" and a[i + 1] in ("pip", "pip3") and "install" in a[i + 2:]:
                return True
    return False


def _pip_packages(cmd: Cmd) -> list[str] | None:
    """Packages a pip install names; None when it installs requirements, a constraint set or ``.``."""
    args = cmd.args
    if "-m" in args:
        args = args[args.index("-m") + 2:]
    sub = Cmd("pip", args, cmd.text)
    if sub.has("r", "requirement", "c", "constraint") or "." in sub.args:
        return None
    pos = sub.positional(("abi", "b", "build", "e", "editable", "extra-index-url", "f", "find-links", "i", "index-url",
                          "implementation", "no-binary", "only-binary", "platform", "prefix", "progress-bar", "proxy",
                          "python-version", "root", "src", "t", "target", "trusted-host", "upgrade-strategy", "cache-dir",
                          "log", "timeout", "retries", "cert", "client-cert", "exists-action", "C", "config-settings"))
    if "install" in pos:
        pos = pos[pos.index("install") + 1:]
    return pos


_PIP_PIN = LazyRe(r"(==|>=|<=|~=|!=|<|>|=)")
_VCS = ("git+", "hg+", "svn+", "bzr+", "git://")


def _pip_pinned(p: str) -> bool:
    if p.startswith(_VCS):
        return "@" in p.split("://", 1)[-1]
    return bool(_PIP_PIN.search(p)) or p.endswith((".whl", ".tar.gz", ".zip")) or "/" in p or p.startswith(("$", "."))


def _npm_packages(cmd: Cmd) -> list[str] | None:
    if cmd.name != "npm":
        return None
    pos = cmd.positional(("prefix", "registry", "cache", "userconfig", "tag", "workspace", "w", "C"))
    if not pos or pos[0] not in ("install", "i", "add", "isntall", "in"):
        return None
    return pos[1:]


def _npm_pinned(p: str) -> bool:
    if p.startswith(("git://", "git+ssh://", "git+http://", "git+https://", "github:")):
        return "#" in p
    if p.endswith((".tar", ".tar.gz", ".tgz")) or p.startswith(("/", "./", "../", "~/", "$", "file:")):
        return True
    name = p.split("/", 1)[1] if p.startswith("@") and "/" in p else p
    return "@" in name


def _rpm_pinned(p: str) -> bool:
    if p.endswith(".rpm") or p.startswith(("$", "/", "http://", "https://")):
        return True
    parts = p.split("-")
    return any(part[:1].isdigit() or part[:1] == "$" for part in parts[1:])


def unpinned_packages(cmd: Cmd) -> tuple[str, str, list[str]] | None:
    """(manager, hadolint code, unpinned packages) of a package-installing command, or None."""
    name, sub = cmd.name, cmd.subcommand()
    if name in ("apt-get", "apt") and sub == "install":
        pos = cmd.positional(("t", "target-release", "o", "option", "c", "config-file"))
        pkgs = pos[pos.index("install") + 1:] if "install" in pos else pos
        bad = [p for p in pkgs if not ("=" in p or "/" in p or p.endswith(".deb") or p.startswith("$"))]
        return (name, "DL3008", bad) if bad else None
    if name == "apk" and sub == "add":
        pos = cmd.positional(("t", "virtual", "X", "repository", "p", "root", "arch", "cache-dir", "keys-dir", "repositories-file"))
        pkgs = pos[pos.index("add") + 1:] if "add" in pos else pos
        bad = [p for p in pkgs if not ("=" in p or "~" in p or p.endswith(".apk") or p.startswith("$"))]
        return ("apk", "DL3018", bad) if bad else None
    if _pip_install(cmd):
        pkgs = _pip_packages(cmd)
        bad = [p for p in pkgs or [] if not _pip_pinned(p)]
        return ("pip", "DL3013", bad) if bad else None
    npm = _npm_packages(cmd)
    if npm is not None:
        bad = [p for p in npm if not _npm_pinned(p)]
        return ("npm", "DL3016", bad) if bad else None
    if name == "gem" and sub in ("install", "i"):
        pos = cmd.positional(("v", "version", "s", "source", "i", "install-dir", "n", "bindir", "platform", "P", "trust-policy"))
        gems = [g for g in pos[pos.index(sub) + 1:] if g != "--"] if sub in pos else []
        versioned = cmd.has("v", "version")
        bad = [g for k, g in enumerate(gems) if ":" not in g and not g.startswith("$") and not (versioned and k == 0)]
        return ("gem", "DL3028", bad) if bad else None
    if name in ("yum", "dnf", "microdnf") and sub == "install" and "module" not in cmd.args:
        pos = cmd.positional(("c", "config", "x", "exclude", "releasever", "installroot", "setopt", "enablerepo", "disablerepo"))
        pkgs = pos[pos.index("install") + 1:]
        bad = [p for p in pkgs if not _rpm_pinned(p) and not p.startswith("@")]
        return (name, "DL3033" if name == "yum" else "DL3041", bad) if bad else None
    if name == "zypper" and sub in ("install", "in"):
        pos = cmd.positional(("r", "repo", "t", "type", "from"))
        pkgs = pos[pos.index(sub) + 1:]
        bad = [p for p in pkgs if not (re.search(r"[=<>]", p) or p.endswith(".rpm") or p.startswith("$"))]
        return ("zypper", "DL3037", bad) if bad else None
    return None


@rule("APP036", "unpinned-packages", "low", files="dockerfile",
      refs="CWE-1357; KICS apt_get_install_pin_version_not_defined and siblings", fix="manual")
def unpinned_packages_rule(stack):
    """A build step installs packages without a version.

    ## What it does
    Flags a `RUN` that installs packages without pinning their version, with hadolint's rules:
    `apt-get install` without `pkg=version` (DL3008; the value of `-t` is a release, not a package),
    `apk add` without `pkg=version` (DL3018), `pip install` without a version specifier (DL3013;
    `-r requirements.txt`, `-c constraints.txt` and `.` are not flagged), `npm install` without
    `@version` (DL3016, also `npm i`/`npm add`), `gem install` without `:version` or `-v` (DL3028;
    `-v` pins one gem), `yum`/`dnf` install without `pkg-version` (DL3033, DL3041) and `zypper install`
    without `pkg=version` (DL3037). The finding points at the `RUN` and names the packages.

    ## Why is this bad?
    The same Dockerfile builds different images on different days: a dependency's new major
    version breaks the build or, worse, changes behaviour in production, and the image's CVE
    exposure cannot be read from the Dockerfile.

    ## Example
    ```dockerfile
    RUN apt-get update && apt-get install -y --no-install-recommends curl
    ```

    ## Use instead
    ```dockerfile
    RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u7
    ```
    (or pin the base image by digest and accept the distribution's point releases).

    ## Fix safety
    Manual: the versions must come from the repository the image uses.

    ## References
    CWE-1357; hadolint DL3008, DL3013, DL3016, DL3018, DL3028, DL3033, DL3037, DL3041; KICS
    apt_get_install_pin_version_not_defined, unpinned_package_version_in_apk_add,
    unpinned_package_version_in_pip_install, npm_install_without_pinned_version,
    gem_install_without_version, yum_install_without_version,
    missing_version_specification_in_dnf_install, zypper_install_without_version.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd != "RUN":
                continue
            seen = set()
            for cmd in run_cmds(ins):
                got = unpinned_packages(cmd)
                if got is None:
                    continue
                mgr, code, bad = got
                if (mgr, tuple(bad)) in seen:
                    continue
                seen.add((mgr, tuple(bad)))
                shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                yield hit(ins_loc(doc, ins), f"{mgr} installs {shown} without a version ({code}): builds are not reproducible",
                          snippet_key=f"RUN {mgr} {' '.join(bad[:5])}")


_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.lz", ".tlz", ".tar.lzma",
             ".tar.z", ".taz", ".tar.zst", ".tzst", ".gz", ".bz2", ".xz", ".lz", ".lzma", ".z", ".zst")


@rule("APP034", "add-local-file", "info", files="dockerfile",
      refs="DL3020; KICS add_instead_of_copy; CKV_DOCKER_4", fix="safe")
def add_local_file(stack):
    """`ADD` copies a local file that is not an archive.

    ## What it does
    Flags an `ADD` whose sources include a local path that is not a tar archive (remote URLs are
    APP035's business, git URLs are fine).

    ## Why is this bad?
    `ADD` has two hidden behaviours — it downloads URLs and unpacks local tar archives — so a
    reader cannot tell what `ADD app.tgz /app` will produce, and renaming a file to `.tar.gz`
    changes what the image contains. `COPY` only copies.

    ## Example
    ```dockerfile
    ADD app.jar /app/app.jar
    ```

    ## Use instead
    ```dockerfile
    COPY app.jar /app/app.jar
    ```

    ## Fix safety
    Safe: offered when every source is a local non-archive path and no `ADD`-only flag is used;
    `ADD` and `COPY` then do the same thing.

    ## References
    hadolint DL3020; KICS add_instead_of_copy; checkov CKV_DOCKER_4.
    """
    for doc in stack.dockerfiles:
        for ins in getattr(doc, "instructions", []):
            if ins.cmd != "ADD" or ins.heredocs:
                continue
            srcs = [s for s, _o in copy_sources(ins)]
            local = [s for s in srcs if not s.lower().startswith(("http://", "https://", "git@"))
                     and not s.lower().endswith(_ARCHIVES)]
            if not local:
                continue
            fix = None
            if len(local) == len(srcs) and not (set(ins.flags) & {"checksum", "keep-git-dir", "unpack"}):
                line_text = doc.line_text(ins.line)
                if line_text[ins.col - 1:ins.col + 2].upper() == "ADD":
                    fix = Fix("use COPY", (Edit(Location(doc.path, ins.line, ins.col, ins.line, ins.col + 3), "COPY"),))
            yield hit(ins_loc(doc, ins), f"ADD of local {', '.join(local[:3])}: use COPY (ADD also unpacks archives and downloads URLs)",
                      fix=fix, snippet_key=f"ADD {' '.join(srcs[:3])}")


def _stage_of(doc, ins):
    for s in doc.stages:
        if s.instructions and s.instructions[0].line <= ins.line <= s.instructions[-1].end_line:
            return s
    return None


def _final_chain_indexes(doc) -> set[int]:
    stage = getattr(doc, "final_stage", None)
    return {s.index for s in stage_chain(doc, stage)} if stage is not None else set()


def _misuse(doc):
    """(instruction, DL code, message) for each APP044 problem of a Dockerfile."""
    stages = doc.stages
    names: dict[str, object] = {}
    dup_reported: set[str] = set()
    for s in stages:
        if not s.name:
            continue
        key = s.name.lower()
        if key in names and key not in dup_reported:
            dup_reported.add(key)
            first = names[key]
            yield first.from_instruction, "DL3024", f"stage name `{s.name}` is used again at line {s.line}: `--from={s.name}` becomes ambiguous"
        names.setdefault(key, s)
    first_from = stages[0].line if stages else None
    for ins in doc.instructions:
        if first_from is not None and ins.line < first_from and ins.cmd not in ("ARG",):
            yield ins, "DL3061", f"{ins.cmd} before the first FROM: a Dockerfile must begin with FROM or ARG"
    final = getattr(doc, "final_stage", None)
    for s in stages:
        workdir_set = False
        for chained in stage_chain(doc, s)[1:]:
            if any(i.cmd == "WORKDIR" for i in chained.instructions):
                workdir_set = True
        env_defined: set[str] = set()
        healthchecks = []
        cmds: dict[str, list] = {"CMD": [], "ENTRYPOINT": []}
        for ins in s.instructions[1:]:
            if ins.cmd == "WORKDIR":
                workdir_set = True
                path = ins.args.strip().strip("'\"")
                if path and not (path.startswith(("/", "$")) or re.match(r"^[A-Za-z]:[\\/]", path)):
                    yield ins, "DL3000", f"WORKDIR `{path}` is relative: it depends on the previous WORKDIR"
            elif ins.cmd in ("COPY", "ADD"):
                words = copy_sources(ins)
                dest = ins.json[-1] if ins.json else (ins.words()[-1][0] if ins.words() else "")
                if ins.cmd == "COPY" and len(words) > 1 and not dest.endswith("/"):
                    yield ins, "DL3021", f"COPY with {len(words)} sources needs a destination ending with `/` (`{dest}`)"
                src_stage = ins.flags.get("from")
                if src_stage:
                    if s.name and src_stage.lower() == s.name.lower():
                        yield ins, "DL3023", f"COPY --from={src_stage} refers to the stage it is in"
                    else:
                        later = next((t for t in stages if t.index > s.index and t.name and t.name.lower() == src_stage.lower()), None)
                        if later is not None and not any(t.name and t.name.lower() == src_stage.lower() for t in stages[: s.index]):
                            yield ins, "DL3022", f"COPY --from={src_stage} refers to a stage defined later (line {later.line})"
                if not workdir_set and dest and not dest.startswith(("/", "$")) and not re.match(r"^[A-Za-z]:[\\/]", dest):
                    yield ins, "DL3045", f"{ins.cmd} to the relative destination `{dest}` without a WORKDIR"
            elif ins.cmd == "ONBUILD":
                inner = ins.args.split(None, 1)[0].upper() if ins.args.split() else ""
                if inner in ("ONBUILD", "FROM", "MAINTAINER"):
                    yield ins, "DL3043", f"ONBUILD {inner} is not allowed"
            elif ins.cmd == "ENV":
                pairs = ins.env_pairs()
                keys = [k for k, _v, _l, _c in pairs]
                where: dict[str, list[int]] = {}  # key -> its indices (one pass; an ENV may hold 100k pairs)
                for i, other in enumerate(keys):
                    where.setdefault(other, []).append(i)
                for k, v, _l, _c in pairs:
                    if "$" not in v:
                        continue
                    refs = {a or b for a, b in _ENV_REF.findall(v)} & where.keys()
                    for i in sorted(i for other in refs for i in where[other]):
                        other = keys[i]
                        if other != k and other not in env_defined:
                            yield ins, "DL3044", f"ENV {k} refers to {other}, defined in the same ENV (it sees the old value)"
                env_defined.update(keys)
            elif ins.cmd == "ARG":
                env_defined.update(k for k, _v, _l, _c in ins.env_pairs())
            elif ins.cmd == "HEALTHCHECK":
                healthchecks.append(ins)
            elif ins.cmd in cmds:
                cmds[ins.cmd].append(ins)
        if s is final:
            if len(healthchecks) > 1:
                yield healthchecks[0], "DL3012", f"{len(healthchecks)} HEALTHCHECK instructions: only the last (line {healthchecks[-1].line}) applies"
            for kind, code in (("CMD", "DL4003"), ("ENTRYPOINT", "DL4004")):
                if len(cmds[kind]) > 1:
                    yield cmds[kind][0], code, f"{len(cmds[kind])} {kind} instructions: only the last (line {cmds[kind][-1].line}) applies"


@rule("APP044", "dockerfile-misuse", "low", files="dockerfile", refs="hadolint; KICS", fix="manual")
def dockerfile_misuse(stack):
    """A Dockerfile instruction does not do what it seems to.

    ## What it does
    hadolint's correctness checks: relative `WORKDIR` (DL3000), several `HEALTHCHECK`s (DL3012),
    `COPY` of several sources to a destination without a trailing `/` (DL3021), `COPY --from` a stage
    defined later (DL3022) or its own stage (DL3023), a stage name used twice (DL3024, at the first),
    `ONBUILD ONBUILD/FROM/MAINTAINER` (DL3043), an `ENV` using a variable it defines itself (DL3044),
    `COPY` to a relative destination without `WORKDIR` (DL3045), an instruction before the first
    `FROM` (DL3061), and several `CMD`/`ENTRYPOINT` in the final stage (DL4003, DL4004, at the
    first, which never applies).

    ## Why is this bad?
    Each one builds an image that differs from what the Dockerfile suggests: the file lands in a
    different directory, the health check or command that looks active is ignored, a stage copies
    from the wrong place.

    ## Example
    ```dockerfile
    FROM node:20-alpine
    WORKDIR app
    CMD ["node", "a.js"]
    CMD ["node", "b.js"]
    ```

    ## Use instead
    ```dockerfile
    FROM node:20-alpine
    WORKDIR /app
    CMD ["node", "b.js"]
    ```

    ## Fix safety
    Manual.

    ## References
    hadolint DL3000, DL3012, DL3021–DL3024, DL3043–DL3045, DL3061, DL4003, DL4004; KICS
    workdir_path_not_absolute, copy_with_more_than_two_arguments_not_ending_with_slash,
    copy_from_references_current_from_alias, same_alias_in_different_froms,
    multiple_cmd_instructions_listed, multiple_entrypoint_instructions_listed.
    """
    for doc in stack.dockerfiles:
        if not getattr(doc, "stages", None):
            continue
        for ins, code, msg in _misuse(doc):
            yield hit(ins_loc(doc, ins), f"{msg} ({code})", snippet_key=f"{code}:{ins.cmd} {ins.args[:60]}")


_APT_LISTS_RM = LazyRe(r"\brm\b[^;&|]*(/var/lib/apt/lists)")


def _cache_mount(ins, *dirs: str) -> bool:
    mounts = ins.flags.get("mount", "")
    return "type=cache" in mounts and any(d in mounts for d in dirs)


def _hygiene(stack, doc, read_only: bool = False):
    """(instruction, code, message) for each APP045 problem of a Dockerfile. ``read_only``: every
    compose service built from it runs with a read-only root filesystem (file ownership is moot)."""
    final_chain = _final_chain_indexes(doc)
    final = getattr(doc, "final_stage", None)
    pip_no_cache_env = False
    for s in doc.stages:
        in_final = s.index in final_chain
        tools: set[str] = set()
        group: list = []

        def flush(group=group):
            if len(group) > 1:
                first = group[0]
                what = "RUN" if first.cmd == "RUN" else f"{first.cmd} to the same destination"
                yield first, "DL3059", f"{len(group)} consecutive {what} instructions (lines {group[0].line}–{group[-1].line}): each is a layer, consolidate them"
            group.clear()

        from_ins = s.from_instruction
        if from_ins.flags.get("platform") and not re.match(r"^\$\{?(BUILDPLATFORM|TARGETPLATFORM)\}?$", from_ins.flags["platform"]):
            yield from_ins, "DL3029", f"FROM --platform={from_ins.flags['platform']}: the image no longer builds for the target platform"
        for ins in s.instructions[1:]:
            # DL3059: consecutive RUN (each ≤ 2 commands) or COPY/ADD to the same destination, final stage
            if s is final:
                same = False
                if group:
                    prev = group[0]
                    if ins.cmd == prev.cmd == "RUN":
                        same = ins.flags == prev.flags and len(run_cmds(ins)) <= 2 and len(run_cmds(group[-1])) <= 2
                    elif ins.cmd in ("COPY", "ADD") and ins.cmd == prev.cmd and "from" not in ins.flags:
                        dest = lambda i: i.json[-1] if i.json else (i.words()[-1][0] if i.words() else "")  # noqa: E731
                        same = dest(ins) == dest(prev)
                if same:
                    group.append(ins)
                else:
                    yield from flush()
                    if ins.cmd in ("RUN", "COPY", "ADD") and "from" not in ins.flags:
                        group.append(ins)
            if ins.cmd == "MAINTAINER":
                yield ins, "DL4000", "MAINTAINER is deprecated: use `LABEL org.opencontainers.image.authors=…`"
            elif ins.cmd in ("COPY", "ADD") and "chown" in ins.flags and not read_only:
                yield ins, "KICS chown_flag_exists", f"{ins.cmd} --chown={ins.flags['chown']}: files the process can change; keep them root-owned and readable"
            elif ins.cmd == "ENV":
                for k, v, _l, _c in ins.env_pairs():
                    if k == "PIP_NO_CACHE_DIR" and v.lower() in ("1", "true", "on", "yes"):
                        pip_no_cache_env = True
            if ins.cmd != "RUN":
                continue
            cmds = run_cmds(ins)
            text = _run_text(ins)
            # DL4001 wget and curl in one stage
            used = {c.name for c in cmds if c.name in ("curl", "wget")}
            if used:
                tools |= used
                if len(tools) == 2:
                    yield ins, "DL4001", "both wget and curl are used in this stage: use one"
            for c in cmds:
                if c.name == "apt" :
                    yield ins, "DL3027", "`apt` is for interactive use: use apt-get"
                    break
            for c in cmds:
                if c.name == "ln" and "/bin/sh" in c.args:
                    yield ins, "DL4005", "RUN ln … /bin/sh changes the default shell: use SHELL"
                    break
            apt_installs = [c for c in cmds if c.name == "apt-get" and c.subcommand() == "install"]
            for c in apt_installs:
                quiet = sum(a.count("q") for a in c.args if re.fullmatch(r"-[a-zA-Z]+", a)) + c.args.count("--quiet")
                quiet += sum(int(a.split("=", 1)[1]) for a in c.args if re.fullmatch(r"(-q|--quiet)=\d", a))
                if not c.has("y", "yes", "assume-yes") and quiet < 2:
                    yield ins, "DL3014", "apt-get install without -y: the build waits for an answer"
                    break
            for c in apt_installs:
                if not c.has("no-install-recommends") and not any(a.lower() == "apt::install-recommends=false" for a in c.args):
                    yield ins, "DL3015", "apt-get install without --no-install-recommends: unneeded packages enlarge the image"
                    break
            if in_final and any(c.name == "apt-get" and c.subcommand() == "update" for c in cmds) \
                    and not _APT_LISTS_RM.search(text) and not _cache_mount(ins, "/var/lib/apt"):
                yield ins, "DL3009", "apt-get update without `rm -rf /var/lib/apt/lists/*` in the same RUN: the lists stay in the layer"
            for c in cmds:
                if c.name == "apk" and c.subcommand() == "add" and not c.has("no-cache") and not _cache_mount(ins, "/var/cache/apk", "/etc/apk/cache"):
                    yield ins, "DL3019", "apk add without --no-cache: the package index stays in the layer"
                    break
            if not pip_no_cache_env and "PIP_NO_CACHE_DIR=" not in text and not _cache_mount(ins, "/root/.cache/pip", ".cache/pip"):
                for c in cmds:
                    if _pip_install(c) and "--no-cache-dir" not in c.args and not c.name.startswith(("pipx", "pipenv")):
                        yield ins, "DL3042", "pip install without --no-cache-dir: the wheel cache stays in the layer"
                        break
            if s is final:
                for mgr, clean in (("dnf", r"\bdnf\s+clean\s+all|rm\s+-[rf]+\s+/var/cache/dnf"),
                                   ("microdnf", r"\bmicrodnf\s+clean\s+all|rm\s+-[rf]+\s+/var/cache/dnf"),
                                   ("yum", r"\byum\s+clean\s+all|rm\s+-[rf]+\s+/var/cache/yum"),
                                   ("zypper", r"\bzypper\s+(clean|cc)\b|rm\s+-[rf]+\s+/var/cache/zypp")):
                    m = re.search(rf"\b{mgr}\b(\s+-\S+)*\s+(install|in)\b", text)
                    if m and not re.search(clean, text[m.end():]) and not _cache_mount(ins, f"/var/cache/{mgr}"):
                        yield ins, "KICS cache cleanup", f"{mgr} install without `{mgr} clean` afterwards in the same RUN: the package cache stays in the layer"
        if s is final:
            yield from flush()


@rule("APP045", "dockerfile-hygiene", "info", files="dockerfile", refs="hadolint; KICS", fix="manual")
def dockerfile_hygiene(stack):
    """A Dockerfile wastes space or build time.

    ## What it does
    hadolint's hygiene checks, grouped: `apt-get update` without removing `/var/lib/apt/lists` in
    the same `RUN` of a stage that ends in the image (DL3009), `apt-get install` without `-y` (or
    `-qq`) (DL3014) or `--no-install-recommends` (DL3015), `apk add` without `--no-cache` (DL3019),
    `apt` instead of `apt-get` (DL3027), `FROM --platform` with a literal platform (DL3029), `pip
    install` without `--no-cache-dir` (DL3042), consecutive `RUN`s — or `COPY`/`ADD`s to the same
    destination — in the final stage (DL3059, at the first), `MAINTAINER` (DL4000), `wget` and `curl`
    in one stage (DL4001), `RUN ln … /bin/sh` (DL4005), dnf/yum/zypper installs without their
    `clean` in the final stage, and `COPY --chown` (KICS cache cleanup, chown_flag_exists; not when
    every compose service built from the Dockerfile runs `read_only: true`, which makes the
    ownership moot).

    ## Why is this bad?
    Larger images pull and start slower and carry more files to patch; builds that wait for input
    or depend on a literal platform fail in CI. None of it is a vulnerability by itself.

    ## Example
    ```dockerfile
    RUN apt-get update
    RUN apt-get install curl
    ```

    ## Use instead
    ```dockerfile
    RUN apt-get update \\
     && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u7 \\
     && rm -rf /var/lib/apt/lists/*
    ```

    ## Fix safety
    Manual.

    ## References
    hadolint DL3009, DL3014, DL3015, DL3019, DL3027, DL3029, DL3042, DL3059, DL4000, DL4001,
    DL4005; KICS apt_get_install_lists_were_not_deleted, apt_get_missing_flags_to_avoid_manual_input,
    apt_get_not_avoiding_additional_packages, apk_add_using_local_cache_path, run_using_apt,
    using_platform_with_from, pip_install_keeping_cached_packages,
    multiple_run_add_copy_instructions_listed, maintainer_instruction_being_used,
    run_using_wget_and_curl, changing_default_shell_using_run_command, missing_dnf_clean_all,
    yum_clean_all_missing, missing_zypper_clean, chown_flag_exists.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        if not getattr(doc, "stages", None):
            continue
        svcs = builds.get(id(doc), [])
        read_only = bool(svcs) and all(truthy(svc.get("read_only")) for svc in svcs)
        seen = set()
        for ins, code, msg in _hygiene(stack, doc, read_only):
            key = (ins.line, code)
            if key in seen:
                continue
            seen.add(key)
            yield hit(ins_loc(doc, ins), f"{msg} ({code})", snippet_key=f"{code}:{ins.cmd} {ins.args[:60]}")


def _has_pipe(script: str) -> bool:
    """A `|` pipe (not `||`) outside quotes."""
    quote = ""
    i, n = 0, len(script)
    while i < n:
        c = script[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        elif c == "#" and (i == 0 or script[i - 1] in " \t\n"):
            j = script.find("\n", i)
            if j < 0:
                return False
            i = j
        elif c == "|":
            if i + 1 < n and script[i + 1] == "|":
                i += 2
                continue
            if i > 0 and script[i - 1] == "|":
                i += 1
                continue
            return True
        i += 1
    return False


_PIPEFAIL_SET = LazyRe(r"\bset\s+(-[a-zA-Z]*o\s+pipefail|-o\s+pipefail|-[a-zA-Z]*\s+-o\s+pipefail)")
_NON_POSIX = ("pwsh", "powershell", "cmd")


def _shell_state(ins) -> str:
    """'pipefail', 'nonposix' or 'plain' for a SHELL instruction."""
    words = ins.json if ins.json is not None else ins.args.split()
    if words and posixpath.basename(words[0]).lower().split(".")[0] in _NON_POSIX:
        return "nonposix"
    if "pipefail" in words and any(w.startswith("-") and "o" in w for w in words):
        return "pipefail"
    return "plain"


@rule("APP038", "pipe-without-pipefail", "info", files="dockerfile",
      refs="CWE-754; DL4006; KICS shell_running_a_pipe_without_pipefail_flag", fix="manual")
def pipe_without_pipefail(stack):
    """A build step pipes commands without `pipefail`: a failing download goes unnoticed.

    ## What it does
    Flags a `RUN` whose shell command contains a pipe (`|`) when no earlier `SHELL` of the stage
    (or of the stage it is built `FROM`) sets `-o pipefail` and the command itself does not run
    `set -o pipefail`. Stages whose `SHELL` is PowerShell or cmd are skipped. An exec-form `RUN`
    runs no shell, so a `"|"` argument there is not a pipe.

    ## Why is this bad?
    `/bin/sh -c` reports the exit status of the last command of a pipe only: in
    `curl -fsSL https://… | tar -xz`, a failed download still "succeeds" and the build ships an
    image without the tool (or with a truncated one).

    ## Example
    ```dockerfile
    RUN curl -fsSL https://example.com/tool.tgz | tar -xz -C /usr/local/bin
    ```

    ## Use instead
    ```dockerfile
    SHELL ["/bin/bash", "-o", "pipefail", "-c"]
    RUN curl -fsSL https://example.com/tool.tgz | tar -xz -C /usr/local/bin
    ```
    (on Alpine: `SHELL ["/bin/ash", "-eo", "pipefail", "-c"]`).

    ## Fix safety
    Manual: the right shell depends on the image.

    ## References
    CWE-754; hadolint DL4006; KICS shell_running_a_pipe_without_pipefail_flag.
    """
    for doc in stack.dockerfiles:
        states: dict[int, str] = {}
        for s in getattr(doc, "stages", []):
            parent = stage_chain(doc, s)[1:2]
            state = states.get(parent[0].index, "plain") if parent else "plain"
            for ins in s.instructions[1:]:
                if ins.cmd == "SHELL":
                    state = _shell_state(ins)
                    continue
                if ins.cmd != "RUN" or state != "plain":
                    continue
                if ins.json is not None:
                    words = ins.json
                    if not (len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash", "ash", "dash", "zsh")
                            and re.fullmatch(r"-[a-z]*c", words[1] or "")):
                        continue
                    scripts = [words[2]] + list(ins.heredocs)
                else:
                    scripts = [ins.args] + list(ins.heredocs)
                for script in scripts:
                    if _has_pipe(script) and not _PIPEFAIL_SET.search(script):
                        yield hit(ins_loc(doc, ins), "RUN pipes commands without `-o pipefail`: a failure before the last `|` "
                                  "does not fail the build (DL4006)", snippet_key=f"DL4006:RUN {ins.args[:60]}")
                        break
            states[s.index] = state

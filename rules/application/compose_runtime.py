"""Application, container runtime family (APP001-APP012): privileges, capabilities,
seccomp/AppArmor, namespaces, users, read-only filesystems, image pinning (compose)."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.compose import (
    DATA_ROLES,
    delete_lines,
    image_parts,
    in_service,
    indent_width,
    insert_in_service,
    mount_loc,
    replace_scalar,
    scalar_text_span,
    service_node_loc,
    truthy,
    unknown_vars,
)
from rules.helpers.dockerfile import dockerfile_expand, global_args, ins_loc, is_root_user
from rules.helpers.locations import LazyRe, svc_loc, yloc
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YNode, YScalar, YSeq
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


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


# ---------------------------------------------------------------------------------------------
# APP001-APP011: container runtime
# ---------------------------------------------------------------------------------------------


@rule("APP001", "privileged-container", "critical", files="compose",
      refs="CWE-250; CIS 5.5; KICS privileged_containers_enabled; sg privileged-service", fix="unsafe")
def privileged_container(stack: Stack):
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
        fix = Fix("delete `privileged: true`", (edit,)) if edit else None
        yield hit(service_node_loc(svc, node), f"service '{svc.name}' runs privileged: every capability and device, "
                  f"no seccomp/AppArmor — root in the container is root on the host",
                  fix=fix, snippet_key=f"{svc.name}:privileged")


DANGEROUS_CAPS = {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "NET_ADMIN", "DAC_READ_SEARCH",
                  "BPF", "SYS_BOOT"}


def _cap(name: str) -> str:
    n = name.strip().upper()
    return n[4:] if n.startswith("CAP_") else n


@rule("APP002", "dangerous-capability", "high", files="compose",
      refs="CWE-250; CIS 5.4; KICS container_capabilities_unrestricted", fix="manual")
def dangerous_capability(stack: Stack):
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
                yield hit(service_node_loc(svc, item), f"service '{svc.name}' adds {what}: a known container-escape primitive",
                          snippet_key=f"{svc.name}:cap_add:{cap}")


@rule("APP003", "capabilities-not-dropped", "low", files="compose",
      refs="CIS 5.4; KICS container_capabilities_unrestricted", fix="manual")
def capabilities_not_dropped(stack: Stack):
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


_NNP_RE = LazyRe(r"^\s*no-new-privileges(?:\s*[:=]\s*(?P<v>\S+))?\s*$", re.I)


@rule("APP004", "no-new-privileges-missing", "medium", files="compose",
      refs="CWE-250; CIS 5.26; KICS no_new_privileges_not_set, security_opt_not_set", fix="safe")
def no_new_privileges_missing(stack: Stack):
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
            yield hit(service_node_loc(svc, bad_item), f"service '{svc.name}' sets no-new-privileges to false: setuid binaries can escalate to root",
                      fix=fix, snippet_key=f"{svc.name}:no-new-privileges")
            continue
        if isinstance(node, YSeq) and in_service(svc, node) and node.items and svc.node.key("security_opt") is not None:
            key = svc.node.key("security_opt")
            first = node.items[0]
            fix = None
            line_text = svc.doc.line_text(first.line)
            if first.line > key.line and line_text.lstrip().startswith("-"):
                dash_indent = " " * indent_width(line_text)
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
def seccomp_disabled(stack: Stack):
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
            yield hit(service_node_loc(svc, item), f"service '{svc.name}' disables seccomp: every syscall reaches the host kernel",
                      fix=Fix("delete the seccomp:unconfined entry", (edit,)) if edit else None,
                      snippet_key=f"{svc.name}:seccomp")


@rule("APP006", "mac-profile-disabled", "high", files="compose",
      refs="CIS 5.2, 5.3; sg selinux-separation-disabled", fix="unsafe")
def mac_profile_disabled(stack: Stack):
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
            yield hit(service_node_loc(svc, item), f"service '{svc.name}' disables {what} confinement",
                      fix=Fix(f"delete the `{item}` entry", (edit,)) if edit else None,
                      snippet_key=f"{svc.name}:{str(item).lower()}")


_NAMESPACE_KEYS = {"pid": "process", "ipc": "IPC", "uts": "UTS (hostname)", "userns_mode": "user"}


@rule("APP007", "host-namespace-shared", "high", files="compose",
      refs="CWE-668; CIS 5.16, 5.17, 5.21, 5.31; KICS host_namespace_is_shared, shared_host_ipc_namespace, shared_host_user_namespace",
      fix="unsafe")
def host_namespace_shared(stack: Stack):
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
                yield hit(service_node_loc(svc, node), f"service '{svc.name}' shares the host's {what} namespace (`{key}: host`)",
                          fix=Fix(f"delete `{key}: host`", (edit,)) if edit else None,
                          snippet_key=f"{svc.name}:{key}")


@rule("APP008", "root-user-override", "medium", files="compose", refs="CWE-250; CIS 4.1", fix="manual")
def root_user_override(stack: Stack):
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
            yield hit(service_node_loc(svc, node), f"service '{svc.name}' runs as root (`user: {node}`), overriding the image's user",
                      snippet_key=f"{svc.name}:user")


READ_ONLY_ROLES = ("gateway", "app", "prometheus", "certbot")


@rule("APP009", "writable-root-fs", "low", files="compose", refs="CIS 5.13; sg writable-filesystem-service", fix="unsafe")
def writable_root_fs(stack: Stack):
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
                      fix=Fix("set `read_only: true`", (edit,)) if edit else None,
                      snippet_key=f"{svc.name}:read_only")
            continue
        lines = ["read_only: true"]
        if svc.get("tmpfs") is None:
            lines += ["tmpfs:", "  - /tmp"]
            if svc.role == "gateway" and "nginx" in (svc.image or "nginx"):
                lines += ["  - /var/cache/nginx", "  - /var/run"]
        edit = insert_in_service(svc, lines) if node is None else None
        yield hit(svc_loc(svc), f"service '{svc.name}' ({svc.role}) has a writable root filesystem (no `read_only: true`)",
                  fix=Fix("add `read_only: true` and a tmpfs for /tmp", (edit,)) if edit else None,
                  snippet_key=f"{svc.name}:read_only")


@rule("APP010", "cgroup-parent-set", "low", files="compose", refs="CIS 5.25; KICS cgroup_not_default", fix="manual")
def cgroup_parent_set(stack: Stack):
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
            yield hit(service_node_loc(svc, node), f"service '{svc.name}' runs in a custom cgroup parent `{node}`",
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


@rule("APP011", "shared-writable-volume", "info", files="compose", refs="KICS shared_volumes_between_containers", fix="manual")
def shared_writable_volume(stack: Stack):
    """Two containers write to the same volume.

    ## What it does
    Flags a named volume or host path that at least two services of the same compose project
    mount read-write: once, at the first of those mounts, the others listed and given as related
    locations. Read-only consumers (nginx serving the static files
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
            # one root cause, one finding: at the first writer's mount, the others as related locations
            locs = sorted((mount_loc(svc, m), svc.name) for svc, m in uses)
            (first, owner), rest = locs[0], locs[1:]
            others = ", ".join(f"'{n}' (line {loc.start_line})" if loc.path == first.path else f"'{n}' ({loc.path}:{loc.start_line})"
                               for loc, n in rest)
            yield hit(first, f"{what} is mounted read-write by '{owner}' and also by {others}: "
                             f"mount it read-only (:ro) in every service that only reads it",
                      related=[loc for loc, _n in rest], snippet_key=key)


# ---------------------------------------------------------------------------------------------
# APP012: unpinned images
# ---------------------------------------------------------------------------------------------



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
def image_unpinned(stack: Stack):
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
        yield hit(service_node_loc(svc, node), f"service '{svc.name}' uses image `{node}` with {why}: deploys are not reproducible{note}",
                  snippet_key=f"{svc.name}:image")
    for doc in stack.dockerfiles:
        if not doc.stages:
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

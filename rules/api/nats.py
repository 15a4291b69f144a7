"""API, NATS family: who may connect to the message bus, with what rights, over what transport."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.locations import yloc
from rules.helpers.services import is_nats_included, nats_auth_problem, nats_blocks, nats_configs, nats_get
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.nats import NatsBlock
from scanner.registry import rule
from scanner.lazyre import LazyRe
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack


def _server_docs(stack: Stack):
    """nats configurations that are server configs (not fragments another file includes)."""
    return [doc for doc in stack.nats if not is_nats_included(stack, doc)]


def _walk(block: NatsBlock, path: tuple = ()):
    """(entry, path of keys) for every entry, blocks inside arrays included."""
    for e in block.entries:
        yield e, path
        if isinstance(e.value, NatsBlock):
            yield from _walk(e.value, path + (e.key.lower(),))
        elif isinstance(e.value, list):
            for item in e.value:
                if isinstance(item, NatsBlock):
                    yield from _walk(item, path + (e.key.lower(),))


@rule("API060", "nats-auth-missing", "critical", files="nats", refs="CWE-306; NATS auth docs")
def nats_auth_missing(stack: Stack):
    """The NATS server lets any client connect without credentials.

    ## What it does
    Flags a nats-server configuration (not a fragment another file `include`s; included files are
    read with their includer) with no `authorization` block holding `user`, `users`, `token`,
    `nkeys` or `auth_callout`, no `accounts` with users, and no `operator`/`resolver`
    (decentralised JWT auth); or whose `no_auth_user` names a user without `permissions`.

    ## Why is this bad?
    Without authorization every client that reaches port 4222 may publish and subscribe to every
    subject: read every event, inject commands, and with JetStream read or purge the streams.
    A `no_auth_user` without permissions gives the same full rights to anonymous clients.

    ## Example
    ```
    port: 4222
    jetstream { store_dir: /data }
    ```

    ## Use instead
    ```
    authorization {
      users = [
        { user: backend, password: $NATS_BACKEND_PASSWORD,
          permissions: { publish: ["orders.>"], subscribe: ["_INBOX.>", "orders.>"] } }
      ]
    }
    ```

    ## Fix safety
    Manual: clients need the new credentials.

    ## References
    CWE-306; NATS documentation, securing NATS: authentication and authorization.
    """
    for doc in _server_docs(stack):
        if doc.errors and not doc.root.entries:
            continue
        problem = nats_auth_problem(stack, doc)
        if problem is None:
            continue
        reason, entry = problem
        if entry is not None:
            loc = Location(doc.path, entry.line, entry.col, entry.end_line, entry.end_col)
        else:
            loc = Location(doc.path, 1, 1)
        yield hit(loc, reason, snippet_key="nats-auth" if entry is None else f"no_auth_user:{entry.value}")


@rule("API061", "nats-user-unrestricted", "low", files="nats", refs="CWE-269; NATS authorization docs")
def nats_user_unrestricted(stack: Stack):
    """A NATS user may publish and subscribe to every subject.

    ## What it does
    Flags each entry of an `authorization { users = [...] }` list, or of an account's `users`,
    that has no `permissions` while no `default_permissions` applies to it. Users of the system
    account (`system_account`, default `$SYS`) are skipped: monitoring needs their rights.

    ## Why is this bad?
    One leaked service credential then reads every subject (other tenants' events, replies on
    `_INBOX.>`) and can publish commands meant for other services: least privilege per client is
    what contains a compromise.

    ## Example
    ```
    authorization { users = [ { user: backend, password: $NATS_PW } ] }
    ```

    ## Use instead
    ```
    authorization { users = [ { user: backend, password: $NATS_PW,
        permissions: { publish: ["orders.>"], subscribe: ["_INBOX.>", "orders.>"] } } ] }
    ```

    ## Fix safety
    Manual: the subjects each client needs are only known to its authors.

    ## References
    CWE-269; NATS documentation, authorization.
    """
    for doc in _server_docs(stack):
        blocks = nats_blocks(stack, doc)
        sys_acc = nats_get(blocks, "system_account")
        system = sys_acc.value if sys_acc is not None and isinstance(sys_acc.value, str) else "$SYS"
        groups = []  # (users entry, default_permissions present)
        authz = nats_get(blocks, "authorization")
        if authz is not None and isinstance(authz.value, NatsBlock):
            groups.append((authz.value.get("users"), authz.value.get("default_permissions") is not None))
        accounts = nats_get(blocks, "accounts")
        if accounts is not None and isinstance(accounts.value, NatsBlock):
            for acc in accounts.value.entries:
                if isinstance(acc.value, NatsBlock) and acc.key != system:
                    groups.append((acc.value.get("users"), acc.value.get("default_permissions") is not None))
        for users, has_default in groups:
            if users is None or has_default or not isinstance(users.value, list):
                continue
            for item in users.value:
                if not isinstance(item, NatsBlock) or item.get("permissions") is not None:
                    continue
                u = item.get("user") or item.get("nkey")
                name = u.value if u is not None and isinstance(u.value, str) and not u.is_ref else "?"
                shown = name if u is None or u.key.lower() == "user" else name[:8] + "…"
                anchor = u if u is not None else None
                loc = Location(doc.path, anchor.line, anchor.col) if anchor is not None else Location(doc.path, item.line, item.col)
                yield hit(loc, f"NATS user '{shown}' has no permissions: it may publish and subscribe to every subject",
                          snippet_key=f"user:{name}")


_BCRYPT = LazyRe(r"^\$2[abxy]?\$\d\d\$")


def _var_name(path: tuple, user: str | None, key: str) -> str:
    parts = ["NATS"]
    for p in path:
        if p not in ("authorization", "users", "accounts"):
            parts.append(re.sub(r"\W", "_", p).upper())
    if user:
        parts.append(re.sub(r"\W", "_", user).upper())
    parts.append(key.upper())
    return "_".join(dict.fromkeys(parts))


@rule("API062", "nats-plaintext-credential", "medium", files="nats", refs="CWE-260; `nats server passwd`",
      fix="unsafe")
def nats_plaintext_credential(stack: Stack):
    """A NATS password or token is written in clear in the configuration.

    ## What it does
    Flags every `password` and `token` (in `authorization`, user lists, accounts, cluster, gateway
    and leafnode blocks) whose value is neither a bcrypt hash (`$2a$…`, made by
    `nats server passwd`) nor a `$VAR` reference resolved from the environment.

    ## Why is this bad?
    The configuration file lives in the repository, in backups and in the image layers: whoever
    reads it has the credential. A bcrypt hash is useless to a reader, and a `$VAR` keeps the
    value in the deployment's secret store.

    ## Example
    ```
    users = [ { user: backend, password: "backend2025" } ]
    ```

    ## Use instead
    ```
    users = [ { user: backend, password: $NATS_BACKEND_PASSWORD } ]
    ```
    (or `password: "$2a$11$..."` from `nats server passwd`; clients keep the clear password).

    ## Fix safety
    Unsafe: the fix replaces the value by a `$VAR` reference to a variable the nats service's
    environment already holds with the same value (clients are unchanged). Without one, no fix is
    offered: a reference to an undefined variable stops nats-server from starting (OPS060).

    ## References
    CWE-260; NATS documentation, bcrypted passwords (`nats server passwd`).
    """
    for doc in stack.nats:
        for entry, path in _walk(doc.root):
            key = entry.key.lower()
            if key not in ("password", "token", "pass"):
                continue
            if entry.is_ref or isinstance(entry.value, (NatsBlock, list)):
                continue
            value = entry.value if isinstance(entry.value, str) else str(entry.value)
            if not value or _BCRYPT.match(value) or value.startswith("$"):
                continue
            user = None
            parent_user = _sibling_user(doc.root, entry)
            if parent_user:
                user = parent_user
            var = _held_by_services(stack, doc, value, _var_name(path, user, "token" if key == "token" else "password"))
            loc = Location(doc.path, entry.value_line, entry.value_col, entry.end_line, entry.end_col)
            fix = Fix(f"read the {key} from ${var}", (Edit(loc, "$" + var),)) \
                if var and entry.value_line == entry.end_line else None
            who = f" of user '{user}'" if user else ""
            where = ".".join(p for p in path if p != "users") or "top level"
            yield hit(loc, f"NATS {key}{who} ({where}) is written in clear: use a bcrypt hash or a $VAR reference",
                      fix=fix, snippet_key=f"{where}:{user or ''}:{key}")


def _held_by_services(stack: Stack, doc, value: str, preferred: str) -> str | None:
    """The environment variable holding ``value`` in every nats service that mounts ``doc`` (the
    ``preferred`` name first), or None. A reference to any other name would leave the server
    without it (OPS060: nats-server refuses to start), so the fix is offered only then."""
    services = [svc for sf in stack.sources("nats") if sf.doc is doc for svc, _t in sf.mounted_by]
    if not services:
        return None
    envs = [stack.service_env(svc) for svc in services]
    names = [preferred] + sorted(k for k in envs[0] if k != preferred)
    return next((k for k in names if all(k in env and env[k][0] == value for env in envs)), None)


def _sibling_user(root: NatsBlock, entry) -> str | None:
    """The `user` of the block holding ``entry``."""
    stack = [root]
    while stack:
        block = stack.pop()
        if any(e is entry for e in block.entries):
            u = block.get("user")
            return u.value if u is not None and isinstance(u.value, str) and not u.is_ref else None
        for e in block.entries:
            if isinstance(e.value, NatsBlock):
                stack.append(e.value)
            elif isinstance(e.value, list):
                stack.extend(i for i in e.value if isinstance(i, NatsBlock))
    return None


def _port_of(value, default: int | None) -> int | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and ":" in value:
        try:
            return int(value.rsplit(":", 1)[1])
        except ValueError:
            return default
    return default


def _listeners(stack: Stack, svc, doc):
    """[(kind, container port, block entry or None, tls on)] of a nats server configuration."""
    blocks = nats_blocks(stack, doc) if doc is not None else []
    words = svc.command_words()
    out = []
    # clients
    port = 4222
    e = nats_get(blocks, "port") if blocks else None
    if e is not None:
        port = _port_of(e.value, 4222)
    listen = nats_get(blocks, "listen") if blocks else None
    if listen is not None:
        port = _port_of(listen.value, port)
    for i, w in enumerate(words):
        if w in ("-p", "--port") and i + 1 < len(words):
            port = _port_of(small_int(words[i + 1]), port)
    tls_flag = any(w.startswith("--tls") for w in words)
    client_tls = tls_flag or (blocks and nats_get(blocks, "tls") is not None)
    out.append(("client", port, None, bool(client_tls)))
    for kind, default in (("cluster", 6222), ("websocket", None), ("leafnodes", 7422), ("gateway", 7222), ("mqtt", 1883)):
        b = nats_get(blocks, kind) if blocks else None
        if b is None or not isinstance(b.value, NatsBlock):
            if kind == "cluster" and any(w in ("--cluster", "--routes") or w.startswith("--cluster=") for w in words):
                out.append(("cluster", 6222, None, tls_flag))
            continue
        bp = b.value.get("port")
        bl = b.value.get("listen")
        p = _port_of(bp.value, default) if bp is not None else default
        if bl is not None:
            p = _port_of(bl.value, p)
        has_tls = b.value.get("tls") is not None
        if kind == "websocket":
            nt = b.value.get("no_tls")
            if nt is not None and nt.value is True:
                has_tls = False
        if p is not None:
            out.append((kind, p, b, has_tls))
    return out


@rule("API063", "nats-no-tls-exposed", "medium", files="nats+compose", refs="CWE-319; NATS TLS docs")
def nats_no_tls_exposed(stack: Stack):
    """A NATS port published to the network carries credentials and messages in clear.

    ## What it does
    For a nats service that publishes a client (4222), cluster (6222), websocket, leafnode or
    gateway port on every interface, flags the listener when its block has no `tls { }` (client
    port: a top-level `tls` or `--tls` flags), or when the websocket block sets `no_tls: true`.
    Also flags leafnode/gateway `remotes` dialing `nats://` (not `tls://`) without a `tls` block.

    ## Why is this bad?
    NATS sends passwords and tokens in the CONNECT message and every payload in clear unless TLS
    is on: anyone on the path reads the credentials and the events.

    ## Example
    ```
    port: 4222        # published as "4222:4222", no tls { }
    ```

    ## Use instead
    ```
    tls {
      cert_file: /etc/nats/certs/server.pem
      key_file:  /etc/nats/certs/server-key.pem
    }
    ```
    or keep the port unpublished (containers reach it on the compose network).

    ## Fix safety
    Manual: certificates must be issued and clients switched to `tls://`.

    ## References
    CWE-319; NATS documentation, TLS.
    """
    for svc in stack.services_by_role("nats"):
        published = {}
        for port in svc.ports:
            if port.public:
                for c in port.container_ports[:64]:
                    published.setdefault(c, port)
        docs = nats_configs(stack, svc)
        if not published:
            continue
        doc = docs[0] if docs else None
        if doc is None and any(w in ("-c", "--config") or w.startswith("--config=") for w in svc.command_words()):
            continue  # a configuration dkscan cannot see
        for kind, cport, entry, tls_on in _listeners(stack, svc, doc):
            if tls_on or cport not in published:
                continue
            port = published[cport]
            if doc is not None:
                loc = Location(doc.path, entry.line, entry.col) if entry is not None else Location(doc.path, 1, 1)
                related = [yloc(svc.doc.path, port.node)]
            else:
                loc = yloc(svc.doc.path, port.node)
                related = []
            what = "websocket with no_tls: true" if kind == "websocket" and entry is not None and \
                entry.value.get("no_tls") is not None and entry.value.get("no_tls").value is True else f"{kind} listener without tls {{}}"
            yield hit(loc, f"nats service '{svc.name}' publishes {kind} port {cport} on every interface: {what}, "
                           f"credentials and messages travel in clear", related=related,
                      snippet_key=f"{svc.name}:{kind}:{cport}")
    # remotes dialing out in clear
    for doc in _server_docs(stack):
        blocks = nats_blocks(stack, doc)
        for kind, key in (("leafnodes", "remotes"), ("gateway", "gateways")):
            b = nats_get(blocks, kind)
            if b is None or not isinstance(b.value, NatsBlock):
                continue
            remotes = b.value.get(key)
            if remotes is None or not isinstance(remotes.value, list):
                continue
            for item in remotes.value:
                if not isinstance(item, NatsBlock) or item.get("tls") is not None:
                    continue
                for ukey in ("url", "urls"):
                    u = item.get(ukey)
                    if u is None:
                        continue
                    urls = u.value if isinstance(u.value, list) else [u.value]
                    if any(isinstance(x, str) and x.lower().startswith("nats://") for x in urls):
                        host = next((re.sub(r"^nats://(?:[^@/]*@)?", "", x).split("/")[0] for x in urls if isinstance(x, str)), "")
                        yield hit(Location(doc.path, u.line, u.col),
                                  f"{kind} remote {host} is dialed over nats:// without a tls block: credentials and "
                                  f"messages cross the network in clear", snippet_key=f"{kind}:remote:{host}")

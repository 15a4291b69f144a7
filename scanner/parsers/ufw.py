"""UFW: rules from ``ufw …`` commands in scripts, ``user.rules``/``user6.rules`` tuples,
``/etc/default/ufw`` and ``ufw.conf``.

Hand-written: UFW has no importable grammar (its parser lives inside the ``ufw`` program, which needs
root and netfilter to run). This module follows ufw(8)'s command syntax — simple (``ufw allow
22/tcp``, ``ufw allow OpenSSH``) and full (``ufw allow in on eth0 proto tcp from 10.0.0.0/8 to any
port 5432``), ``default``, ``enable``/``disable``/``reset``, ``insert N``, ``prepend``, ``route``,
``delete`` — and the ``### tuple ###`` comment lines ufw writes into ``user.rules`` (``action proto
dport dst sport src [app …] direction[_iface]``). App profiles resolve to their ports
(``OpenSSH`` 22, ``Nginx Full`` 80+443), service names through ``/etc/services``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from .base import Document, ParseError
from ..lazyre import LazyRe

__all__ = ["UfwEvent", "UfwDocument", "parse", "from_command", "SERVICES", "APP_PROFILES",
           "is_ufw_file"]

SERVICES = {"ssh": 22, "http": 80, "https": 443, "ftp": 21, "telnet": 23, "smtp": 25, "domain": 53,
            "dns": 53, "pop3": 110, "imap": 143, "imaps": 993, "pop3s": 995, "submission": 587,
            "postgresql": 5432, "postgres": 5432, "mysql": 3306, "redis": 6379, "smtps": 465,
            "ntp": 123, "snmp": 161, "ldap": 389, "ldaps": 636, "rsync": 873, "ms-sql-s": 1433,
            "mongodb": 27017, "http-alt": 8080, "webcache": 8080, "openvpn": 1194, "kerberos": 88}
APP_PROFILES = {"openssh": [22], "nginx http": [80], "nginx https": [443], "nginx full": [80, 443],
                "www": [80], "www secure": [443], "www full": [80, 443], "apache": [80],
                "apache secure": [443], "apache full": [80, 443], "postfix": [25], "bind9": [53]}
ACTIONS = ("allow", "deny", "reject", "limit")


class UfwEvent:
    """One thing a UFW source does: a rule, a default policy, enable/disable/reset."""

    kind: str  # "rule" | "default" | "enable" | "disable" | "reset"
    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str  # the command or line, for messages
    action: str = ""  # allow/deny/reject/limit (rule), or the policy (default)
    direction: str = "in"  # in/out/routed
    ports: list[tuple[int, int]] | None = None  # None: every port
    proto: str = "any"
    src: str = "any"
    dst: str = "any"
    iface: str = ""
    route: bool = False
    delete: bool = False
    app: str = ""
    origin: str = "command"  # "command" | "tuple" | "default-file" | "conf" | "systemctl"
    action_col: int = 0  # column of the action word (for the allow -> limit fix)
    sudo: bool = False  # a script command run through sudo

    __match_args__ = ("kind", "path", "line", "col", "end_line", "end_col", "text", "action", "direction", "ports", "proto", "src", "dst", "iface", "route", "delete", "app", "origin", "action_col", "sudo")

    def __init__(self, kind, path, line, col, end_line, end_col, text, action="", direction="in", ports=None, proto="any", src="any", dst="any", iface="", route=False, delete=False, app="", origin="command", action_col=0, sudo=False):
        self.kind = kind
        self.path = path
        self.line = line
        self.col = col
        self.end_line = end_line
        self.end_col = end_col
        self.text = text
        self.action = action
        self.direction = direction
        self.ports = ports
        self.proto = proto
        self.src = src
        self.dst = dst
        self.iface = iface
        self.route = route
        self.delete = delete
        self.app = app
        self.origin = origin
        self.action_col = action_col
        self.sudo = sudo

    def covers(self, port: int) -> bool:
        return self.ports is None or any(lo <= port <= hi for lo, hi in self.ports)

    @property
    def from_anywhere(self) -> bool:
        return self.src in ("any", "0.0.0.0/0", "::/0", "anywhere", "") and not self.iface

    def __repr__(self) -> str:
        return f"UfwEvent({self.kind} {self.action} {self.ports} @{self.path}:{self.line})"


@dataclass(repr=False)
class UfwDocument(Document):
    comments: list = field(default_factory=list)  # (line, text after the comment mark): suppressions
    events: list[UfwEvent] = field(default_factory=list)
    docker_user_routed: bool = False  # after.rules sends DOCKER-USER to ufw-user-forward/input


def is_ufw_file(rel: str) -> bool:
    d, name = posixpath.split(rel)
    return name in ("user.rules", "user6.rules", "ufw.conf", "after.rules", "before.rules", "after6.rules",
                    "before6.rules") or (name == "ufw" and posixpath.basename(d) == "default")


def _ports(spec: str) -> list[tuple[int, int]] | None:
    """``22``, ``22/tcp``, ``80,443``, ``6000:6007``, ``ssh``; None when it is not a port spec."""
    spec = spec.split("/", 1)[0]
    out = []
    for part in spec.split(","):
        part = part.strip().lower()
        if re.fullmatch(r"[0-9]{1,9}", part):
            out.append((int(part), int(part)))
        elif re.fullmatch(r"[0-9]{1,9}:[0-9]{1,9}", part):
            a, b = part.split(":")
            out.append((int(a), int(b)))
        elif part in SERVICES:
            out.append((SERVICES[part], SERVICES[part]))
        else:
            return None
    return out or None


def _app_ports(name: str) -> list[tuple[int, int]] | None:
    p = APP_PROFILES.get(name.strip().lower())
    return [(x, x) for x in p] if p else None


def from_command(words: list[str], path: str, line: int, col: int, end_line: int, end_col: int,
                 word_cols: list[tuple[int, int]] | None = None) -> list[UfwEvent]:
    """UFW events of one ``ufw`` command line (``words`` after the ``ufw`` word)."""
    text = "ufw " + " ".join(words)
    ws = [w for w in words if w not in ("--force", "--dry-run", "-f")]
    offs = [i for i, w in enumerate(words) if w not in ("--force", "--dry-run", "-f")]

    def ev(kind: str, **kw) -> UfwEvent:
        return UfwEvent(kind, path, line, col, end_line, end_col, text, **kw)

    if not ws:
        return []
    verb = ws[0].lower()
    if verb == "enable":
        return [ev("enable")]
    if verb == "disable":
        return [ev("disable")]
    if verb == "reset":
        return [ev("reset")]
    if verb == "default" and len(ws) >= 2:
        direction = ws[2].lower() if len(ws) > 2 else "in"
        direction = {"incoming": "in", "outgoing": "out", "routed": "routed"}.get(direction, direction)
        return [ev("default", action=ws[1].lower(), direction=direction)]
    delete = route = False
    i = 0
    if verb == "delete":
        delete, i = True, 1
    elif verb == "insert" and len(ws) > 2:
        i = 2
    elif verb == "prepend":
        i = 1
    if i < len(ws) and ws[i].lower() == "route":
        route, i = True, i + 1
    if i >= len(ws) or ws[i].lower() not in ACTIONS:
        return []
    action = ws[i].lower()
    action_col = 0
    if word_cols and i < len(offs) and offs[i] < len(word_cols):
        action_col = word_cols[offs[i]][0]
    rest = ws[i + 1:]
    if "comment" in [r.lower() for r in rest]:
        rest = rest[:[r.lower() for r in rest].index("comment")]
    e = ev("rule", action=action, delete=delete, route=route, action_col=action_col)
    # simple syntax: one port spec or an app profile
    if len(rest) == 1 or (len(rest) >= 2 and rest[0].lower() in ("in", "out") and len(rest) == 2):
        if len(rest) == 2:
            e.direction = rest[0].lower()
        spec = rest[-1]
        p = _ports(spec)
        if p is not None:
            e.ports = p
            if "/" in spec:
                e.proto = spec.split("/", 1)[1].lower()
            return [e]
        a = _app_ports(spec)
        if a is not None:
            e.ports, e.app = a, spec
            return [e]
        return []
    j = 0
    to_port = None
    saw_to = False
    while j < len(rest):
        w = rest[j].lower()
        nxt = rest[j + 1] if j + 1 < len(rest) else ""
        if w in ("in", "out"):
            e.direction = w
            j += 1
        elif w == "on":
            e.iface = nxt
            j += 2
        elif w in ("log", "log-all"):
            j += 1
        elif w == "proto":
            e.proto = nxt.lower()
            j += 2
        elif w == "from":
            e.src = nxt
            j += 2
            if j < len(rest) and rest[j].lower() == "port":
                j += 2  # source port: not what reaches the host
            elif j < len(rest) and rest[j].lower() == "app":
                j += 2
        elif w == "to":
            e.dst = nxt
            saw_to = True
            j += 2
        elif w == "port":
            to_port = nxt
            j += 2
        elif w == "app":
            a = _app_ports(nxt)
            if a is not None:
                e.ports, e.app = a, nxt
            j += 2
        elif w == "comment":
            break
        else:
            j += 1
    if to_port is not None:
        e.ports = _ports(to_port) or e.ports
    elif not e.app:
        e.ports = None  # no port: every port
    del saw_to
    return [e]


_TUPLE = LazyRe(r"^### tuple ### (.*)$")


def parse(text: str, rel: str) -> UfwDocument:
    doc = UfwDocument(rel, text)
    doc.comments = [(n, ln.strip()[1:].strip()) for n, ln in enumerate(text.splitlines(), 1)
                    if ln.strip()[:1] in "#" and ln.strip()[:1] and not ln.strip().startswith('### tuple')]
    name = posixpath.basename(rel)
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        end = len(raw.rstrip()) + 1
        if name in ("user.rules", "user6.rules"):
            m = _TUPLE.match(line)
            if not m:
                continue
            parts = m.group(1).split()
            if len(parts) < 7:
                doc.errors.append(ParseError("ufw: short ### tuple ### line", n, 1))
                continue
            action, proto, dport, dst, _sport, src = parts[:6]
            direction = parts[-1]
            app = ""
            if len(parts) > 7:
                app = parts[6] if parts[6] != "-" else ""
            route = action.startswith("route:")
            action = action.split(":")[-1].split("_")[0].lower()
            dirparts = direction.split("_", 1)
            e = UfwEvent("rule", rel, n, 1, n, end, line, action=action, direction=dirparts[0],
                         proto=proto, src=src, dst=dst, iface=dirparts[1] if len(dirparts) > 1 else "",
                         route=route, origin="tuple", app=app.replace("%20", " "))
            if dport == "any":
                e.ports = None
            else:
                e.ports = _ports(dport)
                if e.ports is None:
                    doc.errors.append(ParseError(f"ufw: bad port {dport!r} in ### tuple ###", n, 1))
                    continue
            doc.events.append(e)
        elif name in ("ufw", "ufw.conf"):
            m = re.match(r"^([A-Z_]+)\s*=\s*\"?([^\"#]*)\"?", line)
            if not m:
                continue
            key, value = m.group(1), m.group(2).strip()
            if key == "DEFAULT_INPUT_POLICY":
                pol = {"ACCEPT": "allow", "DROP": "deny", "REJECT": "reject"}.get(value.upper(), value.lower())
                doc.events.append(UfwEvent("default", rel, n, 1, n, end, line, action=pol, direction="in", origin="default-file"))
            elif key == "ENABLED":
                doc.events.append(UfwEvent("enable" if value.lower() == "yes" else "disable", rel, n, 1, n, end, line, origin="conf"))
        elif name.startswith("after") and "DOCKER-USER" in line and re.search(r"-j\s+ufw-user-(forward|input)", line):
            doc.docker_user_routed = True
    return doc

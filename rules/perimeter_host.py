"""Perimeter, host family: the host firewall (UFW), Fail2Ban jails and the SSH daemon, read with the
compose stack they protect (Docker's DNAT bypasses UFW and INPUT bans alike)."""

from __future__ import annotations

import posixpath
import re

from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.fail2ban import duration_seconds
from scanner.registry import rule

from ._host import (jail_chain, jail_ports, jails, nginx_jail, public_network, published_ports, ssh_ports,
                    sshd_jail_enabled, sshd_view, ufw_bypasses, ufw_events)
from ._util import nloc, yloc


def _eloc(e) -> Location:
    return Location(e.path, e.line, e.col, e.end_line, e.end_col)


def _entry_loc(e) -> Location:
    return Location(e.path, e.line, e.col, e.end_line, e.end_col)


def _opt_loc(o) -> Location:
    return Location(o.path, o.line, o.col, o.line, o.end_col)


# --------------------------------------------------------------------------------------------
# UFW
# --------------------------------------------------------------------------------------------


@rule("PER060", "ufw-default-allow-incoming", "high", files="ufw", refs="CWE-284; CIS-Deb 4.1.7", fix="safe")
def ufw_default_allow_incoming(stack):
    """UFW lets every incoming connection in by default.

    ## What it does
    Flags `ufw default allow incoming` (or `ufw default allow` with no direction) in a script, and
    `DEFAULT_INPUT_POLICY="ACCEPT"` in `/etc/default/ufw`. `deny` and `reject` pass.

    ## Why is this bad?
    With an allow default the firewall only blocks what a rule denies: every port a host service
    opens (a database, a debug server, an exporter) is reachable from the internet.

    ## Example
    ```sh
    ufw default allow incoming
    ```

    ## Use instead
    ```sh
    ufw default deny incoming
    ```

    ## Fix safety
    Safe: the command (or the `DEFAULT_INPUT_POLICY` line) is rewritten to deny; the allow rules
    the script adds still open what they name.

    ## References
    CWE-284; CIS Debian 12 4.1.7.
    """
    for e in ufw_events(stack):
        if e.kind == "default" and e.direction == "in" and e.action == "allow":
            if e.origin == "default-file":
                new = 'DEFAULT_INPUT_POLICY="DROP"'
            else:
                new = ("sudo " if e.sudo else "") + "ufw default deny incoming"
            loc = _eloc(e)
            fix = Fix(f"replace with `{new}`", (Edit(loc, new),), "safe")
            yield hit(loc, "UFW's default incoming policy is allow: every port not denied is open",
                      fix=fix, snippet_key=e.text)


@rule("PER061", "ufw-port-outside-policy", "medium", files="ufw+config", refs="CWE-284; CIS-Deb 4.1.6; seed",
      fix="unsafe")
def ufw_port_outside_policy(stack):
    """A UFW rule opens a port the policy does not allow, to everyone.

    ## What it does
    Flags an `allow`/`limit` rule (a `ufw` command, an app profile, or a `### tuple ###` line of
    `user.rules`) from any source (`any`, `0.0.0.0/0`, `::/0`, or no `from`) to a port or range
    outside `perimeter.allowed_ports` (22, 80, 443 by default, the seed's "UFW (22, 80, 443
    solo)"), or to every port. Rules limited to a source network or an interface pass.

    ## Why is this bad?
    Every opened port is attack surface; the seed's perimeter promises only SSH and the web ports.

    ## Example
    ```sh
    ufw allow 5432/tcp
    ```

    ## Use instead
    ```sh
    ufw allow from 10.0.0.0/8 to any port 5432 proto tcp
    ```

    ## Fix safety
    Unsafe: deleting the rule may cut a service someone relies on.

    ## References
    CWE-284; CIS Debian 12 4.1.6.
    """
    allowed = {int(p) for p in (stack.policy.get("perimeter.allowed_ports") or []) if str(p).isdigit()}
    for e in ufw_events(stack):
        if e.kind != "rule" or e.delete or e.route or e.action not in ("allow", "limit") or e.direction != "in":
            continue
        if not e.from_anywhere:
            continue
        if e.ports is None:
            yield hit(_eloc(e), "UFW rule opens every port to everyone", snippet_key=e.text,
                      fix=Fix("delete the rule", (Edit(_eloc(e), ""),), "unsafe"))
            continue
        bad = []
        for lo, hi in e.ports:
            if lo == hi and lo in allowed:
                continue
            bad.append(str(lo) if lo == hi else f"{lo}:{hi}")
        if bad:
            yield hit(_eloc(e), f"UFW rule opens port {', '.join(bad)} to everyone, outside perimeter.allowed_ports "
                      f"({', '.join(map(str, sorted(allowed)))})", snippet_key=e.text,
                      fix=Fix("delete the rule", (Edit(_eloc(e), ""),), "unsafe"))


@rule("PER062", "ufw-disabled", "high", files="ufw", refs="CWE-284; CIS-Deb 4.1.3")
def ufw_disabled(stack):
    """UFW is switched off.

    ## What it does
    Flags `ufw disable`, a `ufw reset` not followed by `ufw enable`, `systemctl disable`/`stop`/
    `mask ufw`, and `ENABLED=no` in `ufw.conf`.

    ## Why is this bad?
    The rules the team wrote are not enforced: the host's perimeter is whatever each service binds.

    ## Example
    ```sh
    ufw --force reset
    ufw allow 22/tcp
    ```

    ## Use instead
    ```sh
    ufw --force reset
    ufw allow 22/tcp
    ufw --force enable
    ```

    ## References
    CWE-284; CIS Debian 12 4.1.3.
    """
    events = ufw_events(stack)
    for i, e in enumerate(events):
        if e.kind == "disable":
            yield hit(_eloc(e), "UFW is disabled here" if e.origin != "conf" else "ufw.conf sets ENABLED=no",
                      snippet_key=e.text)
        elif e.kind == "reset":
            if not any(x.kind == "enable" and x.path == e.path for x in events[i + 1:]):
                yield hit(_eloc(e), "`ufw reset` disables UFW and no `ufw enable` follows", snippet_key=e.text)


@rule("PER063", "ssh-not-rate-limited", "medium", files="ufw+fail2ban+sshd", refs="CWE-307; seed (UFW + Fail2Ban)",
      fix="safe")
def ssh_not_rate_limited(stack):
    """SSH is open to everyone with neither `ufw limit` nor a Fail2Ban sshd jail.

    ## What it does
    Flags a UFW `allow` rule opening the SSH port (sshd `Port`, else 22) from anywhere when no
    `[sshd]` Fail2Ban jail is enabled (a script installing the `fail2ban` package counts: Debian
    enables `sshd` in `jail.d/defaults-debian.conf`).

    ## Why is this bad?
    Password guessing and key-spraying bots hit every public SSH port; nothing slows them down.

    ## Example
    ```sh
    ufw allow 22/tcp
    ```

    ## Use instead
    ```sh
    ufw limit 22/tcp
    ```

    ## Fix safety
    Safe: `limit` still allows the port, and refuses an address opening 6 connections in 30 s.

    ## References
    CWE-307; seed (UFW + Fail2Ban).
    """
    if sshd_jail_enabled(stack):
        return
    ports = set(ssh_ports(stack))
    for e in ufw_events(stack):
        if e.kind != "rule" or e.action != "allow" or e.delete or e.route or e.direction != "in" or not e.from_anywhere:
            continue
        if e.ports is None or not any(e.covers(p) for p in ports):
            continue
        fix = None
        if e.origin == "command" and e.action_col:
            fix = Fix("`allow` -> `limit`", (Edit(Location(e.path, e.line, e.action_col, e.line, e.action_col + 5), "limit"),), "safe")
        elif e.origin == "tuple":
            fix = None
        yield hit(_eloc(e), f"SSH port {', '.join(map(str, sorted(ports)))} is allowed from anywhere without `ufw limit` "
                  "and no Fail2Ban sshd jail is enabled", fix=fix, snippet_key=e.text)


@rule("PER064", "published-port-bypasses-ufw", "high", files="compose+ufw",
      refs="CWE-668; Docker-fw \"Docker and ufw\"; moby/moby#4737; chaifeng/ufw-docker", fix="unsafe")
def published_port_bypasses_ufw(stack):
    """A port compose publishes is believed blocked by UFW, but Docker's DNAT bypasses UFW.

    ## What it does
    With UFW default-deny, flags a compose port published on all interfaces that no UFW
    `allow`/`limit` rule opens, or that a `deny`/`reject` rule names. Silent when `after.rules`
    sends `DOCKER-USER` to `ufw-user-forward`/`ufw-user-input` (ufw-docker) or `daemon.json` sets
    `"iptables": false`. The message names the UFW rule the team thinks protects the port. At such a
    port it replaces PER001 and PER003; a port of a service that asks for no credentials stays
    PER002's.

    ## Why is this bad?
    Docker publishes ports with DNAT rules in the `nat` table; the packets go through FORWARD,
    never INPUT, where UFW's rules live. `ufw deny 5432` does nothing for a published 5432.

    ## Example
    ```yaml
    services:
      db:
        ports: ["5432:5432"]   # ufw default deny incoming; ufw deny 5432
    ```

    ## Use instead
    ```yaml
        ports: ["127.0.0.1:5432:5432"]
    ```

    ## Fix safety
    Unsafe: clients that reached the port from outside lose access.

    ## References
    Docker docs "Packet filtering and firewalls" (Docker and ufw); moby/moby#4737; chaifeng/ufw-docker.
    """
    for b in ufw_bypasses(stack):
        svc, port, hp, believed, why = b.svc, b.port, b.host_port, b.believed, b.why
        node = port.node
        loc = yloc(svc.doc.path, node)
        line_text = svc.doc.line_text(node.line) if hasattr(svc.doc, "line_text") else ""
        fix = None
        raw = node.raw if isinstance(getattr(node, "raw", None), str) else None
        if raw and node.line == node.end_line and raw.count(":") == 1:
            start = line_text.find(raw, node.col - 1)
            if start >= 0:
                fix = Fix("bind the port to 127.0.0.1", (Edit(Location(svc.doc.path, node.line, start + 1), "127.0.0.1:"),), "unsafe")
        yield hit(loc, f"service `{svc.name}` publishes host port {hp} on all interfaces; {why}, but Docker's DNAT "
                  "sends published ports through FORWARD, never UFW's INPUT rules: the port is open",
                  fix=fix, related=[_eloc(believed)], snippet_key=f"{svc.name}:{hp}")


# --------------------------------------------------------------------------------------------
# Fail2Ban
# --------------------------------------------------------------------------------------------


@rule("PER070", "f2b-sshd-jail-disabled", "medium", files="fail2ban", refs="CWE-307; f2b jail.conf", fix="safe")
def f2b_sshd_jail_disabled(stack):
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
        loc = _entry_loc(e)
        fix = Fix("set `enabled = true`", (Edit(Location(e.path, e.line, e.value_col, e.end_line, e.end_col), "true"),), "safe") \
            if e.line == e.end_line else None
        yield hit(loc, f"the effective [sshd] jail is disabled (enabled = {e.value})", fix=fix, snippet_key="sshd enabled")


@rule("PER071", "f2b-ignoreip-too-broad", "medium", files="fail2ban", refs="CWE-307; f2b jail.conf", fix="safe")
def f2b_ignoreip_too_broad(stack):
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
                          (Edit(Location(e.path, e.line, e.value_col, e.end_line, e.end_col), rest),), "safe") \
                    if e.line == e.end_line else None
                yield hit(_entry_loc(e), f"ignoreip: {why}: those clients are never banned", fix=fix,
                          snippet_key=f"ignoreip {item}")


def _policy_seconds(stack, key: str) -> int:
    v = stack.policy.get(key)
    s = duration_seconds(str(v)) if v is not None else None
    return s if s is not None else 600


@rule("PER072", "f2b-threshold-weak", "low", files="fail2ban+config", refs="CWE-307; f2b jail.conf defaults",
      fix="safe")
def f2b_threshold_weak(stack):
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
        if e is not None and j.value("maxretry", "").strip().isdigit() and int(j.value("maxretry")) > max_retry:
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
            fix = Fix(f"set {entry.key} = {new}", (Edit(Location(entry.path, entry.line, entry.value_col, entry.end_line, entry.end_col), new),), "safe") \
                if entry.line == entry.end_line else None
            yield hit(_entry_loc(entry), f"jail [{j.name}]: {why} (policy)", fix=fix, snippet_key=f"{j.name} {entry.key}")


_ERROR_LOG_JAILS = ("nginx-limit-req", "nginx-http-auth")
_ACCESS_LOG_JAILS = ("nginx-botsearch", "nginx-bad-request")
_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"]


def _gateway_log_targets(stack, svc, directive: str) -> list[tuple[str, object]]:
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
def f2b_log_never_written(stack):
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
                yield hit(_entry_loc(lp), f"jail [{j.name}] reads {logpath}, which the containerised gateway never "
                          f"writes: {problem}", related=related, snippet_key=f"{j.name} logpath")


@rule("PER074", "f2b-ban-bypassed-by-docker", "medium", files="fail2ban+compose",
      refs="CWE-284; Docker-fw (DOCKER-USER); f2b iptables.conf, nftables.conf; binwiederhier/ntfy#1175", fix="safe")
def f2b_ban_bypassed_by_docker(stack):
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
        loc = _entry_loc(ba) if ba is not None and ba.path != "" else _entry_loc(j.header)
        hdr = j.header
        fix = Fix(f"add `{line}` to [{j.name}]", (Edit(Location(hdr.path, hdr.line + 1, 1), line + "\n"),), "safe") \
            if kind != "ufw" else None
        yield hit(loc, f"jail [{j.name}] bans published port {', '.join(map(str, hits))} on the {chain} chain: Docker "
                  f"sends published traffic through FORWARD, so the ban never applies (needs `{line}`)",
                  fix=fix, related=[_entry_loc(hdr)], snippet_key=f"{j.name} chain")


@rule("PER075", "f2b-jail-port-mismatch", "medium", files="fail2ban+sshd+compose",
      refs="CWE-307; Docker-fw (\"match the original IP and ports\")", fix="unsafe")
def f2b_jail_port_mismatch(stack):
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
            yield hit(_entry_loc(e), f"jail [sshd] bans port {ssh.value('port')} but sshd listens on "
                      f"{', '.join(map(str, sp))}", snippet_key="sshd port",
                      fix=Fix(f"set port = {','.join(map(str, sp))}",
                              (Edit(Location(e.path, e.line, e.value_col, e.end_line, e.end_col), ",".join(map(str, sp))),), "unsafe")
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
            yield hit(_entry_loc(e), f"jail [{j.name}] bans port {j.value('port')} but the gateway's {where} are "
                      f"{', '.join(map(str, want))}", snippet_key=f"{j.name} port")


@rule("PER076", "f2b-gateway-jail-missing", "low", files="fail2ban+nginx", refs="CWE-307; f2b jail.conf; seed",
      fix="unsafe")
def f2b_gateway_jail_missing(stack):
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
                  fix=Fix(f"append a [{jail}] jail", (Edit(Location(target.path, lines + 1, 1), block),), "unsafe"))


# --------------------------------------------------------------------------------------------
# sshd
# --------------------------------------------------------------------------------------------


def _set_value_fix(o, new: str, how: str) -> Fix:
    return Fix(f"set `{o.keyword} {new}`", (Edit(Location(o.path, o.line, o.value_col, o.line, o.end_col), new),), how)


def _explicit(stack, key: str):
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


@rule("PER080", "ssh-root-login", "high", files="sshd", refs="CWE-250; CIS-Deb 5.1.20; Moz-ssh", fix="unsafe")
def ssh_root_login(stack):
    """sshd lets root log in with a password.

    ## What it does
    Flags `PermitRootLogin yes` (the first value sshd reads, or one in a `Match` block).
    `prohibit-password`, `without-password`, `forced-commands-only` and `no` pass; absent means
    `prohibit-password` since OpenSSH 7.0.

    ## Why is this bad?
    root exists on every host: a password-guessing bot needs no user name, and a success owns the
    machine, its Docker socket and every secret.

    ## Example
    ```
    PermitRootLogin yes
    ```

    ## Use instead
    ```
    PermitRootLogin no
    ```

    ## Fix safety
    Unsafe: administrators need a sudo user with a key before root login is closed.

    ## References
    CWE-250; CIS Debian 12 5.1.20; Mozilla OpenSSH guidelines.
    """
    for o in _explicit(stack, "permitrootlogin"):
        if o.args[0].lower() == "yes":
            yield hit(_opt_loc(o), "PermitRootLogin yes: root may log in with a password", snippet_key="PermitRootLogin",
                      fix=_set_value_fix(o, "no", "unsafe"))


@rule("PER081", "ssh-password-auth", "medium", files="sshd", refs="CWE-309; Moz-ssh (AuthenticationMethods publickey)",
      fix="unsafe")
def ssh_password_auth(stack):
    """sshd accepts passwords.

    ## What it does
    Flags `PasswordAuthentication yes`, and `KbdInteractiveAuthentication` (or
    `ChallengeResponseAuthentication`) `yes` with `UsePAM yes`. An absent `PasswordAuthentication`
    counts as `yes` (OpenSSH's default) only when the file has no `Include` of a file the repository
    does not ship (a drop-in could set it); it then points at line 1.

    ## Why is this bad?
    Passwords can be guessed, phished and reused; keys cannot be brute-forced.

    ## Example
    ```
    PasswordAuthentication yes
    ```

    ## Use instead
    ```
    PasswordAuthentication no
    KbdInteractiveAuthentication no
    ```

    ## Fix safety
    Unsafe: every user needs a key first.

    ## References
    CWE-309; Mozilla OpenSSH guidelines.
    """
    v = sshd_view(stack)
    if v is None:
        return
    pa = _explicit(stack, "passwordauthentication")
    for o in pa:
        if o.args[0].lower() == "yes":
            yield hit(_opt_loc(o), "PasswordAuthentication yes: sshd accepts passwords", snippet_key="PasswordAuthentication",
                      fix=_set_value_fix(o, "no", "unsafe"))
    if v.get("passwordauthentication") is None and not v.unknown and v.main is not None:
        yield hit(Location(v.main.path, 1, 1), "PasswordAuthentication is not set: OpenSSH's default is yes",
                  snippet_key="PasswordAuthentication default")
    pam = v.get("usepam")
    if pam is not None and pam.args[0].lower() == "yes":
        for o in _explicit(stack, "kbdinteractiveauthentication"):
            if o.args[0].lower() == "yes":
                yield hit(_opt_loc(o), f"{o.keyword} yes with UsePAM yes: PAM asks for a password",
                          snippet_key="KbdInteractiveAuthentication", fix=_set_value_fix(o, "no", "unsafe"))


@rule("PER082", "ssh-empty-passwords", "high", files="sshd", refs="CWE-287; CIS-Deb 5.1.19", fix="safe")
def ssh_empty_passwords(stack):
    """sshd lets accounts with an empty password log in.

    ## What it does
    Flags `PermitEmptyPasswords yes`.

    ## Why is this bad?
    Any account whose password is empty (service accounts, a freshly created user) becomes a
    passwordless login from the internet.

    ## Example
    ```
    PermitEmptyPasswords yes
    ```

    ## Use instead
    ```
    PermitEmptyPasswords no
    ```

    ## References
    CWE-287; CIS Debian 12 5.1.19.
    """
    for o in _explicit(stack, "permitemptypasswords"):
        if o.args[0].lower() == "yes":
            yield hit(_opt_loc(o), "PermitEmptyPasswords yes", snippet_key="PermitEmptyPasswords",
                      fix=_set_value_fix(o, "no", "safe"))


@rule("PER083", "ssh-forwarding-enabled", "low", files="sshd", refs="CWE-668; CIS-Deb 5.1.8", fix="unsafe")
def ssh_forwarding_enabled(stack):
    """sshd lets logins forward ports, X11 or tunnels.

    ## What it does
    Flags explicit `X11Forwarding yes`, `AllowTcpForwarding yes/all/local/remote`, `GatewayPorts
    yes/clientspecified` and `PermitTunnel` other than `no`, unless `DisableForwarding yes`.

    ## Why is this bad?
    TCP forwarding lets any SSH login reach ports bound to `127.0.0.1` — the very ports PER001's fix
    hides the databases behind.

    ## Example
    ```
    AllowTcpForwarding yes
    ```

    ## Use instead
    ```
    DisableForwarding yes
    ```

    ## Fix safety
    Unsafe: administrators who tunnel to the database lose that path.

    ## References
    CWE-668; CIS Debian 12 5.1.8.
    """
    v = sshd_view(stack)
    if v is None:
        return
    dis = v.get("disableforwarding")
    if dis is not None and dis.args[0].lower() == "yes":
        return
    bad = {"x11forwarding": {"yes"}, "allowtcpforwarding": {"yes", "all", "local", "remote"},
           "gatewayports": {"yes", "clientspecified"}, "permittunnel": {"yes", "point-to-point", "ethernet"}}
    for key, values in bad.items():
        for o in _explicit(stack, key):
            if o.args[0].lower() in values:
                yield hit(_opt_loc(o), f"{o.keyword} {o.args[0]}: SSH logins may forward traffic", snippet_key=o.keyword,
                          fix=Fix("set `DisableForwarding yes`",
                                  (Edit(Location(o.path, o.line, o.col, o.line, o.end_col), "DisableForwarding yes"),), "unsafe"))


@rule("PER084", "ssh-max-auth-tries-high", "low", files="sshd+config", refs="CWE-307; CIS-Deb 5.1.16", fix="safe")
def ssh_max_auth_tries_high(stack):
    """sshd allows many authentication attempts per connection.

    ## What it does
    Flags an explicit `MaxAuthTries` above `ssh.max_auth_tries` (4, CIS).

    ## Why is this bad?
    Each connection can try that many passwords or keys before sshd drops it; Fail2Ban counts
    connections' failures later.

    ## Example
    ```
    MaxAuthTries 10
    ```

    ## Use instead
    ```
    MaxAuthTries 4
    ```

    ## References
    CWE-307; CIS Debian 12 5.1.16.
    """
    limit = int(stack.policy.get("ssh.max_auth_tries") or 4)
    for o in _explicit(stack, "maxauthtries"):
        if o.args[0].isdigit() and int(o.args[0]) > limit:
            yield hit(_opt_loc(o), f"MaxAuthTries {o.args[0]} > {limit}", snippet_key="MaxAuthTries",
                      fix=_set_value_fix(o, str(limit), "safe"))


_WEAK = re.compile(
    r"^(3des-cbc|arcfour\S*|blowfish-cbc|cast128-cbc|rijndael-cbc@lysator\.liu\.se|hmac-md5\S*|hmac-sha1-96\S*|"
    r"umac-64\S*|hmac-ripemd160\S*|diffie-hellman-group1-sha1|diffie-hellman-group14-sha1|"
    r"diffie-hellman-group-exchange-sha1|ssh-dss(-cert-v01@openssh\.com)?|ssh-rsa(-cert-v01@openssh\.com)?)$", re.I)


@rule("PER085", "ssh-weak-algorithm", "medium", files="sshd", refs="CWE-327; CIS-Deb 5.1.6, 5.1.12, 5.1.15; Moz-ssh; ssh-audit",
      fix="safe")
def ssh_weak_algorithm(stack):
    """sshd offers an algorithm ssh-audit rates "fail".

    ## What it does
    Flags explicit or `+`/`^`-added entries of `Ciphers`, `MACs`, `KexAlgorithms`,
    `HostKeyAlgorithms` and `PubkeyAcceptedAlgorithms`: `3des-cbc`, `arcfour*`, `blowfish-cbc`,
    `cast128-cbc`, `hmac-md5*`, `hmac-sha1-96*`, `umac-64*`, `hmac-ripemd160*`,
    `diffie-hellman-group1-sha1`, `diffie-hellman-group14-sha1`,
    `diffie-hellman-group-exchange-sha1`, `ssh-dss`, `ssh-rsa` (SHA-1 signatures).

    ## Why is this bad?
    A client (or a downgrade) that negotiates them gets broken confidentiality, integrity or key
    exchange.

    ## Example
    ```
    Ciphers +3des-cbc
    ```

    ## Use instead
    ```
    Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com
    ```

    ## Fix safety
    Safe: only the weak entries are deleted; OpenSSH's defaults remain.

    ## References
    CWE-327; CIS Debian 12 5.1.6, 5.1.12, 5.1.15; Mozilla OpenSSH; ssh-audit.
    """
    v = sshd_view(stack)
    if v is None:
        return
    for key in ("ciphers", "macs", "kexalgorithms", "hostkeyalgorithms", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes"):
        for o in _explicit(stack, key):
            val = o.args[0]
            if val.startswith("-"):
                continue
            prefix = val[0] if val[:1] in "+^" else ""
            items = val[len(prefix):].split(",")
            weak = [x for x in items if _WEAK.match(x)]
            if weak:
                keep = [x for x in items if x not in weak]
                fix = _set_value_fix(o, prefix + ",".join(keep), "safe") if keep else \
                    Fix(f"delete the {o.keyword} line", (Edit(Location(o.path, o.line, 1, o.line + 1, 1), ""),), "safe")
                yield hit(_opt_loc(o), f"{o.keyword} offers {', '.join(weak)} (ssh-audit: fail)",
                          snippet_key=f"{o.keyword} {','.join(weak)}", fix=fix)

"""Perimeter, host family: the host firewall (UFW), Fail2Ban jails and the SSH daemon, read with the
compose stack they protect (Docker's DNAT bypasses UFW and INPUT bans alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.host import (
    host_entry_loc,
    ssh_ports,
    sshd_jail_enabled,
    ufw_bypasses,
    ufw_events,
)
from rules.helpers.locations import yloc
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


# --------------------------------------------------------------------------------------------
# UFW
# --------------------------------------------------------------------------------------------


@rule("PER060", "ufw-default-allow-incoming", "high", files="ufw", refs="CWE-284; CIS-Deb 4.1.7", fix="safe")
def ufw_default_allow_incoming(stack: Stack):
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
            loc = host_entry_loc(e)
            fix = Fix(f"replace with `{new}`", (Edit(loc, new),))
            yield hit(loc, "UFW's default incoming policy is allow: every port not denied is open",
                      fix=fix, snippet_key=e.text)


@rule("PER061", "ufw-port-outside-policy", "medium", files="ufw+config", refs="CWE-284; CIS-Deb 4.1.6; seed",
      fix="unsafe")
def ufw_port_outside_policy(stack: Stack):
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
            yield hit(host_entry_loc(e), "UFW rule opens every port to everyone", snippet_key=e.text,
                      fix=Fix("delete the rule", (Edit(host_entry_loc(e), ""),)))
            continue
        bad = []
        for lo, hi in e.ports:
            if lo == hi and lo in allowed:
                continue
            bad.append(str(lo) if lo == hi else f"{lo}:{hi}")
        if bad:
            yield hit(host_entry_loc(e), f"UFW rule opens port {', '.join(bad)} to everyone, outside perimeter.allowed_ports "
                      f"({', '.join(map(str, sorted(allowed)))})", snippet_key=e.text,
                      fix=Fix("delete the rule", (Edit(host_entry_loc(e), ""),)))


@rule("PER062", "ufw-disabled", "high", files="ufw", refs="CWE-284; CIS-Deb 4.1.3")
def ufw_disabled(stack: Stack):
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
            yield hit(host_entry_loc(e), "UFW is disabled here" if e.origin != "conf" else "ufw.conf sets ENABLED=no",
                      snippet_key=e.text)
        elif e.kind == "reset":
            if not any(x.kind == "enable" and x.path == e.path for x in events[i + 1:]):
                yield hit(host_entry_loc(e), "`ufw reset` disables UFW and no `ufw enable` follows", snippet_key=e.text)


@rule("PER063", "ssh-not-rate-limited", "medium", files="ufw+fail2ban+sshd", refs="CWE-307; seed (UFW + Fail2Ban)",
      fix="safe")
def ssh_not_rate_limited(stack: Stack):
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
            fix = Fix("`allow` -> `limit`", (Edit(Location(e.path, e.line, e.action_col, e.line, e.action_col + 5), "limit"),))
        elif e.origin == "tuple":
            fix = None
        yield hit(host_entry_loc(e), f"SSH port {', '.join(map(str, sorted(ports)))} is allowed from anywhere without `ufw limit` "
                  "and no Fail2Ban sshd jail is enabled", fix=fix, snippet_key=e.text)


@rule("PER064", "published-port-bypasses-ufw", "high", files="compose+ufw",
      refs="CWE-668; Docker-fw \"Docker and ufw\"; moby/moby#4737; chaifeng/ufw-docker", fix="unsafe")
def published_port_bypasses_ufw(stack: Stack):
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
                fix = Fix("bind the port to 127.0.0.1", (Edit(Location(svc.doc.path, node.line, start + 1), "127.0.0.1:"),))
        yield hit(loc, f"service `{svc.name}` publishes host port {hp} on all interfaces; {why}, but Docker's DNAT "
                  "sends published ports through FORWARD, never UFW's INPUT rules: the port is open",
                  fix=fix, related=[host_entry_loc(believed)], snippet_key=f"{svc.name}:{hp}")

"""Perimeter, SSH family (PER080-PER085): the host's sshd configuration (root login, passwords, forwarding, algorithms)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.host import (
    explicit_option,
    option_loc,
    set_value_fix,
    sshd_view,
)
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule
from scanner.lazyre import LazyRe
from scanner.parsers.base import small_int

if TYPE_CHECKING:
    from scanner.stack import Stack


@rule("PER080", "ssh-root-login", "high", files="sshd", refs="CWE-250; CIS-Deb 5.1.20; Moz-ssh", fix="unsafe")
def ssh_root_login(stack: Stack):
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
    for o in explicit_option(stack, "permitrootlogin"):
        if o.args[0].lower() == "yes":
            yield hit(option_loc(o), "PermitRootLogin yes: root may log in with a password", snippet_key="PermitRootLogin",
                      fix=set_value_fix(o, "no", "unsafe"))


@rule("PER081", "ssh-password-auth", "medium", files="sshd", refs="CWE-309; Moz-ssh (AuthenticationMethods publickey)",
      fix="unsafe")
def ssh_password_auth(stack: Stack):
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
    pa = explicit_option(stack, "passwordauthentication")
    for o in pa:
        if o.args[0].lower() == "yes":
            yield hit(option_loc(o), "PasswordAuthentication yes: sshd accepts passwords", snippet_key="PasswordAuthentication",
                      fix=set_value_fix(o, "no", "unsafe"))
    if v.get("passwordauthentication") is None and not v.unknown and v.main is not None:
        yield hit(Location(v.main.path, 1, 1), "PasswordAuthentication is not set: OpenSSH's default is yes",
                  snippet_key="PasswordAuthentication default")
    pam = v.get("usepam")
    if pam is not None and pam.args[0].lower() == "yes":
        for o in explicit_option(stack, "kbdinteractiveauthentication"):
            if o.args[0].lower() == "yes":
                yield hit(option_loc(o), f"{o.keyword} yes with UsePAM yes: PAM asks for a password",
                          snippet_key="KbdInteractiveAuthentication", fix=set_value_fix(o, "no", "unsafe"))


@rule("PER082", "ssh-empty-passwords", "high", files="sshd", refs="CWE-287; CIS-Deb 5.1.19", fix="safe")
def ssh_empty_passwords(stack: Stack):
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
    for o in explicit_option(stack, "permitemptypasswords"):
        if o.args[0].lower() == "yes":
            yield hit(option_loc(o), "PermitEmptyPasswords yes", snippet_key="PermitEmptyPasswords",
                      fix=set_value_fix(o, "no", "safe"))


@rule("PER083", "ssh-forwarding-enabled", "low", files="sshd", refs="CWE-668; CIS-Deb 5.1.8", fix="unsafe")
def ssh_forwarding_enabled(stack: Stack):
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
        for o in explicit_option(stack, key):
            if o.args[0].lower() in values:
                yield hit(option_loc(o), f"{o.keyword} {o.args[0]}: SSH logins may forward traffic", snippet_key=o.keyword,
                          fix=Fix("set `DisableForwarding yes`",
                                  (Edit(Location(o.path, o.line, o.col, o.line, o.end_col), "DisableForwarding yes"),)))


@rule("PER084", "ssh-max-auth-tries-high", "low", files="sshd+config", refs="CWE-307; CIS-Deb 5.1.16", fix="safe")
def ssh_max_auth_tries_high(stack: Stack):
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
    for o in explicit_option(stack, "maxauthtries"):
        if (small_int(o.args[0]) or 0) > limit:
            yield hit(option_loc(o), f"MaxAuthTries {o.args[0]} > {limit}", snippet_key="MaxAuthTries",
                      fix=set_value_fix(o, str(limit), "safe"))


_WEAK = LazyRe(
    r"^(3des-cbc|arcfour\S*|blowfish-cbc|cast128-cbc|rijndael-cbc@lysator\.liu\.se|hmac-md5\S*|hmac-sha1-96\S*|"
    r"umac-64\S*|hmac-ripemd160\S*|diffie-hellman-group1-sha1|diffie-hellman-group14-sha1|"
    r"diffie-hellman-group-exchange-sha1|ssh-dss(-cert-v01@openssh\.com)?|ssh-rsa(-cert-v01@openssh\.com)?)$", re.I)


@rule("PER085", "ssh-weak-algorithm", "medium", files="sshd", refs="CWE-327; CIS-Deb 5.1.6, 5.1.12, 5.1.15; Moz-ssh; ssh-audit",
      fix="safe")
def ssh_weak_algorithm(stack: Stack):
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
        for o in explicit_option(stack, key):
            val = o.args[0]
            if val.startswith("-"):
                continue
            prefix = val[0] if val[:1] in "+^" else ""
            items = val[len(prefix):].split(",")
            weak = [x for x in items if _WEAK.match(x)]
            if weak:
                keep = [x for x in items if x not in weak]
                fix = set_value_fix(o, prefix + ",".join(keep), "safe") if keep else \
                    Fix(f"delete the {o.keyword} line", (Edit(Location(o.path, o.line, 1, o.line + 1, 1), ""),))
                yield hit(option_loc(o), f"{o.keyword} offers {', '.join(weak)} (ssh-audit: fail)",
                          snippet_key=f"{o.keyword} {','.join(weak)}", fix=fix)

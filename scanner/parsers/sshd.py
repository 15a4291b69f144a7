"""OpenSSH ``sshd_config`` and ``sshd_config.d/*.conf`` drop-ins, with positions.

Written by hand because no maintained Python library parses sshd_config with line numbers (paramiko
reads the *client* ``ssh_config``). The grammar is sshd's own ``servconf.c``: one ``Keyword
arguments`` per line (``Keyword=arguments`` too), keywords case-insensitive, ``#`` comments, double
quotes group an argument; ``Match`` starts a block running to the next ``Match`` or the end of the
file; ``Include`` pulls files in where it stands. For every keyword outside ``Match`` the **first**
value sshd reads wins — so an ``Include`` on line 1 lets a drop-in override the main file.

Errors sshd itself rejects (``sshd -t``) are ``ParseError``s: an unknown keyword, a keyword with no
argument, a yes/no keyword with another value, a bad ``Port``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .base import Document, ParseError
from ..lazyre import LazyRe
from .base import small_int

__all__ = ["Option", "SshdDocument", "parse", "KEYWORDS"]

KEYWORDS = {k.lower(): k for k in (
    "AcceptEnv AddressFamily AllowAgentForwarding AllowGroups AllowStreamLocalForwarding AllowTcpForwarding "
    "AllowUsers AuthenticationMethods AuthorizedKeysCommand AuthorizedKeysCommandUser AuthorizedKeysFile "
    "AuthorizedPrincipalsCommand AuthorizedPrincipalsCommandUser AuthorizedPrincipalsFile Banner "
    "CASignatureAlgorithms ChannelTimeout ChrootDirectory Ciphers ClientAliveCountMax ClientAliveInterval "
    "Compression DebianBanner DenyGroups DenyUsers DisableForwarding ExposeAuthInfo FingerprintHash ForceCommand "
    "GatewayPorts GSSAPIAuthentication GSSAPICleanupCredentials GSSAPIKeyExchange GSSAPIStrictAcceptorCheck "
    "GSSAPIStoreCredentialsOnRekey GSSAPIKexAlgorithms HostbasedAcceptedAlgorithms HostbasedAuthentication "
    "HostbasedUsesNameFromPacketOnly HostCertificate HostKey HostKeyAgent HostKeyAlgorithms IgnoreRhosts "
    "IgnoreUserKnownHosts Include IPQoS KbdInteractiveAuthentication KerberosAuthentication KerberosGetAFSToken "
    "KerberosOrLocalPasswd KerberosTicketCleanup KexAlgorithms ListenAddress LoginGraceTime LogLevel LogVerbose "
    "MACs Match MaxAuthTries MaxSessions MaxStartups ModuliFile PasswordAuthentication PermitEmptyPasswords "
    "PermitListen PermitOpen PermitRootLogin PermitTTY PermitTunnel PermitUserEnvironment PermitUserRC "
    "PerSourceMaxStartups PerSourceNetBlockSize PidFile Port PrintLastLog PrintMotd PubkeyAcceptedAlgorithms "
    "PubkeyAuthOptions PubkeyAuthentication RekeyLimit RequiredRSASize RevokedKeys SecurityKeyProvider SetEnv "
    "StreamLocalBindMask StreamLocalBindUnlink StrictModes Subsystem SyslogFacility TCPKeepAlive "
    "TrustedUserCAKeys UnusedConnectionTimeout UseDNS UsePAM VersionAddendum X11DisplayOffset X11Forwarding "
    "X11UseLocalhost XAuthLocation "
    # aliases and deprecated keywords sshd still accepts (servconf.c keywords[])
    "ChallengeResponseAuthentication PubkeyAcceptedKeyTypes HostbasedAcceptedKeyTypes Protocol "
    "UsePrivilegeSeparation KeyRegenerationInterval ServerKeyBits RSAAuthentication RhostsRSAAuthentication "
    "UseLogin DSAAuthentication SkeyAuthentication PrintLastLog AuthorizedKeysFile2 RDomain KerberosGetAFSToken"
).split()}

_YES_NO = {"passwordauthentication", "permitemptypasswords", "x11forwarding", "pubkeyauthentication",
           "kbdinteractiveauthentication", "challengeresponseauthentication", "usepam", "disableforwarding",
           "printmotd", "strictmodes", "ignorerhosts", "hostbasedauthentication", "x11uselocalhost",
           "tcpkeepalive", "usedns", "permituserrc", "allowagentforwarding", "permittty", "gssapiauthentication"}
_CHOICES = {
    "permitrootlogin": {"yes", "no", "prohibit-password", "without-password", "forced-commands-only"},
    "allowtcpforwarding": {"yes", "no", "all", "local", "remote"},
    "gatewayports": {"yes", "no", "clientspecified"},
    "permittunnel": {"yes", "no", "point-to-point", "ethernet"},
}


class Option:
    keyword: str  # canonical spelling
    args: list[str]
    line: int
    col: int
    end_col: int  # end of the line's content (exclusive)
    value_col: int  # column of the first argument
    match: str | None = None  # the Match criteria this option is under, or None (global)
    path: str = ""

    __match_args__ = ("keyword", "args", "line", "col", "end_col", "value_col", "match", "path")

    def __init__(self, keyword, args, line, col, end_col, value_col, match=None, path=""):
        self.keyword = keyword
        self.args = args
        self.line = line
        self.col = col
        self.end_col = end_col
        self.value_col = value_col
        self.match = match
        self.path = path

    @property
    def key(self) -> str:
        return self.keyword.lower()

    @property
    def value(self) -> str:
        return " ".join(self.args)


@dataclass(repr=False)
class SshdDocument(Document):
    comments: list = field(default_factory=list)  # (line, text after the comment mark): suppressions
    options: list[Option] = field(default_factory=list)  # file order, Match blocks included
    includes: list[Option] = field(default_factory=list)

    def global_options(self) -> list[Option]:
        return [o for o in self.options if o.match is None]


# the value's trailing blanks are stripped in code: a lazy ``(.*?)[ \t]*$`` rescans a blank run per character
_LINE = LazyRe(r"^([ \t]*)([A-Za-z0-9]+)(?:[ \t]*=[ \t]*|[ \t]+|$)(.*)$")


def parse(text: str, rel: str) -> SshdDocument:
    doc = SshdDocument(rel, text)
    doc.comments = [(n, ln.strip()[1:].strip()) for n, ln in enumerate(text.splitlines(), 1)
                    if ln.strip()[:1] in "#" and ln.strip()[:1] and not ln.strip().startswith('### tuple')]
    match: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _LINE.match(raw)
        if not m:
            doc.errors.append(ParseError(f"sshd_config: cannot read line: {stripped[:40]!r}", n, len(raw) - len(raw.lstrip()) + 1))
            continue
        indent, kw, rest = m.groups()
        rest = rest.rstrip(" \t")
        col = len(indent) + 1
        canon = KEYWORDS.get(kw.lower())
        if canon is None:
            doc.errors.append(ParseError(f"sshd_config: bad configuration option: {kw}", n, col))
            continue
        rest = rest.split(" #", 1)[0] if canon != "Match" else rest
        try:
            args = shlex.split(rest, comments=True)
        except ValueError:
            doc.errors.append(ParseError(f"sshd_config: unbalanced quotes in {canon}", n, col))
            continue
        if not args:
            doc.errors.append(ParseError(f"sshd_config: {canon} is missing its argument", n, col))
            continue
        value_col = raw.find(rest, col) + 1 if rest else len(raw) + 1
        low = canon.lower()
        if low in _YES_NO and args[0].lower() not in ("yes", "no"):
            doc.errors.append(ParseError(f"sshd_config: {canon} must be yes or no, not {args[0]!r}", n, value_col))
            continue
        if low in _CHOICES and args[0].lower() not in _CHOICES[low]:
            doc.errors.append(ParseError(f"sshd_config: unsupported {canon} value {args[0]!r}", n, value_col))
            continue
        if low == "port" and not 0 < (small_int(args[0]) or 0) < 65536:
            doc.errors.append(ParseError(f"sshd_config: bad port number {args[0]!r}", n, value_col))
            continue
        if low in ("maxauthtries", "maxsessions", "clientalivecountmax") and small_int(args[0]) is None:
            doc.errors.append(ParseError(f"sshd_config: {canon} needs an integer, not {args[0]!r}", n, value_col))
            continue
        if canon == "Match":
            match = " ".join(args)
            if match.lower() == "all":
                match = None
            continue
        opt = Option(canon, args, n, col, len(raw.rstrip()) + 1, value_col, match, rel)
        doc.options.append(opt)
        if canon == "Include":
            doc.includes.append(opt)
    return doc

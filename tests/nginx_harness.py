"""Run the real ``nginx -t`` on a stack's nginx configuration, laid out as the gateway container sees it.

    from tests.nginx_harness import nginx_t

    ok, output = nginx_t(Path("fixtures/rules/GW035/bad"))      # a stack directory
    ok, output = nginx_t([Path("site.conf")])                   # or bare nginx files

What it does, in order:

1. Builds the dkscan ``Stack`` of the target (so the compose mounts and nginx includes are read the
   way the rules read them).
2. **Layout.** For each nginx gateway service of the compose file, copies every bind-mounted host
   file or directory to ``<tmp>/fs/<container path>``; named volumes and bind sources missing from
   the repository become empty directories (certbot's volume, ``./certbot/conf``). Without a mounted
   ``/etc/nginx/nginx.conf`` the official image's own ``nginx.conf`` (which includes
   ``conf.d/*.conf``) is used. The image's ``mime.types``/``*_params`` come from the host's
   ``/etc/nginx`` (Debian's nginx), or a minimal stand-in. A bare configuration (no compose) is
   copied to ``/etc/nginx/``; a fragment is wrapped: an http-context file is included from a minimal
   main config with ``events {}`` and ``http {}``, a server-context file inside a ``server {}``.
3. **Rewrite** (line numbers kept, so nginx's messages point at the fixture's lines): absolute
   paths of path-taking directives (``include``, ``ssl_certificate``, ``root``, logs, caches, temp
   paths, ...) are prefixed with ``<tmp>/fs``; ``user``, ``pid`` and ``load_module`` are blanked (pid
   and error_log go through ``-g``); directives the local nginx build does not know (newer than its
   version, e.g. ``add_header_inherit`` 1.29.3, ``http2 on`` 1.25.1, or third-party modules such as
   headers-more's ``more_set_headers``) are blanked and listed in the output; key-exchange groups
   the local OpenSSL lacks (``X25519MLKEM768``) are dropped from ``ssl_ecdh_curve``.
4. **Hosts.** ``nginx -t`` resolves upstream names: hosts of ``*_pass`` and ``upstream`` ``server``
   lines that are compose services (names, ``container_name``, aliases) or dotted DNS names become
   ``127.0.0.1``; without a compose file every host name does. A single-label name no compose
   service provides is left alone, so ``nginx -t`` fails as it would in the container.
5. **Secrets material.** Self-signed certificate and key (``cryptography``, EC P-256) at every
   ``ssl_certificate``/``_key``/``ssl_trusted_certificate``/``ssl_client_certificate`` path that lies
   under a gateway mount (any path without a compose file), RFC 7919 ffdhe2048 for ``ssl_dhparam``,
   a random ticket key, a CRL; certbot's generated ``options-ssl-nginx.conf`` when a config includes
   it from a mount. A path under no mount stays missing, as in the container.
6. Runs ``nginx -t -p <fs>/etc/nginx/ -c <fs>/etc/nginx/nginx.conf -g 'pid …; error_log …;'`` and
   returns ``(ok, output)``; several gateways (or several bare configurations) are all tested,
   ``ok`` only when every one passes.

``nginx_binary()`` finds ``nginx`` (PATH, then ``/usr/sbin/nginx``); ``require_nginx()`` fails the
calling test with a clear message when it is missing (CI installs it with ``.ci/deps``).
"""

from __future__ import annotations

import datetime
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable

from scanner.parsers import nginx as nginx_parser
from scanner.stack import build_stack

# Directives whose argument (index) is a file or directory path.
PATH_ARGS = {
    "include": 0, "ssl_certificate": 0, "ssl_certificate_key": 0, "ssl_trusted_certificate": 0,
    "ssl_client_certificate": 0, "ssl_dhparam": 0, "ssl_crl": 0, "ssl_stapling_file": 0,
    "ssl_password_file": 0, "ssl_session_ticket_key": 0, "proxy_ssl_certificate": 0,
    "proxy_ssl_certificate_key": 0, "proxy_ssl_trusted_certificate": 0, "proxy_ssl_crl": 0,
    "proxy_ssl_password_file": 0, "root": 0, "alias": 0, "access_log": 0, "error_log": 0,
    "proxy_cache_path": 0, "fastcgi_cache_path": 0, "uwsgi_cache_path": 0, "scgi_cache_path": 0,
    "client_body_temp_path": 0, "proxy_temp_path": 0, "fastcgi_temp_path": 0, "uwsgi_temp_path": 0,
    "scgi_temp_path": 0, "auth_basic_user_file": 0, "lock_file": 0, "working_directory": 0,
    "geoip_country": 0, "geoip_city": 0, "geoip_org": 0,
}
CERT_DIRECTIVES = ("ssl_certificate", "ssl_trusted_certificate", "ssl_client_certificate", "proxy_ssl_certificate",
                   "proxy_ssl_trusted_certificate")
KEY_DIRECTIVES = ("ssl_certificate_key", "proxy_ssl_certificate_key")
DIRECTORY_DIRECTIVES = ("proxy_cache_path", "fastcgi_cache_path", "uwsgi_cache_path", "scgi_cache_path",
                        "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path")
PASS_DIRECTIVES = ("proxy_pass", "grpc_pass", "uwsgi_pass", "fastcgi_pass", "scgi_pass", "memcached_pass")
BLANKED = ("user", "pid", "load_module")
# Directives newer than some nginx builds: (major, minor, patch) they appeared in.
SINCE = {
    "add_header_inherit": (1, 29, 3), "add_trailer_inherit": (1, 29, 3), "http2": (1, 25, 1), "http3": (1, 25, 0),
    "http3_hq": (1, 25, 0), "http3_max_concurrent_streams": (1, 25, 0), "http3_stream_buffer_size": (1, 25, 0),
    "quic_retry": (1, 25, 0), "quic_gso": (1, 25, 0), "quic_host_key": (1, 25, 0), "quic_bpf": (1, 25, 0),
    "ssl_certificate_cache": (1, 27, 4), "ssl_object_cache_inheritable": (1, 27, 4), "keepalive_min_timeout": (1, 27, 4),
    "ssl_key_log": (1, 27, 2), "ssl_reject_handshake": (1, 19, 4), "ssl_conf_command": (1, 19, 4),
}
# Third-party module directives (not in Debian's nginx): prefixes.
THIRD_PARTY = ("more_set_headers", "more_clear_headers", "more_set_input_headers", "more_clear_input_headers",
               "security_headers", "brotli", "modsecurity", "pagespeed", "vhost_traffic_status", "js_",
               "lua_", "content_by_lua", "access_by_lua", "rewrite_by_lua", "header_filter_by_lua",
               "body_filter_by_lua", "log_by_lua", "init_by_lua", "set_by_lua", "geoip2", "headers_more")
PQ_GROUPS = re.compile(r"mlkem|kyber", re.I)
IMAGE_FILES = ("mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params", "koi-utf", "koi-win", "win-utf")

OFFICIAL_MAIN = """user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;

    keepalive_timeout  65;

    include /etc/nginx/conf.d/*.conf;
}
"""

FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""

# What certbot writes to /etc/letsencrypt at deploy time (stand-ins with the same directives).
CERTBOT_OPTIONS = """ssl_session_cache shared:le_nginx_SSL:10m;
ssl_session_timeout 1440m;
ssl_session_tickets off;
ssl_protocols TLSv1.2 TLSv1.3;
ssl_prefer_server_ciphers off;
ssl_ciphers "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
"""
GENERATED = {"options-ssl-nginx.conf": CERTBOT_OPTIONS, "ssl-dhparams.pem": FFDHE2048}


# --------------------------------------------------------------------------------------------
# the local nginx
# --------------------------------------------------------------------------------------------


def nginx_binary() -> str | None:
    """Path of the nginx binary, or None."""
    found = shutil.which("nginx")
    if found:
        return found
    for cand in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(cand, os.X_OK):
            return cand
    return None


def require_nginx() -> str:
    """The nginx binary; fails the calling test (never skips) when it is missing."""
    import pytest

    binary = nginx_binary()
    if binary is None:
        pytest.fail("nginx is not installed: the real-nginx tests need it (Debian: apt-get install nginx-light; CI runs .ci/deps)")
    return binary


_VERSION_CACHE: dict[str, tuple[tuple[int, ...], str]] = {}


def local_nginx(binary: str) -> tuple[tuple[int, ...], str]:
    """(version, ``nginx -V`` text) of the local build."""
    if binary not in _VERSION_CACHE:
        out = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=20)
        text = out.stderr + out.stdout
        m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", text)
        version = tuple(int(g) for g in m.groups()) if m else (0, 0, 0)
        _VERSION_CACHE[binary] = (version, text)
    return _VERSION_CACHE[binary]


# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """One container's /etc/nginx view: container path -> host file (or text)."""

    label: str
    files: dict[str, Path | str] = field(default_factory=dict)
    nginx: set[str] = field(default_factory=set)  # container paths holding nginx configuration
    dirs: set[str] = field(default_factory=set)  # mount targets without content (named volumes, ...)
    mounts: list[str] = field(default_factory=list)  # every mount target
    compose: bool = True
    main: str = "/etc/nginx/nginx.conf"


def _norm(p: str) -> str:
    return posixpath.normpath(p)


def _service_layouts(stack) -> list[Layout]:
    out = []
    for svc in stack.services:
        if svc.role != "gateway":
            continue
        image = (svc.image or "").lower()
        mounted_nginx = [sf for sf in stack.files.values() if sf.kind == "nginx" and any(s is svc for s, _ in sf.mounted_by)]
        if not mounted_nginx and "nginx" not in image and "openresty" not in image:
            continue
        lay = Layout(label=f"service {svc.name}")
        base = posixpath.dirname(svc.doc.path)
        for m in svc.volumes:
            if not m.target:
                continue
            target = _norm(m.target)
            lay.mounts.append(target)
            if m.is_bind and m.source and not m.source.startswith(("/", "~", "$")):
                host = stack.root / _norm(posixpath.join(base, m.source))
                if host.is_file():
                    lay.files[target] = host
                    continue
                if host.is_dir():
                    for dirpath, _dirs, names in os.walk(host):
                        for name in names:
                            full = Path(dirpath) / name
                            rel = full.relative_to(host).as_posix()
                            lay.files[_norm(posixpath.join(target, rel))] = full
                    lay.dirs.add(target)
                    continue
            lay.dirs.add(target)
        for sf in mounted_nginx:
            for s, target in sf.mounted_by:
                if s is svc:
                    lay.nginx.add(_norm(target))
        if lay.main not in lay.files:
            lay.files[lay.main] = OFFICIAL_MAIN
        lay.nginx.add(lay.main)
        # files under /etc/nginx that parse as nginx (conf.d/*.conf, snippets) are configuration too
        for cpath, src in lay.files.items():
            if isinstance(src, Path) and cpath.startswith("/etc/nginx/") and cpath.endswith(".conf"):
                lay.nginx.add(cpath)
        out.append(lay)
    return out


def _bare_layouts(stack) -> list[Layout]:
    out = []
    for cfg in stack.nginx_configs:
        if cfg.service is not None:
            continue
        host = stack.root / cfg.doc.path
        lay = Layout(label=f"file {cfg.doc.path}", compose=False)
        top = host.parent
        for dirpath, _dirs, names in os.walk(top):
            for name in names:
                full = Path(dirpath) / name
                rel = full.relative_to(top).as_posix()
                cpath = _norm(posixpath.join("/etc/nginx", rel))
                lay.files[cpath] = full
                if name.endswith(".conf") or name == "nginx.conf" or full == host:
                    lay.nginx.add(cpath)
        inner = _norm(posixpath.join("/etc/nginx", host.relative_to(top).as_posix()))
        kind = cfg.root.root_name
        if kind == "main":
            lay.main = inner
        else:
            lay.main = "/etc/nginx/dkscan-main.conf"
            if kind == "http":
                body = f"include {inner};"
            else:
                body = f"server {{\n        include {inner};\n    }}"
            lay.files[lay.main] = ("events {}\n\nhttp {\n    include /etc/nginx/mime.types;\n    "
                                   + body + "\n}\n")
            lay.nginx.add(lay.main)
        out.append(lay)
    return out


# --------------------------------------------------------------------------------------------
# rewriting
# --------------------------------------------------------------------------------------------


def _tokens(doc, d):
    from rules.helpers.nginx import directive_tokens

    shim_stack = SimpleNamespace(files={doc.path: SimpleNamespace(doc=doc)}, memo=lambda _key, compute: compute())
    node = SimpleNamespace(path=doc.path, line=d.line, col=d.col, d=d)
    return directive_tokens(shim_stack, node)


@dataclass
class _Rewriter:
    fs: Path
    version: tuple[int, ...]
    hosts: set[str] | None  # names mapped to 127.0.0.1; None = every host name
    upstreams: set[str]
    notes: list[str]
    pq_ok: bool

    def prefix(self, path: str) -> str:
        if not path.startswith("/") or path.startswith(("/dev/", "/proc/")) or "$" in path:
            return path
        return str(self.fs) + path

    def map_host(self, host: str, upstream_names: bool = True) -> str:
        if not host or "$" in host or host == "localhost" or host.startswith("["):
            return host
        if upstream_names and host in self.upstreams:
            return host
        if re.fullmatch(r"[\d.]+", host):
            return host
        if self.hosts is None or host in self.hosts or "." in host:
            return "127.0.0.1"
        return host

    def supported(self, name: str) -> bool:
        since = SINCE.get(name)
        if since is not None and self.version < since:
            return False
        return not name.startswith(THIRD_PARTY)

    def rewrite(self, text: str, path: str) -> tuple[str, list[tuple[str, list[str]]]]:
        """(new text, [(directive name, args)] of the directives kept)."""
        doc = nginx_parser.parse(text, path)
        lines = text.split("\n")
        edits: list[tuple[int, int, int, int, str]] = []  # line, col, end_line, end_col (1-based, exclusive)
        kept: list[tuple[str, list[str]]] = []
        for d in doc.walk():
            if not d.name:
                continue
            toks, term = _tokens(doc, d)
            if not toks:
                continue
            blank = d.name in BLANKED or not self.supported(d.name)
            if d.name == "listen" and any(a in ("quic", "http3") for a in d.args) and self.version < (1, 25, 0):
                blank = True
            if blank and d.block is None and term is not None:
                if d.name not in BLANKED:
                    self.notes.append(f"{path}:{d.line}: `{d.name}` is unknown to the local nginx {'.'.join(map(str, self.version))}; blanked")
                edits.append((toks[0].line, toks[0].col, term[0], term[1] + 1, ""))
                continue
            kept.append((d.name, list(d.args)))
            idx = PATH_ARGS.get(d.name)
            if idx is not None and len(toks) > idx + 1:
                t = toks[idx + 1]
                value = t.value
                if d.name in ("access_log", "error_log") and (value in ("off", "stderr") or value.startswith(("syslog:", "memory:"))):
                    continue
                new = self.prefix(value)
                if new != value:
                    edits.append((t.line, t.col, t.end_line, t.end_col, _quote(new)))
            elif d.name in PASS_DIRECTIVES and len(toks) > 1:
                t = toks[1]
                m = re.match(r"^((?:[a-z][a-z0-9+.-]*://)?)([^/:?$]+)(.*)$", t.value, re.I)
                if m and not t.value.startswith("unix:"):
                    host = m.group(2)
                    new_host = self.map_host(host)
                    if new_host != host:
                        edits.append((t.line, t.col, t.end_line, t.end_col, _quote(m.group(1) + new_host + m.group(3))))
            elif d.name == "server" and d.block is None and d.parent is not None and d.parent.name == "upstream" and len(toks) > 1:
                t = toks[1]
                if not t.value.startswith("unix:"):
                    host, sep, port = t.value.rpartition(":") if ":" in t.value else (t.value, "", "")
                    new_host = self.map_host(host, upstream_names=False)
                    if new_host != host:
                        edits.append((t.line, t.col, t.end_line, t.end_col, new_host + sep + port))
                if self.version < (1, 27, 3):
                    for extra in toks[2:]:
                        if extra.value == "resolve" or extra.value.startswith("service="):
                            edits.append((extra.line, extra.col, extra.end_line, extra.end_col, ""))
            elif d.name == "ssl_ecdh_curve" and len(toks) > 1 and not self.pq_ok:
                t = toks[1]
                groups = [g for g in t.value.split(":") if g and not PQ_GROUPS.search(g)]
                if groups != t.value.split(":"):
                    self.notes.append(f"{path}:{d.line}: post-quantum groups dropped from ssl_ecdh_curve (local OpenSSL lacks them)")
                    edits.append((t.line, t.col, t.end_line, t.end_col, ":".join(groups) or "auto"))
        return _apply(lines, edits), kept


def _quote(value: str) -> str:
    if re.search(r"[\s;{}\"'#]", value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _apply(lines: list[str], edits: list[tuple[int, int, int, int, str]]) -> str:
    """Apply edits (1-based, end exclusive) from the end; multi-line spans keep the line count."""
    for line, col, end_line, end_col, new in sorted(edits, reverse=True):
        if line == end_line:
            s = lines[line - 1]
            lines[line - 1] = s[: col - 1] + new + s[end_col - 1:]
        else:
            first = lines[line - 1][: col - 1] + new
            last = lines[end_line - 1][end_col - 1:]
            for i in range(line, end_line - 1):
                lines[i] = ""
            lines[line - 1] = first
            lines[end_line - 1] = last
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------------------------


_MATERIAL: dict[str, bytes] = {}


def _material() -> dict[str, bytes]:
    """A self-signed EC certificate, its key and an empty CRL (generated once per process)."""
    if _MATERIAL:
        return _MATERIAL
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name).last_update(now)
           .next_update(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    _MATERIAL["cert"] = cert.public_bytes(serialization.Encoding.PEM)
    _MATERIAL["key"] = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption())
    _MATERIAL["crl"] = crl.public_bytes(serialization.Encoding.PEM)
    return _MATERIAL


def _under(path: str, mounts: Iterable[str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def _pq_supported(binary: str) -> bool:
    _, text = local_nginx(binary)
    m = re.search(r"OpenSSL (\d+)\.(\d+)", text)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (3, 5)


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


def _compose_hosts(stack) -> set[str] | None:
    """Names compose provides (services, container names, aliases, extra_hosts); None without compose."""
    if not stack.services:
        return None
    from rules.helpers.services import host_names as service_names
    from scanner.parsers.yamlnodes import YMap, YSeq

    names = set(service_names(stack))
    for svc in stack.services:
        eh = svc.get("extra_hosts")
        if isinstance(eh, YSeq):
            names.update(str(x).split(":")[0].split("=")[0] for x in eh)
        elif isinstance(eh, YMap):
            names.update(str(k.raw) for k, _ in eh.pairs())
    return names


def _run_layout(binary: str, lay: Layout, hosts: set[str] | None, work: Path) -> tuple[bool, str]:
    main, notes = prepare_layout(binary, lay, hosts, work)
    fs = work / "fs"
    prefix = str(fs / "etc" / "nginx") + "/"
    glob = f"pid {work / 'nginx.pid'}; error_log {work / 'error.log'};"
    cmd = [binary, "-t", "-p", prefix, "-c", str(main), "-g", glob]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False, f"[{lay.label}] nginx -t timed out"
    out = (proc.stdout + proc.stderr).replace(str(fs), "")
    header = f"[{lay.label}] nginx -t exit {proc.returncode}"
    body = "\n".join([header, *notes, out.strip()])
    return proc.returncode == 0, body


def prepare_layout(binary: str, lay: Layout, hosts: set[str] | None, work: Path, material: dict | None = None,
                   edit=None) -> tuple[Path, list[str]]:
    """Write ``lay`` under ``work/fs`` (rewritten, with certificates) and return (main config, notes).

    ``material``: ``{"cert": PEM, "key": PEM, "crl": PEM}`` to use instead of the self-signed set (the
    probe tests use a local CA's chain); ``edit(container_path, text) -> text`` changes each rewritten
    configuration file once more (listen ports, upstream ports)."""
    fs = work / "fs"
    version, _ = local_nginx(binary)
    notes: list[str] = []
    texts: dict[str, str] = {}
    for cpath, src in lay.files.items():
        if cpath in lay.nginx:
            try:
                texts[cpath] = src if isinstance(src, str) else src.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                texts[cpath] = ""
    upstreams = set()
    for text in texts.values():
        upstreams.update(re.findall(r"^\s*upstream\s+([^\s{]+)\s*\{", text, re.M))
    rw = _Rewriter(fs, version, hosts, upstreams, notes, _pq_supported(binary))
    for d in lay.dirs:
        (fs / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for cpath, src in lay.files.items():
        dst = fs / cpath.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if cpath not in texts:
            if isinstance(src, Path):
                shutil.copyfile(src, dst)
            else:
                dst.write_text(src, encoding="utf-8")
    etc = fs / "etc" / "nginx"
    etc.mkdir(parents=True, exist_ok=True)
    for name in IMAGE_FILES:
        if f"/etc/nginx/{name}" not in lay.files:
            host = Path("/etc/nginx") / name
            if host.is_file():
                shutil.copyfile(host, etc / name)
            else:
                (etc / name).write_text("types { text/html html; }\n" if name == "mime.types" else "\n", encoding="utf-8")
    wanted: list[tuple[str, str]] = []  # (directive, container path)
    for cpath, text in texts.items():
        new, kept = rw.rewrite(text, cpath)
        for name, args in kept:
            if args and (name in CERT_DIRECTIVES or name in KEY_DIRECTIVES or name in ("ssl_dhparam", "ssl_session_ticket_key", "ssl_crl", "ssl_password_file", "include")
                         or name in DIRECTORY_DIRECTIVES or name in ("access_log", "error_log")):
                wanted.append((name, args[0]))
        if cpath == lay.main:
            new = _inject_temp_paths(new, fs, kept)
        if edit is not None:
            new = edit(cpath, new)
        dst = fs / cpath.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(new, encoding="utf-8")
    mat = None
    for name, arg in wanted:
        if "$" in arg or arg.startswith(("data:", "engine:", "store:")):
            continue
        cpath = _norm(arg if arg.startswith("/") else posixpath.join("/etc/nginx", arg))
        dst = fs / cpath.lstrip("/")
        covered = not lay.compose or _under(cpath, lay.mounts)
        if name in DIRECTORY_DIRECTIVES:
            dst.parent.mkdir(parents=True, exist_ok=True)
            continue
        if name in ("access_log", "error_log"):
            if not arg.startswith(("/dev/", "syslog:", "memory:")) and arg not in ("off", "stderr"):
                dst.parent.mkdir(parents=True, exist_ok=True)
            continue
        if name == "include":
            base = posixpath.basename(cpath)
            if base in GENERATED and covered and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(GENERATED[base], encoding="utf-8")
                notes.append(f"{cpath}: written as certbot would at deploy time")
            continue
        if not covered:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_dir():  # a bind mount of a file missing from the repository: Docker made a directory
            shutil.rmtree(dst, ignore_errors=True)
        mat = mat or material or _material()
        if name in CERT_DIRECTIVES:
            dst.write_bytes(mat["cert"])
        elif name in KEY_DIRECTIVES:
            dst.write_bytes(mat["key"])
        elif name == "ssl_dhparam":
            dst.write_text(FFDHE2048, encoding="utf-8")
        elif name == "ssl_session_ticket_key":
            dst.write_bytes(os.urandom(80))
        elif name == "ssl_crl":
            dst.write_bytes(mat["crl"])
        elif name == "ssl_password_file":
            dst.write_text("\n", encoding="utf-8")
    return fs / lay.main.lstrip("/"), notes


def _inject_temp_paths(text: str, fs: Path, kept: list[tuple[str, list[str]]]) -> str:
    """Temp paths inside the temporary tree (the compiled-in /var/lib/nginx may not be writable)."""
    present = {name for name, _ in kept}
    wanted = [n for n in ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path")
              if n not in present]
    if not wanted:
        return text
    m = re.search(r"^(\s*http\s*\{)", text, re.M)
    if not m:
        return text
    tmp = fs / "var" / "cache" / "nginx-test"
    tmp.mkdir(parents=True, exist_ok=True)
    inject = " ".join(f"{n} {tmp / n.split('_temp')[0]};" for n in wanted)
    return text[: m.end()] + " " + inject + text[m.end():]


def nginx_t(target, hosts: str = "auto", binary: str | None = None) -> tuple[bool, str]:
    """Run ``nginx -t`` on a stack directory (or a list of nginx files) laid out as the gateway
    container sees it. Returns ``(ok, output)``; ``ok`` is False when any layout fails. ``hosts``:
    ``"auto"`` maps compose names and dotted names to 127.0.0.1 (every name without compose),
    ``"all"`` maps every host name."""
    binary = binary or nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed")
    paths = [Path(p) for p in (target if isinstance(target, (list, tuple)) else [target])]
    root = paths[0] if len(paths) == 1 and paths[0].is_dir() else None
    stack = build_stack(paths, root=root)
    mapped = None if hosts == "all" else _compose_hosts(stack)
    layouts = _service_layouts(stack) + _bare_layouts(stack)
    if not layouts:
        return False, "no nginx configuration found"
    outputs, ok = [], True
    with tempfile.TemporaryDirectory(prefix="dkscan-nginx-") as tmp:
        for i, lay in enumerate(layouts):
            work = Path(tmp) / f"unit{i}"
            work.mkdir()
            good, out = _run_layout(binary, lay, mapped, work)
            ok = ok and good
            outputs.append(out)
    return ok, "\n".join(outputs)

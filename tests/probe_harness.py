"""A live gateway for the probe tests: Debian's nginx serving a stack's gateway config on 127.0.0.1.

    with LiveGateway(stack_dir, tmp_path, pki) as gw:
        gw.url          # https://studios-dk.com:<port>/  (probe with --resolve studios-dk.com:127.0.0.1)
        gw.http_port    # the plaintext server's port
        gw.status_port  # the internal status server's port

What it does:

1. **PKI** (:func:`make_pki`, ``cryptography``): a root CA, an intermediate and an EC P-256 serverAuth
   leaf for the stack's names, ``localhost`` and ``127.0.0.1``. ``fullchain`` (leaf + intermediate)
   goes to every ``ssl_certificate`` path, as Let's Encrypt's ``fullchain.pem``; the root is the
   probe's ``--ca-file``.
2. **Layout**: ``tests/nginx_harness.prepare_layout`` lays the gateway service's mounts out as the
   container sees them (the same rewriting as the ``nginx -t`` tests: absolute paths under a temporary
   root, ``user``/``pid`` blanked, directives the local nginx lacks dropped, compose host names mapped
   to 127.0.0.1), then this module moves every ``listen`` to 127.0.0.1 on free ports (IPv6 listeners
   dropped) and the upstream ``backend:8080`` to a local backend.
3. **Backend**: a threaded ``http.server`` answering 200 JSON on every path, with
   ``X-Powered-By: Express`` (which the compliant config hides); ``reflect_cors=True`` makes it echo
   ``Origin`` with credentials (a CORS drift).
4. **nginx** runs in the foreground (``daemon off``) as a child of the test; the context manager stops
   that one process by its pid. Ports are picked free and retried if another test took one first.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from scanner.stack import build_stack
from tests.nginx_harness import _compose_hosts, _service_layouts, prepare_layout, require_nginx

NAMES = ("studios-dk.com", "www.studios-dk.com", "api.studios-dk.com", "localhost")


# --------------------------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------------------------


@dataclass
class Pki:
    ca_file: Path
    fullchain: bytes
    leaf_only: bytes
    key: bytes
    not_before: datetime.date
    not_after: datetime.date


def make_pki(directory: Path, names=NAMES, days: int = 90, ocsp_url: str | None = None, rsa_bits: int = 0) -> Pki:
    """``rsa_bits``: an RSA leaf key of that size instead of EC P-256 (1024: a weak key, which Debian's
    OpenSSL serves only below its default security level, see ``LOW_SECLEVEL``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dkscan tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca_cert(subject, issuer, key, signer, path_len):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=2))
             .not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if signer is not key:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        return b.sign(signer, hashes.SHA256())

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_cert(name("dkscan test root CA"), name("dkscan test root CA"), root_key, root_key, 1)
    int_key = ec.generate_private_key(ec.SECP256R1())
    inter = ca_cert(name("dkscan test intermediate"), root.subject, int_key, root_key, 0)
    if rsa_bits:
        from cryptography.hazmat.primitives.asymmetric import rsa

        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    b = (x509.CertificateBuilder().subject_name(name(names[0])).issuer_name(inter.subject)
         .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.SubjectAlternativeName(sans), critical=False)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=bool(rsa_bits),
                                      data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                      crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(int_key.public_key()), critical=False))
    if ocsp_url:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    leaf = b.sign(int_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "test-root-ca.pem"
    ca_file.write_bytes(root.public_bytes(pem))
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Pki(ca_file, leaf.public_bytes(pem) + inter.public_bytes(pem), leaf.public_bytes(pem), key,
               leaf.not_valid_before_utc.date(), leaf.not_valid_after_utc.date())


def low_seclevel(directory: Path) -> dict:
    """The environment that makes Debian's OpenSSL (in nginx) load and serve a certificate its default
    security level 2 refuses (an RSA 1024 key: "ee key too small"): an ``OPENSSL_CONF`` at level 0."""
    conf = directory / "openssl-seclevel0.cnf"
    conf.write_text("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n"
                    "[sys]\nCipherString = DEFAULT@SECLEVEL=0\n", encoding="utf-8")
    return {"OPENSSL_CONF": str(conf)}


# --------------------------------------------------------------------------------------------
# a backend
# --------------------------------------------------------------------------------------------


class Backend:
    """A local application server behind the gateway (``reflect_cors``: echo Origin with credentials;
    ``failing``: path prefixes answered 500). It sets a session cookie on every answer and records
    the headers of every request it gets (``seen``: (method, path, headers))."""

    def __init__(self, reflect_cors: bool = False, failing: tuple[str, ...] = ()):
        reflect = reflect_cors
        seen: list[tuple[str, str, dict]] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int = 200) -> None:
                seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                if failing and self.path.startswith(failing):
                    status = 500
                body = json.dumps({"path": self.path, "ok": status < 400}).encode() if self.command != "OPTIONS" else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Powered-By", "Express")
                self.send_header("Set-Cookie", "session=dkscan-test-session; Path=/; Secure; HttpOnly")
                origin = self.headers.get("Origin")
                if reflect and origin:
                    self.send_header("Access-Control-Allow-Origin", origin)
                    self.send_header("Access-Control-Allow-Credentials", "true")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._answer()

            def do_OPTIONS(self):  # noqa: N802
                self._answer(204)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ChildServer:
    """A Debian server binary run by the test on 127.0.0.1:<free port> until ``close``: ``args(port)``
    gives its command line; the port is retried when another test took it first."""

    def __init__(self, args) -> None:
        for _ in range(4):
            (self.port,) = free_ports(1)
            self.proc = subprocess.Popen(args(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 15
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.close()
        raise RuntimeError(f"{args(0)[0]} did not start")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _binary(name: str, fallback: str) -> str:
    binary = shutil.which(name) or fallback
    assert os.access(binary, os.X_OK), f"{name} is not installed (CI: bash .ci/deps)"
    return binary


class RedisServer(ChildServer):
    """Debian's redis-server, no persistence; ``password`` sets ``requirepass``."""

    def __init__(self, password: str | None = None):
        binary = _binary("redis-server", "/usr/bin/redis-server")
        super().__init__(lambda port: [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                       "no", "--daemonize", "no", "--dir", "/tmp",
                                       *(["--requirepass", password] if password else [])])


# --------------------------------------------------------------------------------------------
# the gateway
# --------------------------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


LISTEN = re.compile(r"^(\s*)listen(\s+)(\S+)([^;\n]*;)", re.M)


@dataclass
class LiveGateway:
    stack_dir: Path
    work: Path
    pki: Pki
    material: str = "fullchain"  # or "leaf_only"
    reflect_cors: bool = False
    failing: tuple[str, ...] = ()  # backend paths answered 500
    env: dict = field(default_factory=dict)  # extra environment of nginx (OPENSSL_CONF)
    host: str = "studios-dk.com"
    https_port: int = 0
    http_port: int = 0
    status_port: int = 0
    proc: subprocess.Popen | None = None
    backend: Backend | None = None
    log: Path | None = None
    port_map: dict[int, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.https_port}/"

    def _edit(self, cpath: str, text: str) -> str:
        def listen(m):
            spec = m.group(3)
            if spec.startswith("["):
                return f"{m.group(1)}# ipv6 listener dropped by the probe harness{' ' * 0}"
            port = int(spec.rsplit(":", 1)[-1]) if spec.rsplit(":", 1)[-1].isdigit() else 80
            return f"{m.group(1)}listen{m.group(2)}127.0.0.1:{self.port_map.get(port, port)}{m.group(4)}"

        text = LISTEN.sub(listen, text)
        return re.sub(r"(server\s+127\.0\.0\.1):8080\b", rf"\1:{self.backend.port}", text)

    def start(self) -> "LiveGateway":
        binary = require_nginx()
        self.backend = Backend(self.reflect_cors, self.failing)
        stack = build_stack([self.stack_dir], root=self.stack_dir)
        layouts = _service_layouts(stack)
        assert len(layouts) == 1, f"expected one gateway service in {self.stack_dir}"
        material = {"cert": getattr(self.pki, self.material), "key": self.pki.key}
        last = ""
        for attempt in range(4):
            self.https_port, self.http_port, self.status_port = free_ports(3)
            self.port_map = {443: self.https_port, 80: self.http_port, 8081: self.status_port}
            work = self.work / f"nginx{attempt}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            main, _notes = prepare_layout(binary, layouts[0], _compose_hosts(stack), work, material=material,
                                          edit=self._edit)
            prefix = str(work / "fs" / "etc" / "nginx") + "/"
            self.log = work / "error.log"
            glob = f"pid {work / 'nginx.pid'}; error_log {self.log} info; daemon off;"
            if os.geteuid() == 0:
                glob += " user root;"  # workers read the temporary tree (pytest's 0700 base directory)
            self.proc = subprocess.Popen([binary, "-p", prefix, "-c", str(main), "-g", glob],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         env={**os.environ, **self.env} if self.env else None)
            if self._wait_ready():
                return self
            last = self._stop_proc()
        raise RuntimeError(f"nginx did not start: {last}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=0.5):
                    with socket.create_connection(("127.0.0.1", self.http_port), timeout=0.5):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def _stop_proc(self) -> str:
        out = ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                _, err = self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _, err = self.proc.communicate()
            out = (err or b"").decode("utf-8", "replace")
            if self.log is not None and self.log.exists():
                out += self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
            self.proc = None
        return out

    def stop(self) -> None:
        self._stop_proc()
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    def __enter__(self) -> "LiveGateway":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# The drifted gateways the issue names (issue 19, point 4), as edits of the compliant fixture's files:
# served by LiveGateway while the probe reads the unchanged compliant stack. Used by
# tests/test_probe_nginx.py and benchmarks/probe_drift_reports.py (the reports of the closing note).
DRIFTS: dict[str, dict[str, list[tuple[str, str]]]] = {
    # Debian's OpenSSL refuses TLS 1.0/1.1 at its default security level: @SECLEVEL=0 and a CBC suite
    # (the GCM suites are TLS 1.2 only) make nginx really offer them
    "older protocols on": {"nginx/nginx.conf": [
        ("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;"),
        ("ECDHE-RSA-CHACHA20-POLY1305;", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0;")]},
    "a missing always": {"nginx/security.conf": [('" always;', '";')]},
    "an exposed status page": {"nginx/nginx.conf": [
        ("        location / {\n            return 404;",
         "        location = /nginx_status { stub_status; }\n        location / {\n            return 404;")]},
    # 50m where the audited config says 10m; 1m on uploads where it says 500m (only the upper bound is observable)
    "body size": {"nginx/nginx.conf": [
        ("    client_max_body_size 10m;\n", "    client_max_body_size 50m;\n"),
        ("            client_max_body_size 500m;\n", "            client_max_body_size 1m;\n")]},
    "server_tokens": {"nginx/nginx.conf": [("server_tokens off;", "server_tokens on;")]},
}


def variant(src: Path, dst: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of the stack ``src`` at ``dst`` with text replacements {relative file: [(old, new), ...]};
    each ``old`` must occur (a fixture change must not silently make a variant the compliant stack)."""
    shutil.copytree(src, dst)
    for rel, pairs in edits.items():
        path = dst / rel
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            if old.startswith("re:"):
                new_text = re.sub(old[3:], new, text, flags=re.M)
            else:
                new_text = text.replace(old, new)
            assert new_text != text, f"{rel}: {old!r} not found"
            text = new_text
        path.write_text(text, encoding="utf-8")
    return dst


class TcpPostgres:
    """A throwaway PostgreSQL on 127.0.0.1:<free port> (Debian's binaries, through tests/pg_harness's
    helpers): ``auth="trust"`` lets user postgres in without a password, ``"scram-sha-256"`` asks for one."""

    def __init__(self, auth: str):
        import pwd
        import tempfile

        from tests.pg_harness import SUPERUSER, PgServer, find_bindir

        bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="dkscan-probe-pg-"))
        run_as = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            run_as = SUPERUSER
        os.chmod(self.root, 0o700)
        self.server = PgServer(bindir, self.root, run_as)
        r = self.server.run(str(bindir / "initdb"), "-D", str(self.server.data), "-U", SUPERUSER, "--auth-local=trust",
                            f"--auth-host={auth}", "-E", "UTF8", "--no-sync", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        for _ in range(4):
            (self.port,) = free_ports(1)
            opts = f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
            r = self.server.run(str(bindir / "pg_ctl"), "-D", str(self.server.data), "-o", opts, "-l",
                                str(self.server.log), "-w", "-t", "60", "start", timeout=90)
            if r.returncode == 0:
                return
        raise RuntimeError(f"pg_ctl start failed: {r.stdout}{r.stderr}")

    def close(self) -> None:
        try:
            self.server.run(str(self.server.bindir / "pg_ctl"), "-D", str(self.server.data), "-m", "immediate", "-w",
                            "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class NatsServer(ChildServer):
    """Debian's nats-server; ``user``/``password`` make it require authentication."""

    def __init__(self, user: str | None = None, password: str | None = None):
        binary = _binary("nats-server", "/usr/sbin/nats-server")
        super().__init__(lambda port: [binary, "-a", "127.0.0.1", "-p", str(port),
                                       *(["--user", user, "--pass", password or ""] if user else [])])

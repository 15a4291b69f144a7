"""TLS facts of the live gateway, gathered with sslyze (protocols, suites, certificate chain, OCSP
staple) and one verifying handshake of Python's ``ssl`` (the local OpenSSL with the system trust
store plus ``--ca-file``: the verdict curl or a browser would give).

sslyze pins the connection to the target's address (``ServerNetworkLocation.ip_address``) and sends
the URL's name as SNI; it runs in a worker thread so the probe's time budget bounds it even if a
server stalls a handshake (the thread is abandoned, the report says what was skipped).
"""

from __future__ import annotations

import concurrent.futures
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

PROTOCOL_COMMANDS = (  # (nginx name, sslyze ScanCommand attribute, result attribute)
    ("SSLv2", "SSL_2_0_CIPHER_SUITES", "ssl_2_0_cipher_suites"),
    ("SSLv3", "SSL_3_0_CIPHER_SUITES", "ssl_3_0_cipher_suites"),
    ("TLSv1", "TLS_1_0_CIPHER_SUITES", "tls_1_0_cipher_suites"),
    ("TLSv1.1", "TLS_1_1_CIPHER_SUITES", "tls_1_1_cipher_suites"),
    ("TLSv1.2", "TLS_1_2_CIPHER_SUITES", "tls_1_2_cipher_suites"),
    ("TLSv1.3", "TLS_1_3_CIPHER_SUITES", "tls_1_3_cipher_suites"),
)


@dataclass
class TlsFacts:
    reachable: bool = False
    error: str | None = None  # why no TLS scan result (unreachable, no handshake, budget)
    accepted: dict[str, list[str]] = field(default_factory=dict)  # protocol -> OpenSSL suite names
    rejected: dict[str, list[str]] = field(default_factory=dict)  # protocol -> suites tested and refused
    tested: set[str] = field(default_factory=set)  # protocols sslyze could test
    chain: list = field(default_factory=list)  # cryptography x509.Certificate, leaf first
    hostname_ok: bool | None = None
    verify_error: str | None = None  # OpenSSL's verdict with the system store + --ca-file
    ocsp_stapled: bool | None = None  # None: not asked for a second handshake
    notes: list[str] = field(default_factory=list)

    @property
    def leaf(self):
        return self.chain[0] if self.chain else None


def _sslyze_scan(target, commands: set, timeout: float, ca_file: Path | None):
    import warnings

    # sslyze loads its bundled trust stores, one of which has a certificate with a negative serial
    warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive")
    from sslyze import (CertificateInfoExtraArgument, Scanner, ScanCommandsExtraArguments,
                        ServerNetworkConfiguration, ServerNetworkLocation, ServerScanRequest)

    extra = ScanCommandsExtraArguments()
    if ca_file is not None and "certificate_info" in {c.value for c in commands}:
        extra = ScanCommandsExtraArguments(certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_file))
    req = ServerScanRequest(
        server_location=ServerNetworkLocation(hostname=target.host, port=target.port, ip_address=target.ip),
        network_configuration=ServerNetworkConfiguration(tls_server_name_indication=target.host,
                                                         network_timeout=max(1, int(timeout)), network_max_retries=1),
        scan_commands=commands, scan_commands_extra_arguments=extra)
    scanner = Scanner(per_server_concurrent_connections_limit=4, concurrent_server_scans_limit=1)
    scanner.queue_scans([req])
    return next(iter(scanner.get_results()))


def _run_bounded(fn, budget, limit: float):
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dkscan-sslyze")
    fut = pool.submit(fn)
    try:
        return fut.result(timeout=budget.timeout(limit))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def scan_tls(target, budget, log, ca_file: Path | None, want_second_handshake) -> TlsFacts:
    """``want_second_handshake(facts)``: whether to ask for the OCSP staple again (nginx staples lazily)."""
    from sslyze import ScanCommand, ScanCommandAttemptStatusEnum, ServerScanStatusEnum

    facts = TlsFacts()
    commands = {getattr(ScanCommand, c) for _, c, _ in PROTOCOL_COMMANDS} | {ScanCommand.CERTIFICATE_INFO}
    # about 90 handshakes, 4 at a time; at most 60 % of what is left, so the HTTP checks still run
    limit = budget.timeout(min(budget.per_check * 6, max(budget.per_check, budget.left * 0.6)))
    try:
        res = _run_bounded(lambda: _sslyze_scan(target, commands, budget.per_check, ca_file), budget, limit)
    except concurrent.futures.TimeoutError:
        facts.error = f"the TLS scan did not finish within {limit:.0f} s (--timeout {budget.per_check:g} per handshake)"
        log.add(target.port, "sslyze scans (interrupted)")
        return facts
    except Exception as exc:  # noqa: BLE001 - sslyze errors become a finding, never a traceback
        facts.error = f"the TLS scan failed: {exc.__class__.__name__}: {exc}"
        return facts
    log.add(target.port, "sslyze scans (protocol versions, cipher suites, certificate)")
    if res.scan_status == ServerScanStatusEnum.ERROR_NO_CONNECTIVITY:
        trace = res.connectivity_error_trace
        facts.error = f"no TLS connection to {target.ip}:{target.port}: {_last_line(trace)}"
        return facts
    facts.reachable = True
    attempts = res.scan_result
    for proto, _, attr in PROTOCOL_COMMANDS:
        att = getattr(attempts, attr)
        if att.status == ScanCommandAttemptStatusEnum.COMPLETED and att.result is not None:
            facts.tested.add(proto)
            names = [s.cipher_suite.openssl_name or s.cipher_suite.name for s in att.result.accepted_cipher_suites]
            if names:
                facts.accepted[proto] = names
            facts.rejected[proto] = [s.cipher_suite.openssl_name or s.cipher_suite.name
                                     for s in att.result.rejected_cipher_suites]
        else:
            facts.notes.append(f"{proto} could not be tested ({att.error_reason})")
    cert = attempts.certificate_info
    if cert.status == ScanCommandAttemptStatusEnum.COMPLETED and cert.result is not None and cert.result.certificate_deployments:
        dep = cert.result.certificate_deployments[0]
        facts.chain = list(dep.received_certificate_chain)
        facts.hostname_ok = names_cover(facts.chain[0], target.host) if facts.chain else None
        facts.ocsp_stapled = dep.ocsp_response is not None
    else:
        facts.notes.append("the certificate could not be retrieved")
    if facts.chain and facts.ocsp_stapled is False and want_second_handshake(facts) and not budget.exhausted:
        time.sleep(min(1.0, max(0.0, budget.left - 1)))
        try:
            again = _run_bounded(lambda: _sslyze_scan(target, {ScanCommand.CERTIFICATE_INFO}, budget.per_check, ca_file),
                                 budget, budget.per_check * 2)
            log.add(target.port, "sslyze scans (second handshake for the OCSP staple)")
            ci = again.scan_result.certificate_info if again.scan_result is not None else None
            if ci is not None and ci.result is not None and ci.result.certificate_deployments:
                facts.ocsp_stapled = ci.result.certificate_deployments[0].ocsp_response is not None
        except Exception as exc:  # noqa: BLE001
            facts.notes.append(f"second handshake failed: {exc.__class__.__name__}")
    facts.verify_error = _verify(target, budget, log, ca_file, facts)
    return facts


def _verify(target, budget, log, ca_file: Path | None, facts: TlsFacts) -> str | None:
    """OpenSSL's verification of the served chain (system store + ``ca_file``); None when it verifies."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    try:
        with socket.create_connection((target.ip, target.port), timeout=budget.timeout()) as raw:
            log.add(target.port, "TLS handshakes (chain verification)")
            with ctx.wrap_socket(raw, server_hostname=target.host):
                return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)
    except (ssl.SSLError, OSError) as exc:
        facts.notes.append(f"verification handshake failed: {exc}")
        return None


def _last_line(trace) -> str:
    if trace is None:
        return "connection failed"
    text = "".join(trace.format_exception_only()).strip() if hasattr(trace, "format_exception_only") else str(trace)
    return text.splitlines()[-1] if text else "connection failed"


def names_cover(cert, host: str) -> bool:
    """RFC 6125: the leaf's subject alternative names cover ``host`` (one left-most ``*`` label; an IP
    address only as an IP entry). Without a SAN extension nothing matches (browsers ignore the CN)."""
    import ipaddress

    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    for name in san.get_values_for_type(x509.DNSName):
        n = name.lower().rstrip(".")
        if n == host:
            return True
        if n.startswith("*.") and "." in host and host.split(".", 1)[1] == n[2:]:
            return True
    return False


def ocsp_urls(cert) -> list[str]:
    """OCSP responder URLs of a certificate's Authority Information Access extension."""
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]


def key_description(cert) -> tuple[str, int, bool]:
    """(algorithm, bits, weak): RSA/DSA under 2048 bits or an EC key under 256 bits is weak."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, key.key_size < 2048
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, key.key_size < 2048
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.key_size, key.curve.key_size < 256
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return "EdDSA", 256, False
    return key.__class__.__name__, 0, False

"""The probe's pieces that need no TLS: argument parsing, the LIVE layer ranges, rules silent under
audit, and the location choice checked against what the real nginx answers (generatively)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.model import Layer
from scanner.probe import ProbeUsageError, parse_ports, parse_resolve
from scanner.probe.promise import match_location
from scanner.probe.target import make_target
from scanner.registry import audit_rules, load_rules, probe_rules
from scanner.stack import build_stack
from tests.nginx_harness import require_nginx
from tests.probe_harness import free_ports

ROOT = Path(__file__).resolve().parent.parent


@given(st.text(max_size=40))
def test_parse_ports_is_a_port_list_or_a_usage_error(text):
    try:
        ports = parse_ports(text)
    except ProbeUsageError:
        return
    assert ports == sorted(set(ports)) and all(1 <= p <= 65535 for p in ports) and len(ports) <= 1024


@given(st.lists(st.text(max_size=30), max_size=3))
def test_parse_resolve_is_a_mapping_or_a_usage_error(items):
    try:
        out = parse_resolve(items)
    except ProbeUsageError:
        return
    import ipaddress

    for host, (port, ip) in out.items():
        ipaddress.ip_address(ip)
        assert host and (port is None or port >= 0)


def test_resolve_forms():
    assert parse_resolve(["Api.Example.com:10.0.0.5"]) == {"api.example.com": (None, "10.0.0.5")}
    assert parse_resolve(["api.example.com:443:10.0.0.5"]) == {"api.example.com": (443, "10.0.0.5")}
    assert parse_resolve(["h:[::1]"]) == {"h": (None, "::1")}
    with pytest.raises(ProbeUsageError):
        parse_resolve(["api.example.com:not-an-ip"])


def _no_dns(*_a, **_k):
    raise socket.gaierror(-2, "Name or service not known")


@given(st.text(max_size=60))
def test_any_url_is_a_target_or_a_usage_error(url):
    # no DNS from a generated name (names must not leave the machine): every lookup fails, as offline
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", _no_dns)
        try:
            target, why = make_target(url, {}, None, timeout=0.5)
        except ProbeUsageError:
            return
    assert target.scheme in ("http", "https") and target.host and 1 <= target.port <= 65535
    assert why is not None or target.ip


def test_credentials_in_the_url_are_refused():
    with pytest.raises(ProbeUsageError, match="credentials"):
        make_target("https://user:pw@example.com/", {}, None)


@given(st.integers(1, 79))
def test_live_ranges_map_to_their_layer(n):
    layer = Layer.for_rule_id(f"LIVE{n:03d}")
    assert layer == (Layer.GATEWAY if n <= 39 else Layer.PERIMETER if n <= 59 else Layer.API)


def test_live_rules_are_silent_under_audit_and_listed_by_the_probe():
    stack = build_stack([ROOT / "fixtures" / "studios-dk"])
    live = [r for rid, r in load_rules().items() if rid.startswith("LIVE")]
    assert len(live) == 19
    for r in live:
        assert list(r.check(stack) or ()) == [], r.id
    assert not any(rid.startswith("LIVE") for rid in audit_rules())
    assert sorted(probe_rules()) == sorted([r.id for r in live] + ["OPS082"])


def test_cli_usage_errors_exit_2():
    for args in (["probe", "ftp://example.com/"], ["probe", "https://u:p@example.com/"],
                 ["probe", "https://example.com/", "--resolve", "example.com"],
                 ["probe", "https://example.com/", "--ports", "70000"],
                 ["probe", "https://example.com/", "--select", "GW001"],
                 ["audit", str(ROOT / "fixtures" / "studios-dk"), "--select", "LIVE001"]):
        out = subprocess.run([sys.executable, "-m", "scanner.cli", *args], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and out.stderr.startswith(("dkscan:", "Usage:")), out.stderr


def test_explain_and_rules_list_the_live_family():
    out = subprocess.run([sys.executable, "-m", "scanner.cli", "explain", "LIVE021"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("LIVE021 headers-missing-on-errors  [gateway, low")
    out = subprocess.run([sys.executable, "-m", "scanner.cli", "rules"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "LIVE042  perimeter    critical" in out.stdout and "LIVE060  api" in out.stdout


# --------------------------------------------------------------------------------------------
# location choice against the real nginx
# --------------------------------------------------------------------------------------------

SEGMENTS = st.sampled_from(["a", "b", "ab", "api", "v1", "A"])
PATHS = st.lists(SEGMENTS, min_size=0, max_size=3).map(lambda segs: "/" + "/".join(segs)) | \
    st.lists(SEGMENTS, min_size=1, max_size=3).map(lambda segs: "/" + "/".join(segs) + "/")
REGEXES = st.sampled_from(["^/a", "b$", "/v1/", "^/api/", "ab", "^/A", "/$"])
LOCATION = st.one_of(st.tuples(st.sampled_from(["", "=", "^~"]), PATHS), st.tuples(st.sampled_from(["~", "~*"]), REGEXES))


def _unique(locs):
    seen, out = set(), []
    for mod, path in locs:
        key = ("=" if mod == "=" else "prefix" if mod in ("", "^~") else f"re{len(out)}", path)
        if key in seen:
            continue
        seen.add(key)
        out.append((mod, path))
    return out


def _listening(proc, port: int) -> bool:
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    return False


def _ask(port: int, path: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: t\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode() if head.split(b" ")[1] == b"200" else "none"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(LOCATION, min_size=1, max_size=6).map(_unique), st.lists(PATHS, min_size=1, max_size=6))
def test_match_location_is_nginx_location_choice(tmp_path_factory, locs, paths):
    binary = require_nginx()
    work = tmp_path_factory.mktemp("loc")
    blocks = "\n".join(f"        location {mod} {path} {{ return 200 'L{i}'; }}" if mod else
                       f"        location {path} {{ return 200 'L{i}'; }}" for i, (mod, path) in enumerate(locs))
    conf = work / "nginx.conf"
    proc = None
    for _attempt in range(5):  # another test may take the free port first: pick another
        (port,) = free_ports(1)
        conf.write_text(f"events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:{port};\n{blocks}\n    }}\n}}\n",
                        encoding="utf-8")
        proc = subprocess.Popen([binary, "-p", str(work) + "/", "-c", str(conf), "-g",
                                 f"pid {work / 'nginx.pid'}; error_log {work / 'error.log'}; daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _listening(proc, port):
            break
        log = (work / "error.log").read_text() if (work / "error.log").exists() else ""
        log += proc.stderr.read().decode("utf-8", "replace")
        assert "Address already in use" in log, (proc.returncode, log)
    stack = build_stack([conf], root=work)
    (server,) = stack.nginx_configs[0].servers
    order = [c for c in server.children if c.name == "location"]
    try:
        for path in paths:
            got = match_location(server, path)
            want = _ask(port, path)
            mine = f"L{order.index(got)}" if got is not None else "none"
            assert mine == want, (path, locs)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)

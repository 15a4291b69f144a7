"""`dkscan probe` against Debian's real nginx serving the compliant gateway config, and drifted variants.

The probe's STACK is always a stack on disk (the compliant fixture unless a case says otherwise); the
nginx that answers serves the compliant config or a variant of it (tests/probe_harness.py): the
situation the probe exists for — the audited config says one thing, the running gateway does another.
sslyze, httpx and nginx run for real; the certificates come from a local CA (``--ca-file``).
Each case asserts the exact set of rules that fire, so a false positive fails as surely as a miss.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.probe_harness import DRIFTS, LiveGateway, RedisServer, free_ports, make_pki, variant

ROOT = Path(__file__).resolve().parent.parent
COMPLIANT = ROOT / "fixtures" / "studios-dk-compliant"
# paths as the reports give them: relative to the probed stack's root
NGINX_CONF = "nginx/nginx.conf"
SECURITY_CONF = "nginx/security.conf"
COMPOSE = "docker-compose.prod.yml"


def line_of(rel: str, needle: str) -> int:
    for i, line in enumerate((COMPLIANT / rel).read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {rel}")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def policy(tmp_path_factory, pki):
    """clock.today pinned to the day after the test leaf was issued."""
    d = tmp_path_factory.mktemp("policy")
    cfg = d / ".dkscan.yaml"
    cfg.write_text(f"clock:\n  today: {(pki.not_before + datetime.timedelta(days=1)).isoformat()}\n", encoding="utf-8")
    return cfg


def probe(gw: LiveGateway, pki, policy: Path, stack: Path | None = COMPLIANT, *extra: str,
          fmt: str = "json", url: str | None = None) -> tuple[int, dict | str, str]:
    cmd = [sys.executable, "-m", "scanner.cli", "probe", url or gw.url]
    if stack is not None:
        cmd.append(str(stack.relative_to(ROOT) if stack.is_relative_to(ROOT) else stack))
    cmd += ["--resolve", "studios-dk.com:127.0.0.1", "--ca-file", str(pki.ca_file), "--http-port", str(gw.http_port),
            "--config", str(policy), "--timeout", "5", "--budget", "120", *(["--format", fmt] if fmt else []), *extra]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in out.stderr, out.stderr
    data = json.loads(out.stdout) if fmt == "json" else out.stdout
    return out.returncode, data, out.stderr


def rules_of(data: dict) -> list[str]:
    return sorted({f["rule"] for f in data["findings"]})


def findings(data: dict, rule: str) -> list[dict]:
    return [f for f in data["findings"] if f["rule"] == rule]


def test_compliant_gateway_probes_clean(tmp_path, pki, policy):
    with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
        code, data, err = probe(gw, pki, policy)
        text_code, text, _ = probe(gw, pki, policy, fmt="text")
    assert data["findings"] == [], data["findings"]
    assert code == 0 and text_code == 0
    # what was contacted is stated: only the target, its two ports, sslyze and the verification handshake
    assert f"dkscan probe {gw.url}" in err and "127.0.0.1 (--resolve, loopback)" in err
    assert f"port {gw.https_port}: sslyze scans" in err and f"port {gw.http_port}: HTTP requests" in err
    assert "TLS accepted: TLSv1.2 (3 suites), TLSv1.3 (3 suites)" in err and "verification: ok" in err
    assert "PASS: 0 findings" in text and text.startswith(f"dkscan probe {gw.url}")


def test_legacy_protocols_on_the_live_gateway(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", DRIFTS["older protocols on"])
    with LiveGateway(served, tmp_path, pki) as gw:
        code, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE001", "LIVE004"], data["findings"]
    (legacy,) = findings(data, "LIVE001")
    assert (legacy["path"], legacy["line"]) == (NGINX_CONF, line_of(NGINX_CONF, "ssl_protocols TLSv1.2"))
    assert "TLSv1, TLSv1.1" in legacy["message"] and "not the audited config" in legacy["message"]
    assert gw.url.rstrip("/") in legacy["message"]
    assert legacy["related"] == [{"path": gw.url, "line": 1, "column": 1}]  # the URL as related location
    (drift,) = findings(data, "LIVE004")
    assert "ECDHE-ECDSA-AES128-SHA" in drift["message"] and drift["line"] == line_of(NGINX_CONF, "ssl_ciphers")
    assert code == 1


def test_tls13_refused_is_protocol_drift(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", {"nginx/nginx.conf": [
        ("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.2;")]})
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE002"], data["findings"]
    (f,) = data["findings"]
    assert "refuses TLSv1.3" in f["message"] and f["line"] == line_of(NGINX_CONF, "ssl_protocols")


def test_missing_always_drops_headers_on_errors(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", DRIFTS["a missing always"])
    with LiveGateway(served, tmp_path, pki) as gw:
        code, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE021"], data["findings"]
    got = {f["line"] for f in data["findings"]}
    want = {line_of(SECURITY_CONF, h) for h in ("Strict-Transport-Security", "Content-Security-Policy",
                                                "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")}
    assert got == want and all(f["path"] == SECURITY_CONF for f in data["findings"])
    assert all("/dkscan-probe-" in f["message"] and "(404)" in f["message"] for f in data["findings"])
    # the config line is the location, the URL that answered without the header the related one
    # (every error answer lacking it: the 404, and the status paths this gateway answers 404)
    for f in data["findings"]:
        urls = [r["path"] for r in f["related"]]
        assert all(u.startswith(f"https://studios-dk.com:{gw.https_port}/") for u in urls), urls
        assert any("/dkscan-probe-" in u for u in urls) and all(u in f["message"] for u in urls[:4]), urls
    assert code == 1


def test_exposed_status_page(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", DRIFTS["an exposed status page"])
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE040"], data["findings"]
    (f,) = data["findings"]
    assert "/nginx_status serves a stub_status page" in f["message"]
    assert (f["path"], f["line"]) == (NGINX_CONF, line_of(NGINX_CONF, "        location / {"))


def test_status_page_allowed_for_the_probe_address_is_silent(tmp_path, pki, policy):
    """The config itself allows 127.0.0.1: from the host, the page answers (the probe's vantage caveat)."""
    stack = variant(COMPLIANT, tmp_path / "stack", {"nginx/nginx.conf": [
        ("        location / {\n            return 404;",
         "        location = /nginx_status { stub_status; allow 127.0.0.1; deny all; }\n        location / {\n            return 404;")]})
    with LiveGateway(stack, tmp_path, pki) as gw:
        _, data, _ = probe(gw, pki, policy, stack)
    assert data["findings"] == []


def test_ports_left_listening(tmp_path, pki, policy):
    redis, locked = RedisServer(), RedisServer(password="not-sent-by-the-probe")
    try:
        stack = variant(COMPLIANT, tmp_path / "stack", {"docker-compose.prod.yml": [
            ('    user: "999:1000"\n', f'    user: "999:1000"\n    ports:\n      - "{redis.port}:6379"\n'
                                    f'      - "{locked.port}:6379"\n')]})
        with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
            # nginx's internal status server (8081 in the config) left reachable, and a published Redis
            # without a password (Debian's redis-server), next to one that asks for it
            code, data, err = probe(gw, pki, policy, stack, "--ports", f"{gw.status_port},{redis.port},{locked.port}")
    finally:
        redis.close()
        locked.close()
    assert rules_of(data) == ["LIVE041", "LIVE042"], data["findings"]
    by_port = {int(re.search(r"studios-dk\.com:(\d+)", f["message"]).group(1)): f for f in data["findings"]}
    assert sorted(by_port) == sorted([gw.status_port, redis.port, locked.port])
    status = by_port[gw.status_port]
    assert status["rule"] == "LIVE041" and f"studios-dk.com:{gw.status_port} accepts TCP" in status["message"]
    assert status["line"] == line_of(COMPOSE, "  nginx:")  # no service publishes it: the gateway's line
    open_redis = by_port[redis.port]
    assert open_redis["rule"] == "LIVE042" and open_redis["severity"] == "critical"
    assert "answers PING with +PONG without AUTH" in open_redis["message"] and "compose service redis" in open_redis["message"]
    entry = next(i for i, l in enumerate((stack / COMPOSE).read_text().splitlines(), 1) if f'"{redis.port}:6379"' in l)
    assert (open_redis["path"], open_redis["line"]) == (COMPOSE, entry)  # the ports entry that publishes it
    assert by_port[locked.port]["rule"] == "LIVE041" and "NOAUTH" in by_port[locked.port]["message"]
    assert f"port {redis.port}: TCP connect + redis check: 1" in err
    assert code == 1


def test_loopback_target_skips_service_ports_unless_asked(tmp_path, pki, policy):
    with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
        _, data, err = probe(gw, pki, policy)
    assert "skipped: service ports: the target is a loopback address" in err
    assert data["findings"] == []


def test_server_version_and_reports_in_every_format(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", DRIFTS["server_tokens"])
    out = tmp_path / "out"
    out.mkdir()
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, _ = probe(gw, pki, policy)
        names = ["r.txt", "r.json", "r.sarif", "r.html", "r.md", "r.xml"]
        code, _, _ = probe(gw, pki, policy, COMPLIANT, *[a for n in names for a in ("--output", str(out / n))], fmt=None)
    assert rules_of(data) == ["LIVE024"], data["findings"]
    (f,) = data["findings"]
    assert f["message"].startswith("Server: nginx/") and f["line"] == line_of(NGINX_CONF, "server_tokens off;")
    assert code == 1
    assert "LIVE024" in (out / "r.txt").read_text()
    assert json.loads((out / "r.json").read_text())["findings"][0]["rule"] == "LIVE024"
    sarif = json.loads((out / "r.sarif").read_text())
    (res,) = sarif["runs"][0]["results"]
    assert res["ruleId"] == "LIVE024" and res["properties"]["layer"] == "gateway"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(NGINX_CONF)
    related = [rl["physicalLocation"]["artifactLocation"] for rl in res["relatedLocations"]]
    assert related and all(set(a) == {"uri"} and a["uri"].startswith(("https://studios-dk.com:", "http://studios-dk.com:"))
                           for a in related)
    assert f"https://studios-dk.com:{gw.https_port}/" in [a["uri"] for a in related]
    assert "LIVE024" in (out / "r.html").read_text() and "LIVE024" in (out / "r.md").read_text()
    assert any(tc.find("failure") is not None for tc in ET.parse(out / "r.xml").getroot().iter("testcase"))


def test_inline_suppression_and_baseline_apply_to_live_findings(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", {"nginx/nginx.conf": [("server_tokens off;", "server_tokens on;")]})
    stack = variant(COMPLIANT, tmp_path / "stack", {"nginx/nginx.conf": [
        ("    server_tokens off;", "    # dkscan: ignore[LIVE024] reason: the CDN strips Server\n    server_tokens off;")]})
    with LiveGateway(served, tmp_path, pki) as gw:
        code, data, _ = probe(gw, pki, policy, stack)
        assert data["findings"] == [] and [f["rule"] for f in data["suppressed"]] == ["LIVE024"] and code == 0
        _, plain, _ = probe(gw, pki, policy)
        baseline = tmp_path / "baseline.json"
        baseline.write_text(json.dumps({"version": 1, "findings": [
            {"rule": f["rule"], "path": f["path"], "fingerprint": f["fingerprint"], "reason": "accepted"}
            for f in plain["findings"]]}), encoding="utf-8")
        code2, based, _ = probe(gw, pki, policy, COMPLIANT, "--baseline", str(baseline))
    assert rules_of(plain) == ["LIVE024"]
    assert based["findings"] == [] and code2 == 0, based


def test_hsts_dropped_in_a_location(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", {"nginx/nginx.conf": [
        ("            limit_req zone=auth burst=5 nodelay;\n            include /etc/nginx/security.conf;\n"
         "            add_header Cache-Control \"no-store\" always;\n            proxy_pass http://backend_servers;\n"
         "        }\n\n        # OAuth",
         "            limit_req zone=auth burst=5 nodelay;\n            add_header Cache-Control \"no-store\" always;\n"
         "            proxy_pass http://backend_servers;\n        }\n\n        # OAuth")]})
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE020", "LIVE022"], data["findings"]
    (hsts,) = findings(data, "LIVE020")
    assert "/api/v1/auth/ (200) answered without Strict-Transport-Security" in hsts["message"]
    assert (hsts["path"], hsts["line"]) == (SECURITY_CONF, line_of(SECURITY_CONF, "Strict-Transport-Security"))
    drift = findings(data, "LIVE022")
    assert len(drift) == 9 and all(f["path"] == SECURITY_CONF for f in drift)  # every header security.conf sets


def test_cors_reflection_by_the_backend(tmp_path, pki, policy):
    with LiveGateway(COMPLIANT, tmp_path, pki, reflect_cors=True) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE060"], data["findings"]
    paths = {f["message"].split(" reflects")[0].split(str(gw.https_port))[1] for f in data["findings"]}
    assert paths == {"/health", "/api/v1/auth/", "/api/v1/oauth/", "/api/v1/upload/", "/api/v1/public/", "/api/", "/ws"}
    assert all("Origin: null" in f["message"] and "dkscan-probe.invalid" in f["message"] for f in data["findings"])


def test_burst_is_opt_in_and_finds_an_unenforced_auth_limit(tmp_path, pki, policy):
    with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
        _, ok, err = probe(gw, pki, policy, COMPLIANT, "--burst")
    assert ok["findings"] == [], ok["findings"]  # the compliant gateway answers the burst with 429
    served = variant(COMPLIANT, tmp_path / "served", {"nginx/nginx.conf": [
        ("            limit_req zone=auth burst=5 nodelay;\n", "")]})
    with LiveGateway(served, tmp_path, pki) as gw:
        _, quiet, _ = probe(gw, pki, policy)
        _, data, _ = probe(gw, pki, policy, COMPLIANT, "--burst")
    assert quiet["findings"] == []  # never without --burst
    assert rules_of(data) == ["LIVE061"], data["findings"]
    assert {f["line"] for f in data["findings"]} == {
        i for i, l in enumerate((COMPLIANT / NGINX_CONF).read_text().splitlines(), 1) if "limit_req zone=auth" in l}
    assert all("45 GET requests" in f["message"] and "10 r/s (burst 5)" in f["message"] for f in data["findings"])


def test_body_size_limit_drift(tmp_path, pki, policy):
    """The audited config allows 10m (500m on uploads); the running gateway allows 50m everywhere: each
    location's over-limit POST is answered 100 Continue, not 413. Only headers are sent, never a body."""
    served = variant(COMPLIANT, tmp_path / "served", DRIFTS["body size"])
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, err = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE062"], data["findings"]
    # one root cause (the http-level `client_max_body_size 10m`), one finding: every path it covers is a
    # related location (SARIF relatedLocations, JSON related) and named in the message
    (f,) = data["findings"]
    http_line = line_of(NGINX_CONF, "client_max_body_size 10m")
    assert (f["path"], f["line"]) == (NGINX_CONF, http_line)
    urls = [r["path"] for r in f["related"]]
    prefix = f"https://studios-dk.com:{gw.https_port}"
    # 10m + 1 is accepted where the audited config says 10m; the upload location refuses less than it promises
    # but the check only proves the upper bound (the 500m + 1 POST is still refused): not a finding
    assert {u[len(prefix):] for u in urls if u.startswith(prefix)} == {
        "/", "/health", "/api/v1/auth/", "/api/v1/oauth/", "/api/v1/public/", "/api/", "/ws"}, urls
    assert "1 byte over client_max_body_size 10m" in f["message"] and "100 Continue" in f["message"]
    assert "/api/ (answered 100 Continue)" in f["message"] or f["message"].startswith(f"POST {prefix}/api/ ")
    assert "POST headers announcing an oversized body (no body sent): 8" in err
    # the audited config's own limits, running: every over-limit POST is refused with 413
    with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
        _, ok, _ = probe(gw, pki, policy)
    assert findings(ok, "LIVE062") == []


def test_leaf_only_chain(tmp_path, pki, policy):
    with LiveGateway(COMPLIANT, tmp_path, pki, material="leaf_only") as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE005"], data["findings"]
    (f,) = data["findings"]
    assert "sends only its leaf" in f["message"] and f["line"] == line_of(NGINX_CONF, "ssl_certificate /etc")


def test_certificate_close_to_expiry(tmp_path, policy):
    short = make_pki(tmp_path / "pki", days=10)
    with LiveGateway(COMPLIANT, tmp_path, short) as gw:
        _, data, _ = probe(gw, short, policy)
    assert rules_of(data) == ["LIVE006"], data["findings"]
    assert "in 9 days" in data["findings"][0]["message"] or "in 10 days" in data["findings"][0]["message"]


def test_plain_http_not_redirected(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", {"nginx/conf.d/default.conf": [
        ("return 301 https://$host$request_uri;", "return 200 'plain';")]})
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE023"], data["findings"]
    (f,) = data["findings"]
    assert f["path"].endswith("conf.d/default.conf") and "answers 200" in f["message"]


def test_unreachable_target_is_a_finding(tmp_path, pki, policy):
    port, http_port = free_ports(2)
    url = f"https://studios-dk.com:{port}/"
    code, data, err = probe(LiveGateway(COMPLIANT, tmp_path, pki, http_port=http_port), pki, policy, COMPLIANT, url=url)
    assert code == 1 and rules_of(data) == ["LIVE059"]
    assert "refused" in data["findings"][0]["message"].lower() or "rejected" in data["findings"][0]["message"].lower()
    bad = subprocess.run([sys.executable, "-m", "scanner.cli", "probe", "ftp://x"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


HEADERS = ["Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
           "Referrer-Policy"]


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=5, unique=True))
def test_any_header_without_always_is_found_on_errors(tmp_path_factory, pki, policy, dropped):
    """The class, not the example: whichever security headers lose `always`, exactly those are reported."""
    tmp = tmp_path_factory.mktemp("always")
    text = (COMPLIANT / "nginx" / "security.conf").read_text(encoding="utf-8")
    served = variant(COMPLIANT, tmp / "served", {})
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if any(line.startswith(f"add_header {h} ") for h in dropped):
            lines[i] = line.replace(" always;", ";")
    (served / "nginx" / "security.conf").write_text("".join(lines), encoding="utf-8")
    with LiveGateway(served, tmp, pki) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE021"]
    assert {f["line"] for f in data["findings"]} == {line_of(SECURITY_CONF, f"add_header {h} ") for h in dropped}


def test_broken_cipher_accepted(tmp_path, pki, policy):
    # Debian's OpenSSL 3 has no RC4/3DES left; a NULL-encryption suite at @SECLEVEL=0 is the broken one it can offer
    served = variant(COMPLIANT, tmp_path / "served", {"nginx/nginx.conf": [
        ("ECDHE-RSA-CHACHA20-POLY1305;", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0;")]})
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE003"], data["findings"]  # LIVE004 leaves broken suites to LIVE003
    (f,) = data["findings"]
    assert "ECDHE-ECDSA-NULL-SHA" in f["message"] and f["line"] == line_of(NGINX_CONF, "ssl_ciphers")


def test_ocsp_stapling_promised_but_not_served(tmp_path, policy):
    (closed,) = free_ports(1)  # the leaf's OCSP responder: nobody answers there, so nginx has nothing to staple
    with_aia = make_pki(tmp_path / "pki-aia", ocsp_url=f"http://127.0.0.1:{closed}/")
    without = make_pki(tmp_path / "pki-plain")
    stack = variant(COMPLIANT, tmp_path / "stack", {"nginx/nginx.conf": [
        ("    ssl_session_tickets off;\n", "    ssl_session_tickets off;\n    ssl_stapling on;\n")]})
    with LiveGateway(stack, tmp_path / "a", with_aia) as gw:
        _, data, err = probe(gw, with_aia, policy, stack)
    assert rules_of(data) == ["LIVE007"], data["findings"]
    (f,) = data["findings"]
    assert f"http://127.0.0.1:{closed}/" in f["message"] and f["line"] == line_of(NGINX_CONF, "ssl_session_tickets off;") + 1
    assert "second handshake for the OCSP staple" in err
    with LiveGateway(stack, tmp_path / "b", without) as gw:  # no responder named: GW010's business, not LIVE007's
        _, data, _ = probe(gw, without, policy, stack)
    assert data["findings"] == []


def test_redirects_to_another_host_are_not_followed(tmp_path, pki, policy):
    served = variant(COMPLIANT, tmp_path / "served", {"nginx/nginx.conf": [
        ("        location = /health {\n            access_log off;\n            proxy_pass http://backend_servers;",
         "        location = /health {\n            access_log off;\n            return 302 https://elsewhere.invalid/health;")]})
    with LiveGateway(served, tmp_path, pki) as gw:
        _, data, err = probe(gw, pki, policy)
    assert f"not followed: https://studios-dk.com:{gw.https_port}/health -> https://elsewhere.invalid/health" in err
    assert "GET /health 302" in err and data["findings"] == []


def test_a_silent_server_does_not_hang_the_probe(tmp_path, pki, policy):
    """A port that accepts and never answers: every check times out, the probe ends with LIVE059."""
    import socket
    import time

    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    port = silent.getsockname()[1]
    (http_port,) = free_ports(1)
    try:
        start = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "scanner.cli", "probe", f"https://studios-dk.com:{port}/", str(COMPLIANT),
                              "--resolve", "studios-dk.com:127.0.0.1", "--http-port", str(http_port), "--timeout", "1",
                              "--budget", "6", "--config", str(policy), "--format", "json"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert "Traceback" not in out.stderr
    data = json.loads(out.stdout)
    assert out.returncode == 1 and rules_of(data) == ["LIVE059"], data["findings"]
    assert elapsed < 60  # a hang guard, not a timing


def test_fixes_when_the_config_itself_is_wrong(tmp_path, pki, policy):
    """Probing the stack that is really served: the findings carry the catalog's fixes, and the fixed
    configuration, served, probes clean."""
    from tests.nginx_harness import nginx_t

    stack = variant(COMPLIANT, tmp_path / "stack", {
        "nginx/security.conf": [('add_header X-Frame-Options "DENY" always;', 'add_header X-Frame-Options "DENY";')],
        "nginx/nginx.conf": [("        location / {\n            return 404;",
                              "        location = /nginx_status { stub_status; }\n        location / {\n            return 404;")]})
    with LiveGateway(stack, tmp_path / "a", pki) as gw:
        _, data, _ = probe(gw, pki, policy, stack)
    assert rules_of(data) == ["LIVE021", "LIVE040"], data["findings"]
    (always,) = findings(data, "LIVE021")
    (status,) = findings(data, "LIVE040")
    assert always["fix"]["applicability"] == "safe" and status["fix"]["applicability"] == "unsafe"
    assert always["fix"]["edits"] == [{"path": SECURITY_CONF, "line": always["line"], "column": 34, "new_text": " always",
                                       "insert": True}]
    # apply the two fixes with dkscan's edit machinery and serve the result: it probes clean
    from scanner.fix.apply import apply_edits
    from scanner.model import Edit, Fix, Location

    by_path: dict[str, list] = {}
    for f in (always, status):
        for e in f["fix"]["edits"]:
            loc = Location(e["path"], e["line"], e["column"], e.get("end_line"), e.get("end_column"))
            by_path.setdefault(e["path"], []).append(Fix(f["fix"]["description"], (Edit(loc, e["new_text"]),)))
    for rel, fixes in by_path.items():
        text, applied = apply_edits((stack / rel).read_text(encoding="utf-8"), fixes)
        assert len(applied) == len(fixes)
        (stack / rel).write_text(text, encoding="utf-8")
    assert 'add_header X-Frame-Options "DENY" always;' in (stack / SECURITY_CONF).read_text()
    assert nginx_t(stack)[0]
    with LiveGateway(stack, tmp_path / "b", pki) as gw:
        _, fixed, _ = probe(gw, pki, policy, stack)
    assert fixed["findings"] == [], fixed["findings"]  # the page now allows only the probe's own address


def test_a_hostile_stack_cannot_hang_or_crash_the_probe(tmp_path, pki, policy):
    """The probed STACK is untrusted: a catastrophic-backtracking regex, odd paths and a thousand proxied
    locations neither hang the probe nor make it contact more than a bounded number of paths."""
    many = "".join(f"        location /p{i}/ {{ proxy_pass http://backend_servers; }}\n" for i in range(1000))
    stack = variant(COMPLIANT, tmp_path / "stack", {"nginx/nginx.conf": [
        ("        location / {\n            return 404;",
         "        location ~ ^(/+)+x$ { return 404; }\n"
         "        location \"/we ird/\\u00e9?#\" { proxy_pass http://backend_servers; }\n" + many +
         "        location / {\n            return 404;")]})
    with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
        code, data, err = probe(gw, pki, policy, stack)
    assert "Traceback" not in err and "more proxied locations not requested (at most 40)" in err
    assert data["findings"] == [], data["findings"]  # what is served is the compliant gateway


def test_certificate_for_other_names_or_past_its_end(tmp_path, pki, policy):
    other = make_pki(tmp_path / "pki-other", names=("other.example",))
    with LiveGateway(COMPLIANT, tmp_path / "a", other) as gw:
        _, data, _ = probe(gw, other, policy)
    assert rules_of(data) == ["LIVE005"], data["findings"]
    assert "its names do not cover studios-dk.com" in data["findings"][0]["message"]
    late = tmp_path / "late.yaml"  # clock.today after the leaf's notAfter: expired (the TLS library's clock is not asked)
    late.write_text(f"clock:\n  today: {(pki.not_after + datetime.timedelta(days=3)).isoformat()}\n", encoding="utf-8")
    with LiveGateway(COMPLIANT, tmp_path / "b", pki) as gw:
        _, data, _ = probe(gw, pki, late)
    assert rules_of(data) == ["LIVE005"], data["findings"]
    assert f"expired on {pki.not_after.isoformat()}" in data["findings"][0]["message"]


def test_postgres_published_with_trust_or_a_password(tmp_path, pki, policy):
    """The PostgreSQL check against the real server: a startup for user postgres answered AuthenticationOk
    (trust) is LIVE042; a server that asks for a password is LIVE041, and no password is sent."""
    from tests.probe_harness import TcpPostgres

    trust, scram = TcpPostgres("trust"), TcpPostgres("scram-sha-256")
    try:
        stack = variant(COMPLIANT, tmp_path / "stack", {"docker-compose.prod.yml": [
            ("    shm_size: 256m\n", f'    shm_size: 256m\n    ports:\n      - "{trust.port}:5432"\n      - "{scram.port}:5432"\n')]})
        with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
            _, data, _ = probe(gw, pki, policy, stack, "--ports", f"{trust.port},{scram.port}")
    finally:
        trust.close()
        scram.close()
    assert rules_of(data) == ["LIVE041", "LIVE042"], data["findings"]
    (crit,) = findings(data, "LIVE042")
    assert f":{trust.port} (postgres) accepts user postgres without a password (trust)" in crit["message"]
    assert "compose service postgres" in crit["message"]
    (asks,) = findings(data, "LIVE041")
    assert f":{scram.port} accepts TCP" in asks["message"] and "postgres: asks for a password" in asks["message"]


def test_admin_http_api_published_without_auth(tmp_path, pki, policy):
    """An HTTP admin API (here: what compose says is Prometheus on 9090) answering its status path with 200."""
    from tests.probe_harness import Backend

    api = Backend()
    try:
        stack = variant(COMPLIANT, tmp_path / "stack", {"docker-compose.prod.yml": [
            ('      - "--storage.tsdb.retention.size=8GB"\n',
             f'      - "--storage.tsdb.retention.size=8GB"\n    ports:\n      - "{api.port}:9090"\n')]})
        with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
            _, data, _ = probe(gw, pki, policy, stack, "--ports", str(api.port))
    finally:
        api.close()
    assert rules_of(data) == ["LIVE042"], data["findings"]
    (f,) = data["findings"]
    assert "(prometheus) answers GET /api/v1/status/buildinfo with 200 without credentials" in f["message"]
    assert "compose service prometheus" in f["message"]


def test_nats_published_with_and_without_authorization(tmp_path, pki, policy):
    from tests.probe_harness import NatsServer

    open_nats, locked = NatsServer(), NatsServer("backend", "s3cret-not-sent")
    try:
        stack = variant(COMPLIANT, tmp_path / "stack", {"docker-compose.prod.yml": [
            ('    command: ["-c", "/etc/nats/nats-server.conf"]\n',
             f'    command: ["-c", "/etc/nats/nats-server.conf"]\n    ports:\n      - "{open_nats.port}:4222"\n'
             f'      - "{locked.port}:4222"\n')]})
        with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
            _, data, _ = probe(gw, pki, policy, stack, "--ports", f"{open_nats.port},{locked.port}")
    finally:
        open_nats.close()
        locked.close()
    assert rules_of(data) == ["LIVE041", "LIVE042"], data["findings"]
    (crit,) = findings(data, "LIVE042")
    assert f":{open_nats.port} (nats) greets with INFO without auth_required" in crit["message"]
    (asks,) = findings(data, "LIVE041")
    assert f":{locked.port} accepts TCP" in asks["message"] and "requires authentication" in asks["message"]


def test_weak_leaf_key(tmp_path, policy):
    """Key size (LIVE005): an RSA 1024 leaf, served by the real nginx (below Debian's default OpenSSL
    security level, which refuses to load it), is an invalid certificate at the ssl_certificate line."""
    from tests.probe_harness import low_seclevel

    weak = make_pki(tmp_path / "pki", rsa_bits=1024)
    with LiveGateway(COMPLIANT, tmp_path, weak, env=low_seclevel(tmp_path)) as gw:
        _, data, err = probe(gw, weak, policy)
    assert rules_of(data) == ["LIVE005"], data["findings"]
    (f,) = data["findings"]
    assert "its RSA key has 1024 bits" in f["message"] and f["line"] == line_of(NGINX_CONF, "ssl_certificate /etc")
    assert "RSA 1024 bits" in err


def test_error_answers_of_the_upstream_keep_the_headers_only_with_always(tmp_path, pki, policy):
    """The `always` trap on a 5xx: the upstream answers 500 on /api/v1/upload/. With `always` (the
    audited config) the 500 carries the security headers; without it, nginx drops them there too and
    the 500 is named among the error answers lacking them."""
    with LiveGateway(COMPLIANT, tmp_path / "a", pki, failing=("/api/v1/upload/",)) as gw:
        _, ok, err = probe(gw, pki, policy)
    assert "GET /api/v1/upload/ 500" in err
    assert ok["findings"] == [], ok["findings"]
    served = variant(COMPLIANT, tmp_path / "served", DRIFTS["a missing always"])
    with LiveGateway(served, tmp_path / "b", pki, failing=("/api/v1/upload/",)) as gw:
        _, data, _ = probe(gw, pki, policy)
    assert rules_of(data) == ["LIVE021"], data["findings"]
    upload = f"https://studios-dk.com:{gw.https_port}/api/v1/upload/"
    assert all(upload in [r["path"] for r in f["related"]] for f in data["findings"]), data["findings"]


def test_no_credentials_cookies_proxy_or_netrc_reach_the_target(tmp_path, pki, policy):
    """Safe by default: the backend sets a session cookie on every answer and records every request;
    a .netrc holds credentials for the target and the environment names a proxy that does not exist.
    The probe sends no Authorization and no Cookie, never uses the proxy, and probes clean."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine studios-dk.com login admin password netrc-secret\n", encoding="utf-8")
    (home / ".netrc").chmod(0o600)
    (dead,) = free_ports(1)
    env = {"HOME": str(home), "NETRC": str(home / ".netrc"), "HTTPS_PROXY": f"http://127.0.0.1:{dead}",
           "HTTP_PROXY": f"http://127.0.0.1:{dead}", "ALL_PROXY": f"http://127.0.0.1:{dead}"}
    with LiveGateway(COMPLIANT, tmp_path, pki) as gw:
        import os

        cmd = [sys.executable, "-m", "scanner.cli", "probe", gw.url, str(COMPLIANT.relative_to(ROOT)), "--resolve",
               "studios-dk.com:127.0.0.1", "--ca-file", str(pki.ca_file), "--http-port", str(gw.http_port),
               "--config", str(policy), "--timeout", "5", "--budget", "120", "--format", "json"]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **env})
        seen = list(gw.backend.seen)
    data = json.loads(out.stdout)
    assert data["findings"] == [] and out.returncode == 0, (data["findings"], out.stderr)
    assert len(seen) >= 10  # the proxied locations were reached (through nginx, not the proxy)
    assert not [(m, p) for m, p, h in seen if "authorization" in h or "cookie" in h or "proxy-authorization" in h]

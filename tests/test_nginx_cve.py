"""GW094 nginx-known-cve (issue 15 point 6): the advisories table, the branch-aware "fixed" rule, the
module gating, end of life from the EOL data, the fixes — checked against an independent
reading of the raw table (packaging.version) and against nginx.org's own examples."""

from __future__ import annotations

import datetime as dt
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from rules.helpers.eol import parse_data, shipped_path
from rules.helpers.nginx_cve import FEATURES, exposed, table, version3
from scanner.config import Policy, _merge
from scanner.engine import audit

RAW = json.loads((shipped_path().parent / "nginx_cves.json").read_text())
EOL = parse_data(json.loads(shipped_path().read_text()))
VERSIONS = st.tuples(st.just(1), st.integers(0, 30), st.integers(0, 14))
FEATURE_SETS = st.frozensets(st.sampled_from(FEATURES))


def _reference(v: tuple[int, int, int], used) -> set[str]:
    """The CVEs nginx.org's "Vulnerable: A-B; Not vulnerable: X+, Y+" lines put ``v`` at, read straight
    from the raw JSON with packaging's version ordering."""
    ver = Version(".".join(map(str, v)))
    out = set()
    for adv in RAW["advisories"]:
        if adv["feature"] is not None and adv["feature"] not in used:
            continue
        if not any(Version(lo) <= ver <= Version(hi) for lo, hi in adv["vulnerable"]):
            continue
        if any(Version(f).release[:2] == ver.release[:2] and ver >= Version(f) for f in adv["fixed"]):
            continue
        out.update(adv["cves"])
    return out


def _cves(advisories) -> set[str]:
    return {c for a in advisories for c in a.cves}


def _policy(today: str, **extra) -> Policy:
    p = Policy()
    _merge(p.data, {"clock": {"today": today}, **extra})
    return p


def test_table_names_its_source_and_is_well_formed():
    assert RAW["source"] == "https://nginx.org/en/security_advisories.html"
    assert dt.date.fromisoformat(RAW["snapshot"])
    for adv in RAW["advisories"]:
        assert all(re.fullmatch(r"CVE-\d{4}-\d{4,}", c) for c in adv["cves"])
        for lo, hi in adv["vulnerable"]:
            assert Version(lo) <= Version(hi)
        # a fixed release is above the range of its branch, or the first of a later branch
        for f in adv["fixed"]:
            assert any(Version(lo) < Version(f) for lo, _hi in adv["vulnerable"])


def test_nginx_org_examples():
    every = set(FEATURES)
    assert "CVE-2021-23017" in _cves(exposed((1, 20, 0), {"resolver"}))
    assert "CVE-2021-23017" not in _cves(exposed((1, 20, 1), every))  # fixed on its branch
    assert "CVE-2021-23017" not in _cves(exposed((1, 21, 0), every))  # the mainline fix
    assert "CVE-2021-23017" in _cves(exposed((1, 19, 10), {"resolver"}))  # no fix on the 1.19 branch
    assert "CVE-2021-23017" not in _cves(exposed((1, 20, 0), set()))  # no resolver: not reachable
    assert "CVE-2025-23419" in _cves(exposed((1, 26, 2), set())) and "CVE-2025-23419" not in _cves(exposed((1, 26, 3), set()))
    assert "CVE-2025-23419" in _cves(exposed((1, 27, 3), set())) and not exposed((1, 27, 4), every)
    assert "CVE-2013-2028" in _cves(exposed((1, 4, 0), set())) and "CVE-2013-2028" not in _cves(exposed((1, 4, 1), set()))
    assert _cves(exposed((1, 25, 3), {"http3"})) >= {"CVE-2024-24989", "CVE-2024-31079"}
    assert "CVE-2024-24989" not in _cves(exposed((1, 25, 4), every)) and "CVE-2024-31079" in _cves(exposed((1, 25, 5), {"http3"}))
    assert not exposed((1, 28, 0), every) and not exposed((1, 29, 0), every)
    assert "CVE-2018-16845" in _cves(exposed((1, 0, 10), {"mp4"}))  # the second range of the mp4 advisory


@settings(max_examples=300, deadline=None)
@given(v=VERSIONS, used=FEATURE_SETS)
def test_exposed_matches_an_independent_reading(v, used):
    assert _cves(exposed(v, set(used))) == _reference(v, used)


@settings(max_examples=200, deadline=None)
@given(v=VERSIONS, later=st.integers(0, 14), used=FEATURE_SETS)
def test_a_fix_stays_fixed_within_its_branch(v, later, used):
    """Within one branch, a later patch release is never exposed to an advisory an earlier one that
    is at or above the range start is free of."""
    w = (v[0], v[1], max(v[2], later))
    for a in table().advisories:
        if any(lo <= v <= hi for lo, hi in a.ranges) and not a.affects(v):
            assert not a.affects(w), (a.cves, v, w)
    # and the module gate only removes advisories
    assert _cves(exposed(v, set())) <= _cves(exposed(v, set(used))) <= _cves(exposed(v, set(FEATURES)))


def test_partial_tag_is_the_latest_of_its_line():
    assert version3((1, 20)) > (1, 20, 99)
    assert "CVE-2021-23017" not in _cves(exposed(version3((1, 20)), {"resolver"}))
    assert "CVE-2024-31079" in _cves(exposed(version3((1, 25)), {"http3"}))  # 1.25 never got the fix


CONF = {
    "resolver": "resolver 127.0.0.11;",
    "http2": "http2 on;",
    "http3": "listen 443 quic;",
    "mp4": "location /v/ { mp4; }",
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(v=VERSIONS, used=st.frozensets(st.sampled_from(sorted(CONF))), days=st.integers(0, 3650),
       flavour=st.sampled_from(["", "-alpine", "-alpine-slim", "-perl"]))
def test_rule_follows_the_table_the_data_and_the_clock(tmp_path_factory, v, used, days, flavour):
    root = tmp_path_factory.mktemp("gw094")
    text = ".".join(map(str, v))
    (root / "docker-compose.yml").write_text(
        f"services:\n  nginx:\n    image: nginx:{text}{flavour}\n    ports: ['80:80']\n"
        "    volumes:\n      - ./nginx.conf:/etc/nginx/nginx.conf:ro\n")
    body = "\n        ".join(CONF[k] for k in sorted(used) if k != "resolver")
    res = CONF["resolver"] if "resolver" in used else ""
    (root / "nginx.conf").write_text(f"events {{}}\nhttp {{\n    {res}\n    server {{\n        listen 80;\n        {body}\n    }}\n}}\n")
    today = dt.date(2018, 1, 1) + dt.timedelta(days=days)
    result = audit([root], _policy(today.isoformat()), select=["GW094"], root=root)
    want = _reference(v, used)
    cycle = next((c for c in EOL.products["nginx"]["cycles"] if c.cycle == f"{v[0]}.{v[1]}"), None)
    oldest = min(tuple(map(int, c.cycle.split("."))) for c in EOL.products["nginx"]["cycles"])
    eol = (cycle is not None and cycle.eol is not None and cycle.eol <= today) or (cycle is None and v[:2] < oldest)
    assert len(result.findings) == (1 if want or eol else 0), (text, used, today, [f.message for f in result.findings])
    for f in result.findings:
        assert f.location.start_line == 3
        assert set(re.findall(r"CVE-\d{4}-\d+", f.message)) == want
        assert ("end of life" in f.message) == eol
        if cycle is not None and eol:
            assert cycle.eol.isoformat() in f.message


def test_issue_example_nginx_115_is_end_of_life(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.15\n")
    (tmp_path / "nginx.conf").write_text("events {}\nhttp { server { listen 80; } }\n")
    (f,) = audit([tmp_path], _policy("2026-01-01"), select=["GW094"], root=tmp_path).findings
    assert "reached end of life on 2019-04-23" in f.message and f.location.start_line == 3
    # APP013 leaves nginx to GW094: one answer
    assert not audit([tmp_path], _policy("2026-01-01"), select=["APP013"], root=tmp_path).findings


def test_floating_and_unknown_tags_are_not_judged(tmp_path):
    for ref in ("nginx", "nginx:latest", "nginx:stable-alpine", "nginx:mainline", "nginx:alpine", "nginx:1", "nginx:${TAG}"):
        (tmp_path / "docker-compose.yml").write_text(f"services:\n  web:\n    image: '{ref}'\n")
        (tmp_path / "nginx.conf").write_text("events {}\nhttp { resolver 127.0.0.11; server { listen 80; } }\n")
        assert not audit([tmp_path], _policy("2026-01-01"), select=["GW094"], root=tmp_path).findings, ref


def test_fix_bumps_within_the_branch_or_to_a_supported_one(tmp_path):
    from scanner.fix.apply import apply_edits

    compose = tmp_path / "docker-compose.yml"
    (tmp_path / "nginx.conf").write_text("events {}\nhttp { resolver 127.0.0.11; server { listen 80; } }\n")
    # 1.26 still supported on 2025-01-01: the branch's own fixed release
    compose.write_text("services:\n  web:\n    image: \"nginx:1.26.0-alpine\"\n")
    (f,) = audit([tmp_path], _policy("2025-01-01"), select=["GW094"], root=tmp_path).findings
    fixed, _ = apply_edits(compose.read_text(), [f.fix])
    assert 'image: "nginx:1.26.3-alpine"' in fixed
    # end of life: APP013's bump to the oldest supported branch
    (f,) = audit([tmp_path], _policy("2026-01-01"), select=["GW094"], root=tmp_path).findings
    fixed, _ = apply_edits(compose.read_text(), [f.fix])
    assert 'image: "nginx:1.28-alpine"' in fixed


def test_module_advisories_follow_the_configuration(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.17.2\n"
                                                 "    volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']\n")
    conf = tmp_path / "nginx.conf"
    for listen, has in (("listen 443 ssl http2;", True), ("listen 443 ssl;", False), ("listen 443 ssl; http2 on;", True)):
        conf.write_text(f"events {{}}\nhttp {{ server {{ {listen} }} }}\n")
        (f,) = audit([tmp_path], _policy("2019-08-01"), select=["GW094"], root=tmp_path).findings
        assert ("CVE-2019-9511" in f.message) == has, listen
        assert "CVE-2025-23419" in f.message and "end of life" not in f.message


def test_only_nginx_images_are_judged_unless_the_policy_names_the_version(tmp_path):
    compose = tmp_path / "docker-compose.yml"
    (tmp_path / "nginx.conf").write_text("events {}\nhttp { server { listen 80; } }\n")
    for ref, judged in (("nginxproxy/nginx-proxy:1.5.0", False), ("jc21/nginx-proxy-manager:2.9.0", False),
                        ("openresty/openresty:1.19.9.1-alpine", False), ("bitnami/nginx:1.20.0", True),
                        ("nginxinc/nginx-unprivileged:1.24-alpine", True), ("docker.io/library/nginx:1.18.0", True)):
        compose.write_text(f"services:\n  web:\n    image: {ref}\n    volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']\n")
        found = audit([tmp_path], _policy("2026-01-01"), select=["GW094"], root=tmp_path).findings
        assert len(found) == (1 if judged else 0), (ref, [f.message for f in found])
    # the policy's nginx.version is the version, wherever the image comes from; no fix edits the tag
    compose.write_text("services:\n  web:\n    image: openresty/openresty:1.19.9.1-alpine\n    volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']\n")
    (f,) = audit([tmp_path], _policy("2026-01-01", nginx={"version": "1.20.0"}), select=["GW094"], root=tmp_path).findings
    assert "nginx 1.20.0" in f.message and "nginx.version" in f.message and f.location.start_line == 3 and f.fix is None

"""The nginx proxying/access-control rules family (rules/gateway/proxy.py, rules/gateway/access.py and their nginx siblings):
fixes that really fix, and the regex and variable analysis they rest on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rules.gateway.access import origin_regex_flaw
from rules.helpers.nginx_proxy import regex_groups
from scanner.engine import audit
from scanner.fix.apply import plan_fixes
from scanner.registry import load_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "rules"
FAMILY = ("GW060 GW061 GW062 GW064 GW065 GW066 GW067 GW068 GW069 GW071 GW080 GW081 GW082 GW083 GW084 GW085 "
          "GW086 GW087 GW088 GW089 GW090 GW091 GW092 PER003 PER041 API020 API021 API022 OPS047 OPS063 OPS064").split()
FIXABLE = [(rid, case) for rid in FAMILY if load_rules()[rid].fix != "manual"
           for case in sorted((FIXTURES / rid).glob("bad*")) if (FIXTURES / rid).is_dir()]


# Bad cases where the fix cannot be written as an edit, and why.
NO_FIX_CASES = {
    "GW092/bad-repo-root": "the server already denies dotfiles; what the root exposes (docker-compose.yml) is no dotfile, so the catalog's fix (add `location ~ /\\. { deny all; }`) cannot help",
    "PER003/bad-upstream": "the published port uses the long syntax (a mapping): the delete-the-entry fix only rewrites one-line entries",
}


@pytest.mark.parametrize("rid,case", FIXABLE, ids=[f"{r}/{c.name}" for r, c in FIXABLE])
def test_fix_removes_the_finding(rid, case, tmp_path):
    before = audit([case], select=[rid], root=case)
    fixable = [f for f in before.findings if f.rule == rid and f.fix is not None]
    if f"{rid}/{case.name}" in NO_FIX_CASES:
        assert not fixable, f"{rid}/{case.name} now offers a fix: remove it from NO_FIX_CASES"
        return
    assert fixable, "a rule whose catalog fix is not manual offers no fix on its bad case"
    plan = plan_fixes([case], unsafe=True, rules={rid}, root=case)
    assert plan.changed, "fixes were offered but none applied"
    work = tmp_path / case.name
    shutil.copytree(case, work)
    for rel in plan.changed:
        (work / rel).write_text(plan.new[rel], encoding="utf-8")
    after = audit([work], select=[rid, "OPS081"], root=work)
    assert not [f for f in after.findings if f.rule == "OPS081"], "the fix broke the file"
    left = [f for f in after.findings if f.rule == rid]
    assert len(left) == len(before.findings) - len(fixable), [(f.location, f.message) for f in left]
    if any(p.suffix == ".conf" for p in work.rglob("*")) and f"{rid}/{case.name}" not in NGINX_T_EXPECTED_FAIL:
        from tests.nginx_harness import nginx_t, require_nginx

        require_nginx()
        ok, out = nginx_t(work)
        assert ok, "the fixed configuration fails nginx -t:\n" + out


@pytest.mark.parametrize("regex,referer,bad", [
    (r"^https://example\.com$", False, False),
    (r"^https://([a-z0-9-]+\.)?example\.com(:[0-9]+)?$", False, False),
    (r"^https://example.com$", False, True),  # unescaped dot in the registrable domain
    (r"^https://l.o\.example\.com$", False, False),  # wildcard in a subdomain label only
    (r"https://example\.com$", False, True),  # no ^
    (r"^https://example\.com", False, True),  # no $
    (r"^https://example\.com/", False, True),  # an Origin has no path
    (r"^https://([^/]+)?example\.com$", False, True),  # evilexample.com
    (r"^https://example\.com([^/]+)?$", False, True),  # example.com.evil.net
    (r"^https://([a-z]+\.)?co\.uk$", False, True),  # a public suffix is no domain
    (r"^https?://(www\.)?example\.com/", True, False),
    (r"^https://example\.com($|/)", True, False),
    (r"^https://(.*\.)?example\.com/", True, True),  # https://evil.net/x.example.com/
    (r"^https://example\.com(?P<path>.*)", True, True),
    (r"^([^/]+)?https://example\.com/", True, True),
    (r"^https://example\.com/|^https://example\.org/", True, False),
    (r"^https://example\.com/|example\.org/", True, True),
])
def test_origin_regex_flaw(regex, referer, bad):
    assert bool(origin_regex_flaw(regex, False, referer)) is bad


def test_capture_groups():
    groups = regex_groups(r"/proxy/(a|b)/(?<rest>[^/]*)$")
    assert groups[1].fixed and not groups["rest"].fixed
    assert "\n" in groups["rest"].chars and "/" not in groups["rest"].chars
    assert regex_groups("(unbalanced") is None


def test_rules_never_raise_on_odd_nginx(tmp_path):
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp {\n  map {\n  }\n  server {\n    location {\n      alias;\n      proxy_pass;\n      allow;\n"
        "      if ($http_origin ~ \"(?<x\") { return; }\n      valid_referers;\n      add_header Access-Control-Allow-Origin;\n"
        "      proxy_set_header Host;\n      resolver [::1;\n      set;\n      rewrite;\n      return 301;\n    }\n"
        "    location ~ ([) { alias /x/$1; }\n  }\n}\n")
    result = audit([tmp_path], select=FAMILY + ["OPS082"], root=tmp_path)
    assert not [f for f in result.findings if f.rule == "OPS082"], [f.message for f in result.findings if f.rule == "OPS082"]


# Fixtures that real `nginx -t` cannot pass here, and why. Every other fixture of the family must pass.
NGINX_T_EXPECTED_FAIL = {
    "GW067/bad": "the unknown upstream host is the finding: nginx refuses to start",
    "GW067/good-external-network": "the name comes from another project's external network",
    "OPS063/bad": "the missing include is the finding: nginx -t fails",
    "GW064/good-unix-socket": "the harness maps the host `unix` of `http://unix:/run/app.sock` to 127.0.0.1",
    "GW066/good-internal-name": "`dns.internal` only resolves on the deployment's network",
    "GW068/good-proxy-params": "`proxy_params` ships with Debian's nginx, not with the official image",
    "GW085/good-unix-socket": "nginx -t binds the unix socket, and /run/nginx does not exist here",
}
NGINX_CASES = [(rid, case) for rid in FAMILY if (FIXTURES / rid).is_dir() for case in sorted((FIXTURES / rid).iterdir())
               if case.is_dir() and any(p.suffix == ".conf" for p in case.rglob("*"))]


@pytest.mark.parametrize("rid,case", NGINX_CASES, ids=[f"{r}/{c.name}" for r, c in NGINX_CASES])
def test_fixture_passes_real_nginx(rid, case):
    from tests.nginx_harness import nginx_t, require_nginx

    require_nginx()
    ok, out = nginx_t(case)
    key = f"{rid}/{case.name}"
    if key in NGINX_T_EXPECTED_FAIL:
        assert not ok, f"{key} now passes nginx -t: remove it from NGINX_T_EXPECTED_FAIL"
    else:
        assert ok, out

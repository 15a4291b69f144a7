"""The real nginx agrees with dkscan about which gateway configurations load.

Every nginx fixture of the TLS, header, limit and nginx-capacity rules (and the bundled stacks) is
laid out as its gateway container sees it (``tests/nginx_harness.py``) and checked with ``nginx -t``:
a stack dkscan considers valid must load; one dkscan calls broken — a parse error (OPS081), an
``add_header`` nginx refuses (GW035), an undefined limit zone (GW045), a TLS server without a
loadable certificate (GW008) — must be refused. Then each fix these rules offer is applied
(``dkscan fix --unsafe`` restricted to the rule): the finding must be gone and the fixed
configuration must still load.

nginx must be installed (``.ci/deps`` installs Debian's): the tests fail, never skip, without it.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from scanner.config import Policy, _merge
from scanner.engine import audit
from scanner.fix.apply import plan_fixes
from scanner.registry import load_rules
from tests.nginx_harness import nginx_t, require_nginx
from tests.ruletest import load_expected

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "rules"
RULES = ("GW001 GW002 GW003 GW004 GW005 GW006 GW007 GW008 GW020 GW021 GW022 GW023 GW024 GW026 GW027 GW028 "
         "GW030 GW031 GW032 GW035 GW036 GW040 GW041 GW042 GW043 GW044 GW045 GW046 GW049 GW050 "
         "PERF060 PERF061 PERF062").split()
# what nginx -t refuses, as dkscan reports it
BROKEN = ("OPS081", "GW035", "GW045", "GW008")
BUNDLED = [ROOT / "fixtures" / "studios-dk", ROOT / "fixtures" / "studios-dk-compliant"]


def _cases() -> list[Path]:
    out = []
    for rid in RULES:
        d = FIXTURES / rid
        if d.is_dir():
            out.extend(sorted(p for p in d.iterdir() if p.is_dir() and p.name.startswith(("bad", "good"))))
    return out + [p for p in BUNDLED if p.is_dir()]


def _policy(case: Path) -> Policy:
    policy = Policy()
    if (case / "expected.json").is_file():
        spec = load_expected(case)
        if spec.get("policy"):
            data = copy.deepcopy(policy.data)
            _merge(data, spec["policy"])
            policy = Policy(data)
    return policy


def _name(case: Path) -> str:
    return case.name if case.parent.name in ("fixtures",) else f"{case.parent.name}/{case.name}"


CASES = _cases()


@pytest.fixture(scope="module")
def nginx() -> str:
    return require_nginx()


@pytest.mark.parametrize("case", CASES, ids=[_name(c) for c in CASES])
def test_nginx_t_agrees_with_dkscan(nginx, case):
    result = audit([case], _policy(case), select=list(BROKEN), root=case)
    broken = sorted({f"{f.rule} {f.location}" for f in result.findings if f.rule in BROKEN})
    ok, output = nginx_t(case, binary=nginx)
    if broken:
        assert not ok, f"dkscan calls {_name(case)} broken ({broken}) but nginx -t accepts it:\n{output}"
    else:
        assert ok, f"dkscan finds nothing nginx refuses in {_name(case)}, but nginx -t fails:\n{output}"


FIXABLE = [c for c in CASES if c.parent.name in RULES and c.name.startswith("bad")
           and load_rules()[c.parent.name].fix != "manual"]


@pytest.mark.parametrize("case", FIXABLE, ids=[_name(c) for c in FIXABLE])
def test_fix_removes_the_finding_and_nginx_still_loads(nginx, case, tmp_path):
    rid = case.parent.name
    policy = _policy(case)
    work = tmp_path / "case"  # outside the repository: no git lookups
    shutil.copytree(case, work)
    plan = plan_fixes([work], policy=policy, unsafe=True, rules={rid}, root=work)
    assert plan.changed, f"{rid} {case.name}: no fix was applied"
    fixed = tmp_path / "fixed"
    shutil.copytree(work, fixed)
    for rel, text in plan.new.items():
        (fixed / rel).parent.mkdir(parents=True, exist_ok=True)
        (fixed / rel).write_text(text, encoding="utf-8")
    after = audit([fixed], policy, root=fixed)
    left = [(str(f.location), f.message) for f in after.findings if f.rule == rid]
    assert not left, f"{rid} {case.name}: still reported after its fix: {left}"
    new_breakage = [(f.rule, str(f.location), f.message) for f in after.findings if f.rule in BROKEN]
    assert not new_breakage, f"{rid} {case.name}: the fix broke the configuration: {new_breakage}"
    ok, output = nginx_t(fixed, binary=nginx)
    assert ok, f"{rid} {case.name}: nginx -t refuses the fixed configuration:\n{output}"


def test_harness_wraps_fragments_and_reports_failures(nginx, tmp_path):
    """A bare server-context fragment is wrapped in events/http/server; a broken one fails."""
    good = tmp_path / "good"
    good.mkdir()
    (good / "site.conf").write_text("listen 8080;\nlocation / {\n    return 200 'ok';\n}\n")
    ok, output = nginx_t(good, binary=nginx)
    assert ok, output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "site.conf").write_text("listen 8080;\nlocation / {\n    limit_req zone=nowhere;\n    return 200 'ok';\n}\n")
    ok, output = nginx_t(bad, binary=nginx)
    assert not ok and "nowhere" in output, output

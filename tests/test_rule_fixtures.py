"""Every rule fires where its bad fixtures say and stays silent on its good ones."""

import pytest

from scanner.registry import load_rules
from tests.ruletest import FIXTURES, cases, run_case

CASES = cases()
# Rules that cannot have a stack fixture, with the test that covers them instead.
NO_FIXTURE = {"OPS082": "tests/test_engine.py::test_raising_rule_becomes_internal_error"}
# LIVE rules judge a running gateway, not files: each is covered against a real nginx in tests/test_probe_nginx.py.
NO_FIXTURE.update({rid: "tests/test_probe_nginx.py" for rid in (
    "LIVE001", "LIVE002", "LIVE003", "LIVE004", "LIVE005", "LIVE006", "LIVE007", "LIVE020", "LIVE021", "LIVE022",
    "LIVE023", "LIVE024", "LIVE040", "LIVE041", "LIVE042", "LIVE059", "LIVE060", "LIVE061", "LIVE062")})


@pytest.mark.parametrize("rule_id,case", CASES, ids=[f"{r}/{c.name}" for r, c in CASES])
def test_rule_fixture(rule_id, case, tmp_path):
    assert rule_id in load_rules(), f"fixtures/rules/{rule_id} names no registered rule"
    got, want, result = run_case(rule_id, case, tmp_path)
    if case.name.startswith("good"):
        assert got == [], f"{rule_id} fired on a good case: {[(f.location, f.message) for f in result.findings if f.rule == rule_id]}"
    else:
        assert want, f"{case}/expected.json lists no finding"
        assert got == want, f"{rule_id}: got {got}, want {want}"


def test_every_rule_has_bad_and_good_fixtures():
    missing = []
    for rule_id in load_rules():
        if rule_id in NO_FIXTURE:
            continue
        d = FIXTURES / rule_id
        names = [p.name for p in d.iterdir()] if d.is_dir() else []
        if not any(n.startswith("bad") for n in names) or not any(n.startswith("good") for n in names):
            missing.append(rule_id)
    assert not missing, f"rules without bad/ and good/ fixtures: {missing}"

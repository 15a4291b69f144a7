"""Issue 15, point 5: an automatic fix never breaks startup.

After ``fix --apply --unsafe`` (every fix, safe and unsafe) the stack has no finding its original
did not have. A finding is the same when its rule and file are, and either its fingerprint (rule,
file, snippet: it survives line shifts) or its message is (a fix may rewrite the line a finding
stands on without removing it). Mutated stacks are drawn from:

- the compliant bundled stack with random defects injected (``tests.test_fix_property.MUTATIONS``);
- the insecure bundled stack with some of its own defects repaired by hand first (the reverse
  mutations: a stack between the two);
- every rule fixture case (``fixtures/rules/<ID>/bad*`` and ``good*``), alone or two side by side
  in one deployment folder, which mixes the defects of two rules in one stack.

The cases found by it and fixed: API062 rewrote ``nats-server.conf`` to ``password: $VAR`` with no
such variable in the nats service (OPS060: nats-server refuses to start), OPS004 added
``log_statement=ddl`` where the init scripts set role passwords (OPS005), API022 added allow/deny
to a location an ``if (...) { return 200; }`` answers first (GW083), and OPS042's ``restart:
unless-stopped`` turned init jobs into services rerun forever (OPS046).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engine import audit
from scanner.fix.apply import plan_fixes, write_changes
from scanner.report.common import fingerprint
from tests.test_fix_property import CLASHES, MUTATIONS, _mutate

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "fixtures"
CASES = sorted(p for p in (ROOT / "fixtures" / "rules").glob("*/*") if p.is_dir() and p.name.startswith(("bad", "good")))
COMPOSE_NAMES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")

# hand repairs of the insecure stack: (file, exact text, replacement)
REPAIRS = {
    "nats-password-from-env": ("nats/nats-server.conf", 'password: "backend2025"', "password: $NATS_PASSWORD"),
    "no-root-login": ("ssh/sshd_config", "PermitRootLogin yes", "PermitRootLogin no"),
    "no-password-login": ("ssh/sshd_config", "PasswordAuthentication yes", "PasswordAuthentication no"),
}


def new_findings(before, after) -> list:
    """The findings of ``after`` that ``before`` did not have (same rule and file, and the same
    fingerprint or message)."""
    fps = {(f.rule, f.location.path, fingerprint(before, f)) for f in before.findings}
    msgs = {(f.rule, f.location.path, f.message) for f in before.findings}
    return [f for f in after.findings
            if (f.rule, f.location.path, fingerprint(after, f)) not in fps and (f.rule, f.location.path, f.message) not in msgs]


def _copy_case(case: Path, dst: Path) -> None:
    shutil.copytree(case, dst, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.json"))


@st.composite
def stacks(draw):
    kind = draw(st.sampled_from(["compliant", "insecure", "case", "cases"]))
    if kind == "compliant":
        names = draw(st.sets(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=6).filter(
            lambda s: not any(c <= s for c in CLASHES)))
        return kind, tuple(sorted(names))
    if kind == "insecure":
        return kind, tuple(sorted(draw(st.sets(st.sampled_from(sorted(REPAIRS)), max_size=len(REPAIRS)))))
    if kind == "case":
        return kind, (draw(st.sampled_from(CASES)),)
    a, b = draw(st.lists(st.sampled_from(CASES), min_size=2, max_size=2, unique=True))
    return kind, (a, b)


def _build(kind: str, parts: tuple, d: Path) -> bool:
    """Lay the drawn stack out in ``d``; False when the parts cannot share one folder."""
    if kind == "compliant":
        shutil.copytree(BUNDLED / "studios-dk-compliant", d)
        _mutate(d, set(parts))
        return True
    if kind == "insecure":
        shutil.copytree(BUNDLED / "studios-dk", d)
        for name in parts:
            rel, old, new = REPAIRS[name]
            text = (d / rel).read_text()
            assert text.count(old) == 1, f"repair {name}: the insecure fixture changed"
            (d / rel).write_text(text.replace(old, new))
        return True
    names = [{p.relative_to(c).as_posix() for p in c.rglob("*") if p.is_file() and p.name != "expected.json"}
             for c in parts]
    if len(parts) == 2 and (names[0] & names[1]):
        return False  # two cases writing the same file: not one stack
    if len(parts) == 2 and sum(any(n in COMPOSE_NAMES for n in ns) for ns in names) > 1:
        return False
    d.mkdir()
    for c in parts:
        _copy_case(c, d)
    return True


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=stacks())
def test_fixes_add_no_finding(drawn):
    kind, parts = drawn
    with tempfile.TemporaryDirectory(prefix="dkscan-nonew-") as tmp:
        d = Path(tmp) / "stack"
        if not _build(kind, parts, d):
            return
        before = audit([d])
        write_changes(plan_fixes([d], unsafe=True))
        after = audit([d])
        added = [(f.rule, str(f.location), f.message) for f in new_findings(before, after)]
        assert not added, f"fixing {kind} {[str(p) for p in parts]} added findings: {added}"


def test_the_nats_fix_passes_the_variable_or_is_not_offered(tmp_path):
    """The issue's case: the insecure stack's nats password has no variable in the nats service, so
    API062 offers no fix (a $VAR reference would stop nats-server: OPS060); with the variable in the
    service's environment, the fix references it and nats starts."""
    d = tmp_path / "s"
    shutil.copytree(BUNDLED / "studios-dk", d)
    found = [f for f in audit([d]).findings if f.rule == "API062"]
    assert found and all(f.fix is None for f in found)
    compose = d / "docker-compose.prod.yml"
    text = compose.read_text()
    anchor = '    command: ["-c", "/etc/nats/nats-server.conf"]\n'
    assert text.count(anchor) == 1
    compose.write_text(text.replace(anchor, anchor + "    env_file: .env.prod\n"))
    found = [f for f in audit([d]).findings if f.rule == "API062"]
    assert found and all(f.fix is not None for f in found)
    write_changes(plan_fixes([d], unsafe=True, rules={"API062"}))
    conf = (d / "nats" / "nats-server.conf").read_text()
    assert "password: $NATS_PASSWORD" in conf
    assert not [f for f in audit([d]).findings if f.rule in ("OPS060", "API062") and f.location.path.startswith("nats/")]


def test_new_findings_sees_a_new_finding():
    """The comparison is not vacuous: a finding the original lacks is reported."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "s"
        shutil.copytree(BUNDLED / "studios-dk-compliant", d)
        before = audit([d])
        _mutate(d, {"publish-postgres-port"})
        after = audit([d])
        assert any(f.rule.startswith("PER") for f in new_findings(before, after))
        assert not new_findings(after, after)

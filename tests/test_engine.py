"""The engine: rule isolation, sorting, redaction, and the audit entry point."""

from pathlib import Path

from scanner.engine import audit, run_rules
from scanner.model import Layer, Location, Rule, Severity, hit
from scanner.stack import build_stack


def _rule(rid, check):
    return Rule(id=rid, name="t", layer=Layer.for_rule_id(rid), severity=Severity.LOW, title="t",
                files=("compose",), references=(), fix="manual", check=check, doc="t")


def _stack(tmp_path: Path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    return build_stack([tmp_path])


def test_raising_rule_becomes_internal_error(tmp_path):
    stack = _stack(tmp_path)

    def boom(stack):
        yield hit(Location("docker-compose.yml", 2, 3), "before the crash")
        raise KeyError("x")

    def fine(stack):
        yield hit(Location("docker-compose.yml", 3, 5), "ok")

    out = run_rules(stack, {"APP900": _rule("APP900", boom), "APP901": _rule("APP901", fine)})
    rules = [f.rule for f in out]
    assert "OPS082" in rules, rules
    internal = next(f for f in out if f.rule == "OPS082")
    assert "APP900" in internal.message and "KeyError" in internal.message
    assert internal.location.path == "docker-compose.yml"
    # the scan went on: the next rule still ran
    assert any(f.rule == "APP901" for f in out)


def test_findings_sorted_and_stable(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n    privileged: true\n"
        "  cache:\n    image: redis:7\n    ports: ['6379:6379']\n")
    r1 = audit([tmp_path])
    r2 = audit([tmp_path])
    keys = [f.sort_key() for f in r1.findings]
    assert keys == sorted(keys)
    assert [(f.rule, f.location) for f in r1.findings] == [(f.rule, f.location) for f in r2.findings]


def test_secret_values_redacted_from_messages(tmp_path):
    (tmp_path / ".env").write_text("DB_PASSWORD=Zq8vPp3nWx7Lr2Kt\n")
    stack = build_stack([tmp_path])

    def leaky(stack):
        yield hit(Location(".env", 1, 1), "value is Zq8vPp3nWx7Lr2Kt oops")

    from scanner.engine import collect_secrets

    red = collect_secrets(stack)
    out = run_rules(stack, {"DATA900": _rule("DATA900", leaky)})
    assert "Zq8vPp3nWx7Lr2Kt" not in red(out[0].message)
    assert "***" in red(out[0].message)


def test_parse_error_becomes_finding_and_rest_is_audited(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432'\n")
    (tmp_path / "nginx.conf").write_text("http {\n  server {\n    listen 80;\n")
    (tmp_path / "init.sql").write_text("CREATE TABLE t (id int);\nSELEC 1;\n")
    r = audit([tmp_path])
    errs = {(f.location.path, f.location.start_line) for f in r.findings if f.rule == "OPS081"}
    assert ("init.sql", 2) in errs
    assert any(p == "docker-compose.yml" for p, _ in errs)
    assert any(p == "nginx.conf" for p, _ in errs)


def test_fix_safety_is_declared_once_by_the_rule(tmp_path):
    """``@rule(fix=...)`` is the one declaration of a fix's safety: a fix that leaves it out gets the
    rule's; one that states another, or any fix of a ``manual`` rule, is a rule bug (OPS082)."""
    import dataclasses

    from scanner.model import Edit, Fix

    stack = _stack(tmp_path)
    loc = Location("docker-compose.yml", 3, 5)

    def builds(applicability):
        def check(stack):
            yield hit(loc, "x", fix=Fix("do it", (Edit(loc, "nginx:1.27.1"),), applicability))
        return check

    for declared in ("safe", "unsafe"):
        rule = dataclasses.replace(_rule("APP900", builds(None)), fix=declared)
        (f,) = run_rules(stack, {"APP900": rule})
        assert f.rule == "APP900" and f.fix.applicability == declared
        (f,) = run_rules(stack, {"APP900": dataclasses.replace(rule, check=builds(declared))})
        assert f.fix.applicability == declared
        other = "unsafe" if declared == "safe" else "safe"
        (f,) = run_rules(stack, {"APP900": dataclasses.replace(rule, check=builds(other))})
        assert f.rule == "OPS082" and "FixSafetyError" in f.message
    (f,) = run_rules(stack, {"APP900": _rule("APP900", builds(None))})  # declared manual
    assert f.rule == "OPS082"


def test_every_rule_fix_states_no_other_safety():
    """No rule restates its fix safety as a literal (it is derived from ``@rule(fix=...)``)."""
    import ast
    import re

    root = Path(__file__).resolve().parent.parent / "rules"
    stated = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Fix":
                args = node.args[2:] + [k.value for k in node.keywords if k.arg == "applicability"]
                if any(isinstance(a, ast.Constant) or (isinstance(a, ast.Name) and re.fullmatch(r"(UN)?SAFE", a.id))
                       for a in args):
                    stated.append(f"{path.name}:{node.lineno}")
    assert not stated, stated

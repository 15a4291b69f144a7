"""The generated rule index (``rules/_index.py``, ``python -m scanner.rule_index``) is what importing
every rule module gives, and reading it imports no rule module."""

import json
import subprocess
import sys
from pathlib import Path

from scanner import rule_index
from scanner.registry import _from_index, imported_rules, load_rules

ROOT = Path(__file__).resolve().parent.parent


def test_index_is_current():
    with open(rule_index.path(), encoding="utf-8") as fh:
        current = fh.read()
    assert current == rule_index.render(), "rules/_index.py is stale: run `python -m scanner.rule_index`"


def test_index_equals_the_imported_rules():
    indexed = _from_index()
    assert indexed is not None, "rules/_index.py does not describe the rule modules: run `python -m scanner.rule_index`"
    real = imported_rules()
    assert list(indexed) == list(real)  # same ids, same order (layer, then id)
    for rid, rule in real.items():
        assert indexed[rid] == rule, rid  # every field but the function
        assert indexed[rid].check.__module__ == rule.check.__module__
        assert indexed[rid].check.__annotations__ == rule.check.__annotations__
    assert load_rules() is indexed


def test_a_lazy_check_runs_the_real_rule():
    from scanner.engine import audit

    real = imported_rules()
    indexed = _from_index()
    result = audit([ROOT / "fixtures" / "rules" / "PER001" / "bad"], select=["PER001"])
    assert [f.rule for f in result.findings] and {f.rule for f in result.findings} == {"PER001"}
    assert indexed["PER001"].check._real() is real["PER001"].check


def _imported_after(code: str) -> list[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('rules'))))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_metadata_without_importing_a_rule_module():
    listed = _imported_after(
        "from click.testing import CliRunner\nfrom scanner.cli import main\n"
        "r = CliRunner().invoke(main, ['rules', '--format', 'json'])\nassert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(main, ['explain', 'DATA040'])\nassert r.exit_code == 0, r.output")
    assert listed == ["rules", "rules._index"]


def test_an_audit_imports_only_the_families_its_kinds_need():
    imported = _imported_after(
        "from scanner.engine import audit\n"
        "audit(['fixtures/studios-dk/nginx/nginx.conf'])")
    assert "rules.gateway.headers" in imported  # nginx rules ran
    assert not [m for m in imported if m.endswith(("sql", "sql_rls", "dockerfile", "nats"))], imported
    assert "pglast" not in _imported_after("from scanner.engine import audit\naudit(['fixtures/studios-dk/nginx/nginx.conf'])\n"
                                           "import sys\nassert 'pglast' not in sys.modules")


def test_a_changed_module_makes_the_index_unused(tmp_path, monkeypatch):
    import scanner.registry as registry
    from rules import _index

    monkeypatch.setattr(registry, "_INDEXED", {})
    monkeypatch.setattr(registry, "_ALL", {})
    monkeypatch.setitem(_index.MODULES, "rules.api.jwt", _index.MODULES["rules.api.jwt"] + 1)
    assert registry._from_index() is None
    assert list(registry.load_rules()) == list(imported_rules())
    monkeypatch.setitem(_index.MODULES, "rules.api.jwt", _index.MODULES["rules.api.jwt"] - 1)
    monkeypatch.setitem(_index.PACKAGES, "api", _index.PACKAGES["api"][1:])
    assert registry._from_index() is None


def test_precomputed_ruleset_hashes():
    import dataclasses

    from scanner.registry import audit_rules, probe_rules
    from scanner.report.common import ruleset_hash

    for rules in (load_rules(), audit_rules(), probe_rules()):
        copies = {k: dataclasses.replace(r) for k, r in rules.items()}  # not the index's objects: computed
        assert ruleset_hash(rules) == ruleset_hash(copies)
    some = dict(list(audit_rules().items())[:5])
    assert ruleset_hash(some) == ruleset_hash({k: dataclasses.replace(r) for k, r in some.items()})

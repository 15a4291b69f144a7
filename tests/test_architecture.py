"""The rooms of the code and what each may import (docs/architecture.md).

- A module under ``rules/`` that defines a rule imports no other such module: only the helper layer
  (``rules/helpers/``), ``scanner.model``, the parsers' types, ``scanner.registry`` and the few
  ``scanner`` services a rule asks (secrets, config sizes). Imports inside functions count too.
- The helper layer imports no rule module.
- No broad ``except Exception`` and no ``except ImportError`` probe anywhere under ``rules/``: the
  engine isolates a failing rule (OPS082); a rule catches the specific error of a malformed value.
- No rules file is over 800 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (module level and inside functions), absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from rules.gateway import tls`
    return out


def _defines_rule(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "rule"
               for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
               for d in node.decorator_list)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(RULES.rglob("*.py"))}


def test_rule_modules_import_no_other_rule_module():
    modules = _modules()
    rule_modules = {name for name, p in modules.items() if _defines_rule(p)}
    assert len(rule_modules) >= 30, sorted(rule_modules)  # the walk did find the rule modules
    bad = []
    for name in sorted(rule_modules):
        for imp in sorted(_imports(modules[name])):
            target = next((m for m in rule_modules if imp == m or imp.startswith(m + ".")), None)
            if target is not None and target != name:
                bad.append(f"{name} imports {imp}")
            if imp.startswith("rules.") and not imp.startswith("rules.helpers") and target is None:
                bad.append(f"{name} imports {imp}, which is not the helper layer")
    assert not bad, bad


def test_helper_layer_imports_no_rule_module():
    modules = _modules()
    helpers = {n: p for n, p in modules.items() if n.startswith("rules.helpers")}
    assert helpers
    bad = []
    for name, path in helpers.items():
        assert not _defines_rule(path), f"{name} defines a rule: rules live in rules/<layer>/<family>.py"
        for imp in _imports(path):
            if imp.startswith("rules.") and not imp.startswith("rules.helpers"):
                bad.append(f"{name} imports {imp}")
    assert not bad, bad


def test_walk_sees_a_violation(tmp_path):
    """The import walk is not vacuous: a module importing a sibling rule module is caught."""
    pkg = tmp_path / "rules" / "gateway"
    pkg.mkdir(parents=True)
    bad = pkg / "x.py"
    bad.write_text("from . import tls\nfrom rules.data.secrets import y\n\ndef f():\n    from ..perimeter import compose\n")
    rel = {i.replace(str(tmp_path), "") for i in _imports_under(bad, tmp_path)}
    assert {"rules.gateway.tls", "rules.data.secrets", "rules.perimeter.compose"} <= rel


def _imports_under(path: Path, root: Path) -> set[str]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return _imports(path)
    finally:
        ROOT = saved


def test_no_broad_except_or_import_probe_in_rules():
    found = []
    for path in sorted(RULES.rglob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"except\s*(\(\s*)?(Exception|BaseException|ImportError)\b|except\s*:", line):
                found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, found


def test_rule_files_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in RULES.rglob("*.py")
           if _defines_rule(p) and (n := len(p.read_text(encoding="utf-8").splitlines())) > 800}
    assert not big, big


def test_every_layer_package_holds_its_rules():
    from scanner.registry import load_rules

    for rule in load_rules().values():
        module = rule.check.__module__
        package = "live" if rule.id.startswith("LIVE") else rule.layer.value  # the probe's rules: rules/live/
        assert module.startswith(f"rules.{package}."), (rule.id, module)


def test_rule_signatures_are_typed():
    from scanner.registry import load_rules

    # a probe rule (LIVE) gets the probe's observations under `dkscan probe`, the Stack under `audit`
    untyped = [r.id for r in load_rules().values() if r.check.__annotations__ not in
               ({"stack": "Stack"}, {"ctx": "Stack | Observations"})]
    assert not untyped, untyped

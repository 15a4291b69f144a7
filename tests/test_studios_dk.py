"""The bundled stacks: the seed's stack breaks the rules where it really does; the compliant one breaks none."""

import subprocess
import sys
from pathlib import Path

import yaml

from scanner.engine import audit
from scanner.model import Layer
from scanner.registry import load_rules

ROOT = Path(__file__).resolve().parent.parent
INSECURE = ROOT / "fixtures" / "studios-dk"
COMPLIANT = ROOT / "fixtures" / "studios-dk-compliant"


def test_insecure_stack_has_findings_in_all_seven_layers():
    result = audit([INSECURE])
    layers = {result.rules[f.rule].layer for f in result.findings}
    assert layers == set(Layer), f"missing layers: {set(Layer) - layers}"
    assert not [f for f in result.findings if f.rule in ("OPS080", "OPS081", "OPS082")], \
        [(f.rule, f.location, f.message) for f in result.findings if f.rule in ("OPS080", "OPS081", "OPS082")]


def test_every_planted_mistake_is_found_at_its_line():
    mistakes = yaml.safe_load((ROOT / "fixtures" / "studios-dk-mistakes.yaml").read_text())
    rules = load_rules()
    result = audit([INSECURE])
    found = {(f.rule, f.location.path, f.location.start_line) for f in result.findings}
    missing = [m for m in mistakes if (m["rule"], m["path"], int(m["line"])) not in found]
    unregistered = sorted({m["rule"] for m in mistakes if m["rule"] not in rules})
    assert not unregistered, f"planted mistakes name rules dkscan lacks: {unregistered}"
    assert not missing, "\n".join(f"{m['rule']} {m['path']}:{m['line']} ({m.get('note', '')})" for m in missing)


def test_cli_exit_codes_on_the_bundled_stacks():
    bad = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(INSECURE)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1
    good = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(COMPLIANT)], capture_output=True, text=True, cwd=ROOT)
    assert good.returncode == 0, good.stdout[-4000:]
    assert "PASS: 0 findings" in good.stdout


def test_compliant_stack_has_zero_findings():
    result = audit([COMPLIANT])
    assert result.findings == [], [(f.rule, str(f.location), f.message) for f in result.findings]
    assert result.suppressed == [], "the compliant stack must be clean without suppressions"

"""dkscan agrees with gixy-ng's own labelled test cases on the plugins both check.

The cases live in ``../shared/peer-suites/gixy-ng/<plugin>/*.conf`` with ``labels.json`` (``expect_flag``);
``tests/gixy_mapping.yaml`` maps each plugin to the dkscan rules covering it, or marks it out of scope,
and lists every deliberate disagreement with the reason dkscan is right. Each case is audited as a
stack of its own: the file is copied to a temporary directory (a ``// Options:`` header, which is gixy's
syntax and not nginx's, is blanked; an ``nginx -T`` dump is split back into its files and mounted into
a gateway service at their paths). Nothing of the peer suite is copied into the project.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from scanner.config import Policy
from scanner.engine import audit
from scanner.registry import load_rules
from tests.conftest import ROOT, SHARED

SUITE = SHARED / "peer-suites" / "gixy-ng"
MAPPING = ROOT / "tests" / "gixy_mapping.yaml"
THRESHOLD = 0.95


def mapping() -> dict:
    return yaml.safe_load(MAPPING.read_text())["plugins"]


def plugins() -> list[str]:
    if not SUITE.is_dir():
        return []
    return sorted(p.name for p in SUITE.iterdir() if (p / "labels.json").is_file())


_DUMP = re.compile(r"^# configuration file (\S+):\s*$", re.M)


def materialise(case: Path, dst: Path) -> Path:
    """Write the case as a stack under ``dst``; return the directory to audit."""
    text = case.read_text(encoding="utf-8")
    # gixy's own `// Options: {...}` header is no nginx syntax: blank it, keeping line numbers
    text = re.sub(r"^//[^\n]*", "", text, flags=re.M)
    dst.mkdir(parents=True, exist_ok=True)
    parts = list(_DUMP.finditer(text))
    if not parts:
        (dst / "nginx.conf").write_text(text, encoding="utf-8")
        return dst
    # an `nginx -T` dump: every file under its own path, mounted where nginx reads it
    mounts = []
    for i, m in enumerate(parts):
        body = text[m.end(): parts[i + 1].start() if i + 1 < len(parts) else len(text)]
        target = m.group(1)
        host = dst / "fs" / target.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_text(body.lstrip("\n"), encoding="utf-8")
        mounts.append(f"./fs/{target.lstrip('/')}:{target}:ro")
    compose = {"services": {"nginx": {"image": "nginx:1.27", "volumes": mounts}}}
    (dst / "docker-compose.yml").write_text(yaml.safe_dump(compose), encoding="utf-8")
    return dst


@lru_cache(maxsize=None)
def _rules() -> dict:
    return load_rules()


def fired(case: Path, rules: tuple[str, ...], tmp: Path) -> list[str]:
    target = materialise(case, tmp / case.stem)
    result = audit([target], Policy(), select=list(rules), root=target)
    return sorted({f.rule for f in result.findings if f.rule in rules})


def measure(tmp: Path):
    """(agreeing, measured, unexpected disagreements, stale listed disagreements, pending plugins)."""
    maps = mapping()
    registered = _rules()
    agree = total = 0
    unexpected, stale, pending = [], [], []
    for plugin in plugins():
        spec = maps.get(plugin)
        if spec is None or "out_of_scope" in spec:
            continue
        rules = tuple(spec["rules"])
        if not all(r in registered for r in rules):
            pending.append(plugin)
            continue
        listed = spec.get("disagreements") or {}
        labels = json.loads((SUITE / plugin / "labels.json").read_text())
        for name, label in sorted(labels.items()):
            case = SUITE / plugin / name
            got = fired(case, rules, tmp / plugin)
            ok = bool(got) == bool(label["expect_flag"])
            total += 1
            agree += ok
            if not ok and name not in listed:
                want = "a finding" if label["expect_flag"] else "no finding"
                unexpected.append(f"{plugin}/{name}: gixy expects {want} of {'/'.join(rules)}, dkscan gave {got or 'none'}")
            if ok and name in listed:
                stale.append(f"{plugin}/{name}: listed as a disagreement but dkscan now agrees (delete it from the mapping)")
    return agree, total, unexpected, stale, pending


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    if not SUITE.is_dir():
        pytest.fail("../shared/peer-suites/gixy-ng is missing: CI lays shared/ beside the checkout")
    return measure(tmp_path_factory.mktemp("gixy"))


def test_every_plugin_is_mapped():
    maps = mapping()
    missing = [p for p in plugins() if p not in maps]
    assert not missing, f"gixy plugins without a mapping entry: {missing}"
    for plugin, spec in maps.items():
        assert ("rules" in spec) != ("out_of_scope" in spec), f"{plugin}: give either rules or out_of_scope"
        for case in (spec.get("disagreements") or {}):
            assert (SUITE / plugin / case).is_file(), f"{plugin}: listed disagreement {case} is no case of the suite"


def test_mapped_rules_are_registered():
    registered = _rules()
    missing = sorted({r for spec in mapping().values() for r in spec.get("rules", []) if r not in registered})
    assert not missing, f"rules mapped to gixy plugins but not registered yet: {missing}"


def test_agreement(measured, capsys):
    agree, total, unexpected, stale, pending = measured
    rate = agree / total if total else 0.0
    with capsys.disabled():
        print(f"\ngixy-ng agreement: {agree}/{total} in-scope cases ({rate:.1%})"
              + (f"; pending (rules not registered yet): {', '.join(pending)}" if pending else ""))
    assert not unexpected, "disagreements not listed in tests/gixy_mapping.yaml:\n" + "\n".join(unexpected)
    assert not stale, "\n".join(stale)
    assert rate >= THRESHOLD, f"agreement {rate:.1%} < {THRESHOLD:.0%}"

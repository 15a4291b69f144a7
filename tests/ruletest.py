"""The generic rule-fixture harness (KICS style): expected results are data.

``fixtures/rules/<ID>/bad*/`` and ``good*/`` are each a small stack. A bad case holds
``expected.json``: either a list of ``{"path": ..., "line": ...}`` (where the rule must fire, and
nowhere else), or an object ``{"findings": [...], "git_add": [...], "chmod": {"file": "600"},
"policy": {...}, "also_run": [...]}``. ``also_run`` names rules to run beside the one under test
(a suppression rule needs the rule it suppresses). ``git_add`` copies the case into a temporary git repository and tracks those
files (``"*"`` = every file); ``chmod`` sets modes after copying; ``policy`` overrides policy keys.
A good case must give no finding of its rule (an ``expected.json`` there may still set git/chmod/policy).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

from scanner.config import Policy, _merge
from scanner.engine import audit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rules"


def cases():
    out = []
    if not FIXTURES.is_dir():
        return out
    for rule_dir in sorted(FIXTURES.iterdir()):
        if not rule_dir.is_dir():
            continue
        for case in sorted(rule_dir.iterdir()):
            if case.is_dir() and (case.name.startswith("bad") or case.name.startswith("good")):
                out.append((rule_dir.name, case))
    return out


def load_expected(case: Path) -> dict:
    f = case / "expected.json"
    if not f.exists():
        return {"findings": []}
    data = json.loads(f.read_text())
    if isinstance(data, list):
        return {"findings": data}
    data.setdefault("findings", [])
    return data


def prepare(case: Path, spec: dict, tmp: Path) -> Path:
    if not spec.get("git_add") and not spec.get("chmod"):
        return case
    dst = tmp / case.name
    shutil.copytree(case, dst, symlinks=True)
    (dst / "expected.json").unlink(missing_ok=True)
    for name, mode in (spec.get("chmod") or {}).items():
        os.chmod(dst / name, int(str(mode), 8))
    if spec.get("git_add") is not None:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        subprocess.run(["git", "init", "-q", str(dst)], check=True, env=env)
        add = spec["git_add"]
        if add:
            subprocess.run(["git", "-C", str(dst), "add", "-f", *(["-A"] if add == ["*"] else add)], check=True, env=env)
            subprocess.run(["git", "-C", str(dst), "commit", "-qm", "fixture"], check=True, env=env)
    return dst


def run_case(rule_id: str, case: Path, tmp: Path):
    spec = load_expected(case)
    target = prepare(case, spec, tmp)
    policy = Policy()
    if spec.get("policy"):
        data = copy.deepcopy(policy.data)
        _merge(data, spec["policy"])
        policy = Policy(data)
    result = audit([target], policy, select=[rule_id, *spec.get("also_run", [])], root=target)
    got = sorted({(f.location.path, f.location.start_line) for f in result.findings if f.rule == rule_id})
    want = sorted({(e["path"], int(e["line"])) for e in spec["findings"]})
    return got, want, result

#!/usr/bin/env python3
"""Where dkscan's time goes, for docs/benchmarks.md (run by benchmarks/run.py; prints JSON).

    python benchmarks/profile.py cold FIXTURE        # one cold run of the fixture, split in phases
    python benchmarks/profile.py units MONOREPO N    # N deployments audited warm in one process

``cold`` times, inside one fresh process: importing what an audit imports before its rules (the CLI,
the rule index, the parsers' libraries), building the Stack, running the rules (with the imports
they trigger: the rule families the stack's file kinds need, pglast's printer...), the redaction and
the JSON report. ``imported PATH...`` counts the rule modules one audit of PATH imports. ``units`` audits N deployments of a
monorepo one after the other (imports already paid, as in a pool worker) and splits the cost per
deployment: parsing by file kind, rules by module, secrets collection, redaction, the rest.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _count_builds() -> dict:
    """Count and time, for this process, the dataclasses created and the regular expressions
    compiled (first compile of each pattern): both are rebuilt by every run, Python keeping no
    compiled form of them across processes."""
    import dataclasses
    import re

    stats = {"dataclasses": 0, "dataclasses_s": 0.0, "regex": 0, "regex_s": 0.0}
    process_class, compile_ = dataclasses._process_class, re._compile
    seen = set()

    def timed_class(*a, **k):
        t = time.perf_counter()
        try:
            return process_class(*a, **k)
        finally:
            stats["dataclasses"] += 1
            stats["dataclasses_s"] += time.perf_counter() - t

    def timed_compile(pattern, flags):
        if isinstance(pattern, re.Pattern) or (pattern, flags) in seen:
            return compile_(pattern, flags)
        seen.add((pattern, flags))
        t = time.perf_counter()
        try:
            return compile_(pattern, flags)
        finally:
            stats["regex"] += 1
            stats["regex_s"] += time.perf_counter() - t

    dataclasses._process_class, re._compile = timed_class, timed_compile
    return stats


def cold(path: Path) -> dict:
    builds = _count_builds()
    t0 = time.perf_counter()
    import scanner.cli  # noqa: F401
    from scanner.config import Policy
    from scanner.engine import collect_secrets, run_rules
    from scanner.registry import load_rules

    rules = load_rules()
    import pglast  # noqa: F401 - imported by the SQL parser when a stack has SQL
    import yaml  # noqa: F401

    t1 = time.perf_counter()
    from scanner.stack import build_stack

    stack = build_stack([path], Policy())
    t2 = time.perf_counter()
    findings = run_rules(stack, rules)
    t3 = time.perf_counter()
    red = collect_secrets(stack)
    from scanner.engine import _redacted

    findings = [_redacted(f, red) for f in findings]
    t4 = time.perf_counter()
    from scanner.engine import audit
    from scanner.report import render

    result = audit([path], jobs=1)
    t5 = time.perf_counter()
    render("json", result)
    t6 = time.perf_counter()
    rule_modules = sum(1 for m in sys.modules if m.count(".") == 2 and m.startswith("rules.")
                       and not m.startswith(("rules.helpers.", "rules.live.")))
    return {"rule_modules": rule_modules, "rule_modules_all": len(_index_modules()), "imports": t1 - t0, "build": t2 - t1, "rules": t3 - t2, "secrets": t4 - t3,
            "audit_warm": t5 - t4, "render_json": t6 - t5, "findings": len(result.findings), **builds}


def _index_modules() -> list[str]:
    from rules import _index

    return [m for m in _index.MODULES if not m.startswith("rules.live.")]


def imported(paths: list[str]) -> dict:
    """The rule modules one audit of ``paths`` imports (the rule index loads the others' metadata only)."""
    from scanner.engine import audit

    audit([Path(p) for p in paths], jobs=1)
    mods = sorted(m for m in sys.modules if m.count(".") == 2 and m.startswith("rules.")
                  and not m.startswith(("rules.helpers.", "rules.live.")))
    ast_mod = sys.modules.get("pglast.ast")
    return {"rule_modules": len(mods), "of": len(_index_modules()), "pglast": "pglast" in sys.modules,
            # pglast's AST classes executed (scanner.parsers.pgtree defers them), its printer imported
            "pglast_ast": ast_mod is not None and type(ast_mod).__name__ == "module",
            "pglast_printer": "pglast.stream" in sys.modules}


def units(path: Path, n: int) -> dict:
    import scanner.stack as stk
    from scanner.config import Policy
    from scanner.engine import _audit_unit, _redacted, collect_secrets
    from scanner.registry import load_rules

    import gc

    rules = load_rules()
    root = path.resolve()
    todo = stk.stack_units([root])[: n + 1]
    _audit_unit([todo[0]], root, Policy(), None, True, [], keep_stack=False)  # lazy imports
    todo = todo[1:]
    # as a pool worker runs (scanner.engine._worker_start, _unit_worker): the automatic collector
    # off, one young-generation collection before each deployment (else its pauses land in
    # whichever phase happens to allocate when they strike)
    was = gc.isenabled()
    gc.disable()
    gc.collect(0)
    t = time.process_time()
    for u in todo:
        gc.collect(0)
        _audit_unit([u], root, Policy(), None, True, [], keep_stack=False)
    whole = (time.process_time() - t) / len(todo)

    parse: Counter = Counter()
    original = stk._parse_text

    def timed(kind, *args, **kwargs):
        a = time.process_time()
        try:
            return original(kind, *args, **kwargs)
        finally:
            parse[kind] += time.process_time() - a

    stk._parse_text = timed
    phase: Counter = Counter()
    by_module: Counter = Counter()
    try:
        for u in todo:
            gc.collect(0)
            a = time.process_time()
            stack = stk.build_stack([u], Policy(), root=root)
            b = time.process_time()
            found = []
            for r in rules.values():
                c = time.process_time()
                try:
                    found.extend(r.check(stack) or ())
                except Exception:  # noqa: BLE001 - measured elsewhere (OPS082)
                    pass
                by_module[r.check.__module__.split(".", 1)[-1]] += time.process_time() - c
            d = time.process_time()
            red = collect_secrets(stack)
            e = time.process_time()
            for f in found:
                _redacted(f, red)
            g = time.process_time()
            phase["build"] += b - a
            phase["rules"] += d - b
            phase["secrets"] += e - d
            phase["redact"] += g - e
    finally:
        stk._parse_text = original
        if was:
            gc.enable()
    k = len(todo)
    return {"units": k, "per_unit": whole,
            "phases": {p: v / k for p, v in phase.items()},
            "parse": {p: v / k for p, v in parse.most_common()},
            "modules": {m: v / k for m, v in by_module.most_common()}}


def main() -> int:
    what = sys.argv[1]
    if what == "cold":
        out = cold(Path(sys.argv[2]))
    elif what == "imported":
        out = imported(sys.argv[2:])
    else:
        out = units(Path(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

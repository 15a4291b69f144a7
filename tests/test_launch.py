"""The console script's fast answers (scanner.launch) say what the full command line says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.launch import _nothing_to_hook

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = "import sys; from scanner.launch import entry; entry()"
FULL = "import sys; from scanner.cli import entry; entry()"


def _run(code: str, args: list[str], cwd: Path) -> tuple[int, str, str]:
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    return r.returncode, r.stdout, r.stderr


def _modules(args: list[str], cwd: Path) -> set[str]:
    """The modules the fast path imported before exiting (printed by an exit hook of os._exit)."""
    code = ("import os, sys\n_exit = os._exit\n"
            "def spy(code):\n    sys.stderr.write(' '.join(sorted(sys.modules)) + '\\n'); sys.stderr.flush(); _exit(code)\n"
            "os._exit = spy\nfrom scanner.launch import entry\nentry()\n")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    return set(r.stderr.split())


def test_version_is_the_cli_answer_without_importing_it(tmp_path):
    assert _run(LAUNCH, ["--version"], tmp_path) == _run(FULL, ["--version"], tmp_path)
    mods = _modules(["--version"], tmp_path)
    assert "scanner.launch" in mods and "click" not in mods and "scanner.cli" not in mods


def test_hook_with_nothing_to_look_at(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres\n    ports: ['5432:5432']\n")
    for args in (["hook"], ["hook", "gone.yml"], ["hook", "a/b.conf", "c.env"]):
        fast = _run(LAUNCH, args, tmp_path)
        assert fast == _run(FULL, args, tmp_path) == (0, "", "")
        assert "click" not in _modules(args, tmp_path)
    # a file that exists, or any option, takes the full path (and finds the published port)
    for args in (["hook", "docker-compose.yml"], ["hook", "--fail-on", "high", "docker-compose.yml"]):
        fast = _run(LAUNCH, args, tmp_path)
        assert fast == _run(FULL, args, tmp_path)
        assert fast[0] == 1 and "docker-compose.yml" in fast[1]
        assert "click" in _modules(args, tmp_path)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.sampled_from(["x.yml", "gone.yml", "sub/none.env", "-", "--debug", "-h", "", "--", "a b.conf"]),
                max_size=3))
def test_fast_hook_answers_as_the_cli(tmp_path_factory, names):
    """Whenever the fast path answers, the full command line gives the same answer (exit 0, silent);
    a named file that exists or an option always takes the full path."""
    d = tmp_path_factory.mktemp("h")
    (d / "x.yml").write_text("services:\n  web:\n    image: nginx\n    ports: ['80:80']\n")
    args = ["hook", *names]
    cwd = os.getcwd()
    os.chdir(d)
    try:
        fast = _nothing_to_hook(args)
    finally:
        os.chdir(cwd)
    if any(n.startswith("-") or n == "x.yml" or not n for n in names):
        assert not fast
    if fast:
        assert _run(LAUNCH, args, d) == _run(FULL, args, d) == (0, "", "")

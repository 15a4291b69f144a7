"""Trust, classes 4 and 5: a hostile policy or baseline is bad input like any other, and a tool error
is never exit 1.

A ``.dkscan.yaml`` is found by walking up, so a pull request can add one; a baseline can be replaced
too. Alias bombs, 100k-deep nesting, huge files and wrong types in any field end in one line on stderr
and exit 2, within a generous guard (seconds, never the minutes of an expanded bomb), never a
traceback, never a multi-megabyte message. An unexpected exception is one line and exit 4.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.cli import EXIT_INTERNAL, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parent.parent
STACK = "services:\n  web:\n    image: nginx:1.27\n"


def _bomb() -> str:
    out = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for c in "bcdefghij":
        out += f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]\n"
        prev = c
    return out + f"gateway: {{auth_paths: *{prev}}}\n"


POLICIES = {
    "alias-bomb": _bomb(),
    "deep-flow": "x: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep-block": "gateway:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(3000)),
    "huge": "# " + "x" * (2 * 1024 * 1024) + "\n",
    "not-a-mapping": "- a\n- b\n",
    "binary": "\x00\xff",
    "wrong-type-fail-on": "fail-on: {a: 1}\n",
    "wrong-type-select": "select: 5\n",
    "wrong-type-ignore": "ignore: [{reason: {}}]\n",
    "unknown-key-huge": "x" * 100_000 + ": 1\n",
    "huge-list-value": "fail-on: [" + ",".join(["1"] * 20_000) + "]\n",
}


def _cli(args, cwd, timeout=60):
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, errors="replace")


@pytest.mark.parametrize("case", sorted(POLICIES))
def test_hostile_policy_is_one_line_and_exit_2(tmp_path, case):
    (tmp_path / "docker-compose.yml").write_text(STACK)
    body = POLICIES[case]
    if case == "binary":
        (tmp_path / ".dkscan.yaml").write_bytes(body.encode("latin-1"))
    else:
        (tmp_path / ".dkscan.yaml").write_text(body)
    r = _cli(["audit", str(tmp_path)], ROOT)
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr[-500:])
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and len(r.stderr) < 1000, r.stderr[:1000]


@pytest.mark.parametrize("entry", [{"rule": {}}, {"rule": "X", "path": [], "fingerprint": "f"},
                                   {"rule": "X", "path": "p", "fingerprint": None},
                                   {"rule": "X", "path": "p", "fingerprint": "f", "reason": {"a": 1}}, [], "x", 5])
def test_hostile_baseline_entries(tmp_path, entry):
    (tmp_path / "docker-compose.yml").write_text(STACK)
    if isinstance(entry, dict):
        entry = {"rule": "PER001", "path": "docker-compose.yml", "fingerprint": "ab", **entry}
    (tmp_path / "b.json").write_text(json.dumps({"version": 1, "tool": "dkscan", "findings": [entry]}))
    r = _cli(["audit", "--baseline", str(tmp_path / "b.json"), str(tmp_path)], ROOT)
    assert r.returncode == EXIT_USAGE and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                          lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                          max_leaves=12),
       key=st.sampled_from(["fail-on", "select", "ignore", "exclude", "severity", "services", "gateway",
                            "capacity", "inline-suppressions", "disable", "perimeter", "nginx"]))
def test_any_value_in_any_policy_field_never_crashes(tmp_path_factory, value, key):
    from scanner.config import ConfigError, load_policy

    d = tmp_path_factory.mktemp("pol")
    (d / ".dkscan.yaml").write_text(json.dumps({key: value}))  # JSON is YAML
    try:
        load_policy(d / ".dkscan.yaml")
    except ConfigError as exc:
        assert len(str(exc)) < 2000 and "\n" not in str(exc)


def test_internal_error_is_one_line_and_exit_4(tmp_path, monkeypatch):
    import scanner.engine

    def boom(*a, **k):
        raise RuntimeError("boom\x1b[31m\nforged line")

    monkeypatch.setattr(scanner.engine, "audit", boom)
    (tmp_path / "docker-compose.yml").write_text(STACK)
    r = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert r.exit_code == EXIT_INTERNAL
    err = r.stderr if hasattr(r, "stderr") and r.stderr else r.output
    assert "internal error: RuntimeError" in err and "--debug" in err
    assert "\x1b" not in err and err.count("\n") == 1 and "Traceback" not in err
    r = CliRunner().invoke(main, ["--debug", "audit", str(tmp_path)])
    assert r.exit_code == EXIT_INTERNAL
    err = r.stderr if hasattr(r, "stderr") and r.stderr else r.output
    assert "Traceback" in err

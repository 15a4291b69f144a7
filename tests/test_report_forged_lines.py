"""Attacker-written text never forges a line of a report (issue: JUnit kept raw CR/LF).

A pull request controls the keys of its compose file and the names of its files. A key or a file
name holding a line break (CR, LF, CR LF, VT, FF, the file/group/record separators, NEL, LS, PS)
followed by ``FILE:1:1  CRITICAL  RULE  ...`` or ``note: ...`` would, printed raw, show a line shaped
like one of dkscan's findings or notes; ESC and the C1 controls would drive the terminal. Every
report format is generated for stacks carrying such names in the places messages and notes quote
them (an unknown compose key: OPS086's message; a service name: every finding about it; an env
file a deploy script passes with
``--env-file``: the interpolation note and every finding's path) and read line by line, as any of
those characters would split it: no line is forged, no control reaches a text output, and the
structured formats (JSON, SARIF, JUnit XML) stay valid documents whose values keep the text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engine import audit
from scanner.report import FORMATS, render

ROOT = Path(__file__).resolve().parent.parent

# every character a reader (a terminal, an editor, a CI log viewer, str.splitlines) may take as a
# line break or a control sequence
BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROLS = ["\x1b", "\x1b[2J", "\x1b]0;T\x07", "\x9b", "\x07", "\x08", "\x00", "\x7f", "\x90", "\x9d"]
_SPLIT = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
FORGED_FINDING = "FAKE.yml:1:1  CRITICAL  DATA001  forged"
FORGED_NOTE = "note: FORGED all clear"
_FORGED_LINE = re.compile(r"^[\s<>/*|#\-\"',;{}\[\]]*(?:FAKE\.yml:1:1|note: FORGED)")


def forged_lines(text: str) -> list[str]:
    """Lines (split at every line break a reader may honour) that start like a forged finding or note."""
    return [line[:80] for line in _SPLIT.split(text) if _FORGED_LINE.match(line)]


def hostile(parts: list[str], file_name: bool = False) -> str:
    """A name: the forged finding and note, each after a line break, controls in between."""
    brk, ctl = parts[0], parts[1]
    name = f"x{ctl}{brk}{FORGED_FINDING}{brk}{FORGED_NOTE}{parts[2]}"
    return name.replace("\x00", "") if file_name else name


def _yaml_quoted(s: str) -> str:
    """``s`` as a YAML double-quoted scalar (every non-printable character as a \\u escape)."""
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in s) + '"'


def write_stack(d: Path, key: str, env_name: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: \"nginx:${NGINX_VERSION}\"\n"
        f"    {_yaml_quoted(key)}: 1\n    ports:\n      - \"8080:80\"\n"
        f"  {_yaml_quoted('db' + key)}:\n    image: postgres:16\n    privileged: true\n", encoding="utf-8")
    (d / env_name).write_text("NGINX_VERSION=1.28.0\n", encoding="utf-8")
    quoted = env_name.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
    (d / "deploy.sh").write_text(f'#!/bin/bash\nset -eu\ndocker compose --env-file "{quoted}" up -d\n', encoding="utf-8")


def check_outputs(outs: dict[str, str]) -> None:
    """The line-oriented outputs (text, Markdown, JUnit, HTML, stderr): no forged line, no raw
    control. JSON and SARIF: valid documents whose messages, notes and reasons are one line each (a
    path is data: kept as it is, escaped by the serialiser, as the file is really named)."""
    for fmt in ("text", "markdown", "junit", "html", "stderr"):
        text = outs.get(fmt)
        if text is None:
            continue
        assert not forged_lines(text), f"{fmt} shows forged lines: {forged_lines(text)[:3]}"
        raw = re.findall("[\x00-\x08\x0e-\x1f\x7f-\x9f]", text)
        assert not raw, f"{fmt} carries raw controls {sorted(set(raw))}"
    report = json.loads(outs["json"])
    sarif = json.loads(outs["sarif"])
    said = [*(f["message"] for f in report["findings"] + report["suppressed"] + report["baselined"]), *report["notes"],
            *(r["message"]["text"] for r in sarif["runs"][0]["results"]),
            *(n["message"]["text"] for inv in sarif["runs"][0].get("invocations", [])
              for n in inv.get("toolExecutionNotifications", []))]
    assert said
    broken = [v[:80] for v in said if _SPLIT.search(v) or forged_lines(v)]
    assert not broken, f"JSON/SARIF messages hold line breaks: {broken[:3]}"
    assert json.loads(outs["sarif"])["runs"][0]["results"], "SARIF lost its results"
    ET.fromstring(outs["junit"].encode("utf-8"))


parts = st.tuples(st.sampled_from(BREAKS), st.sampled_from(CONTROLS), st.sampled_from(BREAKS + CONTROLS + [""]))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(key_parts=parts, file_parts=parts)
def test_hostile_keys_and_file_names_forge_no_line_in_any_format(tmp_path_factory, key_parts, file_parts):
    key = hostile(list(key_parts))
    env_name = ".env." + hostile(list(file_parts), file_name=True)
    d = tmp_path_factory.mktemp("forged")
    write_stack(d, key, env_name)
    result = audit([d])
    assert any(f.rule == "OPS086" for f in result.findings), "the unknown key is reported"
    assert any("interpolated from" in n for n in result.notes), "the deploy's env file is noted"
    outs = {fmt: render(fmt, result, include_suppressed=True) for fmt in FORMATS}
    check_outputs(outs)
    # the structured formats keep the text (shown escaped: ``encode.terminal``), never lose it
    messages = [r["message"]["text"] for r in json.loads(outs["sarif"])["runs"][0]["results"]]
    assert any("FAKE.yml:1:1" in m for m in messages)
    notes = json.loads(outs["json"])["notes"]
    assert any("FORGED" in n and not _SPLIT.search(n) for n in notes), notes


def test_the_reproducers_forge_no_junit_line(tmp_path):
    """The review's two cases: a compose key with ESC/BEL/CR LF and a finding-shaped line, and an env
    file whose name ends a line and starts ``note: FORGED``; through the CLI (stdout and stderr)."""
    write_stack(tmp_path / "s", "\x1b[31mRED\x1b[0m\x07\r\n" + FORGED_FINDING + " |</testcase><x>**b**",
                ".env.prod\x1b[31mRED\x1b]0;TITLE\x07\n" + FORGED_NOTE + "\r")
    outs = {}
    for fmt in FORMATS:
        r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", "--format", fmt, str(tmp_path / "s")],
                           capture_output=True, cwd=ROOT)
        assert r.returncode in (0, 1), r.stderr[-2000:]
        outs[fmt] = r.stdout.decode("utf-8")
        outs.setdefault("stderr", "")
        outs["stderr"] += r.stderr.decode("utf-8")
    check_outputs(outs)
    junit = ET.fromstring(outs["junit"].encode("utf-8"))
    failure = next(f for f in junit.iter("failure") if "OPS086" in (f.text or ""))
    lines = failure.text.split("\n")
    assert all(re.match(r"\S+:\d+:\d+ [A-Z]+ [A-Z]+\d+ |.*\. See https?://", line) for line in lines), lines
    out = "".join(s.text or "" for s in junit.iter("system-out"))
    assert all(line.startswith("note: ") for line in out.split("\n")), out
    assert sum(line.startswith("note: FORGED") for line in out.split("\n")) == 0

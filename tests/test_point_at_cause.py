"""Issue 15, point 4: a finding points at the line to change.

- nginx syntax errors are located where the real ``nginx -t`` puts them: random well-formed
  configurations are broken by one structural mutation (a ``;``, ``{`` or ``}`` removed or added) and
  dkscan's OPS081 must name the line nginx names (nginx must be installed: ``.ci/deps``);
- a configuration nginx would refuse gets its parse finding only: no rule judges the tree dkscan's
  error recovery guessed;
- ``dkscan fix`` (dry run) lists the remaining findings at the lines of the files on disk.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engine import audit
from scanner.fix.apply import _fix_key, plan_fixes
from scanner.parsers import nginx as nginx_parser
from tests.nginx_harness import require_nginx

ROOT = Path(__file__).resolve().parent.parent

# directives nginx -t accepts in each context without files, variables or DNS
_SERVER_SIMPLE = ["listen 8080", "server_name example.test", "client_max_body_size 1m", "server_tokens off",
                  "add_header X-A b", "keepalive_timeout 5s"]
_LOCATION_SIMPLE = ["return 200", "add_header X-B c", "client_max_body_size 2m", "expires 1h", "default_type text/plain"]


@st.composite
def _config(draw) -> list[str]:
    """A well-formed main configuration as a list of tokens-with-layout lines."""
    lines = ["events {", "}", "http {"]
    for s in range(draw(st.integers(1, 2))):
        lines.append("  server {")
        for d in draw(st.lists(st.sampled_from(_SERVER_SIMPLE), min_size=1, max_size=3, unique=True)):
            lines.append(f"    {d};")
        for i in range(draw(st.integers(0, 2))):
            lines.append(f"    location /p{s}{i} {{")
            for d in draw(st.lists(st.sampled_from(_LOCATION_SIMPLE), min_size=1, max_size=2, unique=True)):
                lines.append(f"      {d};")
            lines.append("    }")
            lines.extend([""] * draw(st.integers(0, 1)))
        lines.append("  }")
    lines.append("}")
    return lines


_STRUCT = re.compile(r"[;{}]")


@st.composite
def _broken(draw) -> str:
    lines = draw(_config())
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))
    marks = [m.start() for m in _STRUCT.finditer(text)]
    how = draw(st.sampled_from(["drop", "add"]))
    if how == "drop":
        at = draw(st.sampled_from(marks))
        return text[:at] + text[at + 1:]
    # added at a line's end or start: a brace glued to a word is part of the word for nginx
    # (`c};` sets "c}"), which crossplane's lexer splits -- a known difference, not located here
    at = draw(st.sampled_from([m.start() for m in re.finditer(r"(?m)$|^ *", text)]))
    return text[:at] + draw(st.sampled_from([";", "{", "}", " }\n", "\n{"])) + text[at:]


def _nginx_error(binary: str, text: str, tmp: Path) -> tuple[str, int] | None:
    conf = tmp / "n.conf"
    conf.write_text(text)
    proc = subprocess.run([binary, "-t", "-p", f"{tmp}/", "-c", str(conf), "-g",
                           f"pid {tmp}/nginx.pid; error_log {tmp}/error.log;"],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode == 0:
        return None
    m = re.search(r"\[emerg\] \d+#\d+: (.*) in " + re.escape(str(conf)) + r":(\d+)", proc.stderr)
    assert m, proc.stderr
    return m.group(1), int(m.group(2))


@pytest.fixture(scope="module")
def nginx_bin() -> str:
    return require_nginx()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_broken())
def test_syntax_errors_where_nginx_puts_them(nginx_bin, tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("ng")
    real = _nginx_error(nginx_bin, text, tmp)
    doc = nginx_parser.parse(text, "n.conf")
    if real is None:
        assert not nginx_parser.refused(doc), (text, doc.errors)
        return
    message, line = real
    # only structural refusals are the parser's to find (nginx also judges arguments and contexts)
    if not re.match(r'unexpected|directive "[^"]+" (is not terminated|has no opening)', message):
        return
    assert nginx_parser.refused(doc), (text, message, line)
    assert [(e.line, e.message.split(":")[0]) for e in doc.errors] == [(line, message.split(":")[0])], (
        text, message, line, doc.errors)


def _write(tmp: Path, conf: str) -> Path:
    (tmp / "nginx").mkdir(parents=True)
    (tmp / "nginx" / "nginx.conf").write_text(conf)
    (tmp / "docker-compose.yml").write_text(
        "services:\n  nginx:\n    image: nginx:1.27.3-alpine\n    ports: ['80:80']\n"
        "    volumes: ['./nginx/nginx.conf:/etc/nginx/nginx.conf:ro']\n")
    return tmp


_GOOD = ("events {}\nhttp {\n  server {\n    listen 80;\n    location / {\n      return 200;\n    }\n  }\n}\n")


def _nginx_findings(stack: Path) -> list:
    return [f for f in audit([stack]).findings if f.location.path == "nginx/nginx.conf"]


@pytest.mark.parametrize("broken,line", [
    # a missing ';' before the brace: nginx says unexpected "}" at the brace's line
    (_GOOD.replace("return 200;", "return 200"), 7),
    # a missing closing brace: nginx names the end of the file
    (_GOOD[: _GOOD.rindex("}")], 9),
    # a stray closing brace
    (_GOOD + "}\n", 10),
])
def test_refused_config_gets_its_parse_finding_only(tmp_path, broken, line):
    good = _nginx_findings(_write(tmp_path / "good", _GOOD))
    assert good and not any(f.rule == "OPS081" for f in good)  # the valid twin has rule findings
    bad = _nginx_findings(_write(tmp_path / "bad", broken))
    assert [(f.rule, f.location.start_line) for f in bad] == [("OPS081", line)], bad


def test_fix_dry_run_lists_lines_on_disk(tmp_path):
    stack = tmp_path / "s"
    shutil.copytree(ROOT / "fixtures" / "studios-dk", stack)
    first = audit([stack])
    plan = plan_fixes([stack], unsafe=True)
    assert plan.changed  # fixes insert and remove lines above findings that remain
    by_key: dict = {}
    for f in first.findings:
        by_key.setdefault((_fix_key(f), f.message), []).append(f)
    moved = checked = 0
    for g in plan.remaining.findings:
        same = by_key.get((_fix_key(g), g.message), [])
        if len(same) != 1 or g.location.path not in plan.new:
            continue
        checked += 1
        disk = plan.disk_line(g)
        assert disk == same[0].location.start_line, (g.rule, g.location, same[0].location)
        moved += disk != g.location.start_line
    assert checked > 20 and moved > 5, (checked, moved)
    # and the command prints them so
    out = subprocess.run([sys.executable, "-m", "scanner.cli", "fix", str(stack)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600).stdout
    text = (stack / "nginx" / "nginx.conf").read_text().splitlines()
    listed = re.findall(r"^  nginx/nginx\.conf:(\d+)  GW040  location (\S+) ", out, re.M)
    assert listed
    for line, loc in listed:
        assert f"location {loc}" in text[int(line) - 1], (line, loc)


# ---------------------------------------------------------------------------------------------
# findings inside a block point at the line inside it that is the cause (generative)
# ---------------------------------------------------------------------------------------------

_FILLER = ["id bigserial PRIMARY KEY", "user_id bigint NOT NULL", "created_at timestamptz NOT NULL DEFAULT now()",
           "label text", "expires_at timestamptz"]


@settings(max_examples=25, deadline=None)
@given(before=st.lists(st.sampled_from(_FILLER), max_size=4, unique=True),
       token=st.sampled_from(["key text NOT NULL UNIQUE", "token varchar(64) NOT NULL", "secret text"]),
       table=st.sampled_from(["api_keys", "sessions", "password_resets", "refresh_tokens"]),
       sep=st.sampled_from([",\n  ", ", ", ",\n\n    "]),
       clause=st.sampled_from(["USING (true)", "USING (1 = 1)", "WITH CHECK (true)"]),
       head=st.sampled_from([" ", "\n  ", "\n\n    "]))
def test_table_and_policy_findings_point_inside(tmp_path_factory, before, token, table, sep, clause, head):
    d = tmp_path_factory.mktemp("sql")
    cols = before + [token]
    sql = (f"CREATE TABLE {table} (\n  " + sep.join(cols) + "\n);\n"
           f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n"
           f"CREATE POLICY p_all ON {table} FOR {'INSERT' if 'CHECK' in clause else 'SELECT'}{head}{clause};\n")
    (d / "init.sql").write_text(sql)
    lines = sql.splitlines()
    found = audit([d], select={"DATA060", "DATA045"}).findings
    def at(f) -> str:
        return lines[f.location.start_line - 1][f.location.start_col - 1:]

    key = next(f for f in found if f.rule == "DATA060")
    assert at(key).startswith(token.split()[0] + " "), (sql, key)
    pol = [f for f in found if f.rule == "DATA045"]
    if "CHECK" in clause or "user_id bigint NOT NULL" in before:  # a SELECT policy of a table without owner column is exempt
        assert pol, sql
    if pol:
        assert at(pol[0]).startswith(clause.split(" (")[0]), (sql, pol)

"""Trust, class 3: linear time on hostile sizes.

For every file kind, a stack with 1 MB lines (next to findings, so reports quote and mask the lines
around them) and instructions with 100k parts goes through the whole audit and all six renderers.
Each case has a generous hang guard (it catches the hours a quadratic loop or a backtracking regex
takes, not milliseconds): on this machine each case takes seconds, see the closing note of the trust
issue for the measured times.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scanner import secretcheck
from scanner.engine import audit
from scanner.parsers import compose
from scanner.secrets import is_secret_key
from scanner.kinds import sniff_nginx
from scanner.report import FORMATS, render
from scanner.spans import _KIND_FINDERS, _spans
from tests.test_hostile import guarded

MB = 1_000_000
N = 100_000
GUARD = 300.0  # seconds: a hang guard, not a timing

BIG = "a" * MB


def _compose_base(extra: str = "") -> str:
    return ("services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n" + extra)


CASES = {
    "compose-long-lines": {"docker-compose.yml": _compose_base(
        f"    environment:\n      POSTGRES_PASSWORD: {BIG}\n      LABEL: '{'a:' * (MB // 2)}'\n    command: {BIG}\n"
        f"  web:\n    image: {'x/' * (MB // 2)}nginx:latest\n    privileged: true\n")},
    "compose-100k-parts": {"docker-compose.yml": _compose_base(
        "    environment:\n" + "".join(f"      K{i}: v{i}\n" for i in range(N))
        + "    command: [" + ",".join(f"'-c{i}'" for i in range(N)) + "]\n")},
    "env": {".env": "PASSWORD=" + BIG + "\nDB_URL=postgres://u:" + "p" * MB + "\nX=" + "=" * MB
            + "\n" + "".join(f"K{i}=v{i}\n" for i in range(N)),
            "app.env": "Y=" + "'" * MB + "\nZ=" + " -p" * (MB // 3) + "\nA=" + "://" * (MB // 3) + "\nB=" + "a:" * (MB // 2)
            + "\nC=" + "--password " * (MB // 11) + "\n",
            "docker-compose.yml": _compose_base("    env_file: [.env, app.env]\n")},
    "nginx": {"nginx.conf": "events {}\nhttp {\n server {\n  listen 80;\n  server_tokens on;\n  add_header X-A \"" + BIG
              + "\";\n  server_name " + " ".join(f"h{i}.x" for i in range(N)) + ";\n  location / { proxy_pass http://u:"
              + "p" * MB + "@x; }\n" + "".join(f"  location /p{i} {{ proxy_pass http://b{i}; }}\n" for i in range(3000))
              + " }\n}\n"},
    # thousands of fixed findings whose fixes edit the top of the file and each location: on one line
    # each, and all on one line (every fix's window of lines is then the whole file)
    "nginx-one-line": {"nginx.conf": "events {} http { server { listen 80; add_header X-A \"" + BIG + "\"; "
                       + "".join(f"location /p{i} {{ proxy_pass http://b{i}; }} " for i in range(3000)) + "} }\n"},
    "sql": {"init.sql": "CREATE ROLE app WITH LOGIN PASSWORD '" + BIG + "';\nCREATE TABLE t (a text);\nSELECT '"
            + "'' " * (MB // 3) + "';\nCREATE TABLE w (" + ", ".join(f"c{i} text" for i in range(20_000)) + ");\n"
            + "GRANT ALL ON t TO " + ", ".join(f"r{i}" for i in range(20_000)) + ";\n"},
    "sql-unparseable": {"init.sql": "CREATE ROLE x PASSWORD " + BIG + " ; $$" + "x" * MB + "\n"},
    "dockerfile": {"Dockerfile": "FROM alpine:3.19\nENV " + " ".join(f"K{i}=v{i}" for i in range(N)) + "\nRUN "
                   + " && ".join(f"echo {i}" for i in range(N)) + "\nRUN " + BIG + "\nENV PASSWORD=" + "b" * (MB // 2)
                   + "\nRUN a \\\n" + "".join("  b \\\n" for _ in range(N // 2)) + "  c\nUSER root\n"},
    # regexes whose runs overlap on one character: a port spec of colons (the IPv6 alternative), a .conf
    # of blank lines (the nginx sniff's leading \s*), a Dockerfile value of "${" (the env reference)
    "compose-port-colons": {"docker-compose.yml": _compose_base("    expose: ['" + ":" * MB + "']\n  web:\n    image: nginx\n"
                                                                "    ports: ['" + ":" * MB + "', '" + "1:" * (MB // 2) + "80']\n")},
    "conf-blank-lines": {"site.conf": "\n" * 65536 + "if\n" + "\t" * MB + "\nserver { listen 80; server_tokens on; }\n"},
    "dockerfile-env-refs": {"Dockerfile": "FROM alpine:3.19\nARG X\nENV A=" + "${" * (MB // 2) + " B=${X:" + "$" * MB
                            + "\nRUN echo $A\n"},
    "prometheus": {"prometheus.yml": "scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: ["
                   + ",".join(f"'h{i}:9100'" for i in range(N)) + "]\n  - job_name: " + BIG + "\n"},
    "nats": {"nats-server.conf": "port: 4222\nauthorization { user: a, password: " + BIG + " }\nx: ["
             + ",".join(str(i) for i in range(N)) + "]\n"},
    "redis": {"redis.conf": "requirepass " + BIG + "\nrename-command " + " ".join("a" for _ in range(N)) + "\nbind "
              + " ".join("0.0.0.0" for _ in range(N)) + "\nprotected-mode no\n"},
    "pg_hba": {"pg_hba.conf": "host all all 0.0.0.0/0 trust " + "x=" * (MB // 2) + "\n"
               + "".join(f"host all all 10.0.{i % 255}.0/24 md5\n" for i in range(N))},
    "pgconf": {"postgresql.conf": "ssl = off\nlisten_addresses = '" + "*," * (MB // 2) + "'\n"
               + "".join(f"x{i} = {i}\n" for i in range(N))},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_sizes_stay_bounded(tmp_path, case):
    for name, text in CASES[case].items():
        (tmp_path / name).write_text(text)

    def run():
        result = audit([tmp_path])
        rendered = {fmt: render(fmt, result) for fmt in FORMATS}
        return result, rendered

    (result, rendered), took = guarded(run, GUARD)
    assert not [f for f in result.findings if f.rule == "OPS082"], "a rule crashed"
    assert not [f for f in result.findings if f.rule == "OPS080"], "the case must be read, not skipped"
    for fmt, text in rendered.items():
        assert BIG[:5000] not in text, fmt  # a 1 MB line is never copied whole into a report
        assert len(text) < 60 * MB, fmt
    print(f"{case}: {took:.1f}s, {len(result.findings)} findings")


# The class behind the pg_hba case above (``x=`` 500k times on one line): a pattern whose value can
# hold its own key re-matched a 1 MB value per key. Any short token repeated along one long line must
# cost linear time in every kind's secret-span finders, whatever the token is built from.
_PIECES = ["x", "k", "password", "PASSWORD", "-", "--password", "-u", "-p", "-a", "=", ":", " ", "\t", "'", '"',
           "${", "}", ":-", "://", "@", "/", ",", ";", "\\", "basic ", "Bearer ", "Authorization: ", "ENV ",
           "$$", "E'", "mysql ", "redis-cli ", "mc alias set ", "\\\n", "\n", "ENV K a", "   ", "ROLE ", "JWT",
           "SECRET", "1", "1.", "@a", "[", "::", "server ", "${A:-"]
_REPEAT_TO = 200_000  # characters: a quadratic finder takes minutes here, a linear one well under a second
_SPAN_GUARD = 60.0


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6), st.sampled_from(sorted(_KIND_FINDERS) + [""]))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_repeated_tokens_cost_linear_time_in_span_finders(token, kind):
    unit = "".join(token)
    text = unit * (_REPEAT_TO // len(unit) + 1)
    spans, _took = guarded(lambda: _spans(kind, text), _SPAN_GUARD)
    assert all(0 <= a < b <= len(text) for a, b in spans)


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_repeated_tokens_cost_linear_time_in_value_judges(token):
    """The same class for what judges one key or value (a key or value can be as long as a line):
    secret names, weak-password heuristics, the nginx sniffer, a compose port spec."""
    unit = "".join(token)
    text = unit * (_REPEAT_TO // len(unit) + 1)

    def judge():
        secretcheck.is_jwt_hmac_key(text)
        secretcheck.key_category(text)
        secretcheck.weakness("PASSWORD", text)
        secretcheck.looks_like_setting(text)
        secretcheck.placeholder(text)
        secretcheck.provider_token(text)
        list(secretcheck.generic_api_keys(text))
        is_secret_key(text)
        sniff_nginx(text)
        compose.parse("services:\n  a:\n    image: x\n    ports: [" + json.dumps(text[:20_000]) + "]\n", "c.yml")

    guarded(judge, _SPAN_GUARD)


# The class behind the one-line nginx case: a directive's column was found by searching its name on
# its line (quadratic on a long line, and every repeated name got the first one's column, so fixes
# edited the wrong directive). Columns come from the lexer's offsets: each directive's position
# points at its name as written (its opening quote when quoted), however names repeat on a line.
_NAMES = st.sampled_from(["location", "proxy_pass", "listen", "a", "aa", "''", '""', '"x y"', "'q'", "server"])


@given(st.lists(st.tuples(_NAMES, st.sampled_from(["a", "aa", "'v'", '"a"', "location"]),
                          # a form feed is a line break for dkscan's lines but part of a word for nginx: in a comment
                          st.sampled_from([" ", "  ", "\n", " \n\t", " #\x0c\n", "\r\n", "\r"])), min_size=1, max_size=30))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_nginx_directive_columns_point_at_the_directive(parts):
    from scanner.parsers.nginx import parse

    text = "".join(f"{name} {arg};{sep}" for name, arg, sep in parts)
    doc = parse(text, "nginx.conf")
    written = [name for name, _a, _s in parts]
    found = list(doc.walk())
    assert len(found) == len(written)
    for d, name in zip(found, written):
        line = doc.lines[d.line - 1]
        assert line[d.col - 1:].startswith(name), (name, d.line, d.col, line)


# tree-sitter's error recovery is quadratic on nested unterminated shell constructs (``a=(`` 8,000
# times took 2 s, 100,000 times minutes) and py-tree-sitter has no time limit: the shell parser
# counts tree-sitter's steps and gives up past a budget linear in the size (scanner.parsers.shell).
_SHELL_PIECES = ["a=(", "$(", "<<EOF\n", "`", "{ ", "[[ ", "((", '"$(', "if x; then ", "case x in a) ", "f() { ",
                 "x\\\n", "'", '"', "${", "for i in ", "while ", "<(", "| ", "&& ", "\n", " ", "#", "=", "(", ")"]
_SHELL_REPEAT_TO = 150_000  # characters: the old parse took over a minute on ``a=(`` at this size


@given(st.lists(st.sampled_from(_SHELL_PIECES), min_size=1, max_size=4))
@example(["a=("])
@example(["<<EOF\n"])
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_hostile_shell_scripts_parse_in_bounded_steps(token):
    from scanner.parsers import shell

    unit = "".join(token)
    text = "#!/bin/bash\n" + unit * (_SHELL_REPEAT_TO // len(unit) + 1)
    doc, _took = guarded(lambda: shell.parse(text, "deploy.sh"), _SPAN_GUARD)
    again, _took = guarded(lambda: shell.parse(text, "deploy.sh"), _SPAN_GUARD)
    # the budget counts parser steps, not seconds: the same text gets the same answer every time
    assert [(e.message, e.line) for e in doc.errors] == [(e.message, e.line) for e in again.errors]


def test_real_scripts_stay_far_inside_the_shell_parse_budget():
    """Every script of the fixtures and the corpus parses (none is cut by the step budget), with
    room: a third of the per-byte budget is enough for each of them."""
    from scanner.parsers import shell

    root = Path(__file__).resolve().parent.parent
    scripts = [p for base in (root / "fixtures", root.parent / "shared" / "corpus") for p in base.rglob("*.sh")]
    assert len(scripts) > 40
    old = shell.PARSE_ACTIONS_PER_BYTE
    shell.PARSE_ACTIONS_PER_BYTE = old // 3
    try:
        for p in scripts:
            doc = shell.parse(p.read_text(encoding="utf-8", errors="replace"), p.name)
            assert not [e for e in doc.errors if "not analysed" in e.message], p
    finally:
        shell.PARSE_ACTIONS_PER_BYTE = old


def test_big_shell_scripts_are_not_analysed():
    """A script over MAX_SCRIPT_BYTES is an error "not analysed" (OPS081), not minutes."""
    from scanner.parsers import shell

    big = "#!/bin/sh\n" + "echo a b c\n" * (shell.MAX_SCRIPT_BYTES // 11 + 1)
    doc, _took = guarded(lambda: shell.parse(big, "deploy.sh"), _SPAN_GUARD)
    assert [e.message for e in doc.errors if "not analysed" in e.message]
    small = "#!/bin/sh\n" + "echo a b c\n" * 1000
    assert not shell.parse(small, "deploy.sh").errors

"""Secrets are spans, not strings (issue 14): every secret-bearing position is masked in the form it
is written, everywhere, and nothing else is.

- one test per class of leak the issue names (multi-line and escaped YAML, URL passwords with ``/``
  and ``@``, SQL ``$$``/``E''``/unquoted passwords and their parse error, option strings in fix
  edits, ``Basic`` headers, ``curl -u``, ``-D*.password``, ``Password=...;``, nginx, NATS, Redis,
  MinIO), each through all six report formats, the ``dkscan fix`` diff, the JSON/SARIF fix edits
  and what ``dkscan fix`` prints about the remaining findings;
- one per class of over-redaction (a password equal to a service, image or path word, a setting
  word): masked at its own spans only, no ``***`` inside a name or path;
- a hypothesis test that builds stacks with canaries in every form and their combinations (a
  secret also a service name, inside a longer word, split across YAML lines) and asserts for every
  output: no 6-character piece of a canary, every identifier of the stack intact;
- the bundled studios-dk reports and the shared corpus' reports: no ``***`` inside a name or path.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engine import audit, collect_secrets
from scanner.report import FORMATS, render
from scanner.spans import mask, spans_of

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

# canaries: no hex letters (a 6-character window never matches a fingerprint or a hash by chance)
ALPHABET = "ghjkmnpqrstvwxyzGHJKMNPQRSTVWXYZ"
DIGITS = "23456789"

# `***` glued to a name or path character: a masked piece of an identifier (``-p***`` is mysql's
# attached password flag and ``${X:-***}`` a masked default: the mask follows `p`/`-` by design)
_GARBLED = re.compile(r"(?<!-p)(?<!:-)(?<![\s=:'\"`(,>$;\[{])\*\*\*|\*\*\*(?![\s'\"`@;,)<\]}$&\\]|$)")


_MASKED_DEFAULT = re.compile(r"\$\{\w+:?[-=+]\*\*\*\}")  # `${X-***}`, `${X:+***}`: a masked default


def garbled(text: str) -> list[str]:
    """``***`` inside a name or a path (``/var/lib/***ql``, ``ghcr.io/***/x``, ``***-dashboard``)."""
    text = _MASKED_DEFAULT.sub("${X}", text)
    return [text[max(0, m.start() - 30):m.end() + 30] for m in _GARBLED.finditer(text)]


def pieces(canary: str, n: int = 6) -> list[str]:
    return [canary[i:i + n] for i in range(len(canary) - n + 1)] or [canary]


def leaks(text: str, canaries, identifiers=()) -> list[str]:
    """6-character pieces of canaries in ``text`` (identifiers that hold a canary removed first)."""
    for ident in sorted(identifiers, key=len, reverse=True):
        text = text.replace(ident, " ")
    return sorted({c[:8] for c in canaries for p in pieces(c) if p in text})


# ---------------------------------------------------------------------------------------------
# running everything a stack's secrets can reach
# ---------------------------------------------------------------------------------------------


def reports(result) -> dict[str, str]:
    """The six report formats of a result, as a reader sees them: Markdown shows the tree's text
    backslash-escaped (scanner.encode.markdown), so it is judged unescaped (``\\*\\*\\*`` is ``***``)."""
    out = {fmt: render(fmt, result, include_suppressed=True) for fmt in FORMATS}
    out["markdown"] = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", out["markdown"])
    return out


def outputs(d: Path, fix: bool = True) -> dict[str, str]:
    """Every output of dkscan for the stack at ``d``, in process: the six formats, the fix diff and
    the remaining-findings lines ``dkscan fix`` prints (what the CLI writes, same functions)."""
    from scanner.fix.apply import plan_fixes, render_diff
    from scanner.stack import build_stack

    result = audit([d])
    out = reports(result)
    if fix:
        plan = plan_fixes([d], unsafe=True)
        out["fix-diff"] = render_diff(plan, collect_secrets(build_stack([d])))
        rem = plan.remaining
        if rem is not None:
            out["fix-remaining"] = "\n".join(f"{f.location.path}:{f.location.start_line} {f.rule} "
                                             f"{rem.redact.message(f.message, f.location.path)}" for f in rem.findings)
    return out


def write(d: Path, files: dict[str, str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return d


def check(d: Path, canaries, identifiers=(), fix: bool = True, must_show=(), never=()) -> dict[str, str]:
    """Every output of the stack: no canary piece (identifiers aside), no `***` inside a name, every
    ``must_show`` identifier present, none of the ``never`` texts (a secret at its own position)."""
    outs = outputs(d, fix)
    for name, text in outs.items():
        assert not [n for n in never if n in text], f"{name} shows {[n for n in never if n in text]}"
        assert not leaks(text, canaries, identifiers), f"{name} shows canary pieces {leaks(text, canaries, identifiers)}"
        assert not garbled(text), f"{name} masks inside a name: {garbled(text)[:3]}"
    for ident in must_show:
        assert ident in outs["text"] + outs["html"], f"{ident!r} is missing (masked?) from the reports"
    return outs


_BASE = """\
services:
  api:
    image: registry.example.com/team/api-server:1.4.2
    ports: ["8000:8000"]
{extra}"""


# ---------------------------------------------------------------------------------------------
# leaks, one class at a time
# ---------------------------------------------------------------------------------------------


def test_multiline_yaml_values_are_masked_on_every_line(tmp_path):
    a, b, c, e = "Blk1QwRtYpZxMn", "Blk2KjHgVbNmZq", "Fld1PqRsTvWxYz", "Fld2MnBvCxZqWr"
    f, g = "Cnt1HjKlMnPqRs", "Cnt2VwXyZqRsTm"
    d = write(tmp_path / "s", {"docker-compose.yml": _BASE.format(extra="") + f"""\
    environment:
      BLOCK_SECRET: |
        {a}
        {b}
      FOLDED_TOKEN: >-
        {c}
        {e}
      CONT_PASSWORD: {f}
        {g}
"""})
    check(d, [a, b, c, e, f, g], must_show=["api"])


def test_yaml_escaped_forms_are_masked_as_written(tmp_path):
    d = write(tmp_path / "s", {"docker-compose.yml": _BASE.format(extra="") + """\
    environment:
      DQ_SECRET: "CAN\\x41RYdqEscQwZm9"
      SQ_PASSWORD: 'ItQwZr''sCanarySqQwRt7'
      UNI_TOKEN: "Uni\\u0041code\\tTabQwZr"
"""})
    check(d, ["CAN\\x41RYdqEscQwZm9", "CANARYdqEscQwZm9", "sCanarySqQwRt7", "ItQwZr", "Uni\\u0041code", "UniAcode",
              "TabQwZr"])


def test_url_passwords_with_slash_and_at(tmp_path):
    d = write(tmp_path / "s", {
        ".env": "DATABASE_URL=postgres://app:pQ@sSw/rdZk@db:5432/app\nAMQP_URL=amqp://u:Zx/Wv@Rk9mQ@rabbit/\n",
        "docker-compose.yml": _BASE.format(extra="") + """\
    env_file: .env
    environment:
      REDIS_URL: redis://default:ab/cdQzRw@cache:6379/0
      CACHE_DSN: "redis://:Mq@Wz/Tr9kPz@cache:6379"
"""})
    check(d, ["pQ@sSw/rdZk", "Zx/Wv@Rk9mQ", "ab/cdQzRw", "Mq@Wz/Tr9kPz"], must_show=["api"])


def test_sql_password_literals_in_every_quoting_and_the_parse_error(tmp_path):
    d = write(tmp_path / "s", {
        "docker-compose.yml": _BASE.format(extra="") + """\
  db:
    image: postgres:16.2
    volumes:
      - ./init.sql:/docker-entrypoint-initdb.d/init.sql:ro
""",
        "init.sql": "CREATE ROLE a LOGIN PASSWORD 'SqlQuotQwRtZm';\n"
                    "CREATE ROLE b LOGIN PASSWORD $$SqlDollQwZmRt$$;\n"
                    "CREATE ROLE c LOGIN PASSWORD $pw$SqlTagQwZmRtx$pw$;\n"
                    "CREATE ROLE e LOGIN ENCRYPTED PASSWORD E'SqlEscQwZm\\'SqlEscTail';\n"
                    "ALTER ROLE f PASSWORD SqlUnqQwZmRtK NOSUCHKEYWORD;\n"})
    outs = check(d, ["SqlQuotQwRtZm", "SqlDollQwZmRt", "SqlTagQwZmRtx", "SqlEscQwZm", "SqlEscTail", "SqlUnqQwZmRtK"])
    assert "syntax error" in outs["text"]  # the parse error is still reported, its token masked


def test_option_strings_and_connection_strings(tmp_path):
    d = write(tmp_path / "s", {
        ".env": "OPTS=--password=OptPwQwZmRtK --verbose\n"
                "JAVA_OPTS=-Xmx1g -Dspring.datasource.password=JavaPwQwZmRt\n"
                "CONN_STRING=Server=db;Database=app;User Id=app;Password=ConnPwQwZmRt;\n"
                "AUTH_HEADER=Basic QmFzaWNQd1F3Wm1SdA==\n"
                "BEARER=Bearer BearTokQwZmRtKp\n",
        "docker-compose.yml": _BASE.format(extra="") + """\
    env_file: .env
    healthcheck:
      test: ["CMD", "curl", "-fsS", "-u", "admin:HcPwQwZmRtKp", "http://localhost:8000/health"]
  cache:
    image: redis:7.2
    command: redis-server --requirepass CmdPwQwZmRtK --appendonly yes
    healthcheck:
      test: ["CMD", "redis-cli", "-a", "RcliPwQwZmRt", "ping"]
"""})
    outs = check(d, ["OptPwQwZmRtK", "JavaPwQwZmRt", "ConnPwQwZmRt", "QmFzaWNQd1F3Wm1SdA", "BearTokQwZmRtKp",
                     "HcPwQwZmRtKp", "CmdPwQwZmRtK", "RcliPwQwZmRt"], must_show=["api", "cache"])
    # OPS022 quotes these values: its edits (JSON/SARIF new_text) and the diff show them masked in place
    for name in ("json", "sarif"):
        assert "'--password=*** --verbose'" in outs[name] and "Password=***;'" in outs[name], name
    assert "+OPTS='--password=*** --verbose'" in outs["fix-diff"]


def test_fix_edit_new_text_is_masked_in_json_and_sarif():
    """A fix edit that writes a line holding a secret (not a generated one) shows it masked."""
    from types import SimpleNamespace

    from scanner.model import Edit, Location
    from scanner.report.common import display_edit
    from scanner.secrets import Redactor

    stack = SimpleNamespace(files={})
    red = Redactor(stack=stack)
    result = SimpleNamespace(redact=red)
    e = Edit(Location(".env", 1, 1), "OPTS=--password=NewTxtQwZmRt --x\n")
    assert "NewTxtQwZmRt" not in display_edit(result, e).new_text
    assert display_edit(result, e).new_text == "OPTS=--password=*** --x\n"
    e = Edit(Location("docker-compose.yml", 1, 1), "      DB_PASSWORD: NewYmlQwZmRt\n")
    assert "NewYmlQwZmRt" not in display_edit(result, e).new_text
    e = Edit(Location("docker-compose.yml", 1, 1), "    read_only: true\n")
    assert display_edit(result, e).new_text == "    read_only: true\n"  # nothing else is touched


def test_nginx_nats_redis_minio_credentials(tmp_path):
    d = write(tmp_path / "s", {
        "docker-compose.yml": _BASE.format(extra="") + """\
  nginx:
    image: nginx:1.25.4
    ports: ["80:80"]
    volumes:
      - ./nginx.conf:/etc/nginx/nginx.conf:ro
  nats:
    image: nats:2.10.11
    command: ["-c", "/etc/nats/nats.conf"]
    volumes:
      - ./nats.conf:/etc/nats/nats.conf:ro
  cache:
    image: redis:7.2
    command: ["redis-server", "/usr/local/etc/redis/redis.conf"]
    volumes:
      - ./redis.conf:/usr/local/etc/redis/redis.conf:ro
  minio:
    image: minio/minio:RELEASE.2024-01-01T00-00-00Z
    environment:
      MINIO_ROOT_USER: MinUsrQwZmRt
      MINIO_ROOT_PASSWORD: MinPwQwZmRtK
    entrypoint: ["sh", "-c", "mc alias set local http://minio:9000 MinUsrQwZmRt McPwQwZmRtKp"]
""",
        "nginx.conf": "events {}\nhttp {\n  server {\n    listen 80;\n    location / {\n"
                      "      proxy_set_header Authorization \"Basic NgxBasQwZmRtKp\";\n"
                      "      proxy_set_header X-Api-Key NgxKeyQwZmRt;\n"
                      "      proxy_pass http://user:NgxPwQwZmRt@api:8000;\n    }\n  }\n}\n",
        "nats.conf": "port: 4222\nauthorization {\n  users = [\n    { user: backend, password: \"NatsPwQwZmRt\" }\n  ]\n}\n"
                     "leafnodes {\n  authorization {\n    token: NatsTokQwZmRt\n  }\n}\n",
        "redis.conf": "requirepass RdsPwQwZmRtX\nuser worker on >AclPwQwZmRtK ~* +@all\n"})
    check(d, ["NgxBasQwZmRtKp", "NgxKeyQwZmRt", "NgxPwQwZmRt", "NatsPwQwZmRt", "NatsTokQwZmRt", "RdsPwQwZmRtX",
              "AclPwQwZmRtK", "MinPwQwZmRtK", "McPwQwZmRtKp", "MinUsrQwZmRt"], must_show=["nginx", "nats"])


def test_parse_error_quoting_a_secret_is_masked_in_messages(tmp_path):
    d = write(tmp_path / "s", {"init.sql": "ALTER ROLE app PASSWORD ErrPwQwZmRtK NOSUCH;\nSELECT 1;\n"})
    result = audit([d])
    errs = [f for f in result.findings if f.rule == "OPS081"]
    assert errs and all("ErrPwQwZmRtK" not in f.message for f in errs)
    assert any('"***"' in f.message for f in errs), [f.message for f in errs]


# ---------------------------------------------------------------------------------------------
# over-redaction
# ---------------------------------------------------------------------------------------------


def test_a_password_equal_to_a_name_is_masked_at_its_spans_only(tmp_path):
    """``POSTGRES_PASSWORD=postgres`` must not turn ``service 'postgres'`` into ``service '***'`` nor
    ``/var/lib/postgresql/data`` into ``/var/lib/***ql/data``; ``saleor`` must not blank an image."""
    d = write(tmp_path / "s", {
        ".env": "POSTGRES_PASSWORD=postgres\nDASH_SECRET=saleor\nX_TOKEN=privileged\n",
        "docker-compose.yml": """\
services:
  postgres:
    image: postgres:16.2
    env_file: .env
    privileged: true
    volumes:
      - pgdata:/var/lib/postgresql/data
    ports: ["5432:5432"]
  dashboard:
    image: ghcr.io/saleor/saleor-dashboard:3.19
    env_file: .env
volumes:
  pgdata: {}
"""})
    result = audit([d])
    outs = {fmt: render(fmt, result, include_suppressed=True) for fmt in FORMATS}
    for fmt, text in outs.items():
        assert not garbled(text), (fmt, garbled(text)[:3])
        assert "POSTGRES_PASSWORD=postgres" not in text and "DASH_SECRET=saleor" not in text, fmt
    assert "service 'postgres'" in outs["text"]
    assert "privileged" in outs["text"]
    assert "ghcr.io/saleor/saleor-dashboard" in outs["html"]
    assert "POSTGRES_PASSWORD=***" in outs["html"]
    # the weak-password rules still report it, without printing it
    assert {"DATA004", "DATA007"} & {f.rule for f in result.findings if f.location.path == ".env"}


def test_spans_are_exact(tmp_path):
    """What is masked is the value, in the form it is written; keys, quotes and the rest stay."""
    text = ("services:\n  a:\n    image: x/y:1\n    environment:\n      A_PASSWORD: \"p\\x41ss\"\n"
            "      B_URL: postgres://u:p/w@h:5432/d\n      - C=1\n")
    assert mask(text, spans_of("compose", text)).splitlines()[4:6] == [
        '      A_PASSWORD: "***"', "      B_URL: postgres://u:***@h:5432/d"]
    refs = "services:\n  a:\n    environment:\n      A_PASSWORD: $$litPw12\n      B_PASSWORD: ${REF}\n      C_TOKEN: ${REF:-dflt12x}\n"
    assert mask(refs, spans_of("compose", refs)).splitlines()[3:] == [
        "      A_PASSWORD: ***", "      B_PASSWORD: ${REF}", "      C_TOKEN: ${REF:-***}"]
    env = "PASSWORD_MIN_LENGTH=12\nDB_PASSWORD=x1y2z3w4\nDB_USER=postgres\n"
    assert mask(env, spans_of("env", env)) == "PASSWORD_MIN_LENGTH=12\nDB_PASSWORD=***\nDB_USER=postgres\n"
    cmd = "command: sh -c 'psql -c \"ALTER ROLE app PASSWORD \\'inCmd1x\\'\"' && mysql -uroot -p'my sq1' && mc alias set s http://m:9000 AKEY1x SKEY1x"
    assert "inCmd1x" not in mask(cmd, spans_of("compose", cmd)) and "my sq1" not in mask(cmd, spans_of("compose", cmd))
    assert "AKEY1x" not in mask(cmd, spans_of("", cmd)) and "SKEY1x" not in mask(cmd, spans_of("", cmd))
    sql = "CREATE TABLE u (password text, password_hash text);\nALTER ROLE a PASSWORD 'x''y';\n"
    assert mask(sql, spans_of("sql", sql)) == "CREATE TABLE u (password text, password_hash text);\nALTER ROLE a PASSWORD '***';\n"


# ---------------------------------------------------------------------------------------------
# generated stacks: every form, every combination
# ---------------------------------------------------------------------------------------------

canary = st.text(alphabet=ALPHABET + DIGITS, min_size=10, max_size=18).map(lambda s: "Q" + s + "z")
lower_canary = st.text(alphabet="ghjkmnpqrstvwxyz", min_size=8, max_size=12).map(lambda s: "q" + s)

FORMS = ("env_plain", "env_dq", "env_sq", "env_multi", "env_url", "env_opts", "env_java", "env_conn", "env_basic",
         "yml_plain", "yml_dq_escape", "yml_sq", "yml_block", "yml_folded", "yml_cont", "yml_url", "yml_list",
         "cmd_flag", "hc_curl", "hc_redis", "sql_quoted", "sql_dollar", "sql_e", "sql_unquoted", "nginx_auth",
         "nginx_url", "nats_pw", "redis_conf", "minio_mc", "mysql_quoted", "authz_token", "docker_cont", "docker_arg",
         "sql_tag", "sql_do", "nginx_more", "nats_token", "redis_acl", "redis_quoted",
         # forms found by attacking the first ones (each a class of its own)
         "yml_dq_multi", "yml_dq_cont", "yml_anchor", "yml_flow", "yml_quoted_key", "yml_list_cont", "minio_env",
         "hc_curl_shell", "curl_attached", "env_odbc", "env_jdbc", "env_sq_multi", "env_colon", "env_pgpassword",
         "env_export", "nats_auth_flag", "sql_psql_var", "docker_legacy_cont", "docker_run_url", "nginx_proxy_authz",
         "traefik_users", "env_url_at", "cmd_folded", "script_multiline", "script_cont", "yml_block_script_cont",
         # malformed files: the parse error is reported, the secret stays masked in it and in the snippets
         "env_unterminated", "env_after_quote", "nats_unterminated", "sql_conninfo", "redis_cmd",
         # a secret key's collection (every scalar in it, every style), continued values glued mid-word,
         # the literal defaults of references, shell ANSI-C/locale quoting
         "yml_flow_seq", "yml_flow_map", "yml_block_seq", "docker_glued", "docker_default", "script_glued",
         "script_ansi", "script_locale", "script_defaults", "env_default", "yml_default",
         # secrets commands take as positional words or on standard input (shell and Dockerfile RUN)
         "script_htpasswd", "script_read", "script_declare", "script_printf_v", "script_login_stdin",
         "script_chpasswd", "script_positional", "docker_run_stdin")


def build(d: Path, forms: list[str], c: dict[str, str], combo: dict) -> tuple[list[str], list[str]]:
    """Write a stack with canary ``c[form]`` in each form; return (secret texts, identifiers)."""
    env, envs, cmd_extra, sql, nginx, nats, redis, docker = [], [], [], [], [], [], [], []
    top: list[str] = []  # top-level compose lines (extension fields)
    script: list[str] = []  # deploy.sh
    env_tail, nats_tail = [], []  # lines that break what follows them: written last
    extra: dict[str, list[str]] = {}  # service name -> its lines (a form that needs a service of its own)
    secrets: list[str] = []
    svc = combo.get("service") or "worker"
    longer = combo.get("longer")
    idents = [svc, "registry.example.com/team/api-server:1.4.2"]
    half = {f: (c[f][:len(c[f]) // 2], c[f][len(c[f]) // 2:]) for f in forms}
    for f in forms:
        v = c[f]
        a, b = half[f]
        if f == "env_plain":
            env.append(f"DB_PASSWORD={v}")
        elif f == "env_dq":
            env.append(f'API_TOKEN="{v}"')
        elif f == "env_sq":
            env.append(f"SESSION_SECRET='{v}'")
        elif f == "env_multi":
            env.append(f'MULTI_SECRET="{a}\n{b}"')
            secrets += [a, b]
            continue
        elif f == "env_url":
            v = a + "/" + b[:2] + "@" + b[2:]
            env.append(f"DATABASE_URL=postgres://app:{v}@db:5432/app")
            secrets += [a, b[2:]]
            continue
        elif f == "env_opts":
            env.append(f"OPTS=--password={v} --verbose")
        elif f == "env_java":
            env.append(f"JAVA_OPTS=-Xmx1g -Dspring.datasource.password={v}")
        elif f == "env_conn":
            env.append(f"CONN_STRING=Server=db;User Id=app;Password={v};")
        elif f == "env_basic":
            env.append(f"AUTH_HEADER=Basic {v}")
        elif f == "yml_plain":
            envs.append(f"      PLAIN_PASSWORD: {v}")
        elif f == "yml_dq_escape":
            envs.append(f'      DQ_SECRET: "{a}\\x41{b}"')
            secrets += [a, b, a + "A" + b]
            continue
        elif f == "yml_sq":
            envs.append(f"      SQ_TOKEN: '{a}''{b}'")
            secrets += [a, b]
            continue
        elif f == "yml_block":
            envs.append(f"      BLOCK_SECRET: |\n        {a}\n        {b}")
            secrets += [a, b]
            continue
        elif f == "yml_folded":
            envs.append(f"      FOLDED_TOKEN: >-\n        {a}\n        {b}")
            secrets += [a, b]
            continue
        elif f == "yml_cont":
            envs.append(f"      CONT_PASSWORD: {a}\n        {b}")
            secrets += [a, b]
            continue
        elif f == "yml_url":
            v = a + "@" + b[:2] + "/" + b[2:]
            envs.append(f"      REDIS_URL: redis://default:{v}@cache:6379/0")
            secrets += [a, b[2:]]
            continue
        elif f == "yml_list":
            envs.append(f"      - LIST_TOKEN={v}")
        elif f == "cmd_flag":
            cmd_extra.append(f'    command: ["app", "--db-password", "{v}"]')
        elif f == "hc_curl":
            cmd_extra.append(f'    healthcheck:\n      test: ["CMD", "curl", "-u", "admin:{v}", "http://localhost/h"]')
        elif f == "hc_redis":
            cmd_extra.append(f'    healthcheck:\n      test: ["CMD", "redis-cli", "-a", "{v}", "ping"]')
        elif f == "sql_quoted":
            sql.append(f"CREATE ROLE ra LOGIN PASSWORD '{v}';")
        elif f == "sql_dollar":
            sql.append(f"CREATE ROLE rb LOGIN PASSWORD $${v}$$;")
        elif f == "sql_e":
            sql.append(f"CREATE ROLE rc LOGIN PASSWORD E'{a}\\'{b}';")
            secrets += [a, b]
            continue
        elif f == "sql_unquoted":
            sql.append(f"ALTER ROLE rd PASSWORD {v} NOSUCHKEYWORD;")
        elif f == "sql_tag":
            sql.append(f"CREATE ROLE re LOGIN ENCRYPTED PASSWORD $pw${v}$pw$;")
        elif f == "sql_do":
            sql.append(f"DO $$ BEGIN CREATE ROLE rf LOGIN PASSWORD '{a}''{b}'; END $$;")
            secrets += [a, b]
            continue
        elif f == "nginx_more":
            nginx.append(f'      more_set_input_headers "X-Api-Key: {v}";')
        elif f == "nats_token":
            nats.append(f"cluster {{\n  authorization {{ user: route, token: '{v}' }}\n}}")
        elif f == "redis_acl":
            redis.append(f"user app on >{a} >{b} ~* +@all")
            secrets += [a, b]
            continue
        elif f == "redis_quoted":
            redis.append(f'masterauth "{a}\x41{b}"')
            secrets += [a, b]
            continue
        elif f == "nginx_auth":
            nginx.append(f'      proxy_set_header Authorization "Basic {v}";')
        elif f == "nginx_url":
            nginx.append(f"      proxy_pass http://user:{v}@api:8000;")
        elif f == "nats_pw":
            nats.append(f'authorization {{\n  users = [\n    {{ user: backend, password: "{v}" }}\n  ]\n}}')
        elif f == "redis_conf":
            redis.append(f"requirepass {v}")
        elif f == "mysql_quoted":
            cmd_extra.append(f'    healthcheck:\n      test: ["CMD-SHELL", "mysqladmin ping -uroot -p\'{v}\'"]')
        elif f == "authz_token":
            cmd_extra.append(f"    healthcheck:\n      test: \"curl -fsS -H 'Authorization: Token {v}' http://localhost/h\"")
        elif f == "docker_cont":
            docker.append(f"ENV APP_ENV=prod \\\n    DB_PASSWORD=\\\n    {v}")
        elif f == "docker_arg":
            docker.append(f"ARG NPM_TOKEN={v}\nRUN curl -u deploy:{v} https://registry.example.com/x")
        elif f == "minio_mc":
            cmd_extra.append(f'    entrypoint: ["sh", "-c", "mc alias set local http://minio:9000 admin {v}"]')
        elif f == "yml_dq_multi":  # a double-quoted scalar over two lines (folded to one space)
            envs.append(f'      DQM_PASSWORD: "{a}\n        {b}"')
            secrets += [a, b]
            continue
        elif f == "yml_dq_cont":  # an escaped line break: the halves join without a space
            envs.append(f'      DQC_SECRET: "{a}\\\n        {b}"')
            secrets += [a, b, a + b]
            continue
        elif f == "yml_anchor":  # written under a neutral extension key, used through an alias
            top.append(f"x-shared: &sharedpw {v}")
            envs.append("      ANCHOR_PASSWORD: *sharedpw")
        elif f == "yml_flow":
            extra["flowsvc"] = ["    image: alpine:3.19", f"    environment: {{FLOW_TOKEN: {v}, LOG: info}}"]
        elif f == "yml_quoted_key":
            envs.append(f'      "QK_PASSWORD": "{v}"')
        elif f == "yml_list_cont":  # a `- KEY=value` item continued on the next line
            extra["listcont"] = ["    image: alpine:3.19", "    environment:", f"      - LC_PASSWORD={a}", f"        {b}"]
            secrets += [a, b]
            continue
        elif f == "minio_env":
            envs.append(f"      MINIO_ROOT_USER: {a}\n      MINIO_ROOT_PASSWORD: {b}")
            secrets += [a, b]
            continue
        elif f == "hc_curl_shell":
            extra["probe"] = ["    image: curlimages/curl:8.7.1", "    healthcheck:",
                              f"      test: curl -fsS -u admin:{v} http://localhost/h"]
        elif f == "curl_attached":
            extra["probe2"] = ["    image: curlimages/curl:8.7.1", "    healthcheck:",
                               f'      test: ["CMD", "curl", "-uadmin:{v}", "http://localhost/h"]']
        elif f == "env_odbc":
            env.append(f"ODBC_CONN=Driver={{ODBC 18}};Server=db;Uid=sa;Pwd={v};")
        elif f == "env_jdbc":
            env.append(f"JDBC_URL=jdbc:postgresql://db:5432/app?user=app&password={v}&ssl=true")
        elif f == "env_sq_multi":
            env.append(f"ML_TOKEN='{a}\n{b}'")
            secrets += [a, b]
            continue
        elif f == "env_colon":  # compose's yaml-style dotenv separator
            env.append(f"COLON_PASSWORD: {v}")
        elif f == "env_pgpassword":
            env.append(f"PG_CMD=PGPASSWORD={v} psql -h db -U app")
        elif f == "env_export":
            env.append(f"export EXPORTED_SECRET={v}")
        elif f == "nats_auth_flag":
            extra["natsd"] = ["    image: nats:2.10.11", f'    command: ["--auth", "{v}", "-js"]']
        elif f == "sql_psql_var":
            sql.append(f"\\set pw '{v}'\nCREATE ROLE rg LOGIN PASSWORD :'pw';")
        elif f == "docker_legacy_cont":
            docker.append(f"ENV LEGACY_PASSWORD \\\n    {v}")
        elif f == "docker_run_url":
            docker.append(f"RUN pip install --index-url \\\n    https://deploy:{v}@pypi.example.com/simple app")
        elif f == "nginx_proxy_authz":
            nginx.append(f'      proxy_set_header Proxy-Authorization "Bearer {v}";')
        elif f == "traefik_users":
            extra["edge"] = ["    image: traefik:v3.0", "    labels:",
                             f'      traefik.http.middlewares.auth.basicauth.users: "admin:$$apr1$$salt$${v}"']
        elif f == "env_url_at":  # `postgres://app:p@ss@db`: the last @ before the host ends the password
            v = a + "@" + b
            env.append(f"PG_DSN=postgres://app:{v}@db/app")
            secrets += [a, b]
            continue
        elif f == "env_unterminated":
            env_tail.append(f'UNTERM_PASSWORD="{v}')
        elif f == "env_after_quote":  # compose rejects the text after the quote; it was meant as the value
            env.append(f"TAIL_SECRET='{a}'{b}")
            secrets += [a, b]
            continue
        elif f == "nats_unterminated":
            nats_tail.append(f'leafnodes {{\n  authorization {{\n    password: "{v}\n  }}\n}}')
        elif f == "sql_conninfo":  # a libpq connection string inside an SQL literal
            sql.append(f"CREATE SUBSCRIPTION sub CONNECTION 'host=db user=rep password={v} dbname=app' PUBLICATION pub;")
        elif f == "redis_cmd":
            extra["cache"] = ["    image: redis:7.2", f"    command: redis-server --requirepass {v} --appendonly yes"]
        elif f == "script_multiline":  # a double-quoted shell value over two lines
            script.append(f'export DEPLOY_PASSWORD="{a}\n{b}"')
            secrets += [a, b]
            continue
        elif f == "script_cont":  # a flag on one line, its value on the next
            script.append(f"mysql -h db -u root \\\n  -p{a} app\ncurl -fsS -u \\\n  admin:{b} https://example.com/h")
            secrets += [a, b]
            continue
        elif f == "yml_block_script_cont":  # a shell script in a block scalar, continued
            extra["scripted"] = ["    image: alpine:3.19", "    command:", "      - sh", "      - -c", "      - |",
                                 "        exec app --db-password \\", f"          {v} --verbose"]
        elif f == "yml_flow_seq":
            top.append(f'x-flowseq: {{db_password: ["{a}", {b}]}}')
            secrets += [a, b]
            continue
        elif f == "yml_flow_map":
            top.append(f"x-flowmap:\n  api_token: {{primary: '{a}', backup: [\"{b}\"]}}")
            secrets += [a, b]
            continue
        elif f == "yml_block_seq":
            top.append(f"x-blockseq:\n  secret_key:\n    - {a}\n    - |\n      {b}")
            secrets += [a, b]
            continue
        elif f == "docker_glued":  # BuildKit glues `KEY=a\` and `bc` into `KEY=abc`
            docker.append(f"ENV GLUED_API_KEY={a}\\\n{b}")
            secrets += [a, b]
            continue
        elif f == "docker_default":
            docker.append(f"ARG X\nENV DEF_PASSWORD=${{X:-{a}}} DEF_TOKEN=${{X-{b}}}")
            secrets += [a, b]
            continue
        elif f == "script_glued":
            script.append(f"export GLUED_SECRET={a}\\\n{b}")
            secrets += [a, b]
            continue
        elif f == "script_ansi":  # `$'...'` is a literal, escapes and all
            script.append(f"export ANSI_PASSWORD=$'{a}\\x41{b}'")
            secrets += [a, b]
            continue
        elif f == "script_locale":
            script.append(f'export LOCALE_TOKEN=$"{v}"')
        elif f == "script_defaults":
            script.append(f': "${{ADMIN_PASSWORD:={a}}}"\nALT_SECRET=${{X:+{b}}}')
            secrets += [a, b]
            continue
        elif f == "env_default":
            env.append(f"DEFAULT_PASSWORD=${{X:-{v}}}")
        elif f == "yml_default":
            envs.append(f"      DEFAULTED_TOKEN: ${{X-{v}}}")
        elif f == "script_htpasswd":
            script.append(f"htpasswd -bc ./nginx/.htpasswd admin {a}\nhtpasswd -nbB admin '{b}' > ./nginx/.htpasswd")
            secrets += [a, b]
            continue
        elif f == "script_read":
            script.append(f'read -r DB_PASSWORD <<< "{v}"')
        elif f == "script_declare":
            script.append(f'declare -A creds=([password]={a} [user]=deploy)\ncreds["api_token"]="{b}"')
            secrets += [a, b]
            continue
        elif f == "script_printf_v":
            script.append(f"printf -v DB_SECRET %s {a}\nprintf -v API_TOKEN '{b}'")
            secrets += [a, b]
            continue
        elif f == "script_login_stdin":
            script.append(f"echo {a} | docker login --password-stdin -u deploy registry.example.com\n"
                          f"printf '%s' \"{b}\" | docker login -u deploy --password-stdin registry.example.com")
            secrets += [a, b]
            continue
        elif f == "script_chpasswd":
            script.append(f'chpasswd <<< "deploy:{a}"\necho "deploy:{b}" | chpasswd')
            secrets += [a, b]
            continue
        elif f == "script_positional":
            script.append(f"rabbitmqctl add_user deploy {a}\ndocker login -u deploy -p {b} registry.example.com")
            secrets += [a, b]
            continue
        elif f == "docker_run_stdin":
            docker.append(f"RUN echo {a} | docker login --password-stdin -u deploy registry.example.com && \\\n"
                          f"    htpasswd -bc /etc/nginx/.htpasswd admin {b}")
            secrets += [a, b]
            continue
        elif f == "cmd_folded":  # a folded command: the flag and its value on different lines
            extra["folded"] = ["    image: alpine:3.19", "    command: >", "      app --db-password", f"      {v} --verbose"]
        secrets.append(v)
    if combo.get("secret_is_service"):
        env.append(f"SVC_PASSWORD={svc}")
    # environment list items and map items cannot mix: the list form gets its own service
    maps = [e for e in envs if not e.lstrip().startswith("- ")]
    lists = [e for e in envs if e.lstrip().startswith("- ")]
    compose = [*top, "services:", "  api:", "    image: registry.example.com/team/api-server:1.4.2", '    ports: ["8000:8000"]',
               "    env_file: .env"]
    if maps:
        compose += ["    environment:"] + maps
    compose += [f"  {svc}:", "    image: redis:7.2", "    privileged: true"]  # a finding that names it
    compose += [line for x in cmd_extra for line in x.split("\n")] if cmd_extra else []
    if lists:
        compose += ["  lister:", "    image: alpine:3.19", "    environment:"] + lists
    if longer:
        compose += [f"  {longer}:", "    image: alpine:3.19"]
        idents.append(longer)
    for name, lines in extra.items():
        compose += [f"  {name}:", *lines]
        idents.append(name)
    env += env_tail
    nats += nats_tail
    files = {".env": "\n".join(env) + "\n", "docker-compose.yml": "\n".join(compose) + "\n"}
    if sql:
        files["docker-compose.yml"] += "  db:\n    image: postgres:16.2\n    volumes:\n      - ./init.sql:/docker-entrypoint-initdb.d/init.sql:ro\n"
        files["init.sql"] = "\n".join(sql) + "\n"
    if nginx:
        files["nginx.conf"] = "events {}\nhttp {\n  server {\n    listen 80;\n    location / {\n" + "\n".join(nginx) + "\n    }\n  }\n}\n"
    if nats:
        files["nats.conf"] = "port: 4222\n" + "\n".join(nats) + "\n"
    if redis:
        files["redis.conf"] = "\n".join(redis) + "\n"
    if script:
        files["deploy.sh"] = "#!/bin/sh\nset -eu\n" + "\n".join(script) + "\ndocker compose up -d\n"
    if docker:
        files["docker-compose.yml"] += "  builder:\n    build: ./app\n"
        files["app/Dockerfile"] = "FROM python:3.12-slim\n" + "\n".join(docker) + "\nUSER app\n"
    write(d, files)
    return secrets, idents


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(forms=st.lists(st.sampled_from(FORMS), min_size=3, max_size=10, unique=True),
       values=st.lists(canary, min_size=len(FORMS), max_size=len(FORMS), unique=True),
       service=lower_canary, secret_is_service=st.booleans(), longer=st.booleans(), data=st.data())
def test_generated_stacks_leak_no_canary_and_garble_no_name(tmp_path_factory, forms, values, service,
                                                           secret_is_service, longer, data):
    c = dict(zip(FORMS, values))
    combo = {"service": service, "secret_is_service": secret_is_service}
    if longer:  # a secret inside a longer word: a service whose name holds one of the canaries
        f = data.draw(st.sampled_from(forms))
        c[f] = c[f].lower()
        combo["longer"] = "svc-" + c[f] + "-x"
    d = tmp_path_factory.mktemp("gen")
    secrets, idents = build(d, forms, c, combo)
    check(d, [s for s in secrets if len(s) >= 6], identifiers=[i for i in idents if i != service] + [service],
          fix=data.draw(st.booleans()),
          must_show=[service, "registry.example.com/team/api-server:1.4.2"] + ([combo["longer"]] if longer else []),
          never=[f"SVC_PASSWORD={service}"])  # a secret equal to a service name: masked at its own span


_NAMED = ("service", "image", "path", "longer-path", "network", "user", "database")


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(alphabet="ghjkmnpqrstvwxyz23456789", min_size=7, max_size=11).filter(lambda s: s[0].isalpha()),
       where=st.lists(st.sampled_from(_NAMED), min_size=1, max_size=4, unique=True),
       secret_in=st.lists(st.sampled_from(("env", "compose", "sql", "nats", "url")), min_size=1, max_size=3, unique=True))
def test_a_secret_equal_to_a_name_masks_its_spans_only(tmp_path_factory, name, where, secret_in):
    """A pull request that makes a password equal to a name the report prints (a service, an image
    path, a volume path or a longer word holding it, a network, a user, a database; letters and
    digits, so the string safety net would take it): the name stays readable everywhere, no ``***``
    lands inside a name or path, and the password itself is masked at its own positions."""
    svc = name if "service" in where else "worker"
    lines = ["services:", f"  {svc}:", "    privileged: true", '    ports: ["5432:5432"]',
             f"    image: ghcr.io/{name}/{name}-dashboard:1.0" if "image" in where else "    image: postgres:16.2",
             "    env_file: .env"]
    shown = [f"service '{svc}'"] + ([f"ghcr.io/{name}/{name}-dashboard"] if "image" in where else [])
    if "path" in where or "longer-path" in where:
        lines += ["    volumes:"]
        lines += [f"      - ./{name}:/srv/{name}:ro"] if "path" in where else []
        lines += [f"      - /var/lib/{name}ql/data:/var/lib/postgresql/data"] if "longer-path" in where else []
    if "network" in where:
        lines += ["    networks:", f"      - {name}"]
    if "user" in where:
        lines += [f'    user: "{name}"']
    env = ["LOG_LEVEL=info"]
    if "database" in where:
        env += [f"POSTGRES_DB={name}", f"POSTGRES_USER={name}"]
    never = []
    if "env" in secret_in:
        env.append(f"DB_PASSWORD={name}")
        never.append(f"DB_PASSWORD={name}")
    if "compose" in secret_in:
        lines += ["    environment:", f"      API_TOKEN: {name}"]
        never.append(f"API_TOKEN: {name}")
    if "url" in secret_in:
        env.append(f"DATABASE_URL=postgres://app:{name}@db:5432/app")
        never.append(f":{name}@db")
    if "network" in where:
        lines += ["networks:", f"  {name}: {{}}"]
    files = {"docker-compose.yml": "\n".join(lines) + "\n", ".env": "\n".join(env) + "\n"}
    if "sql" in secret_in:
        files["init.sql"] = f"CREATE ROLE app LOGIN PASSWORD '{name}';\n"
        never.append(f"PASSWORD '{name}'")
    if "nats" in secret_in:
        files["nats.conf"] = f'port: 4222\nauthorization {{\n  user: backend\n  password: "{name}"\n}}\n'
        never.append(f'password: "{name}"')
    d = write(tmp_path_factory.mktemp("named"), files)
    outs = outputs(d)
    everything = "\n".join(outs.values())
    for out, text in outs.items():
        assert not garbled(text), (out, garbled(text)[:3])
        assert not [n for n in never if n in text], (out, [n for n in never if n in text])
    for shown_name in shown:
        assert shown_name in everything, f"{shown_name!r} is missing (masked?) from every output"


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=st.lists(canary, min_size=3, max_size=3, unique=True), service=lower_canary,
       others=st.lists(st.sampled_from(FORMS), max_size=2, unique=True), secret_is_service=st.booleans())
def test_each_form_is_generated_and_leaks_nowhere(tmp_path_factory, form, values, service, others, secret_is_service):
    """Every form on its own (and with up to two others), each with generated canaries: the
    combined test above draws a few forms per stack, this one guarantees every form is generated
    on every run, through the six formats, the fix diff, its edits and the remaining findings."""
    forms = [form] + [f for f in others if f != form]
    c = dict(zip(forms, values))
    d = tmp_path_factory.mktemp("form")
    secrets, idents = build(d, forms, c, {"service": service, "secret_is_service": secret_is_service})
    check(d, [s for s in secrets if len(s) >= 6], identifiers=idents, must_show=[service],
          never=[f"SVC_PASSWORD={service}"])


def test_stderr_masks_secret_positions(tmp_path):
    """What dkscan writes on standard error (an unreadable path, an internal error's message) masks
    the secret positions any text holds."""
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(tmp_path / "x" / "--password=QstdErrKmz9q")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "cannot read" in r.stderr, r.stderr
    assert "QstdErr" not in r.stderr and "--password=***" in r.stderr


def test_every_form_through_the_cli(tmp_path):
    """Every form at once, through ``dkscan audit`` (every format, stdout and stderr) and ``dkscan
    fix`` (the diff and the remaining findings it prints)."""
    import random

    rnd = random.Random(14)
    c = {f: "Q" + "".join(rnd.choice(ALPHABET + DIGITS) for _ in range(13)) + "z" for f in FORMS}
    d = tmp_path / "s"
    secrets, idents = build(d, list(FORMS), c, {"service": "qworkerqz", "secret_is_service": True,
                                                "longer": "svc-" + c["env_plain"].lower() + "-x"})
    texts = []
    for fmt in FORMATS:
        r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", "--include-suppressed", "--format", fmt, str(d)],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode in (0, 1), r.stderr[-2000:]
        texts += [r.stdout, r.stderr]
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "fix", "--unsafe", str(d)], capture_output=True, text=True, cwd=ROOT)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "findings remain" in r.stdout
    texts += [r.stdout, r.stderr]
    for text in texts:
        assert not leaks(text, [s for s in secrets if len(s) >= 6], identifiers=idents), leaks(text, secrets, idents)
        assert not garbled(text), garbled(text)[:3]
    assert "qworkerqz" in "".join(texts)


# ---------------------------------------------------------------------------------------------
# the bundled and the corpus reports
# ---------------------------------------------------------------------------------------------


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []


def test_bundled_reports_mask_no_name_or_path():
    texts = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "reports").glob("studios-dk.*") if p.suffix != ".png"}
    assert len(texts) == 6
    for name, text in texts.items():
        if name.endswith(".md"):
            text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)  # read as rendered (see ``reports``)
        assert not garbled(text), (name, garbled(text)[:3])


def _corpus_result(d: Path):
    from test_secrets_leak import _audited  # one audit per corpus stack for both test modules

    return _audited(d)


@pytest.mark.parametrize("stack_dir", _corpus(), ids=lambda p: p.name)
def test_corpus_reports_mask_no_name_or_path(stack_dir):
    """Every project of ``../shared/corpus/``: its six reports (Markdown read unescaped) and its
    ``dkscan fix --unsafe`` diff hold no ``***`` inside a name or path."""
    from scanner.fix.apply import plan_fixes, render_diff
    from scanner.stack import build_stack

    outs = reports(_corpus_result(stack_dir))
    assert sorted(outs) == sorted(FORMATS)
    outs["fix-diff"] = render_diff(plan_fixes([stack_dir], unsafe=True), collect_secrets(build_stack([stack_dir])))
    for fmt, text in outs.items():
        assert not garbled(text), (fmt, garbled(text)[:3])


@pytest.mark.parametrize("name", ["studios-dk", "studios-dk-compliant"])
def test_bundled_stacks_mask_no_name_or_path(name):
    """The bundled stacks audited now (not only the committed example reports): six formats, the
    fix diff and the remaining findings ``dkscan fix`` prints hold no ``***`` inside a name or path,
    and the names their secrets share a word with stay readable."""
    outs = outputs(ROOT / "fixtures" / name)
    assert set(FORMATS) < set(outs) and "fix-diff" in outs
    for fmt, text in outs.items():
        assert not garbled(text), (fmt, garbled(text)[:3])
    if name == "studios-dk":
        assert outs["fix-diff"] and "***" in outs["text"] + outs["html"]  # it has secrets, masked
        assert "service 'backend'" in outs["text"]


def test_garbled_detects_what_the_issue_shows():
    assert garbled("service '***' at /var/lib/***ql/data")
    assert garbled("image ghcr.io/***/***-dashboard:1")
    assert garbled("runs ***ileged")
    assert not garbled("${DB_PASSWORD:-***} DB_PASSWORD=*** and postgres://u:***@h and --password *** 'x' \"***\" PASSWORD $$***$$")


def test_names_that_start_a_password_stay_readable():
    """``backend2025`` is the NATS password of user ``backend`` in the bundled stack, ``postgres`` its
    database user: a message quoting the names keeps them (only a quoted token that *is* a secret, or
    holds one, is masked)."""
    text = (ROOT / "reports" / "studios-dk.txt").read_text(encoding="utf-8")
    assert "NATS user 'backend' has no permissions" in text
    assert "service 'backend' connects as 'postgres'" in text
    assert "role 'studios_app' gets a literal password" in text
    assert "backend2025" not in text and "studios_app_2025" not in text


# ---------------------------------------------------------------------------------------------
# the parsers mark the secrets they read (Document.secret_marks), in the form they are written
# ---------------------------------------------------------------------------------------------

word = st.text(alphabet="ghjkmnpqrstvwxyz", min_size=3, max_size=8)


def _parser_leaks(kind: str, text: str, secrets, names) -> tuple[list[str], list[str]]:
    """(canary pieces left after masking the parser's own marks, names garbled by the whole file's spans)."""
    from scanner.kinds import KIND

    import importlib

    doc = KIND[kind].parse(text, "f", {})
    # the marks of a text alone (a fix's window, a fragment) are the marks its parse records
    from scanner.spans import _PARSER_MODULE

    module = importlib.import_module(f"scanner.parsers.{_PARSER_MODULE[kind]}")
    assert sorted(module.secret_marks(text)) == sorted(doc.secret_marks)
    masked = mask(text, sorted(doc.secret_marks))
    everything = mask(text, spans_of(kind, text))
    return leaks(masked, secrets), [n for n in names if n not in everything]


@settings(max_examples=30, deadline=None)
@given(values=st.lists(canary, min_size=12, max_size=12, unique=True), role=word, table=word,
       order=st.permutations(range(12)))
def test_sql_parser_marks_password_literals_in_every_quoting(values, role, table, order):
    v = values
    h = [(x[:len(x) // 2], x[len(x) // 2:]) for x in v]
    stmts = [
        f"CREATE ROLE {role}0 LOGIN PASSWORD '{h[0][0]}''{h[0][1]}';",
        f"ALTER USER {role}1 WITH ENCRYPTED PASSWORD E'{h[1][0]}\\'{h[1][1]}';",
        f"CREATE ROLE {role}2 PASSWORD $${v[2]}$$ VALID UNTIL 'infinity';",
        f"CREATE ROLE {role}3 PASSWORD $tag${h[3][0]}$x${h[3][1]}$tag$;",
        f'CREATE USER {role}4 PASSWORD "{v[4]}";',
        f"CREATE ROLE {role}5 LOGIN PASSWORD {h[5][0]}@{h[5][1]} CREATEDB;",  # unquoted: the script is unparseable
        f"CREATE ROLE {role}6 PASSWORD U&'{v[6]}';",
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1) THEN CREATE ROLE {role}7 LOGIN PASSWORD '{v[7]}'; END IF; END $$;",
        f"UPDATE {table} SET password = crypt('{v[8]}', gen_salt('bf'));",
        f"INSERT INTO {table} VALUES (pgp_sym_encrypt({table}.c, '{v[9]}'));",
        f"\\set app_password '{v[10]}'",
        f"CREATE USER MAPPING FOR {role}8 SERVER s OPTIONS (user '{role}9', password '{v[11]}');",
    ]
    decoys = [f"CREATE TABLE {table} (id int, password text, password_hash text);", f"ALTER ROLE {role}x PASSWORD NULL;"]
    text = "\n".join([stmts[i] for i in order] + decoys) + "\n"
    secrets = [p for x in h for p in x]
    names = [f"{role}{i}" for i in range(10)] + [table, "password text", "password_hash", "CREATEDB", "'infinity'"]
    left, garbled_names = _parser_leaks("sql", text, secrets, names)
    assert left == [] and garbled_names == [], (left, garbled_names, text)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(canary, min_size=6, max_size=6, unique=True), host=word, quote=st.sampled_from(['"', "'", ""]))
def test_nginx_parser_marks_credential_headers(values, host, quote):
    v = values
    q = quote
    dq = q or '"'
    conf = (f"server {{\n  server_name {host}.example.com;\n  location /{host} {{\n"
            f"    proxy_set_header Authorization {dq}Basic {v[0]}{dq};\n"
            f"    proxy_set_header X-Api-Key {q}{v[1]}{q};\n"
            f"    more_set_input_headers 'Authorization: Bearer {v[2]}';\n"
            f"    set $upstream_token {q}{v[3]}{q};\n"
            f"    fastcgi_param DB_PASSWORD {q}{v[4]}{q};\n"
            f"    secure_link_secret {v[5]};\n"
            f"    proxy_set_header X-Forwarded-Auth $http_authorization;\n"
            f"    proxy_pass http://{host}:8080;\n  }}\n}}\n")
    left, garbled_names = _parser_leaks("nginx", conf, v, [f"{host}.example.com", f"http://{host}:8080",
                                                          "$http_authorization", "X-Api-Key", "Authorization"])
    assert left == [] and garbled_names == [], (left, garbled_names, conf)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(canary, min_size=5, max_size=5, unique=True), user=word,
       sep=st.sampled_from([": ", " = ", " "]), quote=st.sampled_from(['"', "'", ""]))
def test_nats_parser_marks_passwords_and_tokens(values, user, sep, quote):
    v, q = values, quote
    conf = (f"port{sep}4222\nauthorization {{\n  users = [\n    {{ user{sep}{user}, password{sep}{q}{v[0]}{q} }}\n"
            f"    {{ user{sep}{user}2, password{sep}$PW }}\n  ]\n  timeout{sep}2\n}}\n"
            f"cluster {{\n  authorization {{ user{sep}{user}3; pass{sep}{q}{v[1]}{q} }}\n}}\n"
            f"leafnodes {{ authorization {{ token{sep}{q}{v[2]}{q} }} }}\n"
            f"accounts {{ A {{ users = [ {{ user{sep}{user}4, backend_password{sep}{q}{v[3]}{q} }} ] }} }}\n"
            f"websocket {{ auth_token{sep}{q}{v[4]}{q} }}\n")
    left, garbled_names = _parser_leaks("nats", conf, v, [user, f"{user}2", f"{user}3", f"{user}4", "$PW"])
    assert left == [] and garbled_names == [], (left, garbled_names, conf)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(canary, min_size=6, max_size=6, unique=True), user=word)
def test_redis_parser_marks_requirepass_masterauth_and_acl_passwords(values, user):
    v = values
    h = [(x[:len(x) // 2], x[len(x) // 2:]) for x in v]
    conf = (f"bind 0.0.0.0\nrequirepass {v[0]}\n  masterauth \"{h[1][0]}\\x41{h[1][1]}\"\n"
            f"user {user} on >{v[2]} >{v[3]} ~{user}:* +@all\n"
            f"tls-key-file-pass '{h[4][0]}\\'{h[4][1]}'\nmasteruser {user}\n"
            f"user default on #{v[5]} ~* &* +@all\n")
    secrets = [v[0], *h[1], v[2], v[3], *h[4], v[5]]
    left, garbled_names = _parser_leaks("redis", conf, secrets, [f"user {user} on", f"~{user}:*", f"masteruser {user}"])
    assert left == [] and garbled_names == [], (left, garbled_names, conf)
    # a line redis refuses (unbalanced quotes) is an error at its line, its secret still masked
    from scanner.parsers.redis import parse

    bad = f'requirepass "{v[0]}\nport 6379\n'
    doc = parse(bad, "redis.conf")
    assert [(e.line, "refuse" in e.message) for e in doc.errors] == [(1, True)]
    assert leaks(mask(bad, doc.secret_marks), [v[0]]) == []
    assert [(d.name, d.args) for d in doc.directives] == [("port", ["6379"])]


def test_parsed_kinds_spans_are_the_parser_marks_and_the_stack_parse_is_reused():
    """Every kind's spans come from its parser's marks (and the positions any text holds), and a
    document the stack parsed gives its marks without being parsed again."""
    from scanner import spans as sp
    from scanner.kinds import KIND

    assert sp.PARSED_KINDS == {"sql", "nginx", "nats", "redis", "htpasswd", "env", "compose", "prometheus", "yaml",
                               "dockerfile", "script"}
    for kind in sp.PARSED_KINDS:
        assert [f.__name__ for f in sp._KIND_FINDERS[kind]] == [f"{kind}_parser_marks"]
    text = "CREATE ROLE a PASSWORD 'Qzz9reuse8k';\n"
    doc = KIND["sql"].parse(text, "init.sql", {})
    doc.kind = "sql"
    doc.secret_marks = [(24, 35)]  # what this parse marked; the spans are these, not a re-parse's
    sp._MARKS.pop(("sql", text), None)
    assert (24, 35) in doc.secret_spans


@settings(max_examples=30, deadline=None)
@given(values=st.lists(canary, min_size=3, max_size=3, unique=True), user=word)
def test_htpasswd_parser_marks_every_password_field(values, user):
    v = values
    text = f"# gateway users\n{user}:$apr1${v[0]}\nops:{{SHA}}{v[1]}=:the ops team\n{v[2]}\n"
    left, garbled_names = _parser_leaks("htpasswd", text, v, [f"{user}:", "ops:", ":the ops team", "# gateway users"])
    assert left == [] and garbled_names == [], (left, garbled_names, text)


def test_files_a_gateway_mounts_are_read_as_what_they_are(tmp_path):
    """A password file (by name, or named by auth_basic_user_file) and a private key mounted into the
    gateway are not nginx configurations: no parse error quotes their content, no hash leaks."""
    pw, key = "Zq9htpwHashValue8x", "MIIEvZkq7Xw3Lp9R2QxY"  # no dictionary word: rule docs are in SARIF
    d = write(tmp_path / "s", {
        "docker-compose.yml": "services:\n  gw:\n    image: nginx:1.27.1\n    volumes:\n"
                              "      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n"
                              "      - ./nginx/users:/etc/nginx/auth/users:ro\n"
                              "      - ./nginx/.htpasswd:/etc/nginx/.htpasswd:ro\n"
                              "      - ./nginx/tls.key:/etc/nginx/ssl/tls.key:ro\n",
        "nginx/nginx.conf": "events {}\nhttp { server { listen 80; location / { auth_basic \"x\"; "
                            "auth_basic_user_file /etc/nginx/auth/users; root /srv; } } }\n",
        "nginx/users": f"admin:$apr1$salt1234${pw}\n",
        "nginx/.htpasswd": f"ops:{{SHA}}{pw[::-1]}=\n",
        "nginx/tls.key": f"-----BEGIN PRIVATE KEY-----\n{key}\n-----END PRIVATE KEY-----\n"})
    result = audit([d])
    assert result.stack.files["nginx/users"].kind == "htpasswd" and result.stack.files["nginx/.htpasswd"].kind == "htpasswd"
    assert "nginx/tls.key" not in result.stack.files or result.stack.files["nginx/tls.key"].kind != "nginx"
    assert not [f for f in result.findings if f.rule == "OPS081" and f.location.path.startswith("nginx/")]
    for fmt in FORMATS:
        assert leaks(render(fmt, result), [pw, pw[::-1], key]) == [], fmt


def test_a_fingerprint_never_confirms_a_guessed_password():
    """A rule's own snippet key can quote a URL (``novar-resolver:http://u:pw@h``): the fingerprint is
    built from it with the password masked, so two passwords give one fingerprint (a weak password
    cannot be confirmed offline by hashing guesses)."""
    from types import SimpleNamespace

    from scanner.fingerprint import fingerprint

    def fp(pw: str) -> str:
        f = SimpleNamespace(rule="GW099", snippet_key=f"novar-resolver:http://deploy:{pw}@api:8000",
                            location=SimpleNamespace(path="nginx.conf", start_line=3))
        return fingerprint(f, None, None)

    assert fp("QfpKmz9qrs") == fp("postgres") != fingerprint(
        SimpleNamespace(rule="GW099", snippet_key="novar-resolver:http://api:8000",
                        location=SimpleNamespace(path="nginx.conf", start_line=3)), None, None)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(canary, min_size=8, max_size=8, unique=True), user=word)
def test_dotenv_parser_marks_secret_values_as_written(values, user):
    v = values
    text = (f"# {user} settings\nDB_USER={user}\nDB_PASSWORD={v[0]} # inline\nexport API_TOKEN=\"{v[1]}\"\n"
            f"ML_SECRET='{v[2]}\n{v[3]}'\nCOLON_PASSWORD: {v[4]}\nREF_TOKEN=${{X:-{v[5]}}}\n"
            f"\x0cFF_PASSWORD=\"{v[6]}\"\nTAIL_SECRET='ab'{v[7]}\n")
    left, garbled_names = _parser_leaks("env", text, v, [f"DB_USER={user}", "# inline", f"# {user} settings", "${X:-"])
    assert left == [] and garbled_names == [], (left, garbled_names, text)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(canary, min_size=10, max_size=10, unique=True), svc=word)
def test_compose_parser_marks_secret_values_in_every_scalar_style(values, svc):
    v = values
    text = (f"x-pw: &pw {v[0]}\nservices:\n  {svc}:\n    image: ghcr.io/{svc}/app:1\n    environment:\n"
            f"      A_PASSWORD: *pw\n      B_SECRET: |\n        {v[1]}\n        {v[2]}\n      C_TOKEN: >-\n        {v[3]}\n"
            f"      D_PASSWORD: {v[4]}\n        {v[5]}\n      E_SECRET: \"{v[6][:5]}\\x41{v[6][5:]}\"\n"
            f"      F_TOKEN: '{v[7][:5]}''{v[7][5:]}'\n      \"G_PASSWORD\": \"{v[8]}\"\n"
            f"    command: [\"app\", \"--db-password\", \"{v[9]}\"]\n")
    secrets = [v[0], v[1], v[2], v[3], v[4], v[5], v[6][5:], v[7][5:], v[8], v[9]]
    left, garbled_names = _parser_leaks("compose", text, secrets, [f"  {svc}:", f"ghcr.io/{svc}/app:1", "--db-password",
                                                                  "B_SECRET: |", "C_TOKEN: >-"])
    assert left == [] and garbled_names == [], (left, garbled_names, text)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(canary, min_size=6, max_size=6, unique=True), user=word)
def test_dockerfile_parser_marks_values_on_continued_lines(values, user):
    v = values
    text = (f"FROM python:3.12\nENV APP_ENV=prod \\\n    DB_PASSWORD=\\\n    {v[0]}\nENV LEGACY_TOKEN \\\n  # comment\n  {v[1]}\n"
            f"RUN curl -u \\\n  {user}:{v[2]} https://x.example.com\nARG NPM_TOKEN={v[3]}\n"
            f"RUN pip install --index-url \\\n    https://{user}:{v[4]}@pypi.example.com/simple app\n"
            f"CMD [\"app\", \"--password\", \"{v[5]}\"]\nUSER {user}\n")
    left, garbled_names = _parser_leaks("dockerfile", text, v, [f"USER {user}", "ENV APP_ENV=prod", "# comment"])
    assert left == [] and garbled_names == [], (left, garbled_names, text)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(canary, min_size=5, max_size=5, unique=True), user=word)
def test_shell_parser_marks_values_assigned_to_secret_keys(values, user):
    v = values
    text = (f"#!/bin/sh\nexport DEPLOY_PASSWORD=\"{v[0]}\n{v[1]}\"\nPGPASSWORD='{v[2]}' pg_dump -U {user} app\n"
            f"API_TOKEN=${{TOKEN:-{v[3]}}}\nSECRET_KEY={v[4]}\necho {user}\n")
    from scanner.kinds import KIND

    doc = KIND["script"].parse(text, "deploy.sh", {})
    masked = mask(text, sorted(doc.secret_marks))  # the parser's marks alone
    assert leaks(masked, v) == [], (masked, text)
    assert f"pg_dump -U {user} app" in masked and f"echo {user}" in masked and "${TOKEN:-" in masked


# ---------------------------------------------------------------------------------------------
# secrets commands take as positional words or on standard input, in every file a command is
# written in (a deploy script, a Dockerfile RUN, a compose command run by a shell)
# ---------------------------------------------------------------------------------------------

_SINKS = ("docker login --password-stdin -u {user} registry.example.com", "podman login -u {user} --password-stdin r.example.com",
          "helm registry login r.example.com --username {user} --password-stdin", "gh auth login --with-token",
          "passwd --stdin {user}", "sudo -S true", "docker secret create {user}_pw -")
_FEEDERS = ("echo {v}", "echo -n {v}", "printf {v}", "printf '%s' {v}", 'printf "%s\\n" {v}')
_QUOTES = ("", "'", '"', "$'")


def _quoted(v: str, q: str) -> str:
    return v if not q else f"{q}{v}{q[-1]}"


def _in_file(kind: str, line: str, user: str) -> str:
    if kind == "script":
        return f"#!/bin/sh\nset -eu\n{line}\necho {user}\n"
    if kind == "dockerfile":
        return f"FROM alpine:3.19\nRUN {line}\nUSER {user}\n"
    esc = line.replace("\\", "\\\\").replace('"', '\\"')
    return f'services:\n  {user}:\n    image: alpine:3.19\n    command: ["sh", "-c", "{esc}"]\n'


_CONTEXTS = ("script", "dockerfile", "compose")


@settings(max_examples=60, deadline=None)
@given(v=canary, user=word, sink=st.sampled_from(_SINKS), feeder=st.sampled_from(_FEEDERS), q=st.sampled_from(_QUOTES),
       here=st.booleans(), kind=st.sampled_from(_CONTEXTS))
def test_a_literal_piped_or_here_string_into_a_secret_reader_is_masked(v, user, sink, feeder, q, here, kind):
    """``echo x | docker login --password-stdin`` and every feeder (``echo -n``, ``printf``, ``printf
    '%s'``), quoting (none, ``'``, ``"``, ``$'``) and reader (registry logins, ``gh auth login
    --with-token``, ``passwd --stdin``, ``sudo -S``, ``docker secret create NAME -``), piped or as a
    here-string, in a script, a Dockerfile RUN and a compose command."""
    s = sink.format(user=user)
    line = f"{s} <<< {_quoted(v, q)}" if here else f"{feeder.format(v=_quoted(v, q))} | {s}"
    text = _in_file(kind, line, user)
    masked = mask(text, spans_of(kind, text))
    assert leaks(masked, [v]) == [], masked
    assert s.split(" ")[0] in masked and (kind == "compose" or f"{user}\n" in masked), masked


@settings(max_examples=60, deadline=None)
@given(v=canary, user=word, pw_user=word, kind=st.sampled_from(_CONTEXTS), q=st.sampled_from(_QUOTES),
       form=st.sampled_from(("chpasswd_pipe", "chpasswd_here", "read", "printf_v", "printf_v_fmt", "assoc", "subscript",
                             "htpasswd", "htpasswd_n", "mosquitto", "rabbitmq", "login_p", "aws", "from_literal")),
       letters=st.lists(st.sampled_from("cBmsdpDi"), max_size=3, unique=True), split=st.booleans(),
       key=st.sampled_from(("DB_PASSWORD", "API_TOKEN", "password", "client_secret", "SESSION_SECRET")))
def test_positional_and_stdin_secrets_of_commands_are_masked(v, user, pw_user, kind, q, form, letters, split, key):
    """Positional passwords (``htpasswd -b[flags] FILE USER PW`` with its flags clustered or apart,
    ``htpasswd -nb USER PW``, ``mosquitto_passwd -b``, ``rabbitmqctl add_user``, ``docker login -p``,
    ``aws configure set KEY VALUE``, ``kubectl create secret --from-literal``) and values given to a
    secret variable by ``read <<<``, ``printf -v``, associative arrays and subscripts, and
    ``user:password`` lines for ``chpasswd``: masked, the user and the command readable."""
    val = _quoted(v, q)
    flags = ("-b" + "".join(letters)) if not split else " ".join(["-b", *(f"-{x}" for x in letters)])
    line = {
        "chpasswd_pipe": f"echo {_quoted(pw_user + ':' + v, q)} | chpasswd",
        "chpasswd_here": f"chpasswd <<< {_quoted(pw_user + ':' + v, q)}",
        "read": f"read -r {key} <<< {val}",
        "printf_v": f"printf -v {key} %s {val}",
        "printf_v_fmt": f"printf -v {key} {val}",
        "assoc": f"declare -A creds=([{key}]={val} [user]={pw_user})",
        "subscript": f'creds["{key}"]={val}',
        "htpasswd": f"htpasswd {flags} ./nginx/.htpasswd {pw_user} {val}",
        "htpasswd_n": f"htpasswd -n{flags[1:]} {pw_user} {val} > ./nginx/.htpasswd",
        "mosquitto": f"mosquitto_passwd -b ./mosquitto/passwd {pw_user} {val}",
        "rabbitmq": f"rabbitmqctl add_user {pw_user} {val}",
        "login_p": f"docker login -u {pw_user} -p {val} registry.example.com",
        "aws": f"aws configure set aws_secret_access_key {val}",
        "from_literal": f"kubectl create secret generic app --from-literal=DB={val}",
    }[form]
    text = _in_file(kind, line, user)
    masked = mask(text, spans_of(kind, text))
    assert leaks(masked, [v]) == [], masked
    if form not in ("read", "printf_v", "printf_v_fmt", "assoc", "subscript", "aws", "from_literal"):
        assert pw_user in masked, masked  # the user name is not the password


@settings(max_examples=30, deadline=None)
@given(values=st.lists(canary, min_size=4, max_size=4, unique=True), name=word, svc=word,
       key=st.sampled_from(("db-password", "api_token", "DB_PASSWORD", "client_secret")))
def test_secret_collections_mask_values_and_keep_where_secrets_come_from(values, name, svc, key):
    """Every scalar of a collection under a secret key is masked (flow and block, nested), but the
    names of secrets and the fields that say where a secret comes from stay readable: a service's
    ``secrets:`` list, compose's top-level ``secrets: {NAME: {file: ...}}`` / ``{environment: VAR}``
    (the corpus' ac-nginx-golang-postgres masked ``db`` from ``file: db/password.txt``)."""
    v = values
    text = (f"services:\n  {svc}:\n    image: ghcr.io/{svc}/app:1\n    secrets:\n      - {key}\n      - source: {name}\n"
            f"x-creds:\n  {key}: [{v[0]}, {{primary: '{v[1]}', file: {name}/pw.txt}}]\n  api_token:\n    - {v[2]}\n"
            f"    - nested: [\"{v[3]}\"]\n"
            f"secrets:\n  {key}:\n    file: {name}/password.txt\n  {name}:\n    environment: {name.upper()}_VAR\n"
            f"  other: {{file: {name}/other.txt}}\n")
    masked = mask(text, spans_of("compose", text))
    assert leaks(masked, v) == [], masked
    for shown in (f"      - {key}\n", f"source: {name}\n", f"file: {name}/password.txt", f"environment: {name.upper()}_VAR",
                  f"file: {name}/pw.txt", f"{{file: {name}/other.txt}}", f"ghcr.io/{svc}/app:1"):
        assert shown in masked, (shown, masked)

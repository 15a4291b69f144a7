"""Issue 15, point 4: a configuration nginx refuses is refused where and as nginx says, and one it
loads is never refused -- checked against the real ``nginx -t`` (Debian's, ``.ci/deps``).

- **Lexer.** dkscan reads words as nginx's ngx_conf_read_token does: a ``}`` glued to a word is part
  of it (``add_header X c};``), ``"ok"}`` is refused, ``#`` starts a comment only where a word
  could, ``${`` does not end a word, only space, tab, CR and LF separate. Generated configurations
  dense in those characters must get nginx's first error (message and line), or none when nginx
  accepts them.
- **Contexts and argument counts.** Directives of nginx's own modules placed in random contexts
  with random argument counts (``proxy_pass`` in ``http``, ``server`` in ``location``, ``listen``
  with none...) get nginx's ``"X" directive is not allowed here`` / ``invalid number of
  arguments`` at the line nginx names (its ``;`` or ``{``); a third-party directive never is.
- **Includes.** A fragment is judged in the context of its include (``conf.d/*.conf`` inside
  ``http``), and a ``conf.d`` file the official image includes in ``http`` as well.
- **No false refusal.** Every nginx configuration of the bundled stacks, ``../shared/corpus`` and
  gixy-ng's cases that nginx loads is not refused; where nginx refuses one, dkscan agrees.
- The table (``scanner/data/nginx_directives.json``) agrees with the real nginx on every directive
  it marks verified, in every context; duplicates nginx refuses (``"root" directive is duplicate``)
  are generated too.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.parsers import nginx as ngx
from scanner.stack import build_stack, classify, sniff_nginx
from tests.conftest import shared_path
from tests.nginx_harness import require_nginx

ROOT = Path(__file__).resolve().parent.parent

# the refusals dkscan finds without running nginx (the lexer, the tree, ngx_conf_handler's checks)
MODELLED = re.compile(r'unexpected |directive "[^"]+" (?:is not terminated|has no opening)|"[^"]+" directive is '
                      r'not allowed here|invalid number of arguments')


@pytest.fixture(scope="module")
def nginx_bin() -> str:
    return require_nginx()


def nginx_t(binary: str, files: dict[str, str], main: str = "n.conf") -> tuple[str, str | None, int | None] | None:
    """Write ``files`` into a temporary prefix and run ``nginx -t`` on ``main``: None when it
    loads, else (message, file, line) of its [emerg] (file and line None when it has none)."""
    with tempfile.TemporaryDirectory(prefix="dkscan-ngx-") as tmp:
        for rel, text in files.items():
            p = Path(tmp) / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        proc = subprocess.run([binary, "-t", "-p", f"{tmp}/", "-c", f"{tmp}/{main}", "-g",
                               f"pid {tmp}/nginx.pid; error_log {tmp}/error.log;"],
                              capture_output=True, text=True, errors="replace", timeout=30)
    if proc.returncode == 0:
        return None
    if "syntax is ok" in proc.stderr:  # read whole; failed after (a socket, a missing file)
        return proc.stderr.strip().splitlines()[1], None, None
    m = re.search(r"\[emerg\] \d+#\d+: (.*?)(?: in " + re.escape(tmp) + r"/(\S+):(\d+))?$", proc.stderr, re.M)
    assert m, proc.stderr
    return m.group(1), m.group(2), int(m.group(3)) if m.group(3) else None


def first_refusal(doc) -> tuple[str, int] | None:
    """The file's refusal, its line counted as nginx counts (LFs: dkscan's lines also break at a
    form feed or a lone CR, as every other position it reports)."""
    errs = [e for e in doc.errors if not e.message.startswith(ngx._DKSCAN_LIMITS)]
    assert len(errs) <= 1, errs  # one per file: the first, as nginx stops there
    if not errs:
        return None
    offset = doc.line_index.line_start(errs[0].line) + errs[0].col - 1
    return errs[0].message, doc.text.count("\n", 0, offset) + 1


def assert_agrees(mine: tuple[str, int] | None, real, text: str) -> str:
    """dkscan's refusal against nginx's: the same (message, line) for what dkscan models, none
    when nginx loads the file (or fails only after reading it), none before an error dkscan does
    not model (nginx read everything before it). Returns how they agreed."""
    if real is None or real[2] is None:
        assert mine is None, (text, mine, real)
        return "both accept"
    message, _file, line = real
    if message == 'invalid number of arguments in "add_header" directive':
        # GW035 reports it (with a fix that quotes the value): the file is not refused before it
        assert mine is None or mine[1] >= line, (text, mine, real)
        return "GW035's refusal"
    dup = re.match(r'"([^"]+)" directive is duplicate', message)
    if MODELLED.match(message) or (dup and any(f.get("dup") for f in ngx.directive_table().get(dup.group(1), ()))):
        assert mine is not None, (text, real)
        # dkscan may add a hint after a colon (`unexpected "}": directive "x" ... is not terminated`)
        # nginx prints the first byte of a non-ASCII character it did not expect; dkscan the character
        norm = lambda m: re.sub(r'^unexpected "[^\x00-\x7f]+"$', 'unexpected "<non-ASCII>"', m.split(": directive")[0])
        assert (norm(mine[0]), mine[1]) == (norm(message), line), (text, mine, real)
        return "same refusal"
    # nginx stopped at an error dkscan does not model (an unknown directive, a value): dkscan's
    # refusal, if any, is not before it (the same line may hold both)
    assert mine is None or mine[1] >= line, (text, mine, real)
    return "nginx refuses first for a reason dkscan does not model"


# ---------------------------------------------------------------------------------------------
# generated configurations
# ---------------------------------------------------------------------------------------------

# (directive, its arguments, block?) nginx -t accepts in their own context without files, DNS or
# variables; placed anywhere, with an argument added or dropped
POOL = [
    ("listen", ["8080"], False), ("server_name", ["a.test", "b.test"], False), ("proxy_pass", ["http://127.0.0.1:9"], False),
    ("root", ["/tmp"], False), ("return", ["200", "ok"], False), ("default_type", ["text/plain"], False),
    ("keepalive_timeout", ["5s"], False), ("gzip", ["on"], False), ("expires", ["1h"], False),
    ("add_header", ["X-A", "b"], False), ("client_max_body_size", ["1m"], False), ("worker_connections", ["64"], False),
    ("server_tokens", ["off"], False), ("set", ["$a", "b"], False), ("proxy_set_header", ["X-B", "c"], False),
    ("deny", ["all"], False), ("charset", ["utf-8"], False), ("more_set_headers", ["X-C: d"], False),
    ("root", ["/srv"], False), ("alias", ["/srv/"], False), ("client_body_timeout", ["5s"], False),
    ("worker_processes", ["1"], False),
    ("server", [], True), ("location", ["/"], True), ("upstream", ["u"], True), ("if", ["($uri)"], True),
    ("limit_except", ["GET"], True), ("events", [], True), ("http", [], True), ("types", [], True),
]
BLOCKS = {"server", "location", "upstream", "if", "limit_except", "events", "http"}


@st.composite
def statements(draw, depth: int = 0, path: str = "") -> list[str]:
    out = []
    for i in range(draw(st.integers(0, 3 if depth < 3 else 1))):
        name, args, block = draw(st.sampled_from(POOL))
        args = list(args)
        how = draw(st.sampled_from(["keep"] * 6 + ["drop", "add"]))
        if how == "drop" and args:
            args.pop()
        elif how == "add":
            args.append("x")
        if name == "location" and args:
            args[0] = f"{path}/l{depth}{i}"  # nested locations inside their parent's prefix
        sep = draw(st.sampled_from([" ", " ", "\n  "]))
        head = " ".join([name] + args)
        if block and name in BLOCKS:
            inner = draw(statements(depth + 1, args[0] if name == "location" and args else path))
            out.append(head + sep + "{\n" + "\n".join(inner) + "\n}")
        elif block:
            out.append(head + sep + "{ }")
        else:
            out.append(head + draw(st.sampled_from([";", "\n;", " ;"])))
    return out


@st.composite
def main_configs(draw) -> str:
    body = draw(statements())
    at = draw(st.integers(0, len(body)))
    body.insert(at, "events { }")
    return "\n".join(body) + "\n"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=main_configs())
def test_contexts_and_argument_counts_as_nginx(nginx_bin, text):
    assert_agrees(first_refusal(ngx.parse(text, "n.conf")), nginx_t(nginx_bin, {"n.conf": text}), text)


# words dense in what nginx's lexer treats specially, glued in every position
ATOMS = ["a", "b1", "}", "{", ";", '"q"', "'s'", '"', "#", "$", "${", "$x", "\\", "\\;", "\\}", "(", ")", " ", "\t",
         "\n", "\r\n", "\x0c", "\xa0", "é"]


@st.composite
def glued(draw) -> str:
    word = "".join(draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=5)))
    where = draw(st.sampled_from(["add_header X-A {w};", "return 200 {w};", "location /a{w} {{ return 204; }}",
                                  "default_type {w}\n;", "add_header X-B {w}}}", "server_name a.test{w}"]))
    line = where.format(w=word)
    return "events {}\nhttp {\n  server {\n    listen 8080;\n    " + line + "\n  }\n}\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=glued())
def test_words_are_read_as_nginx_reads_them(nginx_bin, text):
    assert_agrees(first_refusal(ngx.parse(text, "n.conf")), nginx_t(nginx_bin, {"n.conf": text}), text)


@pytest.mark.parametrize("line,real", [
    ("add_header X-A c};", None),                       # the brace is part of the value
    ("return 200 ok}\n  }", ('unexpected "}"', 6)),      # ...so the next brace comes inside the statement
    ('add_header X-A "c"};', ('unexpected "}"', 5)),     # a quoted word must be followed by a separator
    ("location /a{ return 204; }", None),               # "{" ends a word
    ("add_header X-A a#b;", None),                      # "#" inside a word is not a comment
    ("add_header X-A a\x0cb;", None),                   # a form feed is not a separator
])
def test_glued_examples(nginx_bin, line, real):
    text = "events {}\nhttp {\n  server {\n    listen 8080;\n    " + line + "\n  }\n}\n"
    got = nginx_t(nginx_bin, {"n.conf": text})
    assert (got[0], got[2]) == real if real else got is None, got  # the example says what nginx says
    assert_agrees(first_refusal(ngx.parse(text, "n.conf")), got, text)
    doc = ngx.parse(text, "n.conf")
    if line.startswith("add_header X-A c}"):
        assert [d.args for d in doc.walk() if d.name == "add_header"] == [["X-A", "c}"]]


# ---------------------------------------------------------------------------------------------
# includes: a fragment is judged in the context it is included in
# ---------------------------------------------------------------------------------------------

FRAGMENT_LINES = ["listen 8081;", "server_name a.test;", "proxy_pass http://127.0.0.1:9;", "gzip on;",
                  "location /f { return 204; }", "server { listen 8082; }", "upstream f { server 127.0.0.1:9; }",
                  "add_header X-F y;", "worker_connections 10;", "more_set_headers 'X-G: h';", "root /tmp /x;"]


def _stack_refusal(stack) -> tuple[str, str, int] | None:
    errs = [(p.message, p.location.path, p.location.start_line) for p in stack.problems if p.rule == "OPS081"]
    assert len(errs) <= 1, errs
    return errs[0] if errs else None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(where=st.sampled_from(["http", "server", "location"]),
       lines=st.lists(st.sampled_from(FRAGMENT_LINES), min_size=1, max_size=3),
       pad=st.lists(st.sampled_from(["", "# c", "gzip off;"]), max_size=2))
def test_included_fragment_judged_in_its_context(nginx_bin, tmp_path_factory, where, lines, pad):
    inc = "include conf.d/*.conf;"
    body = {"http": f"http {{\n  {inc}\n}}\n", "server": f"http {{\n  server {{\n    {inc}\n  }}\n}}\n",
            "location": f"http {{\n  server {{\n    location / {{\n      {inc}\n    }}\n  }}\n}}\n"}[where]
    files = {"nginx.conf": "events {}\n" + body, "conf.d/a.conf": "\n".join(pad + lines) + "\n"}
    real = nginx_t(nginx_bin, files, main="nginx.conf")
    d = tmp_path_factory.mktemp("inc")
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    mine = _stack_refusal(build_stack([d], root=d))
    if real is None or real[2] is None:
        assert mine is None, (files, mine, real)
    elif MODELLED.match(real[0]):
        assert mine == real, (files, mine, real)
    else:
        assert mine is None or (mine[1], mine[2]) >= (real[1], real[2]), (files, mine, real)


def _compose_gateway(d: Path, conf: str, own_main: bool = False) -> None:
    (d / "conf.d").mkdir(parents=True)
    (d / "conf.d" / "site.conf").write_text(conf)
    vols = ["./conf.d:/etc/nginx/conf.d:ro"] + (["./nginx.conf:/etc/nginx/nginx.conf:ro"] if own_main else [])
    (d / "docker-compose.yml").write_text("services:\n  nginx:\n    image: nginx:1.27.3-alpine\n    ports: ['80:80']\n"
                                          f"    volumes: {vols}\n")


def test_conf_d_of_the_official_image_is_judged_in_http(nginx_bin, tmp_path):
    conf = "listen 80;\nserver {\n  listen 8080;\n}\n"  # `listen` at http level: the image's nginx.conf refuses it
    real = nginx_t(nginx_bin, {"nginx.conf": "events {}\nhttp {\n  include conf.d/*.conf;\n}\n", "conf.d/site.conf": conf},
                   main="nginx.conf")
    assert real == ('"listen" directive is not allowed here', "conf.d/site.conf", 1)
    _compose_gateway(tmp_path / "a", conf)
    stack = build_stack([tmp_path / "a"], root=tmp_path / "a")
    assert _stack_refusal(stack) == real
    assert not stack.nginx_configs and stack.refused_nginx
    # the same file under a main config of the repository that does not include conf.d: not loaded, not judged
    _compose_gateway(tmp_path / "b", conf, own_main=True)
    (tmp_path / "b" / "nginx.conf").write_text("events {}\nhttp {\n  server { listen 80; }\n}\n")
    assert _stack_refusal(build_stack([tmp_path / "b"], root=tmp_path / "b")) is None


def test_refused_config_gets_only_its_parse_finding(tmp_path):
    from scanner.engine import audit

    good = "events {}\nhttp {\n  server {\n    listen 80;\n    location / {\n      return 200;\n    }\n  }\n}\n"
    for conf, line in [(good.replace("    listen 80;\n", "    listen 80;\n    upstream u { server a:1; }\n"), 5),
                       (good.replace("http {\n", "http {\n  proxy_pass http://a;\n"), 3),
                       (good.replace("return 200;", "return 200 a b;"), 6)]:
        d = tmp_path / str(line)
        (d / "nginx").mkdir(parents=True)
        (d / "nginx" / "nginx.conf").write_text(conf)
        (d / "docker-compose.yml").write_text("services:\n  nginx:\n    image: nginx:1.27.3-alpine\n    ports: ['80:80']\n"
                                              "    volumes: ['./nginx/nginx.conf:/etc/nginx/nginx.conf:ro']\n")
        found = [(f.rule, f.location.start_line) for f in audit([d]).findings if f.location.path == "nginx/nginx.conf"]
        assert found == [("OPS081", line)], (conf, found)
    # a conf.d file the official image includes in http, with `listen` outside its server
    site = "listen 80;\nserver {\n  server_name a.test;\n  location / {\n    proxy_pass http://app:8000;\n  }\n}\n"
    _compose_gateway(tmp_path / "confd", site)
    found = [(f.rule, f.location.start_line) for f in audit([tmp_path / "confd"]).findings
             if f.location.path == "conf.d/site.conf"]
    assert found == [("OPS081", 1)], found
    _compose_gateway(tmp_path / "confd-ok", site.replace("listen 80;\nserver {\n", "server {\n  listen 80;\n"))
    assert [f.rule for f in audit([tmp_path / "confd-ok"]).findings if f.location.path == "conf.d/site.conf"]


def test_third_party_directives_are_never_refused():
    text = ("events {}\nhttp {\n  more_set_headers 'X: y';\n  lua_shared_dict d 1m;\n  server {\n"
            "    listen 80;\n    location / {\n      echo_duplicate 1 a b c d;\n      more_clear_headers a b c d e f g h i;\n"
            "    }\n  }\n}\nrtmp { server { listen 1935; application a { live on; } } }\n")
    assert first_refusal(ngx.parse(text, "n.conf")) is None


@pytest.mark.parametrize("lua", ["ngx.say('x')", "local t = {a = '}', b = [[ } ]]} -- } comment\nngx.say(t.a)",
                                 "--[==[ { ]==]\nlocal s = \"{\\\"}\"\nif s then ngx.exit(200) end",
                                 "local t = {{1}, {2}}\nreturn #t"])
def test_lua_blocks_are_read_by_their_module(lua):
    """OpenResty's ``*_by_lua_block`` holds Lua its module reads, braces in strings and comments
    included: never an nginx refusal, and the directives after it are still read."""
    text = ("events {}\nhttp {\n  server {\n    location / {\n      content_by_lua_block {\n        " + lua +
            "\n      }\n      set_by_lua_block $x { return '}' }\n    }\n    location /b { return 204; }\n  }\n}\n")
    doc = ngx.parse(text, "n.conf")
    assert first_refusal(doc) is None, doc.errors
    assert [d.args for d in doc.walk() if d.name == "location"] == [["/"], ["/b"]]
    assert [d.name for d in doc.walk() if d.name.endswith("_by_lua_block")] == ["content_by_lua_block", "set_by_lua_block"]


# ---------------------------------------------------------------------------------------------
# real configurations: none nginx loads is refused
# ---------------------------------------------------------------------------------------------


def _nginx_files() -> list[Path]:
    roots = [ROOT / "fixtures", shared_path("corpus"), shared_path("peer-suites", "gixy-ng")]
    out = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in sorted(names):
                path = Path(dirpath) / name
                kind = classify(name)
                if kind not in ("nginx", "conf?") and not (kind is None and name.endswith((".conf", ".nginx", ".template"))):
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                if kind == "nginx" or sniff_nginx(text) or "gixy" in str(path):
                    out.append(path)
    return sorted(out)


_UNLOADABLE = re.compile(r"^(\s*)(include|load_module|user|pid|lock_file)(\s[^;]*;|;)", re.M)


def _standalone(text: str, binary: str) -> str:
    """The file as nginx -t can read it alone, line for line: what needs the container (includes,
    modules, the user) commented out, then the harness's rewrite (host names to 127.0.0.1 so that
    nginx -t does not stop at DNS, directives newer than the local build or third-party blanked)."""
    from tests.nginx_harness import _Rewriter, local_nginx

    text = _UNLOADABLE.sub(lambda m: m.group(1) + "#" + m.group(0)[len(m.group(1)):].replace("\n", "\n#"), text)
    upstreams = set(re.findall(r"^\s*upstream\s+([^\s{]+)\s*\{", text, re.M))
    rw = _Rewriter(Path("/nonexistent"), local_nginx(binary)[0], None, upstreams, [], False)
    return rw.rewrite(text, "/etc/nginx/nginx.conf")[0]


def test_real_configurations_agree_with_nginx(nginx_bin):
    """Every main configuration (bundled stacks, rule fixtures, corpus, gixy-ng) read alone: dkscan's
    refusal is nginx's, and a file nginx loads is never refused. Fragments (no main context) are
    judged through their includes, below and in test_nginx_real."""
    tally: dict[str, int] = {}
    checked = 0
    for path in _nginx_files():
        text = path.read_text(encoding="utf-8")
        doc = ngx.parse(text, "n.conf")
        if not doc.is_main:
            continue
        alone = _standalone(text, nginx_bin)
        doc = ngx.parse(alone, "n.conf")
        real = nginx_t(nginx_bin, {"n.conf": alone})
        how = assert_agrees(first_refusal(doc), real, str(path))
        tally[how] = tally.get(how, 0) + 1
        checked += 1
    print(f"\n{checked} main nginx configurations checked against nginx -t: {tally}")
    assert checked > 40 and tally.get("both accept", 0) > 10


def test_no_stack_of_the_corpus_is_refused_where_nginx_loads_it(nginx_bin):
    """The bundled stacks and every corpus stack, laid out as their gateway container sees them
    (tests/nginx_harness.py): where dkscan refuses an nginx file, nginx -t refuses the stack too,
    and no configuration is refused for a directive's context, arguments or a duplicate."""
    from tests.nginx_harness import nginx_t as harness_t

    stacks = [ROOT / "fixtures" / "studios-dk", ROOT / "fixtures" / "studios-dk-compliant"]
    stacks += sorted(p for p in shared_path("corpus").iterdir() if p.is_dir())
    tally = {"with nginx": 0, "nginx loads": 0}
    for s in stacks:
        stack = build_stack([s], root=s)
        if not stack.nginx_configs and not stack.refused_nginx:
            continue
        tally["with nginx"] += 1
        mine = [(p.location.path, p.location.start_line, p.message) for p in stack.problems
                if p.rule == "OPS081" and getattr(stack.files.get(p.location.path), "kind", "") == "nginx"]
        ok, output = harness_t(s, binary=nginx_bin)
        tally["nginx loads"] += ok
        assert not (ok and mine), (s.name, mine, output)
        assert not [m for m in mine if re.search(r"not allowed here|invalid number of arguments|is duplicate", m[2])], (s.name, mine)
    print(f"\ncorpus and bundled stacks with nginx: {tally}")
    assert tally["with nginx"] >= 6 and tally["nginx loads"] >= 5


def test_table_matches_the_real_nginx(nginx_bin):
    """A sample of the table's verified directives, in every context the table names and in one
    it does not: nginx agrees (a context nginx allows is never refused by the table)."""
    import random

    from scanner.nginx_directives_refresh import CONTEXTS, Probe, _line

    table = ngx.directive_table()
    rnd = random.Random(15)
    names = rnd.sample(sorted(table), 40) + ["proxy_pass", "listen", "server", "location", "upstream", "if", "return",
                                             "root", "events"]
    with tempfile.TemporaryDirectory() as tmp:
        probe = Probe(nginx_bin, Path(tmp))
        usable = [c for c in CONTEXTS if not c.startswith(("stream", "mail")) or c.split("-")[0] in probe.load]
        # contexts whose bare wrapper loads (a stream or mail server without a handler does not):
        # where a duplicate can be shown
        loads = {c for c in usable if probe.run(probe.config(c, "")) is None}
        for name in names:
            for ctx in usable:
                allowed = ngx.judge(name, 1, False, ctx) != f'"{name}" directive is not allowed here'
                forms = [f for f in table[name] if ctx in f["ctx"]] or table[name]
                spec = forms[0]["args"]
                n = 1 if spec in ("flag", "any") or spec.endswith("+") else int(spec[0])
                msg = probe.run(probe.config(ctx, _line(name, n, forms[0]["block"], spec == "flag"))) or ""
                if msg == f'unknown directive "{name}"':
                    continue  # a stream/mail directive where that module is not loaded (main)
                real_allowed = msg != f'"{name}" directive is not allowed here'
                if real_allowed:
                    assert allowed, (name, ctx, msg)  # never a false refusal
                    if ngx._refused_twice(name, ctx) and ctx in loads:
                        # marked duplicate: nginx refuses it twice in one block, whatever the values
                        form = next(f for f in table[name] if ctx in f["ctx"] and f.get("dup"))
                        assert probe.duplicate(name, ctx, form), (name, ctx)
                elif all(f.get("verified") for f in table[name]):
                    assert not allowed, (name, ctx, msg)

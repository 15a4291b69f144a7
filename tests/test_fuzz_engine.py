"""Property: no byte string in any file of a stack makes the engine raise."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engine import audit

NAMES = ["docker-compose.yml", "nginx.conf", ".env", "init-db.sql", "Dockerfile", "prometheus.yml", "nats-server.conf", "conf.d/site.conf"]

SNIPPETS = [b"services:\n  db:\n    image: postgres\n    ports: ['5432:5432']\n", b"server { listen 80; location / { proxy_pass http://x; } }\n",
            b"A=1\nexport B='x'\nC=\"${A}\"\n", b"CREATE TABLE t (id int);\n\\c db\nSELECT :'v';\n", b"FROM alpine\nRUN echo \\\n  hi\nUSER root\n",
            b"scrape_configs:\n  - job_name: x\n    static_configs: [{targets: ['a:1']}]\n", b"authorization { user: a, password: b }\n", b"{", b"}", b"\x00", b"\xff\xfe", b"'", b"\"", b"${", b"\r\n", b"\xef\xbb\xbf"]

content = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(SNIPPETS), max_size=6).map(b"".join),
    st.tuples(st.sampled_from(SNIPPETS), st.integers(0, 60)).map(lambda t: t[0][: t[1]]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.dictionaries(st.sampled_from(NAMES), content, min_size=1, max_size=5))
def test_engine_never_raises(files):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        result = audit([root])
        assert not [f for f in result.findings if f.rule == "OPS082"], [f.message for f in result.findings if f.rule == "OPS082"]


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600))
def test_every_parser_takes_any_bytes(data):
    from scanner.parsers import compose, dockerfile, dotenv, nats, nginx, prometheus, sql
    from scanner.parsers.base import decode

    text, err = decode(data)
    if text is None:
        text = data.decode("utf-8", "replace")
    for mod in (compose, dockerfile, dotenv, nats, nginx, prometheus, sql):
        doc = mod.parse(text, "f")
        assert doc.text == text
        for e in doc.errors:
            assert e.line >= 1 and e.col >= 1


# --- mutations of real files: every bundled fixture and every corpus file --------------------------------

from tests.conftest import SHARED  # noqa: E402

_REAL = sorted(p for base in (Path(__file__).resolve().parent.parent / "fixtures", SHARED / "corpus")
               for p in base.rglob("*") if p.is_file() and p.stat().st_size < 200_000 and p.name not in ("expected.json", "LICENSE-NOTE.txt"))


def _mutate(data: bytes, how: str, at: int) -> bytes:
    if not data:
        return data
    i = at % len(data)
    if how == "truncate":
        return data[:i]
    if how == "delete-brace":
        for ch in (b"{", b"}", b"[", b"]", b"(", b")"):
            j = data.find(ch, i)
            if j >= 0:
                return data[:j] + data[j + 1:]
        return data[:i]
    if how == "delete-quote":
        for ch in (b'"', b"'"):
            j = data.find(ch, i)
            if j >= 0:
                return data[:j] + data[j + 1:]
        return data
    if how == "swap-indent":
        lines = data.split(b"\n")
        k = i % len(lines)
        lines[k] = lines[k].lstrip() if lines[k].startswith((b" ", b"\t")) else b"    " + lines[k]
        return b"\n".join(lines)
    if how == "invalid-utf8":
        return data[:i] + b"\xc3\x28\xff" + data[i:]
    if how == "nul":
        return data[:i] + b"\x00" + data[i:]
    if how == "crlf":
        return data.replace(b"\n", b"\r\n")
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    return data


MUTATIONS = ["truncate", "delete-brace", "delete-quote", "swap-indent", "invalid-utf8", "nul", "crlf", "bom"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, 10_000), how=st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 1_000_000)), min_size=1, max_size=3))
def test_mutated_real_files_never_crash(which, how):
    assert _REAL, "no fixture or corpus files found"
    src = _REAL[which % len(_REAL)]
    data = src.read_bytes()
    for name, at in how:
        data = _mutate(data, name, at)
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / src.name
        dst.write_bytes(data)
        result = audit([dst])
        internal = [f.message for f in result.findings if f.rule == "OPS082"]
        assert not internal, (src, how, internal)

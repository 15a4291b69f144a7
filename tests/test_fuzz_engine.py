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

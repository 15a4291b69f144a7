"""Trust, class 5: a number in a scanned file never crashes dkscan.

``str.isdigit()`` is true for ``²`` (``int()`` rejects it) and ``int()`` refuses more than 4,300
digits; Python's ``\\d`` matches every Unicode decimal digit. Every number of the bundled stack (all
the file kinds: compose, nginx, env, SQL, Dockerfile, sshd, Fail2Ban, UFW, NATS, Prometheus, shell)
is replaced, a few at a time, by hostile ones, and the whole audit runs: it must finish with no
OPS082 (a rule or parser that raised) and no exception. ``scanner.parsers.base.small_int`` is the
one reading of such a number.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.parsers.base import small_int
from tests.test_hostile import run_bounded

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "fixtures" / "studios-dk"
FILES = sorted(p.relative_to(STACK).as_posix() for p in STACK.rglob("*") if p.is_file())
HOSTILE = ["²", "٣", "１２", "9" * 5000, "1" + "0" * 4400, "0" * 30 + "1", "³²¹", "1²"]
_DIGITS = re.compile(r"[0-9]+")


def test_small_int():
    assert small_int("0") == 0 and small_int("65535") == 65535 and small_int("007") == 7
    for bad in ("", " 1", "1 ", "-1", "+1", "²", "٣", "１", "1.0", "9" * 19, "9" * 5000, None, 3):
        assert small_int(bad) is None, bad


@given(st.text(alphabet="0123456789²٣１ -+", max_size=30))
def test_small_int_is_ascii_digits_only(text):
    n = small_int(text)
    assert (n is not None) == (text != "" and len(text) <= 18 and all(c in "0123456789" for c in text))
    if n is not None:
        assert n == int(text)


def _numbers(text: str) -> list[re.Match]:
    return list(_DIGITS.finditer(text))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_numbers_in_every_file_kind(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("numbers") / "stack"
    shutil.copytree(STACK, root)
    changed = []
    for rel in FILES:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        spots = _numbers(text)
        if not spots:
            continue
        picks = data.draw(st.lists(st.integers(0, len(spots) - 1), min_size=1, max_size=6, unique=True), label=rel)
        out, last = [], 0
        for i in sorted(picks):
            m = spots[i]
            out += [text[last:m.start()], data.draw(st.sampled_from(HOSTILE))]
            last = m.end()
        out.append(text[last:])
        path.write_text("".join(out), encoding="utf-8")
        changed.append(rel)
    assert changed
    result, _ = run_bounded([root], 300)
    failed = [f"{f.location} {f.message}" for f in result.findings if f.rule == "OPS082"]
    assert not failed, failed


CASES = {
    "sshd": ("etc/ssh/sshd_config", "Port {n}\nMaxAuthTries {n}\nMaxSessions {n}\nClientAliveCountMax {n}\nPermitRootLogin no\n"),
    "fail2ban": ("etc/fail2ban/jail.local", "[sshd]\nenabled = true\nmaxretry = {n}\nbantime = {n}\nfindtime = {n}m\n"),
    "dockerfile": ("app/Dockerfile", "FROM node:{n} AS a\nFROM a\nCOPY --from={n} /x /y\nEXPOSE {n}\nUSER {n}\n"),
    "env": (".env", "BCRYPT_ROUNDS={n}\nPORT={n}\nPOSTGRES_PORT={n}\nDB_POOL_MAX={n}\n"),
    "nginx": ("nginx/nginx.conf", "worker_processes {n};\nevents {{ worker_connections {n}; }}\nhttp {{\n limit_req_zone $binary_remote_addr zone=z:{n}m rate={n}r/s;\n"
              " server {{ listen {n}; listen 443 ssl; server_name a; client_max_body_size {n}m; keepalive_timeout {n};\n"
              "  add_header Strict-Transport-Security \"max-age={n}\";\n  location ~ ^/(x)$ {{ limit_req zone=z burst={n}; proxy_pass http://app:{n}/${n}; }}\n }}\n}}\n"),
    "compose": ("docker-compose.yml", "services:\n  gw:\n    image: nginx:1.{n}\n    ports: ['{n}:{n}']\n    volumes: ['./nginx/nginx.conf:/etc/nginx/nginx.conf:ro']\n"
                "  app:\n    build: ./app\n    image: app:{n}\n    env_file: .env\n    deploy: {{replicas: {n}}}\n    ulimits: {{nofile: {n}}}\n"
                "  db:\n    image: postgres:{n}\n    command: postgres -c max_connections={n}\n  nats:\n    image: nats:2.{n}\n    command: -p {n} -m {n}\n"
                "  redis:\n    image: redis:{n}\n    command: redis-server --maxmemory {n}mb\n"),
    "sql": ("init.sql", "CREATE ROLE a LOGIN PASSWORD '$2b${n}$abcdefghijklmnopqrstuv';\nALTER SYSTEM SET max_connections = {n};\n"),
    "ufw": ("etc/ufw/user.rules", "### tuple ### allow tcp {n} 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport {n} -j ACCEPT\n"),
    "nats": ("nats/nats.conf", "port: {n}\nhttp_port: {n}\nmax_payload: {n}\n"),
    "script": ("deploy.sh", "#!/bin/sh\nset -eu\nsleep {n}\nexit {n}\n"),
}


@pytest.mark.parametrize("n", HOSTILE)
def test_hostile_number_in_each_setting(tmp_path, n):
    for rel, template in CASES.values():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(n=n), encoding="utf-8")
    result, _ = run_bounded([tmp_path], 300)
    failed = [f"{f.location} {f.message}" for f in result.findings if f.rule == "OPS082"]
    assert not failed, failed

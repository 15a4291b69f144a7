"""Hostile and broken input: every case ends in a report, bounded in time and memory.

Bounds (scanner/stack.py, scanner/parsers/*): a stack file over 5 MiB is skipped (OPS080); discovery looks at
50,000 directory entries at most; one nginx include glob brings in 500 files at most; an expanded nginx
configuration holds 200,000 directives at most and nests 64 blocks at most; YAML holds 200,000 nodes at most
and nests 400 levels at most (aliases are shared, never copied); symbolic links are never followed out of the
scanned root; FIFOs, sockets and devices are never opened.
"""

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path


from scanner.engine import audit

ROOT = Path(__file__).resolve().parent.parent


def guarded(fn, seconds: float):
    """``fn()`` in this process, failing if it takes longer than ``seconds`` (a hang guard); returns
    (its value, the seconds it took)."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - the assertion below reports it
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not finish within {seconds}s"
    assert "error" not in out, f"raised {out.get('error')!r}"
    return out["value"], time.monotonic() - start


def run_bounded(paths, seconds=20.0, **kw):
    """Audit in this process, failing if it takes longer than ``seconds``."""
    return guarded(lambda: audit(paths, **kw), seconds)


def problems(result, rule):
    return [f for f in result.findings if f.rule == rule]


def test_yaml_alias_bomb(tmp_path):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for c in "bcdefghij":
        bomb += f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]\n"
        prev = c
    bomb += f"services:\n  web:\n    image: nginx:1.27\n    environment: *{prev}\n    command: *{prev}\n"
    (tmp_path / "docker-compose.yml").write_text(bomb)
    result, took = run_bounded([tmp_path], 10)
    assert not problems(result, "OPS082")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_500_000  # KiB: nowhere near 9^9 copies


def test_deeply_nested_yaml_and_nginx(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("x: " + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "prometheus.yml").write_text("a:\n" + "".join(" " * (i + 1) + "b:\n" for i in range(3000)))
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {" + "location / {" * 5000 + "}" * 5000 + "}\n")
    (tmp_path / ".dkscan-baseline.json").write_text("[" * 100_000 + "]" * 100_000)
    result, _ = run_bounded([tmp_path], 20)
    msgs = {(f.location.path, f.message) for f in problems(result, "OPS081")}
    # our own limit, or (PyYAML >= 6.0.4) libyaml's "exceeded maximum nesting depth"
    assert any(p == "docker-compose.yml" and "nest" in m for p, m in msgs), msgs
    assert any(p == "prometheus.yml" and "nest" in m for p, m in msgs), msgs
    assert any(p == "nginx.conf" and "nested deeper" in m for p, m in msgs), msgs
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", "--baseline", str(tmp_path / ".dkscan-baseline.json"), str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "baseline error" in r.stderr and "Traceback" not in r.stderr


def test_nginx_include_cycle_and_huge_glob(tmp_path):
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  include a.conf;\n  include many/*.conf;\n}\n")
    (tmp_path / "a.conf").write_text("include b.conf;\n")
    (tmp_path / "b.conf").write_text("include a.conf;\n")
    many = tmp_path / "many"
    many.mkdir()
    for i in range(3000):
        (many / f"s{i:05d}.conf").write_text(f"server {{ listen {8000 + i % 1000}; }}\n")
    result, took = run_bounded([tmp_path / "nginx.conf", tmp_path / "a.conf", tmp_path / "b.conf"], 30, root=tmp_path)
    assert any("include cycle" in f.message for f in problems(result, "OPS081"))
    assert any("more than 500 files" in f.message for f in problems(result, "OPS080"))


def test_symlink_loop_and_escape(tmp_path):
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop/self").symlink_to(tmp_path / "loop")
    (tmp_path / "a.env").symlink_to(tmp_path / "b.env")
    (tmp_path / "b.env").symlink_to(tmp_path / "a.env")
    (tmp_path / "escape.env").symlink_to("/etc/passwd")
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    result, _ = run_bounded([tmp_path], 10)
    assert not problems(result, "OPS082")
    assert "escape.env" not in result.stack.files
    assert any(f.location.path == "escape.env" and "outside the scanned root" in f.message for f in problems(result, "OPS080"))


def test_huge_file_fifo_and_binary(tmp_path):
    big = tmp_path / "docker-compose.yml"
    with open(big, "wb") as fh:  # 200 MB, sparse: costs no disk
        fh.truncate(200 * 1024 * 1024)
    os.mkfifo(tmp_path / ".env")  # a reader that opened it would block forever
    (tmp_path / "init.sql").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "Dockerfile").write_bytes("FROM alpine\nRUN echo \xe9\n".encode("latin-1"))
    result, took = run_bounded([tmp_path], 10)
    by_path = {f.location.path: f.message for f in problems(result, "OPS080")}
    assert "over the" in by_path["docker-compose.yml"]
    assert "not a regular file" in by_path[".env"]
    assert "binary" in by_path["init.sql"] or "decode" in by_path["init.sql"]
    assert "UTF-8" in by_path["Dockerfile"]


def test_unreadable_file_is_a_finding(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n")
    (tmp_path / ".env").write_text("A=1\n")
    os.chmod(tmp_path / ".env", 0)
    cmd = [sys.executable, "-m", "scanner.cli", "audit", "--format", "json", str(tmp_path)]
    if os.geteuid() == 0:  # root ignores file modes unless it drops these capabilities
        cmd = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    os.chmod(tmp_path / ".env", 0o600)
    import json

    data = json.loads(r.stdout)
    hits = [f for f in data["findings"] if f["rule"] == "OPS080"]
    assert hits and hits[0]["path"] == ".env" and "Permission denied" in hits[0]["message"]
    assert any(f["rule"] == "PER001" for f in data["findings"])  # the rest was still audited


def test_directory_of_20000_files(tmp_path):
    d = tmp_path / "big"
    d.mkdir()
    for i in range(20_000):
        (d / f"f{i}.txt").write_bytes(b"x")
    for i in range(200):
        (d / f"svc{i}.env").write_text(f"PORT={i}\n")
    (d / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    result, took = run_bounded([d], 60)
    assert len(result.stack.files) == 201
    assert not problems(result, "OPS082")


def test_lone_carriage_returns_do_not_break_token_positions(tmp_path):
    """Found by hypothesis: a file whose lines end in CR CR LF (a CRLF file converted twice) made
    DATA009 index its line starts by LF while numbering lines as ``splitlines`` does (a CR ends a
    line too): IndexError, an OPS082. Offsets and line numbers now use the same boundaries."""
    src = (Path(__file__).resolve().parent.parent / "fixtures" / "rules" / "DATA009" / "bad" / "nginx.conf").read_bytes()
    (tmp_path / "nginx.conf").write_bytes(src.replace(b"\n", b"\r\r\n"))
    result = audit([tmp_path], jobs=1)
    assert not [f for f in result.findings if f.rule == "OPS082"]
    hits = [f for f in result.findings if f.rule == "DATA009"]
    assert hits
    doc = result.stack.files["nginx.conf"].doc
    for f in hits:  # each finding's line is the line that holds the token
        assert "ghp_" in doc.line_text(f.location.start_line) or "key" in doc.line_text(f.location.start_line).lower()

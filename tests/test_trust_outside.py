"""Trust, class 1: no file outside the scanned repository is read, and none is an oracle.

Every file a rule or helper opens goes through ``Stack.read_text`` / ``is_file`` / ``exists`` /
``listdir`` / ``glob_files`` (inside the root once symbolic links are resolved, a regular file,
size-bounded, opened non-blocking: never a FIFO or device). A link pointing out of the repository, a
FIFO or a device at any path a rule reads is the same as no file there: the audit ends, and its
findings are those of the stack without that file (apart from OPS080 at the path itself).
"""

from __future__ import annotations

import ast
import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_hostile import run_bounded

ROOT = Path(__file__).resolve().parent.parent

# Direct filesystem calls a rule module may not make on a scanned path: each allowed one is named
# with the reason (dkscan's own packaged data, or a walk of a directory checked to be inside).
_CALLS = {"open", "read_text", "read_bytes", "is_file", "exists", "iterdir", "glob", "rglob", "listdir",
          "scandir", "isfile", "isdir", "stat", "lstat", "walk", "is_dir", "read_limited", "lexists"}
ALLOWED = {
    ("rules/helpers/services.py", "read_text"): "HEALTHCHECK_TABLE: dkscan's packaged data",
    ("rules/helpers/nginx_cve.py", "read_text"): "the packaged nginx advisories table",
    ("rules/helpers/eol.py", "stat"): "eol.data: checked inside the configuration's directory first",
    ("rules/helpers/eol.py", "read_limited"): "eol.data: checked inside the configuration's directory first",
    ("rules/helpers/host.py", "isfile"): "finds the shellcheck executable on PATH, not a scanned file",
    ("rules/application/dockerfile_secrets.py", "walk"): "walks a build context Stack.local resolved inside the root",
    ("rules/operational/containers.py", "lexists"): "the bind source is an entry of the repository (as OPS067)",
    ("rules/operational/references.py", "lexists"): "OPS067: is there an entry (a link counts, its target unasked) "
                                                    "in a directory Stack.local resolved inside the root",
}


def _direct_calls():
    out = []
    for path in sorted((ROOT / "rules").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name not in _CALLS:
                continue
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "stack":
                continue  # stack.is_file / stack.exists ...: the one read path
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "re":
                continue
            if name == "walk" and not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "os"):
                continue  # a syntax tree's walk(), not os.walk
            out.append((rel, name, node.lineno))
    return out


def test_rule_modules_touch_files_only_through_the_stack():
    found = _direct_calls()
    bad = [f"{rel}:{line} {name}()" for rel, name, line in found if (rel, name) not in ALLOWED]
    assert not bad, "read scanned files through Stack.read_text/is_file/exists/listdir/glob_files: " + ", ".join(bad)
    # the walk sees the calls it allows (so the test is not vacuous)
    assert {(rel, name) for rel, name, _ in found} >= set(ALLOWED) - {("rules/helpers/eol.py", "stat")}


# A stack whose rules read extra files: a build context's .dockerignore, env templates, a secret
# file, daemon.json, a deploy script's --env-file, a nats include, nginx include mounts, the
# directory a gateway serves, certbot's renewal hooks, .gitignore.
BASE = {
    "docker-compose.yml": (
        "services:\n"
        "  gw:\n    image: nginx:1.27.3\n    ports: ['80:80']\n"
        "    volumes: ['./nginx/nginx.conf:/etc/nginx/nginx.conf:ro', './nginx/conf.d:/etc/nginx/conf.d:ro', './site:/usr/share/nginx/html:ro']\n"
        "  app:\n    build: ./app\n    env_file: .env.prod\n    environment: {DB_URL: '${DB_URL}'}\n"
        "    secrets: [db_password]\n"
        "  nats:\n    image: nats:2.10\n    volumes: ['./nats/nats.conf:/etc/nats/nats.conf:ro']\n"
        "  certbot:\n    image: certbot/certbot:v2.11.0\n    command: renew\n    volumes: ['./le:/etc/letsencrypt']\n"
        "secrets:\n  db_password:\n    file: ./secrets/db_password.txt\n"),
    "nginx/nginx.conf": "events {}\nhttp {\n include /etc/nginx/conf.d/*.conf;\n include /etc/nginx/extra.conf;\n"
                        " server { listen 80; root /usr/share/nginx/html; autoindex on; }\n}\n",
    "nginx/conf.d/a.conf": "server { listen 8080; }\n",
    "app/Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nUSER app\nCMD [\"python\", \"app.py\"]\n",
    "app/app.py": "print(1)\n",
    ".env.prod": "DB_URL=postgres://app@db/app\n",
    "nats/nats.conf": "port: 4222\ninclude ./auth.conf\n",
    "deploy.sh": "#!/bin/sh\nset -eu\ndocker compose --env-file .env.deploy -f docker-compose.yml up -d\n",
    "site/index.html": "hi\n",
}
# each path a rule reads that discovery does not parse, with the content that changes a finding
READ_PATHS = {
    "app/.dockerignore": "**/.env*\n",
    "app/.env.local": "API_TOKEN=Zr8wQ3kLmN7pV2xY9tB4\n",
    ".env.example": "DB_URL=\nH_PROBE=1\n",
    "secrets/db_password.txt": "Zr8wQ3kLmN7pV2xY9tB4Zr8w\n",
    "daemon.json": '{"iptables": false}\n',
    ".env.deploy": "X=1\n",
    "nats/auth.conf": "authorization { user: a, password: Zr8wQ3kLmN7pV2xY9tB4 }\n",
    "nginx/extra.conf": "server_tokens on;\n",
    "nginx/conf.d/b.conf": "server { listen 8081; }\n",
    "site/.env": "A=1\n",
    "le/renewal-hooks/deploy/reload.sh": "#!/bin/sh\nnginx -s reload\n",
    ".gitignore": "/.env.prod\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def _key(result, skip: str):
    # OPS080 at the path itself; and a finding naming the entry (OPS067: is there an entry; GW092: a
    # served directory holds a `.env` entry) is about the repository's directory listing, where a
    # link is an entry whatever it points at: no question about the outside
    return sorted((f.rule, str(f.location), f.message) for f in result.findings
                  if not (f.rule == "OPS080" and f.location.path == skip)
                  and not (skip and f.rule in ("OPS067", "GW092") and posixpath.basename(skip) in f.message))


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(rel=st.sampled_from(sorted(READ_PATHS)), placement=st.sampled_from(["outside", "fifo", "zero", "dangling", "outside-dir"]))
def test_outside_link_fifo_or_device_is_absent(tmp_path_factory, rel, placement):
    top = tmp_path_factory.mktemp("outside")
    outside = top / "outside"
    _write(outside, {Path(rel).name: READ_PATHS[rel]})  # the same content, out of the repository
    root = top / "repo"
    _write(root, BASE)
    absent, _ = run_bounded([root], 300)
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if placement == "outside":
        target.symlink_to(outside / Path(rel).name)
    elif placement == "outside-dir":  # the file's directory is a link out of the repository
        d = target.parent
        if d == root:
            target.symlink_to(outside / Path(rel).name)
        else:
            os.rename(d, str(d) + ".old")
            d.symlink_to(outside)
            absent, _ = run_bounded([root], 300)  # the directory's other files are gone too
    elif placement == "fifo":
        os.mkfifo(target)
    elif placement == "zero":
        target.symlink_to("/dev/zero")
    else:
        target.symlink_to(top / "missing")
    placed, _ = run_bounded([root], 300)
    assert _key(placed, rel) == _key(absent, rel)


# the paths of READ_PATHS whose content, inside the repository, changes this stack's report (the
# others are read too, but their effect needs more of a stack than BASE has)
SHOWN = ["app/.env.local", "nats/auth.conf", "nginx/conf.d/b.conf", "nginx/extra.conf", "secrets/db_password.txt", "site/.env"]


@pytest.mark.parametrize("rel", SHOWN)
def test_each_read_path_is_read_when_inside(tmp_path, rel):
    """The paths above are really read: the file inside the repository changes the report (so the
    property above compares something)."""
    _write(tmp_path / "a", BASE)
    _write(tmp_path / "b", {**BASE, rel: READ_PATHS[rel]})
    without, _ = run_bounded([tmp_path / "a"], 300)
    with_, _ = run_bounded([tmp_path / "b"], 300)
    assert _key(without, "") != _key(with_, "")


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(target=st.sampled_from(["fifo", "/dev/null", "/dev/zero", "file", "missing", "dir"]), binary=st.booleans())
def test_a_link_at_an_output_path_is_replaced_never_written_through(tmp_path_factory, target, binary):
    from scanner.fsutil import atomic_write

    d = tmp_path_factory.mktemp("out")
    dest = d / "elsewhere"
    if target == "fifo":
        os.mkfifo(dest)
    elif target == "file":
        dest.write_text("keep")
    elif target == "dir":
        dest.mkdir()
    link = d / "report.json"
    link.symlink_to(dest if target in ("fifo", "file", "missing", "dir") else target)
    data = b"{}\n" if binary else "{}\n"
    run_bounded_write = __import__("tests.test_hostile", fromlist=["guarded"]).guarded
    run_bounded_write(lambda: atomic_write(link, data), 20)
    assert not link.is_symlink() and link.read_bytes() == b"{}\n"
    if target == "file":
        assert dest.read_text() == "keep"


def test_a_device_or_fifo_named_directly_is_written(tmp_path):
    import threading

    from scanner.fsutil import atomic_write

    atomic_write("/dev/null", "x")  # a device: written as it is, never replaced
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError):  # nobody reads it: an error (exit 2), not a hang
        atomic_write(fifo, "x")
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    import time

    for _ in range(100):  # wait for the reader to open its end
        try:
            atomic_write(fifo, "hello")
            break
        except OSError:
            time.sleep(0.05)
    reader.join(10)
    assert got == [b"hello"] and fifo.is_fifo()


def test_eol_data_outside_the_configuration_directory_is_refused_alike(tmp_path):
    """eol.data naming /etc/passwd, a missing file or a link out: one note, no read, no oracle."""
    notes = set()
    for i, data in enumerate(["/etc/passwd", "/nonexistent/x", "../outside.json", "link.json"]):
        root = tmp_path / f"r{i}"
        _write(root, {"docker-compose.yml": "services:\n  db:\n    image: postgres:12\n",
                      ".dkscan.yaml": f"eol:\n  data: {data}\n"})
        (root / "link.json").symlink_to("/etc/passwd")
        from scanner.config import load_policy

        result, _ = run_bounded([root], 120, policy=load_policy(root / ".dkscan.yaml"))
        assert not [f for f in result.findings if f.rule in ("APP013",)]
        notes |= {n.replace(data, "X") for n in result.notes if "end-of-life data" in n}
    assert len(notes) == 1 and "refused" in notes.pop()


@pytest.mark.parametrize("name", ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"])
def test_the_process_own_stdout_is_written_through_and_never_replaced(tmp_path, name):
    """``--output /dev/stdout`` (a system link to the process's own descriptor) writes the report to
    the command's standard output, whatever stdout is (here a pipe), and leaves the link as it was."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    before = os.readlink("/dev/stdout") if os.path.islink("/dev/stdout") else None
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "audit", str(root / "fixtures" / "studios-dk-compliant"),
                        "--format", "json", "--output", name], cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["findings"] == []
    assert (os.readlink("/dev/stdout") if os.path.islink("/dev/stdout") else None) == before

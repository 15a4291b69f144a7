"""dkscan fix: minimal edits, several passes, atomic writes, secrets never shown."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.fix.apply import apply_edits, plan_fixes, render_diff, write_changes
from scanner.model import Edit, Fix, Location

ROOT = Path(__file__).resolve().parent.parent


def L(line, col, end_line=None, end_col=None):
    return Location("f", line, col, end_line, end_col)


def test_edits_replace_insert_and_skip_overlaps():
    text = "alpha beta\ngamma\n"
    fixes = [
        Fix("a", (Edit(L(1, 1, 1, 6), "ALPHA"),)),
        Fix("overlaps a", (Edit(L(1, 3, 1, 8), "X"),)),
        Fix("insert", (Edit(L(2, 1), "  "),)),
        Fix("eol", (Edit(L(2, 6), ";"),)),
    ]
    out, applied = apply_edits(text, fixes)
    assert out == "ALPHA beta\n  gamma;\n"
    assert [f.description for f in applied] == ["a", "insert", "eol"]


def test_a_fix_applies_whole_or_not_at_all():
    text = "one two three\n"
    fixes = [Fix("first", (Edit(L(1, 5, 1, 8), "2"),)), Fix("pair", (Edit(L(1, 1, 1, 4), "1"), Edit(L(1, 6, 1, 7), "W")))]
    out, applied = apply_edits(text, fixes)
    assert out == "one 2 three\n" and [f.description for f in applied] == ["first"]


def _stack(tmp_path):
    d = tmp_path / "stack"
    (d / "nginx").mkdir(parents=True)
    (d / "docker-compose.yml").write_text(
        "# keep this comment\nservices:\n  db:   # and this one\n    image: postgres:16\n    ports:\n      - \"5432:5432\"\n"
        "  nginx:\n    image: nginx:1.27.3\n    ports: ['443:443']\n    volumes:\n      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n")
    (d / "nginx/nginx.conf").write_text("events {}\nhttp {\n    server {\n        listen 443 ssl;\n    }\n}\n")
    os.chmod(d / "docker-compose.yml", 0o640)
    return d


def test_safe_by_default_unsafe_on_request(tmp_path):
    d = _stack(tmp_path)
    only = {"PER001", "GW032"}
    safe = plan_fixes([d], rules=only)
    assert "nginx/nginx.conf" in safe.changed and "docker-compose.yml" not in safe.changed
    unsafe = plan_fixes([d], unsafe=True, rules=only)
    assert "docker-compose.yml" in unsafe.changed
    new = unsafe.new["docker-compose.yml"]
    assert '"127.0.0.1:5432:5432"' in new
    # everything else byte-identical: comments, quoting, indentation
    assert new.replace("127.0.0.1:", "", 1) == (d / "docker-compose.yml").read_text()


def test_apply_writes_atomically_keeps_mode_and_backup(tmp_path):
    d = _stack(tmp_path)
    plan = plan_fixes([d], unsafe=True, rules={"PER001", "GW032"})
    written = write_changes(plan, backup=True)
    assert set(written) == {"docker-compose.yml", "nginx/nginx.conf"}
    assert oct(os.stat(d / "docker-compose.yml").st_mode & 0o777) == "0o640"
    assert (d / "docker-compose.yml.orig").exists()
    again = plan_fixes([d], unsafe=True, rules={"PER001", "GW032"})
    assert again.changed == []  # idempotent


def test_interrupted_apply_leaves_each_file_old_or_new(tmp_path):
    d = _stack(tmp_path)
    before = {p: (d / p).read_text() for p in ("docker-compose.yml", "nginx/nginx.conf")}
    plan = plan_fixes([d], unsafe=True)
    calls = []

    def stop(rel):
        calls.append(rel)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_changes(plan, before_each=stop)
    for rel, old in before.items():
        now = (d / rel).read_text()
        assert now in (old, plan.new[rel])
    assert not list(d.rglob("*.tmp")), "a temporary file was left behind"


def test_symlink_out_of_root_is_never_written(tmp_path):
    outside = tmp_path / "outside.conf"
    outside.write_text("events {}\nhttp {\n    server {\n        listen 443 ssl;\n    }\n}\n")
    d = tmp_path / "stack"
    d.mkdir()
    (d / "nginx.conf").symlink_to(outside)
    plan = plan_fixes([d])
    write_changes(plan)
    assert "server_tokens" not in outside.read_text()


def test_cli_fix_dry_run_then_apply(tmp_path):
    d = _stack(tmp_path)
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "fix", str(d)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "+++ b/nginx/nginx.conf" in r.stdout and "dry run" in r.stdout
    assert "server_tokens" not in (d / "nginx/nginx.conf").read_text()
    r = subprocess.run([sys.executable, "-m", "scanner.cli", "fix", "--apply", "--unsafe", str(d)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "applied" in r.stdout
    assert "server_tokens off;" in (d / "nginx/nginx.conf").read_text()


def test_diff_hides_generated_and_old_secrets(tmp_path):
    from scanner.fix.apply import Plan
    from scanner.secrets import Redactor

    plan = Plan(tmp_path, {".env": "JWT_SECRET=short-old-value\n"}, {".env": "JWT_SECRET=GENERATEDxyz0123456789\n"},
                secrets={"GENERATEDxyz0123456789"})
    diff = render_diff(plan, Redactor(["short-old-value"]))
    assert "GENERATED" not in diff and "short-old-value" not in diff
    assert "+JWT_SECRET=<generated>" in diff

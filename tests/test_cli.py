"""The command line as a user runs it: exit codes, formats, colour, output files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, env=None, cwd=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True, text=True, env=e, cwd=cwd or ROOT)


@pytest.fixture
def insecure(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n")
    return tmp_path


@pytest.fixture
def clean(tmp_path):
    d = tmp_path / "clean"
    d.mkdir()
    (d / "README.txt").write_text("nothing to scan\n")
    return d


def test_findings_exit_1_and_line_format(insecure):
    r = run("audit", str(insecure))
    assert r.returncode == 1, r.stderr
    line = next(l for l in r.stdout.splitlines() if "PER001" in l)
    path, lineno, col = line.split()[0].rsplit(":", 2)
    assert path.endswith("docker-compose.yml") and lineno == "4" and col.isdigit()
    assert "HIGH" in line
    assert "perimeter" in r.stdout and "total" in r.stdout  # summary table


def test_nothing_to_audit_exit_2_unless_allowed(clean):
    """A folder with nothing dkscan reads is not a pass (a wrong path in CI must not go green)."""
    r = run("audit", str(clean))
    assert r.returncode == 2 and "nothing to audit" in r.stderr, r.stdout + r.stderr
    r = run("audit", "--allow-empty", str(clean))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout


def test_fail_on_threshold(insecure):
    assert run("audit", "--fail-on", "critical", str(insecure)).returncode == 0
    assert run("audit", "--fail-on", "high", str(insecure)).returncode == 1


def test_usage_error_exit_2(insecure):
    assert run("audit", "--fail-on", "bogus", str(insecure)).returncode == 2
    assert run("audit", "--select", "NOPE999", str(insecure)).returncode == 2
    assert run("explain", "NOPE999").returncode == 2


def test_config_error_exit_2(insecure):
    (insecure / ".dkscan.yaml").write_text("no_such_key: 1\n")
    r = run("audit", str(insecure))
    assert r.returncode == 2
    assert "no_such_key" in r.stderr


def test_unreadable_path_exit_3(tmp_path):
    r = run("audit", str(tmp_path / "missing"))
    assert r.returncode == 3
    assert "missing" in r.stderr


def test_unreadable_dir_exit_3(tmp_path):
    d = tmp_path / "locked"
    d.mkdir()
    (d / "docker-compose.yml").write_text("services: {}\n")
    d.chmod(0)
    try:
        if os.geteuid() == 0:
            # root reads any directory; a file whose read() fails is unreadable for root too
            r = run("audit", "/proc/self/mem")
            assert r.returncode == 3, r.stdout + r.stderr
            assert "cannot read /proc/self/mem" in r.stderr
        else:  # pragma: no cover - CI runs as root
            r = run("audit", str(d))
            assert r.returncode == 3, r.stdout + r.stderr
            assert "permission denied" in r.stderr
    finally:
        d.chmod(0o755)


def test_json_format_and_output_file(insecure, tmp_path):
    out = tmp_path / "report.json"
    r = run("audit", str(insecure), "--format", "json", "--output", str(out))
    assert r.returncode == 1
    data = json.loads(out.read_text())
    assert any(f["rule"] == "PER001" and f["line"] == 4 for f in data["findings"])
    assert data["verdict"] == "fail"


def test_no_colour_when_piped_or_no_color(insecure):
    r = run("audit", str(insecure))
    assert "\033[" not in r.stdout
    r = run("audit", str(insecure), env={"NO_COLOR": "1"})
    assert "\033[" not in r.stdout


def test_colour_on_a_terminal(insecure):
    import pty

    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "scanner.cli", "audit", str(insecure)], stdout=slave, stderr=slave,
                         env={k: v for k, v in os.environ.items() if k != "NO_COLOR"}, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait()
    os.close(master)
    assert b"\033[" in b"".join(chunks)


def test_rules_and_explain():
    r = run("rules", "--format", "json")
    data = json.loads(r.stdout)
    ids = {d["id"] for d in data}
    assert {"PER001", "GW032", "OPS081"} <= ids
    assert all(d["layer"] and d["severity"] and d["title"] for d in data)
    md = run("rules", "--format", "markdown").stdout
    assert md.startswith("| id |")
    e = run("explain", "PER001")
    assert e.returncode == 0 and "## Why is this bad?" in e.stdout and "internal-port-published" in e.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and "dkscan" in r.stdout


# -- the process entry point: no interpreter teardown, nothing lost -------------------------------

def test_entry_flushes_everything_it_printed():
    """`entry` ends the process with os._exit after flushing: a large report on a pipe arrives
    whole, and the exit status is the audit's."""
    r = run("audit", str(ROOT / "fixtures" / "studios-dk"), "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["counts"]["findings"] == len(doc["findings"]) > 100
    r = run("audit", str(ROOT / "fixtures" / "studios-dk"), "--format", "sarif")
    assert r.returncode == 1 and json.loads(r.stdout)["version"] == "2.1.0"
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("dkscan, version ")


def test_entry_exit_codes_and_messages(tmp_path):
    r = run("audit", str(tmp_path / "missing"))
    assert r.returncode == 3 and "cannot read" in r.stderr
    r = run("audit", "--format", "nope", str(tmp_path))
    assert r.returncode == 2 and "Invalid value" in r.stderr


def test_entry_on_a_closed_pipe_exits_quietly():
    """`dkscan audit ... | head -1`: the reader goes away early; no traceback, a failing status."""
    p = subprocess.Popen([sys.executable, "-m", "scanner.cli", "audit", str(ROOT / "fixtures" / "studios-dk"),
                          "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(60) != 0
    assert "Traceback" not in err


def test_entry_is_the_console_script():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["dkscan"] == "scanner.launch:entry"

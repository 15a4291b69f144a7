"""`dkscan fix` on the host files: each mechanical fix removes its finding, and the fixed file still
passes the real tool (sshd -t, fail2ban-client --test, bash -n + shellcheck's parser)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scanner.engine import audit
from scanner.fix.apply import plan_fixes, write_changes
from tests.test_host_real_tools import f2b_test, host_key, sshd_test  # noqa: F401 - fixture

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "rules"

# (rule, case, unsafe?, file, text the fixed file must hold)
CASES = [
    ("PER080", "bad", True, "ssh/sshd_config", "PermitRootLogin no"),
    ("PER082", "bad", False, "ssh/sshd_config", "PermitEmptyPasswords no"),
    ("PER084", "bad", False, "ssh/sshd_config", "MaxAuthTries 4"),
    ("PER085", "bad", False, "ssh/sshd_config", "MACs hmac-sha2-256-etm@openssh.com\n"),
    ("PER074", "bad", False, "fail2ban/jail.local", "[nginx-http-auth]\nchain = DOCKER-USER\n"),
    ("PER074", "bad-2", False, "fail2ban/jail.local", "[nginx-botsearch]\nchain_hook = forward\n"),
    ("PER070", "bad", False, "fail2ban/jail.local", "enabled = true"),
    ("PER071", "bad", False, "fail2ban/jail.local", "ignoreip = 127.0.0.1/8 ::1\n"),
    ("PER072", "bad", False, "fail2ban/jail.local", "maxretry = 5"),
    ("PER060", "bad", False, "provision.sh", "ufw default deny incoming"),
    ("PER063", "bad", False, "provision.sh", "ufw limit 22/tcp"),
    ("OPS100", "bad", True, "deploy.sh", "#!/bin/bash\nset -euo pipefail\ncd /opt/app\n"),
    ("OPS100", "bad-2", True, "deploy.sh", "#!/bin/bash\nset -euo pipefail\nset -eu\n"),
    ("OPS102", "bad", True, "deploy.sh", "docker compose pull"),
]


@pytest.mark.parametrize("rule,case,unsafe,rel,want", CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_fix_removes_the_finding_and_keeps_the_file_valid(rule, case, unsafe, rel, want, tmp_path, host_key):  # noqa: F811
    d = tmp_path / "stack"
    shutil.copytree(FIX / rule / case, d)
    (d / "expected.json").unlink(missing_ok=True)
    before = [f for f in audit([d], select=[rule], root=d).findings if f.rule == rule]
    assert before
    if unsafe:
        safe_plan = plan_fixes([d], rules={rule}, root=d)
        assert rel not in safe_plan.changed, "an unsafe fix was applied without --unsafe"
    plan = plan_fixes([d], unsafe=unsafe, rules={rule}, root=d)
    assert rel in plan.changed
    write_changes(plan)
    text = (d / rel).read_text()
    assert want in text, text
    after = [f for f in audit([d], select=[rule], root=d).findings if f.rule == rule]
    assert after == [], [(f.location, f.message) for f in after]
    if rel.startswith("ssh/"):
        r = sshd_test(d / rel, host_key)
        assert r.returncode == 0, r.stderr
    elif rel.startswith("fail2ban/"):
        r = f2b_test(d / "fail2ban", tmp_path / "f2b")
        assert r.returncode == 0, r.stdout + r.stderr
    else:
        r = subprocess.run(["bash", "-n", str(d / rel)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_backup_fix_pipes_the_dump_through_gpg(tmp_path):
    d = tmp_path / "stack"
    shutil.copytree(FIX / "DATA093" / "bad", d)
    (d / "expected.json").unlink()
    plan = plan_fixes([d], unsafe=True, rules={"DATA093"}, root=d)
    write_changes(plan)
    text = (d / "backup.sh").read_text()
    assert 'gzip | gpg --encrypt --recipient "${BACKUP_GPG_RECIPIENT:?}" > "/var/backups/' in text
    assert subprocess.run(["bash", "-n", str(d / "backup.sh")]).returncode == 0
    left = [f.location.start_line for f in audit([d], select=["DATA093"], root=d).findings]
    assert left == [4]  # pg_dumpall -f writes the file itself: no mechanical fix


def test_flow_is_bounded_for_fan_out_functions():
    from scanner.parsers import shell

    src = "#!/bin/bash\n" + "".join(f"f{i}() {{ f{i + 1}; f{i + 1}; f{i + 1}; }}\n" for i in range(12)) + "f12() { echo x; }\nf0\n"
    doc = shell.parse(src, "x.sh")
    assert 0 < len(doc.flow) <= shell.MAX_FLOW

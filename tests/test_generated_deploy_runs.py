"""The `deploy-prod.sh` that `dkscan generate` writes, run for real by bash (issue 18, point 4: backup,
pull, build, up with the right env file, health check, rollback).

Only the commands that would reach outside are replaced, by logging stubs first on PATH: ``docker``,
``git``, ``curl``, ``age``, ``rclone``, ``sleep``. Everything else (bash, ``set -Eeuo pipefail``, the
ERR trap, ``gzip``, ``install``, ``sed``, ``date``) is the real thing. The order of the logged calls is
the deploy: the backup before anything changes, the release checked out, pulled, built, started with
``--env-file .env --env-file .env.prod`` (the files the audit interpolates from, see
docs/host-layer.md), then checked; a failing health check — or a failing step — rolls back to the
commit that ran before and starts it again.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

STUB = """#!/usr/bin/env bash
printf '%s\\n' "$(basename "$0") $*" >> "$DEPLOY_LOG"
case "$(basename "$0") $1" in
  "git rev-parse") echo 1111111111111111111111111111111111111111 ;;
  "curl "*) exit "${CURL_EXIT:-0}" ;;
  "docker compose") case " $* " in *" build "*) exit "${BUILD_EXIT:-0}" ;; *" exec "*) echo "-- dump" ;; esac ;;
  "age "*) cat ;;
esac
exit 0
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from scanner.fix.generate import Options, generate

    out = tmp_path_factory.mktemp("gen") / "stack"
    generate(Options(domain="api.example.com", out=out, services=(), project="shop"))
    return out


def run_deploy(stack: Path, tmp: Path, **env: str) -> tuple[int, list[str]]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name in ("docker", "git", "curl", "age", "rclone", "sleep"):
        (bin_dir / name).write_text(STUB)
        (bin_dir / name).chmod(stat.S_IRWXU)
    log = tmp / "calls.log"
    log.touch()
    run_env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DEPLOY_LOG": str(log), "HOME": str(tmp),
               "BACKUP_DIR": str(tmp / "backups"), "BACKUP_AGE_RECIPIENT": "age1testrecipient",
               "BACKUP_REMOTE": "offsite:backups", **env}
    r = subprocess.run([shutil.which("bash") or "/bin/bash", str(stack / "deploy-prod.sh"), "v1.2.3"], env=run_env,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, log.read_text().splitlines()


COMPOSE = "docker compose --env-file .env --env-file .env.prod -f docker-compose.prod.yml"


def test_a_healthy_release_is_backed_up_pulled_built_started_and_checked(generated, tmp_path):
    code, calls = run_deploy(generated, tmp_path)
    assert code == 0, calls
    # 1. the backup, before anything changes: pg_dump | gzip | age run together (their order in the
    # log is the scheduler's), encrypted, then copied off the host
    assert calls[0] == "git rev-parse HEAD"
    assert sorted(calls[1:3]) == sorted([f"{COMPOSE} exec -T -e PGPASSWORD postgres pg_dump -U postgres -d shop",
                                         "age -r age1testrecipient"])
    assert calls[3].startswith("rclone copy ") and calls[3].endswith(".sql.gz.age offsite:backups")
    assert calls[4:] == [
        "git fetch --tags --quiet",
        "git checkout --quiet --detach v1.2.3",  # 2. the release tag, pinned
        f"{COMPOSE} pull --quiet",
        f"{COMPOSE} build --pull",
        f"{COMPOSE} up -d --remove-orphans --wait",  # 3. with .env and .env.prod
        "curl -fsS --max-time 5 -o /dev/null https://api.example.com/health",  # 4. fails on an HTTP error
    ]
    (dump,) = (tmp_path / "backups").iterdir()
    assert dump.name.endswith(".sql.gz.age") and oct(dump.parent.stat().st_mode & 0o777) == "0o700"


def test_a_failing_health_check_rolls_back(generated, tmp_path):
    code, calls = run_deploy(generated, tmp_path, CURL_EXIT="22")
    assert code == 1
    checks = [c for c in calls if c.startswith("curl ")]
    assert len(checks) == 10 and calls.count("sleep 6") == 10  # ten tries, then the rollback
    up = calls.index(f"{COMPOSE} up -d --remove-orphans --wait")
    assert calls[up + 1:][-2:] == ["git checkout --quiet --detach 1111111111111111111111111111111111111111",
                                   f"{COMPOSE} up -d --remove-orphans --wait"]


def test_a_failing_step_after_the_backup_rolls_back_through_the_err_trap(generated, tmp_path):
    code, calls = run_deploy(generated, tmp_path, BUILD_EXIT="1")
    assert code != 0
    build = calls.index(f"{COMPOSE} build --pull")
    assert calls[build + 1:] == ["git checkout --quiet --detach 1111111111111111111111111111111111111111",
                                 f"{COMPOSE} up -d --remove-orphans --wait"]
    assert not any(c.startswith("curl ") for c in calls)

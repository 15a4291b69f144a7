"""Issue 15, point 7: false alarms seen on real stacks stay away (each with its rule fixtures too:
APP045/good-pip-abbrev, DATA005/bad-weak-digits, DATA006/good-mail-relay, OPS040/good-known-image).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.helpers.services import HEALTHCHECK_TABLE, images_with_healthcheck
from scanner.engine import audit

ROOT = Path(__file__).resolve().parent.parent


def test_healthcheck_table_is_sourced_package_data():
    data = json.loads(HEALTHCHECK_TABLE.read_text())
    assert HEALTHCHECK_TABLE.is_relative_to(ROOT / "rules")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^rules = \[.*"helpers/data/\*\.json"', pyproject, re.M), "the table must ship in the package"
    assert data["images"] and re.fullmatch(r"\d{4}-\d\d-\d\d", data["checked"])
    for e in data["images"]:
        assert re.fullmatch(r"[a-z0-9._-]+/[a-z0-9._-]+", e["image"]), e
        assert e["source"].startswith(("https://github.com/", "https://gitlab.com/")), e
        assert e["healthcheck"].startswith("HEALTHCHECK ") and " CMD " in e["healthcheck"], e
    assert len(images_with_healthcheck()) == len(data["images"])


def _ops040(tmp_path: Path, image: str) -> list:
    (tmp_path / "docker-compose.yml").write_text(f"services:\n  app:\n    image: {image}\n    restart: unless-stopped\n")
    return [f for f in audit([tmp_path], select={"OPS040"}).findings if f.rule == "OPS040"]


def test_known_images_count_their_healthcheck(tmp_path):
    for i, repo in enumerate(sorted(images_with_healthcheck())):
        for j, ref in enumerate((f"{repo}:1.0", f"docker.io/{repo}:1.0", f"{repo}@sha256:{'a' * 64}")):
            d = tmp_path / f"{i}-{j}"
            d.mkdir()
            assert not _ops040(d, ref), ref
    d = tmp_path / "other"
    d.mkdir()
    assert _ops040(d, "example/uptime-kuma-clone:1.0")  # a name alike is not the image


@settings(max_examples=20, deadline=None)
@given(flag=st.sampled_from(["--no-cache-dir"[:n] for n in range(len("--no-ca"), len("--no-cache-dir") + 1)]),
       pkg=st.sampled_from(["flask", "requests==2.32.3", "-r requirements.txt"]))
def test_pip_no_cache_abbreviations_satisfy_app045(tmp_path_factory, flag, pkg):
    d = tmp_path_factory.mktemp("pip")
    (d / "Dockerfile").write_text(f"FROM python:3.12-slim\nRUN pip install {flag} {pkg}\nUSER 10001\n")
    msgs = [f.message for f in audit([d], select={"APP045"}).findings if f.rule == "APP045"]
    assert not [m for m in msgs if "no-cache-dir" in m], (flag, msgs)


def test_pip_without_no_cache_is_still_flagged(tmp_path):
    for i, flag in enumerate(("", "--no-c", "--no-color")):  # --no-c is ambiguous for pip
        d = tmp_path / str(i)
        d.mkdir()
        (d / "Dockerfile").write_text(f"FROM python:3.12-slim\nRUN pip install {flag} flask\nUSER 10001\n")
        msgs = [f.message for f in audit([d], select={"APP045"}).findings if f.rule == "APP045"]
        assert any("no-cache-dir" in m for m in msgs), flag


@settings(max_examples=15, deadline=None)
@given(value=st.sampled_from(["12345678", "123456789", "qwerty123", "qwertyuiop", "letmein2024", "password123"]))
def test_common_passwords_are_called_weak_not_placeholders(tmp_path_factory, value):
    d = tmp_path_factory.mktemp("weak")
    (d / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:16.4\n    env_file: .env\n")
    (d / ".env").write_text(f"POSTGRES_PASSWORD={value}\n")
    found = [f for f in audit([d]).findings if f.location.path == ".env" and f.rule.startswith("DATA")]
    assert found, value
    assert all("placeholder" not in f.message and "template value" not in f.message for f in found), found
    assert any("most common passwords" in f.message for f in found), found

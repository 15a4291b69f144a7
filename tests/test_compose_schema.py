"""OPS086 (issue 15): compose files are validated against the Compose Specification schema shipped in
the package (licence kept), errors point at the offending node, and rule findings built on a broken
node stand down."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.config import Policy
from scanner.engine import audit
from scanner.parsers.compose import parse
from scanner.parsers.compose_schema import validate, validator
from tests.conftest import ROOT, shared_path

DATA = ROOT / "scanner" / "data" / "compose-spec"


def test_schema_shipped_unmodified_with_its_licence():
    assert (DATA / "compose-spec.json").read_bytes() == shared_path("schemas", "compose-spec.json").read_bytes()
    assert "Apache License" in (DATA / "LICENSE").read_text() and "Version 2.0" in (DATA / "LICENSE").read_text()
    notice = (DATA / "NOTICE").read_text()
    assert "compose-spec/compose-spec" in notice and "a08f8d51631b7127ddac3d2c65537db429d0f1d0" in notice
    assert '"data/**/*"' in (ROOT / "pyproject.toml").read_text()
    validator().check_schema(json.loads((DATA / "compose-spec.json").read_text()))
    assert validator() is validator()  # compiled once


SERVICE_KEYS = sorted(json.loads((DATA / "compose-spec.json").read_text())["definitions"]["service"]["properties"])
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(key=names, custom=st.booleans(), pad=st.integers(0, 3))
def test_unknown_service_key_is_reported_at_its_line(key, custom, pad):
    key = ("x-" + key) if custom else key
    text = "services:\n  api:\n    image: nginx:1.27\n" + "    # comment\n" * pad + f"    {key}: 1\n"
    errors = validate(parse(text, "c.yml", {}).root)
    if custom or key in SERVICE_KEYS:
        assert all(e.line != 4 + pad for e in errors if "unknown" in e.message)
    else:
        assert [(e.line, e.col) for e in errors] == [(4 + pad, 5)]
        assert f"'{key}'" in errors[0].message


WRONG = [  # (service lines, the key path named)
    ("    ports: 80\n", "services.api.ports"),
    ("    read_only: [true]\n", "services.api.read_only"),
    ("    depends_on: db\n", "services.api.depends_on"),
    ("    volumes:\n      - source: data\n        target: /d\n", "services.api.volumes[0]"),
    ("    healthcheck:\n      interval: 10\n", "services.api.healthcheck.interval"),
    ("    environment: 3\n", "services.api.environment"),
    ("    ports:\n      - \"80:99999\"\n", "services.api.ports[0]"),
    ("    volumes:\n      - \"data:relative/path\"\n", "services.api.volumes[0]"),
]


@settings(max_examples=30, deadline=None)
@given(case=st.sampled_from(WRONG), secret=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=12, max_size=20))
def test_wrong_types_name_the_path_never_the_value(case, secret):
    lines, where = case
    text = f"services:\n  api:\n    image: nginx:1.27\n    labels:\n      token: {secret}\n{lines}"
    errors = validate(parse(text, "c.yml", {}).root)
    assert len(errors) == 1 and errors[0].message.startswith(where), errors
    assert errors[0].line >= 6 and secret not in errors[0].message


def test_interpolation_is_applied_first_and_unknown_variables_are_left_alone():
    env = {"N": ("2", ".env"), "RO": ("true", ".env")}
    text = "services:\n  api:\n    image: nginx\n    read_only: ${RO}\n    deploy:\n      replicas: ${N}\n    restart: ${UNSET}\n    cpus: ${UNSET2}\n"
    assert validate(parse(text, "c.yml", env).root) == []


def test_broken_node_stands_down_other_rules(tmp_path):
    sock = "    volumes:\n      - {type}source: /var/run/docker.sock\n        target: /var/run/docker.sock\n"
    (tmp_path / "docker-compose.yml").write_text("services:\n  agent:\n    image: portainer/agent:2.21.4\n" + sock.format(type=""))
    result = audit([tmp_path], Policy(), select=["OPS086", "PER021"], root=tmp_path)
    assert [f.rule for f in result.findings] == ["OPS086"]
    fixed = tmp_path / "ok"
    fixed.mkdir()
    (fixed / "docker-compose.yml").write_text("services:\n  agent:\n    image: portainer/agent:2.21.4\n"
                                              + sock.format(type="type: bind\n        "))
    result = audit([fixed], Policy(), select=["OPS086", "PER021"], root=fixed)
    assert [f.rule for f in result.findings] == ["PER021"]


def test_override_file_errors_point_into_that_file(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  api:\n    image: nginx:1.27\n")
    (tmp_path / "docker-compose.override.yml").write_text("services:\n  api:\n    bogus: 1\n")
    result = audit([tmp_path], Policy(), select=["OPS086"], root=tmp_path)
    assert [(f.location.path, f.location.start_line) for f in result.findings] == [("docker-compose.override.yml", 3)]


def test_corpus_never_crashes_and_validation_is_cheap():
    corpus = shared_path("corpus")
    files = [p for p in sorted(corpus.rglob("*.y*ml")) if "compose" in p.name]
    assert files
    validator()  # the one compile, outside the measure
    start = time.perf_counter()
    for p in files:
        validate(parse(p.read_text(errors="replace"), p.name, {}).root)
    per_file = (time.perf_counter() - start) / len(files)
    assert per_file < 0.5  # a hang guard, not a benchmark (measured: well under 5 ms a file)
    for stack in sorted(d for d in corpus.iterdir() if d.is_dir()):
        result = audit([stack], Policy(), select=["OPS086"], root=stack)
        assert not [f for f in result.findings if f.rule == "OPS082"], stack.name


def test_the_bundled_stacks_are_valid():
    for name in ("studios-dk", "studios-dk-compliant"):
        root = Path(ROOT / "fixtures" / name)
        assert not audit([root], Policy(), select=["OPS086"], root=root).findings


def test_alias_bomb_is_not_expanded_but_noted(tmp_path):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for c in "bcdefgh":
        bomb += f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]\n"
        prev = c
    (tmp_path / "docker-compose.yml").write_text(bomb + f"services:\n  web:\n    image: nginx:1.27\n    command: *{prev}\n")
    start = time.perf_counter()
    result = audit([tmp_path], Policy(), select=["OPS086"], root=tmp_path)
    assert time.perf_counter() - start < 30  # a hang guard
    assert any("not checked against the Compose Specification" in n for n in result.notes)

"""The command line as ruff and docker compose users type it (issue 16), through the real entry
point: rule selectors, compose's -f/--env-file/--profile and COMPOSE_*, output controls, changed
files only, completion and help."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "studios-dk"
COMPOSE_ENV = ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_PATH_SEPARATOR", "NO_COLOR", "FORCE_COLOR",
               "COMPOSE_ENV_FILES", "COMPOSE_DISABLE_ENV_FILE")


def run(*args, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    e["PYTHONPATH"] = str(ROOT)  # this checkout's dkscan whatever the working directory
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True, text=True, env=e,
                          cwd=cwd or ROOT, timeout=600)


def findings(*args, **kw) -> list[dict]:
    r = run("audit", "--format", "json", *args, **kw)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["findings"]


def rule_ids(*args, **kw) -> set[str]:
    return {f["rule"] for f in findings(*args, **kw)}


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    r = run("rules", "--format", "json")
    assert r.returncode == 0
    return json.loads(r.stdout)


# ---------------------------------------------------------------------------------------------
# 1. rule selection like ruff
# ---------------------------------------------------------------------------------------------


def test_select_comma_list_of_ids():
    assert rule_ids("--select", "GW032,GW022", str(FIXTURE)) == {"GW032", "GW022"}


def test_select_repeated_layer_prefix_and_name(catalog):
    got = rule_ids("--select", "gateway", "--select", "PER", "--select", "no-new-privileges-missing", str(FIXTURE))
    layer_of = {r["id"]: r["layer"] for r in catalog}
    assert got and all(layer_of[i] in ("gateway", "perimeter") or i == "APP004" for i in got)
    assert "APP004" in got and any(layer_of[i] == "gateway" for i in got) and any(i.startswith("PER") for i in got)


def test_ignore_and_extend_ignore_by_specificity():
    everything = rule_ids(str(FIXTURE))
    got = rule_ids("--ignore", "gateway", "--extend-ignore", "PER064", str(FIXTURE))
    assert got == {i for i in everything if not i.startswith("GW") and i != "PER064"}
    # a more specific select wins over a less specific ignore, whatever the order on the line
    assert rule_ids("--select", "GW", "--ignore", "GW022", str(FIXTURE)) == {i for i in everything if i.startswith("GW")} - {"GW022"}
    assert rule_ids("--ignore", "GW", "--select", "GW022", str(FIXTURE)) == {"GW022"}
    assert rule_ids("--extend-select", "GW022", "--ignore", "gateway", str(FIXTURE)) == (everything - {i for i in everything if i.startswith("GW")}) | {"GW022"}


def test_unknown_selector_exit_2_names_closest():
    r = run("audit", "--select", "GW032,GW0223", str(FIXTURE))
    assert r.returncode == 2
    assert "GW0223" in r.stderr and "did you mean" in r.stderr and "GW022" in r.stderr
    r = run("audit", "--ignore", "gatway", str(FIXTURE))
    assert r.returncode == 2 and "gateway" in r.stderr and "--ignore" in r.stderr


def test_config_keys_match_the_flags(tmp_path):
    stack = tmp_path / "s"
    shutil.copytree(FIXTURE, stack)
    (stack / ".dkscan.yaml").write_text("select: [gateway, PER064]\nextend-ignore: [GW022]\n"
                                        "ignore:\n  - GW032\n  - {rule: PER064, paths: ['nothing/*'], reason: r}\n")
    got = rule_ids(str(stack))
    assert "PER064" in got and not got & {"GW022", "GW032"} and all(i.startswith("GW") or i == "PER064" for i in got)
    # the command line's --select replaces the file's selection, its ignores included (ruff)
    assert rule_ids("--select", "GW032", str(stack)) == {"GW032"}
    (stack / ".dkscan.yaml").write_text("extend-select: [GW0322]\n")
    r = run("audit", str(stack))
    assert r.returncode == 2 and "GW0322" in r.stderr and ".dkscan.yaml" in r.stderr and "GW032" in r.stderr


def test_pyproject_tool_table(tmp_path):
    stack = tmp_path / "s"
    shutil.copytree(FIXTURE, stack)
    (stack / "pyproject.toml").write_text('[tool.dkscan]\nselect = ["DATA"]\nextend-ignore = ["DATA001"]\n')
    got = rule_ids(str(stack))
    assert got and all(i.startswith("DATA") for i in got) and "DATA001" not in got


def test_rules_shows_what_a_selection_resolves_to(catalog):
    r = run("rules", "--select", "DATA04", "--format", "json")
    assert r.returncode == 0
    assert [x["id"] for x in json.loads(r.stdout)] == [x["id"] for x in catalog if re.fullmatch(r"DATA04\d", x["id"])]
    r = run("rules", "--select", "gateway", "--ignore", "GW03")
    assert r.returncode == 0 and "rules selected" in r.stdout
    assert "GW032" not in r.stdout and "GW022" in r.stdout
    assert run("rules", "--select", "NOPE").returncode == 2


def test_severity_override_on_the_command_line():
    got = findings("--select", "GW032", "--severity", "GW032=critical", str(FIXTURE))
    assert got and {f["severity"] for f in got} == {"critical"}
    # a layer-wide override, and a more specific one that wins over it
    got = findings("--select", "GW032,GW022", "--severity", "gateway=info,GW022=high", str(FIXTURE))
    assert {f["rule"]: f["severity"] for f in got} == {"GW032": "info", "GW022": "high"}
    r = run("audit", "--severity", "GW032", str(FIXTURE))
    assert r.returncode == 2 and "SELECTOR=LEVEL" in r.stderr
    r = run("audit", "--severity", "GW0032=low", str(FIXTURE))
    assert r.returncode == 2 and "GW0032" in r.stderr


# selection resolution against the registry, generatively (in-process: no subprocess per example)

def _registry():
    """The rules an audit selects among (the probe's LIVE rules, also in the api/gateway/perimeter
    layers, are not: ``dkscan audit --select LIVE001`` is a usage error)."""
    from scanner.registry import audit_rules

    return audit_rules()


def _policy(**cli):
    from scanner.config import Policy

    p = Policy()
    p.cli = cli
    return p


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_selection_matches_the_registry(data):
    from scanner.selection import enabled, resolve

    rules = _registry()
    r = data.draw(st.sampled_from(sorted(rules)))
    family, digits = re.fullmatch(r"([A-Z]+)(\d+)", r).groups()
    cut = data.draw(st.integers(0, len(digits)))
    prefix = family + digits[:cut]
    case = data.draw(st.sampled_from([str.upper, str.lower]))
    ids, _ = resolve(case(prefix), rules)
    assert ids == {i for i in rules if re.fullmatch(r"([A-Z]+)\d+", i).group(1) == family and i.startswith(prefix)}
    assert resolve(rules[r].name, rules)[0] == {r}
    assert resolve(rules[r].layer.value, rules)[0] == {i for i in rules if rules[i].layer == rules[r].layer and not i.startswith("LIVE")}  # probe rules are selected by id or LIVE
    # select a prefix, ignore one rule of it (more specific): exactly the difference
    assert enabled(_policy(select=[prefix], ignore=[r]), rules) == ids - {r}
    # ignore the prefix, select the rule: just the rule (at the same specificity the ignore wins)
    assert enabled(_policy(select=[r], ignore=[prefix]), rules) == ({r} if prefix != r else set())
    assert enabled(_policy(ignore=[prefix]), rules) == set(rules) - ids


@settings(max_examples=150, deadline=None)
@given(word=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12))
def test_unknown_selectors_are_errors_with_valid_suggestions(word):
    from scanner.selection import SelectionError, resolve

    rules = _registry()
    try:
        ids, _ = resolve(word, rules)
    except SelectionError as exc:
        suggestion = str(exc).partition("did you mean ")[2].rstrip("?")
        for s in filter(None, suggestion.split(", ")):
            resolve(s, rules)  # every suggestion is itself a valid selector
        return
    assert ids  # a selector that resolves names at least one rule


# ---------------------------------------------------------------------------------------------
# 2. compose's own flags
# ---------------------------------------------------------------------------------------------

BASE = """services:
  db:
    image: postgres:16.4
    ports: ["5432:5432"]
  web:
    image: nginx:1.27.1
"""


def _stack(tmp_path, files: dict[str, str]) -> Path:
    d = tmp_path / "stack"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def _per001(*args, **kw) -> list[str]:
    return sorted(f["message"] for f in findings("--select", "PER001", *args, **kw))


def test_file_flags_merge_in_order_with_reset_and_override(tmp_path):
    d = _stack(tmp_path, {"docker-compose.yml": BASE,
                          "reset.yml": "services:\n  db:\n    ports: !reset []\n",
                          "local.yml": "services:\n  db:\n    ports: !override ['127.0.0.1:5432:5432']\n",
                          "more.yml": "services:\n  db:\n    ports: ['127.0.0.1:6432:5432']\n"})
    c = str(d / "docker-compose.yml")
    assert _per001(str(d))  # compose's default file publishes 5432 everywhere
    assert _per001("-f", c, "-f", str(d / "reset.yml"), str(d)) == []
    assert _per001("-f", c, "-f", str(d / "local.yml"), str(d)) == []
    assert _per001("-f", c, "-f", str(d / "more.yml"), str(d))  # appended: the base's port is still there
    # order matters: the reset applies to what comes before it only
    assert _per001("-f", c, "-f", str(d / "reset.yml"), "-f", str(d / "more.yml"), str(d)) == []
    assert _per001("-f", str(d / "more.yml"), "-f", c, str(d))
    # -f relative to the working directory, as compose; PATHS default to the first file's directory
    assert _per001("-f", "docker-compose.yml", "-f", "reset.yml", cwd=d) == []
    r = run("audit", "-f", str(d / "missing.yml"), str(d))
    assert r.returncode == 3 and "missing.yml" in r.stderr


def test_env_file_replaces_dotenv_for_interpolation(tmp_path):
    d = _stack(tmp_path, {
        "docker-compose.yml": "services:\n  app:\n    image: 'backend:${TAG}'\n    env_file: .env.prod\n",
        ".env.prod": "TAG=1.4.2\n", ".env": "OTHER=1\n"})
    assert rule_ids("--select", "OPS060,OPS061", str(d)) == {"OPS061"}
    msg = next(f["message"] for f in findings("--select", "OPS061", str(d)))
    assert "--env-file .env.prod" in msg and "dkscan audit" in msg
    assert rule_ids("--select", "OPS060,OPS061", "--env-file", str(d / ".env.prod"), str(d)) == set()
    # --env-file replaces .env: a variable only .env defines is then undefined
    (d / "docker-compose.yml").write_text("services:\n  app:\n    image: 'backend:${OTHER}'\n")
    assert rule_ids("--select", "OPS060", str(d)) == set()
    assert rule_ids("--select", "OPS060", "--env-file", str(d / ".env.prod"), str(d)) == {"OPS060"}
    # repeatable, later files win; relative to the working directory
    assert rule_ids("--select", "OPS060", "--env-file", ".env.prod", "--env-file", ".env", cwd=d) == set()
    r = run("audit", "--env-file", str(d / ".env.nope"), str(d))
    assert r.returncode == 3 and ".env.nope" in r.stderr


def test_done_when_the_studios_stack_started_with_env_file_has_no_ops061(tmp_path):
    assert sum(f["rule"] == "OPS061" for f in findings(str(FIXTURE))) >= 3
    assert "OPS061" not in rule_ids("--env-file", str(FIXTURE / ".env.prod"), str(FIXTURE))
    # typed exactly as the team starts it, from the stack's directory
    assert "OPS061" not in rule_ids("--env-file", ".env.prod", "-f", "docker-compose.prod.yml", cwd=FIXTURE)
    compliant = ROOT / "fixtures" / "studios-dk-compliant"
    assert "OPS061" not in rule_ids("--env-file", ".env.prod", "-f", "docker-compose.prod.yml", cwd=compliant)


PROFILED = """services:
  web:
    image: nginx:1.27.1
  debug:
    image: postgres:16.4
    profiles: [debug]
    ports: ["5432:5432"]
"""


def test_profiles_inactive_services_are_reported_not_audited(tmp_path):
    d = _stack(tmp_path, {"compose.yaml": PROFILED})
    assert _per001(str(d))  # no profile given: every service is audited
    assert _per001("--profile", "debug", str(d))
    assert _per001("--profile", "web", str(d)) == []
    r = run("audit", "--profile", "web", str(d))
    assert "service debug is inactive" in r.stdout and "debug" in r.stdout
    assert _per001(str(d), env={"COMPOSE_PROFILES": "other"}) == []
    assert _per001(str(d), env={"COMPOSE_PROFILES": "other,debug"})
    (d / ".env").write_text("COMPOSE_PROFILES=other\n")
    assert _per001(str(d)) == []
    assert _per001("--profile", "debug", str(d))  # the flag wins over the project's .env


def test_compose_file_variable_from_environment_and_dotenv(tmp_path):
    d = _stack(tmp_path, {"docker-compose.yml": BASE, "safe.yml": "services:\n  db:\n    ports: !reset null\n"})
    assert _per001(str(d))
    (d / ".env").write_text("COMPOSE_FILE=docker-compose.yml:safe.yml\n")
    assert _per001(str(d)) == []
    (d / ".env").write_text("COMPOSE_PATH_SEPARATOR=;\nCOMPOSE_FILE=docker-compose.yml;safe.yml\n")
    assert _per001(str(d)) == []
    (d / ".env").unlink()
    env = {"COMPOSE_FILE": f"{d / 'docker-compose.yml'}:{d / 'safe.yml'}"}
    assert _per001(str(d), env=env) == []
    assert _per001(str(d), env={"COMPOSE_FILE": str(d / "docker-compose.yml")})


# compose's merge rules, generatively: compared with what the specification says of each key

_port = st.builds(lambda h, c: f"{h}:{c}", st.integers(1, 5), st.integers(1, 5))
_vol = st.builds(lambda s, t: f"./{s}:/{t}", st.sampled_from("abc"), st.sampled_from("xyz"))
_env = st.dictionaries(st.sampled_from(["A", "B", "C"]), st.sampled_from(["1", "2"]), max_size=3)
# each file valid on its own (compose refuses a port or a mount target twice in one file)
_service = st.fixed_dictionaries({}, optional={
    "ports": st.lists(_port, max_size=3, unique=True),
    "volumes": st.lists(_vol, max_size=3, unique_by=lambda v: v.split(":")[1]), "environment": _env,
    "dns": st.lists(st.sampled_from(["1.1.1.1", "8.8.8.8"]), max_size=2, unique=True),
    "command": st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2), "image": st.sampled_from(["x:1", "y:2"])})


def _merge(a: dict, b: dict) -> dict:
    from scanner.parsers.compose import merge_override, parse

    return merge_override(parse(yaml.safe_dump(a), "a.yml").root, parse(yaml.safe_dump(b), "b.yml").root).plain()


def _target(v: str) -> str:
    return v.split(":")[1]


@settings(max_examples=200, deadline=None)
@given(a=_service, b=_service)
def test_compose_merge_rules(a, b):
    m = _merge({"services": {"s": a}}, {"services": {"s": b}})["services"]["s"]
    assert set(m) == set(a) | set(b)
    for key in ("image", "command"):
        if key in b:
            assert m[key] == b[key]  # replaced, never appended
        elif key in a:
            assert m[key] == a[key]
    if "environment" in a or "environment" in b:
        assert m["environment"] == {**a.get("environment", {}), **b.get("environment", {})}
    if "ports" in a or "ports" in b:  # appended, each port once, the later definition wins
        assert m["ports"] == list(dict.fromkeys(a.get("ports", []) + b.get("ports", [])))
    if "volumes" in a or "volumes" in b:  # unique by target: the later mount of a target replaces it
        vols = a.get("volumes", []) + b.get("volumes", [])
        assert sorted({_target(v) for v in m["volumes"]}) == sorted({_target(v) for v in vols})
        assert len(m["volumes"]) == len({_target(v) for v in vols})
        for v in m["volumes"]:
            assert v == [w for w in vols if _target(w) == _target(v)][-1]
    if "dns" in a or "dns" in b:
        assert m["dns"] == list(dict.fromkeys(a.get("dns", []) + b.get("dns", [])))
    # merging a file with itself changes nothing (every key here is unique or replaced)
    assert _merge({"services": {"s": a}}, {"services": {"s": a}})["services"]["s"] == \
        _merge({"services": {"s": a}}, {"services": {}})["services"]["s"]


@settings(max_examples=100, deadline=None)
@given(a=_service, key=st.sampled_from(["ports", "volumes", "environment", "dns", "command", "image"]),
       tag=st.sampled_from(["!reset", "!override"]), b=_service)
def test_compose_reset_and_override_tags(a, key, tag, b):
    from scanner.parsers.compose import merge_override, parse

    value = b.get(key, ["1:1"] if key != "environment" else {"A": "1"})
    over = f"services:\n  s:\n    {key}: {tag} {json.dumps(value)}\n"
    m = merge_override(parse(yaml.safe_dump({"services": {"s": a}}), "a.yml").root, parse(over, "b.yml").root).plain()
    if tag == "!reset":
        assert key not in m["services"]["s"]
    else:
        assert m["services"]["s"][key] == value


# ---------------------------------------------------------------------------------------------
# 3. output controls
# ---------------------------------------------------------------------------------------------


def test_quiet_levels():
    full = run("audit", str(FIXTURE))
    q = run("audit", "-q", str(FIXTURE))
    qq = run("audit", "-qq", str(FIXTURE))
    assert full.returncode == q.returncode == qq.returncode == 1
    assert "total" in full.stdout and "total" not in q.stdout and "──" not in q.stdout
    assert q.stdout.splitlines()[-1].startswith("FAIL:")
    assert [l for l in q.stdout.splitlines() if "  PER064  " in l] == [l for l in full.stdout.splitlines() if "  PER064  " in l]
    assert qq.stdout == "" and qq.stderr == ""


def test_quiet_still_writes_output_files(tmp_path):
    out = tmp_path / "r.sarif"
    r = run("audit", "-qq", "--output", str(out), str(FIXTURE))
    assert r.returncode == 1 and r.stdout == "" and json.loads(out.read_text())["runs"]


def test_colour_modes():
    ansi = "\033["

    def out(*args, env=None):
        return run("audit", "--select", "PER064", *args, str(FIXTURE), env=env).stdout

    assert ansi not in out()  # not a terminal
    assert ansi in out("--color", "always")
    assert ansi in out(env={"FORCE_COLOR": "1"})
    assert ansi not in out(env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert ansi not in out("--color", "never", env={"FORCE_COLOR": "1"})
    assert ansi not in out("--no-color", env={"FORCE_COLOR": "1"})
    assert ansi in out("--color", "always", env={"NO_COLOR": "1"})
    assert run("audit", "--color", "sometimes", str(FIXTURE)).returncode == 2


def test_statistics_count_per_rule():
    counts: dict[str, int] = {}
    for f in findings(str(FIXTURE)):
        counts[f["rule"]] = counts.get(f["rule"], 0) + 1
    r = run("audit", "--statistics", str(FIXTURE))
    assert r.returncode == 1
    rows = [l.split("\t") for l in r.stdout.splitlines() if "\t" in l]
    assert {row[1].strip(): int(row[0]) for row in rows} == counts
    assert [int(row[0]) for row in rows] == sorted(counts.values(), reverse=True)
    assert any("[*]" in row[2] for row in rows)


def test_show_fixes_and_diff(tmp_path):
    stack = tmp_path / "s"
    shutil.copytree(FIXTURE, stack)
    before = {p: p.read_bytes() for p in stack.rglob("*") if p.is_file()}
    r = run("audit", "--show-fixes", "--select", "APP004", str(stack))
    assert r.returncode == 1 and "    fix (safe): " in r.stdout
    r = run("audit", "--diff", "--select", "APP004", str(stack))
    assert r.returncode == 1
    assert "--- a/docker-compose.prod.yml" in r.stdout and "+      - no-new-privileges:true" in r.stdout.replace('"', "")
    assert {p: p.read_bytes() for p in stack.rglob("*") if p.is_file()} == before  # nothing written


def test_output_format_is_an_alias_of_format():
    a = run("audit", "--select", "PER064", "--output-format", "json", str(FIXTURE))
    b = run("audit", "--select", "PER064", "--format", "json", str(FIXTURE))
    assert a.returncode == b.returncode == 1
    assert json.loads(a.stdout)["findings"] == json.loads(b.stdout)["findings"]


def test_several_formats_need_outputs(tmp_path):
    r = run("audit", "--format", "json", "--format", "sarif", str(FIXTURE))
    assert r.returncode == 2
    assert "--output" in r.stderr and "stdout" in r.stderr and "json" in r.stderr and "sarif" in r.stderr
    r = run("audit", "--format", "json", "--format", "sarif", "--output", str(tmp_path / "a.json"), str(FIXTURE))
    assert r.returncode == 1 and json.loads((tmp_path / "a.json").read_text()) and json.loads(r.stdout)["runs"]


# ---------------------------------------------------------------------------------------------
# 4. changed files only
# ---------------------------------------------------------------------------------------------


def _git(repo: Path, *args):
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is installed by .ci/deps")
def test_diff_base_reports_only_what_the_change_caused(tmp_path):
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / "other").mkdir()
    compose = repo / "deploy" / "docker-compose.yml"
    compose.write_text("services:\n  db:\n    image: postgres:16.4\n    ports: ['5432:5432']\n")
    (repo / "other" / "docker-compose.yml").write_text("services:\n  cache:\n    image: redis:7.4\n    ports: ['6379:6379']\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    old = {(f["rule"], f["path"]) for f in findings(str(repo))}
    assert {path for _rule, path in old} == {"deploy/docker-compose.yml", "other/docker-compose.yml"}
    # nothing changed: nothing reported
    r = run("audit", "--diff-base", "HEAD", "--format", "json", str(repo))
    assert r.returncode == 0 and json.loads(r.stdout)["findings"] == []
    # a new service in one deployment: its findings only, not the old ones nor the other deployment's
    compose.write_text(compose.read_text() + "  api:\n    image: nginx:1.27.1\n    ports: ['8080:80']\n")
    _git(repo, "checkout", "-q", "-b", "feature")
    _git(repo, "commit", "-qam", "feature")
    for flag in ("--diff-base", "--changed-since"):
        got = findings(flag, "main", str(repo))
        assert got and all(f["path"] == "deploy/docker-compose.yml" and f["line"] >= 5 for f in got), got
        assert any(f["rule"] == "APP004" for f in got)
    assert findings("--diff-base", "HEAD~1", str(repo)) == findings("--diff-base", "main", str(repo))
    # a change elsewhere that causes a finding on an unchanged line is reported too
    compose.write_text(compose.read_text().replace("image: postgres:16.4", "image: 'postgres:${PG_TAG}'"))
    (repo / "deploy" / ".env").write_text("PG_TAG=16.4\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "tag from .env")
    assert findings("--diff-base", "HEAD", "--select", "OPS060", str(repo)) == []
    (repo / "deploy" / ".env").write_text("PG_VERSION=16.4\n")  # uncommitted: the work tree counts
    got = findings("--diff-base", "HEAD", "--select", "OPS060", str(repo))
    assert [(f["rule"], f["path"], f["line"]) for f in got] == [("OPS060", "deploy/docker-compose.yml", 3)]
    r = run("audit", "--diff-base", "no-such-branch", str(repo))
    assert r.returncode == 2 and "no-such-branch" in r.stderr
    r = run("audit", "--diff-base", "main", str(tmp_path / "repo" / "other"), cwd=tmp_path)
    assert r.returncode == 0


def test_diff_base_outside_a_repository_is_a_usage_error(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(BASE)
    r = run("audit", "--diff-base", "main", str(tmp_path))
    assert r.returncode == 2 and "not inside a git repository" in r.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is installed by .ci/deps")
def test_diff_base_never_runs_the_repository_s_git_configuration(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "docker-compose.yml").write_text(BASE)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    marker = tmp_path / "pwned"
    with open(repo / ".git" / "config", "a") as fh:
        fh.write(f"[core]\n\tfsmonitor = touch {marker}\n\tpager = touch {marker}\n"
                 f"[diff]\n\texternal = touch {marker}\n")
    (repo / "docker-compose.yml").write_text(BASE + "  x:\n    image: nginx:1.27.1\n")
    r = run("audit", "--diff-base", "main", "--select", "APP004", str(repo))
    assert r.returncode == 1
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# 5. help and shell completion
# ---------------------------------------------------------------------------------------------


def test_help_shows_common_invocations_and_completion():
    r = run("--help")
    assert r.returncode == 0
    assert "dkscan audit --env-file .env.prod -f docker-compose.prod.yml" in r.stdout
    assert "--diff-base" in r.stdout and "_DKSCAN_COMPLETE=bash_source dkscan" in r.stdout
    r = run("audit", "--help")
    for flag in ("--select", "--extend-select", "--ignore", "--extend-ignore", "--severity", "-f, --file",
                 "--env-file", "--profile", "-q, --quiet", "--color", "--statistics", "--show-fixes", "--diff",
                 "--output-format", "--diff-base", "--changed-since"):
        assert flag in r.stdout, flag


def test_click_completion():
    r = run(env={"_DKSCAN_COMPLETE": "bash_source"})
    assert r.returncode == 0 and "_dkscan_completion" in r.stdout and "complete " in r.stdout
    r = run(env={"_DKSCAN_COMPLETE": "bash_complete", "COMP_WORDS": "dkscan audit --select GW03", "COMP_CWORD": "3"})
    assert "plain,GW032" in r.stdout.splitlines()
    r = run(env={"_DKSCAN_COMPLETE": "bash_complete", "COMP_WORDS": "dkscan audit --env", "COMP_CWORD": "2"})
    assert "plain,--env-file" in r.stdout.splitlines()


def test_findings_in_a_later_file_point_into_it(tmp_path):
    d = _stack(tmp_path, {"docker-compose.yml": BASE,
                          "prod.yml": "# production\n\nservices:\n  web:\n    image: 'nginx:${NGINX_TAG}'\n"})
    got = findings("--select", "OPS060", "-f", str(d / "docker-compose.yml"), "-f", str(d / "prod.yml"))
    assert [(f["path"], f["line"]) for f in got] == [("prod.yml", 5)]
    r = run("audit", "--select", "OPS060", "-f", "docker-compose.yml", "-f", "prod.yml", "-q", cwd=d)
    assert r.stdout.startswith("prod.yml:5:")


_risky = st.fixed_dictionaries({}, optional={
    "image": st.sampled_from(["nginx:latest", "postgres:16.4", "redis:7.4", "x:${TAG}"]),
    "ports": st.lists(st.sampled_from(["5432:5432", "127.0.0.1:80:80", "6379:6379", "8080"]), max_size=2, unique=True),
    "privileged": st.booleans(), "network_mode": st.sampled_from(["host", "bridge"]),
    "environment": st.dictionaries(st.sampled_from(["POSTGRES_PASSWORD", "DEBUG", "A"]), st.sampled_from(["x", "${P}"]), max_size=2),
    "volumes": st.lists(st.sampled_from(["/var/run/docker.sock:/var/run/docker.sock", "./d:/data", "/:/host"]), max_size=2, unique=True)})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(base=st.dictionaries(st.sampled_from(["db", "web", "cache"]), _risky, min_size=1, max_size=2),
       over=st.dictionaries(st.sampled_from(["db", "web", "extra"]), _risky, max_size=2),
       pad=st.integers(0, 40))
def test_merged_files_findings_stay_inside_their_files(tmp_path_factory, base, over, pad):
    from scanner.config import Policy
    from scanner.engine import audit

    d = tmp_path_factory.mktemp("merge")
    texts = {"docker-compose.yml": yaml.safe_dump({"services": base}),
             "prod.yml": "#\n" * pad + yaml.safe_dump({"services": over} if over else {"services": {}})}
    for name, text in texts.items():
        (d / name).write_text(text)
    policy = Policy()
    policy.cli = {"compose": {"files": [str(d / "docker-compose.yml"), str(d / "prod.yml")]}}
    result = audit([d], policy)
    for f in result.findings:
        for loc in (f.location, *f.related):
            if loc.path in texts:
                assert 1 <= loc.start_line <= texts[loc.path].count("\n") + 1, (f.rule, loc)
        for e in (f.fix.edits if f.fix else ()):
            assert e.location.path in texts and e.location.start_line <= texts[e.location.path].count("\n") + 1


def test_the_report_says_how_the_deployment_was_read(tmp_path):
    d = _stack(tmp_path, {"compose.yaml": PROFILED, "tls.yml": "services:\n  web:\n    read_only: true\n",
                          ".env": "COMPOSE_PROJECT_NAME=shop\n"})
    r = run("audit", "-f", "compose.yaml", "-f", "tls.yml", "--profile", "web", cwd=d)
    assert "deployment shop: compose.yaml + tls.yml; interpolated from .env; profiles: web" in r.stdout
    r = run("audit", "-f", "compose.yaml", "-p", "other", cwd=d, env={"COMPOSE_PROJECT_NAME": "env-name"})
    assert "deployment other: compose.yaml" in r.stdout
    r = run("audit", "-f", "compose.yaml", cwd=d, env={"COMPOSE_PROJECT_NAME": "env-name"})
    assert "deployment env-name: compose.yaml" in r.stdout
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "compose.yaml").write_text(PROFILED)
    assert "deployment" not in run("audit", str(plain)).stdout  # compose's plain default: nothing to say


@pytest.mark.skipif(shutil.which("git") is None, reason="git is installed by .ci/deps")
@pytest.mark.parametrize("damage", ["head", "objects"])
def test_diff_base_on_a_damaged_repository_is_a_usage_error(tmp_path, damage):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "compose.yaml").write_text(BASE)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    if damage == "head":
        (repo / ".git" / "HEAD").write_text("garbage\n")
    else:
        for obj in (repo / ".git" / "objects").glob("??/*"):
            obj.chmod(0o644)
            obj.write_bytes(b"junk")
    r = run("audit", "--diff-base", "main", str(repo))
    assert r.returncode == 2 and "--diff-base main" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is installed by .ci/deps")
def test_diff_base_keeps_git_state_findings_of_unchanged_files_out(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "docker-compose.yml").write_text("services:\n  app:\n    image: backend:1.4.2\n    env_file: .env.prod\n")
    (repo / ".env.prod").write_text("JWT_SECRET=9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    assert "DATA001" in rule_ids(str(repo))  # the tracked secrets file, found by the full audit
    with open(repo / "docker-compose.yml", "a") as fh:
        fh.write("    privileged: true\n")
    got = rule_ids("--diff-base", "main", str(repo))
    assert "APP001" in got and "DATA001" not in got  # nothing about .env.prod changed


def test_the_hook_takes_the_same_selection_and_compose_flags(tmp_path):
    d = _stack(tmp_path, {"docker-compose.yml": "services:\n  app:\n    image: 'backend:${TAG}'\n    env_file: .env.prod\n"
                                                "    privileged: true\n",
                          ".env.prod": "TAG=1.4.2\n"})
    r = run("hook", "docker-compose.yml", cwd=d)
    assert r.returncode == 1 and "OPS061" in r.stdout and "APP001" in r.stdout
    r = run("hook", "--env-file", ".env.prod", "--ignore", "APP001", "docker-compose.yml", cwd=d)
    assert "OPS061" not in r.stdout and "APP001" not in r.stdout
    assert run("hook", "--select", "APP0011", "docker-compose.yml", cwd=d).returncode == 2


def test_compose_files_outside_the_scanned_paths_are_refused(tmp_path):
    d = _stack(tmp_path, {"docker-compose.yml": BASE, ".env.prod": "A=1\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "compose.yaml").write_text(BASE)
    for flag, path in (("-f", d / "docker-compose.yml"), ("--env-file", d / ".env.prod")):
        r = run("audit", flag, str(path), str(elsewhere))
        assert r.returncode == 2 and "outside the scanned paths" in r.stderr and str(path) in r.stderr


def test_every_unknown_selector_is_named_with_its_closest_valid_ones():
    r = run("audit", "--select", "GW032,gatewy", "--ignore", "jwt-alg-nne", "--severity", "GWX=high", str(FIXTURE))
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == "dkscan: 3 unknown rule selectors:"
    assert "'gatewy' in --select; did you mean gateway?" in lines[1]
    assert "'jwt-alg-nne' in --ignore; did you mean jwt-alg-none" in lines[2]
    assert "'GWX' in --severity; did you mean GW" in lines[3]
    r = run("rules", "--select", "gatewy,nosuchrule")
    assert r.returncode == 2 and "2 unknown rule selectors" in r.stderr and "did you mean gateway?" in r.stderr


def test_duplicate_keys_are_reported_once_as_compose_refuses_them(tmp_path):
    """docker compose (compose-go's YAML reader) refuses a file whose mapping repeats a key
    ("mapping key ... already defined at line N"); dkscan says so once per repeated key, where it is
    repeated, and audits the last value (one service, never two answers)."""
    d = _stack(tmp_path, {"docker-compose.yml": (
        "x-a: &a\n  restart: always\nx-b: &b\n  read_only: true\n"
        "services:\n  app:\n    image: nginx:1.27.1\n    ports: ['8080:80']\n    ports: ['127.0.0.1:9090:80']\n"
        "  app:\n    <<: *a\n    <<: *b\n    image: redis:7.4.1\n")})
    fs = findings("--select", "OPS081,DATA080", str(d))
    dups = sorted((f["line"], f["message"]) for f in fs if f["rule"] == "OPS081")
    assert [(line, m.split(" (")[0]) for line, m in dups] == [(9, "duplicate key 'ports'"), (10, "duplicate key 'app'"),
                                                             (12, "duplicate key '<<'")]
    assert all("docker compose refuses the file" in m for _l, m in dups)
    assert "already defined at line 8" in dups[0][1] and "already defined at line 6" in dups[1][1]
    # the last `app` is the service audited, once: redis without a password, not nginx
    assert [f["line"] for f in fs if f["rule"] == "DATA080"] == [10]
    # the same file named twice (-f, then discovered) is still one file: each duplicate once
    again = findings("--select", "OPS081", "-f", str(d / "docker-compose.yml"), "-f", str(d / "docker-compose.yml"), str(d))
    assert len(again) == 3


def test_compose_env_files_and_disable_env_file_from_the_environment(tmp_path):
    d = _stack(tmp_path, {"docker-compose.yml": "services:\n  app:\n    image: 'nginx:${TAG}'\n",
                          ".env": "TAG=1.27.1\n", ".env.prod": "TAG=1.27.2\n"})
    assert rule_ids("--select", "OPS060", cwd=d) == set()
    assert rule_ids("--select", "OPS060", cwd=d, env={"COMPOSE_DISABLE_ENV_FILE": "1"}) == {"OPS060"}
    (d / ".env").write_text("OTHER=1\n")
    assert rule_ids("--select", "OPS060", cwd=d) == {"OPS060"}
    assert rule_ids("--select", "OPS060", cwd=d, env={"COMPOSE_ENV_FILES": ".env,.env.prod"}) == set()
    # --env-file wins over COMPOSE_ENV_FILES, as in compose
    assert rule_ids("--select", "OPS060", "--env-file", ".env", cwd=d, env={"COMPOSE_ENV_FILES": ".env.prod"}) == {"OPS060"}


def _clean_twin(tmp_path) -> Path:
    """The clean twin of a real stack started with `docker compose --env-file .env.prod -f
    docker-compose.prod.yml up`: the compliant Studios DK stack (every finding fixed) whose
    interpolation values live in .env.prod (the file its services also load) and no .env."""
    twin = tmp_path / "studios-dk-twin"
    shutil.copytree(ROOT / "fixtures" / "studios-dk-compliant", twin)
    dotenv = (twin / ".env").read_text()
    (twin / ".env").unlink()
    with (twin / ".env.prod").open("a") as f:
        f.write("\n# compose interpolation (docker compose --env-file .env.prod)\n" + dotenv)
    return twin


def test_clean_twin_started_with_env_file_has_no_ops061_noise(tmp_path):
    twin = _clean_twin(tmp_path)
    bare = findings(cwd=twin)
    assert bare and {f["rule"] for f in bare} == {"OPS061"}  # true for a bare `docker compose up`: the only findings
    assert all("--env-file .env.prod" in f["message"] for f in bare)
    r = run("audit", "--env-file", ".env.prod", "-f", "docker-compose.prod.yml", cwd=twin)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS: 0 findings" in r.stdout and "interpolated from .env.prod" in r.stdout
    assert run("audit", "-qq", cwd=twin, env={"COMPOSE_ENV_FILES": ".env.prod"}).returncode == 0

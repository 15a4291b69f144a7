"""dkscan fix --apply --unsafe on the seed's stack (fixtures/studios-dk), judged by real tools.

Every finding that has a fix is gone (except the rule bugs listed in ``KNOWN_BROKEN_FIXES``, with
why), a second run changes nothing, what remains is listed as needing a human, no file stops
parsing, the fixed nginx configuration passes ``nginx -t``, the fixed init-db.sql applies to a real
PostgreSQL and the fixed compose file still validates against the compose specification. No secret
(old or generated) appears in the output.

The coverage test at the end: every rule whose catalog fix column is not "manual" yields a Fix on at
least one of its bad fixtures, except the ones in ``FIX_COVERAGE_EXCEPTIONS`` (with a reason each).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scanner.engine import audit
from scanner.fix.apply import _wanted, mode_change, plan_fixes
from tests.test_generate import compose_errors, nginx_check

ROOT = Path(__file__).resolve().parent.parent
INSECURE = ROOT / "fixtures" / "studios-dk"

# Rules whose fix is wrong today, and why (rules are still being written: keep this list short and
# true; an entry that no longer applies is reported by test_known_broken_fixes_are_still_broken).
KNOWN_BROKEN_FIXES: dict[str, str] = {}

PARSE_RULES = {"OPS080", "OPS081", "OPS082"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture(scope="module")
def fixed():
    """A copy of the seed's stack after `dkscan fix --apply --unsafe`, with the CLI's outputs."""
    tmp = Path(tempfile.mkdtemp(prefix="dkscan-fixstack-"))
    d = tmp / "studios-dk"
    shutil.copytree(INSECURE, d)
    before = audit([d])
    dry = run_cli("fix", "--unsafe", str(d))
    applied = run_cli("fix", "--apply", "--unsafe", str(d))
    after = audit([d])
    yield {"dir": d, "before": before, "dry": dry, "applied": applied, "after": after}
    shutil.rmtree(tmp, ignore_errors=True)


def test_dry_run_writes_nothing_and_apply_writes(fixed):
    assert fixed["dry"].returncode == 0, fixed["dry"].stderr
    assert "dry run" in fixed["dry"].stdout
    assert fixed["applied"].returncode == 0, fixed["applied"].stderr
    m = re.search(r"applied (\d+) fixes to (\d+) files", fixed["applied"].stdout)
    assert m and int(m.group(1)) > 50 and int(m.group(2)) >= 5, fixed["applied"].stdout[-2000:]


def test_every_finding_with_a_fix_is_gone(fixed):
    left = [f for f in fixed["after"].findings if _wanted(f, True, None) and f.rule not in KNOWN_BROKEN_FIXES]
    assert left == [], [(f.rule, str(f.location), f.message) for f in left]
    fixable_before = {f.rule for f in fixed["before"].findings if _wanted(f, True, None)}
    assert len(fixable_before) >= 20, "the seed's stack should exercise many fixes"


def test_no_file_stops_parsing(fixed):
    bad = [f for f in fixed["after"].findings if f.rule in PARSE_RULES]
    assert bad == [], [(f.rule, str(f.location), f.message) for f in bad]


def test_second_run_changes_nothing(fixed):
    again = plan_fixes([fixed["dir"]], unsafe=True)
    assert again.changed == [] and again.mode_changes == [], again.changed
    r = run_cli("fix", "--apply", "--unsafe", str(fixed["dir"]))
    assert r.returncode == 0 and "applied 0 fixes to 0 files" in r.stdout, r.stdout[-1500:]


def test_what_remains_is_listed_for_a_human(fixed):
    out = fixed["applied"].stdout
    m = re.search(r"(\d+) findings remain and need a human:\n", out)
    remaining = fixed["after"].findings
    assert m and int(m.group(1)) == len(remaining), out[-3000:]
    listed = out[m.end():].splitlines()
    for f in remaining:
        line = next((x for x in listed if f"{f.location.path}:{f.location.start_line}  {f.rule}" in x), None)
        assert line is not None, f"{f.rule} at {f.location} is not listed"
        if f.rule not in KNOWN_BROKEN_FIXES:
            assert "[manual" in line or "[no automatic fix" in line, line


def test_modes_and_secrets(fixed):
    d = fixed["dir"]
    assert stat.S_IMODE(os.stat(d / ".env.prod").st_mode) == 0o600, "DATA003's chmod 600 was not applied"
    old = {}
    for line in (INSECURE / ".env.prod").read_text().splitlines():
        m = re.match(r"([A-Z_]+)=(.+)$", line)
        if m:
            old[m.group(1)] = m.group(2)
    new = {}
    for line in (d / ".env.prod").read_text().splitlines():
        m = re.match(r"([A-Z_]+)=(.+)$", line)
        if m:
            new[m.group(1)] = m.group(2)
    rotated = [k for k in new if k in old and new[k] != old[k] and re.search(r"SECRET|PASSWORD", k)]
    assert rotated, "no weak secret was replaced"
    output = fixed["dry"].stdout + fixed["applied"].stdout + fixed["dry"].stderr + fixed["applied"].stderr
    for k in rotated:
        assert new[k] not in output, f"the generated value of {k} was printed"
        if len(old[k]) >= 8:
            assert old[k] not in output, f"the old value of {k} was printed"
    assert "<generated>" in fixed["dry"].stdout


def test_fixed_compose_validates_against_the_compose_spec(fixed):
    assert compose_errors(fixed["dir"] / "docker-compose.prod.yml") == []


def test_fixed_nginx_passes_nginx_t(fixed):
    ok, out = nginx_check(fixed["dir"])
    assert ok, out


def test_fixed_init_sql_applies_to_postgresql(fixed):
    from tests import pg_harness

    pg_harness.start_postgres()
    pg_harness.reset_cluster()
    db = "studios_dk"
    pg_harness.create_database(db)
    ok, out = pg_harness.apply_sql(db, fixed["dir"] / "init-db.sql")
    pg_harness.reset_cluster()
    assert ok, out


def test_known_broken_fixes_are_still_broken(fixed):
    """Keep KNOWN_BROKEN_FIXES true: an entry whose rule now fixes its findings must go."""
    still = {f.rule for f in fixed["after"].findings if _wanted(f, True, None)}
    stale = sorted(set(KNOWN_BROKEN_FIXES) - still)
    assert not stale, f"remove {stale} from KNOWN_BROKEN_FIXES: their fixes work on the seed's stack now"


# ---------------------------------------------------------------------------------------------
# every fixable rule yields a fix on one of its bad fixtures
# ---------------------------------------------------------------------------------------------

FIX_COVERAGE_EXCEPTIONS = {
    "DATA012": "_move_fix (rules/data/secrets.py) returns no Fix when the compose file has no .env beside it, which is "
               "the bad fixture's case; dkscan fix can create files now (edits on a missing path inside the "
               "root), so the rule could create the .env",
    "LIVE021": "a LIVE rule runs under `dkscan probe` only (no stack fixture can make it fire); its Fix is asserted "
               "against a real nginx in tests/test_probe_nginx.py::test_fixes_when_the_config_itself_is_wrong",
    "LIVE040": "a LIVE rule runs under `dkscan probe` only; its Fix is asserted in "
               "tests/test_probe_nginx.py::test_fixes_when_the_config_itself_is_wrong",
}


def _fixable_rules():
    from scanner.registry import load_rules
    from tests.test_catalog import catalog

    rows = catalog()
    out = []
    for rid in load_rules():
        row = rows.get(rid)
        if row is None:
            continue
        fix = row["fix"].strip()
        if fix.startswith("manual") or fix in ("—", "-", ""):
            continue
        out.append(rid)
    return out


def test_every_fixable_rule_yields_a_fix_on_a_bad_fixture(tmp_path):
    from tests.ruletest import FIXTURES, run_case

    rules = _fixable_rules()
    assert len(rules) >= 50, "the catalog's fix column was not read"
    missing, working = [], []
    for rid in rules:
        d = FIXTURES / rid
        bads = sorted(p for p in d.iterdir() if p.is_dir() and p.name.startswith("bad")) if d.is_dir() else []
        got = False
        for i, case in enumerate(bads):
            _, _, result = run_case(rid, case, tmp_path / f"{rid}-{i}")
            if any(f.rule == rid and f.fix is not None and (f.fix.edits or mode_change(f.fix)) for f in result.findings):
                got = True
                break
        (working if got else missing).append(rid)
    unexplained = [r for r in missing if r not in FIX_COVERAGE_EXCEPTIONS]
    stale = [r for r in FIX_COVERAGE_EXCEPTIONS if r in working]
    assert not unexplained, f"fixable in the catalog, but no Fix on any bad fixture: {unexplained}"
    assert not stale, f"remove {stale} from FIX_COVERAGE_EXCEPTIONS: they yield a Fix now"


# ---------------------------------------------------------------------------------------------
# the guards of plan_fixes, with throwaway rules whose fixes are wrong on purpose
# ---------------------------------------------------------------------------------------------

NGINX_CONF = "events {}\nhttp {\n    server_tokens off;\n    server {\n        listen 8080;\n    }\n}\n"


def _stack_with_nginx(tmp_path: Path) -> Path:
    d = tmp_path / "stack"
    (d / "nginx").mkdir(parents=True)
    (d / "docker-compose.yml").write_text(
        "services:\n  nginx:\n    image: nginx:1.27.3\n    volumes:\n      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n")
    (d / "nginx" / "nginx.conf").write_text(NGINX_CONF)
    return d


@pytest.fixture
def bad_rule(monkeypatch):
    """Register a throwaway rule OPS099 for one test; ``bad_rule(check)`` sets its check."""
    from scanner import registry
    from scanner.model import Layer, Rule, Severity

    def install(check):
        monkeypatch.setitem(registry.load_rules(), "OPS099", Rule("OPS099", "test-rule", Layer.OPERATIONAL, Severity.LOW,
                                                            "test rule", ("nginx",), (), "safe", check, "doc"))
    return install


def _http_line(stack):
    from scanner.model import Location

    for cfg in stack.nginx_configs:
        if cfg.http is not None:
            return Location(cfg.http.path, cfg.http.line, 1)
    return None


def test_a_fix_that_does_not_remove_its_finding_is_applied_once(tmp_path, bad_rule):
    from scanner.model import Edit, Fix, Location, hit

    def check(stack):
        loc = _http_line(stack)
        if loc is not None:
            yield hit(loc, "always there", snippet_key="x",
                      fix=Fix("add a comment", (Edit(Location(loc.path, loc.start_line + 1, 1), "    # hello\n"),)))

    bad_rule(check)
    d = _stack_with_nginx(tmp_path)
    plan = plan_fixes([d], rules={"OPS099"})
    assert plan.new["nginx/nginx.conf"].count("# hello") == 1, plan.new["nginx/nginx.conf"]
    assert [f.rule for f in plan.ineffective] == ["OPS099"]
    left = next(f for f in plan.remaining.findings if f.rule == "OPS099")
    assert "did not remove" in plan.why_not_applied(left)


def test_a_no_op_fix_is_rejected(tmp_path, bad_rule):
    from scanner.model import Edit, Fix, Location, hit

    def check(stack):
        loc = _http_line(stack)
        if loc is not None:
            yield hit(loc, "no-op", snippet_key="y", fix=Fix("rewrite http", (Edit(Location(loc.path, loc.start_line, 1, loc.start_line, 5), "http"),)))

    bad_rule(check)
    plan = plan_fixes([_stack_with_nginx(tmp_path)], rules={"OPS099"})
    assert plan.changed == [] and plan.applied == []
    assert "changes nothing" in plan.rejected[0][1]


def test_a_fix_that_breaks_the_file_is_rejected_and_the_others_stay(tmp_path, bad_rule):
    from scanner.model import Edit, Fix, Location, hit

    def check(stack):
        loc = _http_line(stack)
        if loc is not None:
            yield hit(loc, "breaks nginx", snippet_key="z",
                      fix=Fix("unbalanced brace", (Edit(Location(loc.path, loc.start_line + 1, 1), "    location / {\n"),)))

    bad_rule(check)
    d = _stack_with_nginx(tmp_path)
    (d / "nginx" / "nginx.conf").write_text(NGINX_CONF.replace("    server_tokens off;\n", ""))
    plan = plan_fixes([d], rules={"OPS099", "GW032"})
    new = plan.new["nginx/nginx.conf"]
    assert "location / {" not in new and "server_tokens off;" in new, new  # GW032's fix kept, OPS099's refused
    assert [r for f, r in plan.rejected if f.rule == "OPS099"][0].startswith("its fix would leave a file that does not parse")
    assert not [f for f in plan.remaining.findings if f.rule in PARSE_RULES]


def test_a_fix_may_create_a_file_and_change_a_mode(tmp_path, bad_rule):
    from scanner.model import Edit, Fix, Location, hit

    def check(stack):
        if not (stack.root / "nginx" / "README").exists():
            yield hit(Location("nginx/nginx.conf", 1, 1), "no readme", snippet_key="r",
                      fix=Fix("create it", (Edit(Location("nginx/README", 1, 1), "hello\n"),)))
        mode = stat.S_IMODE(os.stat(stack.root / "nginx" / "nginx.conf").st_mode)
        if mode & 0o077:
            yield hit(Location("nginx/nginx.conf", 1, 1), "too open", snippet_key="m",
                      fix=Fix("chmod 600 nginx/nginx.conf", ()))

    bad_rule(check)
    d = _stack_with_nginx(tmp_path)
    os.chmod(d / "nginx" / "nginx.conf", 0o644)
    plan = plan_fixes([d], rules={"OPS099"})
    assert plan.created == {"nginx/README"} and plan.mode_changes == ["nginx/nginx.conf"]
    from scanner.fix.apply import render_diff

    diff = render_diff(plan)
    assert "--- /dev/null\n+++ b/nginx/README\n" in diff and "new mode 100600" in diff
    write_changes_ = __import__("scanner.fix.apply", fromlist=["write_changes"]).write_changes
    assert sorted(write_changes_(plan)) == ["nginx/README", "nginx/nginx.conf"]
    assert (d / "nginx" / "README").read_text() == "hello\n"
    assert stat.S_IMODE(os.stat(d / "nginx" / "nginx.conf").st_mode) == 0o600
    assert plan_fixes([d], rules={"OPS099"}).changed == [] and not [f for f in audit([d]).findings if f.rule == "OPS099"]


def test_the_private_copy_keeps_the_git_view(tmp_path):
    """DATA002 (a production dotenv that git would pick up) is fixed by creating .gitignore; the
    re-audit of the private copy still knows git, so the finding is judged gone, not unknowable."""
    d = tmp_path / "repo"
    d.mkdir()
    (d / "docker-compose.yml").write_text("services:\n  app:\n    image: example/app:1.0\n    env_file: .env.prod\n")
    (d / ".env.prod").write_text("DB_PASSWORD=Qx8vTn3LmZr7Wp2KsY5d\n")
    (d / ".env.staging").write_text("DB_PASSWORD=Hq4wNz8TrLx2Vm6PsK9c\n")
    os.chmod(d / ".env.prod", 0o600)
    os.chmod(d / ".env.staging", 0o600)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", str(d)], check=True, env=env)
    subprocess.run(["git", "-C", str(d), "add", "docker-compose.yml", ".env.staging"], check=True, env=env)
    before = [f.rule for f in audit([d]).findings]
    assert "DATA002" in before and "DATA001" in before, before
    plan = plan_fixes([d])
    assert ".gitignore" in plan.created
    remaining = [f.rule for f in plan.remaining.findings]
    assert "DATA002" not in remaining
    assert "DATA001" in remaining, "the copy lost the git view: the tracked .env.staging is no longer seen"
    from scanner.fix.apply import write_changes

    write_changes(plan)
    assert "DATA002" not in [f.rule for f in audit([d]).findings]
    assert subprocess.run(["git", "-C", str(d), "check-ignore", "-q", ".env.prod"]).returncode == 0

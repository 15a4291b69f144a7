"""What is scanned is what the user means (issue 15): default excludes, .gitignore, ``exclude`` /
``extend-exclude`` in .dkscan.yaml, ``--exclude`` / ``--extend-exclude`` on the command line (as
ruff), and a path with nothing to audit is an error (exit 2) unless ``--allow-empty``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.engine import audit
from scanner.exclude import DEFAULT_EXCLUDE

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = "services:\n  db:\n    image: postgres:16\n    ports:\n      - \"5432:5432\"\n"


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def _files(cwd, *args):
    r = _cli("audit", "--format", "json", "--fail-on", "critical", *args, cwd=cwd)
    assert r.returncode in (0, 1), r.stderr
    return sorted(json.loads(r.stdout)["files"])


def _tree(tmp: Path, layout: dict[str, str]) -> Path:
    for rel, text in layout.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    return tmp


names = st.sampled_from([d for d in DEFAULT_EXCLUDE if "*" not in d] + ["x.egg-info"])


@settings(max_examples=25, deadline=None)
@given(names, st.lists(st.sampled_from(["app", "deploy", "src"]), max_size=2))
def test_default_excludes_hide_dependencies_and_build_output(name, parents):
    """A compose file inside node_modules, a virtualenv, build output... at any depth is not part of
    the user's stack; the same file beside it is."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp).joinpath(*parents)
        _tree(base, {f"{name}/docker-compose.yml": COMPOSE, "docker-compose.yml": COMPOSE})
        files = {sf for sf in audit([Path(tmp)]).stack.files}
        prefix = "/".join(parents + [""]) if parents else ""
        assert files == {prefix + "docker-compose.yml"}


def test_virtualenv_found_by_pyvenv_cfg(tmp_path):
    _tree(tmp_path, {"env3/pyvenv.cfg": "home = /usr\n", "env3/docker-compose.yml": COMPOSE, "docker-compose.yml": COMPOSE})
    assert set(audit([tmp_path]).stack.files) == {"docker-compose.yml"}


def test_config_exclude_replaces_defaults_and_extend_exclude_adds(tmp_path):
    _tree(tmp_path, {"docker-compose.yml": COMPOSE, "build/docker-compose.yml": COMPOSE,
                     "legacy/docker-compose.yml": COMPOSE, "legacy/nginx.conf": "events {}\nhttp {}\n"})
    assert _files(tmp_path, ".") == ["docker-compose.yml", "legacy/docker-compose.yml", "legacy/nginx.conf"]
    (tmp_path / ".dkscan.yaml").write_text("extend-exclude: [legacy]\n")
    assert _files(tmp_path, ".") == ["docker-compose.yml"]
    (tmp_path / ".dkscan.yaml").write_text("exclude: [legacy/nginx.conf]\n")  # the defaults are replaced
    assert _files(tmp_path, ".") == ["build/docker-compose.yml", "docker-compose.yml", "legacy/docker-compose.yml"]


def test_cli_exclude_and_extend_exclude(tmp_path):
    _tree(tmp_path, {"docker-compose.yml": COMPOSE, "nginx/nginx.conf": "events {}\nhttp {}\n", "init.sql": "SELECT 1;\n",
                     "dist/docker-compose.yml": COMPOSE})
    assert _files(tmp_path, ".", "--extend-exclude", "*.sql") == ["docker-compose.yml", "nginx/nginx.conf"]
    assert _files(tmp_path, ".", "--exclude", "nginx", "--exclude", "*.sql") == ["dist/docker-compose.yml", "docker-compose.yml"]
    # a file named on the command line is audited even when excluded, unless --force-exclude
    assert _files(tmp_path, "init.sql", "docker-compose.yml", "--extend-exclude", "*.sql") == ["docker-compose.yml", "init.sql"]
    r = _cli("audit", "init.sql", "--extend-exclude", "*.sql", "--force-exclude", cwd=tmp_path)
    assert r.returncode == 2 and "nothing to audit in init.sql" in r.stderr


def test_a_mounted_file_of_an_excluded_folder_is_not_read(tmp_path):
    compose = "services:\n  web:\n    image: nginx:1.27\n    volumes:\n      - ./gw/default:/etc/nginx/conf.d/default.conf:ro\n"
    _tree(tmp_path, {"docker-compose.yml": compose, "gw/default": "server { listen 80; }\n"})
    assert "gw/default" in _files(tmp_path, ".")
    assert "gw/default" not in _files(tmp_path, ".", "--extend-exclude", "gw")


def _git(tmp: Path, *args):
    subprocess.run(["git", *args], cwd=tmp, check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "GIT_CONFIG_NOSYSTEM": "1",
                        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"})


def test_gitignore_is_honoured_and_a_tracked_file_is_still_audited(tmp_path):
    _tree(tmp_path, {"docker-compose.yml": COMPOSE, ".gitignore": "scratch/\n*.local.sql\nforced.sql\n",
                     "scratch/docker-compose.yml": COMPOSE, "x.local.sql": "SELECT 1;\n", "forced.sql": "SELECT 2;\n"})
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "docker-compose.yml", ".gitignore")
    _git(tmp_path, "add", "-f", "forced.sql")
    assert _files(tmp_path, ".") == ["docker-compose.yml", "forced.sql"]
    assert _files(tmp_path, ".", "--no-respect-gitignore") == ["docker-compose.yml", "forced.sql", "scratch/docker-compose.yml",
                                                               "x.local.sql"]
    (tmp_path / ".dkscan.yaml").write_text("respect-gitignore: false\n")
    assert "x.local.sql" in _files(tmp_path, ".")


def test_nothing_to_audit_is_an_error_unless_allowed(tmp_path):
    (tmp_path / "empty").mkdir()
    _tree(tmp_path, {"docs/README.md": "# hi\n", "stack/docker-compose.yml": COMPOSE})
    for target in ("empty", "docs"):
        r = _cli("audit", target, cwd=tmp_path)
        assert r.returncode == 2, (target, r.returncode, r.stdout)
        assert f"nothing to audit in {target}" in r.stderr
        assert _cli("audit", target, "--allow-empty", cwd=tmp_path).returncode == 0
    r = _cli("audit", "stack", "docs", cwd=tmp_path)  # one empty path among others is still an error
    assert r.returncode == 2 and "nothing to audit in docs" in r.stderr
    assert _cli("audit", "stack", "--fail-on", "critical", cwd=tmp_path).returncode == 0


_parts = st.sampled_from(list(DEFAULT_EXCLUDE) + ["x.egg-info", ".egg-info", "egg-info", "a.egg-infox", "Build", "buildx",
                                                    "xbuild", "...", "*", "app", "a b", "node_modules.bak", "\\build"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_parts, st.text(alphabet="ab.*-_\\ ", min_size=1, max_size=6).filter(lambda p: p not in (".", ".."))),
                max_size=5), st.booleans())
def test_default_patterns_match_as_pathspec_matches_them(parts, is_dir):
    """The built-in matcher of DEFAULT_EXCLUDE (no pathspec import) is git's matching of those patterns,
    on the paths the Excluder matches (os.path.relpath's: no empty, ``.`` or ``..`` component; ``.`` alone)."""
    import pathspec

    from scanner.exclude import _spec

    rel = "/".join(parts) or "."
    rel += "/" if is_dir else ""
    assert _spec(DEFAULT_EXCLUDE).match_file(rel) == pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDE).match_file(rel)

"""What discovery leaves out: the one answer to "is this path part of what the user means to audit?"

Like ruff, in this order:

- version-control directories (``.git``, ``.hg``, ``.svn``) are never walked;
- ``DEFAULT_EXCLUDE`` (dependencies, virtualenvs, caches, build output), replaced by ``exclude:``
  in ``.dkscan.yaml`` or ``--exclude`` on the command line, extended by ``extend-exclude:`` /
  ``--extend-exclude``; a directory holding ``pyvenv.cfg`` (a virtualenv) is excluded by default too;
- the files git ignores (``.gitignore`` files of the repository, ``info/exclude``; read with dulwich
  by ``scanner.gitview``, git is never run), unless ``respect-gitignore: false`` /
  ``--no-respect-gitignore``: the scan of a working copy then sees what a fresh clone in CI sees.

Patterns are gitignore-style globs (``pathspec.GitIgnoreSpec``, git's own matching: ``build`` matches a directory of
that name at any depth, ``deploy/*.yml`` is anchored), matched against the path relative to the
directory of the configuration file that gives them (the command line's: the working directory;
without a configuration file: the scan root). A file named on the command line is audited even
when excluded, unless ``force-exclude`` (``--force-exclude``), as in ruff.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", ".jj"})
DEFAULT_EXCLUDE = (
    ".direnv", ".eggs", ".git-rewrite", ".ipynb_checkpoints", ".mypy_cache", ".nox", ".pants.d",
    ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache", ".tox", ".venv", ".vscode", ".terraform",
    "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist", "node_modules",
    "site-packages", "venv", "*.egg-info",
)


_DEFAULT_NAMES = frozenset(p for p in DEFAULT_EXCLUDE if "*" not in p)
_DEFAULT_SUFFIXES = tuple(p[1:] for p in DEFAULT_EXCLUDE if p.startswith("*") and "*" not in p[1:])


class _DefaultSpec:
    """``pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDE)`` without importing pathspec (its import is
    most of a one-file audit's discovery cost). Every default pattern is a name without a slash (``build``)
    or ``*`` and a suffix (``*.egg-info``): git matches such a pattern against each component of the path,
    so a path matches when one of its components is a default name or ends with a default suffix.
    ``tests/test_exclude.py`` checks the two agree on generated paths."""

    __slots__ = ()

    @staticmethod
    def match_file(rel: str) -> bool:
        for part in rel.split("/"):
            if part in _DEFAULT_NAMES or part.endswith(_DEFAULT_SUFFIXES):
                return True
        return False


@lru_cache(maxsize=64)
def _spec(patterns: tuple[str, ...]):
    if patterns == DEFAULT_EXCLUDE:
        return _DefaultSpec()
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


class Excluder:
    """The exclusion of one scan: built from the policy (``exclude``, ``extend-exclude``,
    ``respect-gitignore``, ``force-exclude``, and the command line's layer in ``policy.cli``)."""

    def __init__(self, policy, root: Path):
        cli = (getattr(policy, "cli", None) or {}).get("files") or {}
        conf_dir = Path(policy.source).resolve().parent if getattr(policy, "source", None) else root
        cwd = Path.cwd().resolve()
        base = cli.get("exclude")
        if base is not None:
            sets = [(tuple(base), cwd)]
        else:
            conf = policy.get("exclude", None)
            sets = [(tuple(conf) if conf is not None else DEFAULT_EXCLUDE, conf_dir)]
        if policy.get("extend-exclude"):
            sets.append((tuple(policy.get("extend-exclude")), conf_dir))
        if cli.get("extend_exclude"):
            sets.append((tuple(cli["extend_exclude"]), cwd))
        self.sets = [(_spec(tuple(str(p) for p in pats)), anchor, pats is DEFAULT_EXCLUDE or tuple(pats) == DEFAULT_EXCLUDE)
                     for pats, anchor in sets if pats]
        self.defaults = any(d for _s, _a, d in self.sets)
        respect = cli.get("respect_gitignore")
        self.gitignore = bool(policy.get("respect-gitignore", True) if respect is None else respect)
        self.force = bool(cli.get("force_exclude") or policy.get("force-exclude", False))
        self.root = root
        self._git = None
        self._git_read = False
        self._tracked_dirs: set[str] | None = None

    def _match(self, path: str, is_dir: bool) -> bool:
        for spec, anchor, _default in self.sets:
            try:
                rel = os.path.relpath(path, anchor)
            except ValueError:
                rel = os.path.basename(path)
            if rel.startswith(".."):
                rel = os.path.basename(path)  # outside the anchor: judged by its name alone
            rel = rel.replace(os.sep, "/")
            if spec.match_file(rel + ("/" if is_dir else "")):
                return True
        return False

    def _git_view(self):
        if not self._git_read:
            self._git_read = True
            from . import gitview

            self._git = gitview.view(self.root)
        return self._git

    def excluded(self, path: str, is_dir: bool, named: bool = False) -> bool:
        """Whether discovery leaves ``path`` (absolute) out. ``named``: given on the command line."""
        name = os.path.basename(path)
        if is_dir and name in VCS_DIRS:
            return True
        if named and not self.force:
            return False
        if self._match(path, is_dir):
            return True
        if is_dir and self.defaults and os.path.exists(os.path.join(path, "pyvenv.cfg")):
            return True
        if self.gitignore:
            git = self._git_view()
            if git is not None and git.is_ignored(Path(path), directory=is_dir) and not self._tracked(git, path, is_dir):
                return True
        return False

    def _tracked(self, git, path: str, is_dir: bool) -> bool:
        """A file git tracks although an ignore pattern matches it (``git add -f``) is in the
        repository, so it is audited (a committed secret file is what the audit is for); so is
        an ignored directory holding one."""
        rel = git.rel(Path(path))
        if rel is None:
            return False
        if not is_dir:
            return rel in git.tracked
        if self._tracked_dirs is None:
            self._tracked_dirs = {d for t in git.tracked for d in _parents(t)}
        return rel in self._tracked_dirs


def _parents(rel: str):
    parts = rel.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])

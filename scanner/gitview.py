"""What git knows about the scanned tree, read without ever running git.

dkscan audits repositories written by strangers (pull requests in CI, pre-commit). Running the
``git`` program on such a tree hands it a configuration the attacker may control: a committed folder
shaped like a bare repository (``HEAD``, ``objects/``, ``refs/``, ``config``) is a repository to git,
and its ``core.fsmonitor``, ``core.hooksPath``, ``core.pager``, ``core.sshCommand``,
``diff.*.textconv``, ``filter.*`` or ``include.path`` run programs. So dkscan never starts git: this
module reads the two things the rules ask — which files are tracked, which are ignored — with dulwich,
a pure-Python implementation of git's formats, and reads no git configuration at all.

- The repository is found only by walking up from the scanned root to the nearest ``.git`` entry
  (a directory, or a ``gitdir:`` file as in worktrees and submodules); a directory is never taken
  for a bare repository, and ``GIT_DIR``/``GIT_WORK_TREE``/``GIT_INDEX_FILE`` are ignored (a
  ``.env`` file cannot set them either: dkscan never exports what it reads).
- Tracked files come from the index (``dulwich.index.Index``): a malformed, truncated or hostile
  index is "not a repository", never an error; an index larger than ``MAX_INDEX_BYTES`` is not read.
- Ignored files follow git's rules (``.gitignore`` in every directory from the top down, then
  ``info/exclude``, last match wins, an ignored directory hides its contents) through
  ``dulwich.ignore``, which opens ``.gitignore`` files without following symlinks. Unlike git, the
  user's global ``core.excludesFile`` is not consulted: it is configuration, and its answer would
  change with the machine.

dulwich is imported only when a rule asks a git question, so an audit outside git pays nothing.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from .plain import recursive_repr as _recursive_repr

MAX_INDEX_BYTES = 256 * 1024 * 1024
MAX_GITFILE_BYTES = 4096


class GitView:
    """A git work tree: its top, its git directory, the tracked paths (relative to the top)."""

    top: Path
    gitdir: Path
    tracked: frozenset[str]
    overlay: tuple[Path, Path] | None = None  # (original root, its private copy): read the copy's .gitignore files
    _ignores: object | None

    __match_args__ = ("top", "gitdir", "tracked", "overlay", "_ignores")

    def __init__(self, top, gitdir, tracked, overlay=None, _ignores=None):
        self.top = top
        self.gitdir = gitdir
        self.tracked = tracked
        self.overlay = overlay
        self._ignores = _ignores

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(top={self.top!r}, gitdir={self.gitdir!r}, tracked={self.tracked!r}, overlay={self.overlay!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.top, self.gitdir, self.tracked, self.overlay, self._ignores) == (other.top, other.gitdir, other.tracked, other.overlay, other._ignores)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    def rel(self, path: Path) -> str | None:
        """``path`` relative to the top of the work tree (posix), or None when it lies outside."""
        try:
            return translate(path).relative_to(self.top).as_posix()
        except ValueError:
            return None

    def is_tracked(self, path: Path) -> bool | None:
        rel = self.rel(path)
        if rel is None:
            return None
        return rel in self.tracked

    def is_ignored(self, path: Path, directory: bool = False) -> bool | None:
        """Whether git would ignore ``path`` (whether tracked or not: ``git check-ignore --no-index``)."""
        rel = self.rel(path)
        if rel is None or rel == ".":
            return None if rel is None else False
        try:
            return bool(self._manager().is_ignored(rel + ("/" if directory else "")))
        except (OSError, ValueError, RecursionError):
            return None

    def prefix(self, root: Path) -> str:
        """``root`` relative to the top, with a trailing slash ("" at the top): ``git rev-parse --show-prefix``."""
        rel = self.rel(root)
        if rel is None or rel == ".":
            return ""
        return rel + "/"

    def _manager(self):
        if self._ignores is None:
            from dulwich.ignore import IgnoreFilter, IgnoreFilterManager

            overlay = self.overlay

            class _Manager(IgnoreFilterManager):
                """dulwich's manager, reading each directory's ``.gitignore`` where it really is:
                inside ``dkscan fix``'s copy for the directories the copy holds (a fix may have
                changed it), opened without following a symlink, and at most MAX_IGNORE_BYTES."""

                def _load_path(self, path: str):
                    if path in self._path_filters:
                        return self._path_filters[path]
                    d = Path(self._top_path, path)
                    if overlay is not None and (d == overlay[0] or overlay[0] in d.parents):
                        d = overlay[1] / d.relative_to(overlay[0])
                    patterns = _read_nofollow(d / ".gitignore")
                    self._path_filters[path] = (IgnoreFilter(patterns, False, path=str(d / ".gitignore"))
                                                if patterns is not None else None)
                    return self._path_filters[path]

            globs = []
            exclude = _common_dir(self.gitdir) / "info" / "exclude"
            patterns = _read_nofollow(exclude)
            if patterns is not None:
                globs.append(IgnoreFilter(patterns, False, path=str(exclude)))
            self._ignores = _Manager(str(self.top), globs, False)
        return self._ignores


MAX_IGNORE_BYTES = 1024 * 1024


def _read_nofollow(path: Path) -> list[bytes] | None:
    """The pattern lines of an ignore file (None when absent, a symlink, or unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_IGNORE_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    from dulwich.ignore import read_ignore_patterns
    import io

    return list(read_ignore_patterns(io.BytesIO(data)))


_TRACKED: dict[tuple, tuple[Path, Path, frozenset[str]] | None] = {}
_ALIASES: dict[Path, Path] = {}  # a private copy of a tree -> the tree whose git view it borrows
_SYNTHETIC: dict[Path, frozenset[str]] = {}  # a tree that is no repository -> the files to call tracked


@contextmanager
def aliased(copy: Path, original: Path):
    """While in effect, ``copy`` (``dkscan fix``'s private copy of a stack) answers git questions as
    ``original`` does: tracked files are the original's, ``.gitignore`` files are read in the copy."""
    copy = Path(os.path.abspath(copy))
    _ALIASES[copy] = Path(os.path.abspath(original))
    try:
        yield
    finally:
        _ALIASES.pop(copy, None)


@contextmanager
def synthetic(top: Path, tracked: set[str]):
    """While in effect, ``top`` (``audit --diff-base``'s copy of the base commit's tree, which has no
    ``.git``) is a work tree whose tracked files are ``tracked`` (relative to ``top``); its own
    ``.gitignore`` files answer what is ignored."""
    top = Path(os.path.abspath(top))
    _SYNTHETIC[top] = frozenset(tracked)
    try:
        yield
    finally:
        _SYNTHETIC.pop(top, None)


def ignore_files(top: Path) -> GitView:
    """The ``.gitignore`` files under ``top`` read as git would once the folder is a repository
    (no tracked file, no ``info/exclude``): what a tree outside git says it keeps out of the
    repository (a stack copied out of its repository, a release tarball)."""
    top = Path(os.path.abspath(top))
    return GitView(top, top / ".git", frozenset())


def translate(path: Path) -> Path:
    """A path under an aliased copy, as the same path under its original."""
    p = Path(os.path.abspath(path))
    for copy, original in _ALIASES.items():
        if p == copy or copy in p.parents:
            return original / p.relative_to(copy)
    return p


def find_dotgit(start: Path) -> Path | None:
    """The nearest ``.git`` entry at or above ``start`` (not resolved: a symlink is not followed)."""
    d = Path(os.path.abspath(start))
    for cand in (d, *d.parents):
        g = cand / ".git"
        if os.path.lexists(g):
            return g
    return None


def _gitdir_of(dotgit: Path) -> Path | None:
    """The git directory a ``.git`` entry names: itself, or the target of a ``gitdir:`` file."""
    if os.path.isdir(dotgit):
        return dotgit
    try:
        with open(dotgit, "rb") as fh:
            head = fh.read(MAX_GITFILE_BYTES)
    except OSError:
        return None
    text = head.decode("utf-8", "replace").strip()
    if not text.startswith("gitdir:") or "\n" in text:
        return None
    target = Path(text[len("gitdir:"):].strip())
    if not target.is_absolute():
        target = dotgit.parent / target
    target = Path(os.path.abspath(target))
    return target if os.path.isdir(target) else None


def _common_dir(gitdir: Path) -> Path:
    """A worktree's git directory shares ``info/`` with the main one (its ``commondir`` file)."""
    try:
        with open(gitdir / "commondir", "rb") as fh:
            rel = fh.read(MAX_GITFILE_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return gitdir
    if not rel or "\n" in rel:
        return gitdir
    p = Path(rel) if os.path.isabs(rel) else gitdir / rel
    return Path(os.path.abspath(p)) if os.path.isdir(p) else gitdir


def view(root: Path) -> GitView | None:
    """The git view of the work tree holding ``root``; None outside git or when the index is unreadable.
    For ``dkscan fix``'s private copy of a stack (see ``alias``), the original's view, reading the
    copy's own ``.gitignore`` files."""
    root = Path(os.path.abspath(root))
    for top, tracked in _SYNTHETIC.items():
        if root == top or top in root.parents:
            return GitView(top, top / ".git", tracked)
    for copy, original in _ALIASES.items():
        if root == copy or copy in root.parents:
            base = _view(original / root.relative_to(copy))
            if base is None:
                return None
            return GitView(base.top, base.gitdir, base.tracked, overlay=(original, copy))
    # a new view each time (each Stack keeps its own): .gitignore files are read afresh, as git would
    return _view(root)


def _view(root: Path) -> GitView | None:
    """The tracked paths are cached on the ``.git`` entry and its index's identity (the index changes with
    every ``git add``): a monorepo's deployments share one read of the index."""
    dotgit = find_dotgit(root)
    if dotgit is None:
        return None
    gitdir = _gitdir_of(dotgit)
    if gitdir is None:
        return None
    index = gitdir / "index"
    try:
        st = os.stat(index)
        key = (str(dotgit), st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        st, key = None, (str(dotgit), None)
    if key in _TRACKED:
        hit = _TRACKED[key]
        return GitView(*hit) if hit is not None else None
    tracked: frozenset[str] = frozenset()
    ok = True
    if st is not None:
        if st.st_size > MAX_INDEX_BYTES:
            ok = False
        else:
            try:
                from dulwich.index import Index

                tracked = frozenset(p.decode("utf-8", "replace") for p in Index(str(index)))
            except Exception:  # noqa: BLE001 - any malformed index (dulwich raises many kinds) is "no repository"
                ok = False
    if len(_TRACKED) > 64:
        _TRACKED.clear()
    _TRACKED[key] = (dotgit.parent, gitdir, tracked) if ok else None
    return GitView(dotgit.parent, gitdir, tracked) if ok else None

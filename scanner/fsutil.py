"""Atomic writes: a temp file in the same directory, fsync, rename. A reader sees old or new.

A path that is not a regular file — ``/dev/null``, ``/dev/stdout``, a FIFO — is written directly:
renaming a temp file over it would replace the device or pipe with a regular file.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path


def shipped(*parts: str) -> Path:
    """A data file shipped inside the package (``scanner/data/...``): what
    ``importlib.resources.files("scanner").joinpath(...)`` gives for an installed package, without
    importing importlib.resources (zipfile, tempfile...)."""
    return Path(os.path.dirname(os.path.abspath(__file__)), "data", *parts)


def atomic_write(path: Path | str, data: str | bytes, mode: int | None = None) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically, keeping its mode (or ``mode``)."""
    binary = not isinstance(data, str)
    with atomic_open(path, mode, binary=binary) as fh:
        fh.write(data)


def _special(path: Path) -> bool:
    """``path`` exists and is neither a regular file nor a directory (device, FIFO, socket)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _mkstemp(directory: str, prefix: str, suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp(prefix=, suffix=, dir=)``: a new file only this process can read (0600),
    created exclusively (never an existing file or a symlink followed), with a random name; without
    importing tempfile (shutil, random, bz2, lzma), which a report write would otherwise be the only
    user of."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    for _ in range(10000):  # tempfile.TMP_MAX
        name = os.path.join(directory, prefix + os.urandom(6).hex() + suffix)
        try:
            return os.open(name, flags, 0o600), os.path.abspath(name)
        except FileExistsError:
            continue
    raise FileExistsError(f"no usable temporary file name in {directory}")


@contextmanager
def atomic_open(path: Path | str, mode: int | None = None, binary: bool = False):
    """A file (text as UTF-8, or ``binary``) to write ``path`` piece by piece, atomically: it is a
    temp file in the same directory until the ``with`` block ends without an exception, then it is
    fsynced, given ``path``'s mode (or ``mode``, or the umask's) and renamed over ``path``. On an
    exception the temp file is removed and ``path`` is untouched. For outputs too big to hold as one
    string. A device or FIFO is opened and written as it is."""
    path = Path(path)
    text_args = {} if binary else {"encoding": "utf-8", "newline": ""}
    if _special(path):
        with open(path, "wb" if binary else "w", **text_args) as fh:
            yield fh
        return
    directory = path.parent if str(path.parent) else Path(".")
    keep_mode = mode
    if keep_mode is None:
        try:
            keep_mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            keep_mode = None
    fd, tmp = _mkstemp(str(directory), f".{path.name}.", ".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **text_args) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if keep_mode is None:
            umask = os.umask(0)
            os.umask(umask)
            keep_mode = 0o666 & ~umask
        os.chmod(tmp, keep_mode)
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def read_limited(path: Path | str, limit: int) -> bytes:
    """A small input file a pull request can write (policy, baseline): a regular file of at most
    ``limit`` bytes, read without ever opening a FIFO or device. Raises OSError, or ValueError
    naming why (not a regular file, too large)."""
    import stat as _stat

    st = os.stat(path)
    if not _stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file")
    if st.st_size > limit:
        raise ValueError(f"larger than {limit} bytes")
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return data

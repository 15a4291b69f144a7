"""Atomic writes: a temp file in the same directory, fsync, rename. A reader sees old or new."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def atomic_write(path: Path | str, data: str | bytes, mode: int | None = None) -> None:
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    directory = path.parent if str(path.parent) else Path(".")
    keep_mode = mode
    if keep_mode is None:
        try:
            keep_mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            keep_mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_mode is not None:
            os.chmod(tmp, keep_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        try:
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextmanager
def atomic_open(path: Path | str, mode: int | None = None):
    """A text file (UTF-8) to write ``path`` piece by piece, atomically: it is a temp file in the
    same directory until the ``with`` block ends without an exception, then it is fsynced, given
    ``path``'s mode (or ``mode``, or the umask's) and renamed over ``path``. On an exception the temp
    file is removed and ``path`` is untouched. For outputs too big to hold as one string."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    keep_mode = mode
    if keep_mode is None:
        try:
            keep_mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            keep_mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
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

"""Atomic writes: a temp file in the same directory, fsync, rename. A reader sees old or new.

A path that is itself not a regular file — ``/dev/null``, a FIFO the user made — is written
directly: renaming a temp file over it would replace the device or pipe with a regular file. A
symbolic link is never written through (a repository can hold ``report.json -> /dev/sda`` or a link
to a FIFO nobody reads): the link itself is replaced atomically. The one exception is the system's
own descriptor links under ``/dev`` and ``/proc`` (``/dev/stdout``, ``/dev/fd/3``, the ``>(...)``
of a shell), which no repository writes. A FIFO is opened without blocking: with no process reading
it the write fails with an error (exit 2) instead of hanging.
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


_SYSTEM_LINKS = ("/dev/", "/proc/")


def _special(path: Path) -> bool:
    """``path`` is to be written as it is: it is a device, FIFO or socket itself (not through a
    symbolic link), or a descriptor link of the system (``/dev/stdout``) that leads to one."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        # /dev/stdout when stdout is a file is a link to that file: written through, never replaced
        return os.path.abspath(path).startswith(_SYSTEM_LINKS)
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


def _open_special(path: Path):
    """A write descriptor on a device or FIFO (a file behind a system link is appended to, as the
    descriptor it stands for writes); a FIFO with no reader is an error, not a hang."""
    import errno
    import fcntl
    import re

    m = re.fullmatch(r"/dev/std(out|err)|/dev/fd/([0-9]{1,4})|/proc/self/fd/([0-9]{1,4})", os.path.abspath(path))
    if m:  # the process's own descriptor: shared, so its offset moves with what is written
        num = {"out": 1, "err": 2}[m[1]] if m[1] else int(m[2] or m[3])
        return os.dup(num)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "no process is reading this FIFO") from None
        raise
    flags = fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK
    if stat.S_ISREG(os.fstat(fd).st_mode):
        flags |= os.O_APPEND
    fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    return fd


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
        with os.fdopen(_open_special(path), "wb" if binary else "w", **text_args) as fh:
            yield fh
        return
    directory = path.parent if str(path.parent) else Path(".")
    keep_mode = mode
    if keep_mode is None:
        try:
            st = os.lstat(path)  # a symbolic link is replaced: its target's mode is not asked
            keep_mode = st.st_mode & 0o7777 if stat.S_ISREG(st.st_mode) else None
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


class NotRegular(ValueError):
    """The path is a FIFO, socket, device or directory: never opened for reading."""

    def __init__(self) -> None:
        super().__init__("not a regular file")


class TooLarge(ValueError):
    """The file is over the byte limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.size = size


def read_limited(path: Path | str, limit: int) -> bytes:
    """A file a pull request can write: a regular file of at most ``limit`` bytes. The one read
    path for scanned bytes: opened non-blocking (a FIFO swapped in after a check cannot hang the
    open) and judged on the open descriptor, so a FIFO or device is never read. Raises OSError,
    or ValueError (``NotRegular``, ``TooLarge``) naming why. Containment in the scanned root is the
    caller's question (``scanner.stack.Stack.read_text`` asks it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular()
        if st.st_size > limit:
            raise TooLarge(st.st_size, limit)
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise TooLarge(len(data), limit)
    return data

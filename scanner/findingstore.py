"""A monorepo audit's findings and file texts, held in a private spill file instead of memory.

The pool's workers hand each deployment back in a compact form (``scanner.engine``): its findings
sorted and pickled per file, with their counts per (rule, severity), and its files' texts
compressed. The parent writes those bytes to an unnamed temporary file (``O_TMPFILE``: private to
the process, gone when it exits, however it exits) and keeps only an index — per file, where its
findings are and how many — and the totals the reports need before their items (counts, the
layer x severity matrix, the failing count). The reports then read the findings back in report
order, one file's at a time, so the parent holds one file's findings, not the monorepo's (a
1000-stack monorepo has ~190,000 findings: ~260 MB as objects in the parent).

Report order is ``Finding.sort_key`` order, whose first element is the path: the global order is
each file's findings in turn, files in path order — no merge of runs is needed. A file with
findings from two deployments (a file outside a deployment that two of them read) is settled when
the audit ends exactly as the in-memory audit does it: the deployments' findings in audit order,
deduplicated (``engine._dedupe``: the first of equal findings kept), then sorted (stable).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import Counter
from collections.abc import Sequence

from .model import Finding


class SpillFile:
    """Bytes appended to an unnamed temporary file, read back by (offset, length). ``os.pread``
    and ``os.pwrite`` never move a shared file offset, so forked renderers read it safely."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="dkscan-spill-")  # mode 0600, unlinked at once
        self._fd = self._file.fileno()
        self._end = 0

    def put(self, data: bytes) -> tuple[int, int]:
        at, view = self._end, memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self._end)
            self._end += n
            view = view[n:]
        return at, len(data)

    def get(self, at: int, length: int) -> bytes:
        parts = []
        while length > 0:
            chunk = os.pread(self._fd, length, at)
            if not chunk:
                raise OSError("dkscan: the spill file was truncated")
            parts.append(chunk)
            at += len(chunk)
            length -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self._file.close()


def pack_runs(findings: list[Finding]) -> list[tuple[str, int, bytes, tuple]]:
    """A deployment's findings as the pool hands them back: per file, in path order, (path, count,
    the findings sorted by ``sort_key`` and pickled, ((rule, severity or None), count)...)."""
    by_path: dict[str, list[Finding]] = {}
    for f in sorted(findings, key=Finding.sort_key):
        by_path.setdefault(f.location.path, []).append(f)
    return [(path, len(fs), pickle.dumps(fs, pickle.HIGHEST_PROTOCOL), tuple(Counter((f.rule, f.severity) for f in fs).items()))
            for path, fs in sorted(by_path.items())]


class FindingRuns(Sequence):
    """A sorted list of findings kept in a ``SpillFile``: iterated in report order one file's
    findings at a time; ``len``, ``tally`` (counts per (rule, severity or None)) and ``paths``
    without reading them. Indexing reads them all once and keeps them (a caller that wants a list);
    the reports only iterate."""

    def __init__(self, spill: SpillFile, dedupe: bool) -> None:
        self._spill = spill
        self._dedupe = dedupe
        self._index: dict[str, list[tuple[int, int, int]]] = {}  # path -> [(offset, length, count)], audit order
        self._paths: list[str] | None = None
        self._n = 0
        self._list: list[Finding] | None = None
        self.tally: Counter = Counter()

    # -- building (the audit) ------------------------------------------------------------------

    def add(self, runs) -> None:
        """One deployment's ``pack_runs``."""
        for path, count, blob, tally in runs:
            at, length = self._spill.put(blob)
            self._index.setdefault(path, []).append((at, length, count))
            self._n += count
            self.tally.update(dict(tally))

    def finish(self) -> None:
        """Files with findings from several deployments settled as the in-memory audit settles
        them (``scanner.engine._audit``: concatenated in audit order, deduplicated, sorted)."""
        from .engine import _dedupe

        for path, runs in self._index.items():
            if len(runs) == 1:
                continue
            found = [f for at, length, _n in runs for f in pickle.loads(self._spill.get(at, length))]
            kept = _dedupe(found) if self._dedupe else found
            kept.sort(key=Finding.sort_key)
            self.tally.subtract(Counter((f.rule, f.severity) for f in found))
            self.tally.update(Counter((f.rule, f.severity) for f in kept))
            self._n += len(kept) - len(found)
            at, length = self._spill.put(pickle.dumps(kept, pickle.HIGHEST_PROTOCOL))
            self._index[path] = [(at, length, len(kept))]
        self.tally = +self.tally  # drop the zero counts
        self._paths = sorted(self._index)

    # -- reading (the reports) -----------------------------------------------------------------

    def paths(self) -> list[str]:
        """The files that have findings, in report order."""
        return list(self._paths)

    def load(self, path: str) -> list[Finding]:
        """One file's findings, in report order."""
        at, length, _n = self._index[path][0]
        return pickle.loads(self._spill.get(at, length))

    def count(self, path: str) -> int:  # type: ignore[override]  # (Sequence.count counts a value)
        return self._index[path][0][2]

    def slices(self, size: int) -> list[tuple[int, list[str]]]:
        """The files in report order cut into consecutive slices of about ``size`` findings:
        (index of the slice's first finding, its files)."""
        out: list[tuple[int, list[str]]] = []
        start = n = 0
        paths: list[str] = []
        for path in self._paths:
            paths.append(path)
            n += self._index[path][0][2]
            if n - start >= size:
                out.append((start, paths))
                start, paths = n, []
        if paths:
            out.append((start, paths))
        return out

    def __iter__(self):
        if self._list is not None:
            yield from self._list
            return
        for path in self._paths:
            yield from self.load(path)

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __getitem__(self, i):
        if self._list is None:
            self._list = list(self)
        return self._list[i]

    def __add__(self, other) -> list[Finding]:
        return [*self, *other]

    def __radd__(self, other) -> list[Finding]:
        return [*other, *self]

    def __eq__(self, other) -> bool:
        return isinstance(other, (list, tuple, FindingRuns)) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<FindingRuns of {self._n} findings in {len(self._index)} files>"

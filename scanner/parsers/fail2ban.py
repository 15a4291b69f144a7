"""Fail2Ban jail configuration: ``jail.conf``, ``jail.local``, ``jail.d/*.conf``, ``jail.d/*.local``.

Fail2Ban reads these with its own ``configparser`` subclass; Python's ``configparser`` keeps no line
numbers, which every finding needs, so the INI grammar is read here by hand, the way Fail2Ban's
parser accepts it: ``[section]`` headers, ``key = value`` (or ``key: value``), continuation lines
indented under a key, ``#``/``;`` comment lines, and ``%(name)s`` interpolation from the same
section then ``[DEFAULT]``. What configparser rejects (a key before any section, a line that is
neither) is a ``ParseError``.

``merge`` applies Fail2Ban's override order — ``jail.conf`` < ``jail.d/*.conf`` < ``jail.local`` <
``jail.d/*.local`` (each group alphabetical), ``[DEFAULT]`` then the jail's own section — and keeps,
for every effective value, the file and line that set it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from .base import Document, ParseError
from ..lazyre import LazyRe
from ..plain import FACTORY as _FACTORY

__all__ = ["Entry", "Fail2banDocument", "Jail", "parse", "merge", "order_key", "duration_seconds"]

_SECTION = LazyRe(r"^\[([^\]]+)\][ \t]*(?:[#;].*)?$")
_KEY = LazyRe(r"^([^\s=:#;\[][^=:]*)[=:][ \t]*(.*)$")  # the key's blanks stripped in code (linear)


class Entry:
    key: str
    value: str
    path: str
    line: int
    col: int
    value_col: int
    end_line: int
    end_col: int

    __match_args__ = ("key", "value", "path", "line", "col", "value_col", "end_line", "end_col")

    def __init__(self, key, value, path, line, col, value_col, end_line, end_col):
        self.key = key
        self.value = value
        self.path = path
        self.line = line
        self.col = col
        self.value_col = value_col
        self.end_line = end_line
        self.end_col = end_col


class Section:
    name: str
    line: int
    entries: dict[str, Entry]

    __match_args__ = ("name", "line", "entries")

    def __init__(self, name, line, entries=_FACTORY):
        self.name = name
        self.line = line
        self.entries = dict() if entries is _FACTORY else entries


@dataclass(repr=False)
class Fail2banDocument(Document):
    comments: list = field(default_factory=list)  # (line, text after the comment mark): suppressions
    sections: list[Section] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None


def parse(text: str, rel: str) -> Fail2banDocument:
    doc = Fail2banDocument(rel, text)
    doc.comments = [(n, ln.strip()[1:].strip()) for n, ln in enumerate(text.splitlines(), 1)
                    if ln.strip()[:1] in "#;" and ln.strip()[:1] and not ln.strip().startswith('### tuple')]
    cur: Section | None = None
    last: Entry | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if raw[:1] in (" ", "\t") and last is not None:
            last.value = (last.value + "\n" + stripped).strip()
            last.end_line, last.end_col = n, len(raw.rstrip()) + 1
            continue
        m = _SECTION.match(stripped)
        if m:
            name = m.group(1).strip()
            existing = next((s for s in doc.sections if s.name == name), None)
            if existing is not None:
                doc.errors.append(ParseError(f"fail2ban: section [{name}] already exists (line {existing.line})", n, 1))
                cur = existing
            else:
                cur = Section(name, n)
                doc.sections.append(cur)
            last = None
            continue
        m = _KEY.match(raw)
        if not m or raw[:1] in (" ", "\t"):
            doc.errors.append(ParseError(f"fail2ban: cannot read line: {stripped[:40]!r}", n, len(raw) - len(raw.lstrip()) + 1))
            last = None
            continue
        if cur is None:
            doc.errors.append(ParseError("fail2ban: a setting before any [section]", n, 1))
            last = None
            continue
        key = m.group(1).strip().lower()
        value = re.sub(r"(?<![ \t])[ \t]+[#;].*$", "", m.group(2)).strip()  # (from a blank run's start: linear)
        value_col = raw.find(m.group(2)) + 1 if m.group(2) else len(raw) + 1
        if key in cur.entries and cur.entries[key].path == rel:
            doc.errors.append(ParseError(f"fail2ban: option {key!r} in section [{cur.name}] already exists (line {cur.entries[key].line})", n, 1))
        last = Entry(key, value, rel, n, 1, value_col, n, len(raw.rstrip()) + 1)
        cur.entries[key] = last
    return doc


# --------------------------------------------------------------------------------------------
# merging
# --------------------------------------------------------------------------------------------


def order_key(rel: str) -> tuple | None:
    """Fail2Ban's reading order of a jail file; None for a file that is not one."""
    d, name = posixpath.split(rel)
    base = posixpath.basename(d)
    if name == "jail.conf":
        return (0, posixpath.dirname(rel), name)
    if base == "jail.d" and name.endswith(".conf"):
        return (1, posixpath.dirname(d), name)
    if name == "jail.local":
        return (2, posixpath.dirname(rel), name)
    if base == "jail.d" and name.endswith(".local"):
        return (3, posixpath.dirname(d), name)
    return None


class Jail:
    """An effective jail: [DEFAULT] merged under the jail's own settings, every file in order."""

    name: str
    header: Entry  # where the jail's section starts (the last file that names it)
    values: dict[str, Entry]
    defaults: dict[str, Entry]

    __match_args__ = ("name", "header", "values", "defaults")

    def __init__(self, name, header, values, defaults):
        self.name = name
        self.header = header
        self.values = values
        self.defaults = defaults

    def get(self, key: str) -> Entry | None:
        return self.values.get(key) or self.defaults.get(key)

    def raw(self, key: str, default: str | None = None) -> str | None:
        e = self.get(key)
        return e.value if e is not None else default

    def value(self, key: str, default: str | None = None, depth: int = 0) -> str | None:
        """The value with ``%(name)s`` interpolated from the jail, then [DEFAULT]."""
        v = self.raw(key, default)
        if v is None or depth > 8:
            return v

        def sub(m: re.Match) -> str:
            inner = self.value(m.group(1).lower(), "", depth + 1)
            return inner or ""

        return re.sub(r"%\(([^)]{1,256})\)s", sub, v)  # (a bounded name: `%(%(%(…` is linear)

    @property
    def enabled(self) -> bool:
        return (self.value("enabled", "false") or "").strip().lower() in ("true", "yes", "1", "on")


def merge(docs: list[Fail2banDocument]) -> dict[str, Jail]:
    """The effective jails of a set of Fail2Ban files, one directory tree's files in Fail2Ban's order."""
    ordered = sorted((d for d in docs if order_key(d.path) is not None), key=lambda d: order_key(d.path))
    defaults: dict[str, Entry] = {}
    jails: dict[str, tuple[Entry, dict[str, Entry]]] = {}
    for d in ordered:
        for s in d.sections:
            if s.name == "DEFAULT":
                defaults.update(s.entries)
            elif s.name not in ("INCLUDES", "Definition", "Init"):
                header = Entry("[" + s.name + "]", "", d.path, s.line, 1, 1, s.line, len(s.name) + 3)
                prev = jails.get(s.name)
                vals = dict(prev[1]) if prev else {}
                vals.update(s.entries)
                jails[s.name] = (header, vals)
    return {name: Jail(name, h, v, defaults) for name, (h, v) in jails.items()}


_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400,
          "w": 604800, "week": 604800, "mo": 2592000, "y": 31536000, "year": 31536000}


_DURATION_PART = LazyRe(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")


def duration_seconds(text: str | None) -> int | None:
    """Fail2Ban's time abbreviations: ``600``, ``10m``, ``1h 30m``, ``1d``, ``-1`` (permanent)."""
    if text is None:
        return None
    t = text.strip().lower()
    if re.fullmatch(r"-?[0-9]{1,18}", t):
        return int(t)
    total = 0
    pos = 0
    while pos < len(t):  # each part where the last one ended (a search from every blank was quadratic)
        m = _DURATION_PART.match(t, pos)
        if m is None:
            return None
        unit = m.group(2)
        mult = next((v for k, v in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])) if unit.startswith(k)), None)
        if mult is None:
            return None
        try:
            total += int(float(m.group(1)) * mult)
        except (OverflowError, ValueError):  # 1e999 seconds, 5,000 digits: no duration
            return None
        pos = m.end()
    return total if pos == len(t) and pos else None

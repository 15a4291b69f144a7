"""nginx's own security advisories: which ones a version of nginx is exposed to (GW094).

The table is ``scanner/data/nginx_cves.json``, transcribed from https://nginx.org/en/security_advisories.html
(its source URL and snapshot date are in the file). Each advisory names inclusive vulnerable ranges and
the first fixed release of each branch ("Not vulnerable: 1.21.0+, 1.20.1+"): a version is exposed
when it lies in a range and is not at or above the fixed release of its own ``major.minor`` branch.
Advisories about a module or a protocol (``feature``: the resolver, HTTP/2, HTTP/3, mp4, mail) only
matter when the configuration uses it: :func:`features` reads that from the configurations.

Written here because the comparison is three integers and the table is nginx's own; no library
holds nginx's advisories (gixy's is a plugin inside its analyser, not an importable table).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

from scanner.fsutil import shipped
from scanner.plain import frozen_error as _frozen, recursive_repr as _recursive_repr

FEATURES = ("resolver", "http2", "http3", "mp4", "mail")
FEATURE_NAMES = {"resolver": "the resolver", "http2": "HTTP/2", "http3": "HTTP/3 (QUIC)", "mp4": "the mp4 module",
                 "mail": "the mail proxy"}
LATEST = 10**6  # a missing tag component floats to the latest release of its line


Version = tuple[int, int, int]


def version3(parts: Iterable[int]) -> Version:
    """A version as three integers; missing components (a partial tag such as ``1.20``) are the latest."""
    p = tuple(parts)[:3]
    return tuple(p + (LATEST,) * (3 - len(p)))  # type: ignore[return-value]


def _v(text: str) -> Version:
    return version3(int(x) for x in text.split("."))


class Advisory:
    cves: tuple[str, ...]
    title: str
    ranges: tuple[tuple[Version, Version], ...]
    fixed: tuple[Version, ...]
    feature: str | None

    __match_args__ = ("cves", "title", "ranges", "fixed", "feature")

    def __init__(self, cves, title, ranges, fixed, feature):
        object.__setattr__(self, "cves", cves)
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "feature", feature)

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(cves={self.cves!r}, title={self.title!r}, ranges={self.ranges!r}, fixed={self.fixed!r}, feature={self.feature!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.cves, self.title, self.ranges, self.fixed, self.feature) == (other.cves, other.title, other.ranges, other.fixed, other.feature)
        return NotImplemented

    def __hash__(self):
        return hash((self.cves, self.title, self.ranges, self.fixed, self.feature))

    def __setattr__(self, name, value):
        if type(self) is Advisory or name in ("cves", "title", "ranges", "fixed", "feature"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Advisory, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Advisory or name in ("cves", "title", "ranges", "fixed", "feature"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Advisory, self).__delattr__(name)

    def affects(self, v: Version) -> bool:
        """``v`` lies in a vulnerable range and its branch has no fixed release at or below it."""
        if not any(lo <= v <= hi for lo, hi in self.ranges):
            return False
        return not any(f[:2] == v[:2] and v >= f for f in self.fixed)

    def fix_for(self, v: Version) -> Version | None:
        """The fixed release of ``v``'s own branch, or None when the branch got none."""
        return next((f for f in self.fixed if f[:2] == v[:2]), None)


class Table:
    source: str
    snapshot: str
    advisories: tuple[Advisory, ...]

    __match_args__ = ("source", "snapshot", "advisories")

    def __init__(self, source, snapshot, advisories):
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "snapshot", snapshot)
        object.__setattr__(self, "advisories", advisories)

    @_recursive_repr()
    def __repr__(self):
        return f"{self.__class__.__qualname__}(source={self.source!r}, snapshot={self.snapshot!r}, advisories={self.advisories!r})"

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.source, self.snapshot, self.advisories) == (other.source, other.snapshot, other.advisories)
        return NotImplemented

    def __hash__(self):
        return hash((self.source, self.snapshot, self.advisories))

    def __setattr__(self, name, value):
        if type(self) is Table or name in ("source", "snapshot", "advisories"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(Table, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is Table or name in ("source", "snapshot", "advisories"):
            raise _frozen(f"cannot delete field {name!r}")
        super(Table, self).__delattr__(name)


def parse_table(raw: dict) -> Table:
    advisories = []
    for a in raw["advisories"]:
        feature = a.get("feature")
        if feature is not None and feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}")
        advisories.append(Advisory(tuple(a["cves"]), str(a["title"]), tuple((_v(lo), _v(hi)) for lo, hi in a["vulnerable"]),
                                   tuple(_v(f) for f in a["fixed"]), feature))
    return Table(str(raw["source"]), str(raw["snapshot"]), tuple(advisories))


@lru_cache(maxsize=1)
def table() -> Table:
    """The shipped table (``scanner/data/nginx_cves.json``)."""
    return parse_table(json.loads(shipped("nginx_cves.json").read_text(encoding="utf-8")))


def exposed(v: Version, used: set[str] | None, tab: Table | None = None) -> list[Advisory]:
    """The advisories version ``v`` is exposed to; ``used`` is the set of :data:`FEATURES` the
    configuration uses (None: unknown, module advisories are then not judged)."""
    tab = tab or table()
    return [a for a in tab.advisories if a.affects(v) and (a.feature is None or (used is not None and a.feature in used))]


def features(configs) -> set[str]:
    """Which of :data:`FEATURES` the nginx configurations use: a ``resolver``; ``http2 on`` or ``http2``
    on a ``listen``; ``http3 on``/``http3_hq on`` or ``quic`` on a ``listen``; ``mp4``; a ``mail`` block."""
    used: set[str] = set()
    for cfg in configs:
        for n in cfg.nodes("resolver", "listen", "http2", "http3", "http3_hq", "mp4", "mail"):
            args = [str(a).lower() for a in n.args]
            if n.name in ("resolver", "mp4", "mail"):
                used.add(n.name)
            elif n.name == "listen":
                used.update(feature for word, feature in (("http2", "http2"), ("quic", "http3")) if word in args)
            elif args[:1] == ["on"]:
                used.add("http2" if n.name == "http2" else "http3")
    return used


def fixed_target(v: Version, advisories: Iterable[Advisory]) -> Version | None:
    """The smallest release of ``v``'s branch that fixes every advisory, or None when one of them
    has no fix on the branch (the branch must change)."""
    target = v
    for a in advisories:
        f = a.fix_for(v)
        if f is None:
            return None
        target = max(target, f)
    return target


def show(v: Version) -> str:
    return ".".join(str(x) for x in v if x != LATEST)

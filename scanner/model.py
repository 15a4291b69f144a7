"""The vocabulary every part of dkscan shares: severities, layers, locations, fixes and findings.

All of them are frozen dataclasses: a finding never changes once a rule yields it; the filter step
(``scanner.engine``) only ever removes findings or replaces them with an adjusted copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator


class CoreRule:
    """The rule ids core code reports itself (discovery, parsers, the engine, suppressions), defined
    once: ``rules/operational/files.py`` and ``rules/operational/suppressions.py`` register them
    with these constants and the core emits them by name."""

    UNREADABLE = "OPS080"  # a file of the stack could not be read
    REJECTED = "OPS081"  # a file its server would reject (parse error)
    RULE_FAILED = "OPS082"  # a rule raised: its findings are missing
    SUPPRESSION_INVALID = "OPS083"
    SUPPRESSION_UNUSED = "OPS084"
    SUPPRESSION_EXPIRED = "OPS085"
    PARSE = (UNREADABLE, REJECTED)  # the findings of files that could not be (fully) read


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use critical, high, medium, low or info)") from None

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def sarif_level(self) -> str:
        return {4: "error", 3: "error", 2: "warning"}.get(int(self), "note")

    @property
    def security_severity(self) -> str | None:
        return {4: "9.5", 3: "8.0", 2: "5.5", 1: "2.0"}.get(int(self))


class Layer(str, enum.Enum):
    PERIMETER = "perimeter"
    GATEWAY = "gateway"
    API = "api"
    APPLICATION = "application"
    DATA = "data"
    OPERATIONAL = "operational"
    PERFORMANCE = "performance"

    @classmethod
    def for_rule_id(cls, rule_id: str) -> "Layer":
        prefix = rule_id.rstrip("0123456789")
        if prefix == "LIVE":  # `dkscan probe`: the layer is fixed per range (rules catalog, LIVE)
            number = int(rule_id[4:])
            return next(layer for top, layer in _LIVE_RANGES if number <= top)
        return _PREFIX_LAYER[prefix]


_PREFIX_LAYER = {
    "PER": Layer.PERIMETER,
    "GW": Layer.GATEWAY,
    "API": Layer.API,
    "APP": Layer.APPLICATION,
    "DATA": Layer.DATA,
    "OPS": Layer.OPERATIONAL,
    "PERF": Layer.PERFORMANCE,
}
# LIVE001-019 TLS and certificates, 020-039 headers and redirects (gateway), 040-059 reachability
# (perimeter), 060-079 API behaviour (api)
_LIVE_RANGES = ((39, Layer.GATEWAY), (59, Layer.PERIMETER), (79, Layer.API))
LAYER_ORDER = list(Layer)


@dataclass(frozen=True, order=True, slots=True)
class Location:
    """A span in a file. ``path`` is relative to the scanned root (POSIX separators).

    Lines and columns are 1-based; ``end_col`` is exclusive. A location of something *missing*
    points at the block that lacks it, so there is always a ``start_line``.
    """

    path: str
    start_line: int = 1
    start_col: int = 1
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return self.path if self.is_url else f"{self.path}:{self.start_line}:{self.start_col}"

    @property
    def is_url(self) -> bool:
        """An absolute URL rather than a file (``dkscan probe``: the probed URL a finding relates to); a
        normalised relative path never holds ``://``."""
        return "://" in self.path


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the text between ``location``'s start and end by ``new_text``.

    An insertion has the same start and end. ``secret=True`` marks text generated for a secret: it
    is written to the file but shown as ``<generated>`` in every diff and report.
    """

    location: Location
    new_text: str
    secret: bool = False


SAFE = "safe"
UNSAFE = "unsafe"


@dataclass(frozen=True, slots=True)
class Fix:
    """A fix for a finding: a description and the edits that apply it."""

    description: str
    edits: tuple[Edit, ...]
    # "safe" | "unsafe". Declared once, by the rule (``@rule(fix=...)``): a rule leaves it out and
    # the engine fills it in; a fix that states one different from its rule's is refused there.
    applicability: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a rule found, at a location."""

    rule: str
    location: Location
    message: str
    fix: Fix | None = None
    related: tuple[Location, ...] = ()
    severity: Severity | None = None  # None: the rule's own severity
    snippet_key: str = ""  # normalized text used for the stable fingerprint (never a secret)
    suppressed: str | None = None  # reason, when an inline suppression or config ignore applies
    baselined: bool = False

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.path, loc.start_line, loc.start_col, self.rule, self.message)


def hit(location: Location, message: str, *, fix: Fix | None = None,
        related: Iterable[Location] = (), snippet_key: str = "") -> Finding:
    """What a rule yields: a finding whose rule id the engine fills in."""
    return Finding(rule="", location=location, message=message, fix=fix,
                   related=tuple(related), snippet_key=snippet_key)


@dataclass(frozen=True)
class Rule:
    """A registered rule: its metadata, its check function and its documentation."""

    id: str
    name: str
    layer: Layer
    severity: Severity
    title: str
    files: tuple[str, ...]
    references: tuple[str, ...]
    fix: str  # "safe" | "unsafe" | "manual"
    check: Callable[..., Iterator[Finding]] = field(compare=False, repr=False)
    doc: str = ""
    precision: str = "high"

    @property
    def cwe(self) -> tuple[str, ...]:
        return tuple(r for r in self.references if r.startswith("CWE-"))

    @property
    def cross_file(self) -> bool:
        return any("+" in f for f in self.files)

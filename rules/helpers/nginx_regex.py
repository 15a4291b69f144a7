"""What a validation regex of nginx lets through: the Origin/Referer regexes (GW088, GW089) and a
location's path regexes, expanded to the hosts and paths they accept."""

from __future__ import annotations

import re._constants as _C  # Python 3.11+

from rules.helpers.nginx_proxy import (
    UNIVERSE,
    chars_of,
    item_chars,
    literal_alternatives,
    parse_regex,
)
from scanner.plain import frozen_error as _frozen


def blocks_all(loc) -> bool:
    """A location that answers every request with an error, a redirect or nothing."""
    for c in loc.children:
        if c.name == "return":
            return True
        if c.name == "deny" and c.args[:1] == ["all"] and not any(x.name == "allow" for x in loc.children):
            return True
    return False


# --------------------------------------------------------------------------------------------
# origin / referer allow-lists: which hosts does a regex accept?
# --------------------------------------------------------------------------------------------

_MAX_PATHS = 96
_MULTI_SUFFIXES = {"co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.jp", "ne.jp",
                   "com.br", "com.tr", "co.nz", "co.za", "com.cn", "com.mx", "co.in", "com.ar", "com.ua",
                   "co.kr", "com.sg", "com.hk", "co.il", "com.pl", "com.ru"}


class _Wild:
    """A regex unit that matches a set of characters (once, or repeated)."""

    chars: frozenset
    can_empty: bool
    single: bool = False  # one character (`.`, `[a-z]`), not a repetition

    __match_args__ = ("chars", "can_empty", "single")

    def __init__(self, chars, can_empty, single=False):
        object.__setattr__(self, "chars", chars)
        object.__setattr__(self, "can_empty", can_empty)
        object.__setattr__(self, "single", single)

    def __setattr__(self, name, value):
        if type(self) is _Wild or name in ("chars", "can_empty", "single"):
            raise _frozen(f"cannot assign to field {name!r}")
        super(_Wild, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is _Wild or name in ("chars", "can_empty", "single"):
            raise _frozen(f"cannot delete field {name!r}")
        super(_Wild, self).__delattr__(name)


def _expand(items, icase) -> list[list]:
    """The pattern as alternative sequences of units: a char, '^', '$' or a _Wild."""
    paths: list[list] = [[]]
    for op, av in items:
        name = str(op)
        alts: list[list]
        single = item_chars(op, av, icase)
        if name == "LITERAL":
            alts = [[chr(av).lower()]]
        elif name == "IN" and single is not None and len({c.lower() for c in single}) == 1 and all(str(s) == "LITERAL" for s, _ in av):
            alts = [[next(iter(single)).lower()]]
        elif single is not None:
            alts = [[_Wild(single, False, True)]]
        elif name == "AT":
            at = str(av)
            if at in ("AT_BEGINNING", "AT_BEGINNING_STRING"):
                alts = [["^"]]
            elif at in ("AT_END", "AT_END_STRING"):
                alts = [["$"]]
            else:
                alts = [[]]
        elif name == "SUBPATTERN":
            alts = _expand(av[-1], icase)
        elif name == "ATOMIC_GROUP":
            alts = _expand(av, icase)
        elif name == "BRANCH":
            alts = []
            for b in av[1]:
                alts.extend(_expand(b, icase))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            if hi == 1 and lo in (0, 1):
                inner = _expand(sub, icase)
                alts = ([[]] if lo == 0 else []) + inner
            elif hi != _C.MAXREPEAT and lo == hi and hi <= 3 and literal_alternatives(sub):
                inner = _expand(sub, icase)
                alts = [sum([i] * hi, []) for i in inner]
            else:
                alts = [[_Wild(chars_of(sub, icase), lo == 0)]]
        elif name in ("ASSERT", "ASSERT_NOT"):
            alts = [[]]
        else:
            alts = [[_Wild(UNIVERSE, True)]]
        new = []
        for p in paths:
            for a in alts:
                new.append(p + a)
                if len(new) >= _MAX_PATHS:
                    break
            if len(new) >= _MAX_PATHS:
                break
        paths = new
    return paths


def _host_flaw(host: list, referer: bool) -> str | None:
    """Why the host part (units between the scheme and its terminator) admits a foreign host."""
    wild_idx = [i for i, u in enumerate(host) if isinstance(u, _Wild)]
    if not wild_idx:
        return None if host else "the host part is empty"
    if referer:
        first_lit = next((i for i, u in enumerate(host) if isinstance(u, str)), len(host))
        for i in wild_idx:
            if i < first_lit and "/" in host[i].chars:
                return "a wildcard before the domain can contain `/`, so `https://evil.example/x.<domain>/` matches"
    last = wild_idx[-1]
    suffix = "".join(host[last + 1:])
    if not suffix:
        return "a wildcard ends the host, so `<domain>.evil.example` matches"
    if suffix.startswith("."):
        rest = suffix[1:]
    elif "." in suffix:
        rest = suffix.split(".", 1)[1]
    else:
        rest = ""
    labels = [x for x in rest.split(".")]
    if len(labels) < 2 or rest in _MULTI_SUFFIXES:
        if any(not isinstance(u, _Wild) for u in host[:last]) and host[last].single and host[last].chars == UNIVERSE - {"\n"}:
            return "an unescaped `.` in the domain matches any character, so a look-alike domain matches"
        return f"a wildcard right before `{suffix}` lets a foreign domain such as `evil{suffix}` match"
    return None


def origin_regex_flaw(regex: str, icase: bool, referer: bool) -> str | None:
    """Why an allow-list regex on ``$http_origin`` (or ``$http_referer``) accepts a foreign
    site, or None when it accepts only the hosts it names (or cannot be read)."""
    parsed = parse_regex(regex, icase)
    if parsed is None:
        return None
    for path in _expand(list(parsed), icase):
        reason = _path_flaw(path, referer)
        if reason:
            return reason
    return None


def _path_flaw(units: list, referer: bool) -> str | None:
    if not units or units[0] != "^":
        return "not anchored with `^`, so the trusted URL may appear anywhere in a foreign one"
    n = len(units)
    sep = None
    for j in range(1, n - 2):
        if units[j] == ":" and units[j + 1] == "/" and units[j + 2] == "/":
            sep = j
            break
    if sep is not None:
        if any(isinstance(u, _Wild) for u in units[1:sep]):
            return "a wildcard before the scheme lets any text precede `https://`"
        start = sep + 3
    else:
        start = 1
    # a wildcard that may be empty: judge both ways
    host: list = []
    term = None
    k = start
    while k < n:
        u = units[k]
        if u == "$" or u in ("/", ":", "?", "#"):
            term = u
            break
        if u == "^":
            return "a `^` inside the pattern"
        host.append(u)
        k += 1
    if term is None:
        return "nothing ends the host (no `$`, `/` or port after it), so `<domain>.evil.example` matches"
    if not referer and "$" not in units[k:]:
        return "no `$` at the end: an Origin is only scheme, host and port"
    variants = [host]
    for i, u in enumerate(host):
        if isinstance(u, _Wild) and u.can_empty:
            variants.append(host[:i] + host[i + 1:])
    for h in variants[:8]:
        reason = _host_flaw(h, referer)
        if reason:
            return reason
    return None

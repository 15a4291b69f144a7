"""Which rules run, and at which severity: ruff's rule selection, for dkscan's rules.

A *selector* is ``ALL``, a layer name (``gateway``), a layer's id prefix (``GW``), an id prefix
with digits (``DATA04``: DATA040-DATA049), a rule id (``GW032``) or a rule name (``jwt-alg-none``),
case-insensitive. ``select``/``extend-select``/``ignore``/``extend-ignore`` (``disable`` is the older
name of ``ignore``) come from two layers: the configuration file, then the command line. As in ruff:

- the enabled set starts as every rule; a layer that sets ``select`` starts over from nothing
  (a command-line ``--select`` replaces the configuration's selection, ignores included);
- within a layer, selectors apply from the least specific to the most specific (``ALL`` <
  ``GW``/``gateway`` < ``GW0`` < ``GW03`` < ``GW032``/rule name), and at the same specificity an
  ignore beats a select: ``--select GW --ignore GW032`` and ``--ignore GW --select GW032`` both mean
  what they say.

Severity overrides (``severity:`` in the configuration, ``--severity SELECTOR=LEVEL`` on the
command line) use the same selectors; the more specific one wins, the command line over the file.

An unknown selector is an error naming the closest valid ones (``difflib``): a typo in a
security policy must never silently turn a rule off — or leave it on.

Hand-written because no library resolves ruff-style selectors over a registry of our own.
"""

from __future__ import annotations

from typing import Iterable

from .config import ConfigError
from .lazyre import LazyRe

KEYS = ("select", "extend-select", "ignore", "extend-ignore")
_ID = LazyRe(r"([A-Z]+)(\d*)")
_RULE_SPECIFICITY = 100


class SelectionError(ConfigError):
    """An unknown selector (the message names the closest valid ones)."""


def split(values: Iterable) -> list[str]:
    """Comma-separated lists and repeated values, flattened: ``["GW032,GW023", "api"]``."""
    out: list[str] = []
    for v in values or ():
        if not isinstance(v, str):
            continue  # mappings of the config's ``ignore:`` (suppressions with a reason) are not selectors
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def _vocabulary(rules) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(rule name -> id, layer/prefix word -> ids)."""
    names = {r.name.lower(): r.id for r in rules.values()}
    groups: dict[str, list[str]] = {}
    for r in rules.values():
        if not r.id.startswith("LIVE"):  # probe rules: a layer word (``api``) means the audit's rules
            groups.setdefault(r.layer.value.upper(), []).append(r.id)
        groups.setdefault(_ID.fullmatch(r.id).group(1), []).append(r.id)
    return names, groups


def resolve(selector: str, rules, where: str = "") -> tuple[set[str], int]:
    """The rule ids a selector stands for, and its specificity. Raises SelectionError."""
    token = selector.strip()
    up = token.upper()
    names, groups = _vocabulary(rules)
    if up == "ALL":
        return set(rules), 0
    if up in rules:
        return {up}, _RULE_SPECIFICITY
    if token.lower() in names:
        return {names[token.lower()]}, _RULE_SPECIFICITY
    if up in groups:
        return set(groups[up]), 1
    m = _ID.fullmatch(up)
    if m and m.group(2) and m.group(1) in groups:
        prefix, digits = m.groups()
        ids = {i for i in groups[prefix] if _ID.fullmatch(i).group(1) == prefix and _ID.fullmatch(i).group(2).startswith(digits)}
        if ids:
            return ids, 1 + len(digits)
    raise SelectionError(unknown_message(token, rules, where))


def unknown_message(token: str, rules, where: str = "") -> str:
    import difflib

    names, groups = _vocabulary(rules)
    vocab = {**{i: i for i in rules}, **{n.upper(): n for n in names}, **{g: g.lower() if len(g) > 4 else g for g in groups}}
    close = difflib.get_close_matches(token.upper(), list(vocab), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(vocab[c] for c in close)}?" if close else "; see `dkscan rules`"
    return f"unknown rule selector {token!r}{' in ' + where if where else ''}{hint}"


def _layers(policy) -> list[tuple[str, dict]]:
    cfg = {
        "select": split(policy.get("select", [])) or None,
        "extend-select": split(policy.get("extend-select", [])),
        "ignore": split(policy.get("disable", [])) + split(policy.get("ignore", [])),
        "extend-ignore": split(policy.get("extend-ignore", [])),
    }
    cli = getattr(policy, "cli", None) or {}
    return [(f"{policy.source or 'the configuration'} ({{key}})", cfg),
            ("--{key}", {k: split(cli.get(k, [])) or (None if k == "select" else []) for k in KEYS})]


def enabled(policy, rules) -> set[str]:
    """The ids of the rules that run under ``policy`` (configuration, then command line)."""
    on = set(rules)
    unknown: list[str] = []  # every unknown selector is named, not only the first
    for where, layer in _layers(policy):
        if layer["select"] is not None:
            on = set()
        steps: list[tuple[int, int, set[str]]] = []  # (specificity, 0 select / 1 ignore, ids)
        for key, kind in (("select", 0), ("extend-select", 0), ("ignore", 1), ("extend-ignore", 1)):
            for sel in layer[key] or ():
                try:
                    ids, spec = resolve(sel, rules, where.format(key=key))
                except SelectionError as exc:
                    unknown.append(str(exc))
                    continue
                steps.append((spec, kind, ids))
        for _spec, kind, ids in sorted(steps, key=lambda s: (s[0], s[1])):
            if kind == 0:
                on |= ids
            else:
                on -= ids
    _raise(unknown)
    return on


def _raise(unknown: list[str]) -> None:
    if len(unknown) == 1:
        raise SelectionError(unknown[0])
    if unknown:
        raise SelectionError(f"{len(unknown)} unknown rule selectors:\n  " + "\n  ".join(unknown))


def severity_overrides(policy, rules) -> dict:
    """Rule id -> Severity, from ``severity:`` then ``--severity`` (more specific wins)."""
    from .model import Severity

    out = {}
    unknown: list[str] = []
    cli = (getattr(policy, "cli", None) or {}).get("severity", {}) or {}
    for where, table in ((f"{policy.source or 'the configuration'} (severity)", policy.get("severity", {}) or {}),
                         ("--severity", cli)):
        steps = []
        for sel, level in table.items():
            try:
                ids, spec = resolve(str(sel), rules, where)
            except SelectionError as exc:
                unknown.append(str(exc))
                continue
            steps.append((spec, ids, Severity.parse(level)))
        for _spec, ids, sev in sorted(steps, key=lambda s: s[0]):
            for i in ids:
                out[i] = sev
    _raise(unknown)
    return out


def check(policy, rules) -> None:
    """Raise SelectionError naming every unknown selector of ``policy`` (CLI and configuration)."""
    unknown = []
    for step in (enabled, severity_overrides):
        try:
            step(policy, rules)
        except SelectionError as exc:
            unknown.extend(line.strip() for line in str(exc).splitlines() if line.startswith(("unknown", "  ")))
    _raise(unknown)

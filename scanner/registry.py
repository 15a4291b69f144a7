"""Rule registration, bandit-style: a rule is a plain function with a decorator.

    @rule("PER001", "internal-port-published", "high", files="compose",
          refs="CWE-668; CIS 5.14", fix="unsafe")
    def internal_port_published(stack):
        '''A data service publishes its port on every interface.

        ## What it does ...
        '''
        yield hit(location, "message")

The docstring's first line is the rule's title; the whole docstring is its documentation
(``dkscan explain``, SARIF ``help``). Ids and names come from the rule catalog.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from .model import Layer, Rule, Severity

_RULES: dict[str, Rule] = {}
_LOADED = False

LAYER_MODULES = ("perimeter", "gateway", "api", "application", "data", "operational", "performance")
LIVE_MODULES = ("live",)  # `dkscan probe`'s rules (rules/live/): run by the probe, silent under audit


def _rule_modules() -> list[str]:
    """``rules/<layer>/<family>.py``: every module of the seven layer packages, and of ``rules/live/``
    (the probe's rules). ``rules/helpers/`` is the helper layer and defines no rule."""
    import pkgutil

    out = []
    for package in LAYER_MODULES + LIVE_MODULES:
        pkg = importlib.import_module(f"rules.{package}")
        out += sorted(f"rules.{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    return out


def rule(rule_id: str, name: str, severity: str, *, files: str, refs: str = "", fix: str = "manual",
         precision: str = "high") -> Callable:
    def register(func: Callable) -> Callable:
        doc = inspect.cleandoc(func.__doc__ or "")
        if not doc:
            raise ValueError(f"rule {rule_id} has no docstring")
        if rule_id in _RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        if fix not in ("safe", "unsafe", "manual"):
            raise ValueError(f"rule {rule_id}: fix must be safe, unsafe or manual")
        _RULES[rule_id] = Rule(
            id=rule_id,
            name=name,
            layer=Layer.for_rule_id(rule_id),
            severity=Severity.parse(severity),
            title=doc.splitlines()[0].strip().rstrip("."),
            files=tuple(f.strip() for f in files.split(",")),
            references=tuple(r.strip() for r in refs.split(";") if r.strip()),
            fix=fix,
            check=func,
            doc=doc,
            precision=precision,
        )
        func.rule_id = rule_id
        return func

    return register


def load_rules() -> dict[str, Rule]:
    """Import every rule module once and return the registry, ordered by layer then id."""
    global _LOADED
    if not _LOADED:
        for mod in _rule_modules():
            importlib.import_module(mod)
        _LOADED = True
    order = {layer: i for i, layer in enumerate(Layer)}
    return dict(sorted(_RULES.items(), key=lambda kv: (order[kv[1].layer], kv[0])))


def audit_rules() -> dict[str, Rule]:
    """The rules ``dkscan audit`` runs and reports on: all but the probe's LIVE rules (they judge a
    running gateway; an audit's SARIF or JUnit must not list them as checked)."""
    return {k: v for k, v in load_rules().items() if not k.startswith("LIVE")}


def probe_rules() -> dict[str, Rule]:
    """The rules ``dkscan probe`` runs and reports on: the LIVE rules, and OPS082 (a rule that raised)."""
    rules = load_rules()
    return {k: v for k, v in rules.items() if k.startswith("LIVE") or k == "OPS082"}


def get_rule(rule_id: str) -> Rule | None:
    return load_rules().get(rule_id.upper())

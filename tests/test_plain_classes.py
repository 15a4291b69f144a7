"""The plain classes written out in place of dataclasses (scanner/plain.py) keep the contract of one.

A plain class declares its fields as class annotations and writes out ``__init__`` and
``__match_args__``: a field added to one and not the others, or a default that differs, is caught here,
for every class in ``scanner/`` and ``rules/`` written this way. (``dataclasses.replace`` does not
take a plain class: the nginx parser's one call on ``ParseError`` was rewritten when it became one.)
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _plain_classes():
    for path in sorted([*ROOT.joinpath("scanner").rglob("*.py"), *ROOT.joinpath("rules").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            names = {t.id for s in node.body if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)}
            if "__match_args__" in names and not node.decorator_list:
                mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                yield pytest.param(mod, node.name, id=f"{mod}.{node.name}")


PLAIN = list(_plain_classes())


def test_the_written_out_classes_are_found():
    assert len(PLAIN) >= 40, len(PLAIN)


@pytest.mark.parametrize("mod,name", PLAIN)
def test_fields_init_and_match_args_agree(mod, name):
    cls = getattr(importlib.import_module(mod), name)
    fields = [k for k, v in inspect.get_annotations(cls).items() if "ClassVar" not in str(v)]
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    names = [p.name for p in params]
    assert names == [f for f in fields if f in names], "the __init__ parameters are annotated fields, in their order"
    # a field __init__ does not take (a dataclass's init=False field) has a class default or is set by
    # __post_init__; every field __init__ takes is matched by position, as a dataclass's
    for f in fields:
        if f not in names:
            assert f in vars(cls) or "__post_init__" in vars(cls), f
    assert list(cls.__match_args__) == names
    for p in params:  # a field with a plain default on the class has the same default in __init__
        if p.default is not inspect.Parameter.empty and p.name in vars(cls) and not callable(vars(cls)[p.name]):
            assert vars(cls)[p.name] == p.default, p.name


"""Locations of positioned values (YAML nodes, nginx directives, dotenv entries), and small text helpers."""

from __future__ import annotations

from scanner.lazyre import LazyRe  # noqa: F401 - the rules' LazyRe (one class, in scanner/lazyre.py)
from scanner.model import Location
from scanner.parsers.yamlnodes import YNode


def yloc(path: str, node: YNode | None) -> Location:
    """Location of a YAML node (a value, key or block)."""
    if node is None:
        return Location(path, 1, 1)
    return Location(path, node.line, node.col, node.end_line, node.end_col)


def svc_loc(svc) -> Location:
    """A compose service's key line (``nginx:`` under ``services:``): where missing things point."""
    return yloc(svc.doc.path, svc.key)


def svc_value_loc(svc, node: YNode | None) -> Location:
    return yloc(svc.doc.path, node) if node is not None else svc_loc(svc)


def nloc(node, cfg=None) -> Location:
    """Where an nginx directive is written: the one answer (``Node.location`` of a
    ``scanner.stack.Node``, ``Directive.location`` of a parser directive). A synthetic root (a
    fragment's top level, no directive of its own) is line 1 of ``cfg``'s file: pass ``cfg`` where
    a rule may point at one."""
    if cfg is not None and node.d is None:
        return Location(cfg.doc.path, 1, 1)
    return node.location


def env_loc(doc, entry) -> Location:
    """Location of a dotenv entry's key."""
    return Location(doc.path, entry.line, entry.col)


def env_value_loc(doc, entry) -> Location:
    return Location(doc.path, entry.value_line, entry.value_col, entry.end_line, entry.end_col)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")

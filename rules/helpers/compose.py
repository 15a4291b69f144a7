"""Compose knowledge the rules share: a service's span in the file, text edits on the original
compose file (insert, delete, replace a scalar), image references, builds, mounts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.locations import svc_loc, yloc
from scanner.model import Edit, Location
from scanner.parsers.yamlnodes import YMap, YNode, YScalar

if TYPE_CHECKING:
    from scanner.stack import Stack

# ---------------------------------------------------------------------------------------------
# Compose helpers: where things are, and minimal text edits
# ---------------------------------------------------------------------------------------------


def service_span(svc) -> tuple[int, int]:
    """First and last line of a service's block (its key line to the end of its mapping)."""
    end = svc.node.end_line
    if svc.node.end_col == 1 and end > svc.key.line:
        end -= 1
    return svc.key.line, max(end, svc.key.line)


def in_service(svc, node: YNode | None) -> bool:
    """True when ``node`` is written inside the service's block (not reached through an alias or a
    ``<<`` merge key from elsewhere in the file): only then is a text edit there local to it."""
    if node is None:
        return False
    first, last = service_span(svc)
    return first < node.line <= last


def service_node_loc(svc, node: YNode | None) -> Location:
    """The node's location when it is written in the service, else the service key."""
    return yloc(svc.doc.path, node) if in_service(svc, node) else svc_loc(svc)


def unknown_vars(node: YNode | None) -> bool:
    """The scalar uses a ``${VAR}`` no interpolation source defines (and with no default)."""
    for ref in getattr(node, "vars", None) or []:
        if not ref.defined and not ref.has_default and ref.op not in ("+", ":+"):
            return True
    return False


def indent_width(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def child_indent(doc, key_line: int, last_line: int | None = None) -> str | None:
    """Indentation of the block under the mapping key on ``key_line`` (the first non-blank,
    non-comment line after it), or None when the value is not a block mapping."""
    key_text = doc.line_text(key_line)
    code = re.sub(r"(?<!\s)\s+#.*$", "", key_text).rstrip()  # (a blank run from its start: linear)
    if not re.search(r":(\s+&\S+)?$", code):
        return None  # a flow collection, a scalar or an alias follows the key
    n = len(doc.lines)
    last = min(last_line or n, n)
    for line in range(key_line + 1, last + 1):
        text = doc.line_text(line)
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if indent_width(text) > indent_width(key_text) and not stripped.startswith("-"):
            return " " * indent_width(text)
        return None
    return None


def insert_in_service(svc, lines: list[str]) -> Edit | None:
    """An insertion of ``lines`` (each a ``key: value`` line, relative indentation kept) as new keys
    of the service, right after its key line."""
    indent = child_indent(svc.doc, svc.key.line, service_span(svc)[1])
    if indent is None:
        return None
    text = "".join(f"{indent}{line}\n" for line in lines)
    return Edit(Location(svc.doc.path, svc.key.line + 1, 1), text)


def insert_under_key(doc, key_node: YScalar, lines: list[str], last_line: int | None = None) -> Edit | None:
    """An insertion of ``lines`` as new children of the block mapping whose key is ``key_node``."""
    indent = child_indent(doc, key_node.line, last_line)
    if indent is None:
        return None
    return Edit(Location(doc.path, key_node.line + 1, 1), "".join(f"{indent}{line}\n" for line in lines))


def delete_lines(doc, first: int, last: int) -> Edit:
    """Delete whole lines ``first``..``last`` (1-based, inclusive)."""
    n = len(doc.lines)
    if last >= n and not doc.text.endswith("\n") and first > 1:
        prev = doc.line_text(first - 1)
        return Edit(Location(doc.path, first - 1, len(prev) + 1, last, len(doc.line_text(last)) + 1), "")
    return Edit(Location(doc.path, first, 1, last + 1, 1), "")


def scalar_text_span(doc, node: YScalar) -> tuple[int, int, int] | None:
    """(line, first col, end col) of a single-line scalar's raw text (inside its quotes)."""
    if not isinstance(node, YScalar) or node.raw is None:
        return None
    if node.end_line != node.line:
        return None
    text = doc.line_text(node.line)
    start = node.col - 1 + (1 if node.style in ("'", '"') else 0)
    raw = node.raw
    if node.style == "'":
        raw = raw.replace("'", "''")
    if text[start:start + len(raw)] != raw:
        return None
    return node.line, start + 1, start + 1 + len(raw)


def replace_scalar(doc, node: YScalar, new_text: str) -> Edit | None:
    """Replace a single-line scalar (quotes included) by ``new_text``."""
    if not isinstance(node, YScalar) or node.end_line != node.line:
        return None
    if node.style in ("|", ">"):
        return None
    return Edit(Location(doc.path, node.line, node.col, node.line, node.end_col), new_text)


def truthy(node: YNode | None) -> bool:
    return isinstance(node, YScalar) and (node.value is True or str(node.value).strip().lower() in ("true", "yes", "on", "1"))


def image_parts(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference: ``ghcr.io:443/a/b:1.2@sha256:…``."""
    ref = ref.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:], digest
    return ref, None, digest


def image_base(ref: str) -> str:
    """``postgres`` for ``docker.io/library/postgres:16-alpine``."""
    return image_parts(ref)[0].rsplit("/", 1)[-1].lower()


DATA_ROLES = ("postgres", "redis", "minio", "nats")
"""The roles of the services that keep data (the one list the container rules use)."""


def image_ref(stack: Stack, svc) -> str:
    """The image a service runs, as written: its ``image:``, else the ``FROM`` of the final stage of
    the Dockerfile it builds ('' when neither says)."""
    if svc.image:
        return svc.image
    df = stack.service_dockerfile(svc)
    stage = df.final_stage if df is not None else None
    return (stage.image or "") if stage is not None else ""


def service_builds(stack: Stack) -> dict[int, list]:
    """id(Dockerfile document) -> compose services that build it."""
    out: dict[int, list] = {}
    for svc in stack.services:
        df = stack.service_dockerfile(svc)
        if df is not None:
            out.setdefault(id(df), []).append(svc)
    return out


_SEP_WORDS = {"&&", "||", ";", "|", "&", "(", ")", "{", "}", "then", "do", "else", "!"}


def mount_loc(svc, m) -> Location:
    """Where a mount finding points: the short-syntax item, or the long syntax's ``source``."""
    node = m.node
    if isinstance(node, YMap) and isinstance(node.get("source"), YScalar):
        node = node.get("source")
    return service_node_loc(svc, node)


def _stage_of(doc, ins):
    for s in doc.stages:
        if s.instructions and s.instructions[0].line <= ins.line <= s.instructions[-1].end_line:
            return s
    return None

"""Operational, file validity (OPS086): compose files the Compose Specification rejects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.locations import yloc
from scanner.model import Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar, YSeq
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def _names(node) -> list:
    """(name, node) of a list of names or of a mapping's keys (``depends_on``, ``networks``...)."""
    if isinstance(node, YSeq):
        out = []
        for item in node:
            if isinstance(item, YScalar) and item.value is not None:
                out.append((str(item), item))
            elif isinstance(item, YMap) and isinstance(item.get("source"), YScalar):
                out.append((str(item.get("source")), item.get("source")))
        return out
    if isinstance(node, YMap):
        return [(str(k.raw), k) for k, _v in node.pairs()]
    return []


def _declared(root: YMap, key: str) -> set[str] | None:
    node = root.get(key)
    if node is None:
        return set()
    return set(node.items) if isinstance(node, YMap) else None  # None: not a mapping (the schema's finding)


def _reference_errors(doc):
    """(node, message) for each reference compose's loader refuses in a merged project: a
    ``depends_on``, ``networks``, named volume, ``secrets`` or ``configs`` entry naming nothing declared."""
    root = doc.root
    if not isinstance(root, YMap) or not isinstance(root.get("services"), YMap):
        return
    services = set(root.get("services").items)
    declared = {k: _declared(root, k) for k in ("networks", "volumes", "secrets", "configs")}
    for name, (_k, svc) in root.get("services").items.items():
        if not isinstance(svc, YMap):
            continue
        for dep, node in _names(svc.get("depends_on")):
            if dep not in services:
                yield node, f"service '{name}' depends on '{dep}', which is no service of the project"
        mode = svc.str("network_mode") or ""
        if mode.startswith("service:") and mode[8:] not in services:
            yield svc.get("network_mode"), f"service '{name}' uses the network of '{mode[8:]}', which is no service of the project"
        nets = declared["networks"]
        if nets is not None:
            for net, node in _names(svc.get("networks")):
                if net != "default" and net not in nets:
                    yield node, f"service '{name}' joins network '{net}', which the top-level networks: does not declare"
        vols = declared["volumes"]
        if vols is not None:
            for item in svc.get("volumes") if isinstance(svc.get("volumes"), YSeq) else ():
                source, node = _named_volume(item)
                if source is not None and source not in vols:
                    yield node, f"service '{name}' mounts volume '{source}', which the top-level volumes: does not declare"
        for key in ("secrets", "configs"):
            known = declared[key]
            if known is None:
                continue
            for ref, node in _names(svc.get(key)):
                if ref not in known:
                    yield node, f"service '{name}' uses {key[:-1]} '{ref}', which the top-level {key}: does not declare"


def _named_volume(item):
    """(volume name, node) of a service's volume entry that names a volume (not a path), else (None, None)."""
    if isinstance(item, YScalar) and isinstance(item.value, str):
        parts = item.value.split(":")
        if len(parts) >= 2 and parts[0] and not parts[0].startswith((".", "/", "~", "$", "\\")) and not (
                len(parts[0]) == 1 and parts[0].isalpha()):
            return parts[0], item
    elif isinstance(item, YMap) and (item.str("type") or "") == "volume":
        src = item.get("source")
        if isinstance(src, YScalar) and src.value:
            return str(src), src
    return None, None


@rule("OPS086", "compose-schema-invalid", "high", files="compose", refs="Compose schema", fix="manual")
def compose_schema_invalid(stack: Stack):
    """A compose file breaks the Compose Specification: docker compose refuses it.

    ## What it does
    Validates every compose file, after `${VAR}` interpolation and before the project's files are
    merged, against the Compose Specification JSON schema shipped inside dkscan
    (compose-spec/compose-spec `schema/compose-spec.json`, Apache-2.0): an unknown top-level or
    service key (custom keys must start with `x-`), a value of the wrong type, a long-syntax
    volume without `type`, a list where a mapping belongs. It adds the short syntax compose's
    loader parses (`ports`: `[IP:][HOST:]CONTAINER[/PROTOCOL]`, ports 1–65535; `volumes`:
    `[SOURCE:]TARGET[:MODE]` with an absolute target) and, on the merged project, the references
    the loader refuses: `depends_on`, `network_mode: service:`, `networks`, named volumes,
    `secrets` and `configs` naming nothing declared. One finding per error, at the offending key
    or value. Other rules' findings on a broken node stand down: they would judge a value compose
    never loads. YAML syntax errors stay OPS081's.

    ## Why is this bad?
    `docker compose up` stops with a validation error: the release does not start, and the audit
    of a file compose rejects describes a stack that will never run. A misspelt key
    (`enviroment:`, `read-only:`) is worse: where compose ignored it in older versions, the
    setting the team believes in is not applied.

    ## Example
    ```yaml
    services:
      api:
        image: ghcr.io/acme/api:1.4.2
        read-only: true          # unknown key: read_only
        volumes:
          - source: uploads      # long syntax without `type`
            target: /srv/uploads
    ```

    ## Use instead
    ```yaml
        read_only: true
        volumes:
          - type: volume
            source: uploads
            target: /srv/uploads
    ```

    ## Fix safety
    Manual: what the author meant is not always clear.

    ## References
    Compose Specification (compose-spec/compose-spec, `schema/compose-spec.json`); `docker compose config`.
    """
    for rel, sf in sorted(stack.files.items()):
        if sf.kind != "compose" or sf.doc is None:
            continue
        for err in getattr(sf.doc, "schema_errors", ()) or ():
            yield hit(Location(rel, err.line, err.col), f"{err.message}: docker compose refuses to load {rel}",
                      snippet_key=err.message)
    for doc in stack.compose_docs:
        for node, message in _reference_errors(doc):
            yield hit(yloc(doc.path, node), f"{message}: docker compose refuses to load the project", snippet_key=message)

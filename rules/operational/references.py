"""Operational, compose references family: the files compose reads at load or build time exist."""

from __future__ import annotations

import os
import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import yloc
from scanner.model import hit
from scanner.parsers.yamlnodes import YMap, YScalar, YSeq
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

_TEMPLATE_SIBLINGS = (".example", ".sample", ".dist", ".template")
_REMOTE = LazyRe(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/)", re.I)


def _references(doc):
    """(what, path, node, is_env_file) of every relative path compose reads for ``doc``."""
    for svc in doc.services.values():
        for path, required, node in svc.env_files:
            if required:
                yield f"service '{svc.name}' env_file", path, node, True
        build = svc.build
        ctx = svc.build_context
        if build is not None and ctx and not _REMOTE.match(ctx):
            ctx_node = build if isinstance(build, YScalar) else build.get("context") if isinstance(build, YMap) else None
            if ctx_node is not None:
                yield f"service '{svc.name}' build context", ctx, ctx_node, False
            dockerfile = svc.build_dockerfile
            if dockerfile and isinstance(build, YMap):
                yield (f"service '{svc.name}' build.dockerfile", posixpath.join(ctx, dockerfile),
                       build.get("dockerfile"), False)
        extends = svc.get("extends")
        if isinstance(extends, YMap) and extends.str("file"):
            yield f"service '{svc.name}' extends.file", extends.str("file"), extends.get("file"), False
    for section in ("secrets", "configs"):
        top = doc.top(section)
        if isinstance(top, YMap):
            for name, (_k, entry) in top.items.items():
                if isinstance(entry, YMap) and entry.str("file"):
                    yield f"{section[:-1]} '{name}' file", entry.str("file"), entry.get("file"), False
    include = doc.top("include")
    if isinstance(include, YSeq):
        for item in include:
            paths = [item] if isinstance(item, YScalar) else []
            if isinstance(item, YMap):
                p = item.get("path")
                paths = [p] if isinstance(p, YScalar) else [x for x in p if isinstance(x, YScalar)] if isinstance(p, YSeq) else []
            for node in paths:
                if node.value is not None:
                    yield "include", str(node), node, False


def _ignored(stack: Stack, rel: str) -> bool:
    """``rel`` is kept out of the repository: git ignores it or, outside git (a copy of the stack),
    the stack's own ``.gitignore`` files say so (the file is created on the server)."""
    if stack.in_git:
        return bool(stack.git_ignored(rel) or stack.git_ignored(rel + "/"))
    from scanner.gitview import ignore_files

    view = stack.memo("gitview.ignore_files", lambda: ignore_files(stack.root))
    return any(view.is_ignored(stack.root / p, directory=d) for p, d in ((rel, False), (rel, True)))


@rule("OPS067", "compose-reference-missing", "high", files="compose", refs="Compose specification; Compose env_file docs",
      fix="manual")
def compose_reference_missing(stack: Stack):
    """A file compose reads at load or build time is missing from the repository.

    ## What it does
    Flags a relative path compose must read that does not exist beside the compose file: a
    required `env_file` (not `required: false`), `build.context`, `build.dockerfile` within the
    context, `secrets.*.file`, `configs.*.file`, `extends.file` and top-level `include`.
    `.gitignore`d paths (created on the server) and env files with a template sibling
    (`.env.prod.example`: the real one is written at deploy time) are exempt; remote build
    contexts (git URLs) and paths with unresolved variables are not judged. Missing bind-mount
    sources are OPS062's.

    ## Why is this bad?
    `docker compose up` refuses to start the whole project (`env file ... not found`, `unable to
    prepare context: path ... not found`, `secret file ... does not exist`): the deployment the
    repository describes cannot run as committed.

    ## Example
    ```yaml
    services:
      api: {build: ./api, env_file: .env.production}   # neither ./api nor .env.production exist
    ```

    ## Use instead
    Commit the file or fix the path; for an env file written on the server, commit a
    `.env.production.example` or mark it `required: false`.

    ## Fix safety
    Manual.

    ## References
    Compose specification (env_file, build, secrets, configs, extends, include); Compose env_file docs.
    """
    for doc in stack.compose_docs:
        base = posixpath.dirname(doc.path)
        seen = set()
        for what, path, node, is_env in _references(doc):
            if not path or "$" in path or path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", path):
                continue
            rel = posixpath.normpath(posixpath.join(base, path))
            if rel.startswith("..") or (posixpath.dirname(rel) and stack.local(posixpath.dirname(rel)) is None):
                continue  # outside the repository: never looked at (its existence would be an oracle)
            full = os.path.normpath(os.path.join(str(stack.root), rel))
            # an entry of the repository, a link included (lexists: its target is not asked)
            if os.path.lexists(full) or (what, rel) in seen:
                continue
            seen.add((what, rel))
            if _ignored(stack, rel):
                continue
            if is_env and any(os.path.lexists(full + s) for s in _TEMPLATE_SIBLINGS):
                continue
            yield hit(yloc(doc.path, node), f"{what} {path} does not exist: `docker compose up` refuses to start the project",
                      snippet_key=f"{what}:{path}")

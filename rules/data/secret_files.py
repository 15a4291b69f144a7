"""Data, secret files family (DATA001-DATA003): dotenv files of real secrets committed to git, one `git add .`
away from it, or readable by other users of the host."""

from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING

from rules.helpers.locations import yloc
from rules.helpers.secrets import (
    gitignore_fix,
    real_secret_entries,
)
from scanner.model import Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar
from scanner.registry import rule
from scanner.secretcheck import (
    placeholder,
    provider_token,
    value_dotenvs,
)
from scanner.secrets import is_reference

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# DATA001-DATA003: the dotenv file itself (git, permissions)
# --------------------------------------------------------------------------------------------


def _secret_dotenvs(stack: Stack):
    """(SourceFile, real secret entries) for every dotenv the value rules read that holds real secrets."""
    docs = {id(d) for d in value_dotenvs(stack)}
    for sf in sorted(stack.sources("env"), key=lambda s: s.rel):
        if id(sf.doc) not in docs:
            continue
        entries = real_secret_entries(sf.doc)
        if entries:
            yield sf, entries


def _compose_secret_files(stack: Stack):
    """(compose doc, kind, name, file node, rel path) for compose ``secrets:``/``configs:`` file sources."""
    for doc in stack.compose_docs:
        for section in ("secrets", "configs"):
            top = doc.top(section)
            if not isinstance(top, YMap):
                continue
            for name, (_k, spec) in top.items.items():
                if not isinstance(spec, YMap):
                    continue
                node = spec.get("file")
                if not isinstance(node, YScalar) or not node.value or str(node).startswith(("/", "~", "$")):
                    continue
                rel = posixpath.normpath(posixpath.join(posixpath.dirname(doc.path), str(node)))
                if rel.startswith(".."):
                    continue
                yield doc, section, name, node, rel


def _file_holds_secret(stack: Stack, section: str, rel: str) -> bool:
    sf = stack.files.get(rel)
    if sf is not None and sf.kind == "env" and sf.doc is not None:
        return bool(real_secret_entries(sf.doc))
    text = stack.read_text(rel, 1_000_000)
    if text is None:
        return False
    if section == "configs":
        return provider_token(text) is not None
    value = text.strip()
    return bool(value) and not placeholder(value) and not is_reference(value)


@rule("DATA001", "env-file-tracked", "critical", files="env+compose+git", refs="CWE-540")
def env_file_tracked(stack: Stack):
    """A file of real secrets is committed to git.

    ## What it does
    Flags a dotenv file the stack reads (not a template such as `.env.example`), or a compose
    `secrets:`/`configs:` source file, that holds real secret values (not empty, not a `${VAR}`
    reference, not a placeholder) and is tracked by git.

    ## Why is this bad?
    Everyone with read access to the repository, every clone, fork, CI cache and backup holds the
    production credentials, and `git rm` does not remove them from history.

    ## Example
    ```sh
    $ git ls-files
    .env.prod          # POSTGRES_PASSWORD=..., JWT_SECRET=...
    ```

    ## Use instead
    Commit a `.env.example` with empty or placeholder values; keep `.env.prod` out of git
    (`.gitignore`) and deliver it through your secret store or deployment tooling.

    ## Fix safety
    Manual: `git rm --cached` the file, add it to `.gitignore`, and rotate every secret it held
    (they stay in history).

    ## References
    CWE-540.
    """
    if not stack.in_git:
        return
    for sf, _entries in _secret_dotenvs(stack):
        if stack.git_tracked(sf.rel):
            yield hit(Location(sf.rel, 1, 1),
                      f"{sf.rel} holds real secret values and is tracked by git: untrack it and rotate every secret in it",
                      snippet_key=sf.rel)
    for doc, section, name, node, rel in _compose_secret_files(stack):
        if stack.git_tracked(rel) and _file_holds_secret(stack, section, rel):
            yield hit(yloc(doc.path, node),
                      f"{section[:-1]} '{name}' reads {rel}, which holds a secret and is tracked by git",
                      related=[Location(rel, 1, 1)], snippet_key=f"{section}:{name}")


@rule("DATA002", "env-file-not-ignored", "high", files="env+git", refs="CWE-538", fix="safe")
def env_file_not_ignored(stack: Stack):
    """A production dotenv file is one `git add .` away from being committed.

    ## What it does
    Flags a dotenv file with real secrets that git does not track yet but no `.gitignore` rule
    matches.

    ## Why is this bad?
    The next `git add -A` or `git commit -a` publishes every credential in it to everyone with
    access to the repository, and to its history forever.

    ## Example
    ```sh
    $ git status --short
    ?? .env.prod
    ```

    ## Use instead
    ```gitignore
    /.env.prod
    ```

    ## Fix safety
    Safe: appends the file to the `.gitignore` at the scanned root.

    ## References
    CWE-538.
    """
    if not stack.in_git:
        return
    for sf, _entries in _secret_dotenvs(stack):
        if stack.git_tracked(sf.rel) is False and stack.git_ignored(sf.rel) is False:
            yield hit(Location(sf.rel, 1, 1),
                      f"{sf.rel} holds real secret values and no .gitignore rule excludes it",
                      fix=gitignore_fix(stack, sf.rel), snippet_key=sf.rel)


@rule("DATA003", "env-file-permissions", "low", files="env", refs="CWE-732", fix="safe")
def env_file_permissions(stack: Stack):
    """A dotenv file holding secrets is readable by other users of the host.

    ## What it does
    Flags a non-template dotenv file with real secret values whose mode gives any permission to the
    group or to others (`mode & 077 != 0`). POSIX filesystems only.

    ## Why is this bad?
    Every local account, and every process running as another user (a compromised web server, a
    backup agent), can read the production credentials.

    ## Example
    ```sh
    -rw-r--r-- 1 deploy deploy 7969 .env.prod
    ```

    ## Use instead
    ```sh
    chmod 600 .env.prod
    ```

    ## Fix safety
    Safe: `chmod 600` on the file (the fix carries no text edit: `dkscan fix` must change the mode).

    ## References
    CWE-732.
    """
    if os.name != "posix":
        return
    for sf, _entries in _secret_dotenvs(stack):
        mode = sf.mode & 0o777
        if sf.mode and mode & 0o077:
            yield hit(Location(sf.rel, 1, 1),
                      f"{sf.rel} holds secrets and has mode {mode:03o}: group/others can read it",
                      fix=Fix(f"chmod 600 {sf.rel}", ()), snippet_key=sf.rel)

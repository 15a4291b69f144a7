"""Application, Dockerfile hygiene family (APP034, APP038, APP044, APP045): ADD of local files, pipes without
pipefail, instructions that do not do what they seem to, wasted space and build time."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.compose import service_builds, truthy
from rules.helpers.dockerfile import (
    env_refs,
    copy_sources,
    ins_loc,
    pip_install,
    run_cmds,
    run_text,
    stage_chain,
)
from rules.helpers.locations import LazyRe
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.lz", ".tlz", ".tar.lzma",
             ".tar.z", ".taz", ".tar.zst", ".tzst", ".gz", ".bz2", ".xz", ".lz", ".lzma", ".z", ".zst")


@rule("APP034", "add-local-file", "info", files="dockerfile",
      refs="DL3020; KICS add_instead_of_copy; CKV_DOCKER_4", fix="safe")
def add_local_file(stack: Stack):
    """`ADD` copies a local file that is not an archive.

    ## What it does
    Flags an `ADD` whose sources include a local path that is not a tar archive (remote URLs are
    APP035's business, git URLs are fine).

    ## Why is this bad?
    `ADD` has two hidden behaviours — it downloads URLs and unpacks local tar archives — so a
    reader cannot tell what `ADD app.tgz /app` will produce, and renaming a file to `.tar.gz`
    changes what the image contains. `COPY` only copies.

    ## Example
    ```dockerfile
    ADD app.jar /app/app.jar
    ```

    ## Use instead
    ```dockerfile
    COPY app.jar /app/app.jar
    ```

    ## Fix safety
    Safe: offered when every source is a local non-archive path and no `ADD`-only flag is used;
    `ADD` and `COPY` then do the same thing.

    ## References
    hadolint DL3020; KICS add_instead_of_copy; checkov CKV_DOCKER_4.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd != "ADD" or ins.heredocs:
                continue
            srcs = [s for s, _o in copy_sources(ins)]
            local = [s for s in srcs if not s.lower().startswith(("http://", "https://", "git@"))
                     and not s.lower().endswith(_ARCHIVES)]
            if not local:
                continue
            fix = None
            if len(local) == len(srcs) and not (set(ins.flags) & {"checksum", "keep-git-dir", "unpack"}):
                line_text = doc.line_text(ins.line)
                if line_text[ins.col - 1:ins.col + 2].upper() == "ADD":
                    fix = Fix("use COPY", (Edit(Location(doc.path, ins.line, ins.col, ins.line, ins.col + 3), "COPY"),))
            yield hit(ins_loc(doc, ins), f"ADD of local {', '.join(local[:3])}: use COPY (ADD also unpacks archives and downloads URLs)",
                      fix=fix, snippet_key=f"ADD {' '.join(srcs[:3])}")


def _final_chain_indexes(doc) -> set[int]:
    stage = doc.final_stage
    return {s.index for s in stage_chain(doc, stage)} if stage is not None else set()


def _misuse(doc):
    """(instruction, DL code, message) for each APP044 problem of a Dockerfile."""
    stages = doc.stages
    names: dict[str, object] = {}
    dup_reported: set[str] = set()
    for s in stages:
        if not s.name:
            continue
        key = s.name.lower()
        if key in names and key not in dup_reported:
            dup_reported.add(key)
            first = names[key]
            yield first.from_instruction, "DL3024", f"stage name `{s.name}` is used again at line {s.line}: `--from={s.name}` becomes ambiguous"
        names.setdefault(key, s)
    first_from = stages[0].line if stages else None
    for ins in doc.instructions:
        if first_from is not None and ins.line < first_from and ins.cmd not in ("ARG",):
            yield ins, "DL3061", f"{ins.cmd} before the first FROM: a Dockerfile must begin with FROM or ARG"
    final = doc.final_stage
    for s in stages:
        workdir_set = False
        for chained in stage_chain(doc, s)[1:]:
            if any(i.cmd == "WORKDIR" for i in chained.instructions):
                workdir_set = True
        env_defined: set[str] = set()
        healthchecks = []
        cmds: dict[str, list] = {"CMD": [], "ENTRYPOINT": []}
        for ins in s.instructions[1:]:
            if ins.cmd == "WORKDIR":
                workdir_set = True
                path = ins.args.strip().strip("'\"")
                if path and not (path.startswith(("/", "$")) or re.match(r"^[A-Za-z]:[\\/]", path)):
                    yield ins, "DL3000", f"WORKDIR `{path}` is relative: it depends on the previous WORKDIR"
            elif ins.cmd in ("COPY", "ADD"):
                words = copy_sources(ins)
                dest = ins.json[-1] if ins.json else (ins.words()[-1][0] if ins.words() else "")
                if ins.cmd == "COPY" and len(words) > 1 and not dest.endswith("/"):
                    yield ins, "DL3021", f"COPY with {len(words)} sources needs a destination ending with `/` (`{dest}`)"
                src_stage = ins.flags.get("from")
                if src_stage:
                    if s.name and src_stage.lower() == s.name.lower():
                        yield ins, "DL3023", f"COPY --from={src_stage} refers to the stage it is in"
                    else:
                        later = next((t for t in stages if t.index > s.index and t.name and t.name.lower() == src_stage.lower()), None)
                        if later is not None and not any(t.name and t.name.lower() == src_stage.lower() for t in stages[: s.index]):
                            yield ins, "DL3022", f"COPY --from={src_stage} refers to a stage defined later (line {later.line})"
                if not workdir_set and dest and not dest.startswith(("/", "$")) and not re.match(r"^[A-Za-z]:[\\/]", dest):
                    yield ins, "DL3045", f"{ins.cmd} to the relative destination `{dest}` without a WORKDIR"
            elif ins.cmd == "ONBUILD":
                inner = ins.args.split(None, 1)[0].upper() if ins.args.split() else ""
                if inner in ("ONBUILD", "FROM", "MAINTAINER"):
                    yield ins, "DL3043", f"ONBUILD {inner} is not allowed"
            elif ins.cmd == "ENV":
                pairs = ins.env_pairs()
                keys = [k for k, _v, _l, _c in pairs]
                where: dict[str, list[int]] = {}  # key -> its indices (one pass; an ENV may hold 100k pairs)
                for i, other in enumerate(keys):
                    where.setdefault(other, []).append(i)
                for k, v, _l, _c in pairs:
                    if "$" not in v:
                        continue
                    refs = env_refs(v) & where.keys()
                    for i in sorted(i for other in refs for i in where[other]):
                        other = keys[i]
                        if other != k and other not in env_defined:
                            yield ins, "DL3044", f"ENV {k} refers to {other}, defined in the same ENV (it sees the old value)"
                env_defined.update(keys)
            elif ins.cmd == "ARG":
                env_defined.update(k for k, _v, _l, _c in ins.env_pairs())
            elif ins.cmd == "HEALTHCHECK":
                healthchecks.append(ins)
            elif ins.cmd in cmds:
                cmds[ins.cmd].append(ins)
        if s is final:
            if len(healthchecks) > 1:
                yield healthchecks[0], "DL3012", f"{len(healthchecks)} HEALTHCHECK instructions: only the last (line {healthchecks[-1].line}) applies"
            for kind, code in (("CMD", "DL4003"), ("ENTRYPOINT", "DL4004")):
                if len(cmds[kind]) > 1:
                    yield cmds[kind][0], code, f"{len(cmds[kind])} {kind} instructions: only the last (line {cmds[kind][-1].line}) applies"



def _pip_no_cache(arg: str) -> bool:
    """``--no-cache-dir``, or an abbreviation pip's option parser accepts for it (any unambiguous
    prefix: ``--no-ca`` is the shortest, ``--no-cache`` the usual one)."""
    name = arg.split("=", 1)[0]
    return len(name) >= len("--no-ca") and "--no-cache-dir".startswith(name)

@rule("APP044", "dockerfile-misuse", "low", files="dockerfile", refs="hadolint; KICS", fix="manual")
def dockerfile_misuse(stack: Stack):
    """A Dockerfile instruction does not do what it seems to.

    ## What it does
    hadolint's correctness checks: relative `WORKDIR` (DL3000), several `HEALTHCHECK`s (DL3012),
    `COPY` of several sources to a destination without a trailing `/` (DL3021), `COPY --from` a stage
    defined later (DL3022) or its own stage (DL3023), a stage name used twice (DL3024, at the first),
    `ONBUILD ONBUILD/FROM/MAINTAINER` (DL3043), an `ENV` using a variable it defines itself (DL3044),
    `COPY` to a relative destination without `WORKDIR` (DL3045), an instruction before the first
    `FROM` (DL3061), and several `CMD`/`ENTRYPOINT` in the final stage (DL4003, DL4004, at the
    first, which never applies).

    ## Why is this bad?
    Each one builds an image that differs from what the Dockerfile suggests: the file lands in a
    different directory, the health check or command that looks active is ignored, a stage copies
    from the wrong place.

    ## Example
    ```dockerfile
    FROM node:20-alpine
    WORKDIR app
    CMD ["node", "a.js"]
    CMD ["node", "b.js"]
    ```

    ## Use instead
    ```dockerfile
    FROM node:20-alpine
    WORKDIR /app
    CMD ["node", "b.js"]
    ```

    ## Fix safety
    Manual.

    ## References
    hadolint DL3000, DL3012, DL3021–DL3024, DL3043–DL3045, DL3061, DL4003, DL4004; KICS
    workdir_path_not_absolute, copy_with_more_than_two_arguments_not_ending_with_slash,
    copy_from_references_current_from_alias, same_alias_in_different_froms,
    multiple_cmd_instructions_listed, multiple_entrypoint_instructions_listed.
    """
    for doc in stack.dockerfiles:
        if not doc.stages:
            continue
        for ins, code, msg in _misuse(doc):
            yield hit(ins_loc(doc, ins), f"{msg} ({code})", snippet_key=f"{code}:{ins.cmd} {ins.args[:60]}")


_APT_LISTS_RM = LazyRe(r"\brm\b[^;&|]*(/var/lib/apt/lists)")


def _cache_mount(ins, *dirs: str) -> bool:
    mounts = ins.flags.get("mount", "")
    return "type=cache" in mounts and any(d in mounts for d in dirs)


def _hygiene(stack: Stack, doc, read_only: bool = False):
    """(instruction, code, message) for each APP045 problem of a Dockerfile. ``read_only``: every
    compose service built from it runs with a read-only root filesystem (file ownership is moot)."""
    final_chain = _final_chain_indexes(doc)
    final = doc.final_stage
    pip_no_cache_env = False
    for s in doc.stages:
        in_final = s.index in final_chain
        tools: set[str] = set()
        group: list = []

        def flush(group=group):
            if len(group) > 1:
                first = group[0]
                what = "RUN" if first.cmd == "RUN" else f"{first.cmd} to the same destination"
                yield first, "DL3059", f"{len(group)} consecutive {what} instructions (lines {group[0].line}–{group[-1].line}): each is a layer, consolidate them"
            group.clear()

        from_ins = s.from_instruction
        if from_ins.flags.get("platform") and not re.match(r"^\$\{?(BUILDPLATFORM|TARGETPLATFORM)\}?$", from_ins.flags["platform"]):
            yield from_ins, "DL3029", f"FROM --platform={from_ins.flags['platform']}: the image no longer builds for the target platform"
        for ins in s.instructions[1:]:
            # DL3059: consecutive RUN (each ≤ 2 commands) or COPY/ADD to the same destination, final stage
            if s is final:
                same = False
                if group:
                    prev = group[0]
                    if ins.cmd == prev.cmd == "RUN":
                        same = ins.flags == prev.flags and len(run_cmds(ins)) <= 2 and len(run_cmds(group[-1])) <= 2
                    elif ins.cmd in ("COPY", "ADD") and ins.cmd == prev.cmd and "from" not in ins.flags:
                        dest = lambda i: i.json[-1] if i.json else (i.words()[-1][0] if i.words() else "")  # noqa: E731
                        same = dest(ins) == dest(prev)
                if same:
                    group.append(ins)
                else:
                    yield from flush()
                    if ins.cmd in ("RUN", "COPY", "ADD") and "from" not in ins.flags:
                        group.append(ins)
            if ins.cmd == "MAINTAINER":
                yield ins, "DL4000", "MAINTAINER is deprecated: use `LABEL org.opencontainers.image.authors=…`"
            elif ins.cmd in ("COPY", "ADD") and "chown" in ins.flags and not read_only:
                yield ins, "KICS chown_flag_exists", f"{ins.cmd} --chown={ins.flags['chown']}: files the process can change; keep them root-owned and readable"
            elif ins.cmd == "ENV":
                for k, v, _l, _c in ins.env_pairs():
                    if k == "PIP_NO_CACHE_DIR" and v.lower() in ("1", "true", "on", "yes"):
                        pip_no_cache_env = True
            if ins.cmd != "RUN":
                continue
            cmds = run_cmds(ins)
            text = run_text(ins)
            # DL4001 wget and curl in one stage
            used = {c.name for c in cmds if c.name in ("curl", "wget")}
            if used:
                tools |= used
                if len(tools) == 2:
                    yield ins, "DL4001", "both wget and curl are used in this stage: use one"
            for c in cmds:
                if c.name == "apt" :
                    yield ins, "DL3027", "`apt` is for interactive use: use apt-get"
                    break
            for c in cmds:
                if c.name == "ln" and "/bin/sh" in c.args:
                    yield ins, "DL4005", "RUN ln … /bin/sh changes the default shell: use SHELL"
                    break
            apt_installs = [c for c in cmds if c.name == "apt-get" and c.subcommand() == "install"]
            for c in apt_installs:
                quiet = sum(a.count("q") for a in c.args if re.fullmatch(r"-[a-zA-Z]+", a)) + c.args.count("--quiet")
                quiet += sum(int(a.split("=", 1)[1]) for a in c.args if re.fullmatch(r"(-q|--quiet)=\d", a))
                if not c.has("y", "yes", "assume-yes") and quiet < 2:
                    yield ins, "DL3014", "apt-get install without -y: the build waits for an answer"
                    break
            for c in apt_installs:
                if not c.has("no-install-recommends") and not any(a.lower() == "apt::install-recommends=false" for a in c.args):
                    yield ins, "DL3015", "apt-get install without --no-install-recommends: unneeded packages enlarge the image"
                    break
            if in_final and any(c.name == "apt-get" and c.subcommand() == "update" for c in cmds) \
                    and not _APT_LISTS_RM.search(text) and not _cache_mount(ins, "/var/lib/apt"):
                yield ins, "DL3009", "apt-get update without `rm -rf /var/lib/apt/lists/*` in the same RUN: the lists stay in the layer"
            for c in cmds:
                if c.name == "apk" and c.subcommand() == "add" and not c.has("no-cache") and not _cache_mount(ins, "/var/cache/apk", "/etc/apk/cache"):
                    yield ins, "DL3019", "apk add without --no-cache: the package index stays in the layer"
                    break
            if not pip_no_cache_env and "PIP_NO_CACHE_DIR=" not in text and not _cache_mount(ins, "/root/.cache/pip", ".cache/pip"):
                for c in cmds:
                    if pip_install(c) and not any(_pip_no_cache(a) for a in c.args) and not c.name.startswith(("pipx", "pipenv")):
                        yield ins, "DL3042", "pip install without --no-cache-dir: the wheel cache stays in the layer"
                        break
            if s is final:
                for mgr, clean in (("dnf", r"\bdnf\s+clean\s+all|rm\s+-[rf]+\s+/var/cache/dnf"),
                                   ("microdnf", r"\bmicrodnf\s+clean\s+all|rm\s+-[rf]+\s+/var/cache/dnf"),
                                   ("yum", r"\byum\s+clean\s+all|rm\s+-[rf]+\s+/var/cache/yum"),
                                   ("zypper", r"\bzypper\s+(clean|cc)\b|rm\s+-[rf]+\s+/var/cache/zypp")):
                    m = re.search(rf"\b{mgr}\b(\s+-\S+)*\s+(install|in)\b", text)
                    if m and not re.search(clean, text[m.end():]) and not _cache_mount(ins, f"/var/cache/{mgr}"):
                        yield ins, "KICS cache cleanup", f"{mgr} install without `{mgr} clean` afterwards in the same RUN: the package cache stays in the layer"
        if s is final:
            yield from flush()


@rule("APP045", "dockerfile-hygiene", "info", files="dockerfile", refs="hadolint; KICS", fix="manual")
def dockerfile_hygiene(stack: Stack):
    """A Dockerfile wastes space or build time.

    ## What it does
    hadolint's hygiene checks, grouped: `apt-get update` without removing `/var/lib/apt/lists` in
    the same `RUN` of a stage that ends in the image (DL3009), `apt-get install` without `-y` (or
    `-qq`) (DL3014) or `--no-install-recommends` (DL3015), `apk add` without `--no-cache` (DL3019),
    `apt` instead of `apt-get` (DL3027), `FROM --platform` with a literal platform (DL3029), `pip
    install` without `--no-cache-dir` (DL3042), consecutive `RUN`s — or `COPY`/`ADD`s to the same
    destination — in the final stage (DL3059, at the first), `MAINTAINER` (DL4000), `wget` and `curl`
    in one stage (DL4001), `RUN ln … /bin/sh` (DL4005), dnf/yum/zypper installs without their
    `clean` in the final stage, and `COPY --chown` (KICS cache cleanup, chown_flag_exists; not when
    every compose service built from the Dockerfile runs `read_only: true`, which makes the
    ownership moot).

    ## Why is this bad?
    Larger images pull and start slower and carry more files to patch; builds that wait for input
    or depend on a literal platform fail in CI. None of it is a vulnerability by itself.

    ## Example
    ```dockerfile
    RUN apt-get update
    RUN apt-get install curl
    ```

    ## Use instead
    ```dockerfile
    RUN apt-get update \\
     && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u7 \\
     && rm -rf /var/lib/apt/lists/*
    ```

    ## Fix safety
    Manual.

    ## References
    hadolint DL3009, DL3014, DL3015, DL3019, DL3027, DL3029, DL3042, DL3059, DL4000, DL4001,
    DL4005; KICS apt_get_install_lists_were_not_deleted, apt_get_missing_flags_to_avoid_manual_input,
    apt_get_not_avoiding_additional_packages, apk_add_using_local_cache_path, run_using_apt,
    using_platform_with_from, pip_install_keeping_cached_packages,
    multiple_run_add_copy_instructions_listed, maintainer_instruction_being_used,
    run_using_wget_and_curl, changing_default_shell_using_run_command, missing_dnf_clean_all,
    yum_clean_all_missing, missing_zypper_clean, chown_flag_exists.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        if not doc.stages:
            continue
        svcs = builds.get(id(doc), [])
        read_only = bool(svcs) and all(truthy(svc.get("read_only")) for svc in svcs)
        seen = set()
        for ins, code, msg in _hygiene(stack, doc, read_only):
            key = (ins.line, code)
            if key in seen:
                continue
            seen.add(key)
            yield hit(ins_loc(doc, ins), f"{msg} ({code})", snippet_key=f"{code}:{ins.cmd} {ins.args[:60]}")


def _has_pipe(script: str) -> bool:
    """A `|` pipe (not `||`) outside quotes."""
    quote = ""
    i, n = 0, len(script)
    while i < n:
        c = script[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        elif c == "#" and (i == 0 or script[i - 1] in " \t\n"):
            j = script.find("\n", i)
            if j < 0:
                return False
            i = j
        elif c == "|":
            if i + 1 < n and script[i + 1] == "|":
                i += 2
                continue
            if i > 0 and script[i - 1] == "|":
                i += 1
                continue
            return True
        i += 1
    return False


_PIPEFAIL_SET = LazyRe(r"\bset\s+(-[a-zA-Z]*o\s+pipefail|-o\s+pipefail|-[a-zA-Z]*\s+-o\s+pipefail)")
_NON_POSIX = ("pwsh", "powershell", "cmd")


def _shell_state(ins) -> str:
    """'pipefail', 'nonposix' or 'plain' for a SHELL instruction."""
    words = ins.json if ins.json is not None else ins.args.split()
    if words and posixpath.basename(words[0]).lower().split(".")[0] in _NON_POSIX:
        return "nonposix"
    if "pipefail" in words and any(w.startswith("-") and "o" in w for w in words):
        return "pipefail"
    return "plain"


@rule("APP038", "pipe-without-pipefail", "info", files="dockerfile",
      refs="CWE-754; DL4006; KICS shell_running_a_pipe_without_pipefail_flag", fix="manual")
def pipe_without_pipefail(stack: Stack):
    """A build step pipes commands without `pipefail`: a failing download goes unnoticed.

    ## What it does
    Flags a `RUN` whose shell command contains a pipe (`|`) when no earlier `SHELL` of the stage
    (or of the stage it is built `FROM`) sets `-o pipefail` and the command itself does not run
    `set -o pipefail`. Stages whose `SHELL` is PowerShell or cmd are skipped. An exec-form `RUN`
    runs no shell, so a `"|"` argument there is not a pipe.

    ## Why is this bad?
    `/bin/sh -c` reports the exit status of the last command of a pipe only: in
    `curl -fsSL https://… | tar -xz`, a failed download still "succeeds" and the build ships an
    image without the tool (or with a truncated one).

    ## Example
    ```dockerfile
    RUN curl -fsSL https://example.com/tool.tgz | tar -xz -C /usr/local/bin
    ```

    ## Use instead
    ```dockerfile
    SHELL ["/bin/bash", "-o", "pipefail", "-c"]
    RUN curl -fsSL https://example.com/tool.tgz | tar -xz -C /usr/local/bin
    ```
    (on Alpine: `SHELL ["/bin/ash", "-eo", "pipefail", "-c"]`).

    ## Fix safety
    Manual: the right shell depends on the image.

    ## References
    CWE-754; hadolint DL4006; KICS shell_running_a_pipe_without_pipefail_flag.
    """
    for doc in stack.dockerfiles:
        states: dict[int, str] = {}
        for s in doc.stages:
            parent = stage_chain(doc, s)[1:2]
            state = states.get(parent[0].index, "plain") if parent else "plain"
            for ins in s.instructions[1:]:
                if ins.cmd == "SHELL":
                    state = _shell_state(ins)
                    continue
                if ins.cmd != "RUN" or state != "plain":
                    continue
                if ins.json is not None:
                    words = ins.json
                    if not (len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash", "ash", "dash", "zsh")
                            and re.fullmatch(r"-[a-z]*c", words[1] or "")):
                        continue
                    scripts = [words[2]] + list(ins.heredocs)
                else:
                    scripts = [ins.args] + list(ins.heredocs)
                for script in scripts:
                    if _has_pipe(script) and not _PIPEFAIL_SET.search(script):
                        yield hit(ins_loc(doc, ins), "RUN pipes commands without `-o pipefail`: a failure before the last `|` "
                                  "does not fail the build (DL4006)", snippet_key=f"DL4006:RUN {ins.args[:60]}")
                        break
            states[s.index] = state

"""Application, end of life (APP013, APP014, APP046): images and base images whose product cycle no
longer gets fixes, per the endoflife.date snapshot (rules.helpers.eol)."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from rules.helpers.dockerfile import stage_chain
from rules.helpers.eol import (
    bump_fix,
    compose_image,
    describe,
    eol_data,
    from_image,
    image_cycles,
    lts_note,
    when,
)
from scanner.model import hit
from scanner.registry import rule

if TYPE_CHECKING:
    from rules.helpers.eol import ImageRef
    from scanner.stack import Stack


def _running_images(stack: Stack) -> list[tuple[ImageRef, str]]:
    """The images that run: a compose ``image:`` of a service that builds nothing, and the root
    ``FROM`` of the stage each Dockerfile runs (its final stage, or compose's ``build.target``)."""
    out = []
    for svc in stack.services:
        if svc.build is not None:
            continue
        img = compose_image(svc)
        if img is not None:
            out.append((img, f"service '{svc.name}'"))
    for doc in stack.dockerfiles:
        stage = doc.final_stage
        if stage is None:
            continue
        root = stage_chain(doc, stage)[-1]
        img = from_image(doc, root)
        if img is not None:
            out.append((img, "the image" if stage is doc.last_stage else f"target stage `{stage.name}`"))
    return out


def _build_images(stack: Stack) -> list[tuple[ImageRef, object]]:
    """The ``FROM`` images of the stages a build builds besides the one that runs: stages the running
    stage copies from (``COPY --from``) or is built from, followed transitively (BuildKit skips the rest)."""
    out = []
    for doc in stack.dockerfiles:
        stage = doc.final_stage
        if stage is None:
            continue
        running = {s.index for s in stage_chain(doc, stage)}
        needed: set[int] = set()
        todo = [stage]
        while todo:
            s = todo.pop()
            if s.index in needed:
                continue
            needed.add(s.index)
            for parent in stage_chain(doc, s)[1:2]:
                todo.append(parent)
            for ins in s.instructions[1:]:
                src = ins.flags.get("from") if ins.cmd in ("COPY", "ADD") else None
                dep = doc.stage(src) if src else None
                if dep is not None and dep.index < s.index:
                    todo.append(dep)
        for s in doc.stages:
            if s.index in needed and s.index not in running and stage_chain(doc, s)[-1] is s:
                img = from_image(doc, s)
                if img is not None:
                    out.append((img, s))
    return out


def _past(data, run, today: _dt.date) -> _dt.date | None:
    until = data.until(run.cycle)
    return until if until is not None and until <= today else None


@rule("APP013", "eol-image", "medium", files="compose/dockerfile", refs="CWE-1104", fix="unsafe")
def eol_image(stack: Stack):
    """An image that runs is at an end-of-life version.

    ## What it does
    Reads every image that runs — a compose `image:` of a service that builds nothing, and the
    root `FROM` of the stage a Dockerfile runs (its final stage, or the `build.target` compose
    builds) — and looks its product cycle up in the endoflife.date snapshot shipped with dkscan
    (`eol.data`): Python, Go, Node.js, PostgreSQL, Redis, MySQL, MariaDB, Ruby, PHP, Rust, Debian,
    Ubuntu, Alpine. An operating-system codename in the tag counts as its own product:
    `python:3.11-buster` runs Debian 10, `node:18-alpine3.16` Alpine 3.16. It fires when the
    cycle's end of life is on or before `clock.today` (Debian counts its LTS, whose updates reach
    the same archive the images use). nginx images are left to GW094. The message names the
    cycle, its EOL date and the snapshot's date.

    ## Why is this bad?
    An end-of-life cycle gets no security fixes: every vulnerability found after that date stays in
    production, and scanners such as trivy report them with no fixed version to move to.

    ## Example
    ```yaml
    services:
      db:
        image: postgres:12-alpine      # PostgreSQL 12: end of life 2024-11-21
    ```

    ## Use instead
    ```yaml
        image: postgres:17-alpine
    ```

    ## Fix safety
    Unsafe: the fix bumps the version to the oldest cycle still supported; a major upgrade can
    change behaviour (PostgreSQL needs `pg_upgrade` or a dump and restore of its data directory).

    ## References
    CWE-1104; endoflife.date (https://endoflife.date/docs/api/). Refresh the snapshot with
    `python -m scanner.eol_refresh` (it fetches `https://endoflife.date/api/<product>.json` and
    rewrites `scanner/data/eol.json`), or point `eol.data` at a local copy.
    """
    data = eol_data(stack)
    if data is None:
        return
    today = stack.policy.today()
    for img, who in _running_images(stack):
        for run in image_cycles(data, img.ref):
            if run.cycle.product == "nginx":
                continue  # GW094's
            until = _past(data, run, today)
            if until is None:
                continue
            yield hit(img.loc, f"{who} runs `{img.ref}`: {describe(data, run.cycle)} reached end of life on {when(until)}{lts_note(data, run.cycle)} "
                               f"(endoflife.date snapshot of {data.snapshot}): it gets no security fixes",
                      fix=bump_fix(data, img, run, today), snippet_key=f"{img.ref}:{run.cycle.product}")


@rule("APP014", "eol-approaching", "info", files="compose/dockerfile+config", refs="CWE-1104; EOL data", fix="unsafe")
def eol_approaching(stack: Stack):
    """An image that runs reaches end of life soon.

    ## What it does
    For the images APP013 reads, fires when the product cycle's end of life falls after
    `clock.today` but within `eol.warn_days` (90 by default) of it: the time to plan the upgrade
    before APP013 fires.

    ## Why is this bad?
    Upgrading a runtime or a database major takes testing; started after the end of life, the
    stack runs without security fixes for as long as the upgrade takes.

    ## Example
    ```yaml
        image: node:20-alpine     # Node.js 20: end of life 2026-04-30
    ```

    ## Use instead
    ```yaml
        image: node:22-alpine
    ```

    ## Fix safety
    Unsafe: the fix bumps the version to the oldest cycle supported beyond the warning window.

    ## References
    CWE-1104; endoflife.date.
    """
    data = eol_data(stack)
    if data is None:
        return
    today = stack.policy.today()
    horizon = today + _dt.timedelta(days=int(stack.policy.get("eol.warn_days", 90) or 0))
    for img, who in _running_images(stack):
        for run in image_cycles(data, img.ref):
            until = data.until(run.cycle)
            if run.cycle.product == "nginx" or until is None or not (today < until <= horizon):
                continue
            left = (until - today).days
            yield hit(img.loc, f"{who} runs `{img.ref}`: {describe(data, run.cycle)} reaches end of life on {until}{lts_note(data, run.cycle)}, "
                               f"in {left} days (endoflife.date snapshot of {data.snapshot})",
                      fix=bump_fix(data, img, run, horizon), snippet_key=f"{img.ref}:{run.cycle.product}")


@rule("APP046", "eol-build-stage", "low", files="dockerfile", refs="CWE-1104; EOL data", fix="unsafe")
def eol_build_stage(stack: Stack):
    """A build stage uses an end-of-life toolchain or base image.

    ## What it does
    For every stage the build builds besides the one that runs (the stages the running stage copies
    from with `COPY --from` or is built from, followed transitively; compose's `build.target`
    decides which stage runs), looks the `FROM` image's product cycle up in the endoflife.date
    snapshot (OS codenames in the tag count) and fires when its end of life is on or before
    `clock.today`.

    ## Why is this bad?
    The compiler, package manager and libraries of an end-of-life toolchain get no fixes, and what
    they build ships: a statically linked binary carries the old standard library's
    vulnerabilities (Go 1.18's `net/http`, an old OpenSSL linked in), a wheel built on Debian 10
    links against its libraries.

    ## Example
    ```dockerfile
    FROM golang:1.18 AS build       # Go 1.18: end of life 2023-02-01
    RUN go build -o /app .
    FROM gcr.io/distroless/static
    COPY --from=build /app /app
    ```

    ## Use instead
    ```dockerfile
    FROM golang:1.24 AS build
    ```

    ## Fix safety
    Unsafe: the fix bumps the version to the oldest cycle still supported; the build may need code
    changes.

    ## References
    CWE-1104; endoflife.date.
    """
    data = eol_data(stack)
    if data is None:
        return
    today = stack.policy.today()
    for img, stage in _build_images(stack):
        for run in image_cycles(data, img.ref):
            until = _past(data, run, today)
            if until is None:
                continue
            name = f"`{stage.name}`" if stage.name else f"{stage.index}"
            yield hit(img.loc, f"build stage {name} is `FROM {img.ref}`: {describe(data, run.cycle)} reached end of life on "
                               f"{when(until)}{lts_note(data, run.cycle)} (endoflife.date snapshot of {data.snapshot}); what it builds ships",
                      fix=bump_fix(data, img, run, today), snippet_key=f"{img.ref}:{run.cycle.product}:{stage.name or stage.index}")

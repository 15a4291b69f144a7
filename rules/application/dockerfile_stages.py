"""Application, Dockerfile stages (APP047): the stage compose builds is a builder stage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rules.helpers.compose import image_parts
from rules.helpers.dockerfile import root_image, run_cmds, stage_chain
from rules.helpers.locations import yloc
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

# Base images that are a toolchain (compiler or SDK), by repository base name.
_TOOLCHAIN_IMAGES = {"golang", "rust", "gcc", "maven", "gradle", "sbt", "buildpack-deps", "swift", "haskell", "crystal",
                     "elixir", "clojure", "dotnet-sdk", "sdk", "emscripten", "zig"}
# Packages that install a compiler or an SDK (apt, apk, dnf/yum, zypper).
_TOOLCHAIN_PACKAGES = LazyRe(r"^(gcc|g\+\+|gcc-c\+\+|clang|build-essential|build-base|alpine-sdk|make|cmake|rust|rustc|cargo|"
                                 r"golang|golang-go|go|openjdk-\d+-jdk|default-jdk|musl-dev|libc6-dev|[a-z0-9.+-]+-sdk(-[0-9.]+)?)"
                                 r"(=.*)?$")
_INSTALLERS = {"apt-get": "install", "apt": "install", "apk": "add", "yum": "install", "dnf": "install",
               "microdnf": "install", "zypper": "install"}
_PRODUCTION_FLAGS = {"--omit=dev", "--production", "--only=prod", "--only=production", "--prod"}


def _toolchain(doc, stage) -> str | None:
    """What makes a stage a builder: its toolchain base image or the compiler it installs (None: neither)."""
    base = root_image(doc, stage)
    repo = image_parts(base)[0].lower()
    name = repo.rsplit("/", 1)[-1]
    if name in _TOOLCHAIN_IMAGES or name.endswith("-sdk") or "/sdk" in repo:
        return f"its base image `{base}` is a toolchain"
    node_base = name == "node"
    for s in stage_chain(doc, stage):
        for ins in s.instructions[1:]:
            if ins.cmd != "RUN":
                continue
            for cmd in run_cmds(ins):
                verb = _INSTALLERS.get(cmd.name)
                if verb and cmd.subcommand() == verb:
                    pkgs = [p for p in cmd.positional(("t", "target-release", "X", "repository")) if p != verb]
                    found = [p for p in pkgs if _TOOLCHAIN_PACKAGES.match(p.lower())]
                    if found:
                        return f"it installs {', '.join(f'`{p}`' for p in found[:3])} (line {ins.line})"
                if cmd.name in ("rustup", "rustup-init"):
                    return f"it installs Rust with `{cmd.name}` (line {ins.line})"
                if node_base and cmd.name == "npm" and cmd.subcommand() in ("ci", "install", "i"):
                    words = set(cmd.args)
                    if not words & _PRODUCTION_FLAGS and "NODE_ENV=production" not in ins.args:
                        return f"`npm {cmd.subcommand()}` installs the dev dependencies (line {ins.line}, no `--omit=dev`)"
    return None


def _copied_by_later(doc, stage) -> list:
    """Later stages that ``COPY --from`` the stage or are built ``FROM`` it."""
    out = []
    names = {str(stage.index)} | ({stage.name.lower()} if stage.name else set())
    for s in doc.stages[stage.index + 1:]:
        if (s.image or "").lower() in names - {str(stage.index)}:
            out.append(s)
            continue
        for ins in s.instructions[1:]:
            src = ins.flags.get("from") if ins.cmd in ("COPY", "ADD") else None
            if src is not None and src.lower() in names:
                out.append(s)
                break
    return out


@rule("APP047", "build-target-not-final", "medium", files="compose+dockerfile",
      refs="CWE-1104; CWE-250; Docker multi-stage docs", fix="unsafe")
def build_target_not_final(stack: Stack):
    """Compose builds a builder stage of a multi-stage Dockerfile.

    ## What it does
    Reads the `build.target` of every compose service that builds a local Dockerfile and flags it
    when the stage it names is a builder: a later stage copies from it (`COPY --from=<stage>`) or
    is built `FROM` it, or it is a toolchain — a compiler or SDK base image (`golang`, `rust`,
    `gcc`, `maven`, `*-sdk`), a compiler package installed (`gcc`, `build-essential`,
    `build-base`, `rust`/`cargo`, `golang`, `*-sdk`), or a `node` stage that runs `npm ci`
    without `--omit=dev`. The stage compose builds is the stage every final-stage rule judges
    (APP030, APP031, OPS040, OPS048...), so their findings describe the image that really runs.

    ## Why is this bad?
    The multi-stage build exists to leave the toolchain behind; building its builder stage ships
    it: the sources, the compiler, the package caches and dev dependencies, usually running as
    root. The image is larger, every CVE of the toolchain is in production, and an attacker who
    gets a shell has a compiler at hand.

    ## Example
    ```yaml
    services:
      api:
        build:
          context: .
          target: builder      # FROM golang:1.23 AS builder ... COPY --from=builder in `runtime`
    ```

    ## Use instead
    ```yaml
        build:
          context: .
          target: runtime      # or no target: compose builds the last stage
    ```

    ## Fix safety
    Unsafe: the fix names the last stage; a service that relied on the builder's tools (a dev
    container, a test runner) no longer has them.

    ## References
    CWE-1104, CWE-250; Docker docs, "Multi-stage builds" (`--target`).
    """
    for svc in stack.services:
        build = svc.build
        if not isinstance(build, YMap):
            continue
        node = build.get("target")
        if not isinstance(node, YScalar) or not str(node).strip():
            continue
        df = stack.service_dockerfile(svc)
        if df is None or not getattr(df, "stages", None):
            continue
        wanted = str(node).strip().lower()
        stage = next((s for s in df.stages if s.name and s.name.lower() == wanted), None)
        last = df.last_stage
        if stage is None or stage is last:
            continue
        users = _copied_by_later(df, stage)
        why = []
        if users:
            named = ", ".join(f"`{s.name}` (line {s.line})" if s.name else f"#{s.index} (line {s.line})" for s in users[:3])
            why.append(f"later {'stage' if len(users) == 1 else 'stages'} {named} {'copies from or builds on' if len(users) == 1 else 'copy from or build on'} it")
        tool = _toolchain(df, stage)
        if tool:
            why.append(tool)
        if not why:
            continue
        fix = None
        if last.name and node.line == node.end_line:
            fix = Fix(f"build the last stage `{last.name}`", (Edit(yloc(svc.doc.path, node), last.name),))
        yield hit(yloc(svc.doc.path, node),
                  f"service '{svc.name}' builds target `{stage.name}` of {df.path} (FROM {stage.image}, line {stage.line}), "
                  f"a builder stage: {'; '.join(why)}; the production image is the builder, not the last stage "
                  f"{f'`{last.name}`' if last.name else f'#{last.index}'} (line {last.line})",
                  fix=fix, related=[Location(df.path, stage.line, 1)],
                  snippet_key=f"{svc.name}:target:{stage.name}")

"""Application, Dockerfile secrets family (APP032, APP033, APP042): secrets baked into the image, passed as build
arguments, or copied in with the build context."""

from __future__ import annotations

import os
import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.compose import service_builds, service_node_loc
from rules.helpers.dockerfile import (
    copy_sources,
    ins_loc,
    last_instruction,
    stage_chain,
)
from rules.helpers.locations import LazyRe
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar, YSeq
from scanner.registry import rule
from scanner.secretcheck import provider_token
from scanner.secrets import is_reference, is_secret_key, url_password

if TYPE_CHECKING:
    from scanner.stack import Stack

_SECRET_FILE_RE = LazyRe(r"(^|/)(\.env(\.[^/]*)?|[^/]*\.pem|[^/]*\.key|id_(rsa|dsa|ecdsa|ed25519)|[^/]*\.p12|[^/]*\.pfx)$", re.I)
_TEMPLATE_RE = LazyRe(r"\.(example|sample|template|tpl|dist|defaults?)$|(^|[._-])(example|sample)([._-]|$)", re.I)


def secret_file_name(path: str) -> bool:
    """A dotenv or private-key file name (templates such as ``.env.example`` are not)."""
    p = path.rstrip("/")
    return bool(_SECRET_FILE_RE.search(p)) and not _TEMPLATE_RE.search(posixpath.basename(p))


@rule("APP032", "secret-in-image", "high", files="dockerfile",
      refs="CWE-798; CIS 4.10; DL3064; sg secret-in-build-arg", fix="manual")
def secret_in_image(stack: Stack):
    """A secret is baked into the image.

    ## What it does
    Flags an `ENV` or `ARG` whose name is secret-class (password, secret, token, API key...) and
    whose value is a literal (not a `$VAR` reference or an absolute path), an `ENV`/`ARG` holding a
    URL with a password, and a `COPY`/`ADD` of a `.env*` file, `*.pem`, `*.key` or an SSH private
    key (`id_rsa`...). A value that looks like a provider token is DATA009's finding instead.

    ## Why is this bad?
    Every layer is readable by whoever can pull the image: `docker history` shows `ENV`/`ARG`
    values and `docker save` extracts copied files, even when a later layer deletes them. Registries,
    CI caches and laptops all keep copies.

    ## Example
    ```dockerfile
    ENV JWT_SECRET=change-me-in-production
    COPY .env /app/.env
    ```

    ## Use instead
    Pass secrets at run time (compose `environment:`/`secrets:`), and at build time mount them:
    `RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci`.

    ## Fix safety
    Manual (`RUN --mount=type=secret`); rotate the secret, it is in the image history already.

    ## References
    CWE-798; CIS Docker Benchmark 4.10; hadolint DL3064; semgrep secret-in-build-arg.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd in ("ENV", "ARG"):
                for key, value, line, col in ins.env_pairs():
                    v = value.strip()
                    if not v or is_reference(v) or "${" in v:
                        continue
                    secret_name = is_secret_key(key)
                    if not secret_name and not url_password(v):
                        continue
                    if provider_token(v):
                        continue
                    why = "a secret-class name" if secret_name else "a URL with a password"
                    yield hit(Location(doc.path, line, col, line, col + len(key)),
                              f"{ins.cmd} {key} ({why}) has a literal value: it stays in the image history for anyone who pulls it",
                              snippet_key=f"{ins.cmd} {key}")
            elif ins.cmd in ("COPY", "ADD") and "from" not in ins.flags:
                for src, offset in copy_sources(ins):
                    if secret_file_name(src) and not src.startswith(("http://", "https://")):
                        yield hit(ins_loc(doc, ins, offset, len(src) if offset is not None else 0),
                                  f"{ins.cmd} copies `{src}` into the image: the file is extractable from its layer even if deleted later",
                                  snippet_key=f"copy {src}")  # ADD or COPY: the same file in the image


@rule("APP033", "secret-build-arg", "medium", files="dockerfile/compose", refs="CWE-538; DL3064", fix="manual")
def secret_build_arg(stack: Stack):
    """A secret is passed as a build argument.

    ## What it does
    Flags an `ARG` with a secret-class name and no literal value (its value comes from
    `--build-arg`), and a secret-class key in a compose service's `build.args`.

    ## Why is this bad?
    Build arguments are recorded in the image: `docker history --no-trunc` prints the value of every
    `ARG` used by a `RUN`, and BuildKit's provenance attestations keep them too.

    ## Example
    ```dockerfile
    ARG NPM_TOKEN
    RUN echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc && npm ci
    ```

    ## Use instead
    ```dockerfile
    RUN --mount=type=secret,id=npm_token \\
        NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci
    ```
    with `build: {secrets: [npm_token]}` in compose.

    ## Fix safety
    Manual.

    ## References
    CWE-538; hadolint DL3064.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd != "ARG":
                continue
            for key, value, line, col in ins.env_pairs():
                v = value.strip()
                if not is_secret_key(key):
                    continue
                if v and not (is_reference(v) or "${" in v):
                    continue  # a literal: APP032
                yield hit(Location(doc.path, line, col, line, col + len(key)),
                          f"ARG {key} carries a secret at build time: build arguments are kept in the image history",
                          snippet_key=f"ARG {key}")
    for svc in stack.services:
        build = svc.build
        if not isinstance(build, YMap):
            continue
        args = build.get("args")
        if isinstance(args, YMap):
            for k, v in args.pairs():
                if is_secret_key(str(k.raw)):
                    yield hit(service_node_loc(svc, k), f"service '{svc.name}' passes {k.raw} as a build argument: it is kept in the image history",
                              snippet_key=f"{svc.name}:build.args:{k.raw}")
        elif isinstance(args, YSeq):
            for item in args:
                if isinstance(item, YScalar) and item.value is not None:
                    key = str(item).split("=", 1)[0].strip()
                    if is_secret_key(key):
                        yield hit(service_node_loc(svc, item), f"service '{svc.name}' passes {key} as a build argument: it is kept in the image history",
                                  snippet_key=f"{svc.name}:build.args:{key}")


# ---------------------------------------------------------------------------------------------
# APP042: the build context leaks secrets
# ---------------------------------------------------------------------------------------------

_CONTEXT_SKIP = {".git", "node_modules", "target", "__pycache__", ".venv", "venv", ".tox", "dist", "build", ".mypy_cache"}
_MAX_CONTEXT_ENTRIES = 5000


def _dockerignore(stack: Stack, ctx_rel: str) -> list[tuple[bool, re.Pattern]]:
    """(negated, regex) of each ``.dockerignore`` pattern (Go filepath.Match plus ``**``)."""
    text = stack.read_text(posixpath.join(ctx_rel, ".dockerignore"))
    if text is None:
        return []
    lines = text.splitlines()
    out = []
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        if neg:
            s = s[1:].strip()
        s = posixpath.normpath(s.lstrip("/")) if s.strip("/") else s
        if s in (".", ""):
            s = "*"
        rx = ""
        i = 0
        while i < len(s):
            if s.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
                continue
            if s.startswith("**", i):
                rx += ".*"
                i += 2
                continue
            c = s[i]
            if c == "*":
                rx += "[^/]*"
            elif c == "?":
                rx += "[^/]"
            elif c == "[":
                j = s.find("]", i)
                if j < 0:
                    rx += re.escape(c)
                else:
                    rx += s[i:j + 1].replace("[!", "[^")
                    i = j
            else:
                rx += re.escape(c)
            i += 1
        try:
            out.append((neg, re.compile(f"^{rx}(/.*)?$")))
        except re.error:
            continue
    return out


def _ignored(rel: str, patterns: list[tuple[bool, re.Pattern]]) -> bool:
    result = False
    for neg, rx in patterns:
        if rx.match(rel):
            result = not neg
    return result


def _context_secrets(stack: Stack, ctx_rel: str) -> list[str]:
    """Dotenv/key files in the build context that ``.dockerignore`` does not exclude (relative to it)."""
    real = stack.local(ctx_rel)
    if real is None or not stack.is_dir(ctx_rel):
        return []  # a context outside the repository is not walked
    root = str(real)
    patterns = _dockerignore(stack, ctx_rel)
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if d not in _CONTEXT_SKIP and not _ignored(rel_dir + d, patterns))
        for name in sorted(filenames):
            seen += 1
            if seen > _MAX_CONTEXT_ENTRIES:
                return found
            rel = rel_dir + name
            # a link out of the repository is copied as a link, its target never: not a secret of the context
            if secret_file_name(rel) and not _ignored(rel, patterns) and stack.is_file(os.path.join(dirpath, name)):
                found.append(rel)
    return found


_IGNORE_PATTERNS = (".git", "**/.env*", "!**/.env.example", "**/*.pem", "**/*.key", "**/id_rsa*", "**/id_ed25519*")


def _copies_context(ins) -> bool:
    if ins.cmd not in ("COPY", "ADD") or "from" in ins.flags:
        return False
    return any(src in (".", "./", "*", "./*", ".//") for src, _ in copy_sources(ins))


@rule("APP042", "build-context-leaks-secrets", "high", files="dockerfile+env", refs="CWE-538; CIS 4.10", fix="safe")
def build_context_leaks_secrets(stack: Stack):
    """`COPY . .` puts the build context's secret files into the image.

    ## What it does
    Flags a `COPY .`/`ADD .` in the final stage — or in a stage whose whole `WORKDIR` the final stage
    copies with `COPY --from` — when the build context (compose `build.context`, else the Dockerfile's
    directory) holds a dotenv file (`.env`, `.env.prod`...) or a key file (`*.pem`, `*.key`,
    `id_rsa`) that `.dockerignore` does not exclude. Templates (`.env.example`) do not count.

    ## Why is this bad?
    The file is in a layer of the image: anyone who can pull it runs `docker save` and reads the
    production secrets, whatever the application does with the file.

    ## Example
    ```dockerfile
    FROM node:20-alpine
    WORKDIR /app
    COPY . .
    ```
    with `.env.prod` next to the Dockerfile and no `.dockerignore`.

    ## Use instead
    A `.dockerignore` beside the context:
    ```
    .env*
    .git
    *.pem
    *.key
    ```

    ## Fix safety
    Safe: the fix creates or extends `.dockerignore`; a build that really needs one of these files
    must say so with a `!` exception.

    ## References
    CWE-538; CIS Docker Benchmark 4.10.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        stage = doc.final_stage
        if stage is None:
            continue
        svcs = builds.get(id(doc), [])
        contexts = []
        for svc in svcs:
            ctx = svc.build_context
            if ctx is None or "://" in ctx or ctx.startswith(("git@", "$")):
                continue
            contexts.append(posixpath.normpath(posixpath.join(posixpath.dirname(svc.doc.path), ctx)))
        if not svcs:
            contexts.append(posixpath.dirname(doc.path) or ".")
        copying = [i for i in stage.instructions if _copies_context(i)]
        # a stage whose whole WORKDIR the final stage copies
        for ins in stage.instructions:
            src_stage_name = ins.flags.get("from") if ins.cmd == "COPY" else None
            if not src_stage_name:
                continue
            src = doc.stage(src_stage_name)
            if src is None or src.index >= stage.index:
                continue
            workdir = last_instruction(doc, src, "WORKDIR")
            wd = posixpath.normpath(workdir.args.strip()) if workdir is not None else "/"
            sources = [posixpath.normpath(s) for s, _ in copy_sources(ins)]
            if wd in sources or "/" in sources:
                copying.extend(i for s in stage_chain(doc, src) for i in s.instructions if _copies_context(i))
        if not copying:
            continue
        for ctx in dict.fromkeys(contexts):
            leaked = _context_secrets(stack, ctx)
            if not leaked:
                continue
            ins = copying[0]
            shown = ", ".join(leaked[:3]) + (f" and {len(leaked) - 3} more" if len(leaked) > 3 else "")
            ctx_shown = ctx if ctx != "." else "the stack root"
            ignore_rel = posixpath.normpath(posixpath.join(ctx, ".dockerignore"))
            existing = stack.read_text(ignore_rel)
            fix = None
            if existing is None:
                fix = Fix("create .dockerignore excluding secrets", (Edit(Location(ignore_rel, 1, 1), "".join(p + "\n" for p in _IGNORE_PATTERNS)),))
            else:
                lines = existing.splitlines()
                add = [p for p in _IGNORE_PATTERNS if p not in [x.strip() for x in lines]]
                if add:
                    if existing and not existing.endswith("\n"):
                        loc = Location(ignore_rel, len(lines), len(lines[-1]) + 1)
                        text = "\n" + "\n".join(add) + "\n"
                    else:
                        loc = Location(ignore_rel, len(lines) + 1, 1)
                        text = "\n".join(add) + "\n"
                    fix = Fix("add secret patterns to .dockerignore", (Edit(loc, text),))
            related = [Location(posixpath.normpath(posixpath.join(ctx, f)), 1, 1) for f in leaked[:5]]
            yield hit(ins_loc(doc, ins), f"{ins.cmd} copies the build context ({ctx_shown}) into the image, and it holds {shown} "
                      f"not excluded by .dockerignore", fix=fix, related=related,
                      snippet_key=f"{ins.cmd} . {ctx}")

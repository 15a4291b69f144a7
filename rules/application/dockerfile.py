"""Application, Dockerfile family (APP030-APP045): the image's user, secrets baked into
layers, remote files, package pinning and signatures, shell form, build hygiene."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.compose import image_parts, service_builds
from rules.helpers.dockerfile import (
    command_name,
    copy_sources,
    ins_loc,
    is_root_user,
    last_instruction,
    root_image,
    run_scripts,
    shell_commands,
    stage_label,
)
from rules.helpers.locations import LazyRe
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def official_image(ref: str, *names: str) -> bool:
    """An official Docker Hub image (``postgres``, ``library/postgres``, ``docker.io/postgres``)."""
    repo = image_parts(ref)[0].lower()
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
            break
    return repo in names


# ---------------------------------------------------------------------------------------------
# APP030-APP042: Dockerfiles
# ---------------------------------------------------------------------------------------------

PRIVILEGE_DROPPING_IMAGES = ("postgres", "redis", "valkey/valkey", "valkey")


def _user_exempt(stack: Stack, doc, builds: dict[int, list]) -> str | None:
    """Why APP030/APP031 do not apply to this Dockerfile (None: they do)."""
    stage = doc.final_stage
    if stage is None:
        return "no stage"
    base = root_image(doc, stage)
    if official_image(base, *PRIVILEGE_DROPPING_IMAGES):
        return "official image whose entrypoint drops privileges"
    svcs = builds.get(id(doc), [])
    if svcs:
        users = [svc.str("user") for svc in svcs]
        if all(u is not None and not is_root_user(u) and u.strip() for u in users):
            return "compose sets a non-root user"
    return None


_ROOTLESS_BASE_RE = LazyRe(r"(nonroot|rootless|unprivileged)", re.I)


@rule("APP030", "last-user-root", "medium", files="dockerfile",
      refs="CWE-250; CIS 4.1; DL3002; KICS last_user_is_root; CKV_DOCKER_8", fix="manual")
def last_user_root(stack: Stack):
    """The image's final user is root.

    ## What it does
    Flags the last `USER` of the final stage (or of the stage it is built `FROM`) when it is
    `root` or `0`. Silent when every compose service built from the Dockerfile sets a non-root
    `user:`, and for the official postgres, redis and valkey images, whose entrypoint drops to an
    unprivileged user itself.

    ## Why is this bad?
    The container's main process runs as uid 0: an exploit in it can modify every file of the
    image, use every capability the container has, and is one kernel bug away from the host.

    ## Example
    ```dockerfile
    FROM alpine:3.20
    USER root
    RUN apk add --no-cache curl
    ```

    ## Use instead
    ```dockerfile
    FROM alpine:3.20
    RUN apk add --no-cache curl && adduser -S -u 10001 app
    USER app
    ```

    ## Fix safety
    Manual: files the process writes must belong to the new user first.

    ## References
    CWE-250; CIS Docker Benchmark 4.1; hadolint DL3002; KICS last_user_is_root; checkov CKV_DOCKER_8.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        stage = doc.final_stage
        if stage is None or _user_exempt(stack, doc, builds):
            continue
        ins = last_instruction(doc, stage, "USER")
        if ins is None or not is_root_user(ins.args.split()[0] if ins.args.split() else ""):
            continue
        yield hit(ins_loc(doc, ins), f"{stage_label(doc, stage)} runs as `{ins.args.strip()}`: the container's process is root",
                  snippet_key=f"USER {ins.args.strip()}")


@rule("APP031", "missing-user", "medium", files="dockerfile",
      refs="CWE-250; KICS missing_user_instruction; CKV_DOCKER_3; sg missing-user", fix="unsafe")
def missing_user(stack: Stack):
    """The image never switches away from root.

    ## What it does
    Flags a Dockerfile whose final stage (and the stages it is built `FROM`) has no `USER`, at the
    final `FROM`. Same exemptions as APP030 (a compose non-root `user:`, official postgres/redis/
    valkey images), and base images that already run unprivileged (tags or names with `nonroot`,
    `rootless`, `unprivileged`; Bitnami images). `FROM scratch` is flagged: its process is uid 0.

    ## Why is this bad?
    Without `USER`, the process runs as root in the container (uid 0, Docker's default
    capabilities): any remote code execution becomes root, one kernel bug from the host.

    ## Example
    ```dockerfile
    FROM python:3.12-slim
    COPY app /app
    CMD ["python", "/app/main.py"]
    ```

    ## Use instead
    ```dockerfile
    FROM python:3.12-slim
    RUN useradd --uid 10001 --no-create-home app
    COPY app /app
    USER 10001:10001
    CMD ["python", "/app/main.py"]
    ```

    ## Fix safety
    Unsafe: the fix appends `USER 10001:10001`; a process that writes to root-owned paths, or binds
    a port below 1024, fails until ownership is fixed.

    ## References
    CWE-250; KICS missing_user_instruction; checkov CKV_DOCKER_3; semgrep missing-user.
    """
    builds = service_builds(stack)
    for doc in stack.dockerfiles:
        stage = doc.final_stage
        if stage is None or _user_exempt(stack, doc, builds):
            continue
        if last_instruction(doc, stage, "USER") is not None:
            continue
        base = root_image(doc, stage)
        if _ROOTLESS_BASE_RE.search(base) or image_parts(base)[0].lower().startswith(("bitnami/", "docker.io/bitnami/")):
            continue
        fix = None
        last = stage.instructions[-1]
        lines = doc.lines
        if last.end_line <= len(lines):
            if last.end_line == len(lines) and not doc.text.endswith("\n"):
                loc = Location(doc.path, last.end_line, len(lines[-1]) + 1)
                text = "\nUSER 10001:10001"
            else:
                loc = Location(doc.path, last.end_line + 1, 1)
                text = "USER 10001:10001\n"
            fix = Fix("append `USER 10001:10001` to the final stage", (Edit(loc, text),))
        fin = stage.from_instruction
        yield hit(ins_loc(doc, fin), f"{stage_label(doc, stage)} (FROM {stage.image}) never sets USER: the container runs as root",
                  fix=fix, snippet_key=f"FROM {stage.image}")


@rule("APP035", "add-remote-url", "medium", files="dockerfile", refs="CWE-494; KICS curl_or_wget_instead_of_add", fix="manual")
def add_remote_url(stack: Stack):
    """A remote file is added to the image without a checksum.

    ## What it does
    Flags `ADD http://…`/`ADD https://…` without `--checksum=sha256:…`. (`ADD` of a git URL is
    not flagged.)

    ## Why is this bad?
    Whatever the server returns today goes into the image: a compromised or hijacked download
    location (or a MITM on `http://`) ships its payload in your build, and the build is not
    reproducible.

    ## Example
    ```dockerfile
    ADD https://example.com/tool.tar.gz /opt/
    ```

    ## Use instead
    ```dockerfile
    ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d \\
        https://example.com/tool.tar.gz /opt/
    ```
    or `RUN curl -fsSLo … && echo "<sha256>  file" | sha256sum -c`.

    ## Fix safety
    Manual: the checksum must come from the publisher.

    ## References
    CWE-494; KICS curl_or_wget_instead_of_add.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd != "ADD" or "checksum" in ins.flags:
                continue
            for src, offset in copy_sources(ins):
                low = src.lower()
                if low.startswith(("http://", "https://")) and not low.endswith(".git") and "#" not in low:
                    yield hit(ins_loc(doc, ins, offset, len(src) if offset is not None else 0),
                              f"ADD downloads `{src}` without --checksum: its content is not verified",
                              snippet_key=f"ADD {src}")


_SHELL_SYNTAX = LazyRe(r"[$&|;<>*?`()'\"\\{}\[\]~#]|\s-\s")


@rule("APP037", "shell-form-entrypoint", "low", files="dockerfile",
      refs="DL3025; KICS not_using_json_in_cmd_and_entrypoint_arguments", fix="safe")
def shell_form_entrypoint(stack: Stack):
    """The container's command runs under `/bin/sh -c`.

    ## What it does
    Flags a shell-form `CMD` or `ENTRYPOINT` in the final stage (the command the container runs).
    `CMD exec …` (the shell replaces itself) is not flagged; earlier build stages are not flagged.

    ## Why is this bad?
    The shell is PID 1 and does not forward `SIGTERM`: on `docker stop` the application never
    hears the signal, cannot finish its requests and close its connections, and is killed after the
    grace period. A shell-form `ENTRYPOINT` also ignores `CMD` and compose `command:`.

    ## Example
    ```dockerfile
    CMD /app/server --port 8080
    ```

    ## Use instead
    ```dockerfile
    CMD ["/app/server", "--port", "8080"]
    ```

    ## Fix safety
    Safe when the command has no shell syntax (variables, pipes, `&&`, globs, quotes): it is then
    rewritten word for word as a JSON array. Otherwise no fix is offered.

    ## References
    hadolint DL3025; KICS not_using_json_in_cmd_and_entrypoint_arguments.
    """
    import json

    for doc in stack.dockerfiles:
        stage = doc.final_stage
        if stage is None:
            continue
        for ins in stage.instructions[1:]:
            if ins.cmd not in ("CMD", "ENTRYPOINT") or ins.json is not None:
                continue
            args = ins.args.strip()
            if not args or args.split()[0] == "exec":
                continue
            fix = None
            if not _SHELL_SYNTAX.search(args) and ins.line == ins.end_line:
                start_line, start_col = ins.arg_pos(0)
                end_line, end_col = ins.arg_pos(len(ins.args) - 1)
                if start_line == end_line == ins.line:
                    fix = Fix(f"rewrite {ins.cmd} in exec (JSON) form",
                              (Edit(Location(doc.path, start_line, start_col, end_line, end_col + 1), json.dumps(args.split())),))
            yield hit(ins_loc(doc, ins), f"{ins.cmd} in shell form: /bin/sh is PID 1 and does not forward SIGTERM to the application",
                      fix=fix, snippet_key=f"{ins.cmd} {args[:60]}")


def _run_commands(ins):
    """(simple command words, offset of the script in args or None) for each RUN script."""
    for script, base in run_scripts(ins):
        for cmd in shell_commands(script):
            yield cmd, base


def _loc_word(doc, ins, base: int | None, word_offset: int, word: str) -> Location:
    if base is None:
        return ins_loc(doc, ins)
    return ins_loc(doc, ins, base + word_offset, len(word))


@rule("APP039", "sudo-in-run", "medium", files="dockerfile", refs="CWE-250; DL3004; KICS run_using_sudo; CKV2_DOCKER_1", fix="manual")
def sudo_in_run(stack: Stack):
    """A build step runs `sudo`.

    ## What it does
    Flags `sudo` used as a command in a `RUN` (installing the `sudo` package is not flagged).

    ## Why is this bad?
    Build steps already run as the current `USER`; `sudo` in a Dockerfile means `sudo` is installed
    and configured in the image, which then lets the runtime user become root (often without a
    password), undoing `USER`. Its TTY and environment handling also make builds unpredictable.

    ## Example
    ```dockerfile
    USER app
    RUN sudo apt-get update
    ```

    ## Use instead
    Run the privileged step before `USER app` (as root), then switch; remove `sudo` from the image.

    ## Fix safety
    Manual.

    ## References
    CWE-250; hadolint DL3004; KICS run_using_sudo; checkov CKV2_DOCKER_1.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd != "RUN":
                continue
            for cmd, base in _run_commands(ins):
                idx, name = command_name(cmd)
                if name == "sudo":
                    w, off = cmd[idx]
                    yield hit(_loc_word(doc, ins, base, off, w), "RUN uses sudo: sudo in the image lets its user become root",
                              snippet_key=f"RUN sudo:{ins.args[:60]}")
                    break


_TLS_ENV = {
    "PYTHONHTTPSVERIFY": ("0",),
    "NODE_TLS_REJECT_UNAUTHORIZED": ("0",),
    "GIT_SSL_NO_VERIFY": None,  # any non-empty value
    "PIP_TRUSTED_HOST": None,
    "CURL_INSECURE": None,
    "NPM_CONFIG_STRICT_SSL": ("false", "0"),
}


def _tls_disabled_in(cmd: list[tuple[str, int]]) -> tuple[str, int, str] | None:
    """(word, offset, what) when a simple command turns certificate verification off."""
    idx, name = command_name(cmd)
    for w, off in cmd[:idx]:
        key, _, val = w.partition("=")
        if key.upper() in _TLS_ENV:
            allowed = _TLS_ENV[key.upper()]
            if (allowed is None and val) or (allowed and val.strip().lower() in allowed):
                return w, off, f"{key}={val}"
    args = cmd[idx + 1:]
    words = [w for w, _ in args]
    if name == "curl":
        for w, off in args:
            if w == "--insecure" or (re.fullmatch(r"-[A-Za-z]+", w) and "k" in w[1:]):
                return w, off, "curl -k/--insecure"
    if name == "wget":
        for w, off in args:
            if w == "--no-check-certificate":
                return w, off, "wget --no-check-certificate"
    if name in ("pip", "pip3", "python", "python3", "uv", "pipenv", "poetry"):
        for w, off in args:
            if w == "--trusted-host" or w.startswith("--trusted-host="):
                return w, off, "pip --trusted-host"
    if name in ("npm", "yarn", "pnpm"):
        low = [w.lower() for w in words]
        for i, w in enumerate(low):
            if w in ("strict-ssl", "strict-ssl=false") and (w.endswith("=false") or (i + 1 < len(low) and low[i + 1] in ("false", "0"))):
                return args[i][0], args[i][1], "npm strict-ssl false"
            if w in ("--strict-ssl=false", "--no-strict-ssl"):
                return args[i][0], args[i][1], "npm strict-ssl false"
    if name == "git":
        low = [w.lower() for w in words]
        for i, w in enumerate(low):
            if w in ("http.sslverify", "http.sslverify=false") and (w.endswith("=false") or (i + 1 < len(low) and low[i + 1] in ("false", "0"))):
                return args[i][0], args[i][1], "git http.sslVerify false"
            if w.startswith("http.sslverify=false") or w == "-c" and i + 1 < len(low) and low[i + 1] == "http.sslverify=false":
                return args[i][0], args[i][1], "git http.sslVerify false"
    for w, off in args:
        lw = w.lower()
        if re.search(r"(^|[\s;])sslverify\s*=\s*(0|false|no)\b", lw):
            return w, off, "sslverify=0"
        if re.search(r"(pythonhttpsverify=0|node_tls_reject_unauthorized=0|git_ssl_no_verify=(1|true))", lw):
            return w, off, w.split("=", 1)[0] + "=…"
    return None


@rule("APP040", "tls-verify-disabled-in-build", "high", files="dockerfile", refs="CWE-295; CKV2_DOCKER_2–6, 12–16", fix="manual")
def tls_verify_disabled_in_build(stack: Stack):
    """A build step downloads without verifying TLS certificates.

    ## What it does
    Flags `curl -k`/`--insecure`, `wget --no-check-certificate`, `pip --trusted-host`,
    `PIP_TRUSTED_HOST`, `PYTHONHTTPSVERIFY=0`, `NODE_TLS_REJECT_UNAUTHORIZED=0`, npm
    `strict-ssl false`, `GIT_SSL_NO_VERIFY`, git `http.sslVerify false` and `sslverify=0` in
    `RUN`, `ENV` and `ARG`.

    ## Why is this bad?
    Anyone on the network path (a compromised CI runner network, a hostile Wi-Fi, a DNS hijack) can
    serve their own packages or scripts, which then run in your build and ship in your image.
    An `ENV` also keeps verification off at run time.

    ## Example
    ```dockerfile
    RUN curl -k https://example.com/install.sh | sh
    ENV NODE_TLS_REJECT_UNAUTHORIZED=0
    ```

    ## Use instead
    Add the missing CA certificate (`COPY corp-ca.crt /usr/local/share/ca-certificates/` and
    `update-ca-certificates`) and keep verification on.

    ## Fix safety
    Manual: the download fails until the CA problem it hid is fixed.

    ## References
    CWE-295; checkov CKV2_DOCKER_2–6, CKV2_DOCKER_12–16.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd in ("ENV", "ARG"):
                for key, value, line, col in ins.env_pairs():
                    allowed = _TLS_ENV.get(key.upper(), False)
                    if allowed is False:
                        continue
                    v = value.strip().lower()
                    if (allowed is None and v and v not in ("0", "false", "no")) or (allowed and v in allowed):
                        yield hit(Location(doc.path, line, col, line, col + len(key)),
                                  f"{ins.cmd} {key}={value} turns TLS certificate verification off",
                                  snippet_key=f"{ins.cmd} {key}")
                continue
            if ins.cmd != "RUN":
                continue
            for cmd, base in _run_commands(ins):
                found = _tls_disabled_in(cmd)
                if found:
                    w, off, what = found
                    yield hit(_loc_word(doc, ins, base, off, w), f"RUN disables TLS certificate verification ({what})",
                              snippet_key=f"RUN {what}")


_UNSIGNED_FLAGS = {
    "--allow-untrusted": "apk --allow-untrusted",
    "--allow-unauthenticated": "apt --allow-unauthenticated",
    "--force-yes": "apt --force-yes",
    "--nogpgcheck": "--nogpgcheck",
    "--no-gpg-check": "zypper --no-gpg-check",
    "--nosignature": "rpm --nosignature",
    "--nodigest": "rpm --nodigest",
    "--noverify": "rpm --noverify",
}


@rule("APP041", "unsigned-packages-allowed", "high", files="dockerfile", refs="CWE-494; CKV2_DOCKER_7–11", fix="safe")
def unsigned_packages_allowed(stack: Stack):
    """A package manager installs packages without checking their signatures.

    ## What it does
    Flags `--allow-untrusted` (apk), `--allow-unauthenticated` and `--force-yes` (apt),
    `--nogpgcheck` (yum, dnf), `--no-gpg-check` (zypper), `rpm --nosignature`/`--nodigest`/
    `--noverify`, and `APT::Get::AllowUnauthenticated=true` in `RUN`.

    ## Why is this bad?
    Package signatures are what make a mirror or proxy unable to substitute packages. Without them
    a compromised mirror, cache or network path installs arbitrary code as root in the image.

    ## Example
    ```dockerfile
    RUN apk add --allow-untrusted /tmp/pkg.apk
    ```

    ## Use instead
    Import the repository's signing key (`/etc/apk/keys/`, `apt-key`/`signed-by=`, `rpm --import`)
    and drop the flag.

    ## Fix safety
    Safe: the flag is deleted; an install that only worked unsigned then fails loudly instead of
    silently trusting the package.

    ## References
    CWE-494; checkov CKV2_DOCKER_7–11.
    """
    for doc in stack.dockerfiles:
        for ins in doc.instructions:
            if ins.cmd != "RUN":
                continue
            for cmd, base in _run_commands(ins):
                _idx, name = command_name(cmd)
                for w, off in cmd:
                    what = _UNSIGNED_FLAGS.get(w)
                    if what is None and "allowunauthenticated=true" in w.lower().replace(" ", ""):
                        what = "APT::Get::AllowUnauthenticated=true"
                    if what is None:
                        continue
                    if w in ("--nosignature", "--nodigest", "--noverify") and name != "rpm":
                        continue
                    fix = None
                    if base is not None and w in _UNSIGNED_FLAGS:
                        start = base + off
                        if ins.args[start:start + len(w)] == w and start > 0 and ins.args[start - 1] == " ":
                            a_line, a_col = ins.arg_pos(start - 1)
                            e_line, e_col = ins.arg_pos(start + len(w) - 1)
                            s_line, s_col = ins.arg_pos(start)
                            if a_line == e_line == s_line and a_col == s_col - 1:
                                fix = Fix(f"delete `{w}`", (Edit(Location(doc.path, a_line, a_col, e_line, e_col + 1), ""),))
                    yield hit(_loc_word(doc, ins, base, off, w), f"RUN installs packages without signature checks ({what})",
                              fix=fix, snippet_key=f"RUN {what}")

"""Operational (containers): log rotation, health checks, restart policies and mount sources."""

from __future__ import annotations

import os
import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.compose import (
    in_service,
    insert_in_service,
    insert_under_key,
    replace_scalar,
    service_builds,
    service_node_loc,
    service_span,
    unknown_vars,
)
from rules.helpers.dockerfile import (
    command_name,
    ins_loc,
    last_instruction,
    root_image,
    run_scripts,
    shell_commands,
    stage_chain,
    stage_label,
)
from rules.helpers.locations import svc_loc
from rules.helpers.services import image_healthcheck_source, one_shot
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar, YSeq
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

DEPENDENCY_ROLES = ("postgres", "redis", "nats", "minio")


# ---------------------------------------------------------------------------------------------
# OPS001 log rotation
# ---------------------------------------------------------------------------------------------

ROTATING_DRIVERS = {"local", "none", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs",
                    "gcplogs", "logentries", "loki"}


@rule("OPS001", "log-rotation-missing", "medium", files="compose", refs="CWE-400", fix="safe")
def log_rotation_missing(stack: Stack):
    """A container's logs grow without limit.

    ## What it does
    Flags a service logging with the `json-file` driver (Docker's default when `logging:` says
    nothing) without `logging.options.max-size`. Drivers that rotate or ship logs elsewhere
    (`local`, `journald`, `syslog`, `fluentd`, `gelf`, ...) are fine.

    ## Why is this bad?
    `json-file` never rotates by default: one chatty or crash-looping container fills the host's
    disk (`/var/lib/docker/containers/*/*-json.log`), and then PostgreSQL, Redis and Docker itself fail.

    ## Example
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
    ```

    ## Use instead
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
      logging:
        driver: json-file
        options:
          max-size: "10m"
          max-file: "3"
    ```
    (or one `x-logging` anchor shared by every service, or `log-opts` in `/etc/docker/daemon.json`).

    ## Fix safety
    Safe: only how many old log lines are kept changes.

    ## References
    CWE-400; Docker json-file logging driver documentation.
    """
    for svc in stack.services:
        logging = svc.get("logging")
        driver = None
        options = None
        if isinstance(logging, YMap):
            driver = (logging.str("driver") or "").strip().lower() or None
            options = logging.get("options")
        if driver and driver != "json-file":
            continue
        if isinstance(options, YMap) and options.get("max-size") is not None:
            continue
        fix = None
        if logging is None:
            edit = insert_in_service(svc, ["logging:", "  driver: json-file", "  options:", '    max-size: "10m"', '    max-file: "3"'])
            fix = Fix("add json-file rotation (max-size 10m, max-file 3)", (edit,)) if edit else None
            loc = svc_loc(svc)
            msg = f"service '{svc.name}' logs with Docker's default json-file driver, which never rotates"
        else:
            lkey = svc.node.key("logging")
            loc = service_node_loc(svc, lkey) if in_service(svc, lkey) else svc_loc(svc)
            msg = f"service '{svc.name}' logs with json-file without options.max-size: the log grows until the disk is full"
            if in_service(svc, logging) and isinstance(logging, YMap):
                lines = ['max-size: "10m"']
                if not (isinstance(options, YMap) and options.get("max-file") is not None):
                    lines.append('max-file: "3"')
                if isinstance(options, YMap) and options.items:
                    edit = insert_under_key(svc.doc, logging.key("options"), lines, service_span(svc)[1])
                elif options is None and logging.items:
                    edit = insert_under_key(svc.doc, lkey, ["options:"] + [f"  {x}" for x in lines], service_span(svc)[1])
                else:
                    edit = None
                fix = Fix("add max-size/max-file to the logging options", (edit,)) if edit else None
        yield hit(loc, msg, fix=fix, snippet_key=f"{svc.name}:logging")


# ---------------------------------------------------------------------------------------------
# OPS040 / OPS048 health checks
# ---------------------------------------------------------------------------------------------


def _image_healthcheck(stack: Stack, svc, builds_df=None):
    """The HEALTHCHECK instruction of the service's local image (final stage chain), or None."""
    df = builds_df if builds_df is not None else stack.service_dockerfile(svc)
    if df is None or df.final_stage is None:
        return None
    return last_instruction(df, df.final_stage, "HEALTHCHECK")


def _hc_disabled_ins(ins) -> bool:
    return ins is not None and ins.args.strip().upper().startswith("NONE")


def _test_is_none(test) -> bool:
    if isinstance(test, YSeq):
        items = [str(i).strip().upper() for i in test if isinstance(i, YScalar)]
        return bool(items) and items[0] == "NONE"
    if isinstance(test, YScalar):
        return str(test).strip().upper() == "NONE"
    return False


_PROBES = {
    "postgres": ['test: ["CMD-SHELL", "pg_isready -U $${POSTGRES_USER:-postgres} -d $${POSTGRES_DB:-postgres}"]'],
    "redis": ['test: ["CMD-SHELL", "redis-cli ping | grep -q PONG"]'],
    "minio": ['test: ["CMD", "mc", "ready", "local"]'],
    "prometheus": ['test: ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:9090/-/healthy"]'],
}


def _probe_fix(svc) -> Fix | None:
    test = _PROBES.get(svc.role)
    if test is None:
        return None
    edit = insert_in_service(svc, ["healthcheck:"] + [f"  {t}" for t in test] + ["  interval: 10s", "  timeout: 5s", "  retries: 5"])
    return Fix(f"add a {svc.role} healthcheck", (edit,)) if edit else None


@rule("OPS040", "healthcheck-missing", "medium", files="compose+dockerfile",
      refs="CWE-703; CIS 4.6, 5.27; KICS healthcheck_not_set, healthcheck_instruction_missing", fix="unsafe")
def healthcheck_missing(stack: Stack):
    """A container has no health check.

    ## What it does
    Flags a compose service with no `healthcheck` whose image has no `HEALTHCHECK` (a local
    Dockerfile's final stage is read; registry images are assumed to have none, except the few
    dkscan knows to ship one: `rules/helpers/data/images_with_healthcheck.json`, each entry with
    the Dockerfile it was read from), a `healthcheck: {disable: true}` and a `test: ["NONE"]`.
    One-shot services (`restart: "no"`, a certbot `certonly`, swarm jobs, init and migration jobs)
    are exempt. In a stack without compose services, each Dockerfile
    is checked on its own: its final stage needs a `HEALTHCHECK` (the finding points at the final
    `FROM`).

    ## Why is this bad?
    Without a health check Docker only knows whether the process exists: a deadlocked backend or a
    database still replaying WAL is "running", `depends_on: condition: service_healthy` cannot be
    used, and nothing restarts or alerts on a hung service.

    ## Example
    ```yaml
    postgres:
      image: postgres:16.4
    ```

    ## Use instead
    ```yaml
    postgres:
      image: postgres:16.4
      healthcheck:
        test: ["CMD-SHELL", "pg_isready -U $${POSTGRES_USER:-postgres}"]
        interval: 10s
        timeout: 5s
        retries: 5
    ```

    ## Fix safety
    Unsafe: a probe is added for postgres (`pg_isready`), redis (`redis-cli ping`), MinIO
    (`mc ready local`) and Prometheus (`/-/healthy`); the probe must fit the service's credentials
    and ports. Other services get no automatic fix.

    ## References
    CWE-703; CIS Docker Benchmark 4.6, 5.27; KICS healthcheck_not_set, healthcheck_instruction_missing.
    """
    for svc in stack.services:
        if one_shot(svc):
            continue
        hc = svc.get("healthcheck")
        if isinstance(hc, YMap):
            disable = hc.get("disable")
            if isinstance(disable, YScalar) and (disable.value is True or str(disable).lower() == "true"):
                yield hit(service_node_loc(svc, disable), f"service '{svc.name}' disables its health check",
                          snippet_key=f"{svc.name}:healthcheck")
                continue
            test = hc.get("test")
            if _test_is_none(test):
                yield hit(service_node_loc(svc, test), f"service '{svc.name}' disables its health check (`test: NONE`)",
                          snippet_key=f"{svc.name}:healthcheck")
            continue  # a test, or only timings over the image's HEALTHCHECK
        if hc is not None and not (isinstance(hc, YScalar) and hc.value is None):
            continue
        image_hc = _image_healthcheck(stack, svc)
        if image_hc is not None and not _hc_disabled_ins(image_hc):
            continue
        if image_hc is None and image_healthcheck_source(svc):
            continue  # a registry image known to ship a HEALTHCHECK (rules/helpers/data/images_with_healthcheck.json)
        why = "its image disables HEALTHCHECK" if image_hc is not None else (
            "its Dockerfile has no HEALTHCHECK" if svc.build is not None else "and the image is assumed to have none")
        yield hit(svc_loc(svc), f"service '{svc.name}' has no healthcheck ({why}): a hung process still counts as running",
                  fix=_probe_fix(svc) if image_hc is None else None, snippet_key=f"{svc.name}:healthcheck")
    if stack.services:
        return  # unreferenced Dockerfiles are built elsewhere; compose's services were checked above
    for doc in stack.dockerfiles:
        stage = doc.final_stage
        if stage is None:
            continue
        ins = last_instruction(doc, stage, "HEALTHCHECK")
        if ins is not None and not _hc_disabled_ins(ins):
            continue
        target = ins if ins is not None else stage.from_instruction
        msg = "the image disables its HEALTHCHECK" if ins is not None else "the image has no HEALTHCHECK: a hung process still counts as running"
        yield hit(ins_loc(doc, target), msg, snippet_key=f"HEALTHCHECK:{stage.image}")


def _tools_in(words: list[str]) -> set[str]:
    """curl/wget used as commands in a health check command line."""
    text = " ".join(words)
    found = set()
    for cmd in shell_commands(text):
        _i, name = command_name(cmd)
        if name in ("curl", "wget"):
            found.add(name)
    return found


def _compose_test_words(test) -> list[str] | None:
    if isinstance(test, YSeq):
        items = [str(i) for i in test if isinstance(i, YScalar)]
        if not items:
            return None
        head = items[0].strip().upper()
        if head == "CMD":
            return items[1:2] if items[1:] else []  # exec form: only the program matters
        if head == "CMD-SHELL":
            return items[1:]
        return None
    if isinstance(test, YScalar) and test.value is not None:
        return [str(test)]
    return None


def base_tools(image: str) -> set[str] | None:
    """curl/wget a base image ships (None: unknown)."""
    ref = image.lower()
    name, _, tag = ref.split("@")[0].rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
    base = (name or ref).rsplit("/", 1)[-1]
    if base == "scratch" or "distroless" in ref or ref.startswith("cgr.dev/chainguard/static"):
        return set()
    if base == "alpine" or "alpine" in tag:
        return {"wget"}
    if base in ("debian", "ubuntu") or "slim" in tag:
        return set()
    return None


_INSTALL = LazyRe(r"\b(apk\s+(--[\w-]+\s+)*add|apt-get\s+(-\S+\s+)*install|apt\s+install|yum\s+install|dnf\s+install|microdnf\s+install|zypper\s+(-\S+\s+)*(in|install))\b")


def _installs(df, stage, tool: str) -> bool:
    for s in stage_chain(df, stage):
        for ins in s.instructions[1:]:
            if ins.cmd == "RUN":
                for script, _base in run_scripts(ins):
                    for part in re.split(r"&&|;|\|\|", script):
                        m = _INSTALL.search(part)
                        if m and re.search(rf"(?<![\w./-]){re.escape(tool)}(?![\w-])", part[m.end():]):
                            return True
                    if re.search(rf"/{tool}\b", script) and re.search(r"\b(cp|ln|install|mv|chmod)\b", script):
                        return True
            elif ins.cmd in ("COPY", "ADD") and re.search(rf"(^|/){tool}(\s|$)", ins.args):
                return True
    return False


@rule("OPS048", "healthcheck-tool-missing", "medium", files="compose+dockerfile", refs="Docker HEALTHCHECK docs", fix="manual")
def healthcheck_tool_missing(stack: Stack):
    """The health check runs a tool the image does not have.

    ## What it does
    Flags a compose `healthcheck.test` or a Dockerfile `HEALTHCHECK` that runs `curl` or `wget`
    in a locally built image whose final stage is `FROM` scratch, distroless, Debian/Ubuntu or a
    `-slim` variant (neither tool) or Alpine (busybox `wget`, no `curl`), and that never installs
    the tool.

    ## Why is this bad?
    The probe fails with "executable file not found": the container is never healthy, so services
    that wait for `service_healthy` never start and orchestrators restart a working service in a loop.

    ## Example
    ```dockerfile
    FROM alpine:3.20
    HEALTHCHECK CMD curl -f http://localhost:8080/health || exit 1
    ```

    ## Use instead
    Install the tool (`apk add --no-cache curl`), use what the image has (`wget -q --spider` on
    Alpine), or have the binary probe itself (`/app/server --health`).

    ## Fix safety
    Manual.

    ## References
    Docker HEALTHCHECK documentation.
    """
    builds = service_builds(stack)
    reported: set[int] = set()
    for svc in stack.services:
        df = stack.service_dockerfile(svc)
        if df is None or df.final_stage is None:
            continue
        stage = df.final_stage
        tools = base_tools(root_image(df, stage))
        if tools is None:
            continue
        hc = svc.get("healthcheck")
        test = hc.get("test") if isinstance(hc, YMap) else None
        words = _compose_test_words(test) if test is not None else None
        if words is None:
            continue  # the image's HEALTHCHECK (checked below), or none
        for tool in sorted(_tools_in(words)):
            if tool in tools or _installs(df, stage, tool):
                continue
            yield hit(service_node_loc(svc, test), f"service '{svc.name}' health check runs {tool}, which its image "
                      f"(FROM {root_image(df, stage)}) does not have: it will never be healthy",
                      related=[ins_loc(df, stage.from_instruction)], snippet_key=f"{svc.name}:healthcheck:{tool}")
    for df in stack.dockerfiles:
        stage = df.final_stage
        if stage is None:
            continue
        ins = last_instruction(df, stage, "HEALTHCHECK")
        if ins is None or ins.args.strip().upper().startswith("NONE") or id(ins) in reported:
            continue
        svcs = builds.get(id(df), [])
        if svcs and all(isinstance(s.get("healthcheck"), YMap) and s.get("healthcheck").get("test") is not None for s in svcs):
            continue  # every service overrides it
        tools = base_tools(root_image(df, stage))
        if tools is None:
            continue
        if ins.json is not None:
            words = ins.json[1:2] if ins.json and ins.json[0].upper() == "CMD" else ins.json[1:]
        else:
            text = ins.args
            m = re.search(r"\bCMD\b", text, re.I)
            words = [text[m.end():]] if m else []
        for tool in sorted(_tools_in(words)):
            if tool in tools or _installs(df, stage, tool):
                continue
            reported.add(id(ins))
            yield hit(ins_loc(df, ins), f"HEALTHCHECK runs {tool}, which {stage_label(df, stage)} (FROM {root_image(df, stage)}) "
                      f"does not have: the container will never be healthy",
                      snippet_key=f"HEALTHCHECK:{tool}")


# ---------------------------------------------------------------------------------------------
# OPS041 depends_on
# ---------------------------------------------------------------------------------------------


def has_healthcheck(stack: Stack, svc) -> bool:
    hc = svc.get("healthcheck")
    if isinstance(hc, YMap):
        if isinstance(hc.get("disable"), YScalar) and str(hc.get("disable")).lower() == "true":
            return False
        if _test_is_none(hc.get("test")):
            return False
        if hc.get("test") is not None:
            return True
    ins = _image_healthcheck(stack, svc)
    return ins is not None and not _hc_disabled_ins(ins)


def _depends_rewrite(stack: Stack, svc, node: YSeq) -> Fix | None:
    """Rewrite a list-form depends_on into the map form with conditions."""
    doc = svc.doc
    key = svc.node.key("depends_on")
    if key is None or not in_service(svc, key):
        return None
    code = re.sub(r"(?<!\s)\s+#.*$", "", doc.line_text(key.line)).rstrip()
    if not code.endswith(":") or not node.items:
        return None
    first = node.items[0]
    last = node.items[-1]
    if any(not isinstance(i, YScalar) or i.line != i.end_line for i in node.items):
        return None
    for i in node.items:
        if not doc.line_text(i.line).lstrip().startswith("-"):
            return None
    indent = " " * (len(doc.line_text(first.line)) - len(doc.line_text(first.line).lstrip(" ")))
    if len(indent) <= len(doc.line_text(key.line)) - len(doc.line_text(key.line).lstrip(" ")):
        indent = " " * (len(doc.line_text(key.line)) - len(doc.line_text(key.line).lstrip(" ")) + 2)
    out = []
    for item in node.items:
        name = str(item)
        dep = stack.service(name, near=svc)
        cond = "service_healthy" if dep is not None and dep.role in DEPENDENCY_ROLES and has_healthcheck(stack, dep) else "service_started"
        out.append(f"{indent}{name}:\n{indent}  condition: {cond}\n")
    last_line = last.line
    return Fix("wait for the data services to be healthy", (Edit(Location(doc.path, first.line, 1, last_line + 1, 1), "".join(out)),))


@rule("OPS041", "depends-on-not-healthy", "low", files="compose", refs="Compose spec", fix="safe")
def depends_on_not_healthy(stack: Stack):
    """A service starts before the database or broker it needs is ready.

    ## What it does
    Flags a `depends_on` entry naming a postgres, redis, nats or MinIO service without
    `condition: service_healthy` (the list form `depends_on: [postgres]` means `service_started`).

    ## Why is this bad?
    `service_started` only waits for the container to exist: PostgreSQL is still initialising, the
    backend's first connection fails, and it crash-loops or, worse, starts with a broken pool.

    ## Example
    ```yaml
    backend:
      depends_on:
        - postgres
    ```

    ## Use instead
    ```yaml
    backend:
      depends_on:
        postgres:
          condition: service_healthy
    ```
    (the dependency needs a `healthcheck`, see OPS040).

    ## Fix safety
    Safe, and offered only when the dependency has a health check (compose or image): the fix
    rewrites the list into the map form, `service_healthy` for data services with a health check,
    `service_started` for the others.

    ## References
    Compose specification, `depends_on`.
    """
    for svc in stack.services:
        node = svc.get("depends_on")
        if isinstance(node, YSeq):
            fix = None
            computed = False
            for item in node:
                if not isinstance(item, YScalar) or item.value is None:
                    continue
                dep = stack.service(str(item), near=svc)
                if dep is None or dep.role not in DEPENDENCY_ROLES:
                    continue
                if not computed:
                    fix = _depends_rewrite(stack, svc, node) if has_healthcheck(stack, dep) else None
                    computed = True
                yield hit(service_node_loc(svc, item), f"service '{svc.name}' waits only for '{dep.name}' ({dep.role}) to start, "
                          f"not to be healthy", fix=fix if has_healthcheck(stack, dep) else None,
                          snippet_key=f"{svc.name}:depends_on:{dep.name}")
        elif isinstance(node, YMap):
            for k, v in node.pairs():
                dep = stack.service(str(k.raw), near=svc)
                if dep is None or dep.role not in DEPENDENCY_ROLES:
                    continue
                cond = v.get("condition") if isinstance(v, YMap) else None
                if isinstance(cond, YScalar) and str(cond).strip() in ("service_healthy", "service_completed_successfully"):
                    continue
                fix = None
                if has_healthcheck(stack, dep):
                    if isinstance(cond, YScalar) and in_service(svc, cond):
                        edit = replace_scalar(svc.doc, cond, "service_healthy")
                        fix = Fix("set `condition: service_healthy`", (edit,)) if edit else None
                    elif isinstance(v, YMap) and v.items and in_service(svc, k):
                        edit = insert_under_key(svc.doc, k, ["condition: service_healthy"])
                        fix = Fix("add `condition: service_healthy`", (edit,)) if edit else None
                target = cond if isinstance(cond, YScalar) else k
                yield hit(service_node_loc(svc, target), f"service '{svc.name}' waits only for '{dep.name}' ({dep.role}) to start, "
                          f"not to be healthy", fix=fix, snippet_key=f"{svc.name}:depends_on:{dep.name}")


# ---------------------------------------------------------------------------------------------
# OPS042 / OPS043 restart policies
# ---------------------------------------------------------------------------------------------


@rule("OPS042", "restart-policy-missing", "low", files="compose", refs="CIS 5.15", fix="safe")
def restart_policy_missing(stack: Stack):
    """A long-running service is not restarted when it exits.

    ## What it does
    Flags a service with neither `restart:` nor `deploy.restart_policy`. One-shot services (a
    certbot `certonly`, swarm jobs) are exempt; an explicit `restart: "no"` is a decision and not
    flagged.

    ## Why is this bad?
    Docker's default is `no`: after a crash, an OOM kill or a host reboot the service stays down
    until someone notices.

    ## Example
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
    ```

    ## Use instead
    ```yaml
    backend:
      image: ghcr.io/acme/backend:1.4.2
      restart: unless-stopped
    ```

    ## Fix safety
    Safe: `unless-stopped` restarts after failures and reboots but respects a manual stop.

    ## References
    CIS Docker Benchmark 5.15.
    """
    for svc in stack.services:
        if svc.get("restart") is not None:
            continue
        deploy = svc.get("deploy")
        if isinstance(deploy, YMap) and deploy.get("restart_policy") is not None:
            continue
        if one_shot(svc):
            continue
        edit = insert_in_service(svc, ["restart: unless-stopped"])
        yield hit(svc_loc(svc), f"service '{svc.name}' has no restart policy: after a crash or a reboot it stays down",
                  fix=Fix("add `restart: unless-stopped`", (edit,)) if edit else None, snippet_key=f"{svc.name}:restart")


@rule("OPS043", "restart-policy-not-cis", "info", files="compose",
      refs="CIS 5.15; KICS restart_policy_on_failure_not_set_to_5", fix="manual")
def restart_policy_not_cis(stack: Stack):
    """An on-failure restart policy retries a number of times other than 5.

    ## What it does
    Flags `restart: on-failure[:N]` and `deploy.restart_policy` with `condition: on-failure` when
    the maximum retry count is not 5 (absent means unlimited). `always` and `unless-stopped` are
    not flagged.

    ## Why is this bad?
    CIS recommends capping on-failure restarts at 5 so that a crash-looping container gives up and
    is noticed instead of consuming resources (and hammering its dependencies) forever.

    ## Example
    ```yaml
    worker:
      restart: on-failure:10
    ```

    ## Use instead
    ```yaml
    worker:
      restart: on-failure:5
    ```

    ## Fix safety
    Manual.

    ## References
    CIS Docker Benchmark 5.15; KICS restart_policy_on_failure_not_set_to_5.
    """
    for svc in stack.services:
        node = svc.get("restart")
        if isinstance(node, YScalar) and node.value is not None:
            text = str(node).strip().lower()
            if text.startswith("on-failure"):
                n = text.partition(":")[2].strip()
                if n != "5":
                    shown = f"{n} times" if n else "without limit"
                    yield hit(service_node_loc(svc, node), f"service '{svc.name}' restarts on failure {shown} (CIS: at most 5)",
                              snippet_key=f"{svc.name}:restart")
        deploy = svc.get("deploy")
        rp = deploy.get("restart_policy") if isinstance(deploy, YMap) else None
        if isinstance(rp, YMap):
            cond = rp.get("condition")
            condition = str(cond).strip().lower() if isinstance(cond, YScalar) and cond.value is not None else "any"
            if condition != "on-failure":
                continue
            ma = rp.get("max_attempts")
            if isinstance(ma, YScalar) and str(ma).strip() == "5":
                continue
            target = ma if isinstance(ma, YScalar) else cond
            shown = f"{ma} times" if isinstance(ma, YScalar) else "without limit"
            yield hit(service_node_loc(svc, target), f"service '{svc.name}' restart_policy retries on failure {shown} (CIS: 5)",
                      snippet_key=f"{svc.name}:deploy.restart_policy")


# ---------------------------------------------------------------------------------------------
# OPS062 missing bind sources
# ---------------------------------------------------------------------------------------------

RUNTIME_DIRS = {"data", "db", "pgdata", "postgres-data", "postgres_data", "redis-data", "redis_data", "logs", "log",
                "backups", "backup", "uploads", "media", "storage", "cache", "tmp", "volumes", "certbot",
                "letsencrypt", "acme", "run"}


def _runtime_populated(svc, rel: str, target: str) -> bool:
    parts = [p.lower() for p in rel.split("/") if p not in ("", ".", "..")]
    if any(p in RUNTIME_DIRS or p.endswith(("-data", "_data")) for p in parts):
        return True
    if svc.role == "certbot" or target.startswith(("/etc/letsencrypt", "/var/www/certbot", "/var/lib/letsencrypt")):
        return True
    return False


@rule("OPS062", "mount-source-missing", "high", files="compose", refs="Compose docs", fix="manual")
def mount_source_missing(stack: Stack):
    """A bind mount's source is missing from the repository.

    ## What it does
    Flags a relative bind mount source (`./nginx/nginx.conf`) that does not exist beside the compose
    file. Directories populated at run time (certbot's, `./data`, `./logs`, `./backups`...) and
    paths `.gitignore`d in the repository are exempt.

    ## Why is this bad?
    Docker creates a missing source as an empty *directory*: a config file mount becomes a directory
    at `/etc/nginx/nginx.conf` and the container fails to start ("not a directory"), or starts with
    an empty configuration directory and the image's defaults.

    ## Example
    ```yaml
    nginx:
      volumes:
        - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro   # no nginx/nginx.conf in the repo
    ```

    ## Use instead
    Commit the file, or fix the path.

    ## Fix safety
    Manual.

    ## References
    Compose specification, volumes (bind mounts).
    """
    for svc in stack.services:
        base = posixpath.dirname(svc.doc.path)
        for m in svc.volumes:
            if m.type != "bind" or not m.source:
                continue
            src = m.source
            if src.startswith(("/", "~")) or "$" in src or re.match(r"^[A-Za-z]:[\\/]", src):
                continue
            node = m.node.get("source") if isinstance(m.node, YMap) else m.node
            bind = m.node.get("bind") if isinstance(m.node, YMap) else None
            if isinstance(bind, YMap) and str(bind.get("create_host_path") or "").lower() == "true":
                continue  # the author expects Docker to create it
            if unknown_vars(node):
                continue
            rel = posixpath.normpath(posixpath.join(base, src))
            if rel.startswith("../") or rel == ".." or (posixpath.dirname(rel) and stack.local(posixpath.dirname(rel)) is None):
                continue  # outside the repository: never looked at (its existence would be an oracle)
            full = os.path.join(str(stack.root), rel)
            # an entry of the repository, a link included (lexists: its target is not asked)
            if os.path.lexists(full):
                continue
            if _runtime_populated(svc, rel, m.target):
                continue
            if not rel.startswith("..") and (stack.git_ignored(rel) or stack.git_ignored(rel + "/")):
                continue  # (a directory pattern such as `data/` only matches with the slash)
            looks_file = bool(re.search(r"\.[A-Za-z0-9]{1,8}$", posixpath.basename(rel)))
            what = "Docker will create an empty directory in place of this file and the container fails" if looks_file \
                else "Docker will create an empty directory and the container starts without its content"
            yield hit(service_node_loc(svc, node if node is not None else m.node),
                      f"service '{svc.name}' mounts {src}, which does not exist: {what}",
                      snippet_key=f"{svc.name}:{src}")

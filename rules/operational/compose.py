"""Operational, compose family: undefined variables, debug switches, health and lifecycle endpoints."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.locations import svc_loc, yloc
from rules.helpers.nginx import listen_specs
from rules.helpers.nginx_proxy import auth_on, denies_all, pass_targets
from rules.helpers.services import (
    command_flag_edit_remove,
    is_nats_included,
    nats_included_docs,
    nats_monitor_ports,
    one_shot,
    prometheus_web_config,
    resolve_host,
    service_image,
)
from scanner.model import Fix, Location, hit
from scanner.registry import rule
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

_REF_RE = "\\$\\{{?{name}\\b"


def _ref_location(doc, node, name: str) -> Location:
    for line_no in range(node.line, (node.end_line or node.line) + 1):
        text = doc.line_text(line_no)
        m = re.search(_REF_RE.format(name=re.escape(name)), text)
        if m:
            return Location(doc.path, line_no, m.start() + 1, line_no, m.end() + 1)
    return Location(doc.path, node.line, node.col)


def _env_file_definitions(stack: Stack, doc) -> dict[str, tuple[str, int]]:
    """VAR -> (path, line) of its definition in the ``env_file:`` files of ``doc``'s services."""
    out: dict[str, tuple[str, int]] = {}
    for svc in doc.services.values():
        for d in stack.service_dotenvs(svc):
            for e in d.entries:
                out.setdefault(e.key, (d.path, e.line))
    return out


def _undefined_refs(doc):
    """(node, ref) of ``${VAR}`` references no interpolation source defines and nothing defaults,
    once per (line, name)."""
    seen = set()
    for node, ref in doc.refs:
        if ref.defined or ref.has_default or ref.op in ("+", ":+"):
            continue
        key = (node.line, ref.name)
        if key in seen:
            continue
        seen.add(key)
        yield node, ref


_TEMPLATE_ENV = LazyRe(r"^\.?(env|dotenv)([.\-_](example|sample|template|dist|tpl|defaults?))+$|"
                           r"^(example|sample|template)[.\-_]?\.env$|^\.env[.\-_].*(example|sample|template|dist)", re.I)


def _templates(stack: Stack, directory: str) -> list:
    """Env templates in ``directory`` (``env.example``, ``.env.sample``, ``example.env`` ...), parsed."""
    import posixpath

    def compute():
        from scanner.parsers import dotenv

        out = []
        for sf in stack.sources("env"):
            if sf.template and posixpath.dirname(sf.rel) == directory:
                out.append(sf.doc)
        seen = {d.path for d in out}
        for name in stack.listdir(directory)[:500]:
            rel = posixpath.join(directory, name) if directory else name
            if rel in seen or not _TEMPLATE_ENV.search(name):
                continue
            text = stack.read_text(rel, 1_000_000)
            if text is not None:
                out.append(dotenv.parse(text, rel))
        return out

    return stack.memo(("envtemplates", directory), compute)


def _template_definition(stack: Stack, doc, name: str) -> str | None:
    """A template env file beside the compose file (``env.example``) that defines ``name``."""
    import posixpath

    for tdoc in _templates(stack, posixpath.dirname(doc.path)):
        if tdoc.get(name) is not None:
            return tdoc.path
    return None


def _nats_defined_names(doc) -> set[str]:
    """Every key defined at any level of a nats configuration (a ``$VAR`` resolves through the
    enclosing blocks, then the environment)."""
    from scanner.parsers.nats import NatsBlock

    names: set[str] = set()
    stack = [doc.root]
    while stack:
        block = stack.pop()
        for e in block.entries:
            names.add(e.key)
            if isinstance(e.value, NatsBlock):
                stack.append(e.value)
            elif isinstance(e.value, list):
                stack.extend(i for i in e.value if isinstance(i, NatsBlock))
    return names


@rule("OPS060", "variable-undefined", "high", files="compose+env", refs="CWE-1188")
def variable_undefined(stack: Stack):
    """A `${VAR}` the compose file (or a `$VAR` nats.conf) needs is defined nowhere.

    ## What it does
    Compose half: flags a `${VAR}` (or `$VAR`, or `${VAR:?message}`) without a default in a
    compose file when no interpolation source defines it. Compose reads only the shell and the
    `.env` file of the project directory (policy `compose.env_files`; or `--env-file`), never a
    service's `env_file:` — a variable defined only there is OPS061's finding instead. A compose
    file with no `.env` beside it uses the nearest `.env` of an ancestor directory inside the
    scanned root: add-on files (`docker/addons/x/docker-compose.yaml`) are run together with the
    main file (`-f docker/docker-compose.yaml -f ...`), whose project directory holds that `.env`.
    When no `.env` exists at all but a template beside the compose file (`env.example`,
    `.env.sample`, ...) defines the variable, the documented setup copies it: not reported.

    nats half: flags a `$VAR` in a nats-server configuration that neither the file (any block, or
    the files it includes or is included from) nor the environment of the nats service that
    mounts it (`environment:` and `env_file:`, which do reach the container) defines.
    Configurations no service mounts are skipped (their environment is unknown).

    ## Why is this bad?
    Compose substitutes an empty string and only warns: a password becomes empty, an image tag
    becomes `latest`, a port mapping changes. `${VAR:?}` makes Compose refuse to start instead.
    nats-server refuses to start on an unresolved `$VAR`.

    ## Example
    ```yaml
    image: "backend:${BACKEND_VERSION}"   # BACKEND_VERSION is in no .env
    ```

    ## Use instead
    Define it in `.env` beside the compose file, or give a default: `${BACKEND_VERSION:-1.4.2}`.

    ## Fix safety
    Manual.

    ## References
    CWE-1188; Compose specification, interpolation.
    """
    for doc in stack.compose_docs:
        in_env_files = _env_file_definitions(stack, doc)
        for node, ref in _undefined_refs(doc):
            if ref.name in in_env_files:
                continue  # OPS061
            where = " or ".join(doc.env_sources) if doc.env_sources else "no .env beside the compose file"
            tmpl = _template_definition(stack, doc, ref.name)
            if tmpl and not doc.env_sources:
                continue  # the documented setup copies the template to .env, which is not committed
            extra = f"; only the template {tmpl} defines it" if tmpl else ""
            yield hit(_ref_location(doc, node, ref.name),
                      f"${{{ref.name}}} is not defined in any interpolation source ({where}{extra}); Compose will "
                      f"substitute an empty string" + (" and refuse to start" if ref.required else ""),
                      snippet_key=ref.name)
    for sf in stack.sources("nats"):
        doc = sf.doc
        mounts = [svc for svc, _t in sf.mounted_by]
        family = [doc] + nats_included_docs(stack, doc)
        if is_nats_included(stack, doc):
            for other in stack.sources("nats"):
                if any(d is doc for d in nats_included_docs(stack, other.doc)):
                    family.append(other.doc)
                    mounts.extend(svc for svc, _t in other.mounted_by)
        if not mounts:
            continue
        defined: set[str] = set()
        for d in family:
            defined |= _nats_defined_names(d)
        env_keys: set[str] = set()
        for svc in mounts:
            env_keys |= set(stack.service_env(svc))
            env_keys |= {v.key for v in svc.environment}
        seen = set()
        for ref in doc.references:
            name = ref.ref_name or ""
            name = name.strip("{}")
            if not name or name in defined or name in env_keys or name in seen or name.startswith("2"):
                continue
            seen.add(name)
            svc_names = ", ".join(sorted({s.name for s in mounts}))
            yield hit(Location(doc.path, ref.value_line, ref.value_col, ref.end_line, ref.end_col),
                      f"${name} is defined neither in {doc.path} nor in the environment of nats service {svc_names}: "
                      f"nats-server refuses to start", snippet_key=f"nats:{name}")


@rule("OPS061", "variable-only-in-env-file", "medium", files="compose+env", refs="Compose interpolation docs")
def variable_only_in_env_file(stack: Stack):
    """A `${VAR}` of the compose file is defined only in an `env_file:` file.

    ## What it does
    Flags a `${VAR}` without a default that no interpolation source (`.env` of the project
    directory, policy `compose.env_files`) defines but an `env_file:` of one of the file's services
    does (`.env.prod`, say).

    ## Why is this bad?
    `env_file:` sets the *container's* environment; Compose never reads it to interpolate the
    compose file. `command: redis-server --requirepass ${REDIS_PASSWORD}` then runs with an empty
    password while the value sits in `.env.prod`, and `docker compose config` only warns.

    ## Example
    ```yaml
    redis:
      env_file: .env.prod          # defines REDIS_PASSWORD
      command: redis-server --requirepass ${REDIS_PASSWORD}
    ```

    ## Use instead
    Run with `docker compose --env-file .env.prod ...` (and list it in `compose.env_files`), or
    let the container's shell expand it: `command: sh -c 'exec redis-server --requirepass "$$REDIS_PASSWORD"'`.

    ## Fix safety
    Manual.

    ## References
    Docker Compose documentation, interpolation and `env_file`.
    """
    for doc in stack.compose_docs:
        in_env_files = _env_file_definitions(stack, doc)
        for node, ref in _undefined_refs(doc):
            found = in_env_files.get(ref.name)
            if found is None:
                continue
            path, line = found
            yield hit(_ref_location(doc, node, ref.name),
                      f"${{{ref.name}}} is defined only in the env_file {path}, which Compose does not read for "
                      f"interpolation: it becomes an empty string with a bare `docker compose up`. If the deployment "
                      f"runs `docker compose --env-file {path} ...`, audit it the same way: `dkscan audit --env-file "
                      f"{path}` (or `compose: {{env_files: [{path.rsplit('/', 1)[-1]}]}}` in .dkscan.yaml)",
                      related=[Location(path, line, 1)],
                      snippet_key=ref.name)


# ---------------------------------------------------------------------------------------------
# Prometheus admin switches
# ---------------------------------------------------------------------------------------------


def _flag_node(svc, flag: str):
    """(location, node) of a ``flag`` word in the command/entrypoint of ``svc``."""
    from scanner.parsers.yamlnodes import YScalar, YSeq

    for key in ("command", "entrypoint"):
        node = svc.get(key)
        if isinstance(node, YSeq):
            for item in node:
                if isinstance(item, YScalar) and (str(item) == flag or str(item).startswith(flag + "=")):
                    return yloc(svc.doc.path, item)
        elif isinstance(node, YScalar) and node.value is not None:
            words = str(node).split()
            if flag in words or any(w.startswith(flag + "=") for w in words):
                for line_no in range(node.line, (node.end_line or node.line) + 1):
                    text = svc.doc.line_text(line_no)
                    idx = text.find(flag)
                    if idx >= 0:
                        return Location(svc.doc.path, line_no, idx + 1, line_no, idx + 1 + len(flag))
                return yloc(svc.doc.path, node)
    return None


def _flag_on(svc, flag: str) -> bool:
    words = svc.command_words() + svc.command_words("entrypoint")
    for w in words:
        if w == flag:
            return True
        if w.startswith(flag + "="):
            return w.split("=", 1)[1].lower() not in ("false", "0")
    return False


def _prometheus_port(svc) -> int:
    for w in svc.command_words():
        if w.startswith("--web.listen-address="):
            try:
                return int(w.rsplit(":", 1)[1])
            except ValueError:
                return 9090
    return 9090


def proxied_without_auth(stack: Stack, svc, port: int) -> list:
    """nginx ``location`` nodes whose ``proxy_pass`` reaches ``svc:port`` (``pass_targets``: which
    service a host name means) without authentication (``auth_on``) or a deny-all access list."""
    out, seen = [], set()
    for cfg in stack.nginx_configs:
        for t in pass_targets(stack, cfg):
            node = t.pass_node
            if node.name != "proxy_pass" or t.service is not svc or t.port != port or id(node) in seen:
                continue
            seen.add(id(node))
            if node.parent is not None and not (auth_on(node) or denies_all(node)):
                out.append(node.parent)
    return out


@rule("OPS024", "prometheus-admin-api", "high", files="compose", refs="CWE-749; Prometheus security docs", fix="safe")
def prometheus_admin_api(stack: Stack):
    """Prometheus runs with its admin API on (`--web.enable-admin-api`).

    ## What it does
    Flags `--web.enable-admin-api` on a prometheus service's command.

    ## Why is this bad?
    The admin API deletes series (`/api/v1/admin/tsdb/delete_series`), wipes tombstones and takes
    snapshots onto the data volume; Prometheus has no authentication of its own, so whoever
    reaches the port erases the monitoring history (and the evidence of an intrusion).

    ## Example
    ```yaml
    command: ["--config.file=/etc/prometheus/prometheus.yml", "--web.enable-admin-api"]
    ```

    ## Use instead
    ```yaml
    command: ["--config.file=/etc/prometheus/prometheus.yml"]
    ```

    ## Fix safety
    Safe: the flag is removed; nothing in a running stack depends on the admin endpoints.

    ## References
    CWE-749; Prometheus documentation, security model.
    """
    for svc in stack.services_by_role("prometheus"):
        if not _flag_on(svc, "--web.enable-admin-api"):
            continue
        loc = _flag_node(svc, "--web.enable-admin-api") or svc_loc(svc)
        edits = command_flag_edit_remove(svc, "--web.enable-admin-api")
        yield hit(loc, f"prometheus service '{svc.name}' enables the admin API (delete series, snapshots) with no "
                       f"authentication", fix=Fix("remove --web.enable-admin-api", edits) if edits else None,
                  snippet_key=f"{svc.name}:admin-api")


def _lifecycle_reachable(stack: Stack, svc) -> tuple[str, list] | None:
    if prometheus_web_config(svc) is not None:
        return None
    port = _prometheus_port(svc)
    reasons = []
    related = []
    for p in svc.ports:
        if p.public and port in p.container_ports:
            reasons.append(f"port {port} is published on every interface")
            related.append(yloc(svc.doc.path, p.node))
            break
    locs = proxied_without_auth(stack, svc, port)
    if locs:
        reasons.append(f"nginx proxies location {' '.join(locs[0].args)} to it without auth")
        related.append(Location(locs[0].path, locs[0].line, locs[0].col))
    if not reasons:
        return None
    return " and ".join(reasons), related


@rule("OPS025", "prometheus-lifecycle-api", "medium", files="compose", refs="CWE-749", fix="unsafe")
def prometheus_lifecycle_api(stack: Stack):
    """Prometheus accepts `/-/reload` and `/-/quit` (`--web.enable-lifecycle`).

    ## What it does
    Flags `--web.enable-lifecycle` on a prometheus service that is neither published nor proxied
    without authentication (those cases are OPS026, which replaces this rule).

    ## Why is this bad?
    Any container of the network may shut Prometheus down (`POST /-/quit`) or make it reload a
    configuration: monitoring goes silent without an alert. Reloading is better done with
    `SIGHUP` (`docker kill -s HUP prometheus`).

    ## Example
    ```yaml
    command: ["--config.file=/etc/prometheus/prometheus.yml", "--web.enable-lifecycle"]
    ```

    ## Use instead
    ```yaml
    command: ["--config.file=/etc/prometheus/prometheus.yml"]   # reload: docker kill -s HUP
    ```

    ## Fix safety
    Unsafe: a deployment script calling `/-/reload` must switch to `SIGHUP`.

    ## References
    CWE-749; Prometheus documentation, management API.
    """
    for svc in stack.services_by_role("prometheus"):
        if not _flag_on(svc, "--web.enable-lifecycle") or _lifecycle_reachable(stack, svc) is not None:
            continue
        loc = _flag_node(svc, "--web.enable-lifecycle") or svc_loc(svc)
        edits = command_flag_edit_remove(svc, "--web.enable-lifecycle")
        yield hit(loc, f"prometheus service '{svc.name}' enables the lifecycle API (/-/quit, /-/reload) for every "
                       f"client of its network", fix=Fix("remove --web.enable-lifecycle", edits) if edits else None,
                  snippet_key=f"{svc.name}:lifecycle")


@rule("OPS026", "prometheus-lifecycle-reachable", "high", files="compose+nginx", refs="CWE-306", fix="unsafe")
def prometheus_lifecycle_reachable(stack: Stack):
    """Anyone on the internet can shut Prometheus down (`/-/quit` reachable without auth).

    ## What it does
    Flags `--web.enable-lifecycle` when Prometheus has no `--web.config.file` and its port (9090,
    or `--web.listen-address`) is published on every interface, or an nginx `location` proxies to
    it without `auth_basic`, `auth_request` or an `allow`/`deny all` list. Replaces OPS025.

    ## Why is this bad?
    `curl -X POST https://example.com/prometheus/-/quit` stops the monitoring of the whole stack,
    and `/-/reload` can be hammered: an attacker blinds the alerting before acting.

    ## Example
    ```yaml
    prometheus:
      command: ["--web.enable-lifecycle"]
      ports: ["9090:9090"]
    ```

    ## Use instead
    Drop the flag (reload with `docker kill -s HUP prometheus`), or require authentication with
    `--web.config.file` (basic auth, TLS) and keep 9090 unpublished.

    ## Fix safety
    Unsafe: a deployment script calling `/-/reload` must switch to `SIGHUP`.

    ## References
    CWE-306; Prometheus documentation, management API and HTTPS/authentication (web.config.file).
    """
    for svc in stack.services_by_role("prometheus"):
        if not _flag_on(svc, "--web.enable-lifecycle"):
            continue
        reach = _lifecycle_reachable(stack, svc)
        if reach is None:
            continue
        why, related = reach
        loc = _flag_node(svc, "--web.enable-lifecycle") or svc_loc(svc)
        edits = command_flag_edit_remove(svc, "--web.enable-lifecycle")
        yield hit(loc, f"prometheus service '{svc.name}' enables the lifecycle API (/-/quit, /-/reload) without "
                       f"--web.config.file and {why}", related=related,
                  fix=Fix("remove --web.enable-lifecycle", edits) if edits else None,
                  snippet_key=f"{svc.name}:lifecycle")


# ---------------------------------------------------------------------------------------------
# Monitoring coverage
# ---------------------------------------------------------------------------------------------

# Ports known images listen on (exporters, tools): base image name -> ports.
KNOWN_PORTS = {
    "postgres": {5432}, "postgis": {5432}, "timescaledb": {5432}, "redis": {6379}, "valkey": {6379},
    "keydb": {6379}, "minio": {9000, 9001}, "nats": {4222, 6222, 8222}, "prometheus": {9090},
    "alertmanager": {9093, 9094}, "pushgateway": {9091}, "node-exporter": {9100}, "cadvisor": {8080},
    "postgres-exporter": {9187}, "redis_exporter": {9121}, "redis-exporter": {9121},
    "nginx-prometheus-exporter": {9113}, "blackbox-exporter": {9115}, "grafana": {3000},
    "prometheus-nats-exporter": {7777}, "jaeger": {16686, 14269, 14268, 4317, 4318},
}


def _service_ports(stack: Stack, svc) -> set[int] | None:
    """Ports a service listens on when that is known with confidence (a known image, or its compose
    ``expose``/``ports`` plus a local Dockerfile's EXPOSE), else None."""
    base, _tag = service_image(svc)
    known = KNOWN_PORTS.get(base)
    if known is None and _runs_nginx(stack, svc):
        known = _nginx_ports(stack, svc)
    if known is None and svc.role in ("postgres", "redis", "minio", "nats", "prometheus"):
        known = {"postgres": {5432}, "redis": {6379}, "minio": {9000, 9001}, "nats": {4222, 6222, 8222},
                 "prometheus": {9090}}[svc.role]
    if known is None:
        return None
    ports = set(known) | set(svc.expose)
    for p in svc.ports:
        ports.update(p.container_ports)
    if svc.role == "nats":
        ports |= nats_monitor_ports(stack, svc)
    if svc.role == "prometheus":
        ports.add(_prometheus_port(svc))
    for w in svc.command_words():
        m = re.search(r"(?:listen[-_.]address|web\.listen-address|--address|--port|-p)[= ]?:?(\d{2,5})$", w)
        if m:
            ports.add(int(m.group(1)))
    return ports


def _runs_nginx(stack: Stack, svc) -> bool:
    """The service is an nginx gateway: an nginx/openresty image, or nginx configurations it loads."""
    base, _tag = service_image(svc)
    return base in ("nginx", "openresty") or base.startswith("nginx-") or any(c.service is svc for c in stack.nginx_configs)


def _nginx_ports(stack: Stack, svc) -> set[int]:
    """The ports the service's nginx listens on: every ``listen`` of the configurations it loads
    (a server without one listens on 80); the image's default server (80) when it loads none."""
    ports: set[int] = set()
    for cfg in stack.nginx_configs:
        if cfg.service is svc:
            for server in cfg.nodes("server"):
                ports.update(s.port for s in listen_specs(server) if s.port is not None)
    return ports or {80}


@rule("OPS045", "scrape-target-unknown", "medium", files="prometheus+compose")
def scrape_target_unknown(stack: Stack):
    """Prometheus scrapes a host or port no compose service provides.

    ## What it does
    Reads every `static_configs` target of the prometheus configurations and flags a target whose
    host is a bare name (no dot, not an IP, not `localhost`) that no compose service, container
    name, hostname or network alias of the stack answers to; or whose port the service is known not
    to listen on (official images and exporters with fixed ports, plus `expose`/`ports`; an nginx
    gateway listens on the ports of its configurations' `listen` directives — `nginx:9113` is the
    exporter's port, which nginx itself never serves; apps with unknown ports are given the benefit
    of the doubt). Qualified names and IPs are outside
    the stack and left alone.

    ## Why is this bad?
    The target is down forever (`up == 0`): the dashboards the team relies on are empty, and the
    alerts that should fire for that component never can — exactly like having no monitoring.

    ## Example
    ```yaml
    - job_name: postgres
      static_configs:
        - targets: ["postgres-exporter:9187"]   # no such service
    ```

    ## Use instead
    Add the exporter service (`prometheuscommunity/postgres-exporter`) or correct the target.

    ## Fix safety
    Manual.
    """
    if not stack.services:
        return
    for doc in stack.prometheus:
        near = _prometheus_of(stack, doc)
        for t in doc.targets():
            host = (t.host or "").strip()
            if not host or "$" in host or "{" in host or "://" in str(t.node):
                continue  # a blackbox probe URL is not a scrape address
            low = host.lower()
            if low in ("localhost", "host.docker.internal") or low.startswith("127.") or "." in host or ":" in host:
                continue
            svc = resolve_host(stack, host, near)
            if svc is None:
                yield hit(yloc(doc.path, t.node), f"job '{t.job}' scrapes '{host}', which is no compose service, "
                                                  f"container_name, hostname or alias: the target is always down",
                          snippet_key=f"{t.job}:{host}")
                continue
            if t.port is None:
                continue
            ports = _service_ports(stack, svc)
            if ports is not None and t.port not in ports:
                hint = ""
                if _runs_nginx(stack, svc) and KNOWN_PORTS.get(service_image(svc)[0]) is None:
                    hint = " (nginx serves no metrics itself: scrape an nginx-prometheus-exporter service that reads stub_status)"
                yield hit(yloc(doc.path, t.node), f"job '{t.job}' scrapes {host}:{t.port}, but service '{svc.name}' "
                                                  f"listens on {', '.join(str(p) for p in sorted(ports))}{hint}",
                          snippet_key=f"{t.job}:{host}:{t.port}")


def _has_healthcheck(svc) -> bool:
    from scanner.parsers.yamlnodes import YMap

    hc = svc.get("healthcheck")
    if not isinstance(hc, YMap):
        return False
    disable = hc.get("disable")
    test = hc.get("test")
    if disable is not None and str(disable).lower() == "true":
        return False
    return test is not None and "NONE" not in str(getattr(test, "plain", lambda: test)())


def _probes_tls(doc, job) -> bool:
    """A blackbox-style job (``metrics_path: /probe``) with an ``https://`` target: it reports
    ``probe_ssl_earliest_cert_expiry`` for the certificates certbot renews."""
    if (job.str("metrics_path") or "") != "/probe":
        return False
    return any(t.job == doc.job_name(job) and str(t.node).startswith("https://") for t in doc.targets())


def _prometheus_of(stack: Stack, doc):
    """The prometheus service that mounts a prometheus configuration (None when none does)."""
    sf = stack.files.get(doc.path)
    for svc, _t in (sf.mounted_by if sf is not None else []):
        return svc
    return None


def _is_exporter(svc) -> bool:
    img = (svc.image or "").split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    return "exporter" in img or "exporter" in svc.name.lower()


def _ephemeral(doc) -> bool:
    import posixpath

    return bool(re.search(r"(^|[.\-_])(test|tests|ci|e2e)([.\-_]|$)", posixpath.basename(doc.path).lower()))


@rule("OPS046", "service-not-scraped", "low", files="compose+prometheus", refs="seed")
def service_not_scraped(stack: Stack):
    """A long-running service that no Prometheus job scrapes.

    ## What it does
    When the stack has a Prometheus configuration, flags each long-running service (not
    `restart: "no"`, not a one-shot `certbot certonly`) that no `static_configs` target reaches:
    directly (its name, container name or alias), or through an exporter service that is scraped
    and whose environment or command names it (`DATA_SOURCE_NAME=postgresql://…@postgres`,
    `REDIS_ADDR=redis://redis:6379`, `--nginx.scrape-uri=http://nginx/stub_status`). A job with
    `docker_sd_configs` (or another service discovery) covers everything and silences the rule.
    certbot, which exposes no metrics, counts as watched when it has a healthcheck or a blackbox
    job (`metrics_path: /probe`) probes an `https://` target.

    ## Why is this bad?
    The seed's targets (p95 latency, error rate, saturation) cannot be watched for a component
    whose metrics nobody collects: it fails silently.

    ## Example
    `postgres` runs, and `prometheus.yml` scrapes `postgres-exporter:9187`, a service that does
    not exist.

    ## Use instead
    Add the exporter (`prometheuscommunity/postgres-exporter`, `oliver006/redis_exporter`,
    `nginx/nginx-prometheus-exporter`) and a job for it, or scrape the service's own `/metrics`;
    for certbot, a healthcheck testing the certificate, or a blackbox probe of the site.

    ## Fix safety
    Manual.
    """
    docs = stack.prometheus
    if not docs:
        return
    for doc in docs:
        for job in doc.jobs:
            if any(k.endswith("_sd_configs") and k != "static_configs" and k != "file_sd_configs" for k in job):
                return
            if "file_sd_configs" in job:
                return  # targets live in files dkscan does not read
    scraped = set()
    for doc in docs:
        near = _prometheus_of(stack, doc)
        for t in doc.targets():
            svc = resolve_host(stack, t.host, near)
            if svc is not None:
                scraped.add(id(svc))
    # exporters that are scraped cover the services they point at
    for svc in stack.services:
        if id(svc) not in scraped or not _is_exporter(svc):
            continue
        text = " ".join([svc.command_text(), svc.command_text("entrypoint")] +
                        [str(v) for v, _p, _l in stack.service_env(svc).values()])
        for word in set(re.findall(r"[A-Za-z0-9_.-]+", text)):
            other = resolve_host(stack, word, svc)
            if other is not None and other is not svc:
                scraped.add(id(other))
    tls_probe = any(_probes_tls(doc, job) for doc in docs for job in doc.jobs)
    for svc in stack.services:
        if id(svc) in scraped or one_shot(svc) or _ephemeral(svc.doc):
            continue
        if svc.role == "certbot" and (tls_probe or _has_healthcheck(svc)):
            continue  # certbot has no metrics: a probe of the served certificate, or a healthcheck, watches it
        yield hit(svc_loc(svc), f"service '{svc.name}' ({svc.role}) is scraped by no Prometheus job, directly or "
                                f"through an exporter", related=[Location(docs[0].path, 1, 1)], snippet_key=svc.name)

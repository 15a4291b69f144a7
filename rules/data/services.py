"""Data, services family: Redis, MinIO, transport to external services, persistence and backups."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from rules.helpers.locations import svc_loc
from rules.helpers.services import (
    command_append_edit,
    env_targets,
    is_compose_host,
    minio_root_cause,
    persistence_off,
    redis_auth_problem,
    redis_config,
    resolve_host,
    service_env,
    service_image,
    value_host,
)
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------


@rule("DATA080", "redis-no-auth", "critical", files="compose+env", refs="CWE-306; Redis security docs")
def redis_no_auth(stack: Stack):
    """Redis accepts every client without a password.

    ## What it does
    Flags a Redis (or Valkey, KeyDB) service whose server runs with no `requirepass` (on the
    command line or in the redis.conf the command loads) and no ACL `user`/`aclfile`; a
    `requirepass` whose variable is defined but empty; `user default on nopass`; or, for Bitnami
    images (where `REDIS_PASSWORD` is the password), an empty `REDIS_PASSWORD` or
    `ALLOW_EMPTY_PASSWORD=yes`. A `${VAR}` no interpolation source defines is OPS060's finding,
    not this one.

    ## Why is this bad?
    The official image turns `protected-mode` off, so any container of the network — and the
    internet, if the port is published — may read every key, write sessions, `CONFIG SET dir` to
    drop files, or `FLUSHALL`. Unauthenticated Redis is among the most attacked services.

    ## Example
    ```yaml
    redis:
      image: redis:7.2-alpine
      command: redis-server --appendonly yes
    ```

    ## Use instead
    ```yaml
    redis:
      image: redis:7.2-alpine
      command: redis-server --appendonly yes --requirepass "${REDIS_PASSWORD:?}"
    ```

    ## Fix safety
    Manual: the clients' URLs need the password too.

    ## References
    CWE-306; Redis documentation, security (authentication, protected mode).
    """
    for svc in stack.services_by_role("redis"):
        problem = redis_auth_problem(stack, svc)
        if problem is None:
            continue
        reason, loc = problem
        yield hit(loc, f"redis service '{svc.name}': {reason}", snippet_key=f"{svc.name}:auth")


DANGEROUS = ("FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "KEYS")


def _redis_major(svc) -> int | None:
    base, tag = service_image(svc)
    m = re.match(r"([0-9]{1,9})(?![0-9])", tag or "")
    if m:
        return int(m.group(1))
    if base in ("valkey", "redis-stack", "redis-stack-server") or tag in ("", "latest", "alpine", "bookworm"):
        return 7
    return None


@rule("DATA081", "redis-dangerous-commands", "low", files="compose", refs="CWE-749")
def redis_dangerous_commands(stack: Stack):
    """Redis leaves FLUSHALL, CONFIG, KEYS and friends callable by every client.

    ## What it does
    Flags a Redis service with no `rename-command` for `FLUSHALL`, `FLUSHDB`, `CONFIG`, `DEBUG` and
    `KEYS` (renamed to `""` disables one) and no ACL rule `-@dangerous`. `DEBUG` is left out from
    Redis 7 on, where `enable-debug-command` is off by default. Silent when an `aclfile` is loaded
    (its rules are not in the stack).

    ## Why is this bad?
    One leaked password (or a server-side request forgery from the app) is enough to wipe the
    data (`FLUSHALL`), rewrite the server's files (`CONFIG SET dir` + `SAVE`, a classic path to
    code execution) or block the server (`KEYS *` on millions of keys).

    ## Example
    ```yaml
    command: redis-server --requirepass "${REDIS_PASSWORD}"
    ```

    ## Use instead
    ```yaml
    command: >
      redis-server --requirepass "${REDIS_PASSWORD}"
      --rename-command FLUSHALL "" --rename-command FLUSHDB ""
      --rename-command CONFIG "" --rename-command KEYS ""
    ```
    or an ACL user with `-@dangerous` for the application.

    ## Fix safety
    Manual: an application or tool that calls one of them (some clients call `CONFIG GET`) must be
    checked first.

    ## References
    CWE-749; Redis documentation, security (disabling specific commands) and ACL.
    """
    for svc in stack.services_by_role("redis"):
        cfg = redis_config(stack, svc)
        if cfg.conf_unknown or cfg.all("aclfile"):
            continue
        if any("-@dangerous" in [a.lower() for a in s.args] for s in cfg.all("user")):
            continue
        renamed = {s.args[0].upper() for s in cfg.all("rename-command") if s.args}
        wanted = list(DANGEROUS)
        major = _redis_major(svc)
        edc = cfg.get("enable-debug-command")
        debug_on = edc is not None and edc.args and edc.args[0].lower() in ("yes", "local")
        if major is not None and major >= 7 and not debug_on:
            wanted.remove("DEBUG")
        missing = [c for c in wanted if c not in renamed]
        if not missing:
            continue
        yield hit(svc_loc(svc), f"redis service '{svc.name}' lets every client call {', '.join(missing)}: no "
                                f"rename-command and no ACL -@dangerous", snippet_key=f"{svc.name}:dangerous")


def _refs_service(stack: Stack, value: str, svc, near=None) -> bool:
    """``value`` (a URL, host or host:port) names ``svc``'s host, as seen from ``near``."""
    host = value_host(value)
    return bool(host) and resolve_host(stack, host, near) is svc


PERSISTENCE_KEYS = ("SESSION", "QUEUE", "RATE_LIMIT", "JOB", "CELERY_BROKER")


GENERIC_REDIS_KEYS = ("REDIS_URL", "REDIS_HOST", "REDIS_ADDR", "REDIS_ADDRESS", "REDIS_SERVER")


def _state_keys(stack: Stack, svc) -> list[str]:
    """``app KEY`` for the session/queue/rate-limit/job settings that keep state in ``svc``: the
    value names this Redis, or names no host while the app's ``REDIS_URL``/``REDIS_HOST`` does."""
    redises = stack.services_by_role("redis")
    out = []
    for app in stack.services:
        if app.role in ("redis", "postgres", "minio", "nats", "prometheus", "certbot", "gateway"):
            continue
        env = service_env(stack, app)
        targets = env_targets(stack, app)
        generic = any(targets.get(k) is svc for k in GENERIC_REDIS_KEYS)
        for key, (value, _p, _l) in env.items():
            if not key.upper().startswith(PERSISTENCE_KEYS):
                continue
            v = str(value).strip().lower()
            if v in ("", "false", "0", "no", "off", "memory", "none", "cookie", "db", "database", "file"):
                continue
            target = targets.get(key)
            if target is svc:
                out.append(f"{app.name} {key}")
            elif generic and not any(target is r for r in redises) and "://" not in v:
                out.append(f"{app.name} {key}")
    return out


@rule("DATA082", "redis-persistence-off", "medium", files="compose+env", refs="Redis persistence docs", fix="unsafe")
def redis_persistence_off(stack: Stack):
    """Redis keeps sessions, queues or rate limits with persistence switched off.

    ## What it does
    Flags a Redis service with `save ""` (no RDB snapshots) and no `appendonly yes` when another
    service's environment sends sessions, queues, rate limits, jobs or a Celery broker to it: a key
    starting `SESSION`, `QUEUE`, `RATE_LIMIT`, `JOB` or `CELERY_BROKER` whose value names this
    Redis, or that names no host (`SESSION_STORE=redis`) while the app's `REDIS_URL`/`REDIS_HOST`
    names it. A cache-only Redis (`CACHE_URL`) may run without persistence.

    ## Why is this bad?
    A restart, an upgrade or an OOM kill empties the server: every user is logged out, queued jobs
    vanish and rate-limit counters reset. A pure cache may live without persistence; these may not.

    ## Example
    ```yaml
    redis:
      command: redis-server --save "" --appendonly no
    backend:
      environment:
        SESSION_STORE_URL: redis://redis:6379/1
    ```

    ## Use instead
    ```yaml
    redis:
      command: redis-server --save "" --appendonly yes
      volumes: [redis_data:/data]
    ```

    ## Fix safety
    Unsafe: AOF writes to `/data`, which needs a volume (DATA089) and disk I/O.

    ## References
    Redis documentation, persistence.
    """
    for svc in stack.services_by_role("redis"):
        cfg = redis_config(stack, svc)
        if cfg.conf_unknown:
            continue
        off = persistence_off(cfg)
        if off is None:
            continue
        save, aof = off
        reasons = _state_keys(stack, svc)
        if not reasons:
            continue
        fix = None
        if aof is not None and aof.source == "command" and aof.args:
            fix = _replace_word_after(svc, aof, "no", "yes")
        elif aof is None:
            edits = command_append_edit(svc, ["--appendonly", "yes"])
            fix = Fix("turn on AOF persistence", edits) if edits else None
        shown = ", ".join(sorted(set(reasons))[:3])
        yield hit(save.location, f"redis service '{svc.name}' has save \"\" and no appendonly yes while {shown} "
                                 f"keep state in it: a restart loses it", fix=fix, snippet_key=f"{svc.name}:persistence")


def _replace_word_after(svc, setting, old: str, new: str):
    """Fix replacing the argument ``old`` that follows ``setting``'s word on its (command) line."""
    loc = setting.location
    if setting.source != "command":
        return None
    text = svc.doc.line_text(loc.start_line)
    start = (loc.end_col or loc.start_col) - 1
    m = re.compile(r"[\s\"',]*(" + re.escape(old) + r")\b", re.I).match(text, start)
    if not m:
        return None
    col = m.start(1) + 1
    return Fix(f"set {setting.name} {new}",
               (Edit(Location(loc.path, loc.start_line, col, loc.start_line, col + len(old)), new),))


# ---------------------------------------------------------------------------------------------
# MinIO
# ---------------------------------------------------------------------------------------------


@rule("DATA083", "minio-root-unset", "critical", files="compose+env", refs="CWE-1392; MinIO docs")
def minio_root_unset_rule(stack: Stack):
    """MinIO runs with the default `minioadmin:minioadmin` root account.

    ## What it does
    Flags a MinIO service whose environment (`environment:` and `env_file:`) sets neither
    `MINIO_ROOT_PASSWORD` nor `MINIO_ROOT_PASSWORD_FILE` (the deprecated `MINIO_SECRET_KEY`
    counts as set), or sets it empty; silent when `MINIO_CONFIG_ENV_FILE` points at a config file.

    ## Why is this bad?
    Without root credentials MinIO starts with `minioadmin:minioadmin`, the first pair any scanner
    tries: full control over every bucket, user and policy, through the API and the console.

    ## Example
    ```yaml
    minio:
      image: minio/minio
      command: server /data --console-address ":9001"
    ```

    ## Use instead
    ```yaml
    minio:
      environment:
        MINIO_ROOT_USER: "${MINIO_ROOT_USER:?}"
        MINIO_ROOT_PASSWORD_FILE: /run/secrets/minio_root_password
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-1392; MinIO documentation, root access settings.
    """
    for svc in stack.services_by_role("minio"):
        found = minio_root_cause(stack, svc)
        if found:
            reason, at = found  # at the empty variable when one is written
            yield hit(at or svc_loc(svc), f"minio service '{svc.name}': {reason}", snippet_key=f"{svc.name}:root")


DEPRECATED_MINIO = {
    "MINIO_ACCESS_KEY": "MINIO_ROOT_USER",
    "MINIO_SECRET_KEY": "MINIO_ROOT_PASSWORD",
    "MINIO_ACCESS_KEY_FILE": "MINIO_ROOT_USER_FILE",
    "MINIO_SECRET_KEY_FILE": "MINIO_ROOT_PASSWORD_FILE",
}


@rule("DATA084", "minio-deprecated-credential-vars", "low", files="compose/env", refs="MinIO deprecated settings",
      fix="safe")
def minio_deprecated_credential_vars(stack: Stack):
    """MinIO reads its root credentials from the deprecated `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`.

    ## What it does
    Flags `MINIO_ACCESS_KEY`, `MINIO_SECRET_KEY` (and their `_FILE` forms) in a MinIO service's
    `environment:` or in an env file a MinIO service loads. The same names in an application's own
    environment (S3 client settings) are not MinIO's and are left alone.

    ## Why is this bad?
    MinIO deprecated them for `MINIO_ROOT_USER`/`MINIO_ROOT_PASSWORD`; releases keep warning and
    may drop them, and a later upgrade then starts the server with the default root account.

    ## Example
    ```yaml
    environment:
      MINIO_ACCESS_KEY: admin
    ```

    ## Use instead
    ```yaml
    environment:
      MINIO_ROOT_USER: admin
    ```

    ## Fix safety
    Safe: the key is renamed in place; the fix is offered only where no other service reads the
    same file (an app may read the old name) and the new name is not already set there.

    ## References
    MinIO documentation, deprecated settings.
    """
    minios = stack.services_by_role("minio")
    if not minios:
        return
    seen_docs = set()
    for svc in minios:
        names = {v.key for v in svc.environment}
        for var in svc.environment:
            new = DEPRECATED_MINIO.get(var.key)
            if new is None:
                continue
            node = var.key_node
            loc = Location(svc.doc.path, node.line, node.col + (1 if node.style in ("'", '"') else 0))
            end = Location(loc.path, loc.start_line, loc.start_col, loc.start_line, loc.start_col + len(var.key))
            fix = Fix(f"rename to {new}", (Edit(end, new),)) if new not in names and node.line == node.end_line else None
            yield hit(end, f"minio service '{svc.name}' sets the deprecated {var.key}: use {new}",
                      fix=fix, snippet_key=f"{svc.name}:{var.key}")
        for doc in stack.service_dotenvs(svc):
            if doc.path in seen_docs:
                continue
            seen_docs.add(doc.path)
            readers = [s for s in stack.services if any(d is doc for d in stack.service_dotenvs(s))]
            shared = any(s.role != "minio" for s in readers)  # an app may read these names as its own
            keys = {e.key for e in doc.entries}
            for e in doc.entries:
                new = DEPRECATED_MINIO.get(e.key)
                if new is None:
                    continue
                loc = Location(doc.path, e.line, e.col, e.line, e.col + len(e.key))
                fix = Fix(f"rename to {new}", (Edit(loc, new),)) if new not in keys and not shared else None
                yield hit(loc, f"{e.key} is deprecated in MinIO: use {new}", fix=fix, snippet_key=f"{doc.path}:{e.key}")


APP_S3_KEYS = ("S3_ACCESS_KEY", "S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID", "MINIO_ACCESS_KEY", "STORAGE_ACCESS_KEY",
               "AWS_S3_ACCESS_KEY_ID", "OBJECT_STORAGE_ACCESS_KEY")


def _raw_of(stack: Stack, svc, key: str) -> tuple[str | None, str | None, Location] | None:
    """(value, raw text before interpolation, location of the key) of a container variable."""
    var = svc.env(key)
    if var is not None:
        return var.value, var.raw, Location(svc.doc.path, var.key_node.line, var.key_node.col)
    for doc in reversed(stack.service_dotenvs(svc)):
        e = doc.get(key)
        if e is not None:
            return e.value, e.value, Location(doc.path, e.line, e.col)
    return None


def _same_value(a, b) -> bool:
    (va, ra, _), (vb, rb, _) = a, b
    if va and vb and va == vb:
        return True
    # the same compose reference, even when no interpolation source defines it
    ref = re.compile(r"^\$\{?([A-Za-z_]\w*)")
    ma, mb = ref.match(ra or ""), ref.match(rb or "")
    return bool(ma and mb and ma.group(1) == mb.group(1))


@rule("DATA085", "app-uses-minio-root", "high", files="env+compose", refs="CWE-250")
def app_uses_minio_root(stack: Stack):
    """The application talks to MinIO with the root account.

    ## What it does
    Compares an app service's S3 access key (`S3_ACCESS_KEY`, `S3_ACCESS_KEY_ID`,
    `AWS_ACCESS_KEY_ID`, `MINIO_ACCESS_KEY`, ...) with the MinIO service's `MINIO_ROOT_USER` (or
    deprecated `MINIO_ACCESS_KEY`): the same value, or the same `${VAR}`, means the app holds the
    root credentials. Only services with the `app` role are checked: a bucket-provisioning job
    (`minio/mc`) legitimately uses root.

    ## Why is this bad?
    An SSRF, a leaked env file or an RCE in the app then yields every bucket, the IAM users and
    policies, and the server configuration, instead of the app's own bucket.

    ## Example
    ```
    MINIO_ROOT_USER=admin
    S3_ACCESS_KEY=admin
    ```

    ## Use instead
    Create a user with a bucket-scoped policy (`mc admin user add`, `mc admin policy attach`) and
    give the app that user's keys.

    ## Fix safety
    Manual.

    ## References
    CWE-250; MinIO documentation, access management.
    """
    minios = stack.services_by_role("minio")
    if not minios:
        return
    roots = []
    for m in minios:
        r = _raw_of(stack, m, "MINIO_ROOT_USER") or _raw_of(stack, m, "MINIO_ACCESS_KEY")
        if r is not None:
            roots.append((m, r))
    for svc in stack.services_by_role("app"):
        for key in APP_S3_KEYS:
            mine = _raw_of(stack, svc, key)
            if mine is None:
                continue
            for m, root in roots:
                if mine[2] == root[2]:
                    continue  # the very entry MinIO reads (an env file both services load)
                if _same_value(mine, root):
                    yield hit(mine[2], f"app service '{svc.name}' uses {key} equal to minio service '{m.name}' "
                                       f"MINIO_ROOT_USER: the app holds the MinIO root account",
                              related=[root[2]], snippet_key=f"{svc.name}:{key}")
                    break


KMS_PREFIXES = ("MINIO_KMS_KES_", "MINIO_KMS_SERVER", "MINIO_KMS_SECRET_KEY", "MINIO_KMS_SSE_S3", "MINIO_KMS_AUTO_ENCRYPTION")


@rule("DATA086", "minio-no-sse", "low", files="compose+env", refs="CWE-311; MinIO SSE docs")
def minio_no_sse(stack: Stack):
    """MinIO stores objects unencrypted (no KMS configured).

    ## What it does
    Flags a MinIO service whose environment has no KMS group: KES (`MINIO_KMS_KES_*`), MinIO KMS
    (`MINIO_KMS_SERVER…`) or a static key (`MINIO_KMS_SECRET_KEY`, `_FILE`). Without one, SSE-S3
    and SSE-KMS are unavailable and objects are written in clear.

    ## Why is this bad?
    Uploads (documents, images, exports) sit in plain files under the data volume: a stolen disk,
    snapshot or backup exposes them.

    ## Example
    ```yaml
    minio:
      environment:
        MINIO_ROOT_USER: admin
    ```

    ## Use instead
    ```yaml
    minio:
      environment:
        MINIO_KMS_SECRET_KEY_FILE: /run/secrets/minio_kms_key   # or KES
    ```
    and turn on bucket encryption (`mc encrypt set sse-s3`).

    ## Fix safety
    Manual.

    ## References
    CWE-311; MinIO documentation, server-side encryption.
    """
    for svc in stack.services_by_role("minio"):
        keys = set(service_env(stack, svc))
        if any(k.startswith(KMS_PREFIXES) for k in keys):
            continue
        if "MINIO_CONFIG_ENV_FILE" in keys:
            continue
        yield hit(svc_loc(svc), f"minio service '{svc.name}' has no KMS configuration (MINIO_KMS_KES_*, "
                                f"MINIO_KMS_SERVER, MINIO_KMS_SECRET_KEY): objects are stored unencrypted",
                  snippet_key=f"{svc.name}:sse")


# ---------------------------------------------------------------------------------------------
# Transport to external services
# ---------------------------------------------------------------------------------------------

_TRUE = ("true", "1", "yes", "on", "required", "require")


def _env_sources(stack: Stack):
    """(path, key, value, Location of the value, env dict of its scope) for every dotenv entry
    (templates skipped) and every compose ``environment:`` value."""
    for sf in stack.sources("env"):
        if sf.template:
            continue
        doc = sf.doc
        scope = {e.key: e.value for e in doc.entries}
        for e in doc.entries:
            yield doc.path, e.key, e.value, Location(doc.path, e.line, e.col), scope
    for svc in stack.services:
        env = svc.environment
        scope = {v.key: v.value or "" for v in env}
        for v in env:
            if v.value is None:
                continue
            if v.raw and "$" in v.raw and v.value_node is not None and any(
                    not r.defined and not r.has_default for r in getattr(v.value_node, "vars", []) or []):
                continue
            yield svc.doc.path, v.key, v.value, Location(svc.doc.path, v.key_node.line, v.key_node.col), scope


def _external_host(stack: Stack, host: str) -> bool:
    """A host outside the stack: not a compose service, alias or the machine itself, and a
    qualified name or an IP (a single-label name such as ``es-redis`` is a container of another
    compose project on the same Docker network, resolved by Docker's DNS)."""
    h = (host or "").strip().strip("[]")
    if not h or "$" in h or "{" in h or is_compose_host(stack, h):
        return False
    return "." in h or ":" in h


def _url_issue(stack: Stack, key: str, value: str, scope: dict) -> str | None:
    v = value.strip().strip("'\"")
    if "://" not in v:
        return None
    try:
        parts = urlsplit(v)
        host = parts.hostname or ""
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not _external_host(stack, host):
        return None
    if scheme.startswith(("postgres", "postgresql")):
        q = {k.lower(): vals[-1].lower() for k, vals in parse_qs(parts.query).items()}
        mode = q.get("sslmode")
        if mode in ("require", "verify-ca", "verify-full") or q.get("ssl") in _TRUE or q.get("tls") in _TRUE:
            return None
        mode_env = next((str(scope[k]).lower() for k in ("PGSSLMODE", "DB_SSLMODE", "DATABASE_SSLMODE") if k in scope), None)
        if mode is None and mode_env in ("require", "verify-ca", "verify-full"):
            return None
        return f"{key} connects to PostgreSQL at {host} with sslmode={mode or 'absent (prefer: falls back to plaintext)'}"
    if scheme == "redis":
        return f"{key} connects to Redis at {host} over redis:// (plaintext; rediss:// uses TLS)"
    if scheme == "nats":
        if any(k.startswith("NATS_TLS") or k in ("NATS_CA", "NATS_CA_FILE", "NATS_CERT") for k in scope):
            return None
        return f"{key} connects to NATS at {host} over nats:// without TLS settings (tls:// requires it)"
    if scheme == "http" and re.search(r"S3|AWS|MINIO|STORAGE|BUCKET|OBJECT", key, re.I):
        return f"{key} sends object-storage requests (and their signatures) to {host} over http://"
    return None


_SMTP_SECURE = ("SMTP_SECURE", "EMAIL_SECURE", "MAIL_SECURE", "SMTP_SSL", "SMTP_TLS", "EMAIL_USE_TLS", "MAIL_USE_TLS")
_SMTP_REQUIRE = ("SMTP_REQUIRE_TLS", "SMTP_STARTTLS", "SMTP_REQUIRETLS", "EMAIL_USE_TLS", "EMAIL_USE_SSL", "MAIL_USE_TLS",
                 "MAIL_USE_SSL", "SMTP_TLS", "SMTP_SSL", "SMTP_ENABLE_STARTTLS", "SMTP_STARTTLS_ENABLE")


_SMTP_SWITCHES = tuple(dict.fromkeys(_SMTP_SECURE + _SMTP_REQUIRE + ("SMTP_ENCRYPTION", "MAIL_ENCRYPTION", "EMAIL_ENCRYPTION")))
_OFF = ("false", "0", "no", "off", "none", "null", "disabled")


def _switch_off(key: str, value) -> bool:
    """A TLS switch of the mail settings written off (``SMTP_TLS=false``, ``MAIL_ENCRYPTION=null``)."""
    return key.upper() in _SMTP_SWITCHES and str(value).strip().lower() in _OFF


def _smtp_issue(stack: Stack, key: str, value: str, scope: dict) -> str | None:
    """Mail to a host outside the stack in plaintext, reported at the setting that makes it so: the
    first TLS switch written off (``SMTP_TLS=false``, ``SMTP_SECURE=false``, ``EMAIL_USE_TLS=False``)
    when no other switch turns TLS on, else ``*_PORT=25`` when no switch requires STARTTLS."""
    prefix = key.split("_", 1)[0].upper()
    if prefix not in ("SMTP", "EMAIL", "MAIL"):
        return None
    off = _switch_off(key, value)
    port_25 = key.upper().endswith("_PORT") and str(value).strip() == "25"
    if not (off or port_25):
        return None  # every variable of every service comes here: the host is only looked up for these
    host_key = next((k for k in (f"{prefix}_HOST", f"{prefix}_SERVER", "SMTP_HOST", "EMAIL_HOST", "MAIL_HOST") if k in scope), None)
    host = str(scope.get(host_key, "")) if host_key else ""
    if not _external_host(stack, host):
        return None
    if any(k.upper() in _SMTP_SWITCHES and str(v).strip().lower() in _TRUE + ("tls", "ssl", "starttls")
           for k, v in scope.items() if k != key):
        return None  # another switch turns TLS on (or requires STARTTLS)
    offs = [k for k, v in scope.items() if _switch_off(k, v)]
    if off:
        if offs and offs[0] != key:
            return None  # one finding, at the first switch written off
        if key.upper() in ("SMTP_SECURE", "EMAIL_SECURE", "MAIL_SECURE"):
            return f"{key}={value}: mail to {host} starts in plaintext and STARTTLS is only opportunistic (no REQUIRE_TLS)"
        return f"{key}={value} turns TLS off: mail (and the SMTP login) to {host} travels in plaintext"
    if offs:
        return None  # reported at the switch that turns TLS off
    return f"{key}=25 to {host} without STARTTLS required: credentials and mail may travel in plaintext"


@rule("DATA088", "plaintext-transport-external", "medium", files="env", refs="CWE-319")
def plaintext_transport_external(stack: Stack):
    """A connection to a service outside the stack travels unencrypted.

    ## What it does
    Reads every env file (templates skipped) and compose `environment:` value for connections to a
    host outside the stack — a qualified name or an IP that is not a compose service, alias or the
    machine itself (a bare name like `es-redis` is another project's container): a PostgreSQL URL without
    `sslmode=require`/`verify-*` (absent means `prefer`, which falls back to plaintext), `redis://`
    (not `rediss://`), `nats://` without TLS settings, `http://` object storage, and mail sent in
    plaintext — at the setting that makes it so: the first TLS switch written off (`SMTP_TLS=false`,
    `SMTP_SECURE=false`, `EMAIL_USE_TLS=False`, `MAIL_ENCRYPTION=null`) when no other switch turns
    TLS on, else SMTP port 25 without a `*_REQUIRE_TLS`/`STARTTLS` switch.

    ## Why is this bad?
    Between the VPS and a managed database, cache or mail relay the traffic crosses networks you
    do not control: passwords, session data and personal data can be read or altered on the way.
    Inside the compose network the same traffic stays on the host, which is why compose hosts pass.

    ## Example
    ```
    DATABASE_URL=postgres://app:${DB_PASSWORD}@db.example.com:5432/app
    ```

    ## Use instead
    ```
    DATABASE_URL=postgres://app:${DB_PASSWORD}@db.example.com:5432/app?sslmode=verify-full
    ```

    ## Fix safety
    Manual: the server must offer TLS first.

    ## References
    CWE-319; PostgreSQL documentation, SSL support (sslmode).
    """
    for path, key, value, loc, scope in _env_sources(stack):
        if not isinstance(value, str) or not value:
            continue
        issue = _url_issue(stack, key, value, scope) or _smtp_issue(stack, key, value, scope)
        if issue:
            yield hit(loc, issue, snippet_key=f"{key}")

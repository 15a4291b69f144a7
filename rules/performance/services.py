"""Performance, services family: connection pools, Redis memory (the capacity model:
seed 4 vCPU, 8 GiB, 500 users, 1000 req/s, pool 20).

Capacity model (rules catalog, PERF intro): inputs are the ``host.*``, ``load.*`` and ``db.*`` policy
keys (``scanner/config.py``) and what the stack says; every message prints its arithmetic."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rules.helpers.locations import svc_loc
from rules.helpers.services import command_append_edit, env_targets, is_server, redis_config, resolve_host, service_env
from scanner.config import parse_size
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


def _redis_users(stack: Stack, svc) -> list[tuple[object, str, str, int, str]]:
    """(app service, key, path, line, value) of env entries of other services that point at ``svc``."""
    out = []
    for other in stack.services:
        if other is svc or other.role in ("redis", "postgres", "minio", "nats", "prometheus", "certbot", "gateway"):
            continue
        targets = env_targets(stack, other)
        if not any(t is svc for t in targets.values()):
            continue
        for key, (value, path, line) in service_env(stack, other).items():
            if targets.get(key) is svc:
                out.append((other, key, path, line, value))
    return out

POOL_KEYS = ("DATABASE_POOL_SIZE", "DATABASE_POOL_MAX", "DB_POOL_SIZE", "DB_POOL_MAX", "DB_MAX_CONNECTIONS",
             "DATABASE_MAX_CONNECTIONS", "PG_POOL_SIZE", "PG_POOL_MAX", "POOL_SIZE", "SQLALCHEMY_POOL_SIZE",
             "DATABASE_MAX_POOL_SIZE", "DB_POOL_MAX_SIZE")
HOST_KEYS = ("DB_HOST", "POSTGRES_HOST", "PGHOST", "DATABASE_HOST", "POSTGRES_SERVER", "DB_SERVER", "SQL_HOST")
DSN_KEYS = ("DATABASE_URL", "DB_URL", "POSTGRES_URL", "PG_URL", "DATABASE_DSN", "DB_DSN", "POSTGRES_DSN",
            "DATA_SOURCE_NAME", "SQLALCHEMY_DATABASE_URI")
NOT_CLIENTS = ("postgres", "redis", "minio", "nats", "prometheus", "gateway", "certbot")


def postgres_setting(svc, name: str) -> tuple[str, object] | None:
    """A ``-c name=value`` (or ``--name=value``) from the postgres service's command."""
    words = svc.command_words()
    for i, w in enumerate(words):
        cand = None
        if w == "-c" and i + 1 < len(words):
            cand = words[i + 1]
        elif w.startswith("-c") and "=" in w:
            cand = w[2:]
        elif w.startswith("--") and "=" in w:
            cand = w[2:]
        if cand:
            k, _, v = cand.partition("=")
            if k.strip().replace("-", "_") == name:
                return v.strip().strip("'\""), svc.get("command")
    return None


def _setting_location(svc, name: str) -> Location:
    """Where ``name`` appears in the postgres command (the service key when not found)."""
    node = svc.get("command")
    if node is not None:
        for line_no in range(node.line, (node.end_line or node.line) + 1):
            idx = svc.doc.line_text(line_no).find(name)
            if idx >= 0:
                return Location(svc.doc.path, line_no, idx + 1, line_no, idx + 1 + len(name))
    return svc_loc(svc)


def _conf_setting(stack: Stack, svc, name: str) -> tuple[str, Location, str] | None:
    """(value, location, source) of a postgres setting: ``-c`` on the command line, else ``ALTER
    SYSTEM SET`` in a mounted init script (postgresql.auto.conf), else a postgresql.conf the server
    loads (``-c config_file=`` or mounted as ``$PGDATA/postgresql.conf``)."""
    got = postgres_setting(svc, name)
    if got is not None:
        return got[0], _setting_location(svc, name), "postgres command"
    alter = re.compile(r"ALTER\s+SYSTEM\s+SET\s+" + name + r"\s*(?:=|TO)\s*'?(\w+)'?", re.I)
    for sf in stack.sources("sql"):
        if not any(s is svc and t.startswith("/docker-entrypoint-initdb.d") for s, t in sf.mounted_by):
            continue
        for line_no, line in enumerate(sf.text.splitlines(), 1):
            m = alter.search(line)
            if m:
                return m.group(1), Location(sf.rel, line_no, m.start() + 1), f"ALTER SYSTEM in {sf.rel}"
    cfg_file = postgres_setting(svc, "config_file")
    conf = re.compile(r"^\s*" + name + r"\s*=?\s*'?(\w+)'?", re.I)
    for sf in stack.sources("pgconf"):
        loaded = any(s is svc and ((cfg_file and t == cfg_file[0]) or t.endswith("/postgresql.conf") and
                                   t.startswith("/var/lib/postgresql")) for s, t in sf.mounted_by)
        if not loaded:
            continue
        value = None
        for line_no, line in enumerate(sf.text.splitlines(), 1):
            m = conf.match(line.split("#", 1)[0])
            if m:
                value = (m.group(1), Location(sf.rel, line_no, m.start(0) + 1), sf.rel)
        if value:
            return value
    return None


def _pg_targets(stack: Stack, value: str) -> str | None:
    """Host of a PostgreSQL DSN or a plain host value."""
    v = (value or "").strip()
    if "://" in v:
        if not re.match(r"^postgres(ql)?(\+\w+)?://", v, re.I):
            return None
        try:
            return urlsplit(v).hostname
        except ValueError:
            return None
    return v.split(":")[0] if v else None


def _client_of(stack: Stack, svc, pgs: list) -> object | None:
    """The postgres service ``svc`` connects to, when its environment says."""
    env = service_env(stack, svc)
    hinted = False
    for key, (value, _p, _l) in env.items():
        if key in DSN_KEYS or key in HOST_KEYS or re.match(r"^postgres(ql)?(\+\w+)?://", value or "", re.I):
            host = _pg_targets(stack, value)
            if key in DSN_KEYS and "://" in (value or "") and host is None:
                continue
            hinted = True
            target = resolve_host(stack, host or "", svc)
            if target is not None and any(target is p for p in pgs):
                return target
    if hinted:
        same_doc = [p for p in pgs if p.doc is svc.doc]
        if len(same_doc) == 1:
            return same_doc[0]
    return None


def _pool(stack: Stack, svc) -> tuple[int, Location, str]:
    """(pool size, where it is set, how) for a client service."""
    env = service_env(stack, svc)
    for key in POOL_KEYS:
        if key in env:
            try:
                return int(str(env[key][0]).strip()), Location(env[key][1], env[key][2], 1), key
            except ValueError:
                continue
    for key, (value, path, line) in env.items():
        m = re.search(r"[?&]pool_max_conns=(\d+)", value or "")
        if m:
            return int(m.group(1)), Location(path, line, 1), f"{key} pool_max_conns"
    return int(stack.policy.get("db.pool_size", 20)), svc_loc(svc), "policy db.pool_size"


def _single_client(svc) -> bool:
    img = (svc.image or "").lower()
    text = " ".join(svc.command_words() + svc.command_words("entrypoint"))
    return "exporter" in img or bool(re.search(r"\b(pg_dump|pg_dumpall|pg_basebackup|pgbackrest|wal-g)\b", text)) \
        or "backup" in img


@rule("PERF020", "pool-exceeds-max-connections", "medium", files="env+compose+sql", refs="CWE-770")
def pool_exceeds_max_connections(stack: Stack):
    """The apps' connection pools need more connections than PostgreSQL allows.

    ## What it does
    For each postgres service, adds up `db_demand = Σ pool × replicas` over the services that
    connect to it (a DSN or `DB_HOST`/`POSTGRES_HOST` naming it; or any database setting when it is
    the compose file's only postgres): the pool from `DATABASE_POOL_SIZE`, `DB_POOL_MAX`, ..., a
    DSN's `pool_max_conns=`, else the policy's `db.pool_size` (20); an exporter or backup client
    counts 1. Compares it with `db_budget = max_connections − superuser_reserved_connections −
    reserved_connections`, read from the postgres command (`-c`), an `ALTER SYSTEM SET` in its
    init SQL, or a postgresql.conf it loads, else the policy's `db.max_connections` (100) and
    `db.reserved` (3).

    ## Why is this bad?
    Under load every replica fills its pool; the connections beyond the budget fail with `FATAL:
    sorry, too many clients already` — exactly when the 500 concurrent users arrive.

    ## Example
    3 backend replicas × `DATABASE_POOL_SIZE=50` = 150 > `max_connections` 100 − 3 reserved.

    ## Use instead
    Size the pools so that their sum fits (or put PgBouncer in front), or raise `max_connections`
    together with the memory it costs.

    ## Fix safety
    Manual.

    ## References
    CWE-770; PostgreSQL documentation, connections and authentication.
    """
    pgs = [p for p in stack.services_by_role("postgres") if is_server(p)]
    if not pgs:
        return
    clients: dict[int, list] = {id(p): [] for p in pgs}
    for svc in stack.services:
        if svc.role in NOT_CLIENTS:
            continue
        target = _client_of(stack, svc, pgs)
        if target is not None:
            clients[id(target)].append(svc)
    for pg in pgs:
        members = clients[id(pg)]
        if not members:
            continue
        try:
            mc = _conf_setting(stack, pg, "max_connections")
            max_connections = int(mc[0]) if mc else int(stack.policy.get("db.max_connections", 100))
            sr = _conf_setting(stack, pg, "superuser_reserved_connections")
            reserved = int(sr[0]) if sr else int(stack.policy.get("db.reserved", 3))
            rc = _conf_setting(stack, pg, "reserved_connections")
            reserved += int(rc[0]) if rc else 0
        except (TypeError, ValueError):
            continue
        demand = 0
        parts = []
        anchor = None
        for svc in members:
            n = svc.replicas
            if _single_client(svc):
                demand += n
                parts.append(f"{svc.name}: {n} connection{'s' if n != 1 else ''}")
                continue
            pool, loc, how = _pool(stack, svc)
            demand += pool * n
            parts.append(f"{svc.name}: {n} replica{'s' if n != 1 else ''} x pool {pool} ({how})")
            if anchor is None or pool * n > anchor[0]:
                anchor = (pool * n, loc)
        budget = max_connections - reserved
        if anchor is None or demand <= budget:
            continue
        where = mc[2] if mc else "policy db.max_connections"
        related = [mc[1]] if mc else [svc_loc(pg)]
        yield hit(anchor[1],
                  f"{' + '.join(parts)} = {demand} > max_connections {max_connections} ({where}) - {reserved} "
                  f"reserved = {budget} for postgres service '{pg.name}'",
                  related=related, snippet_key=f"pool:{pg.name}")


# ---------------------------------------------------------------------------------------------
# Redis memory
# ---------------------------------------------------------------------------------------------

_REDIS_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def redis_bytes(text: str) -> int | None:
    """A redis memory value (``256mb``, ``1gb``, ``2g``, ``1000000``) in bytes."""
    m = re.fullmatch(r"\s*([0-9]{1,18})(?:\s*([kmg]b?|b))?\s*", (text or "").lower())
    if not m:
        return None
    return int(m.group(1)) * _REDIS_UNITS[m.group(2) or ""]


def _mem_limit(svc) -> int | None:
    lim = svc.limit("memory")
    if lim is None:
        return None
    return parse_size(str(lim))


def _mb(n: int) -> str:
    return f"{max(1, n // (1024 * 1024))}mb"


def _human(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def _replace_setting_value(svc, setting, new: str) -> tuple[Edit, ...] | None:
    """Edit replacing the first argument of a redis command-line setting on its line."""
    if not setting.args or not setting.args[0]:
        return None
    loc = setting.location
    text = svc.doc.line_text(loc.start_line)
    start = (loc.end_col or loc.start_col) - 1
    m = re.compile(r"[\s\"',=]*(" + re.escape(setting.args[0]) + r")").match(text, start)
    if not m:
        return None
    col = m.start(1) + 1
    return (Edit(Location(loc.path, loc.start_line, col, loc.start_line, col + len(setting.args[0])), new),)


def _conf_edit(stack: Stack, setting, new: str) -> tuple[Edit, ...] | None:
    sf = stack.files.get(setting.location.path)
    if sf is None or not setting.args:
        return None
    lines = sf.text.splitlines()
    line = lines[setting.location.start_line - 1] if setting.location.start_line <= len(lines) else ""
    start = (setting.location.end_col or 1) - 1
    m = re.compile(r"\s*[\"']?(" + re.escape(setting.args[0]) + r")").match(line, start)
    if not m:
        return None
    col = m.start(1) + 1
    loc = setting.location
    return (Edit(Location(loc.path, loc.start_line, col, loc.start_line, col + len(setting.args[0])), new),)


def _value_edit(stack: Stack, svc, setting, new: str):
    if setting.source == "command":
        return _replace_setting_value(svc, setting, new)
    return _conf_edit(stack, setting, new)


def _add_command_edit(svc, words: list[str]):
    """Append ``words`` to the redis command, or add ``command: redis-server <words>``."""
    edits = command_append_edit(svc, words)
    if edits:
        return edits
    if svc.get("command") is None and svc.get("entrypoint") is None:
        first = next(iter(svc.node.pairs()), None)
        if first is None or first[0].line == svc.key.line:
            return None
        ind = first[0].col - 1
        server = "valkey-server" if "valkey" in (svc.image or "") else "redis-server"
        return (Edit(Location(svc.doc.path, svc.key.line + 1, 1),
                     " " * ind + f"command: {server} " + " ".join(words) + "\n"),)
    return None


@rule("PERF040", "redis-maxmemory-unset", "medium", files="compose", refs="Redis eviction docs", fix="safe")
def redis_maxmemory_unset(stack: Stack):
    """Redis has no memory ceiling (`maxmemory` unset or 0).

    ## What it does
    Flags a Redis service whose server runs without `maxmemory` (command line or the redis.conf
    the command loads), or with `maxmemory 0`.

    ## Why is this bad?
    Redis grows until the container's memory limit, where the kernel kills it (losing everything
    since the last snapshot), or, without a limit, until the host swaps and every service slows
    down. With a ceiling Redis evicts (or refuses writes) instead of dying.

    ## Example
    ```yaml
    redis:
      command: redis-server --appendonly yes
      deploy: {resources: {limits: {memory: 1G}}}
    ```

    ## Use instead
    ```yaml
      command: redis-server --appendonly yes --maxmemory 768mb
    ```

    ## Fix safety
    Safe: `--maxmemory` at 75 % of the container's memory limit (the rest is fork and fragmentation
    headroom); offered only when the service has a memory limit.

    ## References
    Redis documentation, key eviction (maxmemory).
    """
    for svc in stack.services_by_role("redis"):
        cfg = redis_config(stack, svc)
        if cfg.conf_unknown:
            continue
        mm = cfg.get("maxmemory")
        if mm is not None and (mm.unknown or (mm.args and redis_bytes(mm.args[0]) != 0)):
            continue
        limit = _mem_limit(svc)
        fix = None
        if limit:
            target = _mb(limit * 3 // 4)
            edits = _value_edit(stack, svc, mm, target) if mm is not None else _add_command_edit(svc, ["--maxmemory", target])
            fix = Fix(f"set maxmemory to {target} (75 % of the {_human(limit)} limit)", edits) if edits else None
        loc = mm.location if mm is not None else svc_loc(svc)
        what = "maxmemory 0 (no limit)" if mm is not None else "no maxmemory"
        lim = f"; the container limit is {_human(limit)}, where the kernel kills it" if limit else ""
        yield hit(loc, f"redis service '{svc.name}' runs with {what}: it grows until it is killed{lim}", fix=fix,
                  snippet_key=f"{svc.name}:maxmemory")


def _cache_users(stack: Stack, svc) -> list[str]:
    """Names of cache settings (``CACHE_*``, ``REDIS_CACHE*``) of services that use ``svc``."""
    out = []
    redises = stack.services_by_role("redis")
    users = list({id(u[0]): u[0] for u in _redis_users(stack, svc)}.values())
    if not users and len(redises) == 1:
        users = [s for s in stack.services if s.role not in NOT_CLIENTS and
                 any(k.upper().startswith("REDIS") for k in service_env(stack, s))]
    for app in users:
        env = service_env(stack, app)
        cache = {k: v for k, (v, _p, _l) in env.items() if k.upper().startswith(("CACHE_", "REDIS_CACHE"))}
        if not cache:
            continue
        if str(cache.get("CACHE_ENABLED", "true")).lower() in ("false", "0", "no", "off"):
            continue
        targets = env_targets(stack, app)
        pointing = {k for k in cache if any(targets.get(k) is r for r in redises)}
        if pointing and not any(targets.get(k) is svc for k in pointing):
            continue  # the app's cache is another Redis
        out.extend(f"{app.name} {k}" for k in sorted(pointing or cache)[:2])
    return out


@rule("PERF041", "redis-noeviction-cache", "medium", files="compose+env", refs="Redis eviction docs", fix="unsafe")
def redis_noeviction_cache(stack: Stack):
    """A Redis used as a cache refuses writes when full (`noeviction`).

    ## What it does
    Flags a Redis service whose `maxmemory-policy` is `noeviction` (Redis' default) while a service
    that uses it has cache settings (`CACHE_*`, `REDIS_CACHE*`): its `REDIS_URL`/`REDIS_HOST` names
    this Redis, or a cache key does.

    ## Why is this bad?
    When the cache reaches `maxmemory`, `noeviction` answers every write with `OOM command not
    allowed`: the cache turns into an outage instead of dropping old entries. Caches want
    `allkeys-lru` (or `allkeys-lfu`); queues and sessions want a separate Redis.

    ## Example
    ```yaml
    redis:
      command: redis-server --maxmemory 768mb
    backend:
      environment: {REDIS_URL: "redis://redis:6379/0", CACHE_DEFAULT_TTL_SECONDS: "300"}
    ```

    ## Use instead
    ```yaml
      command: redis-server --maxmemory 768mb --maxmemory-policy allkeys-lru
    ```

    ## Fix safety
    Unsafe: under memory pressure Redis then evicts *any* key, sessions and queues included when
    they share the server.

    ## References
    Redis documentation, key eviction.
    """
    for svc in stack.services_by_role("redis"):
        cfg = redis_config(stack, svc)
        if cfg.conf_unknown:
            continue
        pol = cfg.get("maxmemory-policy")
        if pol is not None and (pol.unknown or not pol.args or pol.args[0].lower() != "noeviction"):
            continue
        users = _cache_users(stack, svc)
        if not users:
            continue
        edits = _value_edit(stack, svc, pol, "allkeys-lru") if pol is not None else \
            _add_command_edit(svc, ["--maxmemory-policy", "allkeys-lru"])
        fix = Fix("evict least-recently-used keys when full", edits) if edits else None
        how = "maxmemory-policy noeviction" if pol is not None else "the default maxmemory-policy noeviction"
        yield hit(pol.location if pol is not None else svc_loc(svc),
                  f"redis service '{svc.name}' runs with {how} while it serves as a cache ({', '.join(users[:3])}): "
                  f"when full, every write fails instead of evicting", fix=fix, snippet_key=f"{svc.name}:policy")


@rule("PERF042", "redis-maxmemory-over-limit", "medium", files="compose+redis.conf", refs="Redis eviction docs",
      fix="safe")
def redis_maxmemory_over_limit(stack: Stack):
    """Redis' `maxmemory` is at or above the container's memory limit.

    ## What it does
    Compares `maxmemory` (command line or loaded redis.conf; `kb`/`mb`/`gb` are powers of 1024,
    `k`/`m`/`g` of 1000) with the service's memory limit (`deploy.resources.limits.memory`, else
    `mem_limit`) and flags it when it is not below.

    ## Why is this bad?
    `maxmemory` counts the dataset only: buffers, fragmentation and the fork for snapshots come
    on top. With the ceiling at the limit the kernel OOM-kills Redis before it ever evicts.

    ## Example
    ```yaml
    command: redis-server --maxmemory 1gb
    deploy: {resources: {limits: {memory: 1G}}}
    ```

    ## Use instead
    ```yaml
    command: redis-server --maxmemory 768mb
    ```

    ## Fix safety
    Safe: the value becomes 75 % of the limit.

    ## References
    Redis documentation, key eviction and memory optimisation.
    """
    for svc in stack.services_by_role("redis"):
        cfg = redis_config(stack, svc)
        mm = cfg.get("maxmemory")
        if mm is None or mm.unknown or not mm.args:
            continue
        value = redis_bytes(mm.args[0])
        limit = _mem_limit(svc)
        if not value or not limit or value < limit:
            continue
        target = _mb(limit * 3 // 4)
        edits = _value_edit(stack, svc, mm, target)
        yield hit(mm.location, f"redis service '{svc.name}': maxmemory {mm.args[0]} ({_human(value)}) >= the container "
                               f"memory limit {_human(limit)}: the kernel kills Redis before it evicts",
                  fix=Fix(f"set maxmemory to {target} (75 % of the limit)", edits) if edits else None,
                  related=[svc_loc(svc)] if mm.location.path != svc.doc.path else [],
                  snippet_key=f"{svc.name}:maxmemory-limit")

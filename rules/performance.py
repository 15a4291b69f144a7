"""Performance: resource limits and the capacity model (seed: 4 vCPU, 8 GiB, 500 users, 1000 req/s, pool 20)."""

from __future__ import annotations

import re

from scanner.model import Location, hit
from scanner.registry import rule

POOL_KEYS = ("DATABASE_POOL_SIZE", "DATABASE_POOL_MAX", "DB_POOL_SIZE", "DB_POOL_MAX", "DB_MAX_CONNECTIONS",
             "DATABASE_MAX_CONNECTIONS", "PG_POOL_SIZE", "PG_POOL_MAX", "POOL_SIZE", "SQLALCHEMY_POOL_SIZE")
DB_HINT_KEYS = ("DATABASE_URL", "DB_HOST", "POSTGRES_HOST", "PGHOST", "DB_URL", "DATABASE_HOST")


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


def app_pool(stack, svc) -> tuple[int, str, int, str] | None:
    """(pool, path, line, key) for an app that talks to PostgreSQL, else None."""
    env = stack.service_env(svc)
    for key in POOL_KEYS:
        if key in env:
            try:
                return int(env[key][0]), env[key][1], env[key][2], key
            except ValueError:
                continue
    for key, (value, path, line) in env.items():
        m = re.search(r"[?&]pool_max_conns=(\d+)", value)
        if m:
            return int(m.group(1)), path, line, key
    if any(k in env for k in DB_HINT_KEYS) or any(v[0].startswith(("postgres://", "postgresql://")) for v in env.values()):
        default = int(stack.policy.get("db.pool_size", 20))
        return default, svc.doc.path, svc.key.line, "(default pool)"
    return None


@rule("PERF020", "pool-exceeds-max-connections", "medium", files="env+compose+sql", refs="CWE-770")
def pool_exceeds_max_connections(stack):
    """The apps' connection pools need more connections than PostgreSQL allows.

    ## What it does
    Computes `db_demand = Σ pool × replicas` over the services that connect to PostgreSQL (pool from
    `DATABASE_POOL_SIZE`, `DB_POOL_MAX`, a DSN's `pool_max_conns=`, else the policy's `db.pool_size`)
    and compares it with `db_budget = max_connections − superuser_reserved_connections −
    reserved_connections` read from the postgres command (`-c max_connections=`), else PostgreSQL's
    defaults (100, 3 and 0).

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
    pg = stack.services_by_role("postgres")
    if not pg:
        return
    postgres = pg[0]
    maxc = postgres_setting(postgres, "max_connections")
    reserved = postgres_setting(postgres, "superuser_reserved_connections")
    reserved2 = postgres_setting(postgres, "reserved_connections")
    try:
        max_connections = int(maxc[0]) if maxc else int(stack.policy.get("db.max_connections", 100))
        res = (int(reserved[0]) if reserved else int(stack.policy.get("db.reserved", 3))) + (int(reserved2[0]) if reserved2 else 0)
    except ValueError:
        return
    demand = 0
    parts = []
    anchor = None
    for svc in stack.services:
        if svc.role != "app" and not any(k in stack.service_env(svc) for k in POOL_KEYS):
            continue
        pool = app_pool(stack, svc)
        if pool is None:
            continue
        n, path, line, key = pool
        demand += n * svc.replicas
        parts.append(f"{svc.name}: {svc.replicas} replica{'s' if svc.replicas != 1 else ''} x pool {n} ({key})")
        if anchor is None or n * svc.replicas > anchor[0]:
            anchor = (n * svc.replicas, Location(path, line, 1))
    budget = max_connections - res
    if anchor is not None and demand > budget:
        where = "postgres command" if maxc else "PostgreSQL default"
        yield hit(anchor[1],
                  f"{'; '.join(parts)} = {demand} connections > max_connections {max_connections} ({where}) - {res} reserved = {budget}",
                  related=[Location(postgres.doc.path, postgres.key.line, postgres.key.col)], snippet_key="pool")

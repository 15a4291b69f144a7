"""Data, storage family (DATA089-DATA092): where stateful services keep their data, and the database backups."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import LazyRe, svc_loc, yloc
from rules.helpers.services import (
    env_var,
    is_server,
    nats_blocks,
    nats_configs,
    nats_get,
    persistence_off,
    redis_config,
    service_env,
    service_image,
    service_words_text,
)
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack

# ---------------------------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------------------------


def _pg_major(svc) -> int | None:
    """Major version of an official postgres (or postgis) image; 18 for floating tags; None when
    unknown (another image, a ``${VAR}`` tag)."""
    base, tag = service_image(svc)
    if base not in ("postgres", "postgis"):
        return None
    raw = svc.get("image")
    if raw is not None and getattr(raw, "raw", "") and "$" in raw.raw.split(":")[-1]:
        return None
    m = re.match(r"([0-9]{1,9})(?![0-9])", tag or "")
    if m:
        return int(m.group(1))
    if tag in ("", "latest", "alpine") or re.fullmatch(r"alpine[\d.]*|bookworm|trixie|bullseye", tag or ""):
        return 18
    return None


def _pgdata(stack: Stack, svc) -> str:
    got = env_var(stack, svc, "PGDATA")
    if got is not None and got[0]:
        return got[0].rstrip("/")
    major = _pg_major(svc)
    if major is not None and major >= 18:
        return "/var/lib/postgresql/18/docker"
    return "/var/lib/postgresql/data"


def _covering_mount(svc, path: str):
    path = path.rstrip("/") or "/"
    best = None
    for m in svc.volumes:
        tgt = (m.target or "").rstrip("/") or "/"
        if not m.target:
            continue
        if path == tgt or path.startswith(tgt + "/"):
            if best is None or len(tgt) > len((best.target or "").rstrip("/")):
                best = m
    return best


def _tmpfs_covers(svc, path: str) -> bool:
    from scanner.parsers.yamlnodes import YScalar, YSeq

    node = svc.get("tmpfs")
    items = [node] if isinstance(node, YScalar) else list(node) if isinstance(node, YSeq) else []
    for it in items:
        if isinstance(it, YScalar) and it.value is not None:
            t = str(it).split(":")[0].rstrip("/")
            if path == t or path.startswith(t + "/"):
                return True
    return any(m.type == "tmpfs" and (path == m.target.rstrip("/") or path.startswith(m.target.rstrip("/") + "/"))
               for m in svc.volumes if m.target)


def _nats_store_dir(stack: Stack, svc) -> tuple[str, object] | None:
    """(store dir, where it is set) when the nats service runs JetStream."""
    words = svc.command_words()
    store = None
    js = any(w in ("-js", "--jetstream") for w in words)
    for i, w in enumerate(words):
        if w in ("-sd", "--store_dir") and i + 1 < len(words):
            store = words[i + 1]
    for doc in nats_configs(stack, svc):
        blocks = nats_blocks(stack, doc)
        e = nats_get(blocks, "jetstream")
        if e is None:
            continue
        from scanner.parsers.nats import NatsBlock

        if isinstance(e.value, NatsBlock):
            js = True
            sd = e.value.get("store_dir") or e.value.get("store")
            if sd is not None and isinstance(sd.value, str) and not sd.is_ref:
                store = sd.value
        elif e.value is True or (isinstance(e.value, str) and e.value.lower() == "enabled"):
            js = True
    if not js:
        return None
    return (store or "/tmp/nats/jetstream"), None


def _minio_dirs(svc) -> list[str]:
    words = svc.command_words()
    if "server" not in words:
        return []
    out = []
    skip = False
    for w in words[words.index("server") + 1:]:
        if skip:
            skip = False
            continue
        if w.startswith("--"):
            skip = "=" not in w
            continue
        if w.startswith("/") and "{" not in w:
            out.append(w)
        elif w.startswith(("http://", "https://")):
            m = re.match(r"https?://[^/]+(/.*)$", w)
            if m and "{" not in m.group(1):
                out.append(m.group(1))
    return out


def _prometheus_dir(svc) -> str:
    for w in svc.command_words():
        if w.startswith("--storage.tsdb.path="):
            return w.split("=", 1)[1].rstrip("/") or "/prometheus"
    return "/prometheus"


def _stateful_dirs(stack: Stack, svc) -> list[tuple[str, str]]:
    """(container dir that must persist, what it holds) for a stateful service."""
    role = svc.role
    if role == "postgres":
        if _legacy_pg18_mount(stack, svc) is not None:
            return []  # DATA092 reports it
        return [(_pgdata(stack, svc), "the PostgreSQL data directory")]
    if role == "redis":
        cfg = redis_config(stack, svc)
        if cfg.conf_unknown or persistence_off(cfg) is not None:
            return []
        d = cfg.get("dir")
        return [((d.args[0] if d and d.args else "/data").rstrip("/") or "/data", "Redis snapshots / AOF")]
    if role == "minio":
        return [(d, "MinIO objects") for d in _minio_dirs(svc)]
    if role == "nats":
        sd = _nats_store_dir(stack, svc)
        return [(sd[0].rstrip("/"), "the JetStream store_dir")] if sd else []
    if role == "prometheus":
        return [(_prometheus_dir(svc), "the Prometheus TSDB")]
    if role == "certbot":
        return [("/etc/letsencrypt", "certificates and ACME account keys")]
    return []


def _source_from_variable(m) -> bool:
    """The mount's source is a ``${VAR}`` (its value is unknown here, not absent)."""
    from scanner.parsers.yamlnodes import YMap, YScalar

    node = m.node
    if isinstance(node, YScalar):
        return "$" in (node.raw or "").rsplit(":", 1)[0]
    if isinstance(node, YMap):
        src = node.get("source")
        return isinstance(src, YScalar) and "$" in (src.raw or "")
    return False


def _ephemeral_compose(doc) -> bool:
    name = posixpath.basename(doc.path).lower()
    return bool(re.search(r"(^|[.\-_])(test|tests|ci|e2e)([.\-_]|$)", name))


def _block_end_line(doc, node) -> int:
    """Last line holding ``node``'s own text: a block collection's end mark sits on the next
    token's line, after any blank or comment lines that follow it."""
    from scanner.parsers.yamlnodes import YScalar

    end = node.end_line - 1 if node.end_col == 1 and node.end_line > node.line else node.end_line
    if isinstance(node, YScalar) and node.style not in (">", "|"):
        return max(node.line, end)
    while end > node.line and (not doc.line_text(end).strip() or doc.line_text(end).lstrip().startswith("#")):
        end -= 1
    return end


def _add_volume_fix(svc, target: str) -> Fix | None:
    """Add ``<svc>_data:<target>`` to the service's volumes and declare the named volume."""
    from scanner.parsers.yamlnodes import YMap, YSeq

    doc = svc.doc
    name = re.sub(r"[^a-zA-Z0-9_.-]", "_", svc.name) + "_data"
    top_vols = doc.top("volumes")
    if isinstance(top_vols, YMap) and name in top_vols:
        return None
    edits = []
    vols = svc.get("volumes")
    if isinstance(vols, YSeq):
        items = list(vols)
        if not items:
            return None
        last = items[-1]
        line = doc.line_text(last.line)
        if not line.lstrip().startswith("-") or any(i.line == j.line for i, j in zip(items, items[1:])):
            return None
        dash = line.index("-")
        end_line = _block_end_line(doc, last)
        edits.append(Edit(Location(doc.path, end_line + 1, 1), " " * dash + f"- {name}:{target}\n"))
    elif vols is None:
        first = next(iter(svc.node.pairs()), None)
        if first is None or first[0].line == svc.key.line:
            return None
        ind = first[0].col - 1
        edits.append(Edit(Location(doc.path, svc.key.line + 1, 1),
                          " " * ind + "volumes:\n" + " " * (ind + 2) + f"- {name}:{target}\n"))
    else:
        return None
    if isinstance(top_vols, YMap) and top_vols.items:
        pairs = list(top_vols.pairs())
        k, v = pairs[-1]
        end = max(k.line, _block_end_line(doc, v))
        edits.append(Edit(Location(doc.path, end + 1, 1), " " * (k.col - 1) + f"{name}:\n"))
    elif top_vols is None:
        text = doc.text
        edits.append(Edit(Location(doc.path, len(doc.lines) + 1, 1),
                          ("" if text.endswith("\n") or not text else "\n") + f"\nvolumes:\n  {name}:\n"))
    else:
        return None
    return Fix(f"keep {target} in the named volume {name}", tuple(edits))


@rule("DATA089", "stateful-service-no-volume", "high", files="compose", fix="unsafe")
def stateful_service_no_volume(stack: Stack):
    """A stateful service keeps its data in the container's writable layer.

    ## What it does
    Flags a service whose data directory is covered by no volume or bind mount (an anonymous
    volume — a target without a source — does not count): PostgreSQL's data directory (`PGDATA`,
    else `/var/lib/postgresql/data` up to 17, under `/var/lib/postgresql` from 18), Redis `/data`
    (or `dir`) when persistence is on, the MinIO `server` directories, the NATS JetStream
    `store_dir`, Prometheus' `--storage.tsdb.path` (`/prometheus`) and certbot's
    `/etc/letsencrypt`. A `tmpfs` there is a deliberate choice and passes; compose files named for
    tests or CI (`*.test.yml`, `*-ci.yml`) are skipped.

    ## Why is this bad?
    `docker compose up` after an image update, `down`/`up`, or a `--force-recreate` creates a new
    container: the database, the streams, the certificates (and Let's Encrypt's rate limits) are
    gone. An anonymous volume is orphaned the same way by `down`.

    ## Example
    ```yaml
    nats:
      image: nats:2.10-alpine
      command: ["-js", "-sd", "/data/jetstream"]
    ```

    ## Use instead
    ```yaml
    nats:
      command: ["-js", "-sd", "/data/jetstream"]
      volumes:
        - nats_data:/data/jetstream
    volumes:
      nats_data:
    ```

    ## Fix safety
    Unsafe: the new volume starts empty — move existing data into it before recreating.

    ## References
    Docker documentation, volumes; PostgreSQL image documentation (PGDATA).
    """
    for svc in stack.services:
        if svc.role not in ("postgres", "redis", "minio", "nats", "prometheus", "certbot") or not is_server(svc):
            continue
        if _ephemeral_compose(svc.doc):
            continue
        for path, what in _stateful_dirs(stack, svc):
            if _tmpfs_covers(svc, path):
                continue
            m = _covering_mount(svc, path)
            if m is not None and (m.source or m.type == "tmpfs" or _source_from_variable(m)):
                continue
            how = "only an anonymous volume" if m is not None else "no volume"
            yield hit(svc_loc(svc), f"service '{svc.name}' keeps {what} in {path} with {how}: recreating the "
                                    f"container loses it", fix=_add_volume_fix(svc, path) if m is None else None,
                      snippet_key=f"{svc.name}:{path}")


# ---------------------------------------------------------------------------------------------
# Backups
# ---------------------------------------------------------------------------------------------

_BACKUP_TOOLS = LazyRe(r"\b(pg_dump|pg_dumpall|pg_basebackup|pgbackrest|wal-g|walg|restic|borg|borgmatic|barman)\b", re.I)
_BACKUP_IMAGES = LazyRe(r"(postgres-backup|pg-backup|pgbackup|db-backup|pgbackrest|wal-g|walg|restic|borg|"
                            r"docker-volume-backup|barman|backup)", re.I)


def _backup_jobs(stack: Stack, doc=None) -> list[tuple[object, str]]:
    """(service, tool) of the services that back something up."""
    out = []
    for svc in stack.services:
        if doc is not None and svc.doc is not doc:
            continue
        text = service_words_text(svc)
        server = svc.role == "postgres" and is_server(svc)
        if server:
            if re.search(r"archive_command=\S*(wal-g|pgbackrest)", text):
                out.append((svc, "wal-g" if "wal-g" in text else "pgbackrest"))
            continue
        m = _BACKUP_TOOLS.search(text)
        if m:
            out.append((svc, m.group(1).lower()))
            continue
        img = svc.image or ""
        mi = _BACKUP_IMAGES.search(img.split("@")[0].rsplit("/", 1)[-1].split(":")[0]) if img else None
        if mi:
            out.append((svc, mi.group(1).lower()))
    return out


def _backup_settings(stack: Stack) -> bool:
    for doc in stack.dotenvs:
        if any(e.key.upper().startswith("BACKUP_") for e in doc.entries):
            return True
    for svc in stack.services:
        if any(v.key.upper().startswith("BACKUP_") for v in svc.environment):
            return True
    return False


@rule("DATA090", "no-backup-job", "low", files="compose", refs="CIS-PG 7.3, 8.2")
def no_backup_job(stack: Stack):
    """Nothing in the stack backs the database up.

    ## What it does
    For a compose file with a PostgreSQL service, looks for a backup job anywhere in the stack: a
    service running `pg_dump`, `pg_basebackup`, pgBackRest, wal-g, restic, borg or barman (in its
    command or image), WAL archiving through wal-g/pgBackRest in postgres' `archive_command`, or
    `BACKUP_*` settings in an env file or environment. Reports the first postgres service when
    none is found. A host cron job is invisible here: disable the rule then (`disable: [DATA090]`).

    ## Why is this bad?
    A volume is not a backup: a bad migration, a `DROP`, ransomware or a lost VPS takes the data
    and its only copy together.

    ## Example
    A stack with `postgres` and a volume, and nothing else.

    ## Use instead
    ```yaml
    backup:
      image: postgres:16-alpine
      entrypoint: ["/bin/sh", "-c", "while :; do pg_dump -Fc app | age -r $$AGE_RECIPIENT > /backups/app-$$(date +%F).dump.age; sleep 86400; done"]
    ```

    ## Fix safety
    Manual.

    ## References
    CIS PostgreSQL 7.3 and 8.2.
    """
    if _backup_jobs(stack) or _backup_settings(stack):
        return
    for doc in stack.compose_docs:
        pg = [s for s in doc.services.values() if s.role == "postgres" and is_server(s)]
        if not pg or _ephemeral_compose(doc):
            continue
        yield hit(svc_loc(pg[0]), f"no backup job for postgres service '{pg[0].name}' (no pg_dump, pg_basebackup, "
                                  f"pgBackRest, wal-g, restic or borg service, no BACKUP_* settings)",
                  snippet_key=f"{pg[0].name}:backup")


_ENCRYPT = LazyRe(r"\|\s*(gpg|age|openssl\s+enc|openssl\s+smime|ccrypt|gpg2)\b|--encrypt|\bage\s+-r", re.I)


@rule("DATA091", "backup-unencrypted", "medium", files="compose+env", refs="CWE-311")
def backup_unencrypted(stack: Stack):
    """A backup job writes the database in clear.

    ## What it does
    For each backup job DATA090 recognises: `pg_dump`/`pg_dumpall` in the command not piped to
    `gpg`, `age` or `openssl enc`; wal-g without `WALG_LIBSODIUM_KEY`/`WALG_PGP_KEY` (or their
    `_PATH` forms) in the job's environment; pgBackRest without `repo*-cipher-type` (command or
    `PGBACKREST_REPO*_CIPHER_TYPE`); borg with `--encryption none`. Jobs running a script dkscan
    cannot see are left alone.

    ## Why is this bad?
    Backups travel to other disks, buckets and hosts and live for months: a plaintext dump is the
    whole database, password hashes and personal data included, for anyone who reaches any copy.

    ## Example
    ```yaml
    command: sh -c "pg_dump -Fc app > /backups/app.dump"
    ```

    ## Use instead
    ```yaml
    command: sh -c "pg_dump -Fc app | age -r \"$$AGE_RECIPIENT\" > /backups/app.dump.age"
    ```

    ## Fix safety
    Manual.

    ## References
    CWE-311; wal-g, pgBackRest and borg documentation (encryption).
    """
    for svc, tool in _backup_jobs(stack):
        text = service_words_text(svc)
        env = service_env(stack, svc)
        problem = None
        if tool in ("pg_dump", "pg_dumpall"):
            if not _ENCRYPT.search(text):
                problem = f"{tool} output is not piped to gpg, age or openssl enc"
        elif tool in ("wal-g", "walg"):
            if not any(k in env for k in ("WALG_LIBSODIUM_KEY", "WALG_LIBSODIUM_KEY_PATH", "WALG_PGP_KEY",
                                          "WALG_PGP_KEY_PATH", "WALG_CSE_KMS_ID")):
                problem = "wal-g runs without WALG_LIBSODIUM_KEY or WALG_PGP_KEY"
        elif tool == "pgbackrest":
            if not (re.search(r"repo\d*-cipher-type", text) or any(re.match(r"PGBACKREST_REPO\d*_CIPHER_TYPE", k) for k in env)):
                problem = "pgBackRest runs without repo-cipher-type"
        elif tool in ("borg", "borgmatic"):
            if re.search(r"(--encryption|-e)[ =]none\b", text):
                problem = "borg repository created with --encryption none"
        if problem:
            node = svc.get("command") if svc.get("command") is not None else svc.get("entrypoint")
            loc = yloc(svc.doc.path, node) if node is not None else svc_loc(svc)
            yield hit(Location(loc.path, loc.start_line, loc.start_col), f"backup service '{svc.name}': {problem}",
                      snippet_key=f"{svc.name}:{tool}")


def _legacy_pg18_mount(stack: Stack, svc):
    major = _pg_major(svc)
    if major is None or major < 18:
        return None
    if env_var(stack, svc, "PGDATA") is not None:
        return None
    for m in svc.volumes:
        if (m.target or "").rstrip("/") == "/var/lib/postgresql/data" and m.type != "tmpfs":
            return m
    return None


@rule("DATA092", "postgres18-legacy-data-mount", "high", files="compose", refs="docker-library/postgres PR 1259",
      fix="unsafe")
def postgres18_legacy_data_mount(stack: Stack):
    """PostgreSQL 18 with a volume at `/var/lib/postgresql/data`: the container refuses to start.

    ## What it does
    Flags a volume mounted at `/var/lib/postgresql/data` on an official postgres (or postgis)
    image of major version 18 or later — or a floating `latest`/`alpine` tag, which is 18 now —
    when `PGDATA` is not set.

    ## Why is this bad?
    From 18 the image keeps its data in `/var/lib/postgresql/18/docker` (so `pg_upgrade --link`
    works across versions) and its entrypoint stops with an error when it finds a mount at the old
    `/var/lib/postgresql/data`. An unpinned tag turns this on at the next pull.

    ## Example
    ```yaml
    postgres:
      image: postgres:18-alpine
      volumes:
        - pgdata:/var/lib/postgresql/data
    ```

    ## Use instead
    ```yaml
    postgres:
      image: postgres:18-alpine
      volumes:
        - pgdata:/var/lib/postgresql
    ```
    (or pin `postgres:17` until the data is upgraded, or set `PGDATA` explicitly).

    ## Fix safety
    Unsafe: an existing volume holds a 17-or-older cluster at its root; it must be upgraded
    (`pg_upgrade`) or dumped and restored, not just remounted.

    ## References
    docker-library/postgres pull request 1259.
    """
    from scanner.parsers.yamlnodes import YMap, YScalar

    for svc in stack.services_by_role("postgres"):
        if not is_server(svc):
            continue
        m = _legacy_pg18_mount(stack, svc)
        if m is None:
            continue
        node = m.node
        fix = None
        doc = svc.doc
        if isinstance(node, YScalar) and node.line == node.end_line:
            text = doc.line_text(node.line)
            idx = text.find("/var/lib/postgresql/data", node.col - 1)
            if idx >= 0:
                loc = Location(doc.path, node.line, idx + 1, node.line, idx + 1 + len("/var/lib/postgresql/data"))
                fix = Fix("mount the volume at /var/lib/postgresql", (Edit(loc, "/var/lib/postgresql"),))
        elif isinstance(node, YMap) and isinstance(node.get("target"), YScalar):
            t = node.get("target")
            q = 1 if t.style in ("'", '"') else 0
            loc = Location(doc.path, t.line, t.col + q, t.line, t.col + q + len(t.raw))
            fix = Fix("mount the volume at /var/lib/postgresql", (Edit(loc, "/var/lib/postgresql"),))
        base, tag = service_image(svc)
        yield hit(yloc(doc.path, node), f"postgres service '{svc.name}' ({base}:{tag or 'latest'}, PostgreSQL 18+) mounts "
                                        f"/var/lib/postgresql/data without PGDATA: the 18 image refuses to start",
                  fix=fix, snippet_key=f"{svc.name}:pg18mount")

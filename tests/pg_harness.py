"""A throwaway PostgreSQL server for tests: Debian's binaries, a temp directory, a Unix socket.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) every server command
runs as the ``postgres`` system user (created by the Debian package) through ``runuser``; the
temp directory is chowned to it. The server listens on a socket in that directory only
(``listen_addresses=''``), with ``trust`` authentication and ``fsync=off``: nothing leaves the box
and nothing needs a password.

    from tests.pg_harness import start_postgres, create_database, apply_sql, psql, stop_postgres

    server = start_postgres()            # idempotent: one server per process
    create_database("fx1")
    ok, output = apply_sql("fx1", Path("init-db.sql"))   # psql -v ON_ERROR_STOP=1 -f, like the image
    ok, output = psql("fx1", "SELECT 1", user="app_user")
    stop_postgres()

Functions raise ``PostgresUnavailable`` (with what is missing and how to install it) when no server
binary exists: a missing PostgreSQL is a test failure, never a skip.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
PORT = 5432  # only names the socket file; the socket lives in a private directory
_SERVER: "PgServer | None" = None
_STRATEGY = "STRATEGY = FILE_COPY"  # PostgreSQL 15+: a checkpoint instead of WAL-logging template0


class PostgresUnavailable(RuntimeError):
    pass


@dataclass
class PgServer:
    bindir: Path
    root: Path  # temp dir: data/, the socket, the log, copies of the SQL files
    run_as: str | None  # system user the server commands run as (None: the current user)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        if shutil.which("runuser"):
            return ["runuser", "-u", self.run_as, "--", *args]
        import shlex

        return ["su", self.run_as, "-s", "/bin/sh", "-c", " ".join(shlex.quote(a) for a in args)]

    def run(self, *args: str, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PGHOST": str(self.root), "PGPORT": str(PORT)})
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(self.root), input=input)


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<v>/bin`` with initdb (or ``$DKSCAN_PG_BIN``, ``pg_config``)."""
    cands = []
    if os.environ.get("DKSCAN_PG_BIN"):
        cands.append(Path(os.environ["DKSCAN_PG_BIN"]))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in re.findall(r"\d+", p)], reverse=True)
    cands += [Path(p).parent for p in found]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
            if out:
                cands.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    if shutil.which("initdb"):
        cands.append(Path(shutil.which("initdb")).parent)
    for c in cands:
        if (c / "initdb").exists() and (c / "pg_ctl").exists() and ((c / "psql").exists() or shutil.which("psql")):
            return c
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found in /usr/lib/postgresql/*/bin, $DKSCAN_PG_BIN or "
        "pg_config --bindir: install them with `apt-get install postgresql` (bash .ci/deps does)")


def _psql_bin(bindir: Path) -> str:
    return str(bindir / "psql") if (bindir / "psql").exists() else (shutil.which("psql") or "psql")


def start_postgres() -> PgServer:
    """Start the test server (once per process) and return it."""
    global _SERVER
    if _SERVER is not None:
        return _SERVER
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="dkscan-pg-"))
    run_as = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(SUPERUSER)
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable("running as root and there is no 'postgres' system user to run the server as "
                                      "(the Debian postgresql package creates it)") from None
        os.chown(root, pw.pw_uid, pw.pw_gid)
        run_as = SUPERUSER
    os.chmod(root, 0o700)
    server = PgServer(bindir, root, run_as)
    r = server.run(str(bindir / "initdb"), "-D", str(server.data), "-U", SUPERUSER, "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", timeout=120)
    if r.returncode != 0:
        r = server.run(str(bindir / "initdb"), "-D", str(server.data), "-U", SUPERUSER, "--auth=trust",
                       "-E", "UTF8", "--no-sync", timeout=120)
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed:\n{r.stdout}\n{r.stderr}")
    opts = f"-k {root} -p {PORT} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    r = server.run(str(bindir / "pg_ctl"), "-D", str(server.data), "-o", opts, "-l", str(server.log), "-w", "-t", "60", "start",
                   timeout=90)
    if r.returncode != 0:
        log = server.log.read_text(errors="replace") if server.log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"pg_ctl start failed:\n{r.stdout}\n{r.stderr}\n{log}")
    _SERVER = server
    atexit.register(stop_postgres)
    return server


def stop_postgres() -> None:
    """Stop the server and delete its directory (safe to call twice)."""
    global _SERVER
    server, _SERVER = _SERVER, None
    if server is None:
        return
    try:
        server.run(str(server.bindir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "-w", "stop", timeout=60)
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


def _server() -> PgServer:
    return _SERVER if _SERVER is not None else start_postgres()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def psql(db: str, sql: str, user: str | None = None) -> tuple[bool, str]:
    """Run ``sql`` in database ``db`` (as ``user``, default the superuser) with ON_ERROR_STOP.
    Returns (success, stdout+stderr); rows come unaligned, tuples only, ``|``-separated."""
    server = _server()
    r = server.run(_psql_bin(server.bindir), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t",
                   "-U", user or SUPERUSER, "-d", db, "-f", "-", input=sql)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def create_database(db: str) -> None:
    """(Re)create an empty database ``db`` from template0."""
    ok, out = psql("postgres", f"DROP DATABASE IF EXISTS {_ident(db)} WITH (FORCE);\n"
                               f"CREATE DATABASE {_ident(db)} TEMPLATE template0 {_STRATEGY};")
    if not ok and "STRATEGY" in out:  # PostgreSQL < 15
        globals()["_STRATEGY"] = ""
        ok, out = psql("postgres", f"CREATE DATABASE {_ident(db)} TEMPLATE template0;")
    if not ok:
        raise RuntimeError(f"cannot create database {db}: {out}")


def apply_sql(db: str, path: Path | str) -> tuple[bool, str]:
    """Apply a SQL file the way the postgres image runs an init script:
    ``psql -v ON_ERROR_STOP=1 --no-psqlrc -f`` as the superuser, in the file's own directory.
    Returns (success, output)."""
    server = _server()
    src = Path(path)
    work = Path(tempfile.mkdtemp(prefix="sql-", dir=server.root))
    dst = work / src.name
    shutil.copyfile(src, dst)
    if server.run_as is not None:
        pw = pwd.getpwnam(server.run_as)
        for p in (work, dst):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    try:
        r = server.run(_psql_bin(server.bindir), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", SUPERUSER, "-d", db, "-f", str(dst))
        return r.returncode == 0, (r.stdout + r.stderr).strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def reset_cluster(keep_dbs: tuple[str, ...] = (), create: str | None = None) -> None:
    """Drop every database but the built-in ones (and ``keep_dbs``), every role a script created,
    and ``ALTER SYSTEM`` settings: the next fixture starts from a fresh cluster. ``create`` names
    an empty database to create in the same round trip."""
    ok, out = psql("postgres", "SELECT 'd' || datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') "
                               "UNION ALL SELECT 'r' || rolname FROM pg_roles WHERE oid >= 16384")
    if not ok:
        raise RuntimeError(f"cannot list databases and roles: {out}")
    script = []
    for line in out.splitlines():
        kind, name = line[:1], line[1:]
        if kind == "d" and name not in keep_dbs:
            script.append(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE);")
    for line in out.splitlines():
        kind, name = line[:1], line[1:]
        if kind == "r":
            script.append(f"DROP OWNED BY {_ident(name)} CASCADE;")
            script.append(f"DROP ROLE IF EXISTS {_ident(name)};")
    script.append("ALTER SYSTEM RESET ALL;")
    script.append("SELECT pg_reload_conf();")
    if create is not None and create not in keep_dbs:
        script.append(f"CREATE DATABASE {_ident(create)} TEMPLATE template0 {_STRATEGY};")
    ok, out = psql("postgres", "\n".join(script))
    if not ok and create is not None and "STRATEGY" in out:  # PostgreSQL < 15
        globals()["_STRATEGY"] = ""
        ok, out = psql("postgres", f"CREATE DATABASE {_ident(create)} TEMPLATE template0;")
    if not ok:
        raise RuntimeError(f"cannot reset the test cluster: {out}")

"""Data, scripts family: secrets a host script prints or holds as literals, and the database backups
it writes (encrypted? leaving the host?)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rules.helpers.host import cmd_loc, has_xtrace_shebang, host_scripts, script_secret_vars, secret_var, set_flags, word_loc
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule
from scanner.secrets import is_reference, url_password
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

_PRINTERS = {"echo", "printf", "logger", "tee"}


def _prints_to_terminal(cmd) -> bool:
    """The command's output reaches stdout/stderr or a log (not a file nor another command)."""
    if cmd.in_subst:
        return False
    if cmd.pipeline and cmd.pipeline[-1] is not cmd:
        return False
    for r in cmd.redirects:
        if r.op.endswith(">") or r.op.endswith(">>") or r.op in ("&>", "&>>", ">|"):
            t = r.target.str if r.target is not None else ""
            if t in ("/dev/stdout", "/dev/stderr", "&1", "&2", "1", "2") or t.endswith(".log") or "/log/" in t:
                continue
            return False
    return True


def _heredoc_expands(body: str, names: set[str]) -> str | None:
    for m in re.finditer(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", body or ""):
        if m.group(1) in names or secret_var(m.group(1)):
            return m.group(1)
    return None


@rule("DATA016", "secret-printed-by-script", "medium", files="script", refs="CWE-532")
def secret_printed_by_script(stack: Stack):
    """A host script prints a secret to its output or a log.

    ## What it does
    Flags `echo`, `printf`, `logger`, `tee` or a heredoc to stdout/stderr or a log expanding a
    secret-class variable (or one assigned from it); `env`, `printenv` or `set` after a `source`d env
    file (they print every key); and any expansion of a secret variable while xtrace is on (`set -x`,
    `set -o xtrace`, a `bash -x` shebang), which bash echoes to stderr.

    ## Why is this bad?
    Deploy output lands in CI logs, terminal scrollback and journald, readable by far more people
    than the secret store.

    ## Example
    ```sh
    set -x
    docker login -u ci -p "$REGISTRY_PASSWORD"
    ```

    ## Use instead
    ```sh
    printf '%s' "$REGISTRY_PASSWORD" | docker login -u ci --password-stdin
    ```

    ## References
    CWE-532.
    """
    for doc in host_scripts(stack):
        names = script_secret_vars(doc)
        xtrace = has_xtrace_shebang(doc)
        sourced_env = False
        reported: set[int] = set()
        for cmd in doc.flow:
            on, off = set_flags(cmd)
            if "x" in on:
                xtrace = True
            if "x" in off:
                xtrace = False
            if cmd.name in ("source", ".") and cmd.args and re.search(r"\.env|env\b", cmd.args[0].str):
                sourced_env = True
            if id(cmd) in reported:
                continue
            used = [v for w in cmd.words for v in w.vars if v in names or secret_var(v)] + \
                   [v for a in cmd.assigns for w in a.words for v in w.vars if v in names or secret_var(v)]
            msg = None
            if cmd.name in _PRINTERS and used and _prints_to_terminal(cmd):
                msg = f"`{cmd.name}` prints secret variable ${used[0]}"
            elif cmd.name in ("env", "printenv") and sourced_env and len(cmd.args) == 0 and _prints_to_terminal(cmd):
                msg = f"`{cmd.name}` prints every variable of the sourced env file, secrets included"
            elif cmd.name == "set" and not cmd.args and sourced_env and _prints_to_terminal(cmd):
                msg = "`set` prints every variable of the sourced env file, secrets included"
            elif xtrace and used:
                msg = f"xtrace is on: bash echoes ${used[0]}'s value to stderr"
            else:
                for r in cmd.redirects:
                    if r.body is not None and r.target is not None and not r.target.quoted and "'" not in r.target.text:
                        v = _heredoc_expands(r.body, names)
                        if v and _prints_to_terminal(cmd) and cmd.name in ("cat", "tee", "echo", "printf"):
                            msg = f"heredoc printed by `{cmd.name}` expands secret variable ${v}"
                            break
            if msg:
                reported.add(id(cmd))
                yield hit(cmd_loc(doc.path, cmd), msg, snippet_key=msg)


_PASSWORD_FLAG_CMDS = {"mysql", "mysqldump", "mysqladmin", "mariadb", "mariadb-dump", "sshpass"}


def _literal(w) -> bool:
    v = w.value
    return v is not None and v.strip() != "" and not is_reference(v) and not w.subst and not w.vars


@rule("DATA017", "secret-literal-in-script", "high", files="script", refs="CWE-798")
def secret_literal_in_script(stack: Stack):
    """A host script holds a secret as a literal.

    ## What it does
    Flags a secret-class variable assigned or exported a literal (not `$1`, `${VAR}`, `$(…)` or a file
    read); a literal after `--password`/`--password=`, `-p` of `docker login`/`mysql`/`sshpass`,
    `PGPASSWORD=`, `curl -u user:…`; and a password inside a URL. The value is never shown.

    ## Why is this bad?
    The script is committed: everyone with read access to the repository — and its history, forever —
    has the credential.

    ## Example
    ```sh
    DB_PASSWORD='Pr0d-DB-pa55'   # committed with the script
    ```

    ## Use instead
    ```sh
    DB_PASSWORD="$(cat /run/secrets/db_password)"
    ```

    ## References
    CWE-798.
    """
    for doc in host_scripts(stack):
        for a in doc.assignments:
            if secret_var(a.name) and not a.array and a.words and _literal(a.words[0]):
                yield hit(word_loc(doc.path, a.words[0]), f"secret variable {a.name} is assigned a literal",
                          snippet_key=f"{a.name} literal")
            elif a.words and not a.array and a.words[0].value and url_password(a.words[0].value) \
                    and not is_reference(url_password(a.words[0].value)):
                yield hit(word_loc(doc.path, a.words[0]), f"{a.name} holds a URL with a literal password",
                          snippet_key=f"{a.name} url password")
        for cmd in doc.commands:
            for a in cmd.assigns:
                if secret_var(a.name) and a.words and _literal(a.words[0]):
                    yield hit(word_loc(doc.path, a.words[0]), f"{a.name} is given a literal on the command line",
                              snippet_key=f"{a.name} literal")
            args = cmd.args
            name = cmd.name
            sub = args[0].value if args else None
            for i, w in enumerate(args):
                if w.from_var is not None:
                    continue  # written where the variable is assigned (reported there)
                v = w.value or ""
                nxt = args[i + 1] if i + 1 < len(args) else None
                why = None
                target = None
                if v == "--password" and nxt is not None and _literal(nxt):
                    why, target = "--password", nxt
                elif v.startswith("--password=") and w.value is not None and len(v) > 11 and not is_reference(v[11:]):
                    why, target = "--password=", w
                elif v == "-p" and nxt is not None and _literal(nxt) and (
                        name in _PASSWORD_FLAG_CMDS or (name in ("docker", "podman") and sub == "login")):
                    why, target = f"`{name} -p`", nxt
                elif name in ("mysql", "mysqldump", "mysqladmin", "mariadb") and re.fullmatch(r"-p\S+", v) and w.value is not None:
                    why, target = "`-p<password>`", w
                elif name == "curl" and v in ("-u", "--user") and nxt is not None and _literal(nxt) and ":" in (nxt.value or "") \
                        and (nxt.value or "").split(":", 1)[1]:
                    why, target = "`curl -u user:password`", nxt
                elif w.value is not None and url_password(w.value) and not is_reference(url_password(w.value)):
                    why, target = "a URL's password", w
                if why:
                    yield hit(word_loc(doc.path, target), f"a literal credential after {why}" if why != "a URL's password"
                              else "a literal password inside a URL", snippet_key=f"{name} {why}")


# --------------------------------------------------------------------------------------------
# backups
# --------------------------------------------------------------------------------------------

_DUMPS = {"pg_dump", "pg_dumpall", "pg_basebackup"}
_ENCRYPT = {"gpg", "gpg2", "age", "rage"}


def _dump_index(cmd) -> int | None:
    for i, w in enumerate(cmd.words):
        if (w.value or "").rsplit("/", 1)[-1] in _DUMPS:
            return i
    return None


def _writes_file(cmd, i: int) -> bool:
    words = [w.value or "" for w in cmd.words[i + 1:]]
    if any(v in ("-f", "--file", "-D", "--pgdata") or v.startswith(("--file=", "-f")) and len(v) > 2 and v != "-f" for v in words):
        return True
    if any(v in ("-f", "--file", "-D") for v in words):
        return True
    for c in cmd.pipeline:
        for r in c.redirects:
            if r.op in (">", ">>", ">|", "&>") and r.target is not None and not r.target.str.startswith("/dev/"):
                return True
        if c is not cmd and c.name in ("tee", "dd"):
            return True
    return False


def _encrypted(cmd) -> bool:
    for c in cmd.pipeline:
        argv = c.argv
        if c.name in _ENCRYPT or "--encrypt" in argv or "-e" in argv and c.name in ("gpg", "gpg2"):
            return True
        if c.name == "openssl" and argv[c.start + 1:c.start + 2] == ["enc"]:
            return True
    return False


def backups(doc):
    """(command, index of the dump word) of every database dump written to a file."""
    out = []
    for cmd in doc.flow:
        i = _dump_index(cmd)
        if i is not None and _writes_file(cmd, i):
            out.append((cmd, i))
    return out


@rule("DATA093", "script-backup-unencrypted", "medium", files="script", refs="CWE-311; CIS-PG 7.3", fix="unsafe")
def script_backup_unencrypted(stack: Stack):
    """A script writes a database dump to disk in plaintext.

    ## What it does
    Flags `pg_dump`, `pg_dumpall` or `pg_basebackup` written to a file (`>`, `-f`, `--file`, `-D`)
    with no `gpg`, `age`, `openssl enc` or `--encrypt` in its pipeline. Compression alone is plaintext.

    ## Why is this bad?
    A dump holds every row: password hashes, personal data, tokens. Backup directories are copied,
    synced and forgotten; whoever reads one reads the database.

    ## Example
    ```sh
    pg_dump -U app app | gzip > "/var/backups/app-$(date +%F).sql.gz"
    ```

    ## Use instead
    ```sh
    pg_dump -U app app | gzip | gpg --encrypt -r backup@example.com > "/var/backups/app.sql.gz.gpg"
    ```

    ## Fix safety
    Unsafe: encryption needs a recipient key, and restores need the private key.

    ## References
    CWE-311; CIS PostgreSQL 7.3.
    """
    seen = set()
    for doc in host_scripts(stack):
        for cmd, i in backups(doc):
            if id(cmd) in seen or _encrypted(cmd):
                continue
            seen.add(id(cmd))
            fix = None
            last = cmd.pipeline[-1]
            red = next((r for r in last.redirects if r.op in (">", ">>", ">|")), None)
            if red is not None:
                fix = Fix("pipe the dump through `gpg --encrypt` (set BACKUP_GPG_RECIPIENT)",
                          (Edit(Location(doc.path, red.line, red.col), '| gpg --encrypt --recipient "${BACKUP_GPG_RECIPIENT:?}" '),))
            yield hit(cmd_loc(doc.path, cmd), f"`{cmd.words[i].str}` output is written to disk unencrypted",
                      fix=fix, snippet_key=" ".join(cmd.argv[:3]))


_OFFSITE = LazyRe(r"^(rclone|gsutil|azcopy|s3cmd|mc|aws|az|scp|rsync|restic|borg|sftp|rsync)$")


def _offsite(cmd) -> bool:
    name = cmd.name
    argv = cmd.argv[cmd.start:]
    if name == "rclone":
        return True
    if name == "aws" and "s3" in argv:
        return True
    if name in ("mc", "gsutil") and any(a in ("cp", "mirror", "rsync", "mv") for a in argv[1:]):
        return True
    if name == "az" and "storage" in argv:
        return True
    if name in ("s3cmd", "azcopy"):
        return True
    if name in ("scp", "rsync", "sftp") and any(re.match(r"^[^/\s]+:", a) and not a.startswith("-") for a in argv[1:]):
        return True
    if name in ("restic", "borg"):
        joined = " ".join(argv)
        return bool(re.search(r"(s3:|sftp:|rest:|b2:|azure:|gs:|swift:|rclone:|ssh://|(?<![\w.-])[\w.-]+@[\w.-]+:)", joined)) or \
            "RESTIC_REPOSITORY" in joined or "BORG_REPO" in joined
    return False


@rule("DATA094", "script-backup-not-offsite", "low", files="script", refs="CIS-PG 7.3")
def script_backup_not_offsite(stack: Stack):
    """A script's database backup never leaves the host.

    ## What it does
    Flags a database dump written by a script when nothing after it copies it off the host:
    `rclone`, `aws s3 cp`, `mc cp`, `gsutil cp`, `az storage`, `scp`/`rsync` to `host:`, or
    `restic`/`borg` with a remote repository.

    ## Why is this bad?
    The disk, host or provider account that loses the database loses the backup with it; so does
    ransomware on the host.

    ## Example
    ```sh
    pg_dump app | gzip | gpg -e -r ops > /var/backups/app.gpg
    ```

    ## Use instead
    ```sh
    pg_dump app | gzip | gpg -e -r ops > /var/backups/app.gpg
    rclone copy /var/backups remote:backups
    ```

    ## References
    CIS PostgreSQL 7.3.
    """
    for doc in host_scripts(stack):
        for cmd, _i in backups(doc)[:1]:
            idx = next(k for k, c in enumerate(doc.flow) if c is cmd)
            if any(_offsite(c) for c in doc.flow[idx:]):
                continue
            yield hit(cmd_loc(doc.path, cmd), "the database backup stays on this host: nothing copies it off-site "
                      "(rclone, aws s3 cp, scp/rsync to a host, restic/borg remote)", snippet_key="backup not offsite")

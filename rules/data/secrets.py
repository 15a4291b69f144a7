"""Data, secrets family (DATA001-DATA015): secrets committed, readable, default, placeholder,
empty, weak, reused, literal in compose, provider tokens.

The secret value rules (DATA004-DATA007, with API001 in ``rules/api/jwt.py``) share one classification per
value (``rules/helpers/secrets.py``): first match wins, in the catalog's order DATA004, DATA005, DATA006,
API001, DATA007. Where a finding points: the key for a dotenv file, the value elsewhere. No message
ever shows a value, part of it, or its hash."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import LazyRe, yloc
from rules.helpers.secrets import (
    classified,
    compose_env_file,
    regenerate_fix,
    value_findings,
)
from scanner.model import Edit, Fix, Location, hit
from scanner.parsers.yamlnodes import YMap, YScalar, YSeq
from scanner.registry import rule
from scanner.secretcheck import (
    command_secrets,
    prometheus_credentials,
    provider_token,
    purpose,
    secret_values,
)
from scanner.secrets import is_reference, is_secret_key, url_password

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# DATA004-DATA007: one verdict per value
# --------------------------------------------------------------------------------------------


@rule("DATA004", "default-credential", "critical", files="env/compose/nats/prometheus", refs="CWE-1392", fix="unsafe")
def default_credential(stack: Stack):
    """A secret is a product's well-known default.

    ## What it does
    Flags a secret-class value (dotenv, compose `environment:` and command line, `${VAR:-default}`
    fallbacks, nats.conf, prometheus.yml) that is a product default: `minioadmin`, `guest`, `admin`,
    `postgres`, or `your-256-bit-secret`/`secret` for a JWT key. A fallback counts even when the
    env file sets the variable: a missing env file silently brings it back.

    ## Why is this bad?
    Default credentials are the first thing scanners and attackers try; they are in every
    product's documentation.

    ## Example
    ```sh
    MINIO_ROOT_PASSWORD=minioadmin
    ```

    ## Use instead
    ```sh
    MINIO_ROOT_PASSWORD=<openssl rand -base64 32>
    ```

    ## Fix safety
    Unsafe: writes a fresh random value (to every place holding the same credential, so a DSN and
    its `POSTGRES_PASSWORD` stay equal); a data service initialised with the old password keeps it
    until you change it there too.

    ## References
    CWE-1392.
    """
    yield from value_findings(stack, "DATA004", lambda sv, why: f"{sv.label()} is a product default ({why}): anyone who knows the product can use it")


@rule("DATA005", "placeholder-secret", "critical", files="env/compose/nats/prometheus", refs="CWE-798", fix="unsafe")
def placeholder_secret(stack: Stack):
    """A secret still holds a placeholder.

    ## What it does
    Flags a secret-class value starting with `changeme`, `change_me`, `changeit`, `password`,
    `passw0rd`, `secret`, `default`, `test`, `example`, `dummy`, `sample`, `todo`, `replace_me`,
    `your_`, `<`, `xxx`, `123456`, `qwerty`, `letmein` or `root` (DATA004 wins when both match).

    ## Why is this bad?
    A placeholder copied from a template into production is a password every reader of the
    template, and every dictionary attack, already knows.

    ## Example
    ```sh
    SMTP_PASSWORD=changeme_smtp
    ```

    ## Use instead
    A value from your secret store or `openssl rand -base64 32`.

    ## Fix safety
    Unsafe: writes a fresh random value; whatever uses the old one must be updated too.

    ## References
    CWE-798.
    """
    yield from value_findings(stack, "DATA005", lambda sv, why: f"{sv.label()} {why}: " + (
        "the first guess of any attacker, not a secret" if "common passwords" in why else "it is a template value, not a secret"))


@rule("DATA006", "empty-secret", "high", files="env/compose", refs="CWE-258; dotenv-linter KeyWithoutValue", fix="unsafe")
def empty_secret(stack: Stack):
    """A secret is empty.

    ## What it does
    Flags a secret-class key that is empty (`KEY=`), has no `=` at all, or whose compose `${VAR}`
    resolves to an empty value. An empty mail password (`EMAIL_PASSWORD`, `SMTP_PASS`...) whose
    file points the mailer at a relay on port 25 of the host or the internal network (localhost, a
    private address, a service of the stack) is not flagged: the stack shows no login is used.

    ## Why is this bad?
    Many services treat an empty password as "no authentication" (Redis, several database
    drivers), and an empty signing key makes every token forgeable; others fail at runtime.

    ## Example
    ```sh
    SENDGRID_API_KEY=
    ```

    ## Use instead
    Set the value, or remove the key when the feature is not used.

    ## Fix safety
    Unsafe: writes a fresh random value; a key that must come from a provider (an API key) needs
    the real one instead.

    ## References
    CWE-258; dotenv-linter KeyWithoutValue.
    """
    yield from value_findings(stack, "DATA006", lambda sv, why: f"{sv.label()} {why}")


@rule("DATA007", "weak-secret", "high", files="env/compose/nats", refs="CWE-1391; CWE-521", fix="unsafe")
def weak_secret(stack: Stack):
    """A secret is too short or too guessable.

    ## What it does
    Flags a password shorter than `secrets.min_password_len` (16) characters, a signing or
    encryption key (`*SECRET*`, `*SIGNING*`, `*ENCRYPTION*`) shorter than `secrets.min_key_bytes`
    (32) bytes after hex/base64 decoding, another API key or token shorter than 16 characters, a
    word followed by digits (`Studios2024!`), a common password in leetspeak, or repeated or
    sequential characters. A low entropy (< 3.0 bits/char) is only ever a secondary reason:
    `SuperSecretPassword2024!` scores higher than `openssl rand -hex 32`.

    ## Why is this bad?
    Short or patterned secrets fall to offline guessing; a leaked hash, JWT or captured handshake
    is enough to recover them.

    ## Example
    ```sh
    REDIS_PASSWORD=Studios2024!
    ```

    ## Use instead
    ```sh
    REDIS_PASSWORD=<openssl rand -base64 32>
    ```

    ## Fix safety
    Unsafe: writes a fresh random value; the service holding the old one must be updated.

    ## References
    CWE-1391; CWE-521.
    """
    yield from value_findings(stack, "DATA007", lambda sv, why: f"{sv.label()} is weak: {why}")


# --------------------------------------------------------------------------------------------
# DATA008: one value, two purposes
# --------------------------------------------------------------------------------------------


def _purpose_label(p) -> str:
    if p is None:
        return "unknown"
    if isinstance(p, str):
        return p
    return "/".join(sorted(p)).lower()


@rule("DATA008", "reused-secret", "high", files="env+compose", refs="CWE-1391", fix="unsafe")
def reused_secret(stack: Stack):
    """One secret value guards two different things.

    ## What it does
    Flags a value that appears under two or more secret-class keys of different purposes (JWT
    access vs refresh key, database vs Redis vs MinIO passwords, cookie/session vs JWT key).
    Both ends of one credential are not reuse: a DSN and its `POSTGRES_PASSWORD`, `REDIS_URL` and
    `REDIS_PASSWORD`, a NATS token in the env and in nats.conf. Values already reported as
    default, placeholder, empty or weak are left to those rules (their fix makes them unique).

    ## Why is this bad?
    One leak opens every system sharing the value, and a refresh token key equal to the access or
    session key lets one kind of token be forged as the other.

    ## Example
    ```sh
    JWT_REFRESH_SECRET=th7Pk...
    SESSION_SECRET=th7Pk...
    ```

    ## Use instead
    A separate random value per purpose.

    ## Fix safety
    Unsafe: regenerates the later occurrence; sessions or tokens signed with the old key become
    invalid.

    ## References
    CWE-1391.
    """
    flagged = {id(sv) for sv, _rid, _why in classified(stack)}
    groups: dict[str, list] = {}
    for sv in secret_values(stack):
        if sv.kind not in ("env", "compose", "nats") or sv.source == "empty-ref" or len(sv.value) < 8:
            continue
        if id(sv) in flagged or provider_token(sv.value):
            continue
        groups.setdefault(sv.value, []).append(sv)
    for occurrences in groups.values():
        if len(occurrences) < 2:
            continue
        seen: list[tuple[object, object]] = []  # (purpose, first occurrence)
        for sv in occurrences:
            p = purpose(sv)
            if p is None:
                continue
            if seen and all(p != q for q, _ in seen):
                first_p, first = seen[0]
                if sv.kind in ("env", "compose"):
                    same = [o for o in occurrences if o is not sv and purpose(o) == p]
                    yield hit(sv.loc,
                              f"{sv.label()} has the same value as {first.key} ({first.path}:{first.line}): "
                              f"one secret for two purposes ({_purpose_label(p)} vs {_purpose_label(first_p)})",
                              fix=_regenerate_group(stack, [sv] + same), related=[first.loc],
                              snippet_key=f"{sv.where}:{sv.key}:{first.key}")
            if all(p != q for q, _ in seen):
                seen.append((p, sv))


def _regenerate_group(stack: Stack, group):
    fix = regenerate_fix(stack, group[0], "regenerate this value")
    if fix is None:
        return None
    # regenerate_fix groups by same value + same/unknown purpose: keep only this purpose's occurrences
    wanted = {(o.span.path, o.span.start_line, o.span.start_col) for o in group if o.span is not None}
    edits = tuple(e for e in fix.edits if (e.location.path, e.location.start_line, e.location.start_col) in wanted)
    return Fix(fix.description, edits, fix.applicability) if edits else None


# --------------------------------------------------------------------------------------------
# DATA012-DATA015: compose and prometheus
# --------------------------------------------------------------------------------------------

_VAR_NAME = LazyRe(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_DOTENV = LazyRe(r"[A-Za-z0-9_./:@+=,%^*~-]*")


def _dotenv_quote(value: str) -> str | None:
    if _PLAIN_DOTENV.fullmatch(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    return None


def _move_plan(stack: Stack, svc, var):
    """Where a literal ``KEY: value`` is and whether it can move to the compose ``.env``:
    (value span, key, value, .env path) or None."""
    if not _VAR_NAME.fullmatch(var.key) or not isinstance(var.value, str) or not var.raw:
        return None
    node = var.value_node
    doc = svc.doc
    if node is None or node is var.key_node:  # "- KEY=value"
        line = doc.line_text(var.key_node.line)
        at = line.find(var.key + "=" + var.raw, var.key_node.col - 1)
        if var.key_node.line != var.key_node.end_line or at < 0:
            return None
        col = at + len(var.key) + 2
        value_span = Location(doc.path, var.key_node.line, col, var.key_node.line, col + len(var.raw))
    else:
        if node.line != node.end_line or getattr(node, "style", "") not in ("", "'", '"'):
            return None
        value_span = yloc(doc.path, node)
    if _dotenv_quote(var.value) is None:
        return None
    return value_span, var.key, var.value, compose_env_file(stack, doc.path)


def _move_fix(stack: Stack, plans):
    """One fix moving every literal of a compose file to its ``.env`` at once: the compose values
    become ``${KEY}`` and the ``KEY=value`` lines are appended in a single edit (separate fixes
    would insert at the same point and only one of them would apply)."""
    if not plans:
        return None
    env_rel = plans[0][3]
    env_sf = stack.files.get(env_rel)
    env_doc = env_sf.doc if env_sf is not None and env_sf.kind == "env" else None
    if env_doc is None:
        return None  # no .env to move to: a fix would half-apply (compose edited, no file to append to)
    chosen: dict[str, str] = {}
    edits = []
    for span, key, value, _rel in plans:
        existing = env_doc.get(key) if env_doc is not None else None
        if existing is not None and existing.value != value:
            continue  # .env already holds another value for that name
        if chosen.get(key, value) != value:
            continue  # two services, two values, one name
        if existing is None:
            chosen[key] = value
        edits.append(Edit(span, "${" + key + "}"))
    if not edits:
        return None
    if chosen:
        block = "".join(f"{k}={_dotenv_quote(v)}\n" for k, v in chosen.items())
        text = env_sf.text
        lines = text.split("\n")
        if text.endswith("\n") or not text:
            loc = Location(env_rel, len(lines), 1)
        else:
            loc = Location(env_rel, len(lines), len(lines[-1]) + 1)
            block = "\n" + block
        edits.append(Edit(loc, block, secret=True))
    names = ", ".join(sorted({p[1] for p in plans}))
    return Fix(f"move {names} to {env_rel} and reference them as ${{VAR}}", tuple(edits))


@rule("DATA012", "secret-literal-in-compose", "high", files="compose", refs="CWE-798; CWE-260", fix="unsafe")
def secret_literal_in_compose(stack: Stack):
    """A secret is written literally in the compose file.

    ## What it does
    Flags a secret-class key of a service's `environment:` (password, secret, token, API key...)
    whose value is a literal rather than a `${VAR}` reference or a `*_FILE` path, and a literal
    secret on `command:`/`entrypoint:`/`healthcheck.test` (`--requirepass x`, `--password=x`,
    `redis-cli -a x`, `password=x`). A provider token there is DATA009 instead.

    ## Why is this bad?
    The compose file is committed, reviewed, copied into tickets and printed by `docker compose
    config`: a literal secret there is a secret in git history forever, shared by every environment.

    ## Example
    ```yaml
    environment:
      POSTGRES_PASSWORD: supersecret
    ```

    ## Use instead
    ```yaml
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    secrets: [postgres_password]
    ```

    ## Fix safety
    Unsafe: the values move to the `.env` file beside the compose file (compose's interpolation
    source; offered only when that file exists) and the compose file references them; a deployment
    that does not ship that `.env` loses the variables. Command-line literals are not moved.

    ## References
    CWE-798; CWE-260.
    """
    found = []  # (service, var, node, plan)
    for svc in stack.services:
        for var in svc.environment:
            if var.raw is None or var.value is None:
                continue
            raw = var.raw.strip()
            secretish = is_secret_key(var.key) or url_password(raw) is not None
            if not secretish or not raw or is_reference(raw) or "$" in raw:
                continue
            if provider_token(str(var.value)):
                continue  # DATA009
            node = var.value_node if var.value_node is not None else var.key_node
            found.append((svc, var, node, _move_plan(stack, svc, var)))
    fixes = {}
    for path in {svc.doc.path for svc, *_ in found}:
        fixes[path] = _move_fix(stack, [p for svc, _v, _n, p in found if p is not None and svc.doc.path == path])
    for svc, var, node, plan in found:
        fix = fixes.get(svc.doc.path) if plan is not None else None
        if fix is not None and not any(e.location == plan[0] for e in fix.edits):
            fix = None
        what = "a password in its URL" if not is_secret_key(var.key) else "a literal value"
        yield hit(yloc(svc.doc.path, node), f"service '{svc.name}': {var.key} has {what} in the compose file",
                  fix=fix, snippet_key=f"{svc.name}:{var.key}")
    for svc in stack.services:
        for item in command_secrets(svc):
            if not item.literal or provider_token(item.value):
                continue
            yield hit(item.loc, f"service '{svc.name}': {item.key} passes a literal secret on its {item.field}",
                      snippet_key=f"{svc.name}:{item.field}:{item.key}")


@rule("DATA013", "secret-on-command-line", "low", files="compose", refs="CWE-214")
def secret_on_command_line(stack: Stack):
    """A secret is interpolated into a container's command line.

    ## What it does
    Flags `command:`, `entrypoint:` or `healthcheck.test` passing a compose-interpolated secret:
    `--requirepass ${REDIS_PASSWORD}`, `--password=${X}`, `redis-cli -a ${X}`, `mysql -p${X}`,
    `password=${X}`, or any `${SECRET_VAR}`. `$$VAR`, expanded by the shell inside the container
    from its environment, is exempt.

    ## Why is this bad?
    Compose substitutes the value before starting the container: it is visible in `docker
    inspect`, `docker compose config`, `ps` on the host and `/proc/<pid>/cmdline` to every user,
    and healthcheck commands are logged with their arguments.

    ## Example
    ```yaml
    command: redis-server --requirepass ${REDIS_PASSWORD}
    ```

    ## Use instead
    ```yaml
    command: ["sh", "-c", "exec redis-server --requirepass \\"$$REDIS_PASSWORD\\""]
    ```
    or a mounted configuration file, or the image's `*_FILE` variables.

    ## Fix safety
    Manual: use a configuration file or a `*_FILE` variable.

    ## References
    CWE-214.
    """
    for svc in stack.services:
        for item in command_secrets(svc):
            if item.literal:
                continue
            names = ", ".join("${" + r + "}" for r in item.refs)
            yield hit(item.loc,
                      f"service '{svc.name}': {names} is substituted into its {item.field} by compose "
                      "(visible in docker inspect and ps)",
                      snippet_key=f"{svc.name}:{item.field}:{item.key}")


_IMAGE_VARS = {
    "postgres": ("POSTGRES_", "PGDATA", "PGPASS", "PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "PGSSL", "PGAPPNAME"),
    "minio": ("MINIO_",),
    "gateway": ("NGINX_",),
}
DATA014_ROLES = ("gateway", "certbot", "prometheus", "postgres", "redis", "minio", "nats")


def _raw_texts(node) -> list[str]:
    if isinstance(node, YScalar):
        return [node.raw or ""]
    if isinstance(node, YSeq):
        return [i.raw or "" for i in node if isinstance(i, YScalar)]
    return []


def _container_expanded(svc) -> str:
    """Raw command/entrypoint/healthcheck text, where ``$$VAR`` marks a variable the container reads."""
    texts = _raw_texts(svc.get("command")) + _raw_texts(svc.get("entrypoint"))
    hc = svc.get("healthcheck")
    if isinstance(hc, YMap):
        texts += _raw_texts(hc.get("test"))
    return " ".join(texts)


def _service_uses(stack: Stack, svc, key: str, nginx_text: str, expanded: str) -> bool:
    role = svc.role
    prefixes = _IMAGE_VARS.get(role, ())
    if role == "redis" and "bitnami" in (svc.image or "").lower():
        prefixes = ("REDIS_", "ALLOW_EMPTY_PASSWORD")
    if prefixes and key.startswith(prefixes):
        return True
    if role == "nats":
        for sf, _target in stack.mounted_files(svc):
            if any(r.ref_name == key for r in getattr(sf.doc, "references", []) or []):
                return True
    if role == "gateway" and re.search(r"\$\{?" + re.escape(key) + r"\b", nginx_text):
        return True
    return bool(re.search(r"\$\$\{?" + re.escape(key) + r"\b", expanded))


@rule("DATA014", "env-file-overshared", "medium", files="compose+env", refs="CWE-200; Compose secrets docs")
def env_file_overshared(stack: Stack):
    """A service that needs none of its secrets gets a whole env file of them.

    ## What it does
    Flags an `env_file:` with secret-class keys attached to a gateway, certbot, prometheus or data
    service (postgres, redis, minio, nats) that uses none of those keys. A data service uses only
    its image's own variables (`POSTGRES_*`/`PG*`, `MINIO_*`, Bitnami `REDIS_*`; the official redis
    and nats images read none); nats uses the `$VAR`s of its mounted configuration; any service
    uses what its command expands with `$$VAR`.

    ## Why is this bad?
    Every secret in the file (JWT keys, payment keys, other databases' passwords) is one `docker
    inspect`, `/proc/1/environ` or compromised process away in a container that had no need for
    it: the blast radius of that container becomes the whole stack.

    ## Example
    ```yaml
    redis:
      image: redis:7
      env_file: .env.prod   # JWT_SECRET, STRIPE_SECRET_KEY, POSTGRES_PASSWORD...
    ```

    ## Use instead
    One env file per service, holding only its variables, or compose `secrets:`.

    ## Fix safety
    Manual: split the env file per service.

    ## References
    CWE-200; Compose secrets docs.
    """
    nginx_text = None
    for svc in stack.services:
        if svc.role not in DATA014_ROLES:
            continue
        base = posixpath.dirname(svc.doc.path)
        for path, _required, node in svc.env_files:
            rel = posixpath.normpath(posixpath.join(base, path))
            sf = stack.files.get(rel)
            if sf is None or sf.kind != "env" or sf.doc is None:
                continue
            keys = []
            for e in sf.doc.entries:
                if (is_secret_key(e.key) or url_password(e.value)) and e.key not in keys:
                    keys.append(e.key)
            if not keys:
                continue
            if svc.role == "gateway" and nginx_text is None:
                nginx_text = "\n".join(f.text for f in stack.files.values() if f.kind == "nginx")
            expanded = _container_expanded(svc)
            if any(_service_uses(stack, svc, k, nginx_text or "", expanded) for k in keys):
                continue
            shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
            yield hit(yloc(svc.doc.path, node),
                      f"service '{svc.name}' ({svc.role}) loads {rel} with {len(keys)} secret keys ({shown}) and uses none of them",
                      related=[Location(rel, 1, 1)], snippet_key=f"{svc.name}:{rel}")


@rule("DATA015", "prometheus-inline-credential", "medium", files="prometheus", refs="CWE-260")
def prometheus_inline_credential(stack: Stack):
    """A scrape credential is written inline in prometheus.yml.

    ## What it does
    Flags a literal `basic_auth.password`, `bearer_token`, `authorization.credentials` or
    `oauth2.client_secret` in a prometheus configuration.

    ## Why is this bad?
    prometheus.yml is committed and readable by anyone who can read the config, and Prometheus
    serves its whole configuration at `/api/v1/status/config` (secrets are masked there, but the
    file itself is not).

    ## Example
    ```yaml
    basic_auth:
      username: prometheus
      password: s3cr3t
    ```

    ## Use instead
    ```yaml
    basic_auth:
      username: prometheus
      password_file: /run/secrets/metrics_password
    ```

    ## Fix safety
    Manual: move the value to a file and use the `*_file` field.

    ## References
    CWE-260.
    """
    for doc in stack.prometheus:
        for field_name, value, node, job in prometheus_credentials(doc):
            if "${" in value:
                continue
            where = f"job '{job}': " if job else ""
            leaf = field_name.rsplit(".", 1)[-1]
            yield hit(yloc(doc.path, node), f"{where}{field_name} is written inline in the configuration; use {leaf}_file",
                      snippet_key=f"{job}:{field_name}")

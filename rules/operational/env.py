"""Operational, environment family: debug switches left on, and dotenv files that do not say what
their author meant (duplicate keys, values compose interpolates or cuts at a ``#``)."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from rules.helpers.locations import LazyRe, env_loc, env_value_loc, yloc
from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule
from scanner.secretcheck import value_dotenvs
from scanner.secrets import is_secret_key

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# OPS020 debug-in-production
# --------------------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "on", "y"}
_FALSE_FOR = {"true": "false", "1": "0", "yes": "no", "on": "off", "y": "n"}
_DEV_ENV_KEYS = {"APP_ENV", "NODE_ENV", "FLASK_ENV", "RAILS_ENV", "RACK_ENV", "APP_ENVIRONMENT", "ENVIRONMENT",
                 "ENV", "DJANGO_ENV", "GO_ENV", "ASPNETCORE_ENVIRONMENT", "SPRING_PROFILES_ACTIVE"}
_DEV_VALUES = {"development", "dev", "local", "debug"}
_RUST_LEVELS = {"debug", "trace"}


def _keep_case(old: str, new: str) -> str:
    if old.isupper():
        return new.upper()
    if old[:1].isupper():
        return new.capitalize()
    return new


def debug_setting(key: str, value: str) -> tuple[str, str] | None:
    """(reason, replacement value) when ``key=value`` turns debugging on, else None."""
    k = key.upper()
    v = (value or "").strip()
    low = v.lower()
    if not v or "$" in v:
        return None
    if k == "RUST_LOG":
        directives = [d.strip() for d in v.split(",") if d.strip()]
        globals_ = [d for d in directives if "=" not in d]
        if globals_ and globals_[-1].lower() in _RUST_LEVELS:
            new = ",".join(_keep_case(d, "info") if d is globals_[-1] else d for d in directives)
            return f"RUST_LOG global level is {globals_[-1].lower()}", new
        return None
    if k == "RUST_BACKTRACE":
        return None
    if k == "DEBUG" or "_DEBUG" in k:
        if low in _TRUE and not k.endswith(("_FILE", "_PATH", "_DIR", "_PORT", "_HOST")):
            return f"{key} is on", _keep_case(v, _FALSE_FOR[low])
        return None
    if k == "LOG_LEVEL" or k.endswith("_LOG_LEVEL") or k in ("LOGLEVEL", "LOGGING_LEVEL", "LOG_LVL"):
        if low in ("debug", "trace", "all", "verbose"):
            return f"{key} is {low}", _keep_case(v, "info")
        return None
    if k in _DEV_ENV_KEYS and low in _DEV_VALUES:
        return f"{key} is {low}", _keep_case(v, "production")
    return None


@rule("OPS020", "debug-in-production", "medium", files="env/compose/nginx/nats", refs="CWE-489", fix="unsafe")
def debug_in_production(stack: Stack):
    """Debug output or a development mode is switched on.

    ## What it does
    Flags, in dotenv files and compose `environment:`, `RUST_LOG` whose global level is `debug` or
    `trace` (`RUST_LOG=info,sqlx=debug` is fine), `DEBUG`/`*_DEBUG*` true, `LOG_LEVEL` (or
    `*_LOG_LEVEL`) `debug`/`trace`, `APP_ENV`/`NODE_ENV` (and friends) `development`; nginx
    `error_log … debug`; nats `debug: true` or `trace: true`. `RUST_BACKTRACE` is fine.

    ## Why is this bad?
    Debug logs carry request bodies, headers, tokens and SQL with parameters; development modes
    show stack traces and settings to clients and disable caches and protections. Trace logging
    also costs throughput under load.

    ## Example
    ```sh
    RUST_LOG=debug
    ```

    ## Use instead
    ```sh
    RUST_LOG=info
    ```

    ## Fix safety
    Unsafe: sets `info`/`false`/`production`; what the logs showed before is gone.

    ## References
    CWE-489.
    """
    for doc in value_dotenvs(stack):
        for e in doc.entries:
            found = debug_setting(e.key, e.value)
            if found is None:
                continue
            reason, new = found
            fix = Fix(f"set {e.key}={new}", (Edit(env_value_loc(doc, e), new),)) \
                if e.value_line == e.end_line and not e.quote else None
            yield hit(env_loc(doc, e), f"{reason} in a production env file", fix=fix, snippet_key=e.key)
    for svc in stack.services:
        for var in svc.environment:
            if var.raw is None or var.value is None or "$" in (var.raw or ""):
                continue
            found = debug_setting(var.key, str(var.value))
            if found is None:
                continue
            reason, new = found
            node = var.value_node if var.value_node is not None and var.value_node is not var.key_node else None
            fix = None
            if node is not None and node.line == node.end_line and node.style in ("", "'", '"'):
                q = 1 if node.style else 0
                loc = Location(svc.doc.path, node.line, node.col + q, node.end_line, node.end_col - q)
                fix = Fix(f"set {var.key}: {new}", (Edit(loc, new),))
            target = node if node is not None else var.key_node
            yield hit(yloc(svc.doc.path, target), f"service '{svc.name}': {reason}", fix=fix,
                      snippet_key=f"{svc.name}:{var.key}")
    seen: set[tuple[str, int]] = set()
    for cfg in stack.nginx_configs:
        for node in cfg.nodes("error_log"):
            args = node.args
            if len(args) < 2 or args[-1].lower() != "debug":
                continue
            if (node.path, node.line) in seen:
                continue
            seen.add((node.path, node.line))
            fix = None
            sf = stack.files.get(node.path)
            if sf is not None and sf.doc is not None:
                text = sf.doc.line_text(node.line)
                m = None
                for m in re.finditer(r"\bdebug\b", text[node.col - 1:]):
                    pass
                if m is not None:
                    col = node.col + m.start()
                    fix = Fix("set the error_log level to info",
                              (Edit(Location(node.path, node.line, col, node.line, col + 5), "info"),))
            yield hit(Location(node.path, node.line, node.col), "error_log level debug: logs every request in detail",
                      fix=fix, snippet_key="error_log debug")
    for doc in stack.nats:
        for entry in getattr(doc.root, "entries", []):
            if entry.key.lower() in ("debug", "trace", "trace_verbose") and entry.value is True:
                loc = Location(doc.path, entry.value_line, entry.value_col, entry.end_line, entry.end_col)
                yield hit(Location(doc.path, entry.line, entry.col), f"nats {entry.key.lower()} is on",
                          fix=Fix(f"set {entry.key} false", (Edit(loc, "false"),)),
                          snippet_key=f"nats:{entry.key.lower()}")


# --------------------------------------------------------------------------------------------
# OPS021 duplicate-env-key
# --------------------------------------------------------------------------------------------


def _line_span(doc, first: int, last: int) -> Location:
    """The whole lines ``first``..``last``, newline included."""
    n = len(doc.lines)
    if last < n:
        return Location(doc.path, first, 1, last + 1, 1)
    prev = first - 1
    if prev >= 1:  # last line without a following line: remove the newline before it
        return Location(doc.path, prev, len(doc.line_text(prev)) + 1, last, len(doc.line_text(last)) + 1)
    return Location(doc.path, first, 1, last, len(doc.line_text(last)) + 1)


@rule("OPS021", "duplicate-env-key", "medium", files="env", refs="dotenv-linter DuplicatedKey", fix="unsafe")
def duplicate_env_key(stack: Stack):
    """A dotenv key is defined twice.

    ## What it does
    Flags a key that a dotenv file defines more than once: one finding per key, at the definition
    compose uses (the last), with the other definitions as related locations. When every
    definition holds the same value the duplicate cannot change behaviour: all such keys of a
    file (a pasted block, typically) are one info finding, at the first repeat, listing them.

    ## Why is this bad?
    Loaders disagree on which one wins: docker compose keeps the last, dotenvy (Rust) and others
    the first. The value you read in the file may not be the one your service runs with, and which
    one it is changes with the loader.

    ## Example
    ```sh
    UPLOAD_MAX_SIZE_MB=500
    ...
    UPLOAD_MAX_SIZE_MB=100
    ```

    ## Use instead
    One definition per key.

    ## Fix safety
    Unsafe: deletes the earlier definitions, keeping what compose uses today; an application that
    reads the file itself with a first-wins loader changes behaviour.

    ## References
    dotenv-linter DuplicatedKey.
    """
    from scanner.model import Severity

    for doc in value_dotenvs(stack):
        by_key: dict[str, list] = {}
        for earlier, later in doc.duplicates:
            group = by_key.setdefault(later.key, [earlier])
            if group[-1] is not later:
                group.append(later)
        repeats = []  # keys whose every definition holds the same value: one root cause, one finding
        for key, defs in by_key.items():
            last, others = defs[-1], defs[:-1]
            if all(e.value == last.value for e in others):
                repeats.append(defs)
                continue
            lines = ", ".join(str(e.line) for e in others)
            fix = Fix(f"delete the earlier {key} (line{'s' if len(others) > 1 else ''} {lines})",
                      tuple(Edit(_line_span(doc, e.line, e.end_line), "") for e in others))
            yield hit(env_loc(doc, last),
                      f"{key} is also defined on line{'s' if len(others) > 1 else ''} {lines} with another value: "
                      f"compose uses this one, first-wins loaders (dotenvy) the first",
                      fix=fix, snippet_key=key, related=[env_loc(doc, e) for e in others])
        if repeats:
            repeats.sort(key=lambda defs: defs[-1].line)
            first = repeats[0][-1]
            keys = ", ".join(defs[-1].key for defs in repeats[:8]) + (f" and {len(repeats) - 8} more" if len(repeats) > 8 else "")
            fix = Fix(f"delete the earlier definitions of {len(repeats)} repeated key{'s' if len(repeats) > 1 else ''}",
                      tuple(Edit(_line_span(doc, e.line, e.end_line), "") for defs in repeats for e in defs[:-1]))
            f = hit(env_loc(doc, first),
                    f"{len(repeats)} key{'s are' if len(repeats) > 1 else ' is'} defined again with the same value "
                    f"({keys}): harmless today, but an edit to one copy will not reach the other; delete the repeats",
                    fix=fix, snippet_key=f"repeated-keys:{first.key}",
                    related=[env_loc(doc, e) for defs in repeats for e in defs])
            yield dataclasses.replace(f, severity=Severity.INFO)


# --------------------------------------------------------------------------------------------
# OPS022 dotenv-interpolation-hazard
# --------------------------------------------------------------------------------------------

_BRACED = LazyRe(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^{}]*)?\}")
_BARE = LazyRe(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolation_hazard(value: str, defined: set[str]) -> str | None:
    """Why compose would change ``value`` (unquoted or double-quoted): an unbalanced ``${``, or a
    ``$`` that is not a deliberate reference (``${NAME}``, or ``$NAME`` defined earlier)."""
    if value.count("${") > value.count("}") or re.search(r"\$\{[^}]*$", value):
        return "has an unbalanced '${'"
    rest = _BRACED.sub("", value)
    i = 0
    while True:
        i = rest.find("$", i)
        if i < 0:
            return None
        if rest.startswith("$$", i):
            return "has '$$', which compose reads as one '$'"
        m = _BARE.match(rest, i)
        if m is None:
            return "has a '$' that compose tries to interpolate"
        if m.group(1) not in defined:
            return f"has '${m.group(1)}', which compose interpolates (to empty unless set)"
        i = m.end()


@rule("OPS022", "dotenv-interpolation-hazard", "medium", files="env",
      refs="dotenv-linter SubstitutionKey, ValueWithoutQuotes", fix="safe")
def dotenv_interpolation_hazard(stack: Stack):
    """A dotenv value that compose will not read as written.

    ## What it does
    Flags an unquoted or double-quoted value with a `$` compose interpolates (a password
    `pa$word` becomes `pa`), an unbalanced `${`, an unquoted value with ` #` followed by text (the
    rest becomes a comment), or an unquoted value with a space (other loaders, such as `source`,
    split it). `${NAME}` references, and `$NAME` of a key defined earlier in the file, are
    deliberate and not flagged, nor is `KEY=value # comment` (a space after the `#`).

    ## Why is this bad?
    The service silently runs with a different value than the file shows: a truncated password, an
    empty key, a setting cut at a `#`.

    ## Example
    ```sh
    DB_PASSWORD=pa$word#1
    SMTP_FROM_NAME=Studios DK
    ```

    ## Use instead
    ```sh
    DB_PASSWORD='pa$word#1'
    SMTP_FROM_NAME='Studios DK'
    ```

    ## Fix safety
    Safe: single quotes make compose read the value literally, which is what the file shows.

    ## References
    dotenv-linter SubstitutionKey, ValueWithoutQuotes.
    """
    for doc in value_dotenvs(stack):
        defined: set[str] = set()
        for e in doc.entries:
            finding = _hazard(doc, e, defined)
            defined.add(e.key)
            if finding is not None:
                yield finding


def _hazard(doc, e, defined: set[str]):
    if not e.has_equals or e.quote == "'" or e.value_line != e.end_line:
        return None
    reason = None
    intended = e.value
    if "$" in e.raw_value:
        text = e.raw_value if e.quote == "" else e.raw_value[1:-1].replace("\\\\", "").replace("\\$", "")
        reason = interpolation_hazard(text, defined)
    if reason is None and not e.quote:
        line = doc.line_text(e.value_line)
        tail = line[e.end_col - 1:]
        m = re.match(r"(\s+)#(\S.*)?$", tail)
        if e.comment and m and m.group(2) is not None and not tail.lstrip().startswith("# "):
            reason = "is cut at ' #': the rest of the line becomes a comment"
            intended = (e.value + tail).rstrip()
        elif " " in e.value or "\t" in e.value:
            reason = "has a space and no quotes"
    if reason is None:
        return None
    secret = is_secret_key(e.key)
    what = f"the value of {e.key}" if not secret else f"{e.key} (a secret)"
    fix = None
    if "'" not in intended and "\n" not in intended and (not e.quote or "\\" not in e.raw_value):
        if e.quote == "" and intended != e.value:
            line = doc.line_text(e.value_line)
            end = len(line.rstrip()) + 1
            loc = Location(doc.path, e.value_line, e.value_col, e.value_line, end)
        else:
            loc = env_value_loc(doc, e)
        fix = Fix(f"single-quote {e.key}", (Edit(loc, f"'{intended}'", secret=secret),))
    return hit(env_loc(doc, e), f"{what} {reason}", fix=fix, snippet_key=e.key)

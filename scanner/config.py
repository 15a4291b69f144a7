"""The policy: capacity targets, gateway limits, TLS profile and rule selection.

Defaults are the seed's numbers (rules catalog, "Policy and capacity defaults"). A ``.dkscan.yaml``
(or ``[tool.dkscan]`` in ``pyproject.toml``) found by walking up from the scanned path overrides them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .plain import FACTORY as _FACTORY

DEFAULTS: dict[str, Any] = {
    "host": {"cpus": 4, "memory": "8g"},
    "load": {"concurrent_users": 500, "rps": 1000, "p95_ms": 200},
    "db": {"pool_size": 20, "max_connections": 100, "reserved": 3},
    "gateway": {
        "rate_general": 100,
        "rate_auth": 10,
        "conn_per_ip": 10,
        "upload_max": "500m",
        "body_default_max": "10m",
        "upload_paths": ["upload", "files", "media", "storage", "s3"],
        "auth_paths": ["auth", "login", "signin", "token", "oauth", "password", "register", "otp"],
        "tls_upstream": False,  # TLS ends in front of the gateway (a load balancer dkscan cannot see): GW013
    },
    "tls": {"profile": "intermediate", "hsts_min_age": 31536000, "cert_warn_days": 30},
    "nginx": {"version": None},
    "clock": {"today": None},  # ISO date; None = the scan date (tests pin it)
    # end of life (APP013, APP014, APP046): the endoflife.date snapshot (None: the one shipped in
    # scanner/data/eol.json; a path is read relative to the configuration file and must stay inside
    # its directory: a repository's configuration cannot name /etc/passwd) and the warning window
    "eol": {"data": None, "warn_days": 90},
    # `dkscan probe`: service ports tried on the target (--ports replaces); the burst is --burst only
    "probe": {"ports": [5432, 6379, 9000, 9001, 4222, 6222, 8222, 9090, 9093, 9100, 3000, 8025, 16686]},
    "perimeter": {"allowed_ports": [22, 80, 443]},
    "fail2ban": {"maxretry_max": 5, "findtime_min": "10m", "bantime_min": "10m"},
    "ssh": {"max_auth_tries": 4},
    "deploy": {"scripts": None},  # None: script files running docker compose / docker stack deploy
    "secrets": {"min_password_len": 16, "min_key_bytes": 32},
    "data": {"bcrypt_min_cost": 12, "require_rls": False},
    "compose": {"env_files": [".env"]},
    "services": {},  # name -> {"role": ...}
    "fail-on": "low",
    "select": [],
    "extend-select": [],
    "extend-ignore": [],
    "disable": [],
    "severity": {},
    "exclude": None,  # None: scanner.exclude.DEFAULT_EXCLUDE, until the file replaces it
    "extend-exclude": [],
    "respect-gitignore": True,
    "force-exclude": False,
    "ignore": [],
    "inline-suppressions": True,
}

CONFIG_NAMES = (".dkscan.yaml", ".dkscan.yml")


class ConfigError(Exception):
    pass


class Policy:
    """The effective policy: the defaults merged with the configuration file."""

    data: dict[str, Any]
    source: str | None = None
    # the command line's layer of rule selection (select, extend-select, ignore, extend-ignore,
    # severity): applied over the file's by scanner.selection
    cli: dict[str, Any]

    __match_args__ = ("data", "source", "cli")

    def __init__(self, data=_FACTORY, source=None, cli=_FACTORY):
        self.data = copy.deepcopy(DEFAULTS) if data is _FACTORY else data
        self.source = source
        self.cli = dict() if cli is _FACTORY else cli

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (self.data, self.source, self.cli) == (other.data, other.source, other.cli)
        return NotImplemented

    __hash__ = None  # eq without frozen: unhashable, as the dataclass was

    def get(self, dotted: str, default: Any = None) -> Any:
        cur: Any = self.data
        for part in dotted.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return default
            cur = cur[part]
        return cur

    def today(self):
        """The audit's date: ``clock.today`` when set, else the date of ``SOURCE_DATE_EPOCH`` (the
        reproducible-builds clock the reports' timestamp already follows), else today in UTC. The one
        clock of the rules' date comparisons (EOL data, certificates); tests pin it."""
        import datetime as _dt
        import os

        raw = self.get("clock.today")
        if raw:
            try:
                return _dt.date.fromisoformat(str(raw)[:10])
            except ValueError:
                pass
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if epoch.isdigit() and len(epoch) <= 12:
            return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc).date()
        return _dt.datetime.now(_dt.timezone.utc).date()

    def role_override(self, service: str) -> str | None:
        svc = self.data.get("services", {}).get(service)
        return svc.get("role") if isinstance(svc, dict) else None


_SEV = {"enum": ["critical", "high", "medium", "low", "info"]}
_STRS = {"type": "array", "items": {"type": "string"}}
_NUM = {"type": ["number", "string"]}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "host": {"type": "object", "additionalProperties": False, "properties": {"cpus": _NUM, "memory": _NUM}},
        "load": {"type": "object", "additionalProperties": False,
                 "properties": {"concurrent_users": {"type": "integer"}, "rps": {"type": "number"}, "p95_ms": {"type": "number"}}},
        "db": {"type": "object", "additionalProperties": False,
               "properties": {"pool_size": {"type": "integer"}, "max_connections": {"type": "integer"}, "reserved": {"type": "integer"}}},
        "gateway": {"type": "object", "additionalProperties": False, "properties": {
            "rate_general": {"type": "number"}, "rate_auth": {"type": "number"}, "conn_per_ip": {"type": "integer"},
            "upload_max": _NUM, "body_default_max": _NUM, "upload_paths": _STRS, "auth_paths": _STRS,
            "tls_upstream": {"type": "boolean"}}},
        "tls": {"type": "object", "additionalProperties": False,
                "properties": {"profile": {"enum": ["intermediate", "modern"]}, "hsts_min_age": {"type": "integer"},
                               "cert_warn_days": {"type": "integer", "minimum": 0}}},
        "clock": {"type": "object", "additionalProperties": False,
                  "properties": {"today": {"type": ["string", "null"], "format": "date"}}},
        "eol": {"type": "object", "additionalProperties": False,
                "properties": {"data": {"type": ["string", "null"]}, "warn_days": {"type": "integer", "minimum": 0}}},
        "probe": {"type": "object", "additionalProperties": False,
                  "properties": {"ports": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}}}},
        "nginx": {"type": "object", "additionalProperties": False, "properties": {"version": {"type": ["string", "null"]}}},
        "perimeter": {"type": "object", "additionalProperties": False, "properties": {"allowed_ports": {"type": "array", "items": {"type": "integer"}}}},
        "fail2ban": {"type": "object", "additionalProperties": False, "properties": {
            "maxretry_max": {"type": "integer"}, "findtime_min": _NUM, "bantime_min": _NUM}},
        "ssh": {"type": "object", "additionalProperties": False, "properties": {"max_auth_tries": {"type": "integer"}}},
        "deploy": {"type": "object", "additionalProperties": False, "properties": {"scripts": {"type": ["array", "null"], "items": {"type": "string"}}}},
        "secrets": {"type": "object", "additionalProperties": False,
                    "properties": {"min_password_len": {"type": "integer"}, "min_key_bytes": {"type": "integer"}}},
        "data": {"type": "object", "additionalProperties": False,
                 "properties": {"bcrypt_min_cost": {"type": "integer"}, "require_rls": {"type": "boolean"}}},
        "compose": {"type": "object", "additionalProperties": False, "properties": {"env_files": _STRS}},
        "services": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {"role": {"enum": ["gateway", "app", "postgres", "redis", "minio", "nats", "prometheus", "certbot", "other"]}}}},
        "fail-on": _SEV,
        "select": _STRS,
        "extend-select": _STRS,
        "extend-ignore": _STRS,
        "disable": _STRS,
        "severity": {"type": "object", "additionalProperties": _SEV},
        "exclude": _STRS,
        "extend-exclude": _STRS,
        "respect-gitignore": {"type": "boolean"},
        "force-exclude": {"type": "boolean"},
        # a string is a rule selector (ruff's ``ignore``); a mapping is a suppression with a reason
        "ignore": {"type": "array", "items": {"anyOf": [{"type": "string"}, {
            "type": "object", "additionalProperties": False, "required": ["reason"],
            "properties": {"rule": {"type": "string"}, "rules": _STRS, "paths": _STRS, "reason": {"type": "string", "minLength": 1},
                           "expires": {"type": ["string", "object"], "format": "date"}, "owner": {"type": "string"}}}]}},
        "inline-suppressions": {"type": "boolean"},
    },
}


def _short(value: Any, limit: int = 60) -> str:
    """A value from the policy file, quoted for a one-line message (never the whole of a huge value)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate(raw: dict) -> list[str]:
    """Clear messages for every problem in a policy mapping (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    return _messages(sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.path]))


def _messages(errors) -> list[str]:
    out = []
    for err in errors:
        if err.validator == "anyOf" and isinstance(err.instance, dict) and err.context:
            # ``ignore:`` entries: a mapping is judged as a suppression (its own messages)
            out.extend(_messages([e for e in err.context if e.relative_schema_path[0] == 1]))
            continue
        where = _clip(".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err.absolute_path).replace(".[", "["))
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {}))) if isinstance(err.instance, dict) else []
            for key in extra:
                full = f"{where}.{key}" if where else key
                out.append(f"unknown key '{_clip(full)}'")
        elif err.validator == "enum":
            out.append(f"'{where}': {_short(err.instance)} is not one of {', '.join(map(str, err.validator_value))}")
        elif err.validator == "type":
            out.append(f"'{where}': {_short(err.instance)} should be {err.validator_value if isinstance(err.validator_value, str) else ' or '.join(err.validator_value)}")
        else:
            out.append(f"'{where}': {_clip(err.message, 160)}")
    return out


def _merge(base: dict, over: dict, path: str = "") -> None:
    for key, value in over.items():
        where = f"{path}{key}"
        if key not in base:
            raise ConfigError(f"unknown key '{where}'")
        if key in ("services", "severity") and not path:
            if not isinstance(value, dict):
                raise ConfigError(f"'{where}' must be a mapping")
            base[key] = {**base[key], **value}
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"'{where}' must be a mapping")
            _merge(base[key], value, where + ".")
        else:
            base[key] = value


def _plain(value: Any) -> Any:
    """YAML/TOML dates become ISO strings (``expires: 2027-03-31`` is a date to the YAML loader)."""
    import datetime as _dt

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()[:10]
    return value


def find_config(start: Path) -> Path | None:
    cur = start.resolve()
    if cur.is_file():
        cur = cur.parent
    for directory in (cur, *cur.parents):
        for name in CONFIG_NAMES:
            if (directory / name).is_file():
                return directory / name
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                import tomllib

                if "dkscan" in tomllib.loads(_read_bounded(pyproject)).get("tool", {}):
                    return pyproject
            except (ConfigError, ValueError, RecursionError):
                pass  # not dkscan's file: a broken or huge pyproject.toml is some other tool's business
        if (directory / ".git").exists():
            break
    return None


MAX_CONFIG_BYTES = 1024 * 1024  # a policy is a few hundred lines; a bigger file is refused, not parsed
MAX_CONFIG_NODES = 20_000  # values after aliases are expanded: an alias bomb is refused here
MAX_CONFIG_DEPTH = 32  # the schema nests four levels; deeper input is refused before validation recurses


def _read_bounded(path: Path) -> str:
    """A policy file's text: a pull request can add one (it is found by walking up), so it is read
    like any stack file — bounded, never through a FIFO or device."""
    from .fsutil import read_limited

    try:
        data = read_limited(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from None


def _bounded_plain(node, path: Path):
    """A parsed YAML tree as plain values, refusing more than MAX_CONFIG_NODES values (aliases count
    each time they are used) or MAX_CONFIG_DEPTH levels; iterative, so depth costs no recursion."""
    from .parsers.yamlnodes import YMap, YSeq

    budget = MAX_CONFIG_NODES
    root: list = [None]
    todo = [(node, root, 0, 0)]  # (node, container, key, depth)
    while todo:
        cur, into, key, depth = todo.pop()
        budget -= 1
        if budget < 0:
            raise ConfigError(f"{path}: more than {MAX_CONFIG_NODES} values (after YAML aliases)")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{path}: nested deeper than {MAX_CONFIG_DEPTH} levels (line {cur.line})")
        if isinstance(cur, YMap):
            out: Any = {}
            for k, (_, v) in cur.items.items():
                out[k] = None
                todo.append((v, out, k, depth + 1))
        elif isinstance(cur, YSeq):
            out = [None] * len(cur.items)
            for i, v in enumerate(cur.items):
                todo.append((v, out, i, depth + 1))
        else:
            out = cur.value
        into[key] = out
    return root[0]


def _load_raw(path: Path) -> Any:
    text = _read_bounded(path)
    if path.name == "pyproject.toml":
        import tomllib

        try:
            return tomllib.loads(text).get("tool", {}).get("dkscan", {})
        except ValueError as exc:
            raise ConfigError(f"{path}: invalid TOML ({str(exc)[:120]})") from None
        except RecursionError:
            raise ConfigError(f"{path}: invalid TOML (nested too deeply)") from None
    from .parsers.yamlnodes import parse_yaml

    tree, errors = parse_yaml(text)
    if tree is None and errors:
        e = errors[0]
        raise ConfigError(f"{path}:{e.line}:{e.col}: invalid YAML ({e.message[:120]})")
    return {} if tree is None else (_bounded_plain(tree, path) or {})


def load_policy(path: Path | None) -> Policy:
    policy = Policy()
    if path is None:
        return policy
    raw = _load_raw(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping")
    raw = _plain(raw)
    try:
        problems = validate(raw)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ConfigError(f"{path}: " + "; ".join(problems[:5]) + more)
    try:
        _merge(policy.data, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    policy.source = str(path)
    return policy


_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
          "t": 1024**4, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(text: Any) -> int | None:
    """'512m', '1g', '1.5GB', 1073741824 -> bytes."""
    if text is None:
        return None
    try:  # .inf, 1e999 and 5,000-digit numbers are no size (OverflowError, ValueError), not a crash
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return int(text)
        s = str(text).strip().lower().replace(" ", "")
        num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = s[len(num):] or "b"
        if not num.isascii() or len(num) > 30:
            return None
        return int(float(num) * _UNITS[unit])
    except (ValueError, KeyError, OverflowError):
        return None

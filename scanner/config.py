"""The policy: capacity targets, gateway limits, TLS profile and rule selection.

Defaults are the seed's numbers (rules catalog, "Policy and capacity defaults"). A ``.dkscan.yaml``
(or ``[tool.dkscan]`` in ``pyproject.toml``) found by walking up from the scanned path overrides them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    },
    "tls": {"profile": "intermediate", "hsts_min_age": 31536000},
    "nginx": {"version": None},
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
    "disable": [],
    "severity": {},
    "exclude": [],
    "ignore": [],
    "inline-suppressions": True,
}

CONFIG_NAMES = (".dkscan.yaml", ".dkscan.yml")


class ConfigError(Exception):
    pass


@dataclass(repr=False)
class Policy:
    """The effective policy: the defaults merged with the configuration file."""

    data: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    source: str | None = None

    def get(self, dotted: str, default: Any = None) -> Any:
        cur: Any = self.data
        for part in dotted.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return default
            cur = cur[part]
        return cur

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
            "upload_max": _NUM, "body_default_max": _NUM, "upload_paths": _STRS, "auth_paths": _STRS}},
        "tls": {"type": "object", "additionalProperties": False,
                "properties": {"profile": {"enum": ["intermediate", "modern"]}, "hsts_min_age": {"type": "integer"}}},
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
        "disable": _STRS,
        "severity": {"type": "object", "additionalProperties": _SEV},
        "exclude": _STRS,
        "ignore": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["reason"],
            "properties": {"rule": {"type": "string"}, "rules": _STRS, "paths": _STRS, "reason": {"type": "string", "minLength": 1},
                           "expires": {"type": ["string", "object"], "format": "date"}, "owner": {"type": "string"}}}},
        "inline-suppressions": {"type": "boolean"},
    },
}


def validate(raw: dict) -> list[str]:
    """Clear messages for every problem in a policy mapping (empty when valid)."""
    import jsonschema

    out = []
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for err in sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.path]):
        where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err.absolute_path).replace(".[", "[")
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {}))) if isinstance(err.instance, dict) else []
            for key in extra:
                full = f"{where}.{key}" if where else key
                out.append(f"unknown key '{full}'")
        elif err.validator == "enum":
            out.append(f"'{where}': {err.instance!r} is not one of {', '.join(map(str, err.validator_value))}")
        elif err.validator == "type":
            out.append(f"'{where}': {err.instance!r} should be {err.validator_value if isinstance(err.validator_value, str) else ' or '.join(err.validator_value)}")
        elif err.validator == "required":
            out.append(f"'{where}': {err.message}")
        else:
            out.append(f"'{where}': {err.message}")
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

                if "dkscan" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}):
                    return pyproject
            except (OSError, ValueError):
                pass
        if (directory / ".git").exists():
            break
    return None


def load_policy(path: Path | None) -> Policy:
    policy = Policy()
    if path is None:
        return policy
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if path.name == "pyproject.toml":
        import tomllib

        try:
            raw = tomllib.loads(text).get("tool", {}).get("dkscan", {})
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    else:
        import yaml

        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping")
    raw = _plain(raw)
    problems = validate(raw)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
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
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text)
    s = str(text).strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):] or "b"
    try:
        return int(float(num) * _UNITS[unit])
    except (ValueError, KeyError):
        return None

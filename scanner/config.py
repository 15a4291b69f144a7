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


@dataclass
class Policy:
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


def _merge(base: dict, over: dict, path: str = "") -> None:
    for key, value in over.items():
        where = f"{path}{key}"
        if key not in base:
            raise ConfigError(f"unknown key '{where}'")
        if isinstance(base[key], dict) and key != "services":
            if not isinstance(value, dict):
                raise ConfigError(f"'{where}' must be a mapping")
            _merge(base[key], value, where + ".")
        else:
            base[key] = value


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

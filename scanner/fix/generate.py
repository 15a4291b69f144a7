"""``dkscan generate``: write a whole compliant production stack from templates.

The templates (``scanner/fix/templates/``) are derived from ``fixtures/studios-dk-compliant``, a stack
dkscan reports nothing on; the options only choose among its parts (which optional services, which
image versions, which TLS profile, how big the host is, which port the backend listens on) and size
the resource limits and PostgreSQL/Redis memory settings to the host.

Secrets are fresh values from :mod:`secrets`: the backend's own keys go to ``.env.prod`` (mode
0600), credentials that two containers share to ``secrets/<name>`` (Docker secrets; directory 0700,
files 0444 so the containers' non-root users can read their bind mounts). No secret value is ever
returned in a message or printed. Existing files are never overwritten without ``force``; with it,
secrets that already exist are kept (a database initialised with a password must keep it).

Templates print with ``[[ ]]`` (``{{ }}`` belongs to Docker and Prometheus) and use ``{% %}`` blocks.
"""

from __future__ import annotations

import base64
import os
import re
import secrets as _random
import stat
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"

OPTIONAL_SERVICES = ("redis", "minio", "nats", "prometheus", "certbot", "backup")
CORE_SERVICES = ("nginx", "backend", "postgres")
TLS_PROFILES = ("intermediate", "modern")

# Tags only: a digest must come from the registry (`docker buildx imagetools inspect`), never from
# a generator that cannot check it. Override with --image NAME=REF.
DEFAULT_IMAGES = {
    "nginx": "nginx:1.28.0-alpine",
    "postgres": "postgres:16.10-alpine3.22",
    "redis": "redis:7.2.11-alpine3.22",
    "minio": "minio/minio:RELEASE.2024-11-07T00-52-20Z",
    "nats": "nats:2.10.29-alpine3.22",
    "prometheus": "prom/prometheus:v2.55.1",
    "certbot": "certbot/certbot:v3.0.1",
    "postgres_exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.16.0",
    "redis_exporter": "oliver006/redis_exporter:v1.66.0-alpine",
    "nginx_exporter": "nginx/nginx-prometheus-exporter:1.4.0",
    "nats_exporter": "natsio/prometheus-nats-exporter:0.15.0",
    "blackbox_exporter": "prom/blackbox-exporter:v0.25.0",
    "rust": "rust:1.90.0-alpine3.22",
    "runtime": "alpine:3.22.2",
}

# Resource limits sized for the seed's host (4 CPUs, 8 GiB): (cpus, memory MiB, pids, scales).
# Services that scale grow and shrink with the host; exporters and certbot stay small.
BASE_HOST_CPUS, BASE_HOST_MB = 4.0, 8192
LIMITS = {
    "nginx": (0.40, 256, 200, True),
    "backend": (0.90, 1536, 256, True),
    "postgres": (0.90, 2048, 256, True),
    "redis": (0.25, 512, 64, True),
    "minio": (0.40, 1024, 256, True),
    "nats": (0.20, 256, 128, True),
    "prometheus": (0.25, 768, 128, True),
    "certbot": (0.10, 128, 32, False),
    "postgres-exporter": (0.05, 64, 32, False),
    "redis-exporter": (0.05, 64, 32, False),
    "nginx-exporter": (0.05, 32, 32, False),
    "nats-exporter": (0.05, 32, 32, False),
    "blackbox-exporter": (0.05, 32, 32, False),
    "backup": (0.20, 256, 64, False),
}
MIN_MB = {"nginx": 64, "backend": 128, "postgres": 256, "redis": 64, "minio": 256, "nats": 64, "prometheus": 128}

_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")
_PROJECT = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")


class GenerateError(Exception):
    """A bad option or a refused write; the message never holds a secret."""


@dataclass
class Options:
    domain: str
    out: Path
    extra_domains: list[str] = field(default_factory=list)
    project: str | None = None
    services: tuple[str, ...] = OPTIONAL_SERVICES
    images: dict[str, str] = field(default_factory=dict)
    tls_profile: str = "intermediate"
    host_cpus: float = BASE_HOST_CPUS
    host_memory: str = "8g"
    app_port: int = 8080
    frontend_origin: str | None = None
    backup_recipient: str | None = None
    force: bool = False


@dataclass
class OutFile:
    rel: str
    text: str
    mode: int
    secret: bool = False  # holds a secret value: never shown
    keep_existing: bool = False  # a secret that exists already is kept under --force


@dataclass
class Generated:
    out: Path
    written: list[OutFile]
    kept: list[str]  # secret files kept as they were (--force)
    generated_secrets: int


# ---------------------------------------------------------------------------------------------
# key material
# ---------------------------------------------------------------------------------------------

def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, init 0), as NATS nkeys use."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


_NKEY_SEED, _NKEY_USER = 18 << 3, 20 << 3


def _nkey_b32(raw: bytes) -> str:
    raw += _crc16(raw).to_bytes(2, "little")
    return base64.b32encode(raw).decode().rstrip("=")


def nkey_user_pair(seed_text: str | None = None) -> tuple[str, str]:
    """(seed ``SU…``, public key ``U…``) of a NATS nkey user; a fresh Ed25519 key unless an
    existing seed is given (then it is decoded and checked)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if seed_text is None:
        raw_seed = _random.token_bytes(32)
    else:
        s = seed_text.strip()
        try:
            raw = base64.b32decode(s + "=" * (-len(s) % 8))
        except (ValueError, TypeError) as exc:
            raise ValueError("not an nkey seed") from exc
        if len(raw) != 36 or _crc16(raw[:-2]).to_bytes(2, "little") != raw[-2:]:
            raise ValueError("not an nkey seed")
        b1, b2 = raw[0], raw[1]
        if b1 & 0xF8 != _NKEY_SEED or ((b1 & 7) << 5 | (b2 & 0xF8) >> 3) != _NKEY_USER:
            raise ValueError("not a user nkey seed")
        raw_seed = raw[2:34]
    pub = Ed25519PrivateKey.from_private_bytes(raw_seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    seed = _nkey_b32(bytes([_NKEY_SEED | _NKEY_USER >> 5, (_NKEY_USER & 31) << 3]) + raw_seed)
    return seed, _nkey_b32(bytes([_NKEY_USER]) + pub)


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32(hrp: str, data: bytes) -> str:
    """BIP 173 bech32 (what age uses for its keys)."""
    words, acc, bits = [], 0, 0
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)

    def polymod(values):
        gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
        chk = 1
        for v in values:
            top = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (top >> i) & 1 else 0
        return chk

    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(expanded + words + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[w] for w in words + checksum)


def age_keypair() -> tuple[str, str]:
    """(identity ``AGE-SECRET-KEY-1…``, recipient ``age1…``): an age X25519 key pair."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    key = X25519PrivateKey.generate()
    priv = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _bech32("age-secret-key-", priv).upper(), _bech32("age", pub)


def _fresh(key: str, make) -> str:
    """A random value that dkscan's own weakness checks accept (retry the rare unlucky draw)."""
    from ..secretcheck import weakness

    while True:
        v = make()
        if v[0].isalnum() and not weakness(key, v):
            return v


def _password() -> str:
    return _fresh("PASSWORD", lambda: _random.token_urlsafe(32))  # 256 bits, URL-safe (DSN-safe)


ENV_SECRETS = {
    # key in .env.prod -> generator (256-bit values)
    "JWT_SECRET": lambda: _fresh("JWT_SECRET", lambda: _random.token_hex(32)),
    "JWT_REFRESH_SECRET": lambda: _fresh("JWT_REFRESH_SECRET", lambda: _random.token_hex(32)),
    "SESSION_SECRET": lambda: _fresh("SESSION_SECRET", lambda: _random.token_hex(32)),
    "ENCRYPTION_KEY": lambda: _fresh("ENCRYPTION_KEY", lambda: base64.b64encode(_random.token_bytes(32)).decode()),
    "INTERNAL_API_KEY": lambda: _fresh("INTERNAL_API_KEY", lambda: _random.token_urlsafe(32)),
}


# ---------------------------------------------------------------------------------------------
# options -> template context
# ---------------------------------------------------------------------------------------------

def _image_ok(ref: str) -> bool:
    """A tag other than ``latest``, or a digest."""
    if "@sha256:" in ref:
        return True
    last = ref.rsplit("/", 1)[-1]
    return ":" in last and last.split(":", 1)[1] not in ("", "latest")


def _version(ref: str) -> tuple[int, ...] | None:
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    m = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", last.split(":", 1)[1])
    return tuple(int(g) for g in m.groups() if g is not None) if m else None


def _mb(text: str) -> int:
    from ..config import parse_size

    n = parse_size(text)
    if not n or n <= 0:
        raise GenerateError(f"host memory {text!r} is not a size (examples: 8g, 16384m)")
    return n // (1024 * 1024)


def _limits(included: list[str], cpus: float, mem_mb: int) -> dict[str, dict]:
    fc, fm = cpus / BASE_HOST_CPUS, mem_mb / BASE_HOST_MB
    out = {}
    for name in included:
        c, m, pids, scales = LIMITS[name]
        if scales:
            c = max(0.05, round(c * fc, 2))
            m = max(MIN_MB.get(name, 32), int(m * fm) // 16 * 16)
        out[name] = {"cpus": c, "mb": m, "pids": pids}
    total_c = sum(v["cpus"] for v in out.values())
    total_m = sum(v["mb"] for v in out.values())
    if total_c > cpus + 1e-9 or total_m > mem_mb:
        raise GenerateError(f"the host is too small for these services: their limits need {total_c:.2f} CPUs and "
                            f"{total_m} MiB (host: {cpus:g} CPUs, {mem_mb} MiB); drop optional services or give a bigger host")
    return out


def _project_from(domain: str) -> str:
    labels = domain.split(".")
    name = labels[-2] if len(labels) >= 2 else labels[0]
    name = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "app-" + name if name else "app"
    return name[:32].rstrip("-")


def build_context(opts: Options) -> dict:
    domain = opts.domain.strip().lower().rstrip(".")
    if not _HOST.fullmatch(domain):
        raise GenerateError(f"--domain {opts.domain!r} is not a fully qualified host name (example: api.example.com)")
    extra = []
    for d in opts.extra_domains:
        d = d.strip().lower().rstrip(".")
        if not _HOST.fullmatch(d):
            raise GenerateError(f"--extra-domain {d!r} is not a fully qualified host name")
        if d != domain and d not in extra:
            extra.append(d)
    project = (opts.project or _project_from(domain)).lower()
    if not _PROJECT.fullmatch(project):
        raise GenerateError(f"--project {project!r}: use 2-32 lowercase letters, digits and '-', starting with a letter")
    unknown = [s for s in opts.services if s not in OPTIONAL_SERVICES + CORE_SERVICES]
    if unknown:
        raise GenerateError(f"unknown service(s) {', '.join(unknown)} (optional: {', '.join(OPTIONAL_SERVICES)})")
    has = {s: s in opts.services for s in OPTIONAL_SERVICES}
    if opts.tls_profile not in TLS_PROFILES:
        raise GenerateError(f"--tls-profile must be one of {', '.join(TLS_PROFILES)}")
    if not 1024 <= int(opts.app_port) <= 65535:
        raise GenerateError("--app-port must be 1024-65535 (the backend runs without capabilities, as uid 10001)")
    cpus = float(opts.host_cpus)
    if not 0.5 <= cpus <= 1024:
        raise GenerateError("--host-cpus must be between 0.5 and 1024")
    mem_mb = _mb(opts.host_memory)

    img = dict(DEFAULT_IMAGES)
    for name, ref in opts.images.items():
        key = name.replace("-", "_")
        if key not in img:
            raise GenerateError(f"--image {name}: unknown image (one of {', '.join(sorted(img))})")
        if not _image_ok(ref) or any(c.isspace() for c in ref):
            raise GenerateError(f"--image {name}={ref}: give a tag other than latest (or a digest)")
        img[key] = ref
    pg_version = _version(img["postgres"])
    if not pg_version:
        raise GenerateError(f"cannot read the PostgreSQL major version from {img['postgres']!r}")
    pg_major = pg_version[0]
    if pg_major < 15:
        raise GenerateError(f"PostgreSQL {pg_major} is too old: the init SQL needs 15+ (security_invoker views)")
    if has["backup"] and "alpine" not in img["postgres"]:
        raise GenerateError("the backup job builds on the postgres image with apk: use an alpine postgres image, "
                            "or --without backup")
    nginx_version = _version(img["nginx"])
    http2_directive = nginx_version is None or len(nginx_version) < 2 or nginx_version >= (1, 25, 1)

    included = ["nginx", "backend", "postgres"] + [s for s in ("redis", "minio", "nats", "prometheus", "certbot") if has[s]]
    if has["prometheus"]:
        included += ["postgres-exporter", "nginx-exporter", "blackbox-exporter"]
        included += ["redis-exporter"] if has["redis"] else []
        included += ["nats-exporter"] if has["nats"] else []
    if has["backup"]:
        included.append("backup")
    limits = _limits(included, cpus, mem_mb)

    pg_mb = limits["postgres"]["mb"]
    max_connections = 100
    pg = {
        "major": pg_major,
        "max_connections": max_connections,
        "shared_buffers": pg_mb // 4,
        "effective_cache_size": pg_mb * 3 // 4,
        "maintenance_work_mem": max(16, min(512, pg_mb // 16)),
        "work_mem": max(1, min(16, int(pg_mb * 0.4) // max_connections)),
        "volume_target": "/var/lib/postgresql" if pg_major >= 18 else "/var/lib/postgresql/data",
        "pgdata": None,
    }
    redis_maxmemory = f"{limits['redis']['mb'] * 3 // 4}mb" if has["redis"] else None

    frontend = opts.frontend_origin or "https://" + (domain[4:] if domain.startswith("api.") and domain.count(".") >= 2 else domain)
    if not re.fullmatch(r"https://[a-z0-9.-]+(:\d+)?", frontend):
        raise GenerateError(f"--frontend-origin {frontend!r}: give an https:// origin (scheme and host, no path)")
    if opts.backup_recipient is not None and not re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", opts.backup_recipient):
        raise GenerateError("--backup-recipient must be an age X25519 recipient (age1…)")

    secret_files = ["postgres_password", "app_db_password"]
    if has["prometheus"]:
        secret_files.append("postgres_exporter_password")
    if has["redis"]:
        secret_files.append("redis_password")
    if has["nats"]:
        secret_files.append("nats_backend_nkey")
    if has["minio"]:
        secret_files += ["minio_root_user", "minio_root_password", "minio_kms_secret_key", "s3_app_secret_key"]

    db_name = project.replace("-", "_")
    mem_label = f"{mem_mb // 1024} GiB" if mem_mb % 1024 == 0 else f"{mem_mb} MiB"
    names = ["nginx", "backend", "postgres"] + [s for s in OPTIONAL_SERVICES if has[s]]

    def limits_block(name: str) -> str:
        v = limits[name]
        return (f'          cpus: "{v["cpus"]:.2f}"\n'
                f'          memory: {v["mb"]}M\n'
                f'          pids: {v["pids"]}')

    return {
        "project": project,
        "db_name": db_name,
        "db_owner": f"{db_name}_owner",
        "domain": domain,
        "extra_domains": extra,
        "server_names": " ".join([domain] + extra),
        "mail_domain": frontend.split("//", 1)[1].split(":")[0],
        "frontend_origin": frontend,
        "app_port": int(opts.app_port),
        "binary": f"{project}-backend",
        "backend_version": "1.0.0",
        "s3_access_key": f"{project}-backend-svc",
        "has": has,
        "services_line": ", ".join(names),
        "img": img,
        "nginx": {"http2_directive": http2_directive},
        "tls": {"profile": opts.tls_profile},
        "cert": ({"fullchain": f"/etc/letsencrypt/live/{domain}/fullchain.pem",
                  "key": f"/etc/letsencrypt/live/{domain}/privkey.pem"} if has["certbot"] else
                 {"fullchain": "/etc/nginx/certs/fullchain.pem", "key": "/etc/nginx/certs/privkey.pem"}),
        "host": {"cpus": f"{cpus:g}", "memory_mb": mem_mb, "memory_label": mem_label},
        "pg": pg,
        "pool_size": 20,
        "workers": max(1, int(cpus)),
        "redis_maxmemory": redis_maxmemory,
        "prometheus_retention": "8GB",
        "nats": {"subject": project, "backend_public": None},
        "secret_files": secret_files,
        "backup": {"recipient": opts.backup_recipient, "identity_file": None},
        "limits_table": limits,
        "limits": limits_block,
    }


# ---------------------------------------------------------------------------------------------
# rendering and writing
# ---------------------------------------------------------------------------------------------

def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="{%", block_end_string="%}",
        comment_start_string="{#", comment_end_string="#}",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False,
    )


# template -> (output, mode, condition on ctx["has"])
FILES = [
    ("docker-compose.prod.yml.j2", "docker-compose.prod.yml", 0o644, None),
    ("env.j2", ".env", 0o644, None),
    ("env.prod.j2", ".env.prod.example", 0o644, None),
    ("gitignore.j2", ".gitignore", 0o644, None),
    ("dkscan.yaml.j2", ".dkscan.yaml", 0o644, None),
    ("README.md.j2", "README.md", 0o644, None),
    ("nginx/nginx.conf.j2", "nginx/nginx.conf", 0o644, None),
    ("nginx/security.conf.j2", "nginx/security.conf", 0o644, None),
    ("nginx/conf.d/default.conf.j2", "nginx/conf.d/default.conf", 0o644, None),
    ("nginx/conf.d/status.conf.j2", "nginx/conf.d/status.conf", 0o644, None),
    ("init-db.sql.j2", "init-db.sql", 0o644, None),
    ("postgres/20-role-passwords.sh.j2", "postgres/20-role-passwords.sh", 0o755, None),
    ("backend_api/Dockerfile.prod.j2", "backend_api/Dockerfile.prod", 0o644, None),
    ("backend_api/dockerignore.j2", "backend_api/.dockerignore", 0o644, None),
    ("backup/Dockerfile.j2", "backup/Dockerfile", 0o644, "backup"),
    ("nats/nats-server.conf.j2", "nats/nats-server.conf", 0o644, "nats"),
    ("monitoring/prometheus.yml.j2", "monitoring/prometheus.yml", 0o644, "prometheus"),
    ("monitoring/alerts.yml.j2", "monitoring/alerts.yml", 0o644, "prometheus"),
    ("certs-readme.j2", "certs/README.md", 0o644, "!certbot"),
    ("deploy-prod.sh.j2", "deploy-prod.sh", 0o755, None),
    ("host/provision-ufw.sh.j2", "host/provision-ufw.sh", 0o755, None),
    ("fail2ban/jail.local.j2", "fail2ban/jail.local", 0o644, None),
    ("ssh/50-hardening.conf.j2", "ssh/sshd_config.d/50-hardening.conf", 0o644, None),
]
SECRET_DIR_MODE, SECRET_FILE_MODE, ENV_PROD_MODE = 0o700, 0o444, 0o600


def _read_existing(path: Path) -> str | None:
    try:
        if path.is_file() and not path.is_symlink():
            return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    return None


def _existing_env_values(path: Path) -> dict[str, str]:
    text = _read_existing(path)
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip().strip("'\"")
    return out


def plan(opts: Options) -> tuple[list[OutFile], list[str], int]:
    """Every file to write, rendered in memory (nothing touches the disk here)."""
    from ..secretcheck import weakness

    ctx = build_context(opts)
    out = Path(opts.out)
    has = ctx["has"]
    kept: list[str] = []
    fresh = 0
    files: list[OutFile] = []

    def existing_secret(rel: str) -> str | None:
        if not opts.force:
            return None
        text = _read_existing(out / rel)
        return text.strip() if text and text.strip() else None

    # shared credentials: one file each under secrets/
    for name in ctx["secret_files"]:
        rel = f"secrets/{name}"
        old = existing_secret(rel)
        if name == "nats_backend_nkey":
            seed = pub = None
            if old is not None:
                try:
                    seed, pub = nkey_user_pair(old)
                except ValueError:
                    seed = pub = None
            if seed is None:
                seed, pub = nkey_user_pair()
                fresh += 1
            else:
                kept.append(rel)
            ctx["nats"]["backend_public"] = pub
            files.append(OutFile(rel, seed + "\n", SECRET_FILE_MODE, secret=True))
            continue
        if old is not None:
            kept.append(rel)
            files.append(OutFile(rel, old + "\n", SECRET_FILE_MODE, secret=True, keep_existing=True))
            continue
        if name == "minio_root_user":
            value = f"{ctx['project']}-root"
        elif name == "minio_kms_secret_key":
            value = f"{ctx['project']}-sse:" + base64.b64encode(_random.token_bytes(32)).decode()
        else:
            value = _password()
        fresh += 1
        files.append(OutFile(rel, value + "\n", SECRET_FILE_MODE, secret=True))

    # backup: encrypt to the operator's age recipient, or to a fresh key pair whose identity the
    # operator moves off the host
    if has["backup"] and not ctx["backup"]["recipient"]:
        old_env = _existing_env_values(out / ".env") if opts.force else {}
        prev = old_env.get("BACKUP_AGE_RECIPIENT", "")
        if re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", prev):
            ctx["backup"]["recipient"] = prev
        else:
            identity, recipient = age_keypair()
            ctx["backup"]["recipient"] = recipient
            ctx["backup"]["identity_file"] = "secrets/backup_age_identity"
            files.append(OutFile("secrets/backup_age_identity",
                                 f"# age identity of the backups of {ctx['project']}: move it off this host\n"
                                 f"# public key: {recipient}\n{identity}\n", 0o600, secret=True))
            fresh += 1

    # the backend's own keys: .env.prod (0600)
    old_env = _existing_env_values(out / ".env.prod") if opts.force else {}
    env_secrets = {}
    for key, make in ENV_SECRETS.items():
        prev = old_env.get(key, "")
        if prev and not weakness(key, prev):
            env_secrets[key] = prev
        else:
            env_secrets[key] = make()
            fresh += 1
    if old_env and any(old_env.get(k) == v for k, v in env_secrets.items()):
        kept.append(".env.prod")

    env = _env()
    files.append(OutFile(".env.prod", env.get_template("env.prod.j2").render(ctx, env_secrets=env_secrets, example=False),
                         ENV_PROD_MODE, secret=True))
    blank = {k: "" for k in ENV_SECRETS}
    for tpl, rel, mode, cond in FILES:
        if cond and has[cond.lstrip("!")] == cond.startswith("!"):
            continue
        extra = {"env_secrets": blank, "example": True} if tpl == "env.prod.j2" else {}
        files.append(OutFile(rel, env.get_template(tpl).render(ctx, **extra), mode))
    return files, kept, fresh


def _inside(root: Path, target: Path) -> bool:
    """``target`` (which may not exist yet) stays inside ``root`` once symlinks are resolved."""
    try:
        target.resolve().relative_to(root.resolve())
        return True
    except (OSError, ValueError, RuntimeError):
        return False


def generate(opts: Options) -> Generated:
    """Render the stack and write it under ``opts.out``; refuse (before writing anything) when a
    file exists and ``force`` is not set."""
    from ..fsutil import atomic_write

    files, kept, fresh = plan(opts)
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} exists and is not a directory")
    clashes = [f.rel for f in files if os.path.lexists(out / f.rel)]
    if clashes and not opts.force:
        raise GenerateError(f"refusing to overwrite {len(clashes)} existing file(s) in {out} "
                            f"({', '.join(clashes[:5])}{', ...' if len(clashes) > 5 else ''}): use --force")
    for f in files:
        target = out / f.rel
        if not _inside(out, target):
            raise GenerateError(f"{f.rel} would be written outside {out} (through a symlink): refusing")
        if os.path.lexists(target) and (target.is_symlink() or not target.is_file()):
            raise GenerateError(f"{target} is not a regular file: refusing to replace it")
    out.mkdir(parents=True, exist_ok=True)
    secret_dir = out / "secrets"
    if any(f.rel.startswith("secrets/") for f in files):
        secret_dir.mkdir(mode=SECRET_DIR_MODE, exist_ok=True)
        os.chmod(secret_dir, SECRET_DIR_MODE)
    written = []
    # secrets first: a run interrupted half-way leaves configuration that is simply missing, never
    # configuration that points at credentials that were not written
    for f in sorted(files, key=lambda f: (not f.secret, f.rel)):
        target = out / f.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.keep_existing and _read_existing(target) is not None:
            os.chmod(target, f.mode)
            continue
        atomic_write(target, f.text, mode=f.mode)
        written.append(f)
    return Generated(out, written, kept, fresh)


def describe(files: list[OutFile]) -> list[str]:
    """One line per file for the terminal: path, mode, and whether it holds secrets (never a value)."""
    lines = []
    for f in sorted(files, key=lambda f: f.rel):
        lines.append(f"  {stat.filemode(stat.S_IFREG | f.mode)}  {f.rel}{'  (secret)' if f.secret else ''}")
    return lines

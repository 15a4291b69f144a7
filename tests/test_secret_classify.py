"""The secret value classifiers (scanner/secretcheck.py, scanner/secrets.py, rules/helpers/secrets.py):
provider tokens, defaults, placeholders, weakness, decoding, the first-match-wins order, purposes,
generated values and the fixes that write them."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from scanner.config import Policy
from scanner.secretcheck import (
    command_secrets,
    decoded_bytes,
    default_credential,
    entropy,
    find_provider_tokens,
    generate_secret,
    generic_api_keys,
    is_jwt_hmac_key,
    key_category,
    looks_like_setting,
    placeholder,
    provider_token,
    weakness,
)
from scanner.secrets import Redactor, is_reference, is_secret_key, url_password
from scanner.stack import build_stack

# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["POSTGRES_PASSWORD", "DB_PASS", "REDIS_PWD", "JWT_SECRET", "API_KEY", "apikey",
                                 "GITHUB_TOKEN", "AUTH_KEY", "PRIVATE_KEY", "CLIENT_KEY", "AWS_CREDENTIALS",
                                 "JWT_SIGNING_KEY", "ENCRYPTION_KEY", "SECRET_KEY"])
def test_secret_class_names(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["PWD", "POSTGRES_PASSWORD_FILE", "JWT_SECRET_PATH", "SECRETS_DIR", "JWT_ACCESS_TOKEN_TTL",
                                 "TOKEN_EXPIRY", "JWT_EXPIRES_IN", "PASSWORD_MIN_LENGTH", "JWT_ALGORITHM", "API_KEY_HEADER",
                                 "SECRET_NAME", "MG_AUTH_ACCESS_TOKEN_DURATION", "MG_USERS_PASS_REGEX",
                                 "PASSWORD_RESET_TEMPLATE", "PASSWORD_ENCRYPTION", "S3_ACCESS_KEY", "POSTGRES_USER",
                                 "SSL_KEY"])
def test_not_secret_class_names(key):
    assert not is_secret_key(key)


def test_references_and_urls():
    assert is_reference("${DB_PASSWORD}") and is_reference("$X") and is_reference("/run/secrets/x")
    assert is_reference("./certs/key.pem") and not is_reference("hunter2")
    assert url_password("postgres://app:s3cr3t@db:5432/app") == "s3cr3t"
    assert url_password("redis://:pw@cache:6379/0") == "pw"
    assert url_password("https://user@host/") is None and url_password("not a url") is None


# --------------------------------------------------------------------------------------------
# provider tokens
# --------------------------------------------------------------------------------------------

PROVIDER_CASES = [
    ("AKIAIOSFODNN7EXAMPLE", "AWS access key ID"),
    ("sk_live_51FAKEnotArealKEYdoNOTuse9Qm4Xv7", "Stripe live secret key"),
    ("rk_live_51FAKEnotArealKEYdoNOTuse9Qm4Xv7", "Stripe live secret key"),
    ("SG." + "a" * 22 + "." + "b" * 43, "SendGrid API key"),
    ("key-" + "0123456789abcdef" * 2, "Mailgun API key"),
    ("xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "Slack token"),
    ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "Slack webhook URL"),
    ("ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "GitHub token"),
    ("github_pat_" + "a1" * 41, "GitHub fine-grained token"),
    ("glpat-" + "x1Y2z3W4v5U6t7S8r9Q0", "GitLab token"),
    ("sntrys_" + "eyJpYXQiOjE2ODQ4" * 4, "Sentry auth token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
    ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "JSON Web Token"),
]


@pytest.mark.parametrize("value,name", PROVIDER_CASES)
def test_provider_tokens(value, name):
    assert provider_token(value) == name
    assert provider_token(f"Bearer {value}") == name  # found inside a longer value


@pytest.mark.parametrize("value", ["sk_test_51FAKEnotArealKEYdoNOTuse9Qm4Xv7", "pk_live_51FAKEnotAreal", "changeme",
                                   "AKIAshort", "ghp_tooShort", secrets.token_hex(32), secrets.token_urlsafe(32),
                                   "https://4f1c2d9e8b7a4c3d@o450123.ingest.sentry.io/5512345", "", None])
def test_not_provider_tokens(value):
    assert provider_token(value) is None


def test_find_provider_tokens_gives_offsets():
    text = "a: 1\nkey: AKIAIOSFODNN7EXAMPLE\n"
    [(name, a, b)] = list(find_provider_tokens(text))
    assert name == "AWS access key ID" and text[a:b] == "AKIAIOSFODNN7EXAMPLE"


def test_generic_api_keys_need_a_name_and_entropy():
    line = 'proxy_set_header X-Api-Key "f3Kd9s8Qm2Lx7Vb4Nc1Zp6Rt";'
    [(a, b)] = list(generic_api_keys(line))
    assert line[a:b] == "f3Kd9s8Qm2Lx7Vb4Nc1Zp6Rt"
    for quiet in ('proxy_set_header X-Api-Key $http_x_api_key;', 'api_key = "aaaaaaaaaaaaaaaaaaaaaaaa"',
                  'secret_file /etc/nginx/secret-token.conf;', 'x_value "f3Kd9s8Qm2Lx7Vb4Nc1Zp6Rt"',
                  'token: changeme-changeme-1234'):
        assert list(generic_api_keys(quiet)) == [], quiet


# --------------------------------------------------------------------------------------------
# measuring values
# --------------------------------------------------------------------------------------------


def test_decoded_bytes():
    assert decoded_bytes(secrets.token_hex(32)) == 32  # openssl rand -hex 32
    assert decoded_bytes("hZTWK4OVj73UulmyXyWG1T/BnY/kwqsUzJwBw6TWrqo=") == 32  # openssl rand -base64 32
    assert decoded_bytes("c2VjcmV0") == 8  # unpadded: counted as written
    assert decoded_bytes("studios-dk-jwt-2024") == 19
    assert decoded_bytes("ü") == 2


def test_entropy_cannot_find_weak_secrets():
    """Known trap: a patterned password scores higher than a random hex key; lists and lengths win."""
    weak, strong = "SuperSecretPassword2024!", secrets.token_hex(32)
    assert entropy(weak) > 3.5
    assert weakness("ADMIN_PASSWORD", weak) and not weakness("ENCRYPTION_KEY", strong)


@pytest.mark.parametrize("key,value,reason", [
    ("REDIS_PASSWORD", "Studios2024!", "12 chars < 16"),
    ("REDIS_PASSWORD", "Studios2024!", "word + digits"),
    ("NATS_PASSWORD", "backend2025", "word + digits"),
    ("ADMIN_PASSWORD", "SuperSecretPassword2024!", "word + digits"),
    ("ADMIN_PASSWORD", "2024Studios!", "word + digits"),
    ("ADMIN_PASSWORD", "P@ssw0rd!", "a common password"),
    ("BACKUP_PASSWORD", "aaaaaaaaaaaaaaaaaaaa", "repeated or sequential characters"),
    ("BACKUP_PASSWORD", "abcdefghijklmnopqrs", "repeated or sequential characters"),
    ("BACKUP_PASSWORD", "xYz1xYz1xYz1xYz1xYz1", "repeated or sequential characters"),
    ("SECRET_KEY", "0123456789abcdef0123456789abcdef", "16 bytes < 32"),
    ("SESSION_SECRET", "a-human-chosen-key", "18 bytes < 32"),
    ("INTERNAL_API_KEY", "abc123def456", "12 chars < 16"),
])
def test_weakness_reasons(key, value, reason):
    assert reason in weakness(key, value)


def test_low_entropy_is_only_a_secondary_reason():
    import random

    assert any("low entropy" in r for r in weakness("API_TOKEN", "ab" * 20))  # repeated, and low entropy
    rng = random.Random(7)
    two_letters = "".join(rng.choice("xy") for _ in range(40))  # ~1 bit/char, but no other weakness
    assert entropy(two_letters) < 3.0
    assert weakness("API_TOKEN", two_letters) == []


def test_random_values_are_never_weak():
    """What ``openssl rand`` / ``secrets`` produce is never called weak (seeded: the word + digits
    pattern matches about 1 in 50,000 random 22-character strings, so a fixed sample keeps the test
    deterministic)."""
    import random
    import string

    rng = random.Random(20251127)
    urlsafe = string.ascii_letters + string.digits + "-_"

    def token(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    for _ in range(3000):
        assert weakness("DB_PASSWORD", token(urlsafe, 22)) == []
        assert weakness("SESSION_SECRET", token("0123456789abcdef", 64)) == []
        assert weakness("JWT_SECRET", token(urlsafe, 64)) == []


def test_policy_thresholds():
    assert weakness("DB_PASSWORD", "Xq7vLp2mZr9tWs", 12, 32) == []
    assert weakness("DB_PASSWORD", "Xq7vLp2mZr9tWs", 20, 32) == ["14 chars < 20"]


def test_defaults_and_placeholders():
    assert default_credential("MINIO_ROOT_PASSWORD", "minioadmin") == "MinIO default"
    assert default_credential("RABBITMQ_DEFAULT_PASS", "Guest")
    assert default_credential("JWT_SECRET", "your-256-bit-secret") and default_credential("JWT_SECRET", "secret")
    assert default_credential("SESSION_COOKIE_SECRET", "secret") is None  # not a JWT key: "secret" is a placeholder
    assert default_credential("DB_PASSWORD", "admin123") is None
    for v in ("changeme", "change_me_now", "CHANGEIT", "password1", "Passw0rd", "secret-key", "default", "test123",
              "example", "dummy", "sample", "TODO", "replace_me", "your_key", "<token>", "xxx", "123456789", "qwerty1",
              "letmein!", "root"):
        assert placeholder(v), v
    for v in ("s3cr3t-but-mine", "mytestvalue", secrets.token_hex(16), ""):
        assert placeholder(v) is None, v


def test_settings_are_not_secrets():
    assert looks_like_setting("true") and looks_like_setting("15m") and looks_like_setting("1h30m")
    assert not looks_like_setting("123456") and not looks_like_setting("hunter2")


def test_key_categories():
    assert key_category("REDIS_PASSWORD") == "password"
    assert key_category("--requirepass") == "password"
    assert key_category("JWT_SECRET") == "key" and key_category("ENCRYPTION_KEY") == "key"
    assert key_category("GOOGLE_CLIENT_SECRET") == "token" and key_category("AWS_SECRET_ACCESS_KEY") == "token"
    assert key_category("GITHUB_TOKEN") == "token" and key_category("API_KEY") == "token"
    assert is_jwt_hmac_key("JWT_REFRESH_SECRET") and is_jwt_hmac_key("AUTH_SIGNING_KEY")
    assert not is_jwt_hmac_key("SECRET_KEY") and not is_jwt_hmac_key("JWT_SECRET_FILE")


def test_generated_values():
    jwt = generate_secret("JWT_SECRET")
    assert len(jwt) == 128 and decoded_bytes(jwt) == 64
    pw = generate_secret("DB_PASSWORD")
    assert len(pw) >= 43 and pw[0].isalnum() and set(pw) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    key = generate_secret("ENCRYPTION_KEY")
    assert decoded_bytes(key) == 32
    for key_name in ("DB_PASSWORD", "JWT_SECRET", "API_TOKEN", "ENCRYPTION_KEY"):
        v = generate_secret(key_name)
        assert not weakness(key_name, v) and not placeholder(v) and not default_credential(key_name, v)
    assert generate_secret("DB_PASSWORD") != generate_secret("DB_PASSWORD")


# --------------------------------------------------------------------------------------------
# the redactor
# --------------------------------------------------------------------------------------------


def test_redactor_hides_escaped_spellings_and_skips_noise():
    red = Redactor(['pa"ss<word>&1', "true", "abc", "${DB_PASSWORD}"])
    assert red('json: "pa\\"ss<word>&1"') == 'json: "***"'
    assert red("html: pa&quot;ss&lt;word&gt;&amp;1") == "html: ***"
    assert red("true abc ${DB_PASSWORD}") == "true abc ${DB_PASSWORD}"
    red.add("postgres-longer")
    red.add("postgres")
    assert red("postgres-longer") == "***"  # the longer value first, hidden whole


# --------------------------------------------------------------------------------------------
# the stack: where secrets are, and the first-match-wins verdicts
# --------------------------------------------------------------------------------------------


def _stack(tmp_path: Path, files: dict[str, str], policy: Policy | None = None):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return build_stack([tmp_path], policy)


def _verdicts(stack):
    from rules.helpers.secrets import classified

    return {(sv.path, sv.line, sv.key): (rid, why) for sv, rid, why in classified(stack)}


def test_first_match_wins(tmp_path):
    stack = _stack(tmp_path, {
        "docker-compose.yml": "services:\n  app:\n    build: .\n    env_file: .env\n",
        ".env": "\n".join([
            "MINIO_ROOT_PASSWORD=minioadmin",  # default (also weak): DATA004
            "ROOT_PASSWORD=root",  # placeholder (also weak): DATA005
            "JWT_SECRET=secret",  # JWT default: DATA004
            "JWT_REFRESH_SECRET=changeme-please",  # placeholder beats API001
            "SESSION_TOKEN=",  # DATA006
            "JWT_ACCESS_SECRET=studios-dk-jwt-2024",  # short HMAC key: API001, not DATA007
            "JWT_OTHER_SECRET=SuperSecretPassword2024!StudiosDK2024",  # long enough but patterned: DATA007
            f"DB_PASSWORD={secrets.token_urlsafe(32)}",  # nothing
        ]) + "\n",
    })
    v = _verdicts(stack)
    assert v[(".env", 1, "MINIO_ROOT_PASSWORD")][0] == "DATA004"
    assert v[(".env", 2, "ROOT_PASSWORD")][0] == "DATA005"
    assert v[(".env", 3, "JWT_SECRET")][0] == "DATA004"
    assert v[(".env", 4, "JWT_REFRESH_SECRET")][0] == "DATA005"
    assert v[(".env", 5, "SESSION_TOKEN")][0] == "DATA006"
    assert v[(".env", 6, "JWT_ACCESS_SECRET")] == ("API001", "HS256 key of 19 bytes < 32")
    assert v[(".env", 7, "JWT_OTHER_SECRET")][0] == "DATA007"
    assert not any(k[2] == "DB_PASSWORD" for k in v)


def test_value_rules_skip_unloaded_templates_but_not_loaded_ones(tmp_path):
    stack = _stack(tmp_path, {
        "docker-compose.yml": "services:\n  app:\n    build: .\n    env_file: .env.sample\n",
        ".env.sample": "DB_PASSWORD=changeme\n",
        ".env.example": "DB_PASSWORD=changeme\n",
    })
    paths = {k[0] for k in _verdicts(stack)}
    assert paths == {".env.sample"}


def test_command_secrets(tmp_path):
    stack = _stack(tmp_path, {"docker-compose.yml": """
services:
  cache:
    image: redis:7
    command: redis-server --requirepass hunter22hunter --port 6379
    healthcheck:
      test: ["CMD-SHELL", "redis-cli -a ${REDIS_PASSWORD} -p 6379 ping"]
  db:
    image: mysql:8
    healthcheck:
      test: ["CMD", "mysqladmin", "ping", "-p$$MYSQL_ROOT_PASSWORD"]
    command: ["mysqld", "--password=${DB_PW:-fallbackpw}"]
  app:
    build: .
    command: sh -c "PGPASSWORD=literalpw123 psql -h db && exec app --token-file /run/secrets/t"
"""})
    found = {(svc.name, c.key, c.literal, c.refs) for svc in stack.services for c in command_secrets(svc)}
    assert ("cache", "--requirepass", True, ()) in found
    assert ("cache", "-a", False, ("REDIS_PASSWORD",)) in found
    assert ("db", "--password", False, ("DB_PW",)) in found
    assert ("app", "PGPASSWORD", True, ()) in found
    assert not any(k[0] == "db" and k[1] == "-p" for k in found)  # $$ is expanded in the container
    assert not any("token" in k[1] for k in found)  # a *-file flag names a path


def test_every_secret_place_is_collected(tmp_path):
    from scanner.secretcheck import secret_values

    stack = _stack(tmp_path, {
        "docker-compose.yml": """
services:
  app:
    build: .
    env_file: .env
    environment:
      API_TOKEN: tok-literal-value-1
      ADMIN_PASSWORD: ${ADMIN_PASSWORD:-fallback-value-2}
    command: ["app", "--secret", "cmd-literal-value-3"]
  nats:
    image: nats:2.10
    command: ["-c", "/etc/nats/nats.conf"]
    volumes: ["./nats.conf:/etc/nats/nats.conf:ro"]
""",
        ".env": "DATABASE_URL=postgres://u:dsn-value-4@db/app\nJWT_SECRET=\"env-value-5\"\n",
        "nats.conf": "authorization { token: \"nats-value-6\" }\n",
        "prometheus.yml": "scrape_configs:\n  - job_name: x\n    basic_auth: {username: u, password: prom-value-7}\n",
    })
    got = {(sv.source, sv.value) for sv in secret_values(stack)}
    assert {("environment", "tok-literal-value-1"), ("default", "fallback-value-2"), ("command", "cmd-literal-value-3"),
            ("url", "dsn-value-4"), ("dotenv", "env-value-5"), ("nats", "nats-value-6"),
            ("prometheus", "prom-value-7")} <= got
    # and every one has an exact span in its file, for the fix
    for sv in secret_values(stack):
        if sv.span is not None and sv.value:
            text = (tmp_path / sv.span.path).read_text().splitlines()[sv.span.start_line - 1]
            assert text[sv.span.start_col - 1:sv.span.end_col - 1] == sv.value, (sv.source, sv.key)


def test_fix_regenerates_both_ends_of_a_credential(tmp_path):
    from rules.helpers.secrets import classified, regenerate_fix

    stack = _stack(tmp_path, {
        "docker-compose.yml": "services:\n  app:\n    build: .\n    env_file: .env\n",
        ".env": "POSTGRES_PASSWORD='weakpass1'\nDATABASE_URL=postgres://app:weakpass1@db:5432/app\nREDIS_PASSWORD=weakpass1\n",
    })
    [(sv, rid, _)] = [t for t in classified(stack) if t[0].key == "POSTGRES_PASSWORD"]
    fix = regenerate_fix(stack, sv)
    # the safety is the rule's declaration (the engine fills it in): every secret value rule's is unsafe
    from scanner.registry import load_rules

    assert fix.applicability is None and all(e.secret for e in fix.edits)
    assert {load_rules()[r].fix for r in ("DATA004", "DATA005", "DATA006", "DATA007", "API001")} == {"unsafe"}
    spans = {(e.location.start_line, e.location.start_col, e.location.end_col) for e in fix.edits}
    assert spans == {(1, 20, 29), (2, 29, 38)}  # inside the quotes; the DSN's password; not REDIS_PASSWORD
    assert len({e.new_text for e in fix.edits}) == 1
    # the other end's finding regenerates to the same value: whichever fix applies, they match
    [(dsn, _, _)] = [t for t in classified(stack) if t[0].key == "DATABASE_URL"]
    assert regenerate_fix(stack, dsn).edits[0].new_text == fix.edits[0].new_text


def test_operational_env_helpers():
    from rules.api.jwt import lifetime_seconds, token_kind
    from rules.operational.env import debug_setting, interpolation_hazard

    assert token_kind("JWT_ACCESS_TOKEN_TTL") == "access" and token_kind("JWT_REFRESH_TOKEN_TTL") == "refresh"
    assert token_kind("SESSION_TTL_SECONDS") is None and token_kind("JWT_SECRET") is None
    assert lifetime_seconds("JWT_TTL", "15m") == 900 and lifetime_seconds("X_MINUTES", "60") == 3600
    assert lifetime_seconds("X_MS", "3600000") == 3600 and lifetime_seconds("X", "1h30m") == 5400
    assert lifetime_seconds("X", "soon") is None
    assert debug_setting("RUST_LOG", "debug") == ("RUST_LOG global level is debug", "info")
    assert debug_setting("RUST_LOG", "info,sqlx=debug") is None and debug_setting("RUST_BACKTRACE", "1") is None
    assert debug_setting("DEBUG", "True")[1] == "False" and debug_setting("NODE_ENV", "development")[1] == "production"
    assert interpolation_hazard("pa$word", set()) and interpolation_hazard("${A", set())
    assert interpolation_hazard("redis://${HOST}:6379", set()) is None
    assert interpolation_hazard("$BASE/data", {"BASE"}) is None

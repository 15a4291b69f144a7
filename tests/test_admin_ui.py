"""PER043 (issue 15): login-less admin, mail and tracing UIs published or proxied without auth are the
"no credentials" severity, and PER001/PER003/PER041 leave their port to it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.config import Policy
from scanner.engine import audit

# image, UI port, the service lines that give it a login (None: it has none)
UIS = [
    ("axllent/mailpit:v1.21", 8025, "    environment:\n      MP_UI_AUTH: \"admin:${MAILPIT_PASSWORD:?}\"\n"),
    ("axllent/mailpit:v1.21", 8025, "    environment:\n      MP_UI_AUTH_FILE: /run/secrets/ui\n"),
    ("mailhog/mailhog:v1.0.1", 8025, "    command: [\"-auth-file=/etc/mailhog/auth\"]\n"),
    ("jaegertracing/all-in-one:1.62.0", 16686, None),
    ("rediscommander/redis-commander:latest", 8081, "    environment:\n      HTTP_USER: ops\n      HTTP_PASSWORD_HASH: ${HASH:?}\n"),
    ("prom/alertmanager:v0.27.0", 9093, "    command: [\"--web.config.file=/etc/am/web.yml\"]\n"),
    ("traefik:v3.2", 8080, None),
]
INSECURE = {"traefik:v3.2": "    command: [\"--api.insecure=true\"]\n"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ui=st.sampled_from(UIS), auth=st.booleans(), bind=st.sampled_from(["", "0.0.0.0:", "127.0.0.1:", "[::]:"]),
       host_port=st.integers(1024, 60000), exposure=st.sampled_from(["published", "proxied", "proxied-auth"]))
def test_per043_fires_iff_the_ui_is_reachable_without_a_login(tmp_path_factory, ui, auth, bind, host_port, exposure):
    image, port, login = ui
    root = tmp_path_factory.mktemp("ui")
    extra = login if (auth and login) else INSECURE.get(image, "")
    svc = f"  ui:\n    image: {image}\n{extra}"
    compose = "services:\n"
    if exposure == "published":
        svc += f"    ports:\n      - \"{bind}{host_port}:{port}\"\n"
    else:
        guard = "        auth_basic \"ops\";\n        auth_basic_user_file /etc/nginx/htpasswd;\n" if exposure == "proxied-auth" else ""
        (root / "site.conf").write_text(f"server {{\n    listen 80;\n    location /ui/ {{\n{guard}        proxy_pass http://ui:{port}/;\n    }}\n}}\n")
        compose += "  nginx:\n    image: nginx:1.27-alpine\n    ports: [\"80:80\"]\n    volumes:\n      - ./site.conf:/etc/nginx/conf.d/site.conf:ro\n"
    (root / "docker-compose.yml").write_text(compose + svc)
    result = audit([root], Policy(), select=["PER043", "PER001", "PER003", "PER041"], root=root)
    rules = sorted(f.rule for f in result.findings)
    has_login = auth and login is not None
    public = bind in ("", "0.0.0.0:", "[::]:")
    want = not has_login and (exposure == "proxied" or (exposure == "published" and public))
    assert ("PER043" in rules) == want, (image, auth, bind, exposure, rules)
    if want:
        assert "PER001" not in rules and "PER003" not in rules and "PER041" not in rules

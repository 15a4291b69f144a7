"""Discovery and linking: the Stack is built the way the running containers see the files."""

from pathlib import Path

from scanner.stack import build_stack, classify

COMPOSE = """\
services:
  nginx:
    image: nginx:1.27.3-alpine
    ports: ["80:80", "443:443"]
    volumes:
      - ./gw/main.conf:/etc/nginx/nginx.conf:ro
      - ./gw/sites:/etc/nginx/conf.d:ro
      - ./gw/snippets/headers.inc:/etc/nginx/security.conf:ro
  backend:
    build:
      context: ./backend_api
      dockerfile: Dockerfile.prod
    env_file: .env.prod
  postgres:
    image: postgres:16-alpine
    volumes:
      - ./db/init.sql:/docker-entrypoint-initdb.d/init-db.sql:ro
"""


def make(tmp_path: Path) -> Path:
    (tmp_path / "gw/sites").mkdir(parents=True)
    (tmp_path / "gw/snippets").mkdir()
    (tmp_path / "backend_api").mkdir()
    (tmp_path / "db").mkdir()
    (tmp_path / "docker-compose.prod.yml").write_text(COMPOSE)
    (tmp_path / "gw/main.conf").write_text(
        "events {}\nhttp {\n    include /etc/nginx/security.conf;\n    include /etc/nginx/conf.d/*.conf;\n}\n")
    (tmp_path / "gw/sites/api.conf").write_text("server {\n    listen 443 ssl;\n    location / { proxy_pass http://backend:8080; }\n}\n")
    (tmp_path / "gw/snippets/headers.inc").write_text("add_header X-Frame-Options DENY always;\n")
    (tmp_path / "backend_api/Dockerfile.prod").write_text("FROM alpine:3.20\nEXPOSE 8080\nUSER 10001\n")
    (tmp_path / ".env.prod").write_text("DATABASE_URL=postgres://app@postgres/app\nexport POOL='x'\n")
    (tmp_path / "db/init.sql").write_text("CREATE TABLE t (id int);\n")
    return tmp_path


def test_classify_names():
    assert classify("docker-compose.prod.yml") == "compose"
    assert classify("compose.override.yaml") == "compose"
    assert classify(".env") == classify(".env.prod") == classify("backend.env") == "env"
    assert classify("Dockerfile") == classify("Dockerfile.prod") == classify("api.dockerfile") == "dockerfile"
    assert classify("prometheus.yml") == "prometheus"
    assert classify("nats-server.conf") == classify("nats.conf") == "nats"
    assert classify("init-db.sql") == "sql"
    assert classify("README.md") is None


def test_links_follow_the_running_stack(tmp_path):
    stack = build_stack([make(tmp_path)])
    assert stack.problems == [], stack.problems
    kinds = {rel: sf.kind for rel, sf in stack.files.items()}
    # a file named .inc is nginx because the gateway mounts it under /etc/nginx
    assert kinds["gw/snippets/headers.inc"] == "nginx"
    assert kinds["db/init.sql"] == "sql" and kinds["backend_api/Dockerfile.prod"] == "dockerfile"
    nginx = stack.service("nginx")
    backend = stack.service("backend")
    assert nginx.role == "gateway" and backend.role == "app" and stack.service("postgres").role == "postgres"
    assert stack.service_dockerfile(backend).path == "backend_api/Dockerfile.prod"
    assert [d.path for d in stack.service_dotenvs(backend)] == [".env.prod"]
    assert stack.service_env(backend)["DATABASE_URL"][0].startswith("postgres://")
    assert any(svc is stack.service("postgres") and t.startswith("/docker-entrypoint-initdb.d")
               for svc, t in stack.files["db/init.sql"].mounted_by)
    # one nginx configuration: the main file, with security.conf and conf.d/*.conf spliced in
    assert len(stack.nginx_configs) == 1
    cfg = stack.nginx_configs[0]
    assert cfg.service is nginx
    assert set(cfg.files) == {"gw/main.conf", "gw/snippets/headers.inc", "gw/sites/api.conf"}
    server = cfg.servers[0]
    assert server.path == "gw/sites/api.conf" and server.parent.name == "http"
    assert [n.args for n in server.inherited("add_header")] == [["X-Frame-Options", "DENY", "always"]]
    assert stack.nginx_version() == "1.27.3-alpine"


def test_include_cycle_is_a_finding_not_a_hang(tmp_path):
    (tmp_path / "a.conf").write_text("events {}\nhttp { include b.conf; }\n")
    (tmp_path / "b.conf").write_text("include a.conf;\nserver { listen 80; }\n")
    stack = build_stack([tmp_path])
    assert any("include cycle" in p.message for p in stack.problems)


def test_fragment_context(tmp_path):
    (tmp_path / "site.conf").write_text("server {\n  listen 80;\n  location / { return 301 https://$host$request_uri; }\n}\n")
    (tmp_path / "loc.conf").write_text("location /x { return 404; }\n")
    stack = build_stack([tmp_path])
    roots = {c.doc.path: c.root.root_name for c in stack.nginx_configs}
    assert roots == {"site.conf": "http", "loc.conf": "server"}
    assert not stack.problems


def test_override_merged_in_compose_order(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:16\n    ports: ['127.0.0.1:5432:5432']\n")
    (tmp_path / "docker-compose.override.yml").write_text("services:\n  db:\n    ports: ['5433:5432']\n    command: !reset []\n  extra:\n    image: redis:7\n")
    stack = build_stack([tmp_path])
    assert len(stack.compose_docs) == 1
    db = stack.service("db")
    assert [(p.host_ip, p.host) for p in db.ports] == [("127.0.0.1", "5432"), (None, "5433")]
    assert stack.service("extra") is not None


def test_interpolation_remembers_sources(tmp_path):
    (tmp_path / ".env").write_text("TAG=16.4\n")
    (tmp_path / "compose.yaml").write_text(
        "x-common: &common\n  restart: always\nservices:\n  db:\n    <<: *common\n    image: postgres:${TAG}\n"
        "    environment:\n      A: ${MISSING:-fallback}\n      B: $${LITERAL}\n")
    stack = build_stack([tmp_path])
    db = stack.service("db")
    assert db.image == "postgres:16.4" and db.str("restart") == "always"
    assert db.env("A").value == "fallback" and db.env("B").value == "${LITERAL}"
    refs = {r.name: r for _, r in stack.compose_docs[0].refs}
    assert refs["TAG"].defined and refs["TAG"].source == ".env"
    assert not refs["MISSING"].defined and refs["MISSING"].has_default
    assert "LITERAL" not in refs


def test_skips_vcs_and_virtualenvs_and_outside_symlinks(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv/pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "venv/docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules/.env").write_text("A=1\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.env"
    outside.write_text("SECRET=x\n")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner/.env").symlink_to(outside)
    stack = build_stack([tmp_path / "inner", tmp_path], root=tmp_path)
    assert not any(".git" in r or "venv" in r or "node_modules" in r for r in stack.files)
    assert "inner/.env" not in stack.files
    assert any("outside the scanned root" in p.message for p in stack.problems)

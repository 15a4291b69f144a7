"""OPS045 (issue 15): a scrape target's port that the target nginx does not listen on (``nginx:9113``
with no exporter) is reported; any port one of its ``listen`` directives opens is not."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.config import Policy
from scanner.engine import audit

PORTS = st.integers(1024, 65535)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(listen=st.lists(PORTS, min_size=0, max_size=3, unique=True), scraped=PORTS, image=st.sampled_from(["nginx:1.27-alpine", "openresty/openresty:1.25.3.2-alpine"]))
def test_scrape_port_against_nginx_listens(tmp_path_factory, listen, scraped, image):
    root = tmp_path_factory.mktemp("scrape")
    servers = "".join(f"server {{\n    listen {p};\n    location / {{ return 204; }}\n}}\n" for p in listen)
    (root / "default.conf").write_text(servers or "# no server\n")
    (root / "docker-compose.yml").write_text(
        f"services:\n  gw:\n    image: {image}\n    volumes:\n      - ./default.conf:/etc/nginx/conf.d/default.conf:ro\n"
        "  prometheus:\n    image: prom/prometheus:v2.53.0\n    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml:ro\n")
    (root / "prometheus.yml").write_text(f"scrape_configs:\n  - job_name: gw\n    static_configs:\n      - targets: [\"gw:{scraped}\"]\n")
    result = audit([root], Policy(), select=["OPS045"], root=root)
    got = [f for f in result.findings if f.rule == "OPS045"]
    listening = set(listen) or {80}  # no server at all: the image's default server on 80
    assert bool(got) == (scraped not in listening), (listen, scraped, [f.message for f in got])
    if got:
        assert got[0].location.path == "prometheus.yml" and got[0].location.start_line == 4

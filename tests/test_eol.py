"""End of life (issue 15): the shipped endoflife.date snapshot, the image-to-cycle mapping, the pinned
clock, APP013/APP014/APP046 against every cycle of the data, and the refresh script's parsing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.helpers.eol import EolDataError, image_cycles, parse_data, shipped_path
from scanner.config import Policy, _merge
from scanner.engine import audit
from scanner.eol_refresh import RefreshError, parse_cycles, refresh

DATA = parse_data(json.loads(shipped_path().read_text()))
RAW = json.loads(shipped_path().read_text())


def _policy(today: str, **extra) -> Policy:
    p = Policy()
    _merge(p.data, {"clock": {"today": today}, **extra})
    return p


def test_shipped_snapshot_is_complete():
    assert dt.date.fromisoformat(RAW["snapshot"]) <= dt.date.today()
    assert "endoflife.date/api/" in RAW["source"]
    for product in ("nginx", "debian", "python", "go", "nodejs", "postgresql", "redis", "alpine", "ubuntu", "mysql", "mariadb", "rust"):
        assert DATA.products[product]["cycles"], product
        assert DATA.products[product]["images"], product
    for code, cycle in (("buster", "10"), ("bullseye", "11"), ("bookworm", "12"), ("stretch", "9"), ("trixie", "13")):
        assert DATA.codenames[code].product == "debian" and DATA.codenames[code].cycle == cycle
    assert DATA.codenames["jammy"].cycle == "22.04"
    # every date of the file is a real date and a cycle ends after it starts
    for prod in RAW["products"].values():
        for row in prod["cycles"]:
            rel = dt.date.fromisoformat(row["releaseDate"])
            if isinstance(row["eol"], str):
                assert dt.date.fromisoformat(row["eol"]) > rel, row


def test_the_issues_examples_are_end_of_life_at_the_snapshot():
    snap = dt.date.fromisoformat(DATA.snapshot)
    for ref in ("nginx:1.15", "debian:buster", "python:3.7", "golang:1.18", "postgres:12", "redis:6.0", "alpine:3.15"):
        runs = image_cycles(DATA, ref)
        assert runs and DATA.until(runs[0].cycle) <= snap, ref


def test_os_codename_in_a_tag_is_its_own_product():
    runs = image_cycles(DATA, "python:3.11-buster")
    assert [(r.cycle.product, r.cycle.cycle, r.main) for r in runs] == [("python", "3.11", True), ("debian", "10", False)]
    runs = image_cycles(DATA, "node:18-alpine3.16")
    assert [(r.cycle.product, r.cycle.cycle) for r in runs] == [("nodejs", "18"), ("alpine", "3.16")]
    assert [(r.cycle.product, r.cycle.cycle) for r in image_cycles(DATA, "eclipse-temurin:21-jammy")] == [("ubuntu", "22.04")]
    # the longest cycle on a dot boundary: 10.11 is not 10.1, 3.1 is not 3.12
    assert image_cycles(DATA, "mariadb:10.11.6")[0].cycle.cycle == "10.11"
    assert image_cycles(DATA, "python:3.12.1-slim")[0].cycle.cycle == "3.12"
    assert image_cycles(DATA, "python:3") == [] and image_cycles(DATA, "python") == [] and image_cycles(DATA, "${IMG}") == []


CYCLES = [(name, c) for name, prod in DATA.products.items() for c in prod["cycles"] if name not in ("debian", "ubuntu", "nginx")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.sampled_from(CYCLES), suffix=st.sampled_from(["", ".3", "-slim", ".1-alpine"]),
       offset=st.integers(-400, 400), warn=st.integers(0, 200))
def test_rules_follow_the_data_and_the_clock(tmp_path_factory, pick, suffix, offset, warn):
    """For any cycle of the data and any pinned date: APP013 fires iff its end of life is on or before
    `clock.today`, APP014 iff it falls within `eol.warn_days` after it."""
    name, cycle = pick
    image = DATA.products[name]["images"][0]
    if name == "postgresql" and suffix.startswith("."):
        suffix = suffix.lstrip(".0123456789") or ""  # postgres 16.3 is cycle 16, 9.6.3 is 9.6: fine either way
    root = tmp_path_factory.mktemp("eol")
    (root / "docker-compose.yml").write_text(f"services:\n  s:\n    image: {image}:{cycle.cycle}{suffix}\n")
    until = DATA.until(cycle)
    base = until if until not in (None, dt.date.min) else dt.date(2026, 1, 1)
    today = base + dt.timedelta(days=offset)
    policy = _policy(today.isoformat(), eol={"warn_days": warn})
    result = audit([root], policy, select=["APP013", "APP014"], root=root)
    got = {f.rule for f in result.findings}
    past = until is not None and until <= today
    soon = until is not None and today < until <= today + dt.timedelta(days=warn)
    assert got == ({"APP013"} if past else set()) | ({"APP014"} if soon else set()), (image, cycle, today, got)
    for f in result.findings:
        assert cycle.cycle in f.message and DATA.snapshot in f.message
        if until not in (None, dt.date.min):
            assert until.isoformat() in f.message


def test_codename_judged_by_its_lts(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  s:\n    image: python:3.13-slim-bookworm\n")
    # bookworm's regular support ends 2026-06-10, its LTS 2028-06-30: images keep getting fixes
    assert not audit([tmp_path], _policy("2027-01-01"), select=["APP013"], root=tmp_path).findings
    found = audit([tmp_path], _policy("2028-07-01"), select=["APP013"], root=tmp_path).findings
    assert len(found) == 1 and "Debian 12 (bookworm)" in found[0].message and "2028-06-30" in found[0].message


def test_local_eol_data_from_the_policy(tmp_path):
    data = {"snapshot": "2030-01-01", "products": {"python": {"images": ["python"], "cycles": [
        {"cycle": "3.13", "releaseDate": "2024-10-07", "eol": "2029-01-01"}]}}}
    (tmp_path / "eol.json").write_text(json.dumps(data))
    (tmp_path / ".dkscan.yaml").write_text("eol:\n  data: eol.json\nclock:\n  today: 2029-06-01\n")
    (tmp_path / "docker-compose.yml").write_text("services:\n  s:\n    image: python:3.13\n")
    from scanner.config import load_policy

    policy = load_policy(tmp_path / ".dkscan.yaml")
    found = audit([tmp_path], policy, select=["APP013"], root=tmp_path)
    assert [f.rule for f in found.findings] == ["APP013"] and "2030-01-01" in found.findings[0].message
    (tmp_path / "eol.json").write_text("{not json")
    broken = audit([tmp_path], load_policy(tmp_path / ".dkscan.yaml"), select=["APP013"], root=tmp_path)
    assert not broken.findings and any("end-of-life data" in n for n in broken.notes)


def test_bad_data_is_an_error_not_a_crash():
    for bad in ([], {"products": []}, {"products": {"x": {"cycles": [{"eol": "2020-01-01"}]}}},
                {"products": {"x": {"cycles": [{"cycle": "1", "eol": "someday"}]}}}):
        with pytest.raises(EolDataError):
            parse_data(bad)


SAMPLE = [  # the shape of https://endoflife.date/api/debian.json
    {"cycle": "12", "codename": "Bookworm", "releaseDate": "2023-06-10", "eol": "2026-06-10", "extendedSupport": "2028-06-30",
     "link": "https://www.debian.org/News/2023/20230610", "latest": "12.7", "latestReleaseDate": "2024-08-31", "lts": False},
    {"cycle": "13", "codename": "Trixie", "releaseDate": "2025-08-09", "eol": False, "extendedSupport": True, "lts": False},
]


def test_refresh_parses_the_api_shape():
    cycles = parse_cycles(SAMPLE)
    assert cycles[0] == {"cycle": "12", "releaseDate": "2023-06-10", "eol": "2026-06-10", "extendedSupport": "2028-06-30", "codename": "bookworm"}
    assert cycles[1]["eol"] is False and cycles[1]["codename"] == "trixie"
    again = parse_data({"snapshot": "2026-01-01", "products": {"debian": {"images": ["debian"], "judge": "extendedSupport", "cycles": cycles}}})
    assert again.codenames["bookworm"].lts == dt.date(2028, 6, 30) and again.codenames["trixie"].eol is None
    for bad in ({"cycle": "1"}, [{"eol": "2020-01-01"}], [{"cycle": "1", "eol": "tomorrow"}]):
        with pytest.raises(RefreshError):
            parse_cycles(bad)


def test_refresh_keeps_dkscan_keys_and_failed_products():
    old = {"snapshot": "2025-01-01", "source": "x", "products": {
        "debian": {"images": ["debian"], "judge": "extendedSupport", "cycles": []},
        "python": {"images": ["python"], "cycles": [{"cycle": "3.7", "releaseDate": "2018-06-27", "eol": "2023-06-27"}]}}}
    urls = []

    def fetch(url):
        urls.append(url)
        if url.endswith("/python.json"):
            raise OSError("offline")
        return SAMPLE

    new, failed = refresh(old, fetch, dt.date(2026, 12, 1))
    assert urls == ["https://endoflife.date/api/debian.json", "https://endoflife.date/api/python.json"]
    assert new["products"]["debian"]["images"] == ["debian"] and new["products"]["debian"]["judge"] == "extendedSupport"
    assert len(new["products"]["debian"]["cycles"]) == 2
    assert new["products"]["python"] == old["products"]["python"] and failed and failed[0].startswith("python")
    assert new["snapshot"] == "2025-01-01"  # partial: the old date stays
    full, failed = refresh(old, lambda url: SAMPLE, dt.date(2026, 12, 1))
    assert not failed and full["snapshot"] == "2026-12-01"
    parse_data(full)


def test_fix_bumps_the_version(tmp_path):
    from scanner.fix.apply import apply_edits

    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: \"postgres:12.4-alpine\"\n")
    result = audit([tmp_path], _policy("2026-03-01"), select=["APP013"], root=tmp_path)
    (f,) = result.findings
    (edit,) = f.fix.edits
    line = (tmp_path / "docker-compose.yml").read_text().splitlines()[2]
    assert line[edit.location.start_col - 1:edit.location.end_col - 1] == "12.4" and edit.new_text == "14"
    fixed, _applied = apply_edits((tmp_path / "docker-compose.yml").read_text(), [f.fix])
    assert 'image: "postgres:14-alpine"' in fixed


def test_shipped_file_is_package_data():
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '"data/*"' in text and shipped_path().is_file()

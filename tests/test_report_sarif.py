"""SARIF 2.1.0: our serializer of sarif-om objects, schema validity, and GitHub's requirements.

Microsoft's validator with GitHub's rules runs in tests/test_sarif_multitool.py.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import sarif_om as om

from conftest import shared_path
from scanner.engine import audit
from scanner.model import Severity
from scanner.report import render, sarif
from test_report_common import CANARY, CANARY_TOKEN, CANARY_URL_PW, GENERATED_SECRET, synthetic_result, write_stack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(shared_path("schemas", "sarif-schema-2.1.0.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator, data) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


# -- the serializer ----------------------------------------------------------------------------

def test_serializer_property_names_placeholders_and_suppression_status():
    log = om.SarifLog(version="2.1.0", schema_uri=sarif.SCHEMA_URI, runs=[om.Run(
        tool=om.Tool(driver=om.ToolComponent(name="t", rules=[om.ReportingDescriptor(id="R1")])),
        results=[om.Result(message=om.Message(text="m"), rule_id="R1", level="warning",
                           locations=[om.Location(physical_location=om.PhysicalLocation(
                               artifact_location=om.ArtifactLocation(uri="a.yml"), region=om.Region(start_line=3)))],
                           suppressions=[om.Suppression(kind="inSource", state="accepted", justification="why")],
                           partial_fingerprints={"dkscan/v1": "abc"},
                           properties={"security-severity": "8.0", "tags": ["x"]})],
    )])
    data = sarif.to_data(log)
    text = json.dumps(data)
    assert data["$schema"] == sarif.SCHEMA_URI and data["version"] == "2.1.0"
    assert list(data)[:2] == ["$schema", "version"]
    assert "schema_uri" not in text and "rule_id" not in text and "-1" not in text
    res = data["runs"][0]["results"][0]
    assert res["level"] == "warning"  # explicit even though it is sarif-om's default
    assert "kind" not in res  # "fail" is the default: dropped
    assert "ruleIndex" not in res and "rank" not in res  # -1 placeholders dropped
    region = res["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3}  # no byteOffset/charOffset -1
    assert res["suppressions"] == [{"kind": "inSource", "justification": "why", "status": "accepted"}]
    assert res["partialFingerprints"] == {"dkscan/v1": "abc"}
    assert res["properties"] == {"security-severity": "8.0", "tags": ["x"]}
    tool = data["runs"][0]["tool"]["driver"]
    assert "contents" not in tool and "language" not in tool  # factory / constant defaults dropped
    assert data["runs"][0]["tool"]["driver"]["rules"] == [{"id": "R1"}]


def test_serializer_keeps_zero_and_false():
    data = sarif.to_data(om.Region(start_line=1, start_column=1, char_length=0))
    assert data == {"startLine": 1, "startColumn": 1, "charLength": 0}


# -- real stacks -------------------------------------------------------------------------------

def _log(result, **opts) -> dict:
    return json.loads(render("sarif", result, **opts))


@pytest.fixture(scope="module")
def fixture_result():
    stack = ROOT / "fixtures" / "studios-dk"
    assert stack.is_dir(), "fixtures/studios-dk is missing"
    return audit([stack])


def test_fixture_sarif_is_schema_valid_and_github_shaped(fixture_result, validator):
    data = _log(fixture_result)
    assert _errors(validator, data) == []
    assert len(data["runs"]) == 1
    run = data["runs"][0]
    assert "automationDetails" not in run  # only from --sarif-category
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) == len(fixture_result.rules)
    for rd in rules:
        rule = fixture_result.rules[rd["id"]]
        assert rd["shortDescription"]["text"] == fixture_result.redact(rule.title)
        assert rd["fullDescription"]["text"].strip()
        assert rd["help"]["text"].strip() and rd["help"]["markdown"].strip()
        assert "## " in rule.doc and "## " in rd["help"]["markdown"]
        assert rd["helpUri"] == f"https://github.com/dkscan/dkscan/blob/main/docs/rules.md#{rule.id.lower()}"
        props = rd["properties"]
        assert rule.layer.value in props["tags"]
        assert props["precision"] in ("very-high", "high", "medium", "low")
        assert len(props["tags"]) <= 20
        for cwe in rule.cwe:
            assert f"external/cwe/cwe-{cwe.split('-')[1]}" in props["tags"]
        if rule.severity == Severity.INFO:
            assert "security-severity" not in props and "security" not in props["tags"]
        else:
            assert props["security-severity"] == {4: "9.5", 3: "8.0", 2: "5.5", 1: "2.0"}[int(rule.severity)]
            assert "security" in props["tags"]
        assert rd["defaultConfiguration"]["level"] == rule.severity.sarif_level
    assert len(run["results"]) == len(fixture_result.findings)
    for res, f in zip(run["results"], fixture_result.findings):
        assert res["ruleId"] == f.rule and rules[res["ruleIndex"]]["id"] == f.rule
        assert res["level"] == fixture_result.severity(f).sarif_level
        assert res["message"]["text"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert not loc["artifactLocation"]["uri"].startswith("/")
        assert loc["region"]["startLine"] == f.location.start_line
        assert list(res["partialFingerprints"]) == ["dkscan/v1"]
        assert "primaryLocationLineHash" not in res["partialFingerprints"]
        for fix in res.get("fixes", []):
            assert fix["artifactChanges"] and all(c["replacements"] for c in fix["artifactChanges"])


def test_synthetic_sarif_fixes_suppressions_related(tmp_path, validator):
    result = synthetic_result(tmp_path)
    data = _log(result, uri_prefix="")
    assert _errors(validator, data) == []
    text = json.dumps(data)
    for secret in (CANARY, CANARY_TOKEN, CANARY_URL_PW, GENERATED_SECRET):
        assert secret not in text
    results = data["runs"][0]["results"]
    assert len(results) == len(result.findings)  # suppressed and baselined left out by default
    assert not any("suppressions" in r for r in results)
    two = next(r for r in results if "<script>" in r["message"]["text"])
    assert [c["artifactLocation"]["uri"] for c in two["fixes"][0]["artifactChanges"]] == [".env", "docker-compose.yml"]
    env_change = two["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert env_change["insertedContent"]["text"] == "<generated>"
    assert "<generated>" in two["fixes"][0]["description"]["text"]
    insertion = two["fixes"][0]["artifactChanges"][1]["replacements"][0]["deletedRegion"]
    assert insertion["startLine"] == insertion["endLine"] == 7 and insertion["startColumn"] == insertion["endColumn"] == 10
    assert two["fixes"][0]["properties"]["applicability"] == "unsafe"
    assert [rl["id"] for rl in two["relatedLocations"]] == [1, 2, 3]
    # a probed URL (dkscan probe's drift findings): an absolute URI, percent-encoded, no base id, no region
    url = two["relatedLocations"][2]
    assert url["physicalLocation"] == {"artifactLocation": {"uri": "https://studios-dk.com:8443/a%20b/%3Fq=%3Cx%3E"}}
    assert url["message"]["text"] == "probed URL"
    assert all("uriBaseId" in rl["physicalLocation"]["artifactLocation"] for rl in two["relatedLocations"][:2])
    overridden = next(r for r in results if r["message"]["text"] == "overridden to critical")
    assert overridden["level"] == "error" and overridden["properties"]["severity"] == "critical"
    anchor = next(r for r in results if r["message"]["text"] == "internal error anchor")
    assert anchor["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "."
    assert anchor["locations"][0]["physicalLocation"]["region"] == {"startLine": 1, "startColumn": 1}


def test_include_suppressed(tmp_path, validator):
    result = synthetic_result(tmp_path)
    data = _log(result, include_suppressed=True, uri_prefix="")
    assert _errors(validator, data) == []
    results = data["runs"][0]["results"]
    assert len(results) == len(result.findings) + len(result.suppressed) + len(result.baselined)
    sup = [r for r in results if "suppressions" in r]
    assert len(sup) == 3
    kinds = sorted(r["suppressions"][0]["kind"] for r in sup)
    assert kinds == ["external", "external", "inSource"]
    assert all(r["suppressions"][0]["status"] == "accepted" and "state" not in r["suppressions"][0] for r in sup)
    assert any("fronted by a firewall" in r["suppressions"][0]["justification"] for r in sup)
    # a baseline is active: the others are new, the baselined unchanged
    states = {r["message"]["text"]: r.get("baselineState") for r in results}
    assert states["known before"] == "unchanged" and states["cache port published"] == "new"


def test_category_and_cli_options(tmp_path):
    stack = write_stack(tmp_path / "s")
    out = tmp_path / "r.sarif"
    r = subprocess.run(["dkscan", "audit", str(stack), "--format", "sarif", "--output", str(out),
                        "--sarif-category", "dkscan/prod"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    run = json.loads(out.read_text())["runs"][0]
    assert run["automationDetails"] == {"id": "dkscan/prod/"}


def test_uris_are_repository_relative_in_a_git_subdirectory(tmp_path):
    repo = tmp_path / "repo"
    stack = write_stack(repo / "deploy" / "prod")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    result = audit([stack])
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in _log(result)["runs"][0]["results"]}
    assert uris and all(u.startswith("deploy/prod/") for u in uris)
    outside = audit([write_stack(tmp_path / "plain")])
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in _log(outside)["runs"][0]["results"]}
    assert "docker-compose.yml" in uris and not any("/" in u for u in uris)


def test_fingerprints_stable_across_line_shifts(tmp_path):
    from test_report_common import COMPOSE

    a = _log(audit([write_stack(tmp_path / "a")]), uri_prefix="")
    b_dir = write_stack(tmp_path / "b")
    (b_dir / "docker-compose.yml").write_text("# new header\n# more\n" + COMPOSE)
    b = _log(audit([b_dir]), uri_prefix="")
    fa = sorted(r["partialFingerprints"]["dkscan/v1"] for r in a["runs"][0]["results"])
    fb = sorted(r["partialFingerprints"]["dkscan/v1"] for r in b["runs"][0]["results"])
    assert fa == fb


def test_result_limit_keeps_the_most_severe(tmp_path, monkeypatch):
    result = synthetic_result(tmp_path)
    monkeypatch.setattr(sarif, "MAX_RESULTS", 3)
    warnings = []
    data = json.loads(sarif.render_sarif(result, uri_prefix="", warn=warnings.append))
    results = data["runs"][0]["results"]
    assert len(results) == 3
    kept = sorted((int(Severity.parse(r["properties"]["severity"])) for r in results), reverse=True)
    worst = sorted((int(result.severity(f)) for f in result.findings), reverse=True)[:3]
    assert kept == worst
    assert warnings and "25,000" not in warnings[0] and "kept the 3 most severe" in warnings[0]


def test_size_limit_cuts_results_and_warns(tmp_path, monkeypatch):
    result = synthetic_result(tmp_path)
    full = sarif.render_sarif(result, uri_prefix="")
    limit = len(gzip.compress(full.encode(), 6)) - 200
    monkeypatch.setattr(sarif, "MAX_GZIP_BYTES", limit)
    warnings = []
    text = sarif.render_sarif(result, uri_prefix="", warn=warnings.append)
    assert len(gzip.compress(text.encode(), 6)) <= limit
    assert 0 < len(json.loads(text)["runs"][0]["results"]) < len(result.findings)
    assert warnings and "gzipped" in warnings[0]


def test_limit_warning_goes_to_stderr(tmp_path, monkeypatch, capsys):
    result = synthetic_result(tmp_path)
    monkeypatch.setattr(sarif, "MAX_RESULTS", 1)
    render("sarif", result, uri_prefix="")
    assert "dkscan: SARIF:" in capsys.readouterr().err


def test_reproducible(tmp_path):
    result = synthetic_result(tmp_path)
    assert render("sarif", result, uri_prefix="") == render("sarif", result, uri_prefix="")

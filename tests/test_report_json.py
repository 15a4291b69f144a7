"""The JSON report: valid against its published, versioned schema (reports/schema.json)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from scanner.engine import audit
from scanner.model import Severity
from scanner.report import matrix, render
from scanner.report.json_report import SCHEMA_VERSION
from test_report_common import CANARY, CANARY_TOKEN, GENERATED_SECRET, synthetic_result

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "reports" / "schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _errors(validator, data):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def test_schema_documents_every_field(validator):
    schema = json.loads(SCHEMA.read_text())
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    undocumented = [f"report.{k}" for k, v in schema["properties"].items() if "description" not in v]
    undocumented += [f"finding.{k}" for k, v in schema["$defs"]["finding"]["properties"].items() if "description" not in v]
    assert undocumented == []


def test_synthetic_report_valid(tmp_path, validator):
    result = synthetic_result(tmp_path)
    text = render("json", result, threshold=Severity.HIGH, when=datetime(2026, 1, 1, tzinfo=timezone.utc), label="stack")
    data = json.loads(text)
    assert _errors(validator, data) == []
    assert data["generated"] == "2026-01-01T00:00:00Z"
    assert data["root"] == "stack" and data["fail_on"] == "high"
    assert data["verdict"] == "fail"
    assert data["counts"]["findings"] == len(result.findings) == len(data["findings"])
    assert len(data["suppressed"]) == 2 and all(x["suppression"] for x in data["suppressed"])
    assert len(data["baselined"]) == 1
    assert data["summary"] == matrix(result)
    two = next(x for x in data["findings"] if "<script>" in x["message"])
    edits = two["fix"]["edits"]
    assert {"secret": True, "new_text": "<generated>"}.items() <= edits[1].items()
    assert edits[0]["insert"] is True
    assert two["related"][0] == {"path": ".env", "line": 3, "column": 1}
    for secret in (CANARY, CANARY_TOKEN, GENERATED_SECRET):
        assert secret not in text


def test_fixture_report_valid(validator):
    stack = ROOT / "fixtures" / "studios-dk"
    assert stack.is_dir(), "fixtures/studios-dk is missing"
    data = json.loads(render("json", audit([stack])))
    assert _errors(validator, data) == []


def test_example_report_valid(validator):
    example = ROOT / "reports" / "studios-dk.json"
    assert example.exists(), "reports/studios-dk.json is missing: python -m scanner.report.examples"
    assert _errors(validator, json.loads(example.read_text())) == []


def test_invalid_documents_are_rejected(tmp_path, validator):
    data = json.loads(render("json", synthetic_result(tmp_path)))
    data["findings"][0]["severity"] = "urgent"
    data["surprise"] = 1
    errs = _errors(validator, data)
    assert any("urgent" in e for e in errs) and any("surprise" in e for e in errs)

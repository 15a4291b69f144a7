"""The example GitHub workflow is valid YAML with the permissions code scanning requires."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_example_workflow():
    wf = yaml.safe_load((ROOT / "examples/github/dkscan.yml").read_text())
    assert wf["name"] == "dkscan"
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads `on:` as True
    assert "pull_request" in on and "push" in on
    assert wf["permissions"]["security-events"] == "write"
    assert wf["permissions"]["contents"] == "read"
    steps = wf["jobs"]["audit"]["steps"]
    audit = next(s for s in steps if "dkscan audit" in s.get("run", ""))
    assert "--format sarif" in audit["run"] and "--sarif-category" in audit["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "dkscan.sarif" and upload["with"]["category"]
    assert upload.get("if") == "always()"
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert "dkscan.md" in summary["run"]


def test_sharded_workflow_runs_every_shard_and_merges_them():
    wf = yaml.safe_load((ROOT / "examples/github/dkscan-shards.yml").read_text())
    assert wf["permissions"]["security-events"] == "write"
    shards = wf["jobs"]["audit"]["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, int(wf["env"]["SHARDS"]) + 1))
    audit = next(s for s in wf["jobs"]["audit"]["steps"] if "dkscan audit" in s.get("run", ""))
    assert '--shard "${{ matrix.shard }}/${SHARDS}"' in audit["run"] and "--format sarif" in audit["run"]
    merge = wf["jobs"]["merge"]
    assert merge["needs"] == "audit"
    run = next(s for s in merge["steps"] if "dkscan merge" in s.get("run", ""))["run"]
    assert "dkscan merge shard-*.sarif --output dkscan.sarif" in run
    upload = next(s for s in merge["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "dkscan.sarif"

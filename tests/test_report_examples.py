"""reports/ holds the example reports of fixtures/studios-dk in every format, and docs/rules.md the
rule reference; both are generated and must be current. They change whenever a rule, a rule's
docstring or the fixture changes: regenerate with

    python -m scanner.report.examples
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scanner.report import FORMATS, SUFFIXES, examples
from scanner.registry import load_rules

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fresh():
    assert (ROOT / examples.FIXTURE).is_dir(), "fixtures/studios-dk is missing"
    return examples.expected(ROOT)


def test_example_reports_are_current(fresh):
    stale = []
    for rel, text in fresh.items():
        path = ROOT / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(rel)
    assert not stale, (f"stale generated files: {', '.join(stale)}. "
                       f"Regenerate them with `{examples.COMMAND}` and commit the result.")


def test_every_format_has_an_example(fresh):
    assert {f"reports/studios-dk{SUFFIXES[fmt]}" for fmt in FORMATS} <= set(fresh)
    assert "docs/rules.md" in fresh


def test_examples_are_reproducible_and_pinned(fresh):
    again = examples.example_reports(ROOT)
    assert again == {k: v for k, v in fresh.items() if k.startswith("reports/")}
    data = json.loads(fresh["reports/studios-dk.json"])
    assert data["generated"] == "2026-01-01T00:00:00Z"
    assert data["root"] == "fixtures/studios-dk"
    assert str(ROOT) not in "".join(fresh.values())  # no absolute path of this checkout


def test_rules_doc_has_an_anchor_for_every_help_uri(fresh):
    doc = fresh["docs/rules.md"]
    anchors = set(re.findall(r'<a id="([a-z0-9]+)"></a>', doc))
    for rule in load_rules().values():
        assert rule.id.lower() in anchors
    sarif = json.loads(fresh["reports/studios-dk.sarif"])
    for rd in sarif["runs"][0]["tool"]["driver"]["rules"]:
        assert rd["helpUri"].split("#", 1)[1] in anchors


def test_check_mode(tmp_path, monkeypatch, capsys):
    """`--check` reports stale files and names the command, without writing."""
    monkeypatch.setattr(examples, "expected", lambda repo=None: {"reports/x.txt": "new\n"})
    monkeypatch.setattr(examples, "REPO", tmp_path)
    (tmp_path / examples.FIXTURE).mkdir(parents=True)
    assert examples.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "reports/x.txt" in err and examples.COMMAND in err
    assert not (tmp_path / "reports" / "x.txt").exists()
    assert examples.main([]) == 0
    assert (tmp_path / "reports" / "x.txt").read_text() == "new\n"
    assert examples.main(["--check"]) == 0


def test_no_secret_of_the_fixture_in_any_example(fresh):
    """No secret of the fixture in any example report. Values dkscan's own rule documentation prints
    as examples (``Studios2024!``, ``minioadmin``: public words, shown with the rule's docs) are
    checked where the stack writes them instead: every line of the stack that holds one shows it
    masked, never as written."""
    from scanner.secrets import is_reference, is_secret_key

    result, _ = examples.example_result(ROOT)
    secrets = set(getattr(result.redact, "_values", ()))
    lines = set()
    for doc in result.stack.dotenvs:
        for e in doc.entries:
            if is_secret_key(e.key) and e.value and len(e.value) >= 6 and not is_reference(e.value):
                secrets.add(e.value)
                lines.add(doc.line_text(e.line).strip())
    assert secrets, "the fixture plants secrets; the redactor should know them"
    docs = "\n".join(r.title + "\n" + r.doc for r in load_rules().values())
    public = {s for s in secrets if s in docs}
    assert public <= {"Studios2024!", "changeme_smtp", "minioadmin", "backend2025", "studios-dk-jwt-2024"}, public
    assert any(line not in docs and any(p in line for p in public) for line in lines)  # some are checked
    for rel, text in fresh.items():
        if rel == examples.RULES_DOC:
            continue  # the rule reference quotes public weak defaults in its examples; it reports no stack
        leaked = [s[:3] + "…" for s in secrets - public if s in text]
        assert not leaked, f"{rel} shows secret values starting {leaked}"
        shown = [line[:12] + "…" for line in lines if line in text and line not in docs]
        assert not shown, f"{rel} shows the secret lines {shown}"


def test_readme_workflow_scans_and_uploads():
    import yaml

    text = (ROOT / "docs" / "reports.md").read_text()
    assert examples.COMMAND in text
    block = re.search(r"```yaml\n(# \.github/workflows/.*?)```", text, re.S)
    assert block, "docs/reports.md shows the GitHub Actions workflow"
    wf = yaml.safe_load(block.group(1))
    assert wf["permissions"]["security-events"] == "write"
    steps = wf["jobs"]["audit"]["steps"]
    audit_step = next(s for s in steps if "dkscan audit" in s.get("run", ""))
    assert "--format sarif" in audit_step["run"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["category"] and upload["with"]["sarif_file"] == "dkscan.sarif"
    assert upload.get("if") == "always()"

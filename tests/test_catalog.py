"""Rule ids, names, severities and layers agree with the shared rules catalog."""

import re

from scanner.registry import load_rules
from tests.conftest import shared_path

ROW = re.compile(r"^\| (?P<id>[A-Z]+\d{3}) \| (?P<name>[a-z0-9-]+) \| (?P<files>[^|]*) \| (?P<trigger>.*) \| (?P<sev>critical|high|medium|low|info|—) \| (?P<refs>[^|]*) \| (?P<fix>[^|]*) \| (?P<p>P1|P2|—) \|$")


def catalog():
    rows = {}
    for line in shared_path("rules-catalog.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            rows[m["id"]] = m.groupdict()
    return rows


def test_catalog_parses():
    rows = catalog()
    assert sum(1 for r in rows.values() if r["p"] == "P1") == 244
    assert len(rows) == 300


# Rules the catalog does not list, with why they exist. Empty: the catalog's second release lists OPS083-085
# (the suppression rules) too.
NOT_IN_CATALOG: dict[str, str] = {
    # `dkscan probe` must report an unreachable target (issue 19: "a clear finding, never a traceback") and the
    # catalog's LIVE table has no row for it; the last id of the reachability range, until the catalog lists one.
    "LIVE059": "probe-target-unreachable",
    # issue 19 asks the probe for the body-size limit (client_max_body_size promised vs accepted); the catalog's
    # LIVE table has no row for it: the next id of the API behaviour range, beside LIVE061 (a gateway limit too).
    "LIVE062": "body-limit-not-enforced",
}


def test_registered_rules_match_catalog():
    rows = catalog()
    problems = []
    for rid, rule in load_rules().items():
        row = rows.get(rid)
        if row is None:
            if NOT_IN_CATALOG.get(rid) != rule.name:
                problems.append(f"{rid} is not in the catalog")
            continue
        if row["name"] != rule.name:
            problems.append(f"{rid}: name {rule.name} != catalog {row['name']}")
        if row["sev"] != rule.severity.label:
            problems.append(f"{rid}: severity {rule.severity.label} != catalog {row['sev']}")
        if row["p"] == "—":
            problems.append(f"{rid} is retired in the catalog")
    assert not problems, problems


def test_every_rule_documents_itself():
    for rule in load_rules().values():
        assert len(rule.doc.splitlines()) >= 5, f"{rule.id} has no real documentation"
        assert "## What it does" in rule.doc and "## Why is this bad?" in rule.doc, rule.id

"""JUnit XML for Jenkins, GitLab and other CI test views: one testcase per rule x file.

A testcase exists for every file a rule reads (by the rule's ``files`` kinds) and for every file a
rule reported on; it fails with one ``<failure>`` listing the rule's open findings in that file, is
``<skipped>`` when its only findings are suppressed or baselined, and passes otherwise. Test suites
are the seven layers.

Every text from the scanned tree (paths, messages quoting keys and names, suppression reasons,
notes) is one line: ``scanner.encode.terminal`` shows its line breaks and other controls as visible
escapes (as the text report does), so a hostile name cannot start a line of the failure text or of
``<system-out>`` that looks like a finding or a note of dkscan's own. The lines dkscan joins are
the only line breaks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..encode import terminal
from ..model import LAYER_ORDER, Severity
from .common import BASELINED, SUPPRESSED, entries, iso, report_time, rule_help_uri, stack_name

_KIND_ALIASES = {"redis.conf": "redis", "pg_hba.conf": "pg_hba", "postgresql.conf": "pgconf"}
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    return _XML_BAD.sub("\ufffd", str(text))


def _line(text: object) -> str:
    """Tree text as one line (``encode.terminal``), valid in XML."""
    return _x(terminal(text))


def rule_kinds(rule) -> set[str]:
    kinds = set()
    for spec in rule.files:
        for part in re.split(r"[+/]", spec):
            part = part.strip()
            kinds.add(_KIND_ALIASES.get(part, part))
    return kinds


def render_junit(result, threshold: Severity = Severity.LOW, *, when=None, **_: object) -> str:
    files_by_kind: dict[str, list[str]] = {}
    for rel, sf in result.stack.files.items():
        files_by_kind.setdefault(sf.kind, []).append(rel)
    all_files = sorted(result.stack.files)

    cases: dict[tuple[str, str], list] = {}
    for rule in result.rules.values():
        kinds = rule_kinds(rule)
        paths = all_files if "any" in kinds else sorted(p for k in kinds for p in files_by_kind.get(k, []))
        for p in paths:
            cases.setdefault((rule.id, p), [])
    for f, status in entries(result):
        cases.setdefault((f.rule, f.location.path), []).append((f, status))

    stamp = iso(report_time(when))
    root = ET.Element("testsuites", name=_line(f"dkscan {stack_name(result)}"))
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for layer in LAYER_ORDER:
        ids = {r.id: i for i, r in enumerate(r for r in result.rules.values() if r.layer == layer)}
        keys = sorted((k for k in cases if k[0] in ids), key=lambda k: (ids[k[0]], k[1]))
        suite = ET.SubElement(root, "testsuite", name=f"dkscan.{layer.value}", timestamp=stamp)
        n_fail = n_skip = 0
        for rule_id, path in keys:
            rule = result.rules[rule_id]
            case = ET.SubElement(suite, "testcase", classname=f"dkscan.{layer.value}.{rule_id}",
                                 name=_line(f"{rule_id} {rule.name} · {path}"), file=_line(path), time="0")
            items = cases[(rule_id, path)]
            open_ = [f for f, s in items if s not in (SUPPRESSED, BASELINED)]
            hidden = [(f, s) for f, s in items if s in (SUPPRESSED, BASELINED)]
            if open_:
                n_fail += 1
                worst = max(result.severity(f) for f in open_)
                first = _line(result.redact(open_[0].message))
                msg = first if len(open_) == 1 else f"{len(open_)} findings; first: {first}"
                body = [f"{_line(path)}:{f.location.start_line}:{f.location.start_col} {result.severity(f).label.upper()} "
                        f"{f.rule} {_line(result.redact(f.message))}" for f in open_]
                body.append(f"{result.redact(rule.title)}. See {rule_help_uri(rule_id)}")
                failure = ET.SubElement(case, "failure", message=_x(msg), type=worst.label)
                failure.text = _x("\n".join(body))  # each line's tree text made one line above
            elif hidden:
                n_skip += 1
                reasons = sorted({(f.suppressed or "suppressed") if s == SUPPRESSED else "baselined" for f, s in hidden})
                ET.SubElement(case, "skipped", message=_line(result.redact("; ".join(reasons))))
        notes = list(getattr(result, "notes", None) or [])
        if notes and layer.value == "operational":  # what the audit could not judge: the operational suite's output
            ET.SubElement(suite, "system-out").text = "\n".join(f"note: {_line(result.redact(n))}" for n in notes)
        suite.set("tests", str(len(keys)))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        suite.set("skipped", str(n_skip))
        suite.set("time", "0")
        totals["tests"] += len(keys)
        totals["failures"] += n_fail
        totals["skipped"] += n_skip
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    root.set("time", "0")
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

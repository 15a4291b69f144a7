"""SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``).

The log is built from ``sarif_om`` objects and written by ``to_json`` below: sarif-om has no
serializer, and the obvious ``attrs.asdict`` gets three things wrong — it uses Python attribute
names (``schema_uri`` instead of ``$schema``, ``rule_id`` instead of ``ruleId``), it writes the
``-1`` placeholders sarif-om uses for "absent" integers (``ruleIndex``, ``rank``, ``byteOffset``...),
and sarif-om's ``Suppression`` names a property ``state`` that the schema calls ``status``.

GitHub specifics (docs.github.com, "SARIF support for code scanning"):
- one run; every rule carries shortDescription, fullDescription, help (text + markdown), helpUri,
  ``properties.tags`` (layer, ``security`` unless info, ``external/cwe/cwe-N``), ``precision`` and
  ``security-severity``; every result an explicit ``level``, a repository-relative uri and a region
  with ``startLine``;
- ``partialFingerprints`` carries dkscan's own key; ``primaryLocationLineHash`` is left to the
  upload action;
- suppressed (and baselined) findings are left out unless ``include_suppressed``: GitHub ignores
  SARIF suppressions and would open alerts for them;
- at most 25,000 results per run and 10 MB gzipped per file: the most severe are kept, and stderr
  says what was dropped.
"""

from __future__ import annotations

import re

import gzip
import json
import sys
from typing import Any

import attr
import sarif_om as om

from .. import __version__
from ..encode import terminal
from ..model import Finding, Severity
from .common import (BASELINED, GENERATED, SHOWN, FINGERPRINT_KEY, INFO_URL, by_severity,
                     cwe_tags, display_edit, doc_sections, entries, fingerprint, plain_text, rule_help_uri,
                     section)

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
MAX_RESULTS = 25_000  # GitHub: results per run
MAX_GZIP_BYTES = 10 * 1024 * 1024  # GitHub: gzip-compressed SARIF file
MAX_RELATED = 100  # GitHub shows at most 100 locations per result
MAX_TAGS = 20  # GitHub: tags per rule

_ALWAYS = {"level", "version"}  # written even when equal to sarif-om's default
# Properties written first, in this order (the rest follow in sarif-om's order), so a person can read the file.
_FIRST = ("$schema", "version", "id", "ruleId", "ruleIndex", "name", "level", "kind", "message", "uri", "uriBaseId",
          "startLine", "startColumn", "endLine", "endColumn", "shortDescription", "fullDescription", "tool", "results")
_RANK = {k: i for i, k in enumerate(_FIRST)}


# -- serializer --------------------------------------------------------------------------------

def to_data(obj: Any) -> Any:
    """A sarif-om object tree as plain JSON data, with the schema's property names.

    Drops ``None`` and every value equal to its field's default (sarif-om's ``-1`` placeholders for
    absent integers, ``kind="fail"``, ``language="en-US"``...), except ``level``, which GitHub
    wants explicit. ``Suppression.state`` becomes ``status``. Plain dicts (property bags,
    fingerprints, originalUriBaseIds) keep their keys."""
    if attr.has(type(obj)):
        out: dict[str, Any] = {}
        for a in attr.fields(type(obj)):
            value = getattr(obj, a.name)
            if value is None:
                continue
            name = a.metadata.get("schema_property_name", a.name)
            if name not in _ALWAYS and a.default is not attr.NOTHING:
                default = a.default.factory() if isinstance(a.default, attr.Factory) else a.default
                if value == default and type(value) is type(default):
                    continue
            if isinstance(obj, om.Suppression) and name == "state":
                name = "status"
            out[name] = to_data(value)
        return dict(sorted(out.items(), key=lambda kv: _RANK.get(kv[0], len(_RANK))))
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [to_data(x) for x in obj]
    return obj


def to_json(log: om.SarifLog) -> str:
    return json.dumps(to_data(log), indent=2, ensure_ascii=False) + "\n"


# -- building ----------------------------------------------------------------------------------

def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def rule_descriptor(rule, redact=lambda text: text) -> om.ReportingDescriptor:
    """``redact``: the stack's redactor, applied to the documentation too (a rule's example may
    quote a weak value the scanned stack really uses)."""
    what = section(rule.doc, "What it does") or rule.title
    props: dict[str, Any] = {
        "tags": _tags(rule),
        "precision": rule.precision,
        "problem.severity": _problem_severity(rule.severity),
    }
    if rule.severity.security_severity is not None:
        props["security-severity"] = rule.severity.security_severity
    return om.ReportingDescriptor(
        id=rule.id,
        name=_pascal(rule.name),
        short_description=om.MultiformatMessageString(text=redact(rule.title)),
        full_description=om.MultiformatMessageString(text=redact(_sentence(plain_text(what)))),
        help=om.MultiformatMessageString(text=redact(_help_text(rule)), markdown=redact(_help_markdown(rule))),
        help_uri=rule_help_uri(rule.id),
        default_configuration=om.ReportingConfiguration(level=rule.severity.sarif_level),
        properties=props,
    )


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _problem_severity(sev: Severity) -> str:
    return {"error": "error", "warning": "warning"}.get(sev.sarif_level, "recommendation")


def _tags(rule) -> list[str]:
    tags = [rule.layer.value]
    if rule.severity > Severity.INFO:
        tags.append("security")
    tags += cwe_tags(rule)
    tags.append(f"dkscan/{rule.name}")
    return tags[:MAX_TAGS]


def _help_markdown(rule) -> str:
    head = f"**{rule.id} {rule.name}** ({rule.layer.value}, {rule.severity.label}; fix: {rule.fix})\n\n"
    secs = doc_sections(rule.doc)
    body = "\n".join(l for l in rule.doc.splitlines()[1:]).strip() if secs else rule.doc
    return head + body + f"\n\nFull documentation: [{rule.id}]({rule_help_uri(rule.id)})\n"


def _help_text(rule) -> str:
    return f"{rule.id} {rule.name}: {rule.title}.\n\n" + plain_text("\n".join(rule.doc.splitlines()[1:]))


def _region(loc) -> om.Region:
    region = om.Region(start_line=max(1, loc.start_line))
    if loc.start_col and loc.start_col >= 1:
        region.start_column = loc.start_col
    end_line = loc.end_line if loc.end_line and loc.end_line >= region.start_line else None
    if end_line is not None and end_line != region.start_line:
        region.end_line = end_line
    if end_line is not None and loc.end_col and loc.end_col >= 1:
        same = end_line == region.start_line
        if not same or loc.end_col > (region.start_column or 1):
            region.end_column = loc.end_col
    return region


def _artifact(path: str, prefix: str) -> om.ArtifactLocation:
    uri = (prefix + path) if path not in ("", ".") else (prefix.rstrip("/") or ".")
    return om.ArtifactLocation(uri=_uri_escape(uri), uri_base_id=SRCROOT)


def _uri_escape(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/-._~!$&'()*+,;=:@")


def _location(loc, prefix: str, message: str | None = None, ident: int | None = None) -> om.Location:
    if loc.is_url:  # the probed URL (dkscan probe): an absolute URI, no base id, no region
        out = om.Location(physical_location=om.PhysicalLocation(
            artifact_location=om.ArtifactLocation(uri=_uri_escape(loc.path))))
        message = "probed URL" if message == "related location" else message
    else:
        out = om.Location(physical_location=om.PhysicalLocation(artifact_location=_artifact(loc.path, prefix),
                                                                region=_region(loc)))
    if message:
        out.message = om.Message(text=message)
    if ident is not None:
        out.id = ident
    return out


def _fix(result, f: Finding, prefix: str) -> om.Fix | None:
    fix = f.fix
    if fix is None or not fix.edits:
        return None
    changes: dict[str, list[om.Replacement]] = {}
    secret = False
    for edit in fix.edits:
        shown = display_edit(result, edit)
        secret = secret or edit.secret
        loc = edit.location
        start = om.Region(start_line=max(1, loc.start_line), start_column=max(1, loc.start_col))
        if loc.end_line is None:  # insertion: an empty region
            start.end_line, start.end_column = start.start_line, start.start_column
        else:
            start.end_line = max(loc.end_line, start.start_line)
            start.end_column = max(1, loc.end_col or 1)
            if start.end_line == start.start_line and start.end_column < start.start_column:
                start.end_column = start.start_column
        changes.setdefault(loc.path, []).append(
            om.Replacement(deleted_region=start, inserted_content=om.ArtifactContent(text=shown.new_text)))
    if not changes:
        return None
    text = result.redact(fix.description)
    if secret:
        text += f" (the secret value is generated by `dkscan fix --apply`; shown here as {GENERATED})"
    return om.Fix(
        description=om.Message(text=text),
        artifact_changes=[om.ArtifactChange(artifact_location=_artifact(path, prefix), replacements=reps)
                          for path, reps in sorted(changes.items())],
        properties={"applicability": fix.applicability},
    )


def _suppression(result, f: Finding, status: str) -> om.Suppression:
    if status == BASELINED:
        return om.Suppression(kind="external", justification=result.redact(f.suppressed or "baseline"),
                              state="accepted")
    reason = result.redact(f.suppressed or "suppressed")
    # the engine writes "inline (path:line): reason" or "config: reason"
    kind = "inSource" if reason.startswith("inline") else "external"
    return om.Suppression(kind=kind, justification=reason, state="accepted")


def result_object(result, f: Finding, status: str, rule_index: dict[str, int], prefix: str,
                  baseline_active: bool) -> om.Result:
    sev = result.severity(f)
    rule = result.rules[f.rule]
    res = om.Result(
        rule_id=f.rule,
        rule_index=rule_index[f.rule],
        level=sev.sarif_level,
        message=om.Message(text=terminal(result.redact(f.message or rule.title))),  # one line (scanner.encode)
        locations=[_location(f.location, prefix)],
        partial_fingerprints={FINGERPRINT_KEY: fingerprint(result, f)},
    )
    if f.related:
        res.related_locations = [_location(r, prefix, "related location", i + 1)
                                 for i, r in enumerate(f.related[:MAX_RELATED])]
    fix = _fix(result, f, prefix)
    if fix is not None:
        res.fixes = [fix]
    if status != SHOWN:
        res.suppressions = [_suppression(result, f, status)]
    if baseline_active:
        res.baseline_state = "unchanged" if status == BASELINED else "new"
    props: dict[str, Any] = {"severity": sev.label, "layer": rule.layer.value}
    if f.severity is not None and f.severity != rule.severity:
        props["ruleSeverity"] = rule.severity.label
    if f.rule in ("OPS106", "OPS107", "OPS108"):
        # ShellCheck findings carry their own code and wiki page (the rule's helpUri is generic)
        m = re.match(r"SC(\d{4})\b", f.message or "")
        if m:
            props["shellcheck"] = f"SC{m.group(1)}"
            props["helpUri"] = f"https://www.shellcheck.net/wiki/SC{m.group(1)}"
    res.properties = props
    return res


def git_prefix(result) -> str:
    """The scanned root relative to the top of its git work tree ("" at the top or outside git), so
    uris are repository-relative the way GitHub resolves them even for ``dkscan audit deploy/``
    (``git rev-parse --show-prefix``, read without running git: scanner.gitview)."""
    from ..gitview import view

    root = result.stack.root
    git = view(root)
    return git.prefix(root) if git is not None else ""


def build_log(result, *, category: str | None = None, include_suppressed: bool = False,
              uri_prefix: str | None = None, findings: list[tuple[Finding, str]] | None = None) -> om.SarifLog:
    prefix = git_prefix(result) if uri_prefix is None else uri_prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    rules = list(result.rules.values())
    rule_index = {r.id: i for i, r in enumerate(rules)}
    items = findings if findings is not None else selected(result, include_suppressed)
    baseline_active = bool(result.baselined)
    results = [result_object(result, f, status, rule_index, prefix, baseline_active) for f, status in items]
    run = om.Run(
        tool=om.Tool(driver=om.ToolComponent(
            name="dkscan",
            version=__version__,
            semantic_version=__version__,
            information_uri=INFO_URL,
            rules=[rule_descriptor(r, result.redact) for r in rules],
        )),
        results=results,
        column_kind="unicodeCodePoints",
        original_uri_base_ids={SRCROOT: om.ArtifactLocation(description=om.Message(
            text="The root of the repository holding the scanned stack (the scanned directory when it is not in a git work tree)."))},
        redaction_tokens=["***"],
    )
    notes = list(getattr(result, "notes", None) or [])
    if notes:  # what the audit could not judge: SARIF's tool execution notifications, level "note"
        run.invocations = [om.Invocation(execution_successful=True, tool_execution_notifications=[
            om.Notification(message=om.Message(text=n), level="note") for n in notes])]
    if getattr(result, "shard", None):  # a shard's log: what `dkscan merge` checks, then drops
        k, n, digest = result.shard
        run.properties = {SHARD_PROPERTY: {"index": k, "of": n, "deployments": digest}}
    if category:
        run.automation_details = om.RunAutomationDetails(id=category if category.endswith("/") else category + "/")
    return om.SarifLog(version="2.1.0", schema_uri=SCHEMA_URI, runs=[run])


SHARD_PROPERTY = "dkscan/shard"


def selected(result, include_suppressed: bool) -> list[tuple[Finding, str]]:
    """The findings a SARIF file carries, in file order (stable output): the open ones, plus the
    suppressed and baselined with ``include_suppressed``. The limits step cuts by severity."""
    return entries(result, include_hidden=include_suppressed)


def _warn(message: str) -> None:
    print(f"dkscan: {message}", file=sys.stderr)


def render_sarif(result, *, sarif_category: str | None = None, include_suppressed: bool = False,
                 uri_prefix: str | None = None, warn=_warn, **_: object) -> str:
    items = selected(result, include_suppressed)
    total = len(items)
    if total > MAX_RESULTS:
        items = _most_severe(result, items, MAX_RESULTS)
        warn(f"SARIF: {total} results exceed GitHub's limit of {MAX_RESULTS:,} per run; "
             f"kept the {MAX_RESULTS:,} most severe, dropped {total - MAX_RESULTS}")
    log = build_log(result, category=sarif_category, include_suppressed=include_suppressed,
                    uri_prefix=uri_prefix, findings=items)
    text = to_json(log)
    size = len(gzip.compress(text.encode("utf-8"), 6))
    if size > MAX_GZIP_BYTES:
        kept = len(items)
        while size > MAX_GZIP_BYTES and kept > 0:
            kept = max(0, min(kept - 1, int(kept * MAX_GZIP_BYTES / size * 0.95)))
            log = build_log(result, category=sarif_category, include_suppressed=include_suppressed,
                            uri_prefix=uri_prefix, findings=_most_severe(result, items, kept))
            text = to_json(log)
            size = len(gzip.compress(text.encode("utf-8"), 6))
        warn(f"SARIF: the file exceeded GitHub's limit of {MAX_GZIP_BYTES // (1024 * 1024)} MB gzipped; "
             f"kept the {kept:,} most severe of {total:,} results")
    return text


_MARK = "\x00dkscan-results\x00"


def write_sarif(result, out, *, sarif_category: str | None = None, include_suppressed: bool = False,
                uri_prefix: str | None = None, warn=_warn, **_: object) -> None:
    """``render_sarif``'s text written to ``out``. A monorepo's spilled findings
    (``scanner.findingstore``) are streamed: the log around the results is built once with a
    marker in place of the results, each result is built, written and dropped in turn, and which
    results GitHub's 25,000 limit keeps is decided from the counts per severity (the most severe
    levels whole, then the first of the cut level in file order: ``_most_severe``'s choice). The
    text goes through a spill file first, its gzipped size measured on the way: over GitHub's
    10 MB the whole log is built again the old way. Byte for byte ``render_sarif``'s text."""
    findings = result.findings
    hidden = include_suppressed and (result.suppressed or result.baselined)
    if not hasattr(findings, "tally") or not findings or hidden:
        out.write(render_sarif(result, sarif_category=sarif_category, include_suppressed=include_suppressed,
                               uri_prefix=uri_prefix, warn=warn))
        return
    import shutil
    import tempfile
    import zlib

    from .common import severity_tally
    from .json_report import dumps

    total = len(findings)
    keep = _kept_levels(result, severity_tally(result), MAX_RESULTS) if total > MAX_RESULTS else None
    prefix = git_prefix(result) if uri_prefix is None else uri_prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    log = build_log(result, category=sarif_category, include_suppressed=include_suppressed, uri_prefix=prefix,
                    findings=[])
    log.runs[0].results = [_MARK]
    text = to_json(log)
    at = text.index(json.dumps(_MARK))
    head, tail = text[:at], text[at + len(json.dumps(_MARK)):]
    rule_index = {r.id: i for i, r in enumerate(result.rules.values())}
    baseline_active = bool(result.baselined)
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip.compress(text, 6)'s deflate stream and header
    size = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as tmp:
        def put(piece: str) -> None:
            nonlocal size
            tmp.write(piece)
            size += len(gz.compress(piece.encode("utf-8")))

        put(head)
        first, seen = True, {}
        for f in findings:
            if keep is not None:
                sev = result.severity(f)
                limit = keep.get(sev, 0)
                if limit is not None:  # None: the whole level is kept
                    n = seen.get(sev, 0)
                    seen[sev] = n + 1
                    if n >= limit:
                        continue
            obj = result_object(result, f, SHOWN, rule_index, prefix, baseline_active)
            put(("" if first else ",\n        ") + dumps(to_data(obj), 4))
            first = False
        put(tail)
        size += len(gz.flush())
        if size > MAX_GZIP_BYTES:  # rare: the old way, which cuts by size
            out.write(render_sarif(result, sarif_category=sarif_category, include_suppressed=include_suppressed,
                                   uri_prefix=uri_prefix, warn=warn))
            return
        if keep is not None:
            warn(f"SARIF: {total} results exceed GitHub's limit of {MAX_RESULTS:,} per run; "
                 f"kept the {MAX_RESULTS:,} most severe, dropped {total - MAX_RESULTS}")
        tmp.seek(0)
        shutil.copyfileobj(tmp, out)


def _kept_levels(result, tally, n: int) -> dict:
    """Which open findings of each severity the ``n`` most severe are (``_most_severe``: most
    severe first, ties in file order): None for a level kept whole, the number of its first
    findings for the level cut, 0 below it."""
    per_level: dict = {}
    for (_rule, sev), count in tally.items():
        per_level[sev] = per_level.get(sev, 0) + count
    out: dict = {}
    left = n
    for sev in sorted(per_level, reverse=True):
        count = per_level[sev]
        if count <= left:
            out[sev] = None
            left -= count
        else:
            out[sev] = left
            left = 0
    return out


def _most_severe(result, items: list[tuple[Finding, str]], n: int) -> list[tuple[Finding, str]]:
    """The ``n`` most severe (open before hidden), back in the original order."""
    rank = {id(f): i for i, f in enumerate(by_severity(result, [f for f, _ in items]))}
    keep = sorted(items, key=lambda it: (it[1] != SHOWN, rank[id(it[0])]))[:n]
    keep_ids = {id(f) for f, _ in keep}
    return [it for it in items if id(it[0]) in keep_ids]

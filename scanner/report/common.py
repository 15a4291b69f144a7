"""What every report format shares: the report's date, the rule-set hash, fingerprints, rule-doc
sections, reference links, masked snippets and fix diffs.

Secrets: everything here that returns text taken from a scanned file goes through ``mask_line``
(the engine's ``Result.redact`` plus a key-name check), and a fix's ``Edit(secret=True)`` text is
shown as ``<generated>``. No report module reads a scanned file any other way.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
from datetime import datetime, timezone
from functools import lru_cache

from .. import __version__
from ..model import LAYER_ORDER, Edit, Finding, Fix, Location, Severity
from ..parsers.base import LineIndex
from ..secrets import is_reference, is_secret_key

#: Rule documentation in the repository; every rule has an ``<a id="per001">`` anchor there.
DOCS_URL = "https://github.com/dkscan/dkscan/blob/main/docs/rules.md"
INFO_URL = "https://github.com/dkscan/dkscan"
GENERATED = "<generated>"
MASK = "***"
FINGERPRINT_KEY = "dkscan/v1"


def rule_help_uri(rule_id: str) -> str:
    return f"{DOCS_URL}#{rule_id.lower()}"


def report_time(when: datetime | None = None) -> datetime:
    """The report's timestamp: ``when``, else ``SOURCE_DATE_EPOCH`` (reproducible builds), else now; UTC."""
    if when is not None:
        return when.astimezone(timezone.utc)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
    return datetime.now(tz=timezone.utc).replace(microsecond=0)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ruleset_hash(rules: dict) -> str:
    """A short hash of everything that defines the rule set (ids, metadata, docs), so a signed report
    says exactly which rules it was checked against."""
    data = [[r.id, r.name, r.layer.value, r.severity.label, list(r.files), list(r.references), r.fix,
             r.precision, r.doc] for r in sorted(rules.values(), key=lambda r: r.id)]
    digest = hashlib.sha256(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    return f"sha256:{digest[:16]}"


def stack_name(result) -> str:
    """The compose project's ``name:`` when one is set, else the scanned directory's name."""
    for doc in getattr(result.stack, "compose_docs", []) or []:
        try:
            node = doc.top("name")
        except Exception:  # noqa: BLE001 - a report never fails on an odd document
            node = None
        value = getattr(node, "value", None)
        if isinstance(value, str) and value.strip() and "$" not in value:
            return value.strip()
    return result.stack.root.name or str(result.stack.root)


def root_label(result, label: str | None = None) -> str:
    """How the scanned path is shown: the label given (the CLI passes the paths as typed), else the
    root relative to the working directory when below it, else absolute."""
    if label:
        return label
    root = result.stack.root
    try:
        rel = os.path.relpath(root)
    except ValueError:
        return str(root)
    return str(root) if rel.startswith("..") else rel


# -- findings ----------------------------------------------------------------------------------

SHOWN, SUPPRESSED, BASELINED = "open", "suppressed", "baselined"


def entries(result, include_hidden: bool = True) -> list[tuple[Finding, str]]:
    """(finding, status) for every finding the report covers: open ones first, then the hidden."""
    out = [(f, SHOWN) for f in result.findings]
    if include_hidden:
        out += [(f, SUPPRESSED) for f in result.suppressed]
        out += [(f, BASELINED) for f in result.baselined]
    return out


def by_severity(result, findings: list[Finding]) -> list[Finding]:
    """Most severe first; ties in file/line order (stable across runs)."""
    return sorted(findings, key=lambda f: (-int(result.severity(f)), f.sort_key()))


def verdict(result, threshold: Severity) -> str:
    return "FAIL" if result.failing(threshold) else "PASS"


def counts(result) -> dict[str, int]:
    sev = {s.label: 0 for s in reversed(Severity)}
    for f in result.findings:
        sev[result.severity(f).label] += 1
    return sev


def layer_counts(result) -> dict[str, int]:
    out = {layer.value: 0 for layer in LAYER_ORDER}
    for f in result.findings:
        out[result.rules[f.rule].layer.value] += 1
    return out


def fingerprint(result, f: Finding) -> str:
    """The finding's stable key (``scanner.fingerprint``: rule + path + normalized snippet, redacted,
    hashed), the same value a baseline records, so SARIF/JSON and baselines agree."""
    from ..fingerprint import fingerprint as _fp

    return _fp(f, result.stack, result.redact)


# -- masking -----------------------------------------------------------------------------------

# KEY=value, KEY: value, "KEY": "value"
_ASSIGN = re.compile(r"""(?P<key>[A-Za-z_][\w.\-]*)(?P<q1>["']?)(?P<sep>\s*[:=]\s*)(?P<q2>["']?)(?P<val>[^\s"',;}\]]+)""")
# --key value, --key=value (command lines)
_FLAG = re.compile(r"""(?<![\w-])(?P<pre>--?)(?P<key>[A-Za-z][\w\-]*)(?P<sep>[= ]\s*)(?P<q>["']?)(?P<val>[^\s"',;-][^\s"',;]*)""")
# "KEY value" forms: Dockerfile ENV/ARG, redis.conf requirepass/masterauth
_SPACED = re.compile(r"""^(?P<pre>\s*(?:(?:ENV|ARG)\s+(?P<key>[A-Za-z_]\w*)|(?P<rkey>requirepass|masterauth|masteruser))\s+["']?)(?P<val>[^\s"']+)""", re.I)
_URL_PW = re.compile(r"(?P<pre>[a-z][a-z0-9+.\-]*://[^/\s:@]*:)(?P<pw>[^@\s/]+)(?=@)", re.I)
_SQL_PW = re.compile(r"(?P<pre>\bPASSWORD\s+)(?P<q>'(?:[^']|'')*'|\"[^\"]*\")", re.I)
# Values that are never secrets: keywords and booleans (`server_tokens off`, `token_required: true`).
_NOT_SECRET_VALUE = frozenset({"on", "off", "true", "false", "yes", "no", "none", "null", "~", "build", MASK, GENERATED.lower()})


def _secret_value(key: str, val: str) -> bool:
    return is_secret_key(key) and not is_reference(val) and val.lower() not in _NOT_SECRET_VALUE


def _mask_assign(m: re.Match) -> str:
    if not _secret_value(m.group("key"), m.group("val")):
        return m.group(0)
    return m.group(0)[: m.start("val") - m.start(0)] + MASK


def _mask_flag(m: re.Match) -> str:
    if not _secret_value(m.group("key"), m.group("val")):
        return m.group(0)
    return m.group(0)[: m.start("val") - m.start(0)] + MASK


def _mask_spaced(m: re.Match) -> str:
    key = m.group("key") or "password"
    if not _secret_value(key, m.group("val")):
        return m.group(0)
    return m.group("pre") + MASK


MAX_SHOWN_LINE = 4096


def mask_line(result, text: str) -> str:
    """One line of a scanned file as reports may show it: known secret values (the engine's
    redactor), values of secret-class keys, URL passwords and SQL ``PASSWORD '...'`` masked."""
    if not text:
        return text
    if len(text) > MAX_SHOWN_LINE:  # bounded work per line; nobody reads such a line in a report
        return f"… (a line of {len(text)} characters, not shown)"
    return _mask_cached(result.redact, len(result.redact), text)


@lru_cache(maxsize=65536)
def _mask_cached(redact, _size: int, text: str) -> str:
    out = redact(text)
    out = _URL_PW.sub(lambda m: m.group("pre") + MASK, out)
    out = _SQL_PW.sub(lambda m: m.group("pre") + "'" + MASK + "'", out)
    out = _SPACED.sub(_mask_spaced, out)
    out = _FLAG.sub(_mask_flag, out)
    out = _ASSIGN.sub(_mask_assign, out)
    return out


def snippet(result, loc: Location, context: int = 2, max_width: int = 240) -> list[dict]:
    """The lines around a location, masked: [{"line": n, "text": str, "hit": bool}]."""
    sf = result.stack.files.get(loc.path)
    if sf is None or sf.doc is None:
        return []
    lines = sf.doc.lines
    if not lines:
        return []
    start = max(1, loc.start_line - context)
    last_hit = max(loc.start_line, loc.end_line or loc.start_line)
    if last_hit - loc.start_line > 6:  # a long block: show its head
        last_hit = loc.start_line
    end = min(len(lines), last_hit + context)
    out = []
    for n in range(start, end + 1):
        text = mask_line(result, lines[n - 1].rstrip("\r"))
        if len(text) > max_width:
            text = text[: max_width - 1] + "…"
        out.append({"line": n, "text": text, "hit": loc.start_line <= n <= last_hit})
    return out


# -- fixes -------------------------------------------------------------------------------------

def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _offset(line_starts: list[int], text_len: int, line: int, col: int) -> int:
    if line - 1 >= len(line_starts):
        return text_len
    return min(line_starts[max(line, 1) - 1] + max(col, 1) - 1, text_len)


def apply_edits(text: str, edits: list[Edit], show_secrets: bool = False) -> str:
    """The text after ``edits`` (one file's): 1-based line/col, end exclusive, ``end_line=None``
    inserts. Secret edits insert ``<generated>`` unless ``show_secrets``. Of overlapping edits the
    first (in file order) wins, as in one pass of ``dkscan fix``."""
    starts = _line_starts(text)
    spans = []
    for e in edits:
        loc = e.location
        a = _offset(starts, len(text), loc.start_line, loc.start_col)
        b = a if loc.end_line is None else _offset(starts, len(text), loc.end_line, loc.end_col or 1)
        spans.append((a, max(a, b), e.new_text if (show_secrets or not e.secret) else GENERATED))
    pieces = []
    pos = 0
    for a, b, new in sorted(spans, key=lambda s: (s[0], s[1])):
        if a < pos:
            continue  # overlaps an earlier edit: `dkscan fix` applies it in a later pass
        pieces.append(text[pos:a])
        pieces.append(new)
        pos = b
    pieces.append(text[pos:])
    return "".join(pieces)


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def _shift_hunk(line: str, by: int, by_new: int | None = None) -> str:
    m = _HUNK.match(line)
    if not m:
        return line
    a, b = int(m.group(1)) + by, int(m.group(3)) + (by if by_new is None else by_new)
    return f"@@ -{a}{m.group(2) or ''} +{b}{m.group(4) or ''} @@" + line[m.end():]


def _split_lines(result, path: str, text: str) -> list[str]:
    """The file's lines as the fixer's edits count them (``LineIndex``, with the empty line after a
    final break), once per file per report (a report of 9,000 findings on one large file split it
    9,000 times)."""
    cache = result.__dict__.setdefault("_fix_diff_lines", {})
    hit = cache.get(path)
    if hit is None or hit[0] is not text:
        hit = cache[path] = (text, LineIndex(text).lines())
    return hit[1]


def _clusters(edits: list[Edit], context: int) -> list[list[Edit]]:
    """Edits grouped so that each group's lines, with ``context`` lines around, touch no other
    group's: a diff of each group's window costs its own lines, not the whole file between the
    first and the last edit (difflib starts a new hunk at such gaps anyway)."""
    out: list[list[Edit]] = []
    hi = None
    for e in sorted(edits, key=lambda e: e.location.start_line):
        first = e.location.start_line
        last = max(first, e.location.end_line or 0)
        if out and hi is not None and first - hi <= 2 * context + 1:
            out[-1].append(e)
            hi = max(hi, last)
        else:
            out.append([e])
            hi = last
    return out


def fix_diff(result, fix: Fix | None, context: int = 2) -> str:
    """The unified diff a fix makes, masked; secret text shows as ``<generated>``. Only the lines
    around the edits are read and masked (a fix on a 5,000-line file costs a few lines). Empty
    when the fix edits a file the stack did not read."""
    if fix is None or not fix.edits:
        return ""
    by_path: dict[str, list[Edit]] = {}
    for e in fix.edits:
        by_path.setdefault(e.location.path, []).append(e)
    chunks = []
    for path in sorted(by_path):
        sf = result.stack.files.get(path)
        text = sf.text if sf is not None and sf.doc is not None else None
        if text is None:
            if (result.stack.root / path).exists():
                continue
            text = ""  # the fix creates the file
        lines = _split_lines(result, path, text)
        delta = 0  # lines the earlier groups added (new-file numbers shift by it)
        out: list[str] = []
        for edits in _clusters(by_path[path], context):
            first = min(e.location.start_line for e in edits)
            last = max(max(e.location.start_line, e.location.end_line or 0) for e in edits)
            lo = max(1, first - context)
            hi = min(len(lines), last + context)
            window = "\n".join(lines[lo - 1:hi])
            moved = [dataclasses.replace(e, location=dataclasses.replace(
                e.location, start_line=e.location.start_line - lo + 1,
                end_line=None if e.location.end_line is None else e.location.end_line - lo + 1)) for e in edits]
            after = apply_edits(window, moved)
            a = [mask_line(result, x) for x in window.split("\n")] if window or text else []
            b = [mask_line(result, x) for x in after.split("\n")] if after or text else []
            diff = list(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}", n=context, lineterm=""))
            if out:
                diff = diff[2:]  # one ---/+++ header per file
            out.extend(_shift_hunk(d, lo - 1, lo - 1 + delta) for d in diff)
            delta += len(b) - len(a)
        chunks.append("\n".join(out))
    return "\n".join(c for c in chunks if c)


def display_edit(result, e: Edit) -> Edit:
    """An edit as reports show it: secret text replaced by ``<generated>``, the rest redacted."""
    return dataclasses.replace(e, new_text=GENERATED if e.secret else result.redact(e.new_text))


# -- rule documentation ------------------------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def doc_sections(doc: str) -> dict[str, str]:
    """A rule docstring split at its ``## Heading`` lines: {"summary": ..., "What it does": ...}.
    Headings inside fenced code blocks are not headings."""
    sections: dict[str, list[str]] = {"summary": []}
    current = "summary"
    fenced = False
    lines = (doc or "").splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m and not line.startswith("    "):
            current = m.group(1).strip()
            sections.setdefault(current, [])
            continue
        if i == 0 and current == "summary":
            continue  # the title line
        sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def section(doc: str, *names: str) -> str:
    secs = doc_sections(doc)
    for name in names:
        for k, v in secs.items():
            if k.lower().rstrip("?:") == name.lower().rstrip("?:"):
                return v
    return ""


_MD_INLINE = [
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"\1"),
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r"\1 (\2)"),
]


def plain_text(markdown: str) -> str:
    """Markdown as readable plain text (SARIF ``help.text``, ``fullDescription``)."""
    out = []
    for line in (markdown or "").splitlines():
        if line.lstrip().startswith("```"):
            continue
        m = _HEADING.match(line)
        if m:
            head = m.group(1)
            line = head if head.endswith(("?", ":", ".")) else head + ":"
        for pat, rep in _MD_INLINE:
            line = pat.sub(rep, line)
        out.append(line)
    return "\n".join(out).strip()


_CWE = re.compile(r"^CWE-(\d+)$", re.I)
_RFC = re.compile(r"^RFC\s*(\d+)", re.I)
_DL = re.compile(r"^(DL\d{4})$")
_URL = re.compile(r"^https?://\S+$")
_KNOWN = {
    "OSHP": "https://owasp.org/www-project-secure-headers/",
    "Moz-int 6.0": "https://ssl-config.mozilla.org/guidelines/6.0.json",
    "Moz-int 5.7": "https://ssl-config.mozilla.org/guidelines/5.7.json",
}


def reference_links(references) -> list[tuple[str, str | None]]:
    """(text, url or None) for a rule's references: CWE, RFC, hadolint codes and URLs link out."""
    out = []
    for ref in references:
        ref = ref.strip()
        url = None
        if m := _CWE.match(ref):
            url = f"https://cwe.mitre.org/data/definitions/{m.group(1)}.html"
        elif m := _RFC.match(ref):
            url = f"https://www.rfc-editor.org/rfc/rfc{m.group(1)}"
        elif m := _DL.match(ref):
            url = f"https://github.com/hadolint/hadolint/wiki/{m.group(1)}"
        elif _URL.match(ref):
            url = ref
        elif ref in _KNOWN:
            url = _KNOWN[ref]
        out.append((ref, url))
    return out


def cwe_tags(rule) -> list[str]:
    return [f"external/cwe/cwe-{c.split('-', 1)[1].lower()}" for c in rule.cwe if c.split("-", 1)[1].isdigit()]


def tool_info() -> dict:
    return {"name": "dkscan", "version": __version__, "url": INFO_URL}

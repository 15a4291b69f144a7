"""What every report format shares: the report's date, the rule-set hash, fingerprints, rule-doc
sections, reference links, masked snippets and fix diffs.

Secrets: everything here that returns text taken from a scanned file is masked by span (the
redactor's ``line``/``edit`` and ``scanner.spans``: exactly the secret, in the form it is written),
then by the redactor's safety net; a fix's ``Edit(secret=True)`` text is shown as ``<generated>``.
No report module reads a scanned file any other way.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
from collections import Counter
from datetime import datetime, timezone
from functools import lru_cache

from .. import __version__
from ..model import LAYER_ORDER, Edit, Finding, Fix, Location, Severity
from ..parsers.base import LineIndex
from ..lazyre import LazyRe

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
    says exactly which rules it was checked against. The rule sets the index names are hashed when it
    is generated (``scanner.rule_index``)."""
    from ..registry import indexed_hash

    known = indexed_hash(rules)
    if known is not None:
        return known
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
    return "FAIL" if failing_count(result, threshold) else "PASS"


def severity_tally(result) -> Counter:
    """How many open findings each (rule id, severity) has: from the spilled findings' counts
    (``scanner.findingstore``) without reading them, else counted."""
    tally = getattr(result.findings, "tally", None)
    if tally is None:
        return Counter((f.rule, result.severity(f)) for f in result.findings)
    out: Counter = Counter()
    for (rule, sev), n in tally.items():
        out[(rule, sev if sev is not None else result.rules[rule].severity)] += n
    return out


def failing_count(result, threshold: Severity) -> int:
    """``len(result.failing(threshold))``, without listing them."""
    return sum(n for (_rule, sev), n in severity_tally(result).items() if sev >= threshold)


def counts(result) -> dict[str, int]:
    sev = {s.label: 0 for s in reversed(Severity)}
    for (_rule, s), n in severity_tally(result).items():
        sev[s.label] += n
    return sev


def layer_counts(result) -> dict[str, int]:
    out = {layer.value: 0 for layer in LAYER_ORDER}
    for (rule, _sev), n in severity_tally(result).items():
        out[result.rules[rule].layer.value] += n
    return out


def fingerprint(result, f: Finding) -> str:
    """The finding's stable key (``scanner.fingerprint``: rule + path + normalized snippet, redacted,
    hashed), the same value a baseline records, so SARIF/JSON and baselines agree."""
    from ..fingerprint import fingerprint as _fp

    return _fp(f, result.stack, result.redact)


# -- masking -----------------------------------------------------------------------------------

MAX_SHOWN_LINE = 4096


def _shown(lines: list[str]) -> list[str]:
    """Lines as a report shows them: one over MAX_SHOWN_LINE characters is named, not copied."""
    return [x if len(x) <= MAX_SHOWN_LINE else f"… (a line of {len(x)} characters, not shown)" for x in lines]


def mask_line(result, text: str) -> str:
    """A line of unknown origin as reports may show it: the secret positions any text can hold
    (``KEY=value`` of secret keys, URL passwords, ``--password x``, SQL ``PASSWORD '...'``...)
    masked, then the redactor's safety net. Lines of a stack file go through ``snippet`` (by span)."""
    if not text:
        return text
    if len(text) > MAX_SHOWN_LINE:  # bounded work per line; nobody reads such a line in a report
        return f"… (a line of {len(text)} characters, not shown)"
    return _mask_cached(result.redact, len(result.redact), text)


@lru_cache(maxsize=65536)
def _mask_cached(redact, _size: int, text: str) -> str:
    from ..spans import mask, merge, text_spans

    return redact(mask(text, merge(text_spans(text))))


def snippet(result, loc: Location, context: int = 2, max_width: int = 240) -> list[dict]:
    """The lines around a location, secret spans masked: [{"line": n, "text": str, "hit": bool}]."""
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
    text_all = sf.text
    for n in range(start, end + 1):
        text = result.redact.line(loc.path, n, sf.kind, text_all) if hasattr(result.redact, "line") \
            else mask_line(result, lines[n - 1])
        text = text.rstrip("\r")
        if len(text) > max_width:
            text = text[: max_width - 1] + "…"
        out.append({"line": n, "text": text, "hit": loc.start_line <= n <= last_hit})
    return out


# -- fixes -------------------------------------------------------------------------------------

def _line_starts(text: str) -> list[int]:
    """Where each line starts (``LineIndex``: the lines the parsers and the fixer count)."""
    return LineIndex(text).starts


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


_HUNK = LazyRe(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def _shift_hunk(line: str, by: int, by_new: int | None = None) -> str:
    m = _HUNK.match(line)
    if not m:
        return line
    a, b = int(m.group(1)) + by, int(m.group(3)) + (by if by_new is None else by_new)
    return f"@@ -{a}{m.group(2) or ''} +{b}{m.group(4) or ''} @@" + line[m.end():]


def _file_lines(result, path: str, text: str) -> tuple[list[int], list[str]]:
    """The line starts and lines of a file (``LineIndex``), once per file per report (a report of
    9,000 findings on one large file computed them 9,000 times)."""
    cache = result.__dict__.setdefault("_fix_diff_lines", {})
    hit = cache.get(path)
    if hit is None or hit[0] is not text:
        index = LineIndex(text)
        hit = cache[path] = (text, index.starts, index.lines())
    return hit[1], hit[2]


def _clusters(edits: list[Edit], context: int) -> list[list[Edit]]:
    """The edits grouped so that two groups' windows (their lines +- ``context``) are more than one
    line apart: difflib never joins the hunks of two such groups."""
    def span(e: Edit) -> tuple[int, int]:
        loc = e.location
        return loc.start_line, max(loc.start_line, loc.end_line or 0)

    out: list[list[Edit]] = []
    reach = -1
    for e in sorted(edits, key=span):
        first, last = span(e)
        if out and first - context <= reach + context + 2:
            out[-1].append(e)
            reach = max(reach, last)
        else:
            out.append([e])
            reach = last
    return out


def _hostile_window(redact, win: str, spans, offs) -> tuple[list[str], list[str]]:
    """A fix diff's window too large to re-search (a hostile line): its lines over MAX_SHOWN_LINE
    named (measured, never copied), the other old lines masked by their spans, the lines the edits
    change masked whole (they are not searched again), each line redacted on its own. Linear in the
    number of lines and edits, not in the window's characters (thousands of fixes each with a
    window of the same 1 MB line)."""
    from ..spans import mask, spans_in

    def lines(pieces, masked) -> list[str]:
        out: list[str] = []
        parts: list[tuple[str, int, int]] = []
        size = 0

        def flush():
            nonlocal parts, size
            if size > MAX_SHOWN_LINE:
                out.append(f"… (a line of {size} characters, not shown)")
            else:
                out.append(masked("".join(t[x:y] for t, x, y in parts), parts))
            parts, size = [], 0

        for t, x, y in pieces:
            while True:
                nl = t.find("\n", x, y)
                end = y if nl < 0 else nl
                size += end - x
                if size <= MAX_SHOWN_LINE:
                    parts.append((t, x, end))
                if nl < 0:
                    break
                flush()
                x = nl + 1
        flush()
        return out

    def by_spans(line: str, parts) -> str:  # an old line: one piece of the window
        base = parts[0][1] if parts else 0
        return redact(mask(line, spans_in(spans, base, base + len(line)), base=base))

    def whole(line: str, _parts) -> str:
        return redact(mask(line, ((0, len(line)),)))

    first = min(a for a, _b, _n in offs)
    last = max(b for _a, b, _n in offs)
    c_lo = win.rfind("\n", 0, first) + 1  # the changed lines: from the first edit's line...
    c_hi = win.find("\n", last)  # ...to the last edit's
    c_hi = len(win) if c_hi < 0 else c_hi
    pieces, pos = [], c_lo
    for a, b, new in sorted(offs, key=lambda o: (o[0], o[1])):
        if a < pos:
            continue
        pieces += [(win, pos, a), (new, 0, len(new))]
        pos = b
    pieces.append((win, pos, c_hi))
    before = lines([(win, 0, c_lo - 1)], by_spans) if c_lo else []
    after = lines([(win, c_hi + 1, len(win))], by_spans) if c_hi < len(win) else []
    return lines([(win, 0, len(win))], by_spans), [*before, *lines(pieces, whole), *after]


def fix_diff(result, fix: Fix | None, context: int = 2) -> str:
    """The unified diff a fix makes, secret spans masked on both sides (the spans of the text after
    the fix are the old ones moved plus those of the new text in place); secret text shows as
    ``<generated>``. Only the lines around the edits are shown. Empty when the fix edits a file the
    stack did not read."""
    from ..encode import terminal
    from ..spans import MAX_JUDGED, apply_edits_with_spans, mask, spans_in, spans_of

    if fix is None or not fix.edits:
        return ""
    by_path: dict[str, list[Edit]] = {}
    for e in fix.edits:
        by_path.setdefault(e.location.path, []).append(e)
    chunks = []
    redact = result.redact
    for path in sorted(by_path):
        edits = by_path[path]
        sf = result.stack.files.get(path)
        text = sf.text if sf is not None and sf.doc is not None else None
        if text is None:
            if result.stack.exists(path):
                continue
            text = ""  # the fix creates the file
        kind = sf.kind if sf is not None else (redact.kind_of(path) if hasattr(redact, "kind_of") else "")
        starts, lines = _file_lines(result, path, text)
        # the whole file's, once per report (cached; a monorepo's come from the workers)
        spans = redact.file_spans(path, kind, text) if hasattr(redact, "file_spans") else spans_of(kind, text)
        # Each cluster of nearby edits is diffed in its own window of lines (its spans clipped from
        # the file's): a fix with an edit at the top of a large file and one at the bottom costs its
        # two neighbourhoods, not the lines between (thousands of such fixes on one file were
        # quadratic). Clusters are as far apart as difflib's hunks are, so the hunks are the same.
        hunks: list[str] = []
        shift = 0  # lines the earlier clusters added (the new side's numbering)
        for cluster in _clusters(edits, context):
            first = min(e.location.start_line for e in cluster)
            last = max(max(e.location.start_line, e.location.end_line or 0) for e in cluster)
            lo = max(1, first - context)
            hi = min(len(lines), last + context)
            w_lo = starts[lo - 1] if lo - 1 < len(starts) else len(text)
            w_hi = starts[hi] - 1 if hi < len(starts) else len(text)
            win = text[w_lo:w_hi]
            win_spans = spans_in(spans, w_lo, w_hi)
            win_spans = tuple((max(sa, w_lo) - w_lo, min(sb, w_hi) - w_lo) for sa, sb in win_spans)
            win_offs = []
            for e in cluster:
                loc = e.location
                a = _offset(starts, len(text), loc.start_line, loc.start_col)
                b = a if loc.end_line is None else _offset(starts, len(text), loc.end_line, loc.end_col or 1)
                win_offs.append((min(max(a - w_lo, 0), len(win)), min(max(max(a, b) - w_lo, 0), len(win)),
                                 GENERATED if e.secret else e.new_text))
            if len(win) > MAX_JUDGED:
                a_lines, b_lines = _hostile_window(redact, win, win_spans, win_offs)
            else:
                after, after_spans = apply_edits_with_spans(kind, win, win_offs, win_spans)
                old = redact(mask(win, win_spans))
                new = redact(mask(after, after_spans))
                a_lines = _shown(old.split("\n")) if win or text else []
                b_lines = _shown(new.split("\n")) if after or text else []
            diff = list(difflib.unified_diff(a_lines, b_lines, f"a/{terminal(path)}", f"b/{terminal(path)}", n=context,
                                             lineterm=""))  # a file name is one header line, as in render_diff
            if not hunks:
                hunks.extend(diff[:2])  # the file header, once
            hunks.extend(_shift_hunk(d, lo - 1, lo - 1 + shift) for d in diff[2:])
            shift += len(b_lines) - len(a_lines)
        chunks.append("\n".join(hunks))
    return "\n".join(c for c in chunks if c)


def display_edit(result, e: Edit) -> Edit:
    """An edit as reports show it: secret text replaced by ``<generated>``; other text masked as it
    will sit in the file (a value written next to a secret key is a secret), then the safety net."""
    if e.secret:
        return dataclasses.replace(e, new_text=GENERATED)
    red = result.redact
    if hasattr(red, "edit"):
        loc = e.location
        end = None if loc.end_line is None else (loc.end_line, loc.end_col or 1)
        new = red.edit(loc.path, (loc.start_line, loc.start_col), end, e.new_text)
    else:
        new = red(e.new_text)
    return dataclasses.replace(e, new_text=new)


# -- rule documentation ------------------------------------------------------------------------

# the closing `#`s and blanks are stripped by _heading: a lazy `(.*?)\s*#*\s*$` is cubic on a blank run
_HEADING = LazyRe(r"^#{1,6}\s+(.*)$")


def _heading(line: str) -> str | None:
    """The text of a Markdown ATX heading line (``## Title ##`` -> ``Title``), None when it is none."""
    m = _HEADING.match(line)
    return None if m is None else m.group(1).rstrip().rstrip("#").rstrip()


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
        m = None if fenced else _heading(line)
        if m is not None and not line.startswith("    "):
            current = m.strip()
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
        head = _heading(line)
        if head is not None:
            line = head if head.endswith(("?", ":", ".")) else head + ":"
        for pat, rep in _MD_INLINE:
            line = pat.sub(rep, line)
        out.append(line)
    return "\n".join(out).strip()


_CWE = LazyRe(r"^CWE-(\d+)$", re.I)
_RFC = LazyRe(r"^RFC\s*(\d+)", re.I)
_DL = LazyRe(r"^(DL\d{4})$")
_URL = LazyRe(r"^https?://\S+$")
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

"""``dkscan merge``: shard reports (``dkscan audit --shard K/N``) combined into the report one run
writes.

A monorepo's deployments are split between shards by a stable hash of each deployment's directory
(``shard_of``), so adding or removing one deployment moves no other between shards; the files
outside every deployment belong to shard 1. Each shard's report holds its deployments' findings,
already sorted, fingerprinted and redacted; merging is a stable sort of their union on the key the
engine sorts by (path, line, column, rule, message), the deduplication the engine applies across
deployments, and the totals recomputed: counts, the severity-by-layer summary, the file list and
the verdict. Fields every shard must agree on (schema, tool, rule set, root, fail-on) are checked:
reports of different runs are refused (``MergeError``), never mixed.

Each shard's report records its shard: K, N and a digest of the whole audit's deployment list
(JSON: the top-level ``shard``; SARIF: the run's ``properties["dkscan/shard"]``). The merge takes
exactly shards 1..N of one N and one digest — a duplicated shard, a missing one, or shards of
different audits (another deployment list) are refused — and drops the marker, so the merged
report is byte for byte the single run's. A report that is not the expected shape (a finding that
is not an object, a run without results) is refused with a one-line reason, never an internal error.

Written by hand: merging SARIF logs of one tool's shards into the log of one run (one ``run``, the
tool's rule table once, results in the single run's order) is not what generic SARIF mergers do
(``sarif-tools``/``sarif merge`` keep one run per input).
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import unquote


class MergeError(ValueError):
    """The reports cannot be merged (not shard reports of one audit, or not readable)."""


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N), 1 <= K <= N."""
    try:
        k_s, n_s = text.split("/")
        k, n = int(k_s), int(n_s)
    except ValueError:
        raise ValueError(f"--shard takes K/N (for example 2/4), not {text!r}") from None
    if not (1 <= k <= n):
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


def deployments_digest(dirs: list[str], rest: bool) -> str:
    """The identity of one audit's split: its deployments' directories (and whether files outside
    every deployment exist), hashed; every shard of the audit records the same one."""
    h = hashlib.sha256()
    for d in sorted(dirs):
        h.update(d.encode("utf-8", "surrogateescape") + b"\0")
    h.update(b"rest" if rest else b"")
    return "sha256:" + h.hexdigest()[:32]


def _check_shards(marks: list) -> None:
    """``marks``: each report's shard marker (None when it has none), in the order given."""
    for i, m in enumerate(marks):
        if not (isinstance(m, dict) and isinstance(m.get("index"), int) and isinstance(m.get("of"), int)
                and isinstance(m.get("deployments"), str) and 1 <= m["index"] <= m["of"]):
            raise MergeError(f"report {i + 1} is not a shard report (`dkscan audit --shard K/N` writes one)")
    n = marks[0]["of"]
    for i, m in enumerate(marks):
        if m["of"] != n or m["deployments"] != marks[0]["deployments"]:
            raise MergeError(f"report {i + 1} is shard {m['index']}/{m['of']} of another audit "
                             f"(another shard count or deployment list): not shards of one audit")
    seen: dict[int, int] = {}
    for i, m in enumerate(marks):
        if m["index"] in seen:
            raise MergeError(f"reports {seen[m['index']] + 1} and {i + 1} are both shard {m['index']}/{n}")
        seen[m["index"]] = i
    missing = [k for k in range(1, n + 1) if k not in seen]
    if missing:
        raise MergeError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(f'{k}/{n}' for k in missing[:10])} "
                         f"missing: a merge of some shards is not the audit")


def shard_of(rel: str, n: int) -> int:
    """The shard (1..n) of the deployment at ``rel`` (its directory, relative to the scanned root,
    POSIX): a hash of the path alone, so a deployment's shard depends on nothing else."""
    digest = hashlib.sha256(rel.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


_SAME_JSON = ("$schema", "schema_version", "tool", "stack", "root", "ruleset", "fail_on")


def _json_key(f: dict) -> tuple:
    return (f["path"], f["line"], f["column"], f["rule"], f["message"])


def _dedupe(items: list[dict]) -> list[dict]:
    """The engine's deduplication (rule, full location, message), first kept."""
    seen, out = set(), []
    for f in items:
        key = (f["rule"], f["path"], f["line"], f["column"], f.get("end_line"), f.get("end_column"), f["message"])
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def merge_json(docs: list[dict]) -> dict:
    if not docs:
        raise MergeError("no report to merge")
    first = docs[0]
    for i, d in enumerate(docs):
        if not isinstance(d, dict) or "findings" not in d or "counts" not in d:
            raise MergeError(f"report {i + 1} is not a dkscan JSON report")
        for key in _SAME_JSON:
            if d.get(key) != first.get(key):
                raise MergeError(f"report {i + 1} differs in {key!r}: not shards of one audit")
        for key in ("findings", "suppressed", "baselined", "files"):
            items = d.get(key, [])
            if not isinstance(items, list) or (key != "files" and not all(_finding_shape(f) for f in items)):
                raise MergeError(f"report {i + 1}: {key!r} is not a list of dkscan findings")
        if not (isinstance(d["counts"], dict) and isinstance(d["counts"].get("by_severity"), dict)
                and isinstance(d.get("summary"), dict) and all(isinstance(v, dict) for v in d["summary"].values())):
            raise MergeError(f"report {i + 1}: 'counts' or 'summary' is not a dkscan report's")
    _check_shards([d.get("shard") for d in docs])
    lists = {}
    for key in ("findings", "suppressed", "baselined"):
        items = [f for d in docs for f in d.get(key, [])]
        items.sort(key=_json_key)
        lists[key] = _dedupe(items) if key == "findings" else items
    files = sorted({p for d in docs for p in d.get("files", [])})
    # totals recounted from the merged findings (what the single run counts)
    found = lists["findings"]
    by_sev = {s: 0 for s in first["counts"]["by_severity"]}
    summary = {layer: {s: 0 for s in sev} for layer, sev in first["summary"].items()}
    for f in found:
        by_sev[f["severity"]] = by_sev.get(f["severity"], 0) + 1
        summary.setdefault(f["layer"], {}).setdefault(f["severity"], 0)
        summary[f["layer"]][f["severity"]] += 1
    order = ["info", "low", "medium", "high", "critical"]
    bar = order.index(first["fail_on"]) if first.get("fail_on") in order else 1
    failing = sum(1 for f in found if f["severity"] in order and order.index(f["severity"]) >= bar)
    out = {}
    for key, value in first.items():
        if key == "shard":
            continue  # the merged report is the single run's: no shard
        if key == "generated":
            value = max(d.get("generated", "") for d in docs)
        elif key == "verdict":
            value = "fail" if failing else "pass"
        elif key == "counts":
            value = {"findings": len(lists["findings"]), "failing": failing,
                     "suppressed": len(lists["suppressed"]), "baselined": len(lists["baselined"]),
                     "files": len(files), "by_severity": by_sev}
        elif key == "summary":
            value = summary
        elif key == "files":
            value = files
        elif key in lists:
            value = lists[key]
        out[key] = value
    return out


_FIELDS = {"path": str, "line": int, "column": int, "rule": str, "message": str, "severity": str, "layer": str}


def _finding_shape(f) -> bool:
    return isinstance(f, dict) and all(isinstance(f.get(k), t) and not isinstance(f.get(k), bool) for k, t in _FIELDS.items())


def _sarif_shape(res) -> bool:
    """A result the merge can sort: objects and strings where ``_sarif_key`` reads them."""
    if not isinstance(res, dict) or not isinstance(res.get("message", {}), dict) or not isinstance(res.get("locations", []), list):
        return False
    locs = res.get("locations") or [{}]
    loc = locs[0].get("physicalLocation", {}) if isinstance(locs[0], dict) else None
    if not isinstance(loc, dict) or not isinstance(loc.get("region", {}), dict) or not isinstance(loc.get("artifactLocation", {}), dict):
        return False
    region, art = loc.get("region", {}), loc.get("artifactLocation", {})
    return (isinstance(art.get("uri", ""), str) and all(type(region.get(k, 0)) is int for k in ("startLine", "startColumn"))
            and isinstance(res.get("ruleId", ""), str) and isinstance(res["message"].get("text", "") if "message" in res else "", str)
            and isinstance(res.get("suppressions", []), list))


def _sarif_status(res: dict) -> int:
    if not res.get("suppressions"):
        return 0
    return 2 if res.get("baselineState") == "unchanged" else 1


def _sarif_key(res: dict) -> tuple:
    loc = (res.get("locations") or [{}])[0].get("physicalLocation", {})
    region = loc.get("region", {})
    return (_sarif_status(res), unquote(loc.get("artifactLocation", {}).get("uri", "")),
            region.get("startLine", 0), region.get("startColumn", 0), res.get("ruleId", ""),
            res.get("message", {}).get("text", ""))


def merge_sarif(logs: list[dict]) -> dict:
    if not logs:
        raise MergeError("no report to merge")
    from .report.sarif import SHARD_PROPERTY

    runs, _marks = [], []
    for i, log in enumerate(logs):
        if not isinstance(log, dict) or not isinstance(log.get("runs"), list) or len(log["runs"]) != 1 \
                or not isinstance(log["runs"][0], dict):
            raise MergeError(f"report {i + 1} is not a dkscan SARIF log (one run)")
        run = log["runs"][0]
        if not isinstance(run.get("results", []), list) or not all(_sarif_shape(r) for r in run.get("results", [])):
            raise MergeError(f"report {i + 1}: its results are not a dkscan SARIF run's")
        props = run.get("properties")
        if not isinstance(props, dict):
            raise MergeError(f"report {i + 1} is not a shard report (`dkscan audit --shard K/N` writes one)")
        _marks.append(props.get(SHARD_PROPERTY))
        props = {k: v for k, v in props.items() if k != SHARD_PROPERTY}
        run = {k: v for k, v in run.items() if k != "properties"}
        if props:
            run["properties"] = props
        runs.append(run)
    _check_shards(_marks)
    first = runs[0]
    for i, run in enumerate(runs):
        for key in run:
            if key != "results" and run.get(key) != first.get(key):
                raise MergeError(f"report {i + 1} differs in {key!r}: not shards of one audit")
        if set(run) != set(first) or {k: v for k, v in logs[i].items() if k != "runs"} != \
                {k: v for k, v in logs[0].items() if k != "runs"}:
            raise MergeError(f"report {i + 1} is not a shard of the same audit")
    results = [r for run in runs for r in run.get("results", [])]
    results.sort(key=_sarif_key)
    from .report.sarif import MAX_RESULTS

    if len(results) > MAX_RESULTS:
        raise MergeError(f"{len(results)} results exceed GitHub's limit of {MAX_RESULTS:,} per run: "
                         "upload the shards' SARIF files as separate categories (--sarif-category)")
    out = {k: v for k, v in logs[0].items() if k != "runs"}
    out["runs"] = [{k: (results if k == "results" else v) for k, v in first.items()}]
    return out


def merge_texts(texts: list[str]) -> tuple[str, str]:
    """(format, merged report text) of shard reports given as texts (all JSON or all SARIF)."""
    try:
        docs = [json.loads(t) for t in texts]
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MergeError(f"a report is not JSON: {exc}") from None
    kinds = {"sarif" if isinstance(d, dict) and "runs" in d else "json" for d in docs}
    if len(kinds) != 1:
        raise MergeError("the reports mix SARIF and JSON: merge each format on its own")
    fmt = kinds.pop()
    try:
        merged = merge_sarif(docs) if fmt == "sarif" else merge_json(docs)
    except MergeError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:  # a shape the checks missed
        raise MergeError(f"a report is not a dkscan {fmt.upper()} report ({exc.__class__.__name__})") from None
    return fmt, json.dumps(merged, indent=2, ensure_ascii=False) + "\n"

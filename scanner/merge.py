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
    runs = []
    for i, log in enumerate(logs):
        if not isinstance(log, dict) or len(log.get("runs") or []) != 1:
            raise MergeError(f"report {i + 1} is not a dkscan SARIF log (one run)")
        runs.append(log["runs"][0])
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
    merged = merge_sarif(docs) if fmt == "sarif" else merge_json(docs)
    return fmt, json.dumps(merged, indent=2, ensure_ascii=False) + "\n"

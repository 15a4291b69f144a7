"""Baselines: accept today's findings, report only new ones (the way teams adopt a scanner).

``.dkscan-baseline.json`` holds, per finding, its rule, path, fingerprint (rule + path + normalised
snippet, so it survives line shifts and edits elsewhere in the file) and a reason. A baselined
finding is listed apart, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .fingerprint import fingerprint

BASELINE_NAME = ".dkscan-baseline.json"
VERSION = 1


class BaselineError(Exception):
    pass


def build(result, reason: str = "accepted when the baseline was created") -> dict:
    entries = []
    for f in result.findings:
        entries.append({"rule": f.rule, "path": f.location.path,
                        "fingerprint": fingerprint(f, result.stack, result.redact), "reason": reason})
    entries.sort(key=lambda e: (e["path"], e["rule"], e["fingerprint"]))
    return {"version": VERSION, "tool": "dkscan", "findings": entries}


MAX_BASELINE_BYTES = 64 * 1024 * 1024  # ~300k entries; a pull request can replace the baseline


def load(path: Path) -> dict:
    """A baseline file, checked like any input a pull request can write: bounded size, every entry's
    ``rule``, ``path`` and ``fingerprint`` strings (``reason`` a string when present), else a one-line
    BaselineError naming the first bad entry."""
    from .fsutil import read_limited

    path = Path(path)
    try:
        raw = read_limited(path, MAX_BASELINE_BYTES)
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise BaselineError(f"{path}: {exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BaselineError(f"{path}: not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("findings"), list):
        raise BaselineError(f"{path}: not a dkscan baseline (version {VERSION})")
    for i, e in enumerate(data["findings"]):
        if not isinstance(e, dict) or not {"rule", "path", "fingerprint"} <= set(e):
            raise BaselineError(f"{path}: findings[{i}] needs rule, path and fingerprint")
        bad = next((k for k in ("rule", "path", "fingerprint", "reason") if k in e and not isinstance(e[k], str)), None)
        if bad is not None:
            raise BaselineError(f"{path}: findings[{i}].{bad} must be a string")
    return data


def split(result, baseline: dict) -> None:
    """Move baselined findings from result.findings to result.baselined (each entry matches once)."""
    pool: dict[tuple, list[dict]] = {}
    for e in baseline.get("findings", []):
        pool.setdefault((e["rule"], e["path"], e["fingerprint"]), []).append(e)
    kept = []
    for f in result.findings:
        key = (f.rule, f.location.path, fingerprint(f, result.stack, result.redact))
        entries = pool.get(key)
        if entries:
            e = entries.pop()
            result.baselined.append(dataclasses.replace(f, baselined=True, suppressed=f"baseline: {e.get('reason', '')}"))
        else:
            kept.append(f)
    result.findings = kept

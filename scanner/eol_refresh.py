"""Refresh the end-of-life snapshot (``scanner/data/eol.json``) from endoflife.date.

    python -m scanner.eol_refresh                 # every product of the snapshot, rewritten in place
    python -m scanner.eol_refresh --out eol.json  # a local copy for the policy's ``eol.data``

For each product it fetches ``https://endoflife.date/api/<product>.json`` (a JSON list of cycles:
``cycle``, ``releaseDate``, ``eol``, ``extendedSupport``, ``codename``...), keeps those fields,
keeps dkscan's own keys of the product (``images``: the repository base names that run it;
``judge``: which date images stop receiving fixes), stamps the snapshot with today's date and writes
the file atomically. A product whose download or parse fails keeps its previous cycles and is named
on stderr; the exit status is then 1.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

API = "https://endoflife.date/api/{product}.json"
FIELDS = ("cycle", "releaseDate", "eol", "extendedSupport", "codename")


class RefreshError(ValueError):
    pass


def parse_cycles(payload) -> list[dict]:
    """The cycles of one endoflife.date product answer, reduced to the fields dkscan reads."""
    if not isinstance(payload, list):
        raise RefreshError("the answer is not a list of cycles")
    out = []
    for row in payload:
        if not isinstance(row, dict) or not isinstance(row.get("cycle"), (str, int, float)):
            raise RefreshError("a cycle without a 'cycle' field")
        item = {"cycle": str(row["cycle"])}
        for key in FIELDS[1:]:
            value = row.get(key)
            if key == "codename":
                if isinstance(value, str) and value.strip():
                    item[key] = value.split()[0].lower()
                continue
            if value is None:
                continue
            if isinstance(value, bool):  # eol: false (supported) / true (ended, no date given)
                item[key] = value
                continue
            text = str(value)[:10]
            try:
                _dt.date.fromisoformat(text)
            except ValueError as exc:
                raise RefreshError(f"cycle {item['cycle']}: {key} {text!r} is not a date") from exc
            item[key] = text
        out.append(item)
    return out


def refresh(data: dict, fetch: Callable[[str], object], today: _dt.date) -> tuple[dict, list[str]]:
    """A new snapshot from ``data`` (the current one): ``fetch(url)`` returns the decoded JSON of a
    product's answer. Returns the snapshot and the products that could not be refreshed."""
    failed: list[str] = []
    products = {}
    for name, prod in data.get("products", {}).items():
        try:
            cycles = parse_cycles(fetch(API.format(product=name)))
        except (RefreshError, OSError, ValueError) as exc:
            failed.append(f"{name}: {exc}")
            products[name] = prod
            continue
        products[name] = {**{k: v for k, v in prod.items() if k != "cycles"}, "cycles": cycles}
    # a partial refresh keeps the old date: the snapshot's date is never newer than its oldest data
    return {**data, "snapshot": data.get("snapshot") if failed else today.isoformat(), "products": products}, failed


def _http_fetch(url: str):
    import httpx

    response = httpx.get(url, timeout=20.0, follow_redirects=True, headers={"Accept": "application/json"})
    response.raise_for_status()
    return response.json()


def write_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".eol-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m scanner.eol_refresh", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: the shipped snapshot)")
    args = ap.parse_args(argv)
    src = Path(__file__).resolve().parent / "data" / "eol.json"
    data = json.loads(src.read_text(encoding="utf-8"))
    new, failed = refresh(data, _http_fetch, _dt.datetime.now(_dt.timezone.utc).date())
    write_atomic(args.out or src, new)
    for line in failed:
        print(f"not refreshed: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Regenerate the example reports in ``reports/`` and the rule reference ``docs/rules.md``.

    python -m scanner.report.examples            # rewrite what changed
    python -m scanner.report.examples --check    # exit 1 when something is stale (what the test does)

The reports are ``dkscan audit fixtures/studios-dk`` in every format, rendered as the CLI renders
them from the repository root, with the date pinned (``EXAMPLE_EPOCH``, also the audit's
``clock.today``) so the output is
byte-for-byte reproducible. They change whenever a rule, its documentation or the fixture
changes: run this command and commit the result. One audit, six renderers: well under a second.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = "fixtures/studios-dk"
REPORTS = "reports"
RULES_DOC = "docs/rules.md"
BASENAME = "studios-dk"
EXAMPLE_EPOCH = 1767225600  # 2026-01-01T00:00:00Z: the pinned SOURCE_DATE_EPOCH of the examples
COMMAND = "python -m scanner.report.examples"


def example_result(repo: Path = REPO):
    """(result, threshold) of ``dkscan audit fixtures/studios-dk`` with the fixture's policy."""
    from ..config import find_config, load_policy
    from ..engine import audit
    from ..model import Severity

    fixture = repo / FIXTURE
    policy = load_policy(find_config(fixture))
    if not policy.get("clock.today"):  # the EOL rules compare dates: the examples' clock is pinned too
        policy.data["clock"]["today"] = datetime.fromtimestamp(EXAMPLE_EPOCH, tz=timezone.utc).date().isoformat()
    return audit([fixture], policy), Severity.parse(policy.get("fail-on", "low"))


def render_example(fmt: str, result, threshold, repo: Path = REPO) -> str:
    """One format exactly as the example report in ``reports/`` is rendered."""
    from . import render

    when = datetime.fromtimestamp(EXAMPLE_EPOCH, tz=timezone.utc)
    return render(fmt, result, threshold=threshold, when=when, label=FIXTURE, path_base=repo,
                  uri_prefix=FIXTURE + "/", colour=False)


def example_reports(repo: Path = REPO) -> dict[str, str]:
    """{repo-relative path: content} for every example report."""
    from . import FORMATS, SUFFIXES

    result, threshold = example_result(repo)
    return {f"{REPORTS}/{BASENAME}{SUFFIXES[fmt]}": render_example(fmt, result, threshold, repo) for fmt in FORMATS}


# -- docs/rules.md -----------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})(\s+.*)$")


def _demote(doc: str, by: int = 2) -> str:
    """Rule docstring body with its headings pushed down ``by`` levels (fenced code untouched)."""
    out, fenced = [], False
    for line in doc.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        out.append(("#" * min(6, len(m.group(1)) + by)) + m.group(2) if m else line)
    return "\n".join(out)


def rules_markdown() -> str:
    from ..model import LAYER_ORDER
    from ..registry import load_rules
    from .common import reference_links

    rules = load_rules()
    lines = [
        "# dkscan rules",
        "",
        f"<!-- Generated from the rules' docstrings by `{COMMAND}`. Do not edit: edit the rule's docstring. -->",
        "",
        f"{len(rules)} rules in seven layers. Each rule's id never changes meaning; `dkscan explain ID` prints the same text.",
        "Severity maps to SARIF `level` and GitHub `security-severity` (critical 9.5, high 8.0, medium 5.5, low 2.0, info none).",
        "",
    ]
    by_layer = {layer: [r for r in rules.values() if r.layer == layer] for layer in LAYER_ORDER}
    for layer, items in by_layer.items():
        if not items:
            continue
        lines.append(f"- [{layer.value}](#{layer.value}) ({len(items)})")
    lines.append("")
    for layer, items in by_layer.items():
        if not items:
            continue
        lines += [f'<a id="{layer.value}"></a>', "", f"## {layer.value.capitalize()}", "",
                  "| id | name | severity | fix | title |", "|---|---|---|---|---|"]
        for r in items:
            title = r.title.replace("|", "\\|")
            lines.append(f"| [{r.id}](#{r.id.lower()}) | `{r.name}` | {r.severity.label} | {r.fix} | {title} |")
        lines.append("")
        for r in items:
            refs = ", ".join(f"[{t}]({u})" if u else t for t, u in reference_links(r.references))
            body = "\n".join(r.doc.splitlines()[1:]).strip()
            lines += [
                f'<a id="{r.id.lower()}"></a>',
                "",
                f"### {r.id} {r.name}",
                "",
                f"**{r.title}.**",
                "",
                f"Layer **{r.layer.value}** · severity **{r.severity.label}** · files `{', '.join(r.files)}` · "
                f"fix **{r.fix}** · precision {r.precision}" + (f" · references: {refs}" if refs else ""),
                "",
                _demote(body),
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def expected(repo: Path = REPO) -> dict[str, str]:
    out = example_reports(repo)
    out[RULES_DOC] = rules_markdown()
    return out


def main(argv: list[str] | None = None) -> int:
    from ..fsutil import atomic_write

    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 when any)")
    args = parser.parse_args(argv)
    if not (REPO / FIXTURE).is_dir():
        print(f"{FIXTURE} is missing", file=sys.stderr)
        return 2
    changed = []
    for rel, text in expected(REPO).items():
        path = REPO / rel
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current == text:
            continue
        changed.append(rel)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, text)
    if args.check:
        if changed:
            print("stale: " + ", ".join(changed) + f"\nregenerate with: {COMMAND}", file=sys.stderr)
            return 1
        print("example reports and docs/rules.md are current")
        return 0
    print(f"updated {len(changed)} file(s)" + (": " + ", ".join(changed) if changed else " (all current)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""dkscan's command line: audit, rules, explain.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or
configuration error; 3 a named path could not be read at all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3
SEVERITIES = ["critical", "high", "medium", "low", "info"]


class _Group(click.Group):
    def main(self, *args, **kwargs):  # usage errors exit 2 (click's default), keep it explicit
        return super().main(*args, **kwargs)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dkscan")
def main() -> None:
    """dkscan: audit a production container stack (compose, nginx, .env, SQL, Dockerfile,
    prometheus, nats) as one system."""


REPORT_FORMATS = ["text", "json", "sarif", "html", "markdown", "junit"]  # = scanner.report.FORMATS (tested)
_SUFFIX_FORMATS = {".sarif": "sarif", ".json": "json", ".html": "html", ".htm": "html", ".md": "markdown",
                   ".markdown": "markdown", ".xml": "junit"}


def _format_for(output: Path) -> str:
    """The report format an --output file name implies (``report.sarif.json`` is SARIF)."""
    name = output.name.lower()
    if name.endswith((".sarif", ".sarif.json")):
        return "sarif"
    return _SUFFIX_FORMATS.get(Path(name).suffix, "text")


def _use_colour(output: str | None) -> bool:
    if os.environ.get("NO_COLOR") is not None:
        return False
    if output not in (None, "-"):
        return False
    return sys.stdout.isatty()


def _paths_or_exit(paths) -> list[Path]:
    """The named paths (default: .); exit 3 when one cannot be read at all."""
    paths = list(paths) or [Path(".")]
    for p in paths:
        reason = _unreadable(p) if os.path.lexists(p) else "no such file or directory"
        if reason:
            click.echo(f"dkscan: cannot read {p}: {reason}", err=True)
            sys.exit(EXIT_UNREADABLE)
    return paths


def _policy_or_exit(config_path, start: Path):
    """The policy from --config or the nearest .dkscan.yaml / [tool.dkscan]; exit 2 on errors."""
    from .config import ConfigError, find_config, load_policy

    try:
        if config_path is not None and not Path(config_path).exists():
            raise ConfigError(f"{config_path}: no such file")
        return load_policy(config_path if config_path is not None else find_config(start))
    except ConfigError as exc:
        click.echo(f"dkscan: configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _unreadable(path: Path) -> str | None:
    """Why a path named on the command line cannot be read at all (None when it can)."""
    try:
        if path.is_dir():
            with os.scandir(path) as it:
                next(it, None)
        else:
            import stat as _stat

            if not _stat.S_ISREG(path.stat().st_mode):
                return None  # FIFOs and devices are reported as findings, not read here
            with open(path, "rb") as fh:
                fh.read(1)
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return exc.strerror or exc.__class__.__name__
    return None


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "formats", multiple=True, type=click.Choice(REPORT_FORMATS),
              help="Report format (repeatable; the Nth --format goes to the Nth --output).")
@click.option("--output", "outputs", multiple=True, type=click.Path(path_type=Path),
              help="Write the report to FILE instead of stdout (repeatable; without --format the "
                   "format follows the suffix: .sarif .json .html .md .xml, else text).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 1 when a finding is at or above this severity (default: low).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Policy file (default: .dkscan.yaml found by walking up).")
@click.option("--select", "select", multiple=True, help="Run only these rule ids.")
@click.option("--baseline", "baseline_path", type=click.Path(path_type=Path), default=None,
              help="Report only findings not in this baseline (see `dkscan baseline`).")
@click.option("--no-inline-suppressions", is_flag=True, default=False,
              help="Ignore `dkscan: ignore[...]` comments (central security review).")
@click.option("--sarif-category", default=None, metavar="CATEGORY",
              help="SARIF runAutomationDetails.id: tells GitHub code scanning apart several dkscan uploads.")
@click.option("--include-suppressed", is_flag=True, default=False,
              help="Keep suppressed and baselined findings in SARIF, as suppressions (GitHub would open alerts).")
def audit(paths, formats, outputs, fail_on, config_path, select, baseline_path, no_inline_suppressions,
          sarif_category, include_suppressed) -> None:
    """Audit the stack in PATHS (directories and/or files; default: .)."""
    from .config import ConfigError, find_config, load_policy
    from .engine import audit as run_audit
    from .fsutil import atomic_open
    from .model import Severity
    from .report import render
    from .report import write as write_report

    paths = list(paths) or [Path(".")]
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        click.echo(f"dkscan: cannot read {', '.join(str(p) for p in missing)}: no such file or directory", err=True)
        sys.exit(EXIT_UNREADABLE)
    for p in paths:
        reason = _unreadable(p)
        if reason:
            click.echo(f"dkscan: cannot read {p}: {reason}", err=True)
            sys.exit(EXIT_UNREADABLE)
    if len(outputs) > len(formats) and len(formats) > 1:
        click.echo("dkscan: give one --format for each --output", err=True)
        sys.exit(EXIT_USAGE)
    try:
        cfg = config_path if config_path is not None else find_config(paths[0])
        if config_path is not None and not config_path.exists():
            raise ConfigError(f"{config_path}: no such file")
        policy = load_policy(cfg)
    except ConfigError as exc:
        click.echo(f"dkscan: configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    threshold = Severity.parse(fail_on or policy.get("fail-on", "low"))
    from .registry import load_rules

    rules = load_rules()
    unknown = [s for s in select if s.upper() not in rules]
    if unknown:
        click.echo(f"dkscan: unknown rule id(s): {', '.join(unknown)}", err=True)
        sys.exit(EXIT_USAGE)
    baseline = None
    if baseline_path is not None:
        from .baseline import BaselineError, load

        try:
            baseline = load(baseline_path)
        except BaselineError as exc:
            click.echo(f"dkscan: baseline error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    result = run_audit(paths, policy, select=[s.upper() for s in select] or None, baseline=baseline,
                       inline_suppressions=False if no_inline_suppressions else None)
    if not formats and outputs:
        formats = [_format_for(out) for out in outputs]
    formats = list(formats) or ["text"]
    if not outputs:
        outputs = [None] * len(formats)
    elif len(formats) == 1 and len(outputs) > 1:
        formats = formats * len(outputs)
    while len(outputs) < len(formats):
        outputs = list(outputs) + [None]
    if sum(1 for out in outputs if out is None or str(out) == "-") > 1:
        click.echo("dkscan: only one report can go to stdout; give an --output for each other --format", err=True)
        sys.exit(EXIT_USAGE)
    label = " ".join(str(p) for p in paths)
    for fmt, out in zip(formats, outputs):
        opts = dict(colour=_use_colour(str(out) if out else None), threshold=threshold, label=label,
                    sarif_category=sarif_category, include_suppressed=include_suppressed)
        if out is None or str(out) == "-":
            if fmt == "json":
                write_report(fmt, result, click.get_text_stream("stdout"), **opts)
            else:
                click.echo(render(fmt, result, **opts), nl=False)
        else:
            try:
                with atomic_open(out) as fh:
                    write_report(fmt, result, fh, **opts)
            except OSError as exc:
                click.echo(f"dkscan: cannot write {out}: {exc.strerror or exc}", err=True)
                sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FINDINGS if result.failing(threshold) else EXIT_OK)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--apply", "do_apply", is_flag=True, help="Write the fixes (default: show the diff only).")
@click.option("--unsafe", is_flag=True, help="Include fixes that change behaviour.")
@click.option("--rule", "only", multiple=True, help="Fix only these rule ids.")
@click.option("--backup", is_flag=True, help="Keep FILE.orig copies of changed files.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None)
def fix(paths, do_apply, unsafe, only, backup, config_path) -> None:
    """Show (or --apply) the fixes for the findings in PATHS."""
    from .engine import collect_secrets
    from .fix.apply import plan_fixes, render_diff, write_changes
    from .registry import load_rules

    paths = _paths_or_exit(paths)
    policy = _policy_or_exit(config_path, paths[0])
    rules = load_rules()
    unknown = [r for r in only if r.upper() not in rules]
    if unknown:
        click.echo(f"dkscan: unknown rule id(s): {', '.join(unknown)}", err=True)
        sys.exit(EXIT_USAGE)
    plan = plan_fixes(paths, policy, unsafe=unsafe, rules={r.upper() for r in only} or None)
    from .stack import build_stack

    redact = collect_secrets(build_stack(paths, policy))
    diff = render_diff(plan, redact)
    if diff:
        click.echo(diff, nl=False)
    n_fixes = len(plan.applied)
    if do_apply:
        written = write_changes(plan, backup=backup)
        click.echo(f"\napplied {n_fixes} fixes to {len(written)} files in {plan.passes} pass(es)")
    else:
        click.echo(f"\n{n_fixes} fixes in {len(plan.changed)} files would be applied (dry run: use --apply to write them)")
    remaining = plan.remaining
    if remaining is not None and remaining.findings:
        click.echo(f"\n{len(remaining.findings)} findings remain and need a human:")
        for f in remaining.findings:
            rule = remaining.rules[f.rule]
            if f.fix is None:
                why = "manual: needs a human decision" if rule.fix == "manual" else "no automatic fix for this case"
            elif f.fix.applicability != "safe" and not unsafe:
                why = "an unsafe fix exists: review it and run with --unsafe"
            elif only and f.rule not in {r.upper() for r in only}:
                why = "not selected by --rule"
            else:
                why = plan.why_not_applied(f) or "its fix did not apply (overlapping edit or a file outside the scanned root)"
            click.echo(f"  {f.location.path}:{f.location.start_line}  {f.rule}  {remaining.redact.message(f.message, f.location.path)}  [{why}]")
    sys.exit(EXIT_OK)


@main.command()
@click.option("--domain", required=True, help="Public host name of the API (the certificate's name), e.g. api.example.com.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Directory to write the stack into.")
@click.option("--extra-domain", "extra_domains", multiple=True, help="More server names on the same certificate (repeatable).")
@click.option("--project", default=None, help="Project name (compose project, database, image names); default from the domain.")
@click.option("--services", "services", default="all", show_default=True,
              help="Optional services to include, comma-separated: redis, minio, nats, prometheus, certbot, backup "
                   "(`all`, or `none` for nginx + backend + postgres only).")
@click.option("--without", "without", multiple=True, help="Leave an optional service out (repeatable).")
@click.option("--image", "images", multiple=True, metavar="NAME=REF",
              help="Image for a service, e.g. postgres=postgres:17.2-alpine (repeatable; a tag, never latest).")
@click.option("--tls-profile", type=click.Choice(["intermediate", "modern"]), default="intermediate", show_default=True,
              help="Mozilla TLS profile of the gateway.")
@click.option("--host-cpus", type=float, default=4, show_default=True, help="CPUs of the host (sizes the limits).")
@click.option("--host-memory", default="8g", show_default=True, help="Memory of the host (sizes the limits).")
@click.option("--app-port", type=int, default=8080, show_default=True, help="Port the backend listens on.")
@click.option("--frontend-origin", default=None, help="Origin allowed by CORS (default: https://<domain without api.>).")
@click.option("--backup-recipient", default=None, help="age public key (age1...) the backups are encrypted to "
              "(default: a fresh key pair, the identity written to secrets/ for you to move off the host).")
@click.option("--force", is_flag=True, help="Overwrite existing files (existing secrets are kept).")
def generate(domain, out, extra_domains, project, services, without, images, tls_profile, host_cpus, host_memory,
             app_port, frontend_origin, backup_recipient, force) -> None:
    """Write a complete production stack that `dkscan audit` passes: compose, nginx, .env.prod
    (fresh secrets, 0600), init-db.sql, Dockerfile, nats, prometheus, .gitignore, README."""
    from .fix.generate import OPTIONAL_SERVICES, GenerateError, Options, describe
    from .fix.generate import generate as run_generate

    wanted = [s.strip().lower() for s in services.split(",") if s.strip()]
    if wanted == ["all"]:
        wanted = list(OPTIONAL_SERVICES)
    elif wanted == ["none"]:
        wanted = []
    wanted = [s for s in wanted if s not in {w.lower() for w in without}]
    image_map = {}
    for item in images:
        name, sep, ref = item.partition("=")
        if not sep or not name or not ref:
            click.echo(f"dkscan: --image {item!r}: use NAME=REF (e.g. postgres=postgres:17.2-alpine)", err=True)
            sys.exit(EXIT_USAGE)
        image_map[name.strip().lower()] = ref.strip()
    opts = Options(domain=domain, out=out, extra_domains=list(extra_domains), project=project, services=tuple(wanted),
                   images=image_map, tls_profile=tls_profile, host_cpus=host_cpus, host_memory=host_memory,
                   app_port=app_port, frontend_origin=frontend_origin, backup_recipient=backup_recipient, force=force)
    try:
        result = run_generate(opts)
    except GenerateError as exc:
        click.echo(f"dkscan: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(f"dkscan: cannot write {exc.filename or out}: {exc.strerror}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"wrote {len(result.written)} files to {out}:")
    for line in describe(result.written):
        click.echo(line)
    click.echo(f"\n{result.generated_secrets} fresh secrets written to .env.prod and secrets/ only (values are never printed)")
    if result.kept:
        click.echo(f"kept the existing secrets in {', '.join(sorted(result.kept))}")
    click.echo(f"next: read {out / 'README.md'}, then `dkscan audit {out}`")
    sys.exit(EXIT_OK)


@main.command("baseline")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output", "output", type=click.Path(path_type=Path), default=None,
              help="Where to write it (default: .dkscan-baseline.json in the scanned directory).")
@click.option("--reason", default="accepted when the baseline was created", help="Reason recorded for every entry.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None)
def baseline_cmd(paths, output, reason, config_path) -> None:
    """Record today's findings so that `audit --baseline` reports only new ones."""
    import json

    from .baseline import BASELINE_NAME, build
    from .engine import audit as run_audit
    from .fsutil import atomic_write

    paths = _paths_or_exit(paths)
    policy = _policy_or_exit(config_path, paths[0])
    result = run_audit(paths, policy)
    data = build(result, reason)
    target = output or (result.stack.root / BASELINE_NAME)
    atomic_write(target, json.dumps(data, indent=2) + "\n")
    click.echo(f"wrote {len(data['findings'])} findings to {target}")


@main.command("hook", hidden=False)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None)
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None)
def hook(files, fail_on, config_path) -> None:
    """The pre-commit entry point: audit the stacks around FILES, report findings in FILES only."""
    from .config import ConfigError, find_config, load_policy
    from .engine import audit as run_audit
    from .model import Severity
    from .report import render
    from .stack import classify

    root = Path.cwd().resolve()
    files = [f for f in files if f.exists()]
    if not files:
        sys.exit(EXIT_OK)
    try:
        policy = load_policy(config_path if config_path is not None else find_config(root))
    except ConfigError as exc:
        click.echo(f"dkscan: configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    stacks: set[Path] = set()
    for f in files:
        stacks.add(_stack_dir(f.resolve().parent, root, classify))
    rels = {f.resolve().relative_to(root).as_posix() for f in files if f.resolve().is_relative_to(root)}
    baseline = None
    from .baseline import BASELINE_NAME, BaselineError, load

    if (root / BASELINE_NAME).is_file():
        try:
            baseline = load(root / BASELINE_NAME)
        except BaselineError as exc:
            click.echo(f"dkscan: baseline error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    result = run_audit(sorted(stacks), policy, root=root, report_paths=rels, baseline=baseline)
    threshold = Severity.parse(fail_on or policy.get("fail-on", "low"))
    click.echo(render("text", result, colour=_use_colour(None), threshold=threshold), nl=False)
    sys.exit(EXIT_FINDINGS if result.failing(threshold) else EXIT_OK)


def _stack_dir(start: Path, root: Path, classify) -> Path:
    """The nearest directory, from ``start`` up to ``root``, that holds a compose file (else root)."""
    cur = start
    while True:
        try:
            if any(classify(p.name) == "compose" for p in cur.iterdir() if p.is_file()):
                return cur
        except OSError:
            pass
        if cur == root or root not in cur.parents:
            return root
        cur = cur.parent


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
def list_rules(fmt: str) -> None:
    """List every rule: id, layer, severity, title."""
    import json

    from .registry import load_rules

    rules = load_rules()
    if fmt == "json":
        data = [{"id": r.id, "name": r.name, "layer": r.layer.value, "severity": r.severity.label,
                 "title": r.title, "files": list(r.files), "references": list(r.references), "fix": r.fix}
                for r in rules.values()]
        click.echo(json.dumps(data, indent=2))
    elif fmt == "markdown":
        click.echo("| id | name | layer | severity | title | fix |")
        click.echo("|---|---|---|---|---|---|")
        for r in rules.values():
            click.echo(f"| {r.id} | {r.name} | {r.layer.value} | {r.severity.label} | {r.title.replace('|', '/')} | {r.fix} |")
    else:
        for r in rules.values():
            click.echo(f"{r.id:<8} {r.layer.value:<12} {r.severity.label:<9} {r.title}")
        click.echo(f"\n{len(rules)} rules")


@main.command()
@click.argument("rule_id")
def explain(rule_id: str) -> None:
    """Print a rule's full documentation."""
    from .registry import load_rules

    rules = load_rules()
    r = rules.get(rule_id.upper()) or next((x for x in rules.values() if x.name == rule_id.lower()), None)
    if r is None:
        click.echo(f"dkscan: unknown rule '{rule_id}' (see `dkscan rules`)", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"{r.id} {r.name}  [{r.layer.value}, {r.severity.label}, fix: {r.fix}]")
    click.echo(f"files: {', '.join(r.files)}")
    if r.references:
        click.echo(f"references: {'; '.join(r.references)}")
    click.echo("")
    click.echo(r.doc)


def entry() -> None:
    """The ``dkscan`` command (console script and ``python -m scanner.cli``): run the CLI, then end
    the process without the interpreter's teardown. By then every report is written and closed
    and dkscan registers no exit handler, so tearing down the ~250 modules an audit imported
    (PyYAML, pglast's syntax tree classes, the rules) would only cost time: ~10 % of a cold audit of
    the bundled stack. Standard output and error are flushed first. Library users and tests call
    ``main`` and keep the normal exit."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"), as the interpreter would report it
            print(exc.code, file=sys.stderr)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`dkscan ... | head`) or stream
            code = code or 1
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()

"""dkscan's command line: audit, probe, fix, generate, baseline, hook, rules, explain.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or
configuration error; 3 a named path could not be read at all; 4 dkscan itself failed (an internal
error, or a report could not be written to standard output) — never 1, which CI reads as findings.
Every message on standard error is one line, encoded for the terminal (scanner.encode) and clipped:
it may quote a name from the scanned tree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__
from . import report as _report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4
SEVERITIES = ["critical", "high", "medium", "low", "info"]
MAX_ERR_CHARS = 500
REPORT_BUG = "run again with --debug for the traceback, and report it (docs/security.md says where)"
_DEBUG = False


def _err(message: str) -> None:
    """One line on standard error: tree text cannot break the line or reach the terminal raw, and
    the secret positions any text holds (a URL's password, ``--password=``, a token) are masked (an
    exception's message or a path can quote them)."""
    from .encode import terminal
    from .spans import mask, merge, text_spans

    text = terminal(mask(message, merge(text_spans(message, prose=True))))
    if len(text) > MAX_ERR_CHARS:
        text = text[: MAX_ERR_CHARS - 1] + "…"
    click.echo(text, err=True)


class _Group(click.Group):
    """Usage errors exit 2 (click's default). ``--debug`` anywhere before ``--`` (or DKSCAN_DEBUG=1)
    shows the traceback of an internal error; without it, one line and exit 4."""

    def main(self, args=None, *rest, **kwargs):
        global _DEBUG
        # "dkscan" also under `python -m scanner.cli`: usage lines, and click's completion variable
        # _DKSCAN_COMPLETE (`eval "$(_DKSCAN_COMPLETE=bash_source dkscan)"`)
        kwargs.setdefault("prog_name", "dkscan")
        args = list(sys.argv[1:] if args is None else args)
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:end]:
            _DEBUG = True
            args = [a for i, a in enumerate(args) if i >= end or a != "--debug"]
        _DEBUG = _DEBUG or os.environ.get("DKSCAN_DEBUG", "") not in ("", "0")
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _err("dkscan: interrupted")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes exit 4, not exit 1
            if _DEBUG:
                import traceback

                traceback.print_exc()
            _err(f"dkscan: internal error: {type(exc).__name__}: {exc} — {REPORT_BUG}")
            sys.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dkscan")
def main() -> None:
    """dkscan: audit a production container stack (compose, nginx, .env, SQL, Dockerfile,
    prometheus, nats) as one system.

    \b
    Common invocations:
      dkscan audit .                                   audit the stack in this directory
      dkscan audit --env-file .env.prod -f docker-compose.prod.yml
                                                       the deployment as `docker compose` starts it
      dkscan audit --select gateway,DATA --ignore GW032 --output report.sarif
                                                       some rules only, SARIF for code scanning
      dkscan audit --diff-base origin/main             only what a pull request changes

    \b
    Shell completion (bash, zsh, fish): eval "$(_DKSCAN_COMPLETE=bash_source dkscan)"
    """


REPORT_FORMATS = list(_report.FORMATS)  # the registry: scanner.report.REPORT_FORMATS
_IMPLIED = " ".join(e for f in _report.REPORT_FORMATS for e in f.endings[:1])


def _format_for(output: Path) -> str:
    """The report format an --output file name implies (``report.sarif.json`` is SARIF)."""
    return _report.format_for(output.name)


def _use_colour(output: str | None, mode: str = "auto") -> bool:
    """Colour for a report to the terminal: ``--color always/never`` wins, then NO_COLOR, then
    FORCE_COLOR (each when set and not empty, see no-color.org), then whether stdout is a terminal.
    A report written to a file is never coloured."""
    if output not in (None, "-") or mode == "never":
        return False
    if mode == "always":
        return True
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") and os.environ.get("FORCE_COLOR") != "0":
        return True
    return sys.stdout.isatty()


# ---- options shared by several commands ------------------------------------------------------


def _complete_selectors(ctx, param, incomplete: str) -> list[str]:
    """Shell completion of rule selectors: ids, layers, prefixes, names (after the last comma)."""
    from .registry import load_rules

    head, _, last = incomplete.rpartition(",")
    rules = load_rules()
    words = {*rules, *(r.layer.value for r in rules.values()), *(r.name for r in rules.values()), "ALL"}
    return sorted(f"{head},{w}" if head else w for w in words if w.lower().startswith(last.lower()))


def _selection_options(func):
    """ruff's rule selection: --select/--extend-select/--ignore/--extend-ignore, --severity."""
    for name, helptext in reversed((
            ("--select", "Run only these rules: ids, id prefixes (GW, DATA04), layers (gateway), rule names, ALL. "
                         "Comma-separated and/or repeated; replaces the configuration's selection."),
            ("--extend-select", "Add rules to the selection (same selectors)."),
            ("--ignore", "Leave these rules out (same selectors)."),
            ("--extend-ignore", "Leave these rules out too (same selectors)."))):
        func = click.option(name, name.lstrip("-").replace("-", "_"), multiple=True, metavar="SELECTORS",
                            help=helptext, shell_complete=_complete_selectors)(func)
    return click.option("--severity", "severity_overrides", multiple=True, metavar="SELECTOR=LEVEL",
                        help="Report a rule (or prefix, layer) at another severity, like `severity:` in "
                             ".dkscan.yaml; repeatable, comma-separated.")(func)


def _compose_options(func):
    """docker compose's own way of naming a deployment."""
    opts = (
        click.option("-f", "--file", "compose_files", multiple=True, type=click.Path(path_type=Path),
                     help="Compose file of the deployment, as `docker compose -f` (repeatable: merged in order, "
                          "with !reset/!override). Default: COMPOSE_FILE, else compose.yaml/docker-compose.yml."),
        click.option("--env-file", "env_files", multiple=True, type=click.Path(path_type=Path),
                     help="File compose interpolates ${VAR} from, as `docker compose --env-file` (repeatable; "
                          "replaces the default .env). Default: COMPOSE_ENV_FILES (comma-separated), else .env "
                          "unless COMPOSE_DISABLE_ENV_FILE=1."),
        click.option("--profile", "profiles", multiple=True,
                     help="Active compose profile (repeatable, or COMPOSE_PROFILES): services of other profiles are "
                          "reported inactive, not audited."),
        click.option("-p", "--project-name", "project_name", default=None,
                     help="Compose project name (default: COMPOSE_PROJECT_NAME, the file's name:)."),
    )
    for opt in reversed(opts):
        func = opt(func)
    return func


def _file_options(func):
    """What is audited, as ruff selects files (scanner.exclude)."""
    opts = (
        click.option("--exclude", "exclude", multiple=True, metavar="PATTERNS",
                     help="Leave out paths matching these gitignore-style patterns (comma-separated, repeatable); "
                          "replaces the default and configured `exclude`."),
        click.option("--extend-exclude", "extend_exclude", multiple=True, metavar="PATTERNS",
                     help="Leave out these paths too, keeping the default and configured exclusions."),
        click.option("--respect-gitignore/--no-respect-gitignore", "respect_gitignore", default=None,
                     help="Leave out what .gitignore ignores (default: yes; a file git tracks is always audited)."),
        click.option("--force-exclude", is_flag=True, default=False,
                     help="Apply the exclusions to files named on the command line too (pre-commit)."),
        click.option("--allow-empty", is_flag=True, default=False,
                     help="A path with nothing dkscan can audit passes (default: an error, exit 2)."),
    )
    for opt in reversed(opts):
        func = opt(func)
    return func


def _files_layer(exclude=(), extend_exclude=(), respect_gitignore=None, force_exclude=False) -> dict:
    """The command line's file selection for ``Policy.cli["files"]`` (scanner.exclude)."""
    return {"exclude": _split_values(exclude) or None, "extend_exclude": _split_values(extend_exclude),
            "respect_gitignore": respect_gitignore, "force_exclude": force_exclude}


def _finding_paths(result) -> set[str]:
    """The files the findings (open and suppressed) are in; spilled findings (a monorepo's,
    ``scanner.findingstore``) answer from their index without being read."""
    out: set[str] = set()
    for findings in (result.findings, result.suppressed):
        paths = getattr(findings, "paths", None)
        out.update(paths() if paths is not None else (f.location.path for f in findings))
    return out


def _empty_paths(paths, result) -> list:
    """The named paths under which the audit found nothing to read: no file of a kind dkscan
    audits, no finding (an unreadable file is a finding)."""
    root = result.stack.root
    seen = [root / rel for rel in result.stack.files] + [root / rel for rel in _finding_paths(result)]
    empty = []
    for p in paths:
        ap = Path(os.path.abspath(p))
        rp = ap.resolve()
        if not any(q == ap or q == rp or ap in q.parents or rp in q.parents for q in seen):
            empty.append(p)
    return empty


def _split_values(values) -> list[str]:
    return [v.strip() for item in values or () for v in str(item).split(",") if v.strip()]


def _cli_layer(select=(), extend_select=(), ignore=(), extend_ignore=(), severity_overrides=()) -> dict:
    """The command line's layer of rule selection for ``Policy.cli``; exit 2 on a malformed --severity."""
    layer = {"select": _split_values(select), "extend-select": _split_values(extend_select),
             "ignore": _split_values(ignore), "extend-ignore": _split_values(extend_ignore), "severity": {}}
    if not layer["select"]:
        layer["select"] = None
    for item in _split_values(severity_overrides):
        sel, sep, level = item.partition("=")
        if not sep or not sel.strip() or level.strip().lower() not in SEVERITIES:
            _usage_exit(f"--severity {item!r}: use SELECTOR=LEVEL with LEVEL one of {', '.join(SEVERITIES)} "
                        f"(e.g. --severity GW032=low); to fail on a level use --fail-on")
        layer["severity"][sel.strip()] = level.strip().lower()
    return layer


def _compose_layer(compose_files=(), env_files=(), profiles=(), project_name=None, paths=None) -> dict:
    """The command line's compose options (plus COMPOSE_* of the environment) for ``Policy.cli``.
    Paths are taken relative to the working directory, as compose does; exit 3 when one is missing,
    2 when one lies outside the scanned PATHS (dkscan reads the stack under them only)."""
    environ = {k: os.environ.get(k) for k in ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME",
                                              "COMPOSE_PATH_SEPARATOR") if os.environ.get(k)}
    files = list(compose_files)
    env_files = list(env_files)
    # compose: COMPOSE_ENV_FILES (comma-separated) when no --env-file is given; COMPOSE_DISABLE_ENV_FILE
    # (true/1) reads no default .env
    if not env_files and os.environ.get("COMPOSE_ENV_FILES", "").strip():
        env_files = [Path(f.strip()) for f in os.environ["COMPOSE_ENV_FILES"].split(",") if f.strip()]
    no_dotenv = not env_files and os.environ.get("COMPOSE_DISABLE_ENV_FILE", "").strip().lower() in ("1", "true")
    if not files and environ.get("COMPOSE_FILE"):
        sep = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        files = [Path(f) for f in environ["COMPOSE_FILE"].split(sep) if f.strip()]
    for label, group in (("compose file", files), ("env file", env_files)):
        for path in group:
            if not Path(path).is_file():
                _err(f"dkscan: cannot read {label} {path}: no such file")
                sys.exit(EXIT_UNREADABLE)
            dirs = [Path(p).resolve() for p in paths or [Path(".")] if Path(p).is_dir()]
            if dirs and not any(d in Path(path).resolve().parents for d in dirs):
                _usage_exit(f"{label} {path} is outside the scanned paths ({', '.join(str(p) for p in paths or ['.'])}): "
                            f"give the deployment's directory, e.g. `dkscan audit {Path(path).parent} ...`")
    return {"files": [str(Path(f).resolve()) for f in files], "env_files": [str(Path(f).resolve()) for f in env_files],
            "profiles": _split_values(profiles) or None, "project_name": project_name, "environ": environ,
            "no_dotenv": no_dotenv}


def _usage_exit(message: str) -> None:
    _err(f"dkscan: {message}")
    sys.exit(EXIT_USAGE)


def _check_selection(policy, rules: dict | None = None) -> None:
    """Exit 2, naming the closest valid selectors, when the configuration or the command line names
    an unknown rule (``rules``: the ones the command runs, default every rule)."""
    from .registry import load_rules
    from .selection import SelectionError, check

    try:
        check(policy, rules if rules is not None else load_rules())
    except SelectionError as exc:
        first, *more = str(exc).split("\n")  # several unknown selectors: one line each (tokens are repr'd)
        _err(f"dkscan: {first}")
        for line in more:
            _err(f"  {line.strip()}")
        sys.exit(EXIT_USAGE)


def _paths_or_exit(paths) -> list[Path]:
    """The named paths (default: .); exit 3 when one cannot be read at all."""
    paths = list(paths) or [Path(".")]
    for p in paths:
        reason = _unreadable(p) if os.path.lexists(p) else "no such file or directory"
        if reason:
            _err(f"dkscan: cannot read {p}: {reason}")
            sys.exit(EXIT_UNREADABLE)
    return paths


def _policy_or_exit(config_path, start: Path, cli: dict | None = None, rules: dict | None = None):
    """The policy from --config or the nearest .dkscan.yaml / [tool.dkscan], with the command
    line's layer (rule selection, compose options); exit 2 on errors, unknown rules included."""
    from .config import ConfigError, find_config, load_policy

    try:
        if config_path is not None and not Path(config_path).exists():
            raise ConfigError(f"{config_path}: no such file")
        policy = load_policy(config_path if config_path is not None else find_config(start))
    except ConfigError as exc:
        _err(f"dkscan: configuration error: {exc}")
        sys.exit(EXIT_USAGE)
    policy.cli = dict(cli or {})
    _check_selection(policy, rules)
    return policy


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
@click.option("--format", "--output-format", "formats", multiple=True, type=click.Choice(REPORT_FORMATS),
              help="Report format (repeatable; the Nth --format goes to the Nth --output). "
                   "--output-format is the same option, as ruff names it.")
@click.option("--output", "-o", "outputs", multiple=True, type=click.Path(path_type=Path),
              help="Write the report to FILE instead of stdout (repeatable; without --format the "
                   f"format follows the suffix: {_IMPLIED}, else text).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 1 when a finding is at or above this severity (default: low).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Policy file (default: .dkscan.yaml found by walking up).")
@_selection_options
@_compose_options
@_file_options
@click.option("--baseline", "baseline_path", type=click.Path(path_type=Path), default=None,
              help="Report only findings not in this baseline (see `dkscan baseline`).")
@click.option("--diff-base", "--changed-since", "diff_base", default=None, metavar="REF",
              help="Audit only the deployments the files changed since REF (its merge base with HEAD) belong to, "
                   "and report only findings on changed lines or new since REF. Git is read without running git.")
@click.option("--no-inline-suppressions", is_flag=True, default=False,
              help="Ignore `dkscan: ignore[...]` comments (central security review).")
@click.option("--sarif-category", default=None, metavar="CATEGORY",
              help="SARIF runAutomationDetails.id: tells GitHub code scanning apart several dkscan uploads.")
@click.option("--include-suppressed", is_flag=True, default=False,
              help="Keep suppressed and baselined findings in SARIF, as suppressions (GitHub would open alerts).")
@click.option("-q", "--quiet", count=True,
              help="Only the findings and the verdict; -qq: nothing but the exit code (files named by --output are still written).")
@click.option("--color", "--colour", "color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour the terminal report (NO_COLOR and FORCE_COLOR are honoured with auto).")
@click.option("--no-color", "--no-colour", "no_color", is_flag=True, default=False, help="Same as --color never.")
@click.option("--statistics", is_flag=True, default=False, help="Count findings per rule instead of listing them (like ruff).")
@click.option("--show-fixes", is_flag=True, default=False, help="Show, under each finding, the fix `dkscan fix` would make.")
@click.option("--diff", "show_diff", is_flag=True, default=False,
              help="Print the unified diff of the safe fixes instead of the report (nothing is written).")
@click.option("--shard", default=None, metavar="K/N",
              help="Audit only shard K of N of the deployments (a stable hash of each deployment's directory; "
                   "files outside every deployment go with shard 1); `dkscan merge` combines the shards' "
                   "JSON or SARIF reports into the report of one run. Each shard's report records K/N and a "
                   "digest of the audit's deployment list, so the merge refuses a duplicate or missing shard.")
def audit(paths, formats, outputs, fail_on, config_path, select, extend_select, ignore, extend_ignore,
          severity_overrides, compose_files, env_files, profiles, project_name, exclude, extend_exclude,
          respect_gitignore, force_exclude, allow_empty, baseline_path, diff_base,
          no_inline_suppressions, sarif_category, include_suppressed, quiet, color, no_color, statistics,
          show_fixes, show_diff, shard) -> None:
    """Audit the stack in PATHS (directories and/or files; default: ., or the directory of the
    first -f file)."""
    from .engine import audit as run_audit
    from .model import Severity

    if not paths and compose_files:
        paths = (Path(compose_files[0]).parent,)
    shard_kn = None
    if shard is not None:
        from .merge import parse_shard

        try:
            shard_kn = parse_shard(shard)
        except ValueError as exc:
            _usage_exit(str(exc))
        if diff_base is not None or show_diff:
            _usage_exit("--shard splits a whole audit: not with --diff-base or --diff")
    paths = _paths_or_exit(paths)
    formats, outputs = _report_targets(formats, outputs, quiet)
    cli = _cli_layer(select, extend_select, ignore, extend_ignore, severity_overrides)
    live = [v for v in _split_values(select) + _split_values(extend_select) if v.upper().startswith("LIVE")]
    if live:
        _usage_exit(f"{', '.join(live)}: LIVE rules judge a running deployment; run them with `dkscan probe URL STACK`")
    cli["compose"] = _compose_layer(compose_files, env_files, profiles, project_name, paths)
    cli["files"] = _files_layer(exclude, extend_exclude, respect_gitignore, force_exclude)
    from .registry import audit_rules

    policy = _policy_or_exit(config_path, paths[0], cli, rules=audit_rules())  # the probe's LIVE rules are unknown here
    threshold = Severity.parse(fail_on or policy.get("fail-on", "low"))
    baseline = _baseline_or_exit(baseline_path)
    inline = False if no_inline_suppressions else None
    if diff_base is not None:
        result = _audit_changed(paths, policy, diff_base, baseline, inline)
    else:
        result = run_audit(paths, policy, baseline=baseline, inline_suppressions=inline, shard=shard_kn)
        empty = [] if allow_empty else _empty_paths(paths, result)
        if empty:
            _usage_exit(f"nothing to audit in {', '.join(str(p) for p in empty)}: no compose, nginx, Dockerfile, env, SQL or "
                        f"host file there, or all of it excluded (exclude, .gitignore); check the path, "
                        f"or pass --allow-empty if an empty result is expected")
    if show_diff:
        _print_fix_diff(paths, policy, quiet)
    else:
        _write_reports(result, formats, outputs, paths, threshold, quiet=quiet,
                       colour_mode="never" if no_color else color, statistics=statistics,
                       show_fixes=show_fixes, sarif_category=sarif_category, include_suppressed=include_suppressed)
    sys.exit(EXIT_FINDINGS if _failing(result, threshold) else EXIT_OK)


def _failing(result, threshold) -> bool:
    from .report.common import failing_count

    return failing_count(result, threshold) > 0


def _report_targets(formats, outputs, quiet: int) -> tuple[list, list]:
    """Pair each --format with its --output (None: stdout); exit 2 when several would go to stdout."""
    if len(outputs) > len(formats) and len(formats) > 1:
        _usage_exit("give one --format for each --output")
    if not formats and outputs:
        formats = [_format_for(out) for out in outputs]
    formats = list(formats) or ["text"]
    if not outputs:
        outputs = [None] * len(formats)
    elif len(formats) == 1 and len(outputs) > 1:
        formats = formats * len(outputs)
    outputs = list(outputs) + [None] * (len(formats) - len(outputs))
    to_stdout = [fmt for fmt, out in zip(formats, outputs) if out is None or str(out) == "-"]
    if len(to_stdout) > 1:
        _usage_exit(f"{len(to_stdout)} formats ({', '.join(to_stdout)}) but only one report can go to stdout: "
                    f"give an --output FILE for each --format (e.g. --format sarif --output report.sarif)")
    return formats, outputs


def _baseline_or_exit(baseline_path):
    if baseline_path is None:
        return None
    from .baseline import BaselineError, load

    try:
        return load(baseline_path)
    except BaselineError as exc:
        _err(f"dkscan: baseline error: {exc}")
        sys.exit(EXIT_USAGE)


def _write_reports(result, formats, outputs, paths, threshold, *, quiet: int = 0, colour_mode: str = "auto",
                   statistics: bool = False, show_fixes: bool = False, sarif_category=None,
                   include_suppressed: bool = False, preface: str = "") -> None:
    """Every report: to its file (atomically), or to stdout (none with -qq). ``preface`` starts
    every text report (the probe's "contacted" block)."""
    from .fsutil import atomic_open
    from .report import render
    from .report import write as write_report

    label = " ".join(str(p) for p in paths)
    for fmt, out in zip(formats, outputs):
        to_stdout = out is None or str(out) == "-"
        opts = dict(colour=_use_colour(None if to_stdout else str(out), colour_mode), threshold=threshold, label=label,
                    sarif_category=sarif_category, include_suppressed=include_suppressed)
        if fmt == "text":
            opts.update(quiet=quiet, statistics=statistics, show_fixes=show_fixes)
        if to_stdout:
            if quiet >= 2:
                continue
            if fmt in ("json", "sarif"):  # streamed (a monorepo's findings are never all held)
                write_report(fmt, result, click.get_text_stream("stdout"), **opts)
            else:  # click strips ANSI codes off a non-terminal unless told: --color always means it
                click.echo((preface if fmt == "text" else "") + render(fmt, result, **opts), nl=False,
                           color=opts["colour"] or None)
        else:
            try:
                with atomic_open(out) as fh:
                    if fmt == "text" and preface:
                        fh.write(preface)
                    write_report(fmt, result, fh, **opts)
            except OSError as exc:
                _err(f"dkscan: cannot write {out}: {exc.strerror or exc}")
                sys.exit(EXIT_USAGE)


def _print_fix_diff(paths, policy, quiet: int) -> None:
    """``audit --diff``: the safe fixes as a unified diff (what `dkscan fix` would show)."""
    from .engine import collect_secrets
    from .fix.apply import plan_fixes, render_diff
    from .stack import build_stack

    plan = plan_fixes(paths, policy)
    from .encode import terminal_block

    diff = render_diff(plan, collect_secrets(build_stack(paths, policy)))
    if diff and quiet < 2:  # the tree's lines: controls shown escaped, as `dkscan fix` shows them
        click.echo(terminal_block(diff), nl=False)


def _audit_changed(paths, policy, ref: str, baseline, inline):
    """``audit --diff-base REF``: the pre-commit hook's logic (audit the deployments around the
    changed files, report in those files only), with the changed files and lines read from git,
    and findings kept when on a changed line or new since REF."""
    from .stack import GitError, changed_since

    root = _common_dir(paths)
    try:
        change = changed_since(root, ref)
    except GitError as exc:
        _usage_exit(f"--diff-base {ref}: {exc}")
    return _audit_around(change.files(root), root, policy, baseline=baseline, inline=inline, change=change)


@main.command()
@click.argument("url")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "formats", multiple=True, type=click.Choice(REPORT_FORMATS),
              help="Report format (repeatable; the Nth --format goes to the Nth --output).")
@click.option("--output", "outputs", multiple=True, type=click.Path(path_type=Path),
              help="Write the report to FILE instead of stdout (format from the suffix, as audit).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 1 when a finding is at or above this severity (default: low).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Policy file (default: .dkscan.yaml found from the stack).")
@click.option("--select", "select", multiple=True, help="Run only these LIVE rule ids.")
@click.option("--baseline", "baseline_path", type=click.Path(path_type=Path), default=None,
              help="Report only findings not in this baseline.")
@click.option("--no-inline-suppressions", is_flag=True, default=False, help="Ignore `dkscan: ignore[...]` comments.")
@click.option("--sarif-category", default=None, metavar="CATEGORY", help="SARIF runAutomationDetails.id.")
@click.option("--include-suppressed", is_flag=True, default=False, help="Keep suppressed findings in SARIF.")
@click.option("--ca-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Also trust the CA certificates in this PEM file (staging, tests).")
@click.option("--resolve", "resolve", multiple=True, metavar="HOST:IP",
              help="Probe HOST at IP instead of asking DNS (curl's HOST:PORT:IP works too; repeatable).")
@click.option("--ports", "ports", default=None, metavar="LIST",
              help="Service ports to try, e.g. 5432,6379,9000-9001 (replaces probe.ports; also on a loopback target).")
@click.option("--http-port", type=click.IntRange(1, 65535), default=None,
              help="Plaintext port checked for the redirect to HTTPS (default: 80 when the URL uses 443).")
@click.option("--burst", is_flag=True, default=False,
              help="Send a bounded burst to each auth location to check its rate limit (LIVE061; sends load).")
@click.option("--timeout", type=click.FloatRange(0.5, 120), default=10.0, show_default=True,
              help="Seconds for each check (connect, handshake, request).")
@click.option("--budget", type=click.FloatRange(1, 3600), default=180.0, show_default=True,
              help="Total seconds for the whole probe; checks left when it runs out are reported as skipped.")
@click.option("-q", "--quiet", is_flag=True, default=False, help="Do not print what was contacted to stderr.")
def probe(url, paths, formats, outputs, fail_on, config_path, select, baseline_path, no_inline_suppressions,
          sarif_category, include_suppressed, ca_file, resolve, ports, http_port, burst, timeout, budget, quiet) -> None:
    """Probe the live deployment at URL and, with PATHS (the stack), compare it with what the
    config promises (LIVE rules). Contacts only URL's host."""
    import time

    from .model import Severity
    from .probe import ProbeUsageError, parse_ports, run_probe
    from .probe import contacted as contacted_text
    from .registry import load_rules

    paths = list(paths)
    for p in paths:
        reason = _unreadable(p) if os.path.lexists(p) else "no such file or directory"
        if reason:
            _err(f"dkscan: cannot read {p}: {reason}")
            sys.exit(EXIT_UNREADABLE)
    formats, outputs = _report_targets(formats, outputs, 0)
    policy = _policy_or_exit(config_path, paths[0] if paths else Path("."))
    threshold = Severity.parse(fail_on or policy.get("fail-on", "low"))
    rules = load_rules()
    wanted = [s.upper() for s in select]
    unknown = [s for s in wanted if s not in rules or not s.startswith("LIVE")]
    if unknown:
        _err(f"dkscan: unknown LIVE rule id(s): {', '.join(unknown)}")
        sys.exit(EXIT_USAGE)
    baseline = None
    if baseline_path is not None:
        from .baseline import BaselineError, load

        try:
            baseline = load(baseline_path)
        except BaselineError as exc:
            _err(f"dkscan: baseline error: {exc}")
            sys.exit(EXIT_USAGE)
    start = time.monotonic()
    try:
        port_list = parse_ports(ports)
        result, obs = run_probe(url, paths, policy, ca_file=ca_file, resolve=resolve, ports=port_list,
                                http_port=http_port, burst=burst, timeout=timeout, budget=budget,
                                select=wanted or None, baseline=baseline,
                                inline_suppressions=False if no_inline_suppressions else None)
    except ProbeUsageError as exc:
        _err(f"dkscan: {exc}")
        sys.exit(EXIT_USAGE)
    from .encode import terminal_block

    summary = terminal_block(contacted_text(obs, time.monotonic() - start))  # names from the stack and the server
    text_to_stdout = any(f == "text" and (o is None or str(o) == "-") for f, o in zip(formats, outputs))
    if not quiet and not text_to_stdout:
        click.echo(summary, err=True, nl=False)
    _write_reports(result, formats, outputs, [url, *paths], threshold, sarif_category=sarif_category,
                   include_suppressed=include_suppressed, preface=summary)
    sys.exit(EXIT_FINDINGS if _failing(result, threshold) else EXIT_OK)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--apply", "do_apply", is_flag=True, help="Write the fixes (default: show the diff only).")
@click.option("--unsafe", is_flag=True, help="Include fixes that change behaviour.")
@click.option("--rule", "only", multiple=True, help="Fix only these rule ids.")
@click.option("--backup", is_flag=True, help="Keep FILE.orig copies of changed files.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None)
@_compose_options
def fix(paths, do_apply, unsafe, only, backup, config_path, compose_files, env_files, profiles, project_name) -> None:
    """Show (or --apply) the fixes for the findings in PATHS."""
    from .engine import collect_secrets
    from .fix.apply import plan_fixes, render_diff, write_changes
    from .registry import load_rules
    from .selection import SelectionError, resolve, split

    paths = _paths_or_exit(paths)
    policy = _policy_or_exit(config_path, paths[0], {"compose": _compose_layer(compose_files, env_files, profiles, project_name, paths)})
    rules = load_rules()
    wanted: set[str] = set()
    for sel in split(only):  # the same selectors as --select
        try:
            wanted |= resolve(sel, rules, "--rule")[0]
        except SelectionError as exc:
            _usage_exit(str(exc))
    only = sorted(wanted)
    plan = plan_fixes(paths, policy, unsafe=unsafe, rules=set(only) or None)
    from .stack import build_stack

    redact = collect_secrets(build_stack(paths, policy))
    diff = render_diff(plan, redact)
    if diff:
        from .encode import terminal_block

        click.echo(terminal_block(diff), nl=False)
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
            from .encode import terminal

            line = f.location.start_line if do_apply else plan.disk_line(f)  # a dry run: the lines on disk
            click.echo(f"  {terminal(f.location.path)}:{line}  {f.rule}  "
                       f"{terminal(remaining.redact.message(f.message, f.location.path))}  [{why}]")
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
            _err(f"dkscan: --image {item!r}: use NAME=REF (e.g. postgres=postgres:17.2-alpine)")
            sys.exit(EXIT_USAGE)
        image_map[name.strip().lower()] = ref.strip()
    opts = Options(domain=domain, out=out, extra_domains=list(extra_domains), project=project, services=tuple(wanted),
                   images=image_map, tls_profile=tls_profile, host_cpus=host_cpus, host_memory=host_memory,
                   app_port=app_port, frontend_origin=frontend_origin, backup_recipient=backup_recipient, force=force)
    try:
        result = run_generate(opts)
    except GenerateError as exc:
        _err(f"dkscan: {exc}")
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        _err(f"dkscan: cannot write {exc.filename or out}: {exc.strerror}")
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
@_selection_options
@_compose_options
def baseline_cmd(paths, output, reason, config_path, select, extend_select, ignore, extend_ignore, severity_overrides,
                 compose_files, env_files, profiles, project_name) -> None:
    """Record today's findings so that `audit --baseline` reports only new ones."""
    import json

    from .baseline import BASELINE_NAME, build
    from .engine import audit as run_audit
    from .fsutil import atomic_write

    paths = _paths_or_exit(paths)
    cli = _cli_layer(select, extend_select, ignore, extend_ignore, severity_overrides)
    cli["compose"] = _compose_layer(compose_files, env_files, profiles, project_name, paths)
    policy = _policy_or_exit(config_path, paths[0], cli)
    result = run_audit(paths, policy)
    data = build(result, reason)
    target = output or (result.stack.root / BASELINE_NAME)
    atomic_write(target, json.dumps(data, indent=2) + "\n")
    click.echo(f"wrote {len(data['findings'])} findings to {target}")


@main.command("merge")
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write the merged report to FILE (atomically) instead of stdout.")
def merge_cmd(reports, output) -> None:
    """Merge the JSON (or SARIF) reports of `dkscan audit --shard K/N` runs into the report one
    audit of every shard would write (same bytes). Exit 0, or 2 when the reports are not shards
    1..N of one audit in one format (a shard given twice or missing, another audit's shard, a report
    that is not dkscan's)."""
    from .fsutil import atomic_write
    from .merge import MergeError, merge_texts

    texts = []
    for path in reports:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            _err(f"dkscan: cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
            sys.exit(EXIT_USAGE)
    try:
        _fmt, text = merge_texts(texts)
    except MergeError as exc:
        _err(f"dkscan: merge: {exc}")
        sys.exit(EXIT_USAGE)
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
    else:
        atomic_write(output, text)


@main.command("hook", hidden=False)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None)
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None)
@_selection_options
@_compose_options
def hook(files, fail_on, config_path, select, extend_select, ignore, extend_ignore, severity_overrides,
         compose_files, env_files, profiles, project_name) -> None:
    """The pre-commit entry point: audit the stacks around FILES, report findings in FILES only
    (rule selection and compose options as for `audit`, e.g. `args: [--env-file, deploy/.env.prod]`)."""
    from .baseline import BASELINE_NAME
    from .model import Severity
    from .report import render

    root = Path.cwd().resolve()
    files = [f for f in files if f.exists()]
    if not files:
        sys.exit(EXIT_OK)
    cli = _cli_layer(select, extend_select, ignore, extend_ignore, severity_overrides)
    cli["compose"] = _compose_layer(compose_files, env_files, profiles, project_name, [root])
    policy = _policy_or_exit(config_path, root, cli)
    baseline = _baseline_or_exit(root / BASELINE_NAME) if (root / BASELINE_NAME).is_file() else None
    result = _audit_around(files, root, policy, baseline=baseline)
    threshold = Severity.parse(fail_on or policy.get("fail-on", "low"))
    click.echo(render("text", result, colour=_use_colour(None), threshold=threshold), nl=False)
    sys.exit(EXIT_FINDINGS if _failing(result, threshold) else EXIT_OK)


def _common_dir(paths) -> Path:
    from .stack import _common_root

    return _common_root([Path(p) for p in paths])


def _audit_around(files, root: Path, policy, *, baseline=None, inline=None, change=None):
    """The logic of ``dkscan hook``, shared with ``audit --diff-base``: the deployments around
    ``files`` (the nearest directory holding a compose file) are audited whole, and findings are
    reported in ``files`` only. With ``change`` (--diff-base), a finding is reported when it is on
    a changed line (its location or a related one) or when it did not exist at the base commit
    (audited from the base tree, same policy): what the change caused, wherever it shows."""
    from .engine import audit as run_audit
    from .stack import classify

    stacks = sorted({_stack_dir(Path(f).resolve().parent, root, classify) for f in files})
    rels = {Path(f).resolve().relative_to(root).as_posix() for f in files if Path(f).resolve().is_relative_to(root)}
    if change is None:
        return run_audit(stacks, policy, root=root, report_paths=rels, baseline=baseline, inline_suppressions=inline)
    if not stacks:
        return run_audit([root], policy, root=root, report_paths=set(), baseline=baseline, inline_suppressions=inline)
    try:
        result = run_audit(stacks, policy, root=root, baseline=baseline, inline_suppressions=inline)
        before = _base_fingerprints(change, root, stacks, policy, inline)
    finally:
        change.close()
    from .fingerprint import fingerprint

    prefix = root.relative_to(change.top).as_posix() if root != change.top else ""

    def top_rel(path: str) -> str:
        return f"{prefix}/{path}" if prefix else path

    def caused(f) -> bool:
        for loc in (f.location, *f.related):
            if change.touched(top_rel(loc.path), loc.start_line, loc.end_line or loc.start_line):
                return True
        return (f.rule, f.location.path, fingerprint(f, result.stack, result.redact)) not in before

    result.findings = [f for f in result.findings if caused(f)]
    return result


def _base_fingerprints(change, root: Path, stacks, policy, inline) -> set:
    """(rule, path, fingerprint) of every finding the deployments had at the base commit."""
    import tempfile

    from .engine import audit as run_audit
    from .fingerprint import fingerprint
    from .stack import git_view

    with tempfile.TemporaryDirectory(prefix="dkscan-base-") as tmp:
        rel_root = root.relative_to(change.top).as_posix() if root != change.top else ""
        dirs = [d.relative_to(root).as_posix() for d in stacks]
        tops = [f"{rel_root}/{d}".strip("/") if d != "." else rel_root for d in dirs]
        change.materialize(tops, Path(tmp) / "tree")
        tree_root = Path(tmp) / "tree" / rel_root if rel_root else Path(tmp) / "tree"
        existing = [tree_root / d for d in dirs if (tree_root / d).is_dir()]
        if not existing:
            return set()
        # rules about tracked files answer for REF's tree as git does for the work tree (read from the
        # index by dulwich, no git process): a tracked secrets file was tracked at REF too
        with git_view((Path(tmp) / "tree").resolve(), change.tracked()):
            old = run_audit(existing, policy, root=tree_root, inline_suppressions=inline)
        return {(f.rule, f.location.path, fingerprint(f, old.stack, old.redact)) for f in old.findings}


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
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Policy file whose selection applies (with selection flags and no --config: the .dkscan.yaml "
                   "found from the working directory; with neither, every rule is listed).")
@_selection_options
def list_rules(fmt: str, config_path, select, extend_select, ignore, extend_ignore, severity_overrides) -> None:
    """List the rules: id, layer, severity, title. With --select/--ignore/... (and the configuration's
    selection) only the rules that selection runs, at their effective severity."""
    import json

    from .registry import load_rules
    from .selection import enabled, severity_overrides as overrides_of

    cli = _cli_layer(select, extend_select, ignore, extend_ignore, severity_overrides)
    asked = config_path is not None or any((select, extend_select, ignore, extend_ignore, severity_overrides))
    if asked:  # a selection to resolve: the configuration's, under the command line's
        policy = _policy_or_exit(config_path, Path.cwd(), cli)
    else:  # every rule, whatever the working directory's configuration says
        from .config import Policy

        policy = Policy()
    every = load_rules()
    on = enabled(policy, every)
    sev = overrides_of(policy, every)
    rules = {k: r for k, r in every.items() if k in on}

    def severity(r) -> str:
        return (sev.get(r.id) or r.severity).label

    if fmt == "json":
        data = [{"id": r.id, "name": r.name, "layer": r.layer.value, "severity": severity(r),
                 "title": r.title, "files": list(r.files), "references": list(r.references), "fix": r.fix}
                for r in rules.values()]
        click.echo(json.dumps(data, indent=2))
    elif fmt == "markdown":
        click.echo("| id | name | layer | severity | title | fix |")
        click.echo("|---|---|---|---|---|---|")
        for r in rules.values():
            click.echo(f"| {r.id} | {r.name} | {r.layer.value} | {severity(r)} | {r.title.replace('|', '/')} | {r.fix} |")
    else:
        for r in rules.values():
            click.echo(f"{r.id:<8} {r.layer.value:<12} {severity(r):<9} {r.title}")
        if len(rules) == len(every):
            click.echo(f"\n{len(rules)} rules")
        else:
            click.echo(f"\n{len(rules)} of {len(every)} rules selected")


@main.command()
@click.argument("rule_id")
def explain(rule_id: str) -> None:
    """Print a rule's full documentation."""
    from .registry import load_rules

    rules = load_rules()
    r = rules.get(rule_id.upper()) or next((x for x in rules.values() if x.name == rule_id.lower()), None)
    if r is None:
        _err(f"dkscan: unknown rule '{rule_id}' (see `dkscan rules`)")
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
            code = EXIT_INTERNAL
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`dkscan ... | head`) or stream: the report is incomplete
            code = code or EXIT_INTERNAL
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()

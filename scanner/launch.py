"""The ``dkscan`` console script: answers what needs nothing of dkscan before importing it.

``dkscan --version`` and ``dkscan hook`` with no stack file to look at (pre-commit passes only the
files its ``files:`` pattern selects, so a commit touching no stack file hands the hook nothing,
or names only files that no longer exist) print what the full command line prints and exit, in
the interpreter's start-up time: the command line (click, the report writers) and the engine
(parsers, rule modules) are imported only when there is something to do. Every other invocation
goes to ``scanner.cli.entry`` unchanged (``audit`` and ``hook`` with the cyclic garbage collector
off: see ``entry``).
"""

from __future__ import annotations

import os
import sys


def _nothing_to_hook(args: list[str]) -> bool:
    """``hook FILE...`` where no FILE exists (``hook`` drops them, then exits 0 with no output).
    Any option (``--config``, ``--debug``, ``-h``...) takes the full path."""
    if not args or args[0] != "hook":
        return False
    return all(a and not a.startswith("-") and not os.path.exists(a) for a in args[1:])


def entry() -> None:
    args = sys.argv[1:]
    if "_DKSCAN_COMPLETE" in os.environ:  # click's shell completion
        args = None
    if args == ["--version"]:
        from . import __version__

        os.write(1, f"dkscan, version {__version__}\n".encode())
        os._exit(0)
    if args is not None and _nothing_to_hook(args):
        os._exit(0)
    if args and args[0] in ("audit", "hook"):
        # one audit (two with --diff-base), one report, then os._exit: the cyclic collector would only
        # walk the imports and the audit's live objects again and again (the engine pauses it during an
        # audit in any case; this covers importing the command line and writing the report)
        import gc

        gc.disable()
    from .cli import entry as full

    full()

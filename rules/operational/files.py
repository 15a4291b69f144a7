"""Operational, file integrity family: files that cannot be read (OPS080), files their server
would reject (OPS081) and rules that failed (OPS082) — the findings the engine itself produces."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scanner.model import CoreRule, hit
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


@rule(CoreRule.UNREADABLE, "file-unreadable", "high", files="any")
def file_unreadable(stack: Stack):
    """A file of the stack could not be read.

    ## What it does
    Reports every file dkscan found but could not read or decode: permissions, not UTF-8, binary,
    not a regular file (FIFO, socket), larger than the size limit, a symlink leaving the scanned
    root, or more files than discovery looks at.

    ## Why is this bad?
    What dkscan cannot read it cannot audit, and the server that loads it may fail the same way.

    ## Fix safety
    Manual.
    """
    for p in stack.problems:
        if p.rule == CoreRule.UNREADABLE:
            yield hit(p.location, p.message, snippet_key=p.message)


@rule(CoreRule.REJECTED, "parse-error", "high", files="any", refs="squawk syntax-error")
def parse_error(stack: Stack):
    """A file its server would reject.

    ## What it does
    Reports, at the parser's position, what the file's own server would refuse: invalid YAML or
    Compose structure, nginx syntax (an unclosed block, a directive in the wrong context), a dotenv
    line, a SQL statement PostgreSQL rejects (after masking psql meta-commands), a Dockerfile
    instruction, a prometheus or nats configuration.

    For nginx, the first error `nginx -t` stops at, in its words and at the line it names: the
    lexer's (`unexpected "}"`; a brace glued to a word is part of the word, as nginx reads it), an
    unclosed block, and a directive of nginx's own modules written where nginx does not allow it
    (`"proxy_pass" directive is not allowed here`), with a block it does not take or the wrong
    number of arguments, or twice in one block where nginx refuses that. Included files are judged
    in the context of their `include`. A directive dkscan does not know as nginx's own (a
    third-party module's) is never reported: dkscan cannot know which modules the gateway loads.
    No other rule judges a configuration nginx refuses.

    ## Why is this bad?
    A configuration that does not parse does not deploy, or deploys with the broken part ignored.

    ## Fix safety
    Manual.
    """
    for p in stack.problems:
        if p.rule == CoreRule.REJECTED:
            yield hit(p.location, p.message, snippet_key=p.message)


@rule(CoreRule.RULE_FAILED, "rule-internal-error", "low", files="any")
def rule_internal_error(stack: Stack):
    """A dkscan rule failed on this stack.

    ## What it does
    The engine runs every rule in isolation; when one raises, the scan continues and this finding
    names the rule whose results are missing. Please report it.

    ## Why is this bad?
    The report is incomplete: whatever that rule would have found is missing from it.

    ## Fix safety
    Manual.
    """
    return ()

"""Operational: logging, health, restart, debug switches and the integrity of the configuration."""

from __future__ import annotations

import re

from scanner.model import Location, hit
from scanner.registry import rule


@rule("OPS080", "file-unreadable", "high", files="any")
def file_unreadable(stack):
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
        if p.rule == "OPS080":
            yield hit(p.location, p.message, snippet_key=p.message)


@rule("OPS081", "parse-error", "high", files="any", refs="squawk syntax-error")
def parse_error(stack):
    """A file its server would reject.

    ## What it does
    Reports, at the parser's position, what the file's own server would refuse: invalid YAML or
    Compose structure, nginx syntax (an unclosed block, a directive in the wrong context), a dotenv
    line, a SQL statement PostgreSQL rejects (after masking psql meta-commands), a Dockerfile
    instruction, a prometheus or nats configuration.

    ## Why is this bad?
    A configuration that does not parse does not deploy, or deploys with the broken part ignored.

    ## Fix safety
    Manual.
    """
    for p in stack.problems:
        if p.rule == "OPS081":
            yield hit(p.location, p.message, snippet_key=p.message)


@rule("OPS082", "rule-internal-error", "low", files="any")
def rule_internal_error(stack):
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


_REF_RE = "\\$\\{{?{name}\\b"


def _ref_location(doc, node, name: str) -> Location:
    for line_no in range(node.line, (node.end_line or node.line) + 1):
        text = doc.line_text(line_no)
        m = re.search(_REF_RE.format(name=re.escape(name)), text)
        if m:
            return Location(doc.path, line_no, m.start() + 1, line_no, m.end() + 1)
    return Location(doc.path, node.line, node.col)


@rule("OPS060", "variable-undefined", "high", files="compose+env", refs="CWE-1188")
def variable_undefined(stack):
    """A `${VAR}` the compose file needs is defined nowhere.

    ## What it does
    Flags a `${VAR}` (or `$VAR`, or `${VAR:?message}`) without a default in a compose file when no
    interpolation source defines it: Compose reads only the shell and the `.env` file beside the
    compose file (or `--env-file`), never a service's `env_file:`.

    ## Why is this bad?
    Compose substitutes an empty string and only warns: a password becomes empty, an image tag
    becomes `latest`, a port mapping changes. `${VAR:?}` makes Compose refuse to start instead.

    ## Example
    ```yaml
    image: "backend:${BACKEND_VERSION}"   # BACKEND_VERSION is in no .env
    ```

    ## Use instead
    Define it in `.env` beside the compose file, or give a default: `${BACKEND_VERSION:-1.4.2}`.

    ## Fix safety
    Manual.

    ## References
    CWE-1188; Compose specification, interpolation.
    """
    for doc in stack.compose_docs:
        seen = set()
        for node, ref in doc.refs:
            if ref.defined or ref.has_default or ref.op in ("+", ":+"):
                continue
            key = (node.line, ref.name)
            if key in seen:
                continue
            seen.add(key)
            where = " or ".join(doc.env_sources) if doc.env_sources else "no .env beside the compose file"
            yield hit(_ref_location(doc, node, ref.name),
                      f"${{{ref.name}}} is not defined in any interpolation source ({where}); Compose will substitute an empty string"
                      + (" and refuse to start" if ref.required else ""),
                      snippet_key=ref.name)

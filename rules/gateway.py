"""Gateway: the nginx configuration as the gateway container loads it."""

from __future__ import annotations

import re

from scanner.model import Edit, Fix, Location, hit
from scanner.registry import rule

from ._util import nloc



@rule("GW032", "server-tokens-on", "low", files="nginx", refs="CWE-200; gixy version_disclosure", fix="safe")
def server_tokens_on(stack):
    """nginx discloses its version.

    ## What it does
    Flags each `server` whose effective `server_tokens` is `on` or `build`, set explicitly or left at
    nginx's default (`on`). The finding points at the directive when one is set, else at the `http`
    block (or the server, for a fragment) where `server_tokens off;` belongs.

    ## Why is this bad?
    The version in the `Server` header and on error pages tells an attacker which CVEs apply. It is
    a hardening gap, not a vulnerability: low, not high as gixy reports.

    ## Example
    ```nginx
    http { server { listen 443 ssl; } }
    ```

    ## Use instead
    ```nginx
    http { server_tokens off; server { listen 443 ssl; } }
    ```

    ## Fix safety
    Safe: only the header and error pages change.

    ## References
    CWE-200; gixy version_disclosure.
    """
    for cfg in stack.nginx_configs:
        reported = set()
        for server in cfg.servers:
            eff = server.effective("server_tokens")
            if eff is not None and eff.args and eff.args[0].lower() == "off":
                continue
            if eff is not None:
                key = id(eff)
                if key in reported:
                    continue
                reported.add(key)
                fix = Fix("set `server_tokens off`", (Edit(Location(eff.path, eff.line, eff.col, eff.line, eff.col + len("server_tokens " + eff.args[0] if eff.args else "server_tokens")), "server_tokens off"),))
                yield hit(nloc(eff), f"server_tokens {' '.join(eff.args)}: nginx version shown in headers and error pages",
                          fix=fix, snippet_key="server_tokens")
                continue
            anchor = cfg.http if cfg.http.d is not None else server
            if id(anchor) in reported:
                continue
            reported.add(id(anchor))
            fix = None
            if anchor.d is not None and anchor.d.block is not None:
                indent = " " * (anchor.col + 3)
                line_text = stack.files[anchor.path].doc.line_text(anchor.line) if anchor.path in stack.files else ""
                brace = line_text.find("{")
                if brace >= 0:
                    fix = Fix("add `server_tokens off;`", (Edit(Location(anchor.path, anchor.line, brace + 2), f"\n{indent}server_tokens off;"),))
            yield hit(nloc(anchor), "server_tokens is not set: nginx defaults to `on` and shows its version in headers and error pages",
                      fix=fix, snippet_key=f"server_tokens-missing:{anchor.name}")

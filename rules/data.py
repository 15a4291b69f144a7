"""Data: secrets, credentials, data services, backups."""

from __future__ import annotations

from scanner.model import hit
from scanner.registry import rule
from scanner.secrets import is_reference, is_secret_key

from ._util import yloc


@rule("DATA012", "secret-literal-in-compose", "high", files="compose", refs="CWE-798; CWE-260", fix="unsafe")
def secret_literal_in_compose(stack):
    """A secret is written literally in the compose file.

    ## What it does
    Flags a secret-class key of a service's `environment:` (password, secret, token, API key...)
    whose value is a literal rather than a `${VAR}` reference or a `*_FILE` path.

    ## Why is this bad?
    The compose file is committed, reviewed, copied into tickets and printed by `docker compose
    config`: a literal secret there is a secret in git history forever, shared by every environment.

    ## Example
    ```yaml
    environment:
      POSTGRES_PASSWORD: supersecret
    ```

    ## Use instead
    ```yaml
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    secrets: [postgres_password]
    ```

    ## Fix safety
    Unsafe: the value moves to the env file; deployments that do not ship it lose the variable.

    ## References
    CWE-798; CWE-260.
    """
    for svc in stack.services:
        for var in svc.environment:
            if not is_secret_key(var.key) or var.raw is None:
                continue
            raw = var.raw.strip()
            if not raw or is_reference(raw) or "${" in raw:
                continue
            node = var.value_node if var.value_node is not None else var.key_node
            yield hit(yloc(svc.doc.path, node),
                      f"service '{svc.name}': {var.key} has a literal value in the compose file",
                      snippet_key=f"{svc.name}:{var.key}")

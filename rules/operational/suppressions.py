"""Operational: the suppressions themselves (inline ``dkscan: ignore[...]`` comments).

The engine evaluates suppressions after every rule has run (``scanner/suppress.py``); these rules
carry the metadata and documentation of what it reports about them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scanner.model import CoreRule
from scanner.registry import rule

if TYPE_CHECKING:
    from scanner.stack import Stack


@rule(CoreRule.SUPPRESSION_INVALID, "suppression-invalid", "medium", files="any")
def suppression_invalid(stack: Stack):
    """An inline suppression is malformed and suppresses nothing.

    ## What it does
    Reports a `dkscan: ignore[...]` comment without a `reason:`, naming a rule id dkscan does not
    have, naming no rule, or with an `until:` date that is not `YYYY-MM-DD`.

    ## Why is this bad?
    A suppression is a signed decision to accept a risk: without a reason nobody can review it, and
    a misspelt id silently hides nothing while the author believes it does.

    ## Example
    ```yaml
    ports: ["5432:5432"]  # dkscan: ignore[PER001]
    ```

    ## Use instead
    ```yaml
    ports: ["5432:5432"]  # dkscan: ignore[PER001] reason: reached only through the VPN until: 2027-03-31
    ```

    ## Fix safety
    Manual.

    ## References
    dkscan documentation, suppressions.
    """
    return ()


@rule(CoreRule.SUPPRESSION_UNUSED, "suppression-unused", "low", files="any")
def suppression_unused(stack: Stack):
    """An inline suppression matches no finding.

    ## What it does
    Reports a valid `dkscan: ignore[...]` comment whose rules report nothing on the line or block it
    covers.

    ## Why is this bad?
    Stale suppressions accumulate and will silently hide a real finding the day one appears there.

    ## Example
    ```nginx
    # dkscan: ignore[GW032] reason: legacy  (server_tokens is already off)
    server_tokens off;
    ```

    ## Use instead
    Delete the comment.

    ## Fix safety
    Manual.

    ## References
    ruff RUF100 (unused noqa).
    """
    return ()


@rule(CoreRule.SUPPRESSION_EXPIRED, "suppression-expired", "low", files="any")
def suppression_expired(stack: Stack):
    """An inline suppression has expired.

    ## What it does
    Reports a suppression whose `until:` date has passed. It no longer suppresses: its findings are
    reported again.

    ## Why is this bad?
    The accepted risk had a deadline; it has passed without the fix.

    ## Example
    ```sh
    JWT_SECRET=...  # dkscan: ignore[API001] reason: rotation planned until: 2025-01-31
    ```

    ## Use instead
    Fix the finding, or renew the suppression with a new reason and date.

    ## Fix safety
    Manual.

    ## References
    dkscan documentation, suppressions.
    """
    return ()

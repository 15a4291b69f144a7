"""Data, provider tokens family (DATA009, DATA010): a provider's API token or a private key written in a
configuration file, or committed to git."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from scanner.caches import per_stack
from scanner.model import Location, hit
from scanner.parsers.base import LINE_BREAK
from scanner.registry import rule
from scanner.secretcheck import (
    find_provider_tokens,
    generic_api_keys,
    may_hold_generic_key,
)

if TYPE_CHECKING:
    from scanner.stack import Stack

# --------------------------------------------------------------------------------------------
# DATA009/DATA010: provider tokens in configuration files
# --------------------------------------------------------------------------------------------

DATA009_KINDS = ("compose", "dockerfile", "nginx", "sql", "prometheus", "nats")
GENERIC_KINDS = ("nginx", "sql")


_MATCHES: dict[int, tuple[object, list]] = per_stack()


def _token_matches(stack: Stack, kinds):
    """(SourceFile, provider name, Location, ordinal) of every token in files of ``kinds``
    (dotenv files excluded); computed once per stack for DATA009 and DATA010."""
    hit_ = _MATCHES.get(id(stack))
    if hit_ is None or hit_[0] is not stack:
        if len(_MATCHES) > 16:
            _MATCHES.clear()
        hit_ = _MATCHES[id(stack)] = (stack, list(_all_token_matches(stack)))
    return [m for m in hit_[1] if m[0].kind in kinds]


def _all_token_matches(stack: Stack):
    for rel in sorted(stack.files):
        sf = stack.files[rel]
        if sf.kind == "env":
            continue
        text = sf.text
        if not text:
            continue
        starts: list[int] = []  # line start offsets, found when a token needs them (most files hold none)

        def line_starts() -> list[int]:
            if not starts:
                starts.append(0)
                # line numbers as Document.lines counts them (``splitlines``: a lone CR ends a line too)
                starts.extend(m.end() for m in LINE_BREAK.finditer(text))
            return starts

        def at(offset: int) -> tuple[int, int]:
            starts_ = line_starts()
            idx = bisect.bisect_right(starts_, offset) - 1
            return idx + 1, offset - starts_[idx] + 1

        found = []
        for name, a, b in find_provider_tokens(text):
            (l1, c1), (l2, c2) = at(a), at(b)
            found.append((a, name, Location(rel, l1, c1, l2, c2)))
        if sf.kind in GENERIC_KINDS and may_hold_generic_key(text):
            taken = [(x[2].start_line, x[2].start_col) for x in found]
            for no, line in enumerate(text.splitlines(), 1):
                for a, b in generic_api_keys(line):
                    if any(tl == no and a + 1 <= tc <= b for tl, tc in taken):
                        continue
                    found.append((line_starts()[no - 1] + a, "generic API key", Location(rel, no, a + 1, no, b + 1)))
        counts: dict[str, int] = {}
        for _off, name, loc in sorted(found, key=lambda t: t[0]):
            counts[name] = counts.get(name, 0) + 1
            yield sf, name, loc, counts[name]


@rule("DATA009", "provider-token", "high", files="compose/dockerfile/nginx/sql/prometheus/nats",
      refs="CWE-798; gitleaks; KICS passwords_and_secrets")
def provider_token_in_config(stack: Stack):
    """A provider's API token or a private key is written in a configuration file.

    ## What it does
    Searches compose files, Dockerfiles, nginx, SQL, prometheus and nats configurations for
    gitleaks-style tokens: AWS `AKIA…`, Stripe `sk_live_`/`rk_live_`, SendGrid, Mailgun, Slack,
    GitHub `ghp_`/`github_pat_`, GitLab, Sentry, Google, OpenAI, npm, private-key blocks, JWTs; and,
    in nginx and SQL, generic API keys (a key-like name followed by a high-entropy value, entropy
    ≥ 3.5 bits/char). Dotenv files are where secrets belong and are not searched. A provider match
    replaces DATA012/APP032 on that value.

    ## Why is this bad?
    Configuration files are committed, copied into images and shown in logs; a live provider
    token there can be used by anyone who sees the file: charges, data export, repository access.

    ## Example
    ```yaml
    environment:
      STRIPE_SECRET_KEY: sk_live_51H...
    ```

    ## Use instead
    ```yaml
    environment:
      STRIPE_SECRET_KEY: ${STRIPE_SECRET_KEY}
    ```

    ## Fix safety
    Manual: rotate the token at the provider, then load it from the environment or a secret file.

    ## References
    CWE-798; gitleaks; KICS passwords_and_secrets.
    """
    for sf, name, loc, n in _token_matches(stack, DATA009_KINDS):
        article = "an" if name[0].lower() in "aeiou" else "a"
        kind_article = "an" if sf.kind[0] in "aeion" else "a"  # an nginx file, a compose file
        yield hit(loc, f"looks like {article} {name} written in {kind_article} {sf.kind} file: rotate it and load it from the environment or a secret",
                  snippet_key=f"{name}#{n}")


@rule("DATA010", "provider-token-committed", "critical", files="any+git", refs="CWE-540")
def provider_token_committed(stack: Stack):
    """A provider's API token or a private key is committed to git.

    ## What it does
    Flags a DATA009 match in a file tracked by git (a tracked dotenv file is DATA001).

    ## Why is this bad?
    The token is in every clone and in the repository's history: deleting the line does not revoke
    it. Scrapers harvest public repositories for exactly these patterns within minutes.

    ## Example
    A committed `nginx.conf` with `proxy_set_header Authorization "Bearer ghp_…";`.

    ## Use instead
    Rotate the token, load it at runtime, and purge it from history (`git filter-repo`).

    ## Fix safety
    Manual: rotate at the provider first, then purge history.

    ## References
    CWE-540.
    """
    if not stack.in_git:
        return
    kinds = tuple(k for k in {sf.kind for sf in stack.files.values()} if k != "env")
    tracked: dict[str, bool] = {}
    for sf, name, loc, n in _token_matches(stack, kinds):
        if sf.rel not in tracked:
            tracked[sf.rel] = bool(stack.git_tracked(sf.rel))
        if tracked[sf.rel]:
            article = "an" if name[0].lower() in "aeiou" else "a"
            yield hit(loc, f"{article} {name} is committed to git in {sf.rel}: rotate it and purge it from history",
                      snippet_key=f"{name}#{n}")

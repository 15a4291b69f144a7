"""API: JWT, API keys, CORS and the message bus (NATS)."""

from __future__ import annotations

from scanner.model import Edit, Fix, hit
from scanner.registry import rule

from ._util import env_loc, env_value_loc


def production_dotenvs(stack):
    """Dotenv documents the stack really loads (templates such as ``.env.example`` are skipped)."""
    for sf in stack.sources("env"):
        if not sf.template:
            yield sf.doc


@rule("API002", "jwt-alg-none", "critical", files="env", refs="CWE-347; RFC 7518 §3.1; RFC 8725 §3.1", fix="unsafe")
def jwt_alg_none(stack):
    """JWTs are accepted with the `none` algorithm.

    ## What it does
    Flags `JWT_ALGORITHM` or `JWT_ALG` set to `none` (any case) in a dotenv file the stack loads.

    ## Why is this bad?
    An unsecured JWT (RFC 7518 §3.1) carries no signature: anyone can mint a token for any user,
    administrators included. RFC 8725 §3.1 says libraries must not accept it by default; a
    configuration that selects it switches authentication off.

    ## Example
    ```sh
    JWT_ALGORITHM=none
    ```

    ## Use instead
    ```sh
    JWT_ALGORITHM=HS256   # with a 256-bit random JWT_SECRET
    ```

    ## Fix safety
    Unsafe: tokens already issued stop validating.

    ## References
    CWE-347; RFC 7518 §3.1; RFC 8725 §3.1.
    """
    for doc in production_dotenvs(stack):
        for e in doc.entries:
            if e.key.upper() in ("JWT_ALGORITHM", "JWT_ALG") and e.value.strip().lower() == "none":
                fix = Fix("set HS256", (Edit(env_value_loc(doc, e), "HS256"),), "unsafe")
                yield hit(env_loc(doc, e), f"{e.key}=none: tokens are accepted without any signature",
                          fix=fix, snippet_key=e.key)

"""What the secret value rules share: one classification per value, first match wins.

The rules catalog's DATA intro: "One finding per value, first match wins: DATA004, DATA005, DATA006,
API001, DATA007". ``classified(stack)`` classifies every secret value of the stack once (cached per
stack) and each of those rules reports the values whose verdict is its own id. Fixes that write a
random value regenerate every occurrence of the same credential together (``POSTGRES_PASSWORD`` and
the password inside ``DATABASE_URL``), so the fix never breaks a pair that matched."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from scanner.model import Edit, Fix, Location
from scanner.secretcheck import (
    SecretValue,
    default_credential,
    generate_secret,
    is_jwt_hmac_key,
    jwt_min_bytes,
    looks_like_setting,
    placeholder,
    provider_token,
    purpose,
    secret_values,
    value_dotenvs,
    weakness,
)
from scanner.secrets import is_reference, is_secret_key, url_password
from scanner.lazyre import LazyRe

if TYPE_CHECKING:
    from scanner.stack import Stack

# which value rules read which kinds of file (rules catalog, "files" column)
RULE_KINDS = {
    "DATA004": {"env", "compose", "nats", "prometheus"},
    "DATA005": {"env", "compose", "nats", "prometheus"},
    "DATA006": {"env", "compose"},
    "API001": {"env"},
    "DATA007": {"env", "compose", "nats"},
}
ORDER = ("DATA004", "DATA005", "DATA006", "API001", "DATA007")


_WORD_CHARS = LazyRe(r"\w*")


def _mail_pass_prefix(key: str) -> str | None:
    r"""``EMAIL_HOST_PASSWORD`` -> ``EMAIL_``: the prefix of a mail password key, as
    ``^(?P<prefix>\w*?(?:EMAIL|SMTP|MAIL)\w*?_)(?:HOST_)?PASS(?:WORD)?$`` (case-insensitive) reads it —
    the shortest prefix — decided on the key's suffix (that regex backtracks quadratically on a long key)."""
    k = key[:-1] if key.endswith("\n") else key
    if not _WORD_CHARS.fullmatch(k):
        return None
    up = k.upper()
    for suffix in ("HOST_PASSWORD", "HOST_PASS", "PASSWORD", "PASS"):
        if up.endswith(suffix):
            prefix = k[:len(k) - len(suffix)]
            head = prefix[:-1].upper()
            if prefix.endswith("_") and ("EMAIL" in head or "SMTP" in head or "MAIL" in head):
                return prefix
    return None


def mail_relay_without_auth(stack: Stack, sv) -> bool:
    """An empty mail password that the stack shows is not used: the same dotenv file points the
    mailer at a relay on the host or the internal network (loopback, a private address or a service
    of the stack) on port 25 (relays; 587/465 are submission, which authenticates). Mailers (Django,
    NetBox, Nodemailer...) skip the login when the password is empty."""
    found = _mail_pass_prefix(sv.key)
    sf = stack.files.get(sv.path)
    if found is None or sf is None or not hasattr(sf.doc, "entries"):
        return False
    prefix = found.upper()
    values = {e.key.upper(): (e.value or "").strip() for e in sf.doc.entries}
    host = next((values[prefix + k] for k in ("SERVER", "HOST", "SMTP_HOST") if values.get(prefix + k)), None)
    port = next((values[prefix + k] for k in ("PORT", "SMTP_PORT") if values.get(prefix + k)), "25")
    if host is None or port != "25":
        return False
    import ipaddress

    from rules.helpers.services import resolve_host

    if host.lower() == "localhost" or resolve_host(stack, host) is not None:
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_private


WEAK_PASSWORD_PREFIXES = frozenset({"123456", "qwerty", "letmein", "password", "passw0rd", "root"})


def jwt_algorithm(stack: Stack, sv: SecretValue) -> str:
    """``JWT_ALGORITHM``/``JWT_ALG`` next to the key (same dotenv, else any loaded one), default HS256."""
    docs = [sv.doc] if sv.kind == "env" and sv.doc is not None else []
    docs += [d for d in value_dotenvs(stack) if d is not sv.doc]
    prefix = sv.key.upper().split("JWT")[0]
    for doc in docs:
        for name in (prefix + "JWT_ALGORITHM", prefix + "JWT_ALG", "JWT_ALGORITHM", "JWT_ALG", "JWT_ALGO"):
            e = doc.get(name) if hasattr(doc, "get") else None
            if e is not None and e.value.strip() and "$" not in e.value:
                return e.value.strip().upper()
    return "HS256"


def classify(stack: Stack, sv: SecretValue) -> tuple[str, str] | None:
    """(rule id, reason) of the first value rule that matches ``sv``, or None."""
    v = sv.value
    kind = sv.kind
    if v == "":
        if kind in RULE_KINDS["DATA006"]:
            if sv.source == "empty-ref":
                return "DATA006", "resolves to an empty value"
            entry = sv.entry
            if sv.kind == "env" and entry is not None and not getattr(entry, "has_equals", True):
                return "DATA006", "has no value (no `=`)"
            if sv.kind == "env" and mail_relay_without_auth(stack, sv):
                return None
            return "DATA006", "is empty"
        return None
    if looks_like_setting(v) or len(v) > 4096:
        return None
    reason = default_credential(sv.key, v)
    if reason and kind in RULE_KINDS["DATA004"]:
        return "DATA004", reason
    word = placeholder(v)
    if word and kind in RULE_KINDS["DATA005"]:
        if word in WEAK_PASSWORD_PREFIXES:  # 12345678, qwerty123, letmein: a weak password, not a placeholder
            return "DATA005", "starts with one of the most common passwords (a digit run, a keyboard walk or a dictionary password)"
        return "DATA005", "starts with a placeholder word"
    if provider_token(v):
        return None  # issued by the provider: its length is not ours to judge
    if kind in RULE_KINDS["API001"] and sv.source in ("dotenv", "default") and is_jwt_hmac_key(sv.key):
        alg = jwt_algorithm(stack, sv)
        need = jwt_min_bytes(alg)
        if need is not None:
            from scanner.secretcheck import decoded_bytes

            n = decoded_bytes(v)
            if n < need:
                return "API001", f"{alg} key of {n} bytes < {need}"
    if kind in RULE_KINDS["DATA007"]:
        policy = stack.policy
        try:
            min_pw = int(policy.get("secrets.min_password_len", 16) or 16)
            min_key = int(policy.get("secrets.min_key_bytes", 32) or 32)
        except (TypeError, ValueError):
            min_pw, min_key = 16, 32
        key = sv.key if sv.source != "url" else "PASSWORD"
        reasons = weakness(key, v, min_pw, min_key)
        if reasons:
            return "DATA007", ", ".join(reasons)
    return None




def classified(stack: Stack) -> list[tuple[SecretValue, str, str]]:
    """Every secret value with a verdict: (value, rule id, reason), computed once per stack."""
    def compute() -> list[tuple[SecretValue, str, str]]:
        out = []
        for sv in secret_values(stack):
            verdict = classify(stack, sv)
            if verdict is not None:
                out.append((sv, verdict[0], verdict[1]))
        return out

    return stack.memo("secrets.classified", compute)


def same_credential(a: SecretValue, b: SecretValue) -> bool:
    """Both ends of one credential: same value and the same purpose (or an unknown one)."""
    if a.value != b.value:
        return False
    pa, pb = purpose(a), purpose(b)
    return pa is None or pb is None or pa == pb


_PROVIDER_ISSUED = LazyRe(
    r"(^|_)(AWS|STRIPE|SENDGRID|MAILGUN|MAILCHIMP|MANDRILL|POSTMARK|SLACK|GITHUB|GITLAB|SENTRY|TWILIO|GOOGLE|GCP|FIREBASE|"
    r"AZURE|OPENAI|ANTHROPIC|PAYPAL|BRAINTREE|SQUARE|SHOPIFY|DATADOG|NEWRELIC|CLOUDFLARE|DIGITALOCEAN|HEROKU|"
    r"ALGOLIA|PUSHER|ONESIGNAL|RECAPTCHA|HCAPTCHA|MAPBOX|SMTP|SES|FACEBOOK|APPLE|MICROSOFT)(_|$)", re.I)


def regenerate_fix(stack: Stack, sv: SecretValue, description: str = "write a random value") -> Fix | None:
    """Replace ``sv`` (and every other occurrence of the same credential) by one fresh random value.
    None for keys a third party issues (a random Stripe or SendGrid key is no key at all)."""
    if sv.span is None or sv.source == "empty-ref":
        return None
    if _PROVIDER_ISSUED.search(sv.key or ""):
        return None
    if sv.kind == "compose" and not sv.value:
        # a generated value written into the compose file is a literal secret there (DATA012):
        # an empty one is filled where it should live (.env) by a human, not here
        return None
    group = [sv]
    if sv.value:
        group += [o for o in secret_values(stack) if o is not sv and o.span is not None and o.source != "empty-ref"
                  and same_credential(sv, o)]
    jwt = any(is_jwt_hmac_key(o.key) for o in group)
    key = "PASSWORD" if any(o.source == "url" for o in group) else sv.key
    # one fresh value per credential and stack: whichever finding's fix the engine applies in each
    # file, every place of the credential gets the same new value
    slot = (sv.value, repr(purpose(sv)), description) if sv.value else (sv.path, sv.line, sv.key, description)
    new = stack.memo(("secrets.generated", slot), lambda: generate_secret(key, jwt=jwt))
    edits = []
    seen = set()
    for o in group:
        span = o.span
        if (span.path, span.start_line, span.start_col) in seen:
            continue
        seen.add((span.path, span.start_line, span.start_col))
        text = new
        if o.kind == "env" and o.entry is not None and not getattr(o.entry, "has_equals", True):
            text = "=" + new
        edits.append(Edit(span, text, secret=True))
    edits.sort(key=lambda e: (e.location.path, e.location.start_line, e.location.start_col))
    return Fix(description, tuple(edits))


def value_findings(stack: Stack, rule_id: str, message):
    """Findings of one value rule: ``message(sv, reason)`` gives the text."""
    from scanner.model import hit

    for sv, rid, reason in classified(stack):
        if rid != rule_id:
            continue
        yield hit(sv.loc, message(sv, reason), fix=regenerate_fix(stack, sv),
                  snippet_key=f"{sv.where}:{sv.key}:{sv.source}" if sv.where else f"{sv.key}:{sv.source}")


def real_secret_entries(doc) -> list:
    """Dotenv entries holding a real secret: a secret-class key (or a URL with a password) whose value
    is neither empty, a reference, a setting, nor a placeholder."""
    out = []
    for e in getattr(doc, "entries", []):
        v = e.value
        pw = url_password(v) if v else None
        if pw is not None:
            v = pw
        elif not is_secret_key(e.key):
            continue
        if not v or is_reference(v) or "${" in v or looks_like_setting(v) or placeholder(v):
            continue
        out.append(e)
    return out


def gitignore_fix(stack: Stack, rel: str) -> Fix:
    """Append ``/rel`` to the ``.gitignore`` at the scanned root (created when missing)."""
    pattern = "/" + rel.lstrip("/")
    sf = stack.files.get(".gitignore")
    text = None
    if sf is not None and sf.doc is not None:
        text = sf.text
    else:
        text = stack.read_text(".gitignore")
    if not text:
        return Fix(f"append {pattern} to .gitignore", (Edit(Location(".gitignore", 1, 1), pattern + "\n"),))
    lines = text.split("\n")
    if text.endswith("\n"):
        loc = Location(".gitignore", len(lines), 1)  # the empty line after the final newline
        new = pattern + "\n"
    else:
        loc = Location(".gitignore", len(lines), len(lines[-1]) + 1)
        new = "\n" + pattern + "\n"
    return Fix(f"append {pattern} to .gitignore", (Edit(loc, new),))


def compose_env_file(stack: Stack, compose_path: str) -> str:
    names = stack.policy.get("compose.env_files", [".env"]) or [".env"]
    name = names[0] if isinstance(names, list) and names else ".env"
    return posixpath.normpath(posixpath.join(posixpath.dirname(compose_path), str(name)))

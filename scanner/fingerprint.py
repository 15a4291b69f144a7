"""Stable finding fingerprints: rule + path + normalised snippet, so a baseline survives line shifts
and edits elsewhere in the file. Never built from a secret value (the snippet is redacted first)."""

from __future__ import annotations

import hashlib
from .lazyre import LazyRe

_WS = LazyRe(r"\s+")


def snippet_key(finding, stack, redact=None) -> str:
    """The normalised text that identifies a finding within its file."""
    key = finding.snippet_key
    if not key:
        sf = stack.files.get(finding.location.path) if stack is not None else None
        if sf is not None and sf.doc is not None and redact is not None and hasattr(redact, "line"):
            key = redact.line(finding.location.path, finding.location.start_line, sf.kind, sf.text)  # by span
        else:
            key = sf.doc.line_text(finding.location.start_line) if sf is not None and sf.doc is not None else ""
            if redact is not None:
                key = redact(key)
        return _WS.sub(" ", key).strip()
    # a rule's own key (`novar-resolver:http://u:pw@h`): its secret positions masked before hashing, so
    # a fingerprint never confirms a guessed password
    from .spans import mask, merge, text_spans

    key = mask(key, merge(text_spans(key, prose=True)))
    if redact is not None:
        key = redact(key)
    return _WS.sub(" ", key).strip()


def fingerprint(finding, stack, redact=None) -> str:
    text = "\x1f".join((finding.rule, finding.location.path, snippet_key(finding, stack, redact)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

"""Encoding of text that comes from the scanned tree, for the outputs that are not structured.

Every name and value in a report (file names, service/network/volume names, compose ``name:``,
directive values, messages quoting them, suppression reasons, ignore reasons) may be written by
whoever opened the pull request. JSON, SARIF, HTML and JUnit XML escape by construction (their
serialisers); the two plain outputs need these:

- ``terminal``: control characters (C0, DEL, C1 — ESC, BEL, CR, NUL, NEL...), line and paragraph
  separators and the Unicode bidirectional controls (the "Trojan Source" overrides) are shown as
  visible escapes (``\\x1b``, ``\\n``, ``\\u202e``), so a name can neither print a line that looks
  like a finding nor send an OSC/CSI sequence to the terminal, piped or not. (A backslash is left as
  it is: the text ``\\x1b`` in a name is harmless, and nginx regexes stay readable.)
- ``markdown``: the same visible escapes, then every ASCII punctuation character backslash-escaped
  (CommonMark allows it for all of them): no link, image, autolink, raw HTML, entity, heading,
  emphasis, table cell or code span can start inside the tree's text.
"""

from __future__ import annotations

import re
from .lazyre import LazyRe

# C0 (tab included: it would break the one-line format), DEL, C1, LS/PS, bidi embeddings/overrides
# and isolates, the Arabic letter mark and the BOM/zero-width no-break space.
_UNSAFE = LazyRe("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE_DIFF = LazyRe("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _visible(m: re.Match) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def terminal(text: object) -> str:
    """One line of tree text, safe to print to a terminal."""
    s = str(text)
    return _UNSAFE.sub(_visible, s) if _UNSAFE.search(s) else s


def terminal_block(text: str) -> str:
    """Multi-line text whose line breaks are meant (a fix diff): every other control shown escaped.
    Tabs are kept; a CR is shown (it would rewrite the line on the terminal)."""
    if not _UNSAFE_DIFF.search(text):
        return text
    return _UNSAFE_DIFF.sub(_visible, text)


_MD_PUNCT = LazyRe(r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]""")


def markdown(text: object) -> str:
    """Tree text as literal Markdown text (a table cell or a line), on one line."""
    s = terminal(text)
    return _MD_PUNCT.sub(lambda m: "\\" + m.group(), s)

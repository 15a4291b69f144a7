"""``LazyRe``: a regular expression compiled when first used.

Compiling a pattern is pure Python (``re._parser``, ``re._compiler``): ~0.1–1 ms each, paid again by
every process. A module-level pattern a run never uses (the secret finders of a kind the stack
does not have, a rare Dockerfile branch) should not cost its compile at import; a ``LazyRe`` is used
exactly as the compiled pattern (``.search``, ``.match``, ``.finditer``, ``.sub``, ``.pattern``...),
and after the first use its methods are the compiled pattern's own (no indirection per call).
"""

from __future__ import annotations

import re

_BOUND = ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split", "scanner",
          "pattern", "flags", "groups", "groupindex")


class LazyRe:
    def __init__(self, pattern: str, flags: int = 0):
        self._args = (pattern, flags)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_args", "_re"):
            raise AttributeError(name)
        compiled = self.__dict__.get("_re")
        if compiled is None:
            compiled = self._re = re.compile(*self._args)
            for attr in _BOUND:
                setattr(self, attr, getattr(compiled, attr))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"LazyRe({self._args[0]!r})"

"""The helper layer: every question the rules share has exactly one answer here.

Rule modules (``rules/<layer>/<family>.py``) import only this package, ``scanner.model``, the
parsers' types and ``scanner.registry``; never another rule module. See docs/architecture.md."""

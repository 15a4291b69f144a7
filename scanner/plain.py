"""What the plain classes written out in place of dataclasses share (see docs/architecture.md, "Start-up").

A ``@dataclass`` is generated at import by ``exec`` of each method's source (~0.3–0.7 ms a class, paid
again by every process): the classes a cold audit builds at import are written out instead, with the
methods the decorator would have generated — the same ``__init__`` (defaults, default factories,
``__post_init__``), ``__repr__``, ``__eq__``, ``__hash__``, ``__match_args__`` and, for a frozen one,
``__setattr__``/``__delattr__`` raising ``dataclasses.FrozenInstanceError``. Classes that
``dataclasses.replace`` copies (``scanner.model``) or that a dataclass inherits from stay dataclasses.
"""

from __future__ import annotations

from reprlib import recursive_repr

__all__ = ["FACTORY", "frozen_error", "recursive_repr"]

FACTORY = object()  # an argument left to its field's default factory


def frozen_error(message: str) -> Exception:
    """The error assigning to (or deleting) a field of a frozen class raises, as a frozen dataclass's."""
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(message)

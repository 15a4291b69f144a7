"""The knowledge: one package per layer (``rules/<layer>/``), one module per family of rules
(``rules/<layer>/<family>.py``), and the helper layer (``rules/helpers/``) that answers every question
the rules share. Every rule is a function registered with ``scanner.registry.rule``; its docstring is
its documentation. A rule module imports no other rule module (docs/architecture.md)."""

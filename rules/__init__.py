"""The knowledge: one module per layer (``rules/<layer>.py``), split by file family where a layer
grows large (``rules/<layer>_<family>.py``). Every rule is a function registered with
``scanner.registry.rule``; its docstring is its documentation."""

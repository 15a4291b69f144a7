"""Perimeter: what the stack exposes to the network and the host (PER rules)."""

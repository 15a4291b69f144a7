"""Operational: file integrity, logging, health, restarts, debug switches, suppressions (OPS rules)."""

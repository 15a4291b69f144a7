"""Performance: resource limits and the capacity model (PERF rules)."""

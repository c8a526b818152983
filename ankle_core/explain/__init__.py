"""ankle_core.explain (being built)."""

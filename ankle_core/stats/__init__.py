"""ankle_core.stats (being built)."""

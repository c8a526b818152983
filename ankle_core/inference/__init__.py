"""ankle_core.inference (being built)."""

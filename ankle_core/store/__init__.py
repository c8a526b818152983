"""ankle_core.store (being built)."""
